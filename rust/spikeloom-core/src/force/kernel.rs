//! The per-step pass over the neurons of a FORCE reservoir: input current, neuron update, spike
//! flags, synaptic filters and the readout, fused into one loop over blocks of eight neurons.
//!
//! Each block is branch-free (selects instead of branches) so it vectorises; the whole pass is
//! compiled for the widest vector unit of the CPU (AVX2 on x86-64, chosen at run time by `pulp`). The
//! neuron and filter arithmetic is the same IEEE operations in the same order as the reference loop
//! (no fused multiply-adds), so results do not depend on the CPU and the spike raster matches a numpy
//! implementation of the scripts step for step.

use super::neuron::NeuronModel;

/// Neurons per block.
const L: usize = 8;

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

/// The reservoir's per-neuron arrays, as the pass sees them.
pub struct StepArrays<'a> {
    pub v: &'a mut [f64],
    pub u: &'a mut [f64],
    /// LIF: integration resumes once the step index exceeds this (last spike step + refractory
    /// steps), as f64 so the comparison vectorises (exact below 2^53 steps).
    pub free_after: &'a mut [f64],
    pub ipsc: &'a mut [f64],
    pub h: &'a mut [f64],
    pub r: &'a mut [f64],
    pub hr: &'a mut [f64],
    /// Feedback encoders, column-major (k x n).
    pub enc: &'a [f64],
    /// Decoders, column-major (k x n).
    pub dec: &'a [f64],
}

/// One neuron model's Euler step of one neuron: returns whether it spiked.
trait Cell: Copy {
    fn step(self, v: &mut f64, u: &mut f64, free_after: &mut f64, cur: f64, step: f64) -> bool;
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
    fn step(self, v: &mut f64, _u: &mut f64, free_after: &mut f64, cur: f64, step: f64) -> bool {
        let free = step > *free_after;
        let x = if free { *v + self.f * (cur - *v) } else { *v };
        let spike = x >= self.v_peak;
        *v = if spike { self.v_reset } else { x };
        *free_after = if spike { step + self.n_ref } else { *free_after };
        spike
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
    fn step(self, v: &mut f64, u: &mut f64, _f: &mut f64, cur: f64, _step: f64) -> bool {
        let v0 = *v;
        let v1 = v0 + self.fc * (self.k * (v0 - self.v_r) * (v0 - self.v_t) - *u + cur);
        let u1 = *u + self.fa * (self.b * (v0 - self.v_r) - *u);
        let spike = v1 >= self.v_peak;
        *v = if spike { self.v_reset } else { v1 };
        *u = if spike { u1 + self.d } else { u1 };
        spike
    }
}

#[derive(Clone, Copy)]
struct ThetaCell {
    dt: f64,
}

impl Cell for ThetaCell {
    #[inline(always)]
    fn step(self, v: &mut f64, _u: &mut f64, _f: &mut f64, cur: f64, _step: f64) -> bool {
        let pi = std::f64::consts::PI;
        let cs = v.cos();
        let x = *v + self.dt * ((1.0 - cs) + (1.0 + cs) * (pi * pi) * cur);
        let spike = x >= pi;
        *v = if spike { -pi } else { x };
        spike
    }
}

/// The LIF refractory period in steps (as the reference: `round(t_ref / dt)`).
pub fn refractory_steps(model: &NeuronModel, dt: f64) -> u64 {
    match *model {
        NeuronModel::Lif { refractory, .. } => (refractory / dt).round() as u64,
        _ => 0,
    }
}

/// One step of every neuron: input current `IPSC + bias + enc z` (from the previous readout `z`),
/// the model's Euler step, the filters of the spikes (`r`, `hr`) and the decay part of the static
/// input's filter (`ipsc`, `h`; the spikes' weights are added afterwards by the caller through
/// [`add_spike_input`]), and the new readout `d^T r` into `z_new`. Spiking neurons are appended to
/// `spikes`.
pub fn step_pass(
    model: &NeuronModel,
    c: &StepConsts,
    a: &mut StepArrays<'_>,
    z: &[f64],
    z_new: &mut [f64],
    spikes: &mut Vec<u32>,
) {
    struct Op<'a, 'b> {
        model: &'a NeuronModel,
        c: &'a StepConsts,
        a: &'a mut StepArrays<'b>,
        z: &'a [f64],
        z_new: &'a mut [f64],
        spikes: &'a mut Vec<u32>,
    }
    impl pulp::WithSimd for Op<'_, '_> {
        type Output = ();
        // Inlined into pulp's per-CPU entry points, so the loops get their target features.
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) {
            let c = self.c;
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
                    pass(cell, c, self.a, self.z, self.z_new, self.spikes)
                }
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
                } => {
                    let cell = Izh {
                        fc: c.dt / cap,
                        fa: c.dt * a,
                        k,
                        v_r,
                        v_t,
                        b,
                        d,
                        v_peak,
                        v_reset,
                    };
                    pass(cell, c, self.a, self.z, self.z_new, self.spikes)
                }
                NeuronModel::Theta { .. } => pass(
                    ThetaCell { dt: c.dt },
                    c,
                    self.a,
                    self.z,
                    self.z_new,
                    self.spikes,
                ),
            }
        }
    }
    pulp::Arch::new().dispatch(Op {
        model,
        c,
        a,
        z,
        z_new,
        spikes,
    });
}

#[inline(always)]
fn pass<C: Cell>(
    cell: C,
    c: &StepConsts,
    a: &mut StepArrays<'_>,
    z: &[f64],
    z_new: &mut [f64],
    spikes: &mut Vec<u32>,
) {
    let n = a.v.len();
    let k = z.len();
    let nb = n / L;
    // Readout partial sums: L lanes per output.
    let mut acc = [[0.0f64; L]; 8];
    let kb = k.min(8);
    let step = c.step as f64;
    for blk in 0..nb {
        let lo = blk * L;
        let mask = block::<C, L>(cell, c, a, lo, z, step, &mut acc[..kb]);
        if mask != 0 {
            let mut m = mask;
            while m != 0 {
                spikes.push((lo + m.trailing_zeros() as usize) as u32);
                m &= m - 1;
            }
        }
    }
    // Remainder, one neuron at a time (lane 0 of the accumulators).
    for i in nb * L..n {
        let mut tail = [[0.0f64; 1]; 8];
        if block::<C, 1>(cell, c, a, i, z, step, &mut tail[..kb]) != 0 {
            spikes.push(i as u32);
        }
        for (ac, t) in acc[..kb].iter_mut().zip(&tail) {
            ac[0] += t[0];
        }
    }
    for (zc, ac) in z_new.iter_mut().zip(&acc[..kb]) {
        let h = [ac[0] + ac[4], ac[1] + ac[5], ac[2] + ac[6], ac[3] + ac[7]];
        *zc = (h[0] + h[1]) + (h[2] + h[3]);
    }
    // Outputs beyond 8: a separate dot product each (rare).
    for cc in kb..k {
        z_new[cc] = super::rls::dot(&a.dec[cc * n..(cc + 1) * n], a.r);
    }
}

/// `W` neurons from `lo`: returns the spike mask (bit l = neuron lo + l spiked).
#[inline(always)]
fn block<C: Cell, const W: usize>(
    cell: C,
    c: &StepConsts,
    a: &mut StepArrays<'_>,
    lo: usize,
    z: &[f64],
    step: f64,
    acc: &mut [[f64; W]],
) -> u32 {
    let n = a.v.len();
    let hi = lo + W;
    let v: &mut [f64; W] = (&mut a.v[lo..hi]).try_into().unwrap();
    let u: &mut [f64; W] = (&mut a.u[lo..hi]).try_into().unwrap();
    let fa: &mut [f64; W] = (&mut a.free_after[lo..hi]).try_into().unwrap();
    let ipsc: &mut [f64; W] = (&mut a.ipsc[lo..hi]).try_into().unwrap();
    let h: &mut [f64; W] = (&mut a.h[lo..hi]).try_into().unwrap();
    let r: &mut [f64; W] = (&mut a.r[lo..hi]).try_into().unwrap();
    let hr: &mut [f64; W] = (&mut a.hr[lo..hi]).try_into().unwrap();
    // Input current, as the reference: (IPSC + BIAS) + E z (outputs added in order).
    let mut cur = [0.0f64; W];
    for l in 0..W {
        cur[l] = ipsc[l] + c.bias;
    }
    for (cc, &zc) in z.iter().enumerate() {
        let e: &[f64; W] = (&a.enc[cc * n + lo..cc * n + hi]).try_into().unwrap();
        for l in 0..W {
            cur[l] += e[l] * zc;
        }
    }
    let mut fl = [0.0f64; W];
    let mut mask = 0u32;
    for l in 0..W {
        let s = cell.step(&mut v[l], &mut u[l], &mut fa[l], cur[l], step);
        fl[l] = if s { 1.0 } else { 0.0 };
        mask |= (s as u32) << l;
    }
    if c.single {
        for l in 0..W {
            ipsc[l] *= c.ed;
            r[l] = r[l] * c.ed + fl[l] * c.jump;
        }
    } else {
        for l in 0..W {
            ipsc[l] = ipsc[l] * c.er + h[l] * c.dt;
            h[l] *= c.ed;
            r[l] = r[l] * c.er + hr[l] * c.dt;
            hr[l] = hr[l] * c.ed + fl[l] * c.jump;
        }
    }
    for (cc, ac) in acc.iter_mut().enumerate() {
        let d: &[f64; W] = (&a.dec[cc * n + lo..cc * n + hi]).try_into().unwrap();
        for l in 0..W {
            ac[l] += d[l] * r[l];
        }
    }
    mask
}

/// Add the static input of this step's spikes (`jd`, the column sums of the spiking neurons'
/// weights) to the filter that was decayed by [`step_pass`]: `x += jd * jump` (`x` = `h`, or `ipsc`
/// for a single exponential), and clear `jd`.
pub fn add_spike_input(x: &mut [f64], jd: &mut [f64], jump: f64) {
    struct Op<'a> {
        x: &'a mut [f64],
        jd: &'a mut [f64],
        jump: f64,
    }
    impl pulp::WithSimd for Op<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) {
            for (xi, ji) in self.x.iter_mut().zip(self.jd.iter_mut()) {
                *xi += *ji * self.jump;
                *ji = 0.0;
            }
        }
    }
    pulp::Arch::new().dispatch(Op { x, jd, jump });
}
