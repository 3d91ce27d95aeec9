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
    /// Static input of the last step's spikes (column sums of the spikers' weights), added to the
    /// filter at the start of the next pass: `h = h e^{-dt/td} + jd / (tr td)` exactly as the
    /// reference, in two halves.
    pub jd: [f64; W],
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

impl Cell for Lif {
    #[inline(always)]
    fn step(self, v: f64, free_after: f64, cur: f64, step: f64) -> (f64, f64, bool) {
        let x = sel(step > free_after, v + self.f * (cur - v), v);
        let spike = x >= self.v_peak;
        // `max` rather than a select of the old value, which compiles to a (slow) masked store; a
        // spike always moves the bound up (it is below this step + n_ref).
        (
            sel(spike, self.v_reset, x),
            free_after.max(sel(spike, step + self.n_ref, f64::NEG_INFINITY)),
            spike,
        )
    }
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

impl Cell for Izh {
    #[inline(always)]
    fn step(self, v: f64, u: f64, cur: f64, _step: f64) -> (f64, f64, bool) {
        let v1 = v + self.fc * (self.k * (v - self.v_r) * (v - self.v_t) - u + cur);
        let u1 = u + self.fa * (self.b * (v - self.v_r) - u);
        let spike = v1 >= self.v_peak;
        (
            sel(spike, self.v_reset, v1),
            sel(spike, u1 + self.d, u1),
            spike,
        )
    }
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
/// neurons are appended to `spikes`.
#[allow(clippy::too_many_arguments)]
pub fn step_pass(
    model: &NeuronModel,
    c: &StepConsts,
    blocks: &mut [Block],
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
            let (b, n, e, d, z, zn, sp) = (
                self.blocks,
                self.n,
                self.enc,
                self.dec,
                self.z,
                self.z_new,
                self.spikes,
            );
            match *self.model {
                NeuronModel::Lif {
                    tau_mem,
                    v_reset,
                    v_peak,
                    refractory,
                    ..
                } => {
                    let cell = Lif {
                        f: c.dt / tau_mem,
                        v_peak,
                        v_reset,
                        n_ref: (refractory / c.dt).round(),
                    };
                    pass(cell, c, b, n, e, d, z, zn, sp)
                }
                NeuronModel::Izhikevich {
                    c: cap,
                    k,
                    v_r,
                    v_t,
                    a,
                    b: bb,
                    d: dd,
                    v_peak,
                    v_reset,
                    ..
                } => {
                    let cell = Izh {
                        fc: c.dt / cap,
                        fa: c.dt * a,
                        k,
                        v_r,
                        v_t,
                        b: bb,
                        d: dd,
                        v_peak,
                        v_reset,
                    };
                    pass(cell, c, b, n, e, d, z, zn, sp)
                }
                NeuronModel::Theta { .. } => pass(ThetaCell { dt: c.dt }, c, b, n, e, d, z, zn, sp),
            }
        }
    }
    pulp::Arch::new().dispatch(Op {
        model,
        c,
        blocks,
        n,
        enc,
        dec,
        z,
        z_new,
        spikes,
    });
}

/// Dispatch on the output count: one output (the common case) keeps its readout accumulator in
/// registers.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn pass<C: Cell>(
    cell: C,
    c: &StepConsts,
    blocks: &mut [Block],
    n: usize,
    enc: &[f64],
    dec: &[f64],
    z: &[f64],
    z_new: &mut [f64],
    spikes: &mut Vec<u32>,
) {
    if z.len() == 1 {
        pass_k::<C, true>(cell, c, blocks, n, enc, dec, z, z_new, spikes)
    } else {
        pass_k::<C, false>(cell, c, blocks, n, enc, dec, z, z_new, spikes)
    }
}

// Lane loops index several arrays by lane: that form vectorises.
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
#[inline(always)]
fn pass_k<C: Cell, const ONE: bool>(
    cell: C,
    c: &StepConsts,
    blocks: &mut [Block],
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
            let add = blk.jd[l] * c.jump;
            if c.single {
                blk.ipsc[l] += add;
            } else {
                blk.h[l] += add;
            }
            blk.jd[l] = 0.0;
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
