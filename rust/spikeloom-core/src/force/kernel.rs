//! The per-step pass over the neurons of a FORCE reservoir (or one segment of it): input current,
//! neuron update, spike flags, synaptic filters and the readout's partial sums, in one loop.
//!
//! During a run the per-neuron state lives in blocks of [`W`] neurons (two AVX2 registers of f64
//! per state variable, all variables of a block side by side), so the single fused loop touches one
//! array of state; the network packs its state into blocks at the start of a run and unpacks it at
//! the end. All three models (LIF, Izhikevich, theta) run through the same explicit four-lane code
//! ([`super::lanes`]: AVX2 + FMA registers chosen at run time by `pulp`, or arrays doing the same
//! operations), with bit-mask selects for the thresholds and resets; theta takes its cosines lane
//! by lane. The neuron and filter arithmetic is the same IEEE operations in the same order as the
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

/// Per-model constants of one step, in the model's units.
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

/// The LIF refractory period in steps (as the reference: `round(t_ref / dt)`).
pub fn refractory_steps(model: &NeuronModel, dt: f64) -> u64 {
    match *model {
        NeuronModel::Lif { refractory, .. } => (refractory / dt).round() as u64,
        _ => 0,
    }
}

/// One segment of the reservoir for [`step_pass`]: the blocks of neurons `base..base + W *
/// blocks.len()` and their spike inputs.
pub struct Segment<'a> {
    pub blocks: &'a mut [Block],
    /// Static input of the last step's spikes (one per neuron and padding lane of the segment),
    /// zeroed by the pass.
    pub jd: &'a mut [f64],
    /// Index of the segment's first neuron (a multiple of [`W`]).
    pub base: usize,
}

/// One step of the neurons of a segment: the last step's spike input into the filter, input
/// current `IPSC + bias + enc z` (from the previous readout `z`), the model's Euler step, the
/// filters, and the segment's share of the readout `d^T r` as four lane sums per output
/// (`part[c]`, added in the neurons' order; the caller adds the segments' lanes in segment order
/// and then the four lanes as `(a0 + a1) + (a2 + a3)`). `enc` and `dec` are column-major
/// (k x `np`, zero in the padding lanes); `n` is the number of real neurons (spikes of padding
/// lanes are ignored). Spiking neurons are appended to `spikes` (global indices, ascending), and
/// the cache lines of their fan-out lists in `fanout` (CSR `ptr`, `post`, `weight`) are prefetched
/// for the delivery that follows the pass. `jd` holds the column sums of the last step's spikers'
/// weights, added to the filter here and zeroed: `h = h e^{-dt/td} + jd / (tr td)` exactly as the
/// reference, in two halves.
///
/// All three models run through the same explicit lanes (AVX2 + FMA registers when the CPU has
/// them, the same operations on arrays otherwise: bit-identical); theta takes its cosines lane by
/// lane.
#[allow(clippy::too_many_arguments)]
pub fn step_pass(
    model: &NeuronModel,
    c: &StepConsts,
    seg: Segment<'_>,
    n: usize,
    np: usize,
    enc: &[f64],
    dec: &[f64],
    z: &[f64],
    part: &mut [[f64; 4]],
    spikes: &mut Vec<u32>,
    fanout: Fanout<'_>,
) {
    let cell = match *model {
        NeuronModel::Lif {
            tau_mem,
            v_reset,
            v_peak,
            refractory,
            ..
        } => AnyCell::Lif(Lif {
            f: c.dt / tau_mem,
            v_peak,
            v_reset,
            n_ref: (refractory / c.dt).round(),
        }),
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
        } => AnyCell::Izh(Izh {
            fc: c.dt / cap,
            fa: c.dt * a,
            k,
            v_r,
            v_t,
            b,
            d,
            v_peak,
            v_reset,
        }),
        NeuronModel::Theta { .. } => AnyCell::Theta(ThetaCell { dt: c.dt }),
    };
    let args = PassArgs {
        cell,
        c,
        seg,
        n,
        np,
        enc,
        dec,
        z,
        part,
        spikes,
        fanout,
    };
    #[cfg(target_arch = "x86_64")]
    if let Some(v3) = pulp::x86::V3::try_new() {
        return v3.vectorize(LanesOp {
            s: super::lanes::Avx(v3),
            args,
        });
    }
    pulp::NullaryFnOnce::call(LanesOp {
        s: super::lanes::Scalar,
        args,
    });
}

#[derive(Clone, Copy)]
enum AnyCell {
    Lif(Lif),
    Izh(Izh),
    Theta(ThetaCell),
}

struct PassArgs<'a, 'b> {
    cell: AnyCell,
    c: &'a StepConsts,
    seg: Segment<'b>,
    n: usize,
    np: usize,
    enc: &'a [f64],
    dec: &'a [f64],
    z: &'a [f64],
    part: &'a mut [[f64; 4]],
    spikes: &'a mut Vec<u32>,
    fanout: Fanout<'a>,
}

/// Fan-out lists in CSR form: the synapses of neuron `j` are `ptr[j]..ptr[j + 1]` of `post` and
/// `weight`.
#[derive(Clone, Copy)]
pub struct Fanout<'a> {
    pub ptr: &'a [usize],
    pub post: &'a [u32],
    pub weight: &'a [f64],
}

struct LanesOp<'a, 'b, L> {
    s: L,
    args: PassArgs<'a, 'b>,
}

impl<L: Lanes> pulp::NullaryFnOnce for LanesOp<'_, '_, L> {
    type Output = ();
    // Inlined into `V3::vectorize`, so the lanes get its target features.
    #[inline(always)]
    fn call(self) {
        let (s, a) = (self.s, self.args);
        // Monomorphised for the common output counts (the readout accumulators stay in
        // registers) and the filter kind.
        macro_rules! go {
            ($x:expr) => {
                match (a.c.single, a.z.len()) {
                    (false, 1) => lanes_pass::<L, _, false, 1>(s, $x, a),
                    (false, 5) => lanes_pass::<L, _, false, 5>(s, $x, a),
                    (true, 1) => lanes_pass::<L, _, true, 1>(s, $x, a),
                    (true, _) => lanes_pass::<L, _, true, 0>(s, $x, a),
                    (false, _) => lanes_pass::<L, _, false, 0>(s, $x, a),
                }
            };
        }
        match a.cell {
            AnyCell::Lif(x) => go!(x),
            AnyCell::Izh(x) => go!(x),
            AnyCell::Theta(x) => go!(x),
        }
    }
}

/// One Euler step of four neurons of one model: `(v, aux, current, step) -> (v', aux', spike
/// mask)`, the same IEEE operations in the same order as the reference loop (no fused
/// multiply-adds).
trait LaneCell: Copy {
    /// `aux` changes only where a neuron spikes (then a group without spikes skips its store).
    const AUX_ON_SPIKE: bool = false;
    fn step<L: Lanes>(self, s: L, v: L::V, aux: L::V, cur: L::V, step: L::V) -> (L::V, L::V, L::V);
}

impl LaneCell for Lif {
    const AUX_ON_SPIKE: bool = true;
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

impl LaneCell for ThetaCell {
    /// `v + dt ((1 - cos v) + (1 + cos v) pi^2 I)`, spike at `pi`, reset to `-pi`; the cosines
    /// lane by lane (the same libm call on every path).
    #[inline(always)]
    fn step<L: Lanes>(self, s: L, v: L::V, aux: L::V, cur: L::V, _: L::V) -> (L::V, L::V, L::V) {
        let pi = std::f64::consts::PI;
        let one = s.splat(1.0);
        let cs = s.lanes_of(s.to_array(v).map(f64::cos));
        let drive = s.mul(s.mul(s.add(one, cs), s.splat(pi * pi)), cur);
        let x = s.add(v, s.mul(s.splat(self.dt), s.add(s.sub(one, cs), drive)));
        let spike = s.ge(x, s.splat(pi));
        (s.select(spike, s.splat(-pi), x), aux, spike)
    }
}

/// The fused pass over the four-neuron lane groups of a segment (two per block): `SINGLE` filter
/// kind, `K` outputs (0: any number, read from `z`).
#[inline(always)]
fn lanes_pass<L: Lanes, C: LaneCell, const SINGLE: bool, const K: usize>(
    s: L,
    cell: C,
    a: PassArgs<'_, '_>,
) {
    let PassArgs {
        c,
        seg,
        n,
        np,
        enc,
        dec,
        z,
        part,
        spikes,
        fanout,
        ..
    } = a;
    let Segment { blocks, jd, base } = seg;
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
    let kb = k.min(8);
    let mut acc = [zero; 8];
    let zs: [L::V; 8] = core::array::from_fn(|cc| s.splat(if cc < k { z[cc] } else { 0.0 }));
    for (bi, blk) in blocks.iter_mut().enumerate() {
        for h in 0..2 {
            let lo = bi * W + 4 * h;
            let g = base + lo;
            let x = 4 * h;
            let mut ipsc = s.load(&blk.ipsc[x..]);
            let mut hh = s.load(&blk.h[x..]);
            let add = s.mul(s.load(&jd[lo..]), jump);
            s.store(&mut jd[lo..], zero);
            if SINGLE {
                ipsc = s.add(ipsc, add);
            } else {
                hh = s.add(hh, add);
            }
            let mut cur = s.add(ipsc, bias);
            for cc in 0..k {
                let zc = if cc < 8 { zs[cc] } else { s.splat(z[cc]) };
                cur = s.add(cur, s.mul(s.load(&enc[cc * np + g..]), zc));
            }
            let (v, aux, spike) =
                cell.step(s, s.load(&blk.v[x..]), s.load(&blk.aux[x..]), cur, step);
            s.store(&mut blk.v[x..], v);
            let mut bits = s.bits(spike);
            if !C::AUX_ON_SPIKE || bits != 0 {
                s.store(&mut blk.aux[x..], aux);
            }
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
                *a = s.add(*a, s.mul(s.load(&dec[cc * np + g..]), r));
            }
            while bits != 0 {
                let l = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if g + l < n {
                    spikes.push((g + l) as u32);
                    let (a, b) = (fanout.ptr[g + l], fanout.ptr[g + l + 1]);
                    for x in fanout.post[a..b].iter().step_by(16) {
                        s.prefetch(x);
                    }
                    for x in fanout.weight[a..b].iter().step_by(8) {
                        s.prefetch(x);
                    }
                }
            }
        }
    }
    for (cc, p) in part.iter_mut().enumerate().take(k).skip(kb) {
        let mut a = zero;
        for (bi, blk) in blocks.iter().enumerate() {
            for h in 0..2 {
                let g = base + bi * W + 4 * h;
                a = s.add(
                    a,
                    s.mul(s.load(&dec[cc * np + g..]), s.load(&blk.r[4 * h..])),
                );
            }
        }
        *p = s.to_array(a);
    }
    for (p, a) in part.iter_mut().zip(&acc[..kb]) {
        *p = s.to_array(*a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    type Run = (Vec<u64>, Vec<u64>, Vec<u64>, Vec<u32>);

    /// Step `blocks` cut at block `cut` into two segments (`cut` 0: one segment) with the AVX2
    /// lanes or the portable ones; state, spike input, the segments' lane sums and spikes as bits.
    #[allow(clippy::too_many_arguments)]
    fn run(
        avx: bool,
        cell: AnyCell,
        c: &StepConsts,
        blocks: &[Block],
        jd: &[f64],
        cut: usize,
        n: usize,
        enc: &[f64],
        dec: &[f64],
        z: &[f64],
    ) -> Run {
        let (mut b, mut sp) = (blocks.to_vec(), vec![]);
        // Two synapses per neuron (only prefetched by the pass).
        let ptr: Vec<usize> = (0..=n).map(|j| 2 * j).collect();
        let post: Vec<u32> = (0..2 * n as u32).map(|x| x / 2).collect();
        let weight = vec![0.5; 2 * n];
        let fanout = Fanout {
            ptr: &ptr,
            post: &post,
            weight: &weight,
        };
        let np = b.len() * W;
        let k = z.len();
        let mut parts = Vec::new();
        let cuts: Vec<usize> = if cut == 0 {
            vec![b.len()]
        } else {
            vec![cut, b.len()]
        };
        let mut j = jd.to_vec();
        let (mut rb, mut rj): (&mut [Block], &mut [f64]) = (&mut b, &mut j);
        let mut start = 0;
        for e in cuts {
            let (hb, tb) = rb.split_at_mut(e - start);
            let (hj, tj) = rj.split_at_mut((e - start) * W);
            let mut part = vec![[0.0; 4]; k];
            let args = PassArgs {
                cell,
                c,
                seg: Segment {
                    blocks: hb,
                    jd: hj,
                    base: start * W,
                },
                n,
                np,
                enc,
                dec,
                z,
                part: &mut part,
                spikes: &mut sp,
                fanout,
            };
            if avx {
                #[cfg(target_arch = "x86_64")]
                {
                    let v3 = pulp::x86::V3::try_new().unwrap();
                    v3.vectorize(LanesOp {
                        s: crate::force::lanes::Avx(v3),
                        args,
                    });
                }
            } else {
                pulp::NullaryFnOnce::call(LanesOp {
                    s: crate::force::lanes::Scalar,
                    args,
                });
            }
            parts.extend(part.into_iter().flatten().map(f64::to_bits));
            (rb, rj, start) = (tb, tj, e);
        }
        let state: Vec<u64> = b
            .iter()
            .flat_map(|x| [x.v, x.aux, x.ipsc, x.h, x.r, x.hr].concat())
            .map(|v| v.to_bits())
            .collect();
        (state, j.iter().map(|v| v.to_bits()).collect(), parts, sp)
    }

    /// The LIF, Izhikevich and theta passes give identical bits with AVX2 lanes (on CPUs that have
    /// them) and with the portable lanes: state, spike input, readout sums and spikes; cutting the
    /// neurons into two segments changes only the readout sums (whose segment sums add up to the
    /// one-segment readout to rounding).
    #[test]
    fn avx_pass_matches_portable_pass() {
        let avx = cfg!(target_arch = "x86_64") && {
            #[cfg(target_arch = "x86_64")]
            let has = pulp::x86::V3::try_new().is_some();
            #[cfg(not(target_arch = "x86_64"))]
            let has = false;
            has
        };
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
        let theta = AnyCell::Theta(ThetaCell { dt: 0.05 });
        for (cell, k, single) in [
            (lif, 1, false),
            (lif, 3, true),
            (izh, 5, false),
            (izh, 9, false),
            (theta, 1, false),
            (theta, 2, true),
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
                        AnyCell::Theta(_) => (-3.1, 3.1),
                    };
                    b.v[l] = lo + (hi - lo) * rng.random::<f64>();
                    b.aux[l] = match cell {
                        AnyCell::Lif(_) => (rng.random::<f64>() * 100.0).floor(),
                        _ => rng.random::<f64>() * 50.0,
                    };
                    b.ipsc[l] = rng.random::<f64>() - 0.5;
                    b.h[l] = rng.random::<f64>();
                    b.r[l] = rng.random::<f64>();
                    b.hr[l] = rng.random::<f64>();
                }
            }
            let amp = if matches!(cell, AnyCell::Theta(_)) {
                4.0
            } else {
                0.5
            };
            let jd: Vec<f64> = (0..np).map(|_| amp * (rng.random::<f64>() - 0.5)).collect();
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
            let go = |avx, cut| run(avx, cell, &c, &blocks, &jd, cut, n, &enc, &dec, &z);
            let p = go(false, 0);
            if avx {
                assert_eq!(go(true, 0), p);
                assert_eq!(go(true, 5), go(false, 5));
            }
            assert!(!p.3.is_empty() && p.3.len() < n, "spikes {}", p.3.len());
            assert!(p.3.windows(2).all(|w| w[0] < w[1]));
            assert!(p.1.iter().all(|&x| x == 0));
            // Two segments: the same state, spikes and spike input; readout sums split.
            let two = go(false, 5);
            assert_eq!((&two.0, &two.1, &two.3), (&p.0, &p.1, &p.3));
            let f = |b: &[u64]| b.iter().map(|&x| f64::from_bits(x)).collect::<Vec<_>>();
            let (one, two) = (f(&p.2), f(&two.2));
            for cc in 0..k {
                let whole: f64 = one[4 * cc..4 * cc + 4].iter().sum();
                let split: f64 = two[4 * cc..4 * cc + 4].iter().sum::<f64>()
                    + two[4 * (k + cc)..4 * (k + cc) + 4].iter().sum::<f64>();
                let want: f64 = blocks_readout(&blocks, &p.0, &dec, cc, np);
                assert!((whole - want).abs() < 1e-12 && (split - want).abs() < 1e-12);
            }
        }
    }

    /// `dec_c . r` from the stepped state bits (r is the fifth variable of a block).
    fn blocks_readout(blocks: &[Block], state: &[u64], dec: &[f64], c: usize, np: usize) -> f64 {
        let mut s = 0.0;
        for b in 0..blocks.len() {
            for l in 0..W {
                let r = f64::from_bits(state[b * 6 * W + 4 * W + l]);
                s += dec[c * np + b * W + l] * r;
            }
        }
        s
    }
}
