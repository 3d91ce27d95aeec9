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

use super::connectivity::{Csr, SparseBlock};
use super::forward::{LayerModel, LayerTrace, Model, Trace};
use super::input::SampleInput;
use super::lockstep::{Lockstep, Panels};
use super::network::{Adaptation, LayerOffsets, Reset};
use super::real::{add_scaled_terms, Real};
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
    /// `delta I[t]` of every layer for every step of the window, `[T x n]`: the weight gradients are
    /// formed from it after the reverse pass ([`deferred_outer`]).
    hist: Vec<Vec<F>>,
    zprev: Vec<Vec<F>>,
    dyc: Vec<F>,
    /// `delta q[t]` of the readout for every step, `[T x n_out]`.
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
    fn prepare(&mut self, m: &Model<F>, steps: usize) {
        let nl = m.layers.len();
        for buf in [
            &mut self.du,
            &mut self.da,
            &mut self.di,
            &mut self.dzc,
            &mut self.dza,
            &mut self.zprev,
        ] {
            buf.resize_with(nl, Vec::new);
            for (b, lm) in buf.iter_mut().zip(&m.layers) {
                zeroed(b, lm.n);
            }
        }
        let no = m.readout.as_ref().map_or(0, |r| r.n);
        zeroed(&mut self.dyc, no);
        zeroed(&mut self.gq, steps * no);
        self.hist.resize_with(nl, Vec::new);
        for (b, lm) in self.hist.iter_mut().zip(&m.layers) {
            zeroed(b, steps * lm.n);
        }
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
        // compiled for the baseline CPU). Same arithmetic in the same order on every CPU: no
        // reassociation, and fused multiply-adds only where written as `mul_add` (the dense
        // products, see `lockstep`), which round the same with or without FMA hardware.
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
fn product_rows<F: Real>(
    s: &mut BackwardScratch<F>,
    p: Product,
    top: usize,
    t: usize,
) -> (&mut [F], &[F]) {
    fn row<F>(h: &[F], n: usize, t: usize) -> &[F] {
        &h[t * n..(t + 1) * n]
    }
    match p {
        Product::Readout => (&mut s.dza[top], row(&s.gq, s.dyc.len(), t)),
        Product::Recurrent(l) => {
            let n = s.dzc[l].len();
            (&mut s.dzc[l], row(&s.hist[l], n, t))
        }
        Product::Below(l) => {
            let n = s.dzc[l].len();
            (&mut s.dza[l - 1], row(&s.hist[l], n, t))
        }
    }
}

/// A weight block of a reverse-pass product: dense (packed in panels) or sparse.
#[derive(Clone, Copy)]
enum Block<'a, F: Real> {
    Dense(&'a Panels<F>),
    Sparse(&'a SparseBlock<F>),
}

impl<'a, F: Real> Block<'a, F> {
    /// The packed block if dense, else the sparse one (a projection is one or the other).
    fn of(dense: &'a Option<Panels<F>>, sparse: &'a Option<SparseBlock<F>>) -> Option<Self> {
        match (dense, sparse) {
            (Some(d), _) => Some(Block::Dense(d)),
            (None, Some(s)) => Some(Block::Sparse(s)),
            (None, None) => None,
        }
    }
}

/// `y_s += W g_s` for every sample `s` of the chunk, four samples at a time (see [`Lockstep`] and
/// [`SparseBlock::product`]).
#[inline(always)]
fn lockstep_rows<F: Real>(
    items: &mut [SampleAdjoint<'_, F>],
    p: Product,
    top: usize,
    t: usize,
    w: Block<'_, F>,
    ls: &mut Lockstep<F>,
) {
    for q in items.chunks_mut(4) {
        let mut ys: [&mut [F]; 4] = Default::default();
        let mut gs: [&[F]; 4] = Default::default();
        let ns = q.len();
        for (i, it) in q.iter_mut().enumerate() {
            (ys[i], gs[i]) = product_rows(it.s, p, top, t);
        }
        match w {
            Block::Dense(w) => ls.product(&mut ys[..ns], &gs[..ns], w),
            Block::Sparse(w) => {
                let g4 = ls.interleave(&gs[..ns]);
                w.product(&mut ys[..ns], g4);
            }
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
        it.s.prepare(m, steps);
    }
    let nl = m.layers.len();
    let top = nl - 1;
    let mut ls = Lockstep::default();
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
                    s.gq[t * no + k] = gq;
                    grad[o.bias.start + k] += gq;
                    s.dyc[k] = rm.kappa[k] * dyt;
                }
                s.dza[top].iter_mut().for_each(|v| *v = F::zero());
            }
            if let Some(w) = &m.packed.readout {
                lockstep_rows(items, Product::Readout, top, t, Block::Dense(w), &mut ls);
            }
        } else {
            for it in items.iter_mut() {
                it.s.dza[top].iter_mut().for_each(|v| *v = F::zero());
            }
        }
        for l in (0..nl).rev() {
            let lm = &m.layers[l];
            let o = &m.layout.layers[l];
            let sp = &m.sparse[l];
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
                add_to_range(grad, o.bias.start, &s.hist[l][t * n..(t + 1) * n]);
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
            if let (Some(w), false) = (Block::of(&m.packed.rec[l], &sp.w_rec), detach_recurrent) {
                lockstep_rows(items, Product::Recurrent(l), top, t, w, &mut ls);
            }
            if let (Some(w), true) = (Block::of(&m.packed.below[l], &sp.w_in), l > 0) {
                lockstep_rows(items, Product::Below(l), top, t, w, &mut ls);
            }
        }
    }
    weight_gradients(m, items, grad);
}

/// The events of a chunk grouped by presynaptic unit (counting sort): for unit `j`, entries
/// `start[j] .. start[j + 1]` give the sample, the step of the factor row they multiply, and the value,
/// in sample order then step order.
#[derive(Clone, Debug, Default)]
struct EventsByPre<F: Real> {
    start: Vec<usize>,
    cursor: Vec<usize>,
    sample: Vec<u32>,
    row: Vec<u32>,
    val: Vec<F>,
}

/// The presynaptic events of one weight block.
#[derive(Clone, Copy)]
enum Source {
    /// `W_in` of layer `l` (`l == n_layers`: the readout): the input events (`l == 0`) or the spikes
    /// of layer `l - 1`, with the factor row of the same step.
    Below(usize),
    /// `W_rec` of layer `l`: its own spikes of step `t - 1` (the initial spikes for `t = 0`), with
    /// the factor row of step `t`.
    Recurrent(usize),
}

/// Call `visit(sample, presynaptic unit, factor row, value)` for every event of `src`, in sample
/// order then step order. Generic over `visit` (not a `dyn` call per event), so both passes of
/// [`EventsByPre::group`] compile to plain loops.
#[inline(always)]
fn each_event<F: Real>(
    items: &[SampleAdjoint<'_, F>],
    src: Source,
    mut visit: impl FnMut(usize, usize, usize, F),
) {
    for (s, it) in items.iter().enumerate() {
        match src {
            Source::Below(0) => {
                for t in 0..it.tr.steps {
                    for (j, v) in it.x.at(it.t0 + t) {
                        visit(s, j, t, F::of(v as f64));
                    }
                }
            }
            Source::Below(l) => {
                let lt = &it.tr.layers[l - 1];
                for t in 0..it.tr.steps {
                    let (idx, val) = lt.spikes(t);
                    for (&j, &v) in idx.iter().zip(val) {
                        visit(s, j as usize, t, v);
                    }
                }
            }
            Source::Recurrent(l) => {
                let lt = &it.tr.layers[l];
                for (j, &v) in lt.init_z.iter().enumerate() {
                    if v != F::zero() {
                        visit(s, j, 0, v);
                    }
                }
                for t in 0..it.tr.steps - 1 {
                    let (idx, val) = lt.spikes(t);
                    for (&j, &v) in idx.iter().zip(val) {
                        visit(s, j as usize, t + 1, v);
                    }
                }
            }
        }
    }
}

impl<F: Real> EventsByPre<F> {
    /// Group the events of `src` (enumerated twice: to count, then to fill).
    #[inline(always)]
    fn group(&mut self, n_pre: usize, items: &[SampleAdjoint<'_, F>], src: Source) {
        self.start.clear();
        self.start.resize(n_pre + 1, 0);
        let start = &mut self.start;
        each_event(items, src, |_, j, _, _| start[j + 1] += 1);
        for j in 0..n_pre {
            self.start[j + 1] += self.start[j];
        }
        let total = self.start[n_pre];
        self.sample.resize(total, 0);
        self.row.resize(total, 0);
        self.val.resize(total, F::zero());
        self.cursor.clear();
        self.cursor.extend_from_slice(&self.start[..n_pre]);
        let Self {
            cursor,
            sample,
            row,
            val,
            ..
        } = self;
        each_event(items, src, |s, j, r, v| {
            let e = cursor[j];
            cursor[j] += 1;
            sample[e] = s as u32;
            row[e] = r as u32;
            val[e] = v;
        });
    }

    /// `block[j] += sum over the events (s, r, v) of unit j of v hists[s][r]` (rows of length `n`);
    /// for a sparse projection only at its kept synapses (accumulated in synapse order in `packed`,
    /// then written to the dense block once).
    #[inline(always)]
    fn accumulate(
        &self,
        block: &mut [F],
        n: usize,
        hists: &[&[F]],
        sparse: Option<&Csr>,
        packed: &mut Vec<F>,
    ) {
        let rows = (0..block.len() / n.max(1)).filter(|&j| self.start[j] < self.start[j + 1]);
        match sparse {
            None => {
                let mut terms: Vec<(F, &[F])> = Vec::new();
                for j in rows {
                    terms.clear();
                    terms.extend((self.start[j]..self.start[j + 1]).map(|e| {
                        let r = self.row[e] as usize;
                        (
                            self.val[e],
                            &hists[self.sample[e] as usize][r * n..(r + 1) * n],
                        )
                    }));
                    add_scaled_terms(&mut block[j * n..(j + 1) * n], &terms);
                }
            }
            Some(c) => {
                packed.clear();
                packed.resize(c.nnz(), F::zero());
                for j in rows {
                    let (lo, hi) = (c.ptr[j], c.ptr[j + 1]);
                    let (cols, g) = (&c.cols[lo..hi], &mut packed[lo..hi]);
                    for e in self.start[j]..self.start[j + 1] {
                        let r = self.row[e] as usize;
                        let h = &hists[self.sample[e] as usize][r * n..(r + 1) * n];
                        let v = self.val[e];
                        for (gk, &k) in g.iter_mut().zip(cols) {
                            *gk += v * h[k as usize];
                        }
                    }
                }
                for j in 0..c.n_pre {
                    for e in c.ptr[j]..c.ptr[j + 1] {
                        block[j * n + c.cols[e] as usize] += packed[e];
                    }
                }
            }
        }
    }
}

/// The weight gradients of a chunk after its reverse pass: every weight block's gradient is the sum
/// of outer products of presynaptic events with the recorded `delta I` (or `delta q`) rows. Grouping
/// the events by presynaptic unit first makes each gradient row one accumulation that stays in the
/// cache (instead of one read-modify-write of a row of the whole gradient per event and step).
#[inline(always)]
fn weight_gradients<F: Real>(m: &Model<F>, items: &[SampleAdjoint<'_, F>], grad: &mut [F]) {
    let mut ev = EventsByPre::default();
    let mut packed = Vec::new();
    let nl = m.layers.len();
    for l in 0..nl {
        let (lm, o) = (&m.layers[l], &m.layout.layers[l]);
        let hists: Vec<&[F]> = items.iter().map(|it| it.s.hist[l].as_slice()).collect();
        // W_in: input events (first layer) or spikes of the layer below, at the same step.
        ev.group(lm.n_pre, items, Source::Below(l));
        let sp = &m.sparse[l];
        let csr_in = sp.w_in.as_ref().map(|b| &b.csr);
        ev.accumulate(&mut grad[o.w_in.clone()], lm.n, &hists, csr_in, &mut packed);
        // W_rec: the layer's own spikes of step t - 1 (the initial spikes for t = 0).
        if lm.recurrent {
            ev.group(lm.n, items, Source::Recurrent(l));
            let csr_rec = sp.w_rec.as_ref().map(|b| &b.csr);
            ev.accumulate(
                &mut grad[o.w_rec.clone()],
                lm.n,
                &hists,
                csr_rec,
                &mut packed,
            );
        }
    }
    // W_out: spikes of the last layer with the readout's delta q at the same step.
    if let (Some(rm), Some(o)) = (&m.readout, &m.layout.readout) {
        let hists: Vec<&[F]> = items.iter().map(|it| it.s.gq.as_slice()).collect();
        ev.group(o.n_pre, items, Source::Below(nl));
        ev.accumulate(&mut grad[o.w.clone()], rm.n, &hists, None, &mut packed);
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
/// straight vectorisable loop. Reads `dza`/`dzc`, writes `delta I[t]` (`hist`), the carried adjoints and the
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
        // Exact-length slices: the loop has no bounds checks and vectorises (elementwise, so the
        // results are the same as the scalar loop's).
        let g_mem = &mut grad[o.tau_mem.clone()][..n];
        let d_row = &lt.d[row..row + n];
        let (up, alpha, zp, sg, th) = (&up[..n], &lm.alpha[..n], &zp[..n], &sg[..n], &th[..n]);
        let (dvb, dub) = (&mut dvb[..n], &mut dub[..n]);
        for k in 0..n {
            let dv = (dza[k] + dzc[k]) * sg[k];
            let du = dv + du_c[k];
            let mask = one - c_zero * zp[k];
            g_mem[k] += du * mask * up[k] - c_oma * du * d_row[k];
            dzc[k] = -((r_t0 * lm.theta0 + r_th * th[k] + r_up * alpha[k] * up[k]) * du);
            du_c[k] = alpha[k] * mask * du;
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
        let g_ad = &mut grad[o.tau_adapt.clone()][..n];
        let (ap, zp, dvb, dub) = (&ap[..n], &zp[..n], &dvb[..n], &dub[..n]);
        let (rho, c_a) = (&lm.rho[..n], &lm.c_a[..n]);
        for k in 0..n {
            let dtheta = -dvb[k] - sa * zp[k] * dub[k];
            let da = lm.beta * dtheta + da_c[k];
            g_ad[k] += da * (ap[k] - cy * zp[k]);
            da_c[k] = rho[k] * da;
            dzc[k] += c_a[k] * da;
        }
    }
    // Synapse: delta of the drive, passed to the input current.
    let dcur = &mut s.hist[l][row..row + n];
    if lm.synapse {
        let di_c = &mut s.di[l][..n];
        let g_syn = &mut grad[o.tau_syn.clone()][..n];
        let (zeta, alpha_s, ip, dub) = (&lm.zeta[..n], &lm.alpha_s[..n], &ip[..n], &dub[..n]);
        for k in 0..n {
            let di = zeta[k] * dub[k] + di_c[k];
            g_syn[k] += di * ip[k];
            di_c[k] = alpha_s[k] * di;
            dcur[k] = di;
        }
    } else {
        for ((d, z), du) in dcur.iter_mut().zip(&lm.zeta[..n]).zip(&dub[..n]) {
            *d = *z * *du;
        }
    }
}
