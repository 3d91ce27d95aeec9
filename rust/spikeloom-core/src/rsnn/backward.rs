//! Backpropagation through time over a recorded [`Trace`], without autodiff: the adjoint recursion of
//! the equations in [`super::network`], run backwards in time, top layer first within each step.
//!
//! With `delta x` the total derivative of the loss with respect to `x`, `v = u - theta` and `sigma'` the
//! surrogate derivative, one step `t` of one layer reads
//!
//! ```text
//! delta z[t]     = (from the layer above or the readout at t) + (carried from t+1, see below)
//! delta v        = delta z[t] sigma'(v[t])
//! delta u[t]     = delta v + alpha m[t+1] delta u[t+1]
//! delta theta[t] = -delta v - z[t-1] delta u[t]                 (the last term: subtract_adaptive reset)
//! delta a[t]     = beta delta theta[t] + rho delta a[t+1]
//! delta I[t]     = zeta delta u[t] (+ alpha_s delta i[t+1] for a current-based synapse)
//! carried to z[t-1]: W_rec delta I[t] + c_a delta a[t] + (reset: -theta_0, -theta[t] or -alpha u[t-1]) delta u[t]
//! passed to the layer below at t: W_in delta I[t]
//! ```
//! `detach_reset` drops the reset's dependence on the spike (the multiplicative mask of a zero reset
//! still gates the membrane path). `detach_recurrent` drops the recurrent spike path (`z[t-1] -> I[t]`
//! through `W_rec` is a constant; `W_rec` still gets its gradient): with both detached, BPTT computes
//! exactly the gradient that e-prop with symmetric feedback computes forward in time.
//!
//! Weight gradients are outer products of the sparse spike/input events with the dense `delta I`, so
//! they cost (events x fan-out). The dense parts are the products `W delta I`: the samples of a chunk
//! run their reverse passes in lockstep ([`backward_chunk`]), so at each step these products are one
//! small matrix product over the chunk (a register-blocked kernel that loads each weight once per four
//! samples) instead of one memory-bound matrix-vector product per sample.
//!
//! The time-constant slots of the gradient receive derivatives with respect to the *decay factors*
//! (`alpha`, `alpha_s`, `rho`, `kappa`); the trainer converts them to seconds once per batch
//! ([`decay_to_tau`]), since that conversion is linear and the same for every sample.

// Index loops walk several per-neuron arrays in step; iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use super::forward::{LayerModel, LayerTrace, Model, Trace};
use super::input::SampleInput;
use super::network::{Adaptation, LayerOffsets, Reset};
use super::real::{axpy, Real};
use super::surrogate::SpikeFn;

/// A gradient added to a layer's spikes at every step of a window (firing-rate regularisers, a
/// spike-count loss).
#[derive(Clone, Debug, Default)]
pub struct DirectGrad<F: Real> {
    pub layer: usize,
    pub from: usize,
    pub to: usize,
    pub g: Vec<F>,
}

/// Work buffers of the reverse pass, reused across samples.
#[derive(Clone, Debug, Default)]
pub struct BackwardScratch<F: Real> {
    du: Vec<Vec<F>>,
    da: Vec<Vec<F>>,
    di: Vec<Vec<F>>,
    dzc: Vec<Vec<F>>,
    dza: Vec<Vec<F>>,
    d_cur: Vec<Vec<F>>,
    zprev: Vec<Vec<F>>,
    dyc: Vec<F>,
    gq: Vec<F>,
    /// Per-neuron work rows of the current layer and step: surrogate derivative, threshold, delta v,
    /// delta u.
    sg: Vec<F>,
    th: Vec<F>,
    dv: Vec<F>,
    dun: Vec<F>,
}

fn zeroed<F: Real>(v: &mut Vec<F>, n: usize) {
    v.clear();
    v.resize(n, F::zero());
}

impl<F: Real> BackwardScratch<F> {
    fn prepare(&mut self, m: &Model<F>) {
        let nl = m.layers.len();
        for buf in [
            &mut self.du,
            &mut self.da,
            &mut self.di,
            &mut self.dzc,
            &mut self.dza,
            &mut self.d_cur,
            &mut self.zprev,
        ] {
            buf.resize_with(nl, Vec::new);
            for (b, lm) in buf.iter_mut().zip(&m.layers) {
                zeroed(b, lm.n);
            }
        }
        let no = m.readout.as_ref().map_or(0, |r| r.n);
        zeroed(&mut self.dyc, no);
        zeroed(&mut self.gq, no);
        let nmax = m.layers.iter().map(|l| l.n).max().unwrap_or(0);
        for b in [&mut self.sg, &mut self.th, &mut self.dv, &mut self.dun] {
            zeroed(b, nmax);
        }
    }
}

/// One sample's part of a reverse pass: its input, recorded trajectory, readout-loss derivative
/// `dy` (`[T x n_out]`, already scaled), direct spike gradients and work buffers.
pub struct SampleAdjoint<'a, F: Real> {
    pub x: SampleInput<'a>,
    /// The sample's step of the trace's step 0 (non-zero for a window of truncated BPTT).
    pub t0: usize,
    pub tr: &'a Trace<F>,
    pub dy: &'a [F],
    pub direct: &'a [DirectGrad<F>],
    pub s: &'a mut BackwardScratch<F>,
}

/// Accumulate the gradient of one sample into `grad` (flat, the network's layout). `dy` is the
/// derivative of the (already scaled) loss with respect to the readout trajectory `[T x n_out]`.
#[allow(clippy::too_many_arguments)]
pub fn backward<F: Real>(
    m: &Model<F>,
    x: SampleInput<'_>,
    t0: usize,
    tr: &Trace<F>,
    dy: &[F],
    direct: &[DirectGrad<F>],
    detach_reset: bool,
    detach_recurrent: bool,
    grad: &mut [F],
    s: &mut BackwardScratch<F>,
) {
    let mut one = [SampleAdjoint {
        x,
        t0,
        tr,
        dy,
        direct,
        s,
    }];
    backward_chunk(m, &mut one, detach_reset, detach_recurrent, grad);
}

/// Accumulate the gradients of several samples (same number of steps) into `grad`, running their
/// reverse passes in lockstep: at each step, every dense product `W delta` streams each weight row
/// once for all the samples (the weights are read from memory once per step instead of once per
/// sample and step, which is what bounds a one-sample pass). Samples are visited in the given order,
/// so the result depends only on the inputs.
pub fn backward_chunk<F: Real>(
    m: &Model<F>,
    items: &mut [SampleAdjoint<'_, F>],
    detach_reset: bool,
    detach_recurrent: bool,
    grad: &mut [F],
) {
    struct Op<'a, 'b, F: Real> {
        m: &'a Model<F>,
        items: &'a mut [SampleAdjoint<'b, F>],
        detach_reset: bool,
        detach_recurrent: bool,
        grad: &'a mut [F],
    }
    impl<F: Real> pulp::WithSimd for Op<'_, '_, F> {
        type Output = ();
        // Inlined into pulp's per-CPU entry points, so the whole pass is compiled for the widest
        // vector unit of the CPU, chosen at run time (a closure would be a separate function
        // compiled for the baseline CPU). Same arithmetic in the same order on every CPU: no fused
        // multiply-adds, no reassociation.
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) {
            backward_impl(
                self.m,
                self.items,
                self.detach_reset,
                self.detach_recurrent,
                self.grad,
            )
        }
    }
    pulp::Arch::new().dispatch(Op {
        m,
        items,
        detach_reset,
        detach_recurrent,
        grad,
    });
}

/// Which dense product `y += W^T g` of a sample's scratch a lockstep pass computes.
#[derive(Clone, Copy)]
enum Product {
    /// Readout: `dza[top] += W_out gq`.
    Readout,
    /// Recurrent: `dzc[l] += W_rec d_cur[l]`.
    Recurrent(usize),
    /// To the layer below: `dza[l - 1] += W_in d_cur[l]`.
    Below(usize),
}

#[inline(always)]
fn product_rows<F: Real>(s: &mut BackwardScratch<F>, p: Product, top: usize) -> (&mut [F], &[F]) {
    match p {
        Product::Readout => (&mut s.dza[top], &s.gq),
        Product::Recurrent(l) => (&mut s.dzc[l], &s.d_cur[l]),
        Product::Below(l) => (&mut s.dza[l - 1], &s.d_cur[l]),
    }
}

/// `y_s += sum_k g_s[k] wt[k]` for every sample `s` (rows `wt[k]` of length `y_s.len()`): a small
/// matrix product, done four samples at a time by [`rows_kernel`].
#[inline(always)]
fn lockstep_rows<F: Real>(items: &mut [SampleAdjoint<'_, F>], p: Product, top: usize, wt: &[F]) {
    let mut quads = items.chunks_exact_mut(4);
    for q in &mut quads {
        if let [a, b, c, d] = q {
            let (y0, g0) = product_rows(a.s, p, top);
            let (y1, g1) = product_rows(b.s, p, top);
            let (y2, g2) = product_rows(c.s, p, top);
            let (y3, g3) = product_rows(d.s, p, top);
            rows_kernel([y0, y1, y2, y3], [g0, g1, g2, g3], wt);
        }
    }
    for it in quads.into_remainder() {
        let (y, g) = product_rows(it.s, p, top);
        rows_kernel([y], [g], wt);
    }
}

/// Output columns per register block of [`rows_kernel`] (two AVX registers of `f32`).
const COLS: usize = 16;

/// `y_s[j] += sum_k g_s[k] wt[k * n + j]` for `S` (1 or 4) samples at once. Each block of [`COLS`]
/// outputs of the samples is accumulated in registers over all rows `k` (so each weight is loaded
/// once per `S` samples and each output is stored once): the register-blocked inner kernel of a
/// matrix product. Rows whose factors are all zero are skipped (sparse error vectors). The summation
/// order is fixed by the shapes alone.
#[inline(always)]
fn rows_kernel<F: Real, const S: usize>(ys: [&mut [F]; S], gs: [&[F]; S], wt: &[F]) {
    let n = ys[0].len();
    let rows = gs[0].len();
    let zero = F::zero();
    // Factors of the four samples (the missing ones of a single sample are zero, never read back).
    let g = |s: usize, k: usize| if s < S { gs[s][k] } else { zero };
    let mut j = 0;
    while j + COLS <= n {
        // Four named accumulator blocks (not an array indexed by sample) so that they stay in registers.
        let (mut a0, mut a1, mut a2, mut a3) =
            ([zero; COLS], [zero; COLS], [zero; COLS], [zero; COLS]);
        for k in 0..rows {
            let (g0, g1, g2, g3) = (g(0, k), g(1, k), g(2, k), g(3, k));
            if g0 == zero && g1 == zero && g2 == zero && g3 == zero {
                continue;
            }
            let w = &wt[k * n + j..k * n + j + COLS];
            for i in 0..COLS {
                a0[i] += g0 * w[i];
                if S > 1 {
                    a1[i] += g1 * w[i];
                    a2[i] += g2 * w[i];
                    a3[i] += g3 * w[i];
                }
            }
        }
        for (s, a) in [a0, a1, a2, a3].iter().enumerate().take(S) {
            for i in 0..COLS {
                ys[s][j + i] += a[i];
            }
        }
        j += COLS;
    }
    for jj in j..n {
        for s in 0..S {
            let mut a = zero;
            for k in 0..rows {
                a += gs[s][k] * wt[k * n + jj];
            }
            ys[s][jj] += a;
        }
    }
}

#[inline(always)]
fn backward_impl<F: Real>(
    m: &Model<F>,
    items: &mut [SampleAdjoint<'_, F>],
    detach_reset: bool,
    detach_recurrent: bool,
    grad: &mut [F],
) {
    let Some(steps) = items.first().map(|it| it.tr.steps) else {
        return;
    };
    debug_assert!(items.iter().all(|it| it.tr.steps == steps));
    for it in items.iter_mut() {
        it.s.prepare(m);
    }
    let nl = m.layers.len();
    let top = nl - 1;
    for t in (0..steps).rev() {
        // Readout: delta y, its parameters, and delta z of the last layer.
        if let (Some(rm), Some(o)) = (&m.readout, &m.layout.readout) {
            let no = rm.n;
            for it in items.iter_mut() {
                let (tr, s) = (it.tr, &mut *it.s);
                for k in 0..no {
                    let dyt = it.dy[t * no + k] + s.dyc[k];
                    let yp = if t > 0 {
                        tr.y[(t - 1) * no + k]
                    } else {
                        tr.init_y[k]
                    };
                    let mut dk = yp;
                    if rm.one_minus_kappa {
                        dk -= tr.q[t * no + k];
                    }
                    grad[o.tau.start + k] += dyt * dk;
                    let gq = rm.zeta[k] * dyt;
                    s.gq[k] = gq;
                    grad[o.bias.start + k] += gq;
                    s.dyc[k] = rm.kappa[k] * dyt;
                }
                let (idx, val) = tr.layers[top].spikes(t);
                for (&j, &v) in idx.iter().zip(val) {
                    let j = j as usize;
                    axpy(
                        &mut grad[o.w.start + j * no..o.w.start + (j + 1) * no],
                        v,
                        &s.gq,
                    );
                }
                s.dza[top].iter_mut().for_each(|v| *v = F::zero());
            }
            lockstep_rows(items, Product::Readout, top, &m.wt[o.w.clone()]);
        } else {
            for it in items.iter_mut() {
                it.s.dza[top].iter_mut().for_each(|v| *v = F::zero());
            }
        }
        for l in (0..nl).rev() {
            let lm = &m.layers[l];
            let o = &m.layout.layers[l];
            let n = lm.n;
            for it in items.iter_mut() {
                let (tr, s) = (it.tr, &mut *it.s);
                for dg in it.direct {
                    if dg.layer == l && t >= dg.from && t < dg.to {
                        for (dz, g) in s.dza[l].iter_mut().zip(&dg.g) {
                            *dz += *g;
                        }
                    }
                }
                let lt = &tr.layers[l];
                // z[t-1] as a dense vector.
                if t > 0 {
                    let (idx, val) = lt.spikes(t - 1);
                    for (&j, &v) in idx.iter().zip(val) {
                        s.zprev[l][j as usize] = v;
                    }
                } else {
                    s.zprev[l].copy_from_slice(&lt.init_z);
                }
                neuron_adjoint(lm, &m.spike, lt, t, detach_reset, l, grad, o, s);
                let dcur = &s.d_cur[l];
                add_to_range(grad, o.bias.start, dcur);
                // Weight gradients: one row per input event / spike below.
                let gw_in = o.w_in.start;
                if l == 0 {
                    for (j, v) in it.x.at(it.t0 + t) {
                        axpy(
                            &mut grad[gw_in + j * n..gw_in + (j + 1) * n],
                            F::of(v as f64),
                            dcur,
                        );
                    }
                } else {
                    let (idx, val) = tr.layers[l - 1].spikes(t);
                    for (&j, &v) in idx.iter().zip(val) {
                        let j = j as usize;
                        axpy(&mut grad[gw_in + j * n..gw_in + (j + 1) * n], v, dcur);
                    }
                }
                if lm.recurrent {
                    let gw = o.w_rec.start;
                    if t > 0 {
                        let (idx, val) = lt.spikes(t - 1);
                        for (&j, &v) in idx.iter().zip(val) {
                            let j = j as usize;
                            axpy(&mut grad[gw + j * n..gw + (j + 1) * n], v, dcur);
                        }
                    } else {
                        for (j, &v) in lt.init_z.iter().enumerate() {
                            if v != F::zero() {
                                axpy(&mut grad[gw + j * n..gw + (j + 1) * n], v, dcur);
                            }
                        }
                    }
                }
                if l > 0 {
                    s.dza[l - 1].iter_mut().for_each(|v| *v = F::zero());
                }
                // Clear the dense z[t-1].
                if t > 0 {
                    let (idx, _) = lt.spikes(t - 1);
                    for &j in idx {
                        s.zprev[l][j as usize] = F::zero();
                    }
                } else {
                    s.zprev[l].iter_mut().for_each(|z| *z = F::zero());
                }
            }
            if lm.recurrent && !detach_recurrent {
                lockstep_rows(items, Product::Recurrent(l), top, &m.wt[o.w_rec.clone()]);
            }
            if l > 0 {
                lockstep_rows(items, Product::Below(l), top, &m.wt[o.w_in.clone()]);
            }
        }
    }
}

#[inline(always)]
fn add_to_range<F: Real>(grad: &mut [F], start: usize, v: &[F]) {
    for (g, x) in grad[start..start + v.len()].iter_mut().zip(v) {
        *g += *x;
    }
}

/// Convert the decay-factor slots of a reduced gradient into derivatives with respect to the time
/// constants (s): `dL/dtau = dL/ddecay * decay * dt / tau^2`, where `decay = exp(-dt/tau)`. Zeroes the
/// recurrent diagonals (self-connections are masked).
pub fn decay_to_tau(net: &super::network::RsnnNetwork, grad: &mut [f64]) {
    let dt = net.spec.dt;
    for i in net.layout.n_weights..net.layout.len {
        let tau = net.params[i];
        let d = (-dt / tau).exp();
        grad[i] *= d * dt / (tau * tau);
    }
    for o in &net.layout.layers {
        if !o.w_rec.is_empty() {
            for k in 0..o.n {
                grad[o.w_rec.start + k * o.n + k] = 0.0;
            }
        }
    }
}

/// The per-neuron part of step `t` of layer `l`'s reverse pass (the recursion in the module docs),
/// one pass per equation so that the model's switches are tested once per pass and each pass is a
/// straight vectorisable loop. Reads `dza`/`dzc`, writes `d_cur`, the carried adjoints and the
/// time-constant gradients.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn neuron_adjoint<F: Real>(
    lm: &LayerModel<F>,
    spike: &SpikeFn<F>,
    lt: &LayerTrace<F>,
    t: usize,
    detach_reset: bool,
    l: usize,
    grad: &mut [F],
    o: &LayerOffsets,
    s: &mut BackwardScratch<F>,
) {
    let n = lm.n;
    let row = t * n;
    let zero = F::zero();
    let one = F::one();
    let adaptive = lm.adaptation != Adaptation::None;
    let (sg, th, dvb, dub) = (
        &mut s.sg[..n],
        &mut s.th[..n],
        &mut s.dv[..n],
        &mut s.dun[..n],
    );
    let zp = &s.zprev[l][..n];
    // Previous-step state (the initial state at t = 0).
    let (up, ap, ip): (&[F], &[F], &[F]) = if t > 0 {
        let r = row - n..row;
        let ap = if adaptive { &lt.a[r.clone()] } else { &[] };
        (&lt.u[r.clone()], ap, &lt.d[r])
    } else {
        (&lt.init_u, &lt.init_a, &lt.init_d)
    };
    // Threshold and surrogate derivative at v = u - theta.
    if adaptive {
        for (k, a) in lt.a[row..row + n].iter().enumerate() {
            th[k] = lm.theta0 + lm.beta * *a;
        }
    } else {
        th.iter_mut().for_each(|v| *v = lm.theta0);
    }
    for (k, u) in lt.u[row..row + n].iter().enumerate() {
        sg[k] = *u - th[k];
    }
    // Switches as 0/1 factors (a zero factor adds an exact zero).
    let c_zero = if lm.reset == Reset::Zero { one } else { zero };
    let c_oma = if lm.one_minus_alpha { one } else { zero };
    let (r_t0, r_th, r_up) = match (detach_reset, lm.reset) {
        (true, _) => (zero, zero, zero),
        (false, Reset::Subtract) => (one, zero, zero),
        (false, Reset::SubtractAdaptive) => (zero, one, zero),
        (false, Reset::Zero) => (zero, zero, one),
    };
    spike.grad_in_place(sg);
    // Membrane: delta v, delta u, the decay's gradient, the reset's dependence on z[t-1].
    {
        let (dza, dzc, du_c) = (&s.dza[l][..n], &mut s.dzc[l][..n], &mut s.du[l][..n]);
        let g_mem = &mut grad[o.tau_mem.clone()];
        let d_row = &lt.d[row..row + n];
        for k in 0..n {
            let dv = (dza[k] + dzc[k]) * sg[k];
            let du = dv + du_c[k];
            let mask = one - c_zero * zp[k];
            g_mem[k] += du * mask * up[k] - c_oma * du * d_row[k];
            dzc[k] = -((r_t0 * lm.theta0 + r_th * th[k] + r_up * lm.alpha[k] * up[k]) * du);
            du_c[k] = lm.alpha[k] * mask * du;
            dvb[k] = dv;
            dub[k] = du;
        }
    }
    // Adaptation: delta theta, delta a and its decay's gradient; a[t] depends on z[t-1].
    if adaptive {
        let sa = if lm.reset == Reset::SubtractAdaptive && !detach_reset {
            one
        } else {
            zero
        };
        let cy = if lm.adaptation == Adaptation::Yin {
            one
        } else {
            zero
        };
        let (dzc, da_c) = (&mut s.dzc[l][..n], &mut s.da[l][..n]);
        let g_ad = &mut grad[o.tau_adapt.clone()];
        for k in 0..n {
            let dtheta = -dvb[k] - sa * zp[k] * dub[k];
            let da = lm.beta * dtheta + da_c[k];
            g_ad[k] += da * (ap[k] - cy * zp[k]);
            da_c[k] = lm.rho[k] * da;
            dzc[k] += lm.c_a[k] * da;
        }
    }
    // Synapse: delta of the drive, passed to the input current.
    let dcur = &mut s.d_cur[l][..n];
    if lm.synapse {
        let di_c = &mut s.di[l][..n];
        let g_syn = &mut grad[o.tau_syn.clone()];
        for k in 0..n {
            let di = lm.zeta[k] * dub[k] + di_c[k];
            g_syn[k] += di * ip[k];
            di_c[k] = lm.alpha_s[k] * di;
            dcur[k] = di;
        }
    } else {
        for k in 0..n {
            dcur[k] = lm.zeta[k] * dub[k];
        }
    }
}
