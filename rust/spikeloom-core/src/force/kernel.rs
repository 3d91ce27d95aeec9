//! The per-step pass over the neurons of a FORCE reservoir: input current, neuron update, spike
//! flags, synaptic filters and the readout, in one loop.
//!
//! During a run the per-neuron state lives in blocks of [`W`] neurons (two AVX2 registers of f64
//! per state variable, all variables of a block side by side), so the single fused loop touches one
//! array of state and vectorises without run-time overlap checks; the network packs its state into
//! blocks at the start of a run and unpacks it at the end. The loop is branch-free (bit-mask
//! selects) and compiled for the widest vector unit of the CPU (AVX2 on x86-64, chosen at run time
//! by `pulp`). The neuron and filter arithmetic is the same IEEE operations in the same order as the
//! reference loop (no fused multiply-adds), so results do not depend on the CPU and the spike raster
//! matches a numpy implementation of the scripts step for step.

use super::lanes::Lanes;
use super::neuron::NeuronModel;

/// Neurons per block (two AVX2 registers of f64).
pub const W: usize = 8;

/// The state of [`W`] neurons during a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Block {
    /// Membrane potential (mV) or phase (rad).
    pub v: [f64; W],
    /// LIF: integration resumes once the step index exceeds this (last spike step + refractory
    /// steps; f64 so the comparison vectorises, exact below 2^53 steps). Izhikevich: `u`.
    pub aux: [f64; W],
    pub ipsc: [f64; W],
    /// Double exponential: `h` decayed by this step, without this step's spike input.
    pub h: [f64; W],
    pub r: [f64; W],
    pub hr: [f64; W],
}

/// Constants of one step, in the model's units.
#[derive(Clone, Copy, Debug)]
pub struct StepConsts {
    pub dt: f64,
    /// Filter factors `e^{-dt/tau_rise}` (0 for a single exponential) and `e^{-dt/tau_decay}`.
    pub er: f64,
    pub ed: f64,
    /// Spike jump `1 / (tau_rise tau_decay)` (or `1 / tau_decay`).
    pub jump: f64,
    pub single: bool,
    pub bias: f64,
    /// 1-based index of this step.
    pub step: u64,
}

/// `if m { a } else { b }` through bit masks, which the vectoriser turns into blends (a plain `if`
/// on values can be compiled to a branch, which stops vectorisation).
#[inline(always)]
fn sel(m: bool, a: f64, b: f64) -> f64 {
    let mask = (m as u64).wrapping_neg();
    f64::from_bits((a.to_bits() & mask) | (b.to_bits() & !mask))
}

/// One Euler step of one neuron model: `(v, aux, current, step) -> (v', aux', spiked)`.
trait Cell: Copy {
    fn step(self, v: f64, aux: f64, cur: f64, step: f64) -> (f64, f64, bool);
}

#[derive(Clone, Copy)]
struct Lif {
    f: f64,
    v_peak: f64,
    v_reset: f64,
    n_ref: f64,
}

#[derive(Clone, Copy)]
struct Izh {
    fc: f64,
    fa: f64,
    k: f64,
    v_r: f64,
    v_t: f64,
    b: f64,
    d: f64,
    v_peak: f64,
    v_reset: f64,
}

#[derive(Clone, Copy)]
struct ThetaCell {
    dt: f64,
}

impl Cell for ThetaCell {
    #[inline(always)]
    fn step(self, v: f64, aux: f64, cur: f64, _step: f64) -> (f64, f64, bool) {
        let pi = std::f64::consts::PI;
        let cs = v.cos();
        let x = v + self.dt * ((1.0 - cs) + (1.0 + cs) * (pi * pi) * cur);
        let spike = x >= pi;
        (sel(spike, -pi, x), aux, spike)
    }
}

/// The LIF refractory period in steps (as the reference: `round(t_ref / dt)`).
pub fn refractory_steps(model: &NeuronModel, dt: f64) -> u64 {
    match *model {
        NeuronModel::Lif { refractory, .. } => (refractory / dt).round() as u64,
        _ => 0,
    }
}

/// One step of every neuron: the last step's spike input into the filter, input current
/// `IPSC + bias + enc z` (from the previous readout `z`), the model's Euler step, the filters, and
/// the new readout `d^T r` into `z_new`. `enc` and `dec` are column-major (k x n_pad, zero in the
/// padding lanes); `n` is the number of real neurons (spikes of padding lanes are ignored). Spiking
/// neurons are appended to `spikes`. `jd` (one per neuron and padding lane) holds the static input
/// of the last step's spikes (column sums of the spikers' weights), added to the filter here and
/// zeroed: `h = h e^{-dt/td} + jd / (tr td)` exactly as the reference, in two halves.
#[allow(clippy::too_many_arguments)]
pub fn step_pass(
    model: &NeuronModel,
    c: &StepConsts,
    blocks: &mut [Block],
    jd: &mut [f64],
    n: usize,
    enc: &[f64],
    dec: &[f64],
    z: &[f64],
    z_new: &mut [f64],
    spikes: &mut Vec<u32>,
) {
    struct Op<'a> {
        model: &'a NeuronModel,
        c: &'a StepConsts,
        blocks: &'a mut [Block],
        jd: &'a mut [f64],
        n: usize,
        enc: &'a [f64],
        dec: &'a [f64],
        z: &'a [f64],
        z_new: &'a mut [f64],
        spikes: &'a mut Vec<u32>,
    }
    impl pulp::WithSimd for Op<'_> {
        type Output = ();
        // Inlined into pulp's per-CPU entry points, so the loop gets their target features.
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) {
            let c = self.c;
            let (b, jd, n, e, d, z, zn, sp) = (
                self.blocks,
                self.jd,
                self.n,
                self.enc,
                self.dec,
                self.z,
                self.z_new,
                self.spikes,
            );
            match *self.model {
                NeuronModel::Theta { .. } => {
                    pass(ThetaCell { dt: c.dt }, c, b, jd, n, e, d, z, zn, sp)
                }
                _ => unreachable!("LIF and Izhikevich run through the lanes"),
            }
        }
    }
    // LIF and Izhikevich: explicit lanes (AVX2 when the CPU has it, the same operations on arrays
    // otherwise); theta (a cosine per neuron) through the vectoriser.
    let lanes_cell = match *model {
        NeuronModel::Lif {
            tau_mem,
            v_reset,
            v_peak,
            refractory,
            ..
        } => Some(AnyCell::Lif(Lif {
            f: c.dt / tau_mem,
            v_peak,
            v_reset,
            n_ref: (refractory / c.dt).round(),
        })),
        NeuronModel::Izhikevich {
            c: cap,
            k,
            v_r,
            v_t,
            a,
            b,
            d,
            v_peak,
            v_reset,
            ..
        } => Some(AnyCell::Izh(Izh {
            fc: c.dt / cap,
            fa: c.dt * a,
            k,
            v_r,
            v_t,
            b,
            d,
            v_peak,
            v_reset,
        })),
        NeuronModel::Theta { .. } => None,
    };
    if let Some(cell) = lanes_cell {
        let op = LanesOp {
            s: super::lanes::Scalar,
            cell,
            c,
            blocks,
            jd,
            n,
            enc,
            dec,
            z,
            z_new,
            spikes,
        };
        #[cfg(target_arch = "x86_64")]
        if let Some(v3) = pulp::x86::V3::try_new() {
            return v3.vectorize(LanesOp {
                s: super::lanes::Avx(v3),
                cell: op.cell,
                c: op.c,
                blocks: op.blocks,
                jd: op.jd,
                n: op.n,
                enc: op.enc,
                dec: op.dec,
                z: op.z,
                z_new: op.z_new,
                spikes: op.spikes,
            });
        }
        return pulp::NullaryFnOnce::call(op);
    }
    pulp::Arch::new().dispatch(Op {
        model,
        c,
        blocks,
        jd,
        n,
        enc,
        dec,
        z,
        z_new,
        spikes,
    });
}

#[derive(Clone, Copy)]
enum AnyCell {
    Lif(Lif),
    Izh(Izh),
}

struct LanesOp<'a, L> {
    s: L,
    cell: AnyCell,
    c: &'a StepConsts,
    blocks: &'a mut [Block],
    jd: &'a mut [f64],
    n: usize,
    enc: &'a [f64],
    dec: &'a [f64],
    z: &'a [f64],
    z_new: &'a mut [f64],
    spikes: &'a mut Vec<u32>,
}

impl<L: Lanes> pulp::NullaryFnOnce for LanesOp<'_, L> {
    type Output = ();
    // Inlined into `V3::vectorize`, so the lanes get its target features.
    #[inline(always)]
    fn call(self) {
        let LanesOp {
            s,
            cell,
            c,
            blocks,
            jd,
            n,
            enc,
            dec,
            z,
            z_new,
            spikes,
        } = self;
        match (cell, c.single, z.len()) {
            (AnyCell::Lif(x), false, 1) => {
                lanes_pass::<L, Lif, false, 1>(s, x, c, blocks, jd, n, enc, dec, z, z_new, spikes)
            }
            (AnyCell::Lif(x), true, 1) => {
                lanes_pass::<L, Lif, true, 1>(s, x, c, blocks, jd, n, enc, dec, z, z_new, spikes)
            }
            (AnyCell::Izh(x), false, 1) => {
                lanes_pass::<L, Izh, false, 1>(s, x, c, blocks, jd, n, enc, dec, z, z_new, spikes)
            }
            (AnyCell::Izh(x), false, 5) => {
                lanes_pass::<L, Izh, false, 5>(s, x, c, blocks, jd, n, enc, dec, z, z_new, spikes)
            }
            (AnyCell::Lif(x), single, _) => {
                if single {
                    lanes_pass::<L, Lif, true, 0>(
                        s, x, c, blocks, jd, n, enc, dec, z, z_new, spikes,
                    )
                } else {
                    lanes_pass::<L, Lif, false, 0>(
                        s, x, c, blocks, jd, n, enc, dec, z, z_new, spikes,
                    )
                }
            }
            (AnyCell::Izh(x), single, _) => {
                if single {
                    lanes_pass::<L, Izh, true, 0>(
                        s, x, c, blocks, jd, n, enc, dec, z, z_new, spikes,
                    )
                } else {
                    lanes_pass::<L, Izh, false, 0>(
                        s, x, c, blocks, jd, n, enc, dec, z, z_new, spikes,
                    )
                }
            }
        }
    }
}

/// One Euler step of four neurons of one model: `(v, aux, current, step) -> (v', aux', spike mask)`,
/// the same IEEE operations in the same order as [`Cell`].
trait LaneCell: Copy {
    fn step<L: Lanes>(self, s: L, v: L::V, aux: L::V, cur: L::V, step: L::V) -> (L::V, L::V, L::V);
}

impl LaneCell for Lif {
    #[inline(always)]
    fn step<L: Lanes>(
        self,
        s: L,
        v: L::V,
        free_after: L::V,
        cur: L::V,
        step: L::V,
    ) -> (L::V, L::V, L::V) {
        let moved = s.add(v, s.mul(s.splat(self.f), s.sub(cur, v)));
        let x = s.select(s.gt(step, free_after), moved, v);
        let spike = s.ge(x, s.splat(self.v_peak));
        let bound = s.select(
            spike,
            s.add(step, s.splat(self.n_ref)),
            s.splat(f64::NEG_INFINITY),
        );
        (
            s.select(spike, s.splat(self.v_reset), x),
            s.max(free_after, bound),
            spike,
        )
    }
}

impl LaneCell for Izh {
    #[inline(always)]
    fn step<L: Lanes>(self, s: L, v: L::V, u: L::V, cur: L::V, _: L::V) -> (L::V, L::V, L::V) {
        let dv = s.sub(v, s.splat(self.v_r));
        let quad = s.mul(s.mul(s.splat(self.k), dv), s.sub(v, s.splat(self.v_t)));
        let v1 = s.add(v, s.mul(s.splat(self.fc), s.add(s.sub(quad, u), cur)));
        let u1 = s.add(
            u,
            s.mul(s.splat(self.fa), s.sub(s.mul(s.splat(self.b), dv), u)),
        );
        let spike = s.ge(v1, s.splat(self.v_peak));
        (
            s.select(spike, s.splat(self.v_reset), v1),
            s.select(spike, s.add(u1, s.splat(self.d)), u1),
            spike,
        )
    }
}

/// The fused pass over four-neuron lane groups (two per block): `SINGLE` filter kind, `K` outputs
/// (0: any number, read from `z`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn lanes_pass<L: Lanes, C: LaneCell, const SINGLE: bool, const K: usize>(
    s: L,
    cell: C,
    c: &StepConsts,
    blocks: &mut [Block],
    jd: &mut [f64],
    n: usize,
    enc: &[f64],
    dec: &[f64],
    z: &[f64],
    z_new: &mut [f64],
    spikes: &mut Vec<u32>,
) {
    let np = blocks.len() * W;
    let k = if K > 0 { K } else { z.len() };
    let step = s.splat(c.step as f64);
    let (jump, bias, er, ed, dt) = (
        s.splat(c.jump),
        s.splat(c.bias),
        s.splat(c.er),
        s.splat(c.ed),
        s.splat(c.dt),
    );
    let one = s.splat(1.0);
    let zero = s.splat(0.0);
    // Readout accumulators of the first (up to) eight outputs; any further ones after the loop.
    let kb = if K > 0 { K.min(8) } else { k.min(8) };
    let mut acc = [zero; 8];
    let zs: [L::V; 8] = core::array::from_fn(|cc| s.splat(if cc < k { z[cc] } else { 0.0 }));
    for (bi, blk) in blocks.iter_mut().enumerate() {
        for h in 0..2 {
            let lo = bi * W + 4 * h;
            let x = 4 * h;
            let jl = s.load(&jd[lo..]);
            s.store(&mut jd[lo..], zero);
            let add = s.mul(jl, jump);
            let mut ipsc = s.load(&blk.ipsc[x..]);
            let mut hh = s.load(&blk.h[x..]);
            if SINGLE {
                ipsc = s.add(ipsc, add);
            } else {
                hh = s.add(hh, add);
            }
            let mut cur = s.add(ipsc, bias);
            for cc in 0..k {
                let zc = if cc < 8 { zs[cc] } else { s.splat(z[cc]) };
                cur = s.add(cur, s.mul(s.load(&enc[cc * np + lo..]), zc));
            }
            let (v, aux, spike) =
                cell.step(s, s.load(&blk.v[x..]), s.load(&blk.aux[x..]), cur, step);
            s.store(&mut blk.v[x..], v);
            s.store(&mut blk.aux[x..], aux);
            let fl = s.and(spike, one);
            let r;
            if SINGLE {
                ipsc = s.mul(ipsc, ed);
                r = s.add(s.mul(s.load(&blk.r[x..]), ed), s.mul(fl, jump));
            } else {
                let hr = s.load(&blk.hr[x..]);
                ipsc = s.add(s.mul(ipsc, er), s.mul(hh, dt));
                hh = s.mul(hh, ed);
                r = s.add(s.mul(s.load(&blk.r[x..]), er), s.mul(hr, dt));
                s.store(&mut blk.hr[x..], s.add(s.mul(hr, ed), s.mul(fl, jump)));
            }
            s.store(&mut blk.ipsc[x..], ipsc);
            s.store(&mut blk.h[x..], hh);
            s.store(&mut blk.r[x..], r);
            for (cc, a) in acc[..kb].iter_mut().enumerate() {
                *a = s.add(*a, s.mul(s.load(&dec[cc * np + lo..]), r));
            }
            let mut bits = s.bits(spike);
            while bits != 0 {
                let l = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if lo + l < n {
                    spikes.push((lo + l) as u32);
                }
            }
        }
    }
    for cc in kb..k {
        let mut a = zero;
        for (bi, blk) in blocks.iter().enumerate() {
            for h in 0..2 {
                let lo = bi * W + 4 * h;
                a = s.add(
                    a,
                    s.mul(s.load(&dec[cc * np + lo..]), s.load(&blk.r[4 * h..])),
                );
            }
        }
        let a = s.to_array(a);
        z_new[cc] = (a[0] + a[1]) + (a[2] + a[3]);
    }
    for (zc, a) in z_new.iter_mut().zip(&acc[..kb]) {
        let a = s.to_array(*a);
        *zc = (a[0] + a[1]) + (a[2] + a[3]);
    }
}

/// Dispatch on the output count: one output (the common case) keeps its readout accumulator in
/// registers.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn pass<C: Cell>(
    cell: C,
    c: &StepConsts,
    blocks: &mut [Block],
    jd: &mut [f64],
    n: usize,
    enc: &[f64],
    dec: &[f64],
    z: &[f64],
    z_new: &mut [f64],
    spikes: &mut Vec<u32>,
) {
    if z.len() == 1 {
        pass_k::<C, true>(cell, c, blocks, jd, n, enc, dec, z, z_new, spikes)
    } else {
        pass_k::<C, false>(cell, c, blocks, jd, n, enc, dec, z, z_new, spikes)
    }
}

// Lane loops index several arrays by lane: that form vectorises.
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
#[inline(always)]
fn pass_k<C: Cell, const ONE: bool>(
    cell: C,
    c: &StepConsts,
    blocks: &mut [Block],
    jd: &mut [f64],
    n: usize,
    enc: &[f64],
    dec: &[f64],
    z: &[f64],
    z_new: &mut [f64],
    spikes: &mut Vec<u32>,
) {
    let np = blocks.len() * W;
    let k = z.len();
    let step = c.step as f64;
    // Readout lane accumulators for the first (up to) eight outputs, on the stack so they stay in
    // registers; any further outputs are summed after the loop.
    let kb = k.min(8);
    let mut acc = [[0.0f64; W]; 8];
    let mut acc1 = [0.0f64; W];
    for (bi, blk) in blocks.iter_mut().enumerate() {
        let lo = bi * W;
        let mut cur = [0.0f64; W];
        let mut fl = [0.0f64; W];
        let mut any = false;
        let mut spk = [false; W];
        // Last step's spike input; input current, as the reference: (IPSC + BIAS) + E z (outputs
        // added in order).
        for l in 0..W {
            let add = jd[lo + l] * c.jump;
            if c.single {
                blk.ipsc[l] += add;
            } else {
                blk.h[l] += add;
            }
            jd[lo + l] = 0.0;
            cur[l] = blk.ipsc[l] + c.bias;
        }
        if ONE {
            let e: &[f64; W] = enc[lo..lo + W].try_into().unwrap();
            for l in 0..W {
                cur[l] += e[l] * z[0];
            }
        } else {
            for (cc, &zc) in z.iter().enumerate() {
                let e: &[f64; W] = enc[cc * np + lo..cc * np + lo + W].try_into().unwrap();
                for l in 0..W {
                    cur[l] += e[l] * zc;
                }
            }
        }
        for l in 0..W {
            let (v, aux, s) = cell.step(blk.v[l], blk.aux[l], cur[l], step);
            blk.v[l] = v;
            blk.aux[l] = aux;
            fl[l] = sel(s, 1.0, 0.0);
            spk[l] = s;
            any |= s;
        }
        if c.single {
            for l in 0..W {
                blk.ipsc[l] *= c.ed;
                blk.r[l] = blk.r[l] * c.ed + fl[l] * c.jump;
            }
        } else {
            for l in 0..W {
                blk.ipsc[l] = blk.ipsc[l] * c.er + blk.h[l] * c.dt;
                blk.h[l] *= c.ed;
                blk.r[l] = blk.r[l] * c.er + blk.hr[l] * c.dt;
                blk.hr[l] = blk.hr[l] * c.ed + fl[l] * c.jump;
            }
        }
        if ONE {
            let d: &[f64; W] = dec[lo..lo + W].try_into().unwrap();
            for l in 0..W {
                acc1[l] += d[l] * blk.r[l];
            }
        } else {
            for (cc, a) in acc[..kb].iter_mut().enumerate() {
                let d: &[f64; W] = dec[cc * np + lo..cc * np + lo + W].try_into().unwrap();
                for l in 0..W {
                    a[l] += d[l] * blk.r[l];
                }
            }
        }
        if any {
            for (l, &s) in spk.iter().enumerate() {
                if s && lo + l < n {
                    spikes.push((lo + l) as u32);
                }
            }
        }
    }
    if ONE {
        acc[0] = acc1;
    }
    for cc in kb..k {
        let mut a = [0.0f64; W];
        for (bi, blk) in blocks.iter().enumerate() {
            let d: &[f64; W] = dec[cc * np + bi * W..cc * np + bi * W + W]
                .try_into()
                .unwrap();
            for l in 0..W {
                a[l] += d[l] * blk.r[l];
            }
        }
        z_new[cc] = lane_sum(&a);
    }
    for (zc, a) in z_new.iter_mut().zip(&acc[..kb]) {
        // Through memory: without it the vectoriser may split the lanes.
        let a = std::hint::black_box(*a);
        *zc = lane_sum(&a);
    }
}

/// Sum of the lane accumulators in a fixed order.
#[inline(always)]
fn lane_sum(a: &[f64; W]) -> f64 {
    let mut h = [0.0f64; 4];
    for (l, x) in a.iter().enumerate() {
        h[l % 4] += x;
    }
    (h[0] + h[1]) + (h[2] + h[3])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The LIF and Izhikevich passes give identical bits with AVX2 lanes (on CPUs that have them)
    /// and with the portable lanes: state, spike input, readouts and spikes.
    #[test]
    fn avx_pass_matches_portable_pass() {
        #[cfg(target_arch = "x86_64")]
        let Some(v3) = pulp::x86::V3::try_new() else {
            return;
        };
        #[cfg(not(target_arch = "x86_64"))]
        return;
        let lif = AnyCell::Lif(Lif {
            f: 0.005,
            v_peak: -40.0,
            v_reset: -65.0,
            n_ref: 40.0,
        });
        let izh = AnyCell::Izh(Izh {
            fc: 0.04 / 250.0,
            fa: 0.04 * 0.01,
            k: 2.5,
            v_r: -60.0,
            v_t: -20.0,
            b: 0.0,
            d: 200.0,
            v_peak: 30.0,
            v_reset: -65.0,
        });
        for (cell, k, single) in [
            (lif, 1, false),
            (lif, 3, true),
            (izh, 5, false),
            (izh, 9, false),
        ] {
            let mut rng = ChaCha8Rng::seed_from_u64(k as u64);
            let (nb, n) = (13, 100);
            let np = nb * W;
            let mut blocks = vec![Block::default(); nb];
            for b in blocks.iter_mut() {
                for l in 0..W {
                    let (lo, hi) = match cell {
                        AnyCell::Lif(_) => (-70.0, -38.0),
                        AnyCell::Izh(_) => (-65.0, 35.0),
                    };
                    b.v[l] = lo + (hi - lo) * rng.random::<f64>();
                    b.aux[l] = match cell {
                        AnyCell::Lif(_) => (rng.random::<f64>() * 100.0).floor(),
                        AnyCell::Izh(_) => rng.random::<f64>() * 50.0,
                    };
                    b.ipsc[l] = rng.random::<f64>() - 0.5;
                    b.h[l] = rng.random::<f64>();
                    b.r[l] = rng.random::<f64>();
                    b.hr[l] = rng.random::<f64>();
                }
            }
            let jd: Vec<f64> = (0..np).map(|_| rng.random::<f64>() - 0.5).collect();
            let enc: Vec<f64> = (0..k * np)
                .map(|_| rng.random::<f64>() * 20.0 - 10.0)
                .collect();
            let dec: Vec<f64> = (0..k * np).map(|_| rng.random::<f64>() - 0.5).collect();
            let z: Vec<f64> = (0..k).map(|_| rng.random::<f64>()).collect();
            let c = StepConsts {
                dt: 0.05,
                er: 0.97,
                ed: 0.99,
                jump: 2.5,
                single,
                bias: 1.5,
                step: 77,
            };
            let run = |avx: bool| {
                let (mut b, mut j, mut zn, mut sp) =
                    (blocks.clone(), jd.clone(), vec![0.0; k], vec![]);
                let op = LanesOp {
                    s: crate::force::lanes::Scalar,
                    cell,
                    c: &c,
                    blocks: &mut b,
                    jd: &mut j,
                    n,
                    enc: &enc,
                    dec: &dec,
                    z: &z,
                    z_new: &mut zn,
                    spikes: &mut sp,
                };
                if avx {
                    v3.vectorize(LanesOp {
                        s: crate::force::lanes::Avx(v3),
                        cell: op.cell,
                        c: op.c,
                        blocks: op.blocks,
                        jd: op.jd,
                        n: op.n,
                        enc: op.enc,
                        dec: op.dec,
                        z: op.z,
                        z_new: op.z_new,
                        spikes: op.spikes,
                    });
                } else {
                    pulp::NullaryFnOnce::call(op);
                }
                let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                let state: Vec<u64> = b
                    .iter()
                    .flat_map(|x| [x.v, x.aux, x.ipsc, x.h, x.r, x.hr].concat())
                    .map(|v| v.to_bits())
                    .collect();
                (state, bits(&j), bits(&zn), sp)
            };
            let (a, p) = (run(true), run(false));
            assert_eq!(a, p);
            assert!(!a.3.is_empty() && a.3.len() < n, "spikes {}", a.3.len());
            assert!(a.1.iter().all(|&x| x == 0));
        }
    }
}
