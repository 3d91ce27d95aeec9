//! The clock-driven forward pass with event propagation (equations in [`super::network`]).
//!
//! Each step runs in a fixed order, layer by layer: start the input current from the bias, add one
//! weight row per input event and per spike of the layer's previous step (so synaptic work is events x
//! fan-out), integrate every neuron (synapse, adaptation, membrane, reset), threshold, record. The
//! readout then adds one row per spike of the last layer. Everything BPTT needs is kept in a
//! [`Trace`], whose buffers are sized once and reused across samples: no allocation inside the loop.

// Index loops walk several per-neuron arrays in step; iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use super::connectivity::SparseBlock;
use super::input::SampleInput;
use super::lockstep::Panels;
use super::network::{Adaptation, InputScale, Layout, Reset, RsnnNetwork};
use super::real::{add_scaled_terms, axpy, Real};
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
    /// Per neuron: sd of the Gaussian noise added to the membrane at every step (a chip's trial
    /// noise, see [`Model::with_membrane_noise`]); empty = none.
    pub noise_sd: Vec<F>,
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
    /// The weight matrices packed for the reverse pass's products `W delta` ([`Panels`]).
    pub packed: PackedWeights<F>,
    /// Per layer: the sparse projections (events walk only their kept synapses).
    pub sparse: Vec<SparseLayer<F>>,
    pub layout: Layout,
    pub layers: Vec<LayerModel<F>>,
    pub readout: Option<ReadoutModel<F>>,
    pub spike: SpikeFn<F>,
    pub dt: f64,
}

/// The sparse projections of one layer with their weights (`None` = dense).
#[derive(Clone, Debug, Default)]
pub struct SparseLayer<F: Real> {
    pub w_in: Option<SparseBlock<F>>,
    pub w_rec: Option<SparseBlock<F>>,
}

/// The weight matrices the reverse pass multiplies by dense error vectors, packed once per batch.
#[derive(Clone, Debug, Default)]
pub struct PackedWeights<F: Real> {
    /// Per layer: `W_rec` for `dz[t-1] += W_rec delta I[t]` (recurrent layers only).
    pub rec: Vec<Option<Panels<F>>>,
    /// Per layer: `W_in` for `dz_below[t] += W_in delta I[t]` (layers above the first only).
    pub below: Vec<Option<Panels<F>>>,
    /// `W_out` for `dz_top[t] += W_out delta q[t]`.
    pub readout: Option<Panels<F>>,
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
                    noise_sd: Vec::new(),
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
        // Each block is row-major [n_pre x n] (presynaptic rows); the products use W (n_pre outputs
        // from n factors), i.e. the transpose of the block read as [n x n_pre].
        let packed = PackedWeights {
            rec: (net.layout.layers.iter().zip(&net.conn))
                .map(|(o, c)| {
                    (!o.w_rec.is_empty() && c.w_rec.is_none())
                        .then(|| Panels::transpose_of(&w[o.w_rec.clone()], o.n, o.n))
                })
                .collect(),
            below: (net.layout.layers.iter().zip(&net.conn))
                .enumerate()
                .map(|(l, (o, c))| {
                    (l > 0 && c.w_in.is_none())
                        .then(|| Panels::transpose_of(&w[o.w_in.clone()], o.n_pre, o.n))
                })
                .collect(),
            readout: net
                .layout
                .readout
                .as_ref()
                .map(|o| Panels::transpose_of(&w[o.w.clone()], o.n_pre, o.n)),
        };
        let sparse = (net.conn.iter().zip(&net.layout.layers))
            .map(|(c, o)| SparseLayer {
                w_in: c
                    .w_in
                    .as_ref()
                    .map(|c| SparseBlock::gather(c, &w[o.w_in.clone()])),
                w_rec: c
                    .w_rec
                    .as_ref()
                    .map(|c| SparseBlock::gather(c, &w[o.w_rec.clone()])),
            })
            .collect();
        Model {
            w,
            packed,
            sparse,
            layout: net.layout.clone(),
            layers,
            readout,
            spike: surrogate.to(),
            dt,
        }
    }

    /// Membrane noise of relative size `rel` (0 = none): every step adds to each spiking neuron's
    /// membrane a Gaussian of sd `rel * theta_0 * sqrt(1 - alpha^2)`, so that without input and
    /// spikes the membrane is an Ornstein-Uhlenbeck process with the neuron's time constant, sampled
    /// exactly at the steps, whose stationary sd is `rel` thresholds. The draws come from the
    /// trace's stream ([`Trace::seed_noise`]); a trace without a stream adds nothing.
    pub fn with_membrane_noise(mut self, rel: f64) -> Self {
        for lm in &mut self.layers {
            lm.noise_sd = if rel > 0.0 {
                lm.alpha
                    .iter()
                    .map(|a| {
                        let a = a.f64();
                        F::of(rel * lm.theta0.f64() * (1.0 - a * a).max(0.0).sqrt())
                    })
                    .collect()
            } else {
                Vec::new()
            };
        }
        self
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
    /// State before step 0 (zero for a fresh sample; the end of the previous window under truncated
    /// BPTT): membrane, adaptation, drive and spikes, dense `[n]`.
    pub init_u: Vec<F>,
    pub init_a: Vec<F>,
    pub init_d: Vec<F>,
    pub init_z: Vec<F>,
    /// The previous step's spikes as a dense vector (work buffer).
    zprev: Vec<F>,
    /// Input current of the current step (work buffer).
    cur: Vec<F>,
    /// Threshold, then distance to threshold, then spikes of the current step (work buffer).
    vbuf: Vec<F>,
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

    /// Membrane, adaptation and drive of neuron `k` at step `t - 1` (the initial state for `t = 0`).
    #[inline(always)]
    pub fn prev(&self, t: usize, k: usize) -> (F, F, F) {
        if t > 0 {
            let i = (t - 1) * self.n + k;
            let a = if self.a.is_empty() {
                F::zero()
            } else {
                self.a[i]
            };
            (self.u[i], a, self.d[i])
        } else {
            let a = if self.init_a.is_empty() {
                F::zero()
            } else {
                self.init_a[k]
            };
            (self.init_u[k], a, self.init_d[k])
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
    /// Readout state before step 0.
    pub init_y: Vec<F>,
    /// The stream of the membrane noise of the current run (None: no noise).
    pub noise: Option<rand_chacha::ChaCha8Rng>,
}

/// The state of one sample between two windows of truncated BPTT.
#[derive(Clone, Debug, Default)]
pub struct SampleState<F: Real> {
    layers: Vec<[Vec<F>; 4]>,
    y: Vec<F>,
    /// The summed loss's logits so far (`BpttConfig::carry_loss`).
    pub(crate) carry: Vec<f64>,
}

impl<F: Real> Trace<F> {
    /// Draw the next run's membrane noise (if its model has any) from a ChaCha8 stream seeded with
    /// `seed`; None = no noise.
    pub fn seed_noise(&mut self, seed: Option<u64>) {
        use rand::SeedableRng;
        self.noise = seed.map(rand_chacha::ChaCha8Rng::seed_from_u64);
    }

    /// Start the next run from zero (a fresh sample).
    pub fn reset_state(&mut self, m: &Model<F>) {
        self.layers.resize_with(m.layers.len(), LayerTrace::default);
        for (lt, lm) in self.layers.iter_mut().zip(&m.layers) {
            let n = lm.n;
            for v in [&mut lt.init_u, &mut lt.init_d, &mut lt.init_z] {
                v.clear();
                v.resize(n, F::zero());
            }
            lt.init_a.clear();
            if lm.adaptation != Adaptation::None {
                lt.init_a.resize(n, F::zero());
            }
        }
        self.init_y.clear();
        self.init_y
            .resize(m.readout.as_ref().map_or(0, |r| r.n), F::zero());
    }

    /// Start the next run from `st` (zero state when `st` is empty).
    pub fn load_state(&mut self, m: &Model<F>, st: &SampleState<F>) {
        self.reset_state(m);
        if st.layers.is_empty() {
            return;
        }
        for (lt, [u, a, d, z]) in self.layers.iter_mut().zip(&st.layers) {
            lt.init_u.copy_from_slice(u);
            lt.init_a.copy_from_slice(a);
            lt.init_d.copy_from_slice(d);
            lt.init_z.copy_from_slice(z);
        }
        self.init_y.copy_from_slice(&st.y);
    }

    /// The state after the last recorded step, for the next window.
    pub fn save_state(&self, st: &mut SampleState<F>) {
        let last = self.steps - 1;
        st.layers.resize_with(self.layers.len(), Default::default);
        for (lt, [u, a, d, z]) in self.layers.iter().zip(st.layers.iter_mut()) {
            let n = lt.n;
            let r = last * n..(last + 1) * n;
            u.clear();
            u.extend_from_slice(&lt.u[r.clone()]);
            a.clear();
            if !lt.a.is_empty() {
                a.extend_from_slice(&lt.a[r.clone()]);
            }
            d.clear();
            d.extend_from_slice(&lt.d[r]);
            z.clear();
            z.resize(n, F::zero());
            let (idx, val) = lt.spikes(last);
            for (&j, &v) in idx.iter().zip(val) {
                z[j as usize] = v;
            }
        }
        let no = self.init_y.len();
        st.y.clear();
        st.y.extend_from_slice(&self.y[last * no..(last + 1) * no]);
    }

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
            lt.zprev.extend_from_slice(&lt.init_z);
            lt.cur.resize(n, F::zero());
            lt.vbuf.resize(n, F::zero());
        }
        let no = m.readout.as_ref().map_or(0, |r| r.n);
        self.y.resize(steps * no, F::zero());
        self.q.resize(steps * no, F::zero());
    }
}

/// Run one sample through the network from zero, recording everything into `tr`.
pub fn forward<F: Real>(m: &Model<F>, x: SampleInput<'_>, tr: &mut Trace<F>) {
    tr.reset_state(m);
    forward_window(m, x, tr, 0, x.n_steps());
}

/// Run steps `t0 .. t0 + steps` of a sample from the initial state held in `tr` (see
/// [`Trace::load_state`]); the trace's step `t` is the sample's step `t0 + t`.
pub fn forward_window<F: Real>(
    m: &Model<F>,
    x: SampleInput<'_>,
    tr: &mut Trace<F>,
    t0: usize,
    steps: usize,
) {
    // Compiled for the widest vector unit the CPU has (AVX-512 or AVX2 on x86-64, chosen at run
    // time). The arithmetic is the same IEEE operations in the same order (no fused multiply-adds,
    // no reassociation), so results do not depend on the CPU.
    struct Op<'a, 'x, F: Real> {
        m: &'a Model<F>,
        x: SampleInput<'x>,
        tr: &'a mut Trace<F>,
        t0: usize,
        steps: usize,
    }
    impl<F: Real> pulp::WithSimd for Op<'_, '_, F> {
        type Output = ();
        // Inlined into pulp's per-CPU entry points, so the whole loop gets their target features (a
        // closure would be a separate function compiled for the baseline CPU).
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) {
            forward_window_impl(self.m, self.x, self.tr, self.t0, self.steps)
        }
    }
    pulp::Arch::new().dispatch(Op {
        m,
        x,
        tr,
        t0,
        steps,
    });
}

#[inline(always)]
fn forward_window_impl<F: Real>(
    m: &Model<F>,
    x: SampleInput<'_>,
    tr: &mut Trace<F>,
    t0: usize,
    steps: usize,
) {
    tr.prepare(m, steps);
    let n_layers = m.layers.len();
    let Trace {
        layers,
        noise,
        y,
        q: qs,
        init_y,
        ..
    } = &mut *tr;
    // The weight rows of one step's input current (reused: no allocation after the first steps).
    let mut terms: Vec<(F, &[F])> = Vec::new();
    for t in 0..steps {
        for l in 0..n_layers {
            let (below, rest) = layers.split_at_mut(l);
            let lt = &mut rest[0];
            let lm = &m.layers[l];
            let o = &m.layout.layers[l];
            let n = lm.n;
            // 1. Input current: bias + one weight row per input event / spike below / own spike.
            let w_in = &m.w[o.w_in.clone()];
            let c_in = m.sparse[l].w_in.as_ref();
            let dense = c_in.is_none() && (!lm.recurrent || m.sparse[l].w_rec.is_none());
            if dense && (t > 0 || !lm.recurrent) {
                // All rows summed into register blocks of the current (the same additions in the
                // same order as the row-by-row path below, so the same result).
                let LayerTrace {
                    cur, ptr, idx, val, ..
                } = &mut *lt;
                cur.copy_from_slice(&m.w[o.bias.clone()]);
                let w_rec: &[F] = if lm.recurrent {
                    &m.w[o.w_rec.clone()]
                } else {
                    &[]
                };
                terms.clear();
                if l == 0 {
                    terms.extend(
                        x.at(t0 + t)
                            .map(|(j, v)| (F::of(v as f64), &w_in[j * n..][..n])),
                    );
                } else {
                    let (bi, bv) = below[l - 1].spikes(t);
                    terms.extend(
                        bi.iter()
                            .zip(bv)
                            .map(|(&j, &v)| (v, &w_in[j as usize * n..][..n])),
                    );
                }
                if lm.recurrent {
                    let e = ptr[t - 1]..ptr[t];
                    terms.extend(
                        idx[e.clone()]
                            .iter()
                            .zip(&val[e])
                            .map(|(&j, &v)| (v, &w_rec[j as usize * n..][..n])),
                    );
                }
                add_scaled_terms(cur, &terms);
                integrate(lm, &m.spike, lt, t, noise.as_mut());
                record_spikes(lt, t);
                continue;
            }
            let cur = &mut lt.cur;
            cur.copy_from_slice(&m.w[o.bias.clone()]);
            if l == 0 {
                for (j, v) in x.at(t0 + t) {
                    add_row(cur, F::of(v as f64), w_in, n, j, c_in);
                }
            } else {
                let (idx, val) = below[l - 1].spikes(t);
                for (&j, &v) in idx.iter().zip(val) {
                    add_row(cur, v, w_in, n, j as usize, c_in);
                }
            }
            if lm.recurrent {
                let w_rec = &m.w[o.w_rec.clone()];
                let c_rec = m.sparse[l].w_rec.as_ref();
                if t > 0 {
                    let (lo, hi) = (lt.ptr[t - 1], lt.ptr[t]);
                    for e in lo..hi {
                        let j = lt.idx[e] as usize;
                        add_row(&mut lt.cur, lt.val[e], w_rec, n, j, c_rec);
                    }
                } else {
                    for j in 0..n {
                        let v = lt.init_z[j];
                        if v != F::zero() {
                            add_row(&mut lt.cur, v, w_rec, n, j, c_rec);
                        }
                    }
                }
            }
            // 2. Integrate, threshold, record: one pass per equation over the layer (the model's
            //    switches are tested once per pass, so each pass is a straight vectorisable loop).
            integrate(lm, &m.spike, lt, t, noise.as_mut());
            record_spikes(lt, t);
        }
        // 3. Readout.
        if let (Some(rm), Some(o)) = (&m.readout, &m.layout.readout) {
            let no = rm.n;
            let q = &mut qs[t * no..(t + 1) * no];
            q.copy_from_slice(&m.w[o.bias.clone()]);
            let w = &m.w[o.w.clone()];
            let (idx, val) = layers[n_layers - 1].spikes(t);
            for (&j, &v) in idx.iter().zip(val) {
                let j = j as usize;
                axpy(q, v, &w[j * no..(j + 1) * no]);
            }
            for k in 0..no {
                let yp = if t > 0 {
                    y[(t - 1) * no + k]
                } else {
                    init_y[k]
                };
                y[t * no + k] = rm.kappa[k] * yp + rm.zeta[k] * qs[t * no + k];
            }
        }
    }
}

/// Close step `t`'s spike list and make `zprev` this step's spikes (dense).
#[inline(always)]
fn record_spikes<F: Real>(lt: &mut LayerTrace<F>, t: usize) {
    if t > 0 {
        for e in lt.ptr[t - 1]..lt.ptr[t] {
            lt.zprev[lt.idx[e] as usize] = F::zero();
        }
    } else {
        lt.zprev.iter_mut().for_each(|z| *z = F::zero());
    }
    lt.ptr.push(lt.idx.len());
    for e in lt.ptr[t]..lt.ptr[t + 1] {
        lt.zprev[lt.idx[e] as usize] = lt.val[e];
    }
}

/// `cur += v W[j]` for presynaptic unit `j` of a row-major `[n_pre x n]` block: the whole row, or only
/// the kept synapses of a sparse projection (cost = fan-out).
#[inline(always)]
pub(crate) fn add_row<F: Real>(
    cur: &mut [F],
    v: F,
    w: &[F],
    n: usize,
    j: usize,
    sparse: Option<&SparseBlock<F>>,
) {
    match sparse {
        None => axpy(cur, v, &w[j * n..(j + 1) * n]),
        Some(b) => b.add_row(cur, v, j),
    }
}

/// The rows of step `t - 1` (the initial state for `t = 0`) and of step `t` of a `[T x n]` buffer.
#[inline(always)]
pub(crate) fn prev_and_row<'a, F>(
    buf: &'a mut [F],
    init: &'a [F],
    t: usize,
    n: usize,
) -> (&'a [F], &'a mut [F]) {
    if t == 0 {
        (init, &mut buf[..n])
    } else {
        let (before, from) = buf.split_at_mut(t * n);
        (&before[(t - 1) * n..], &mut from[..n])
    }
}

/// Step `t` of one layer after its input current `cur` is complete: synapse, adaptation, membrane
/// and reset, threshold; appends the spikes to the trace.
#[inline(always)]
fn integrate<F: Real>(
    lm: &LayerModel<F>,
    spike: &SpikeFn<F>,
    lt: &mut LayerTrace<F>,
    t: usize,
    noise: Option<&mut rand_chacha::ChaCha8Rng>,
) {
    let n = lm.n;
    let LayerTrace {
        u,
        a,
        d,
        ptr: _,
        idx,
        val,
        counts,
        init_u,
        init_a,
        init_d,
        zprev,
        cur,
        vbuf,
        ..
    } = lt;
    // Every per-neuron slice is cut to exactly `n` so the element-wise loops below compile without
    // bounds checks and vectorise (the same operations in the same order per element).
    let zp = &zprev[..n];
    // Synaptic drive: d[t] = alpha_s d[t-1] + cur (current-based), else d[t] = cur.
    let (dp, dn) = prev_and_row(d, init_d, t, n);
    let (dp, dn, cur) = (&dp[..n], &mut dn[..n], &cur[..n]);
    if lm.synapse {
        for (((dn, &al), &dp), &c) in dn.iter_mut().zip(&lm.alpha_s[..n]).zip(dp).zip(cur) {
            *dn = al * dp + c;
        }
    } else {
        dn.copy_from_slice(cur);
    }
    // Threshold theta[t] = theta_0 + beta a[t], a[t] = rho a[t-1] + c_a z[t-1] (kept in vbuf).
    let theta = &mut vbuf[..n];
    let adaptive = lm.adaptation != Adaptation::None;
    if adaptive {
        let (ap, an) = prev_and_row(a, init_a, t, n);
        let (ap, an) = (&ap[..n], &mut an[..n]);
        let (rho, c_a, theta0, beta) = (&lm.rho[..n], &lm.c_a[..n], lm.theta0, lm.beta);
        for k in 0..n {
            let ak = rho[k] * ap[k] + c_a[k] * zp[k];
            an[k] = ak;
            theta[k] = theta0 + beta * ak;
        }
    } else {
        theta.iter_mut().for_each(|v| *v = lm.theta0);
    }
    // Membrane with the reset of the previous step's spikes.
    let (up, un) = prev_and_row(u, init_u, t, n);
    let (up, un) = (&up[..n], &mut un[..n]);
    let (alpha, zeta, theta0) = (&lm.alpha[..n], &lm.zeta[..n], lm.theta0);
    let dn = &dn[..n];
    match lm.reset {
        Reset::Subtract => {
            for k in 0..n {
                un[k] = alpha[k] * up[k] + zeta[k] * dn[k] - theta0 * zp[k];
            }
        }
        Reset::SubtractAdaptive => {
            for k in 0..n {
                un[k] = alpha[k] * up[k] + zeta[k] * dn[k] - theta[k] * zp[k];
            }
        }
        Reset::Zero => {
            for k in 0..n {
                un[k] = alpha[k] * (F::one() - zp[k]) * up[k] + zeta[k] * dn[k];
            }
        }
    }
    // Membrane noise (a chip's trial noise): one standard normal per neuron, in neuron order.
    if let (Some(rng), false) = (noise, lm.noise_sd.is_empty()) {
        use rand_distr::{Distribution, StandardNormal};
        for (u, &sd) in un.iter_mut().zip(&lm.noise_sd[..n]) {
            let z: f64 = StandardNormal.sample(rng);
            *u += sd * F::of(z);
        }
    }
    // Threshold: z = H(u - theta) (graded for the smooth test function); keep the non-zero ones.
    for k in 0..n {
        theta[k] = un[k] - theta[k];
    }
    spike.spike_in_place(theta);
    // Keep the non-zero ones: a bit mask per 32 neurons (a vectorised comparison), then its set bits
    // in increasing order (no unpredictable branch per neuron).
    for (c, zs) in theta.chunks(32).enumerate() {
        let mut mask = 0u32;
        for (i, &z) in zs.iter().enumerate() {
            mask |= u32::from(z != F::zero()) << i;
        }
        while mask != 0 {
            let k = c * 32 + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let z = zs[k - c * 32];
            idx.push(k as u32);
            val.push(z);
            counts[k] += z;
        }
    }
}
