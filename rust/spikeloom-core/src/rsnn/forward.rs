//! The clock-driven forward pass with event propagation (equations in [`super::network`]).
//!
//! Each step runs in a fixed order, layer by layer: start the input current from the bias, add one
//! weight row per input event and per spike of the layer's previous step (so synaptic work is events x
//! fan-out), integrate every neuron (synapse, adaptation, membrane, reset), threshold, record. The
//! readout then adds one row per spike of the last layer. Everything BPTT needs is kept in a
//! [`Trace`], whose buffers are sized once and reused across samples: no allocation inside the loop.

// Index loops walk several per-neuron arrays in step; iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use super::input::SampleInput;
use super::network::{Adaptation, InputScale, Layout, Reset, RsnnNetwork};
use super::real::{axpy, Real};
use super::surrogate::{SpikeFn, Surrogate};

/// Per-neuron constants of one layer in the simulation's float type.
#[derive(Clone, Debug)]
pub struct LayerModel<F: Real> {
    pub n: usize,
    pub n_pre: usize,
    pub alpha: Vec<F>,
    pub zeta: Vec<F>,
    pub alpha_s: Vec<F>,
    pub rho: Vec<F>,
    pub c_a: Vec<F>,
    pub theta0: F,
    pub beta: F,
    pub synapse: bool,
    pub adaptation: Adaptation,
    pub reset: Reset,
    pub recurrent: bool,
    pub one_minus_alpha: bool,
}

/// The readout's constants.
#[derive(Clone, Debug)]
pub struct ReadoutModel<F: Real> {
    pub n: usize,
    pub kappa: Vec<F>,
    pub zeta: Vec<F>,
    pub one_minus_kappa: bool,
}

/// A network cast to float type `F` for one batch: weights and the propagators of every neuron,
/// computed once (not per step).
#[derive(Clone, Debug)]
pub struct Model<F: Real> {
    pub w: Vec<F>,
    /// The weight matrices transposed (`[n_post x n_pre]`, same ranges as in `w`): the reverse pass
    /// computes `W delta` as a sum of scaled columns (vectorised axpys, no reductions).
    pub wt: Vec<F>,
    pub layout: Layout,
    pub layers: Vec<LayerModel<F>>,
    pub readout: Option<ReadoutModel<F>>,
    pub spike: SpikeFn<F>,
    pub dt: f64,
}

fn decay<F: Real>(dt: f64, taus: &[f64]) -> Vec<F> {
    taus.iter().map(|t| F::of((-dt / t).exp())).collect()
}

impl<F: Real> Model<F> {
    pub fn new(net: &RsnnNetwork, surrogate: &Surrogate) -> Self {
        let (p, dt) = (&net.params, net.spec.dt);
        let layers = net
            .spec
            .layers
            .iter()
            .zip(&net.layout.layers)
            .map(|(s, o)| {
                let alpha: Vec<F> = decay(dt, &p[o.tau_mem.clone()]);
                let one_minus_alpha = s.input_scale == InputScale::OneMinusAlpha;
                let zeta = alpha
                    .iter()
                    .map(|a| {
                        if one_minus_alpha {
                            F::one() - *a
                        } else {
                            F::one()
                        }
                    })
                    .collect();
                let rho: Vec<F> = decay(dt, &p[o.tau_adapt.clone()]);
                let c_a = rho
                    .iter()
                    .map(|r| match s.adaptation {
                        Adaptation::Yin => F::one() - *r,
                        _ => F::one(),
                    })
                    .collect();
                LayerModel {
                    n: o.n,
                    n_pre: o.n_pre,
                    alpha,
                    zeta,
                    alpha_s: decay(dt, &p[o.tau_syn.clone()]),
                    rho,
                    c_a,
                    theta0: F::of(s.threshold),
                    beta: F::of(s.beta),
                    synapse: s.tau_syn.is_some(),
                    adaptation: s.adaptation,
                    reset: s.reset,
                    recurrent: s.recurrent,
                    one_minus_alpha,
                }
            })
            .collect();
        let readout = net
            .spec
            .readout
            .as_ref()
            .zip(net.layout.readout.as_ref())
            .map(|(r, o)| {
                let kappa: Vec<F> = decay(dt, &p[o.tau.clone()]);
                let omk = r.input_scale == InputScale::OneMinusAlpha;
                let zeta = kappa
                    .iter()
                    .map(|k| if omk { F::one() - *k } else { F::one() })
                    .collect();
                ReadoutModel {
                    n: o.n,
                    kappa,
                    zeta,
                    one_minus_kappa: omk,
                }
            });
        let w: Vec<F> = p.iter().map(|v| F::of(*v)).collect();
        let mut wt = vec![F::zero(); net.layout.n_weights];
        let mut transpose = |r: &std::ops::Range<usize>, rows: usize, cols: usize| {
            for i in 0..rows {
                for j in 0..cols {
                    wt[r.start + j * rows + i] = w[r.start + i * cols + j];
                }
            }
        };
        for o in &net.layout.layers {
            transpose(&o.w_in, o.n_pre, o.n);
            if !o.w_rec.is_empty() {
                transpose(&o.w_rec, o.n, o.n);
            }
        }
        if let Some(o) = &net.layout.readout {
            transpose(&o.w, o.n_pre, o.n);
        }
        Model {
            w,
            wt,
            layout: net.layout.clone(),
            layers,
            readout,
            spike: surrogate.to(),
            dt,
        }
    }
}

/// The recorded trajectory of one layer over a sample.
#[derive(Clone, Debug, Default)]
pub struct LayerTrace<F: Real> {
    pub n: usize,
    /// Membrane potential after the update of step t, `[T x n]`.
    pub u: Vec<F>,
    /// Adaptation variable `[T x n]` (empty without adaptation).
    pub a: Vec<F>,
    /// Synaptic drive `d[t]` (the current `i[t]` for current-based layers, else `I[t]`), `[T x n]`.
    pub d: Vec<F>,
    /// Spikes of step t: `idx/val[ptr[t] .. ptr[t + 1]]`.
    pub ptr: Vec<usize>,
    pub idx: Vec<u32>,
    pub val: Vec<F>,
    /// Spike count (sum of spike values) per neuron over the sample.
    pub counts: Vec<F>,
    /// The previous step's spikes as a dense vector (work buffer).
    zprev: Vec<F>,
    /// Input current of the current step (work buffer).
    cur: Vec<F>,
}

impl<F: Real> LayerTrace<F> {
    /// The spikes of step `t` as (neuron, value) pairs.
    #[inline(always)]
    pub fn spikes(&self, t: usize) -> (&[u32], &[F]) {
        let (lo, hi) = (self.ptr[t], self.ptr[t + 1]);
        (&self.idx[lo..hi], &self.val[lo..hi])
    }

    /// Threshold `theta_0 + beta a[t]` of neuron `k` (from the stored adaptation).
    #[inline(always)]
    pub fn theta(&self, m: &LayerModel<F>, t: usize, k: usize) -> F {
        if m.adaptation == Adaptation::None {
            m.theta0
        } else {
            m.theta0 + m.beta * self.a[t * self.n + k]
        }
    }
}

/// A whole sample's trajectory, reused across samples.
#[derive(Clone, Debug, Default)]
pub struct Trace<F: Real> {
    pub steps: usize,
    pub layers: Vec<LayerTrace<F>>,
    /// Readout membrane `[T x n_out]` and its input `q[t] = b_o + W_out^T z_L[t]`.
    pub y: Vec<F>,
    pub q: Vec<F>,
}

impl<F: Real> Trace<F> {
    /// Size the buffers for `steps` steps of `m` (allocates only when they grow).
    pub fn prepare(&mut self, m: &Model<F>, steps: usize) {
        self.steps = steps;
        self.layers.resize_with(m.layers.len(), LayerTrace::default);
        for (lt, lm) in self.layers.iter_mut().zip(&m.layers) {
            let n = lm.n;
            lt.n = n;
            lt.u.resize(steps * n, F::zero());
            lt.d.resize(steps * n, F::zero());
            let na = if lm.adaptation == Adaptation::None {
                0
            } else {
                steps * n
            };
            lt.a.resize(na, F::zero());
            lt.ptr.clear();
            lt.ptr.push(0);
            lt.idx.clear();
            lt.val.clear();
            lt.counts.clear();
            lt.counts.resize(n, F::zero());
            lt.zprev.clear();
            lt.zprev.resize(n, F::zero());
            lt.cur.resize(n, F::zero());
        }
        let no = m.readout.as_ref().map_or(0, |r| r.n);
        self.y.resize(steps * no, F::zero());
        self.q.resize(steps * no, F::zero());
    }
}

/// Run one sample through the network, recording everything into `tr`.
pub fn forward<F: Real>(m: &Model<F>, x: SampleInput<'_>, tr: &mut Trace<F>) {
    let steps = x.n_steps();
    tr.prepare(m, steps);
    let n_layers = m.layers.len();
    for t in 0..steps {
        for l in 0..n_layers {
            let (below, rest) = tr.layers.split_at_mut(l);
            let lt = &mut rest[0];
            let lm = &m.layers[l];
            let o = &m.layout.layers[l];
            let n = lm.n;
            // 1. Input current: bias + one weight row per input event / spike below / own spike.
            let cur = &mut lt.cur;
            cur.copy_from_slice(&m.w[o.bias.clone()]);
            let w_in = &m.w[o.w_in.clone()];
            if l == 0 {
                for (j, v) in x.at(t) {
                    axpy(cur, F::of(v as f64), &w_in[j * n..(j + 1) * n]);
                }
            } else {
                let (idx, val) = below[l - 1].spikes(t);
                for (&j, &v) in idx.iter().zip(val) {
                    let j = j as usize;
                    axpy(cur, v, &w_in[j * n..(j + 1) * n]);
                }
            }
            if lm.recurrent && t > 0 {
                let w_rec = &m.w[o.w_rec.clone()];
                let (lo, hi) = (lt.ptr[t - 1], lt.ptr[t]);
                for e in lo..hi {
                    let j = lt.idx[e] as usize;
                    axpy(&mut lt.cur, lt.val[e], &w_rec[j * n..(j + 1) * n]);
                }
            }
            // 2. Integrate, threshold, record.
            let row = t * n;
            let prev = if t > 0 { Some((t - 1) * n) } else { None };
            for k in 0..n {
                let zp = lt.zprev[k];
                let cur_k = lt.cur[k];
                let d = if lm.synapse {
                    let ip = prev.map_or(F::zero(), |p| lt.d[p + k]);
                    lm.alpha_s[k] * ip + cur_k
                } else {
                    cur_k
                };
                let theta = if lm.adaptation == Adaptation::None {
                    lm.theta0
                } else {
                    let ap = prev.map_or(F::zero(), |p| lt.a[p + k]);
                    let a = lm.rho[k] * ap + lm.c_a[k] * zp;
                    lt.a[row + k] = a;
                    lm.theta0 + lm.beta * a
                };
                let up = prev.map_or(F::zero(), |p| lt.u[p + k]);
                let u = match lm.reset {
                    Reset::Subtract => lm.alpha[k] * up + lm.zeta[k] * d - lm.theta0 * zp,
                    Reset::SubtractAdaptive => lm.alpha[k] * up + lm.zeta[k] * d - theta * zp,
                    Reset::Zero => lm.alpha[k] * (F::one() - zp) * up + lm.zeta[k] * d,
                };
                lt.u[row + k] = u;
                lt.d[row + k] = d;
                let z = m.spike.spike(u - theta);
                if z != F::zero() {
                    lt.idx.push(k as u32);
                    lt.val.push(z);
                    lt.counts[k] += z;
                }
            }
            // zprev <- this step's spikes.
            if t > 0 {
                for e in lt.ptr[t - 1]..lt.ptr[t] {
                    lt.zprev[lt.idx[e] as usize] = F::zero();
                }
            }
            lt.ptr.push(lt.idx.len());
            for e in lt.ptr[t]..lt.ptr[t + 1] {
                lt.zprev[lt.idx[e] as usize] = lt.val[e];
            }
        }
        // 3. Readout.
        if let (Some(rm), Some(o)) = (&m.readout, &m.layout.readout) {
            let no = rm.n;
            let q = &mut tr.q[t * no..(t + 1) * no];
            q.copy_from_slice(&m.w[o.bias.clone()]);
            let w = &m.w[o.w.clone()];
            let (idx, val) = tr.layers[n_layers - 1].spikes(t);
            for (&j, &v) in idx.iter().zip(val) {
                let j = j as usize;
                axpy(q, v, &w[j * no..(j + 1) * no]);
            }
            for k in 0..no {
                let yp = if t > 0 {
                    tr.y[(t - 1) * no + k]
                } else {
                    F::zero()
                };
                tr.y[t * no + k] = rm.kappa[k] * yp + rm.zeta[k] * tr.q[t * no + k];
            }
        }
    }
}
