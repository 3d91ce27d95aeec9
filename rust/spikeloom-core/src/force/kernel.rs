//! The per-step pass over the neurons of a FORCE reservoir: input current, neuron update, spike
//! flags, synaptic filters and the readout.
//!
//! Each loop is element-wise and branch-free (selects instead of branches) so it vectorises; the whole pass is
//! compiled for the widest vector unit of the CPU (AVX2 on x86-64, chosen at run time by `pulp`). The
//! neuron and filter arithmetic is the same IEEE operations in the same order as the reference loop
//! (no fused multiply-adds), so results do not depend on the CPU and the spike raster matches a numpy
//! implementation of the scripts step for step.

use super::neuron::NeuronModel;

/// Spike flags tested per block.
const L: usize = 16;

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
    /// Scratch: input currents and spike flags.
    pub cur: &'a mut [f64],
    pub flags: &'a mut [f64],
}

/// `if m { a } else { b }` through bit masks, which the loop vectoriser turns into blends (a plain
/// `if` on values can be compiled to a branch, which stops vectorisation).
#[inline(always)]
fn sel(m: bool, a: f64, b: f64) -> f64 {
    let mask = (m as u64).wrapping_neg();
    f64::from_bits((a.to_bits() & mask) | (b.to_bits() & !mask))
}

/// One neuron model's Euler step of every neuron: sets `fl[i]` to 1.0 where neuron i spiked, 0.0
/// elsewhere (element-wise and branch-free, so the loop vectorises).
trait Cell: Copy {
    fn step(
        self,
        v: &mut [f64],
        u: &mut [f64],
        free_after: &mut [f64],
        cur: &[f64],
        step: f64,
        fl: &mut [f64],
    );
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
    fn step(
        self,
        v: &mut [f64],
        _u: &mut [f64],
        free_after: &mut [f64],
        cur: &[f64],
        step: f64,
        fl: &mut [f64],
    ) {
        for (((v, fa), &c), fl) in v.iter_mut().zip(free_after.iter_mut()).zip(cur).zip(fl) {
            let (v0, fa0) = (*v, *fa);
            let x = sel(step > fa0, v0 + self.f * (c - v0), v0);
            let spike = x >= self.v_peak;
            *v = sel(spike, self.v_reset, x);
            *fa = sel(spike, step + self.n_ref, fa0);
            *fl = sel(spike, 1.0, 0.0);
        }
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
    fn step(
        self,
        v: &mut [f64],
        u: &mut [f64],
        _free_after: &mut [f64],
        cur: &[f64],
        _step: f64,
        fl: &mut [f64],
    ) {
        for (((v, u), &c), fl) in v.iter_mut().zip(u.iter_mut()).zip(cur).zip(fl) {
            let (v0, u0) = (*v, *u);
            let v1 = v0 + self.fc * (self.k * (v0 - self.v_r) * (v0 - self.v_t) - u0 + c);
            let u1 = u0 + self.fa * (self.b * (v0 - self.v_r) - u0);
            let spike = v1 >= self.v_peak;
            *v = sel(spike, self.v_reset, v1);
            *u = sel(spike, u1 + self.d, u1);
            *fl = sel(spike, 1.0, 0.0);
        }
    }
}

#[derive(Clone, Copy)]
struct ThetaCell {
    dt: f64,
}

impl Cell for ThetaCell {
    #[inline(always)]
    fn step(
        self,
        v: &mut [f64],
        _u: &mut [f64],
        _free_after: &mut [f64],
        cur: &[f64],
        _step: f64,
        fl: &mut [f64],
    ) {
        let pi = std::f64::consts::PI;
        for ((v, &c), fl) in v.iter_mut().zip(cur).zip(fl) {
            let cs = v.cos();
            let x = *v + self.dt * ((1.0 - cs) + (1.0 + cs) * (pi * pi) * c);
            let spike = x >= pi;
            *v = sel(spike, -pi, x);
            *fl = sel(spike, 1.0, 0.0);
        }
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
    // Input current, as the reference: (IPSC + BIAS) + E z (outputs added in order).
    let cur = &mut *a.cur;
    for (x, &ip) in cur.iter_mut().zip(a.ipsc.iter()) {
        *x = ip + c.bias;
    }
    for (e, &zc) in a.enc.chunks_exact(n).zip(z) {
        for (x, &ei) in cur.iter_mut().zip(e) {
            *x += ei * zc;
        }
    }
    let fl = &mut *a.flags;
    cell.step(a.v, a.u, a.free_after, cur, c.step as f64, fl);
    // Filters; the static input's spikes are added afterwards (`add_spike_input`).
    if c.single {
        for ((ip, r), &f) in a.ipsc.iter_mut().zip(a.r.iter_mut()).zip(fl.iter()) {
            *ip *= c.ed;
            *r = *r * c.ed + f * c.jump;
        }
    } else {
        for ((((ip, h), r), hr), &f) in a
            .ipsc
            .iter_mut()
            .zip(a.h.iter_mut())
            .zip(a.r.iter_mut())
            .zip(a.hr.iter_mut())
            .zip(fl.iter())
        {
            *ip = *ip * c.er + *h * c.dt;
            *h *= c.ed;
            *r = *r * c.er + *hr * c.dt;
            *hr = *hr * c.ed + f * c.jump;
        }
    }
    // Readout d^T r.
    for (zc, d) in z_new.iter_mut().zip(a.dec.chunks_exact(n)) {
        *zc = dot8(d, a.r);
    }
    // Spiking neurons (rare): test 16 flags at a time.
    for (b, chunk) in fl.chunks(L).enumerate() {
        let any = chunk.iter().fold(false, |acc, &f| acc | (f != 0.0));
        if any {
            for (l, &f) in chunk.iter().enumerate() {
                if f != 0.0 {
                    spikes.push((b * L + l) as u32);
                }
            }
        }
    }
}

/// `a . b` with eight interleaved partial sums (two AVX2 registers; fixed order).
#[inline(always)]
fn dot8(a: &[f64], b: &[f64]) -> f64 {
    let m = a.len().min(b.len()) / 8 * 8;
    let mut acc = [0.0f64; 8];
    for (x, y) in a[..m].chunks_exact(8).zip(b[..m].chunks_exact(8)) {
        let x: &[f64; 8] = x.try_into().unwrap();
        let y: &[f64; 8] = y.try_into().unwrap();
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    // Through memory: without it the vectoriser pairs the lanes for the final sum and compiles the
    // loop with 2-wide instructions.
    let acc = std::hint::black_box(acc);
    let h = [
        acc[0] + acc[4],
        acc[1] + acc[5],
        acc[2] + acc[6],
        acc[3] + acc[7],
    ];
    let mut s = (h[0] + h[1]) + (h[2] + h[3]);
    for (x, y) in a[m..].iter().zip(&b[m..]) {
        s += x * y;
    }
    s
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
