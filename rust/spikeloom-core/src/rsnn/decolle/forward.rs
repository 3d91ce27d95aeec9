//! One DECOLLE step of every layer, in a fixed order (equations in [`super`]).
//!
//! Two ways to get `W P[t]`, identical in exact arithmetic:
//! - [`Drive::Events`]: the weights are fixed for the whole sequence (evaluation, per-sequence
//!   training), so `W P` is itself a filtered trace of `W S_in`. Each input event / spike of the layer
//!   below adds one weight row into the projected synaptic trace `Qw = W Q` (events x fan-out), and
//!   `Pw = W P` follows with two per-neuron decays.
//! - [`Drive::Traces`]: the weights change between steps (online learning), so `W P[t]` uses the
//!   current weights: a sum of weight rows scaled by the presynaptic traces (`n_pre x n` per step,
//!   the same cost as the weight gradient itself).
//!
//! The presynaptic traces `Q`, `P` (`n_pre` per layer) are kept in both modes: they are the
//! eligibility of the local weight gradient.

// Index loops walk several per-neuron arrays in step; iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use super::network::{DecolleNetwork, LayerOffsets, Layout};
use crate::rsnn::input::SampleInput;
use crate::rsnn::real::{add_scaled_rows, add_to, axpy, Real};
use crate::rsnn::surrogate::{SpikeFn, Surrogate};

/// How `W P[t]` is computed (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drive {
    Events,
    Traces,
}

/// The decay factors of one layer.
#[derive(Clone, Copy, Debug)]
pub struct Decays<F: Real> {
    pub beta: F,
    pub alpha: F,
    pub alpharp: F,
}

/// A network cast to float type `F`, with its decay factors.
#[derive(Clone, Debug)]
pub struct Model<F: Real> {
    /// Every value of the flat vector (weights, biases, readouts) in `F`.
    pub w: Vec<F>,
    pub layout: Layout,
    pub decays: Vec<Decays<F>>,
    pub wrp: F,
    pub spike: SpikeFn<F>,
    /// The last layer's readout reads `sigmoid(U)` (see [`super::network::DecolleSpec`]).
    pub sigmoid_readout: bool,
}

/// The logistic function.
#[inline(always)]
pub fn sigmoid<F: Real>(u: F) -> F {
    F::one() / (F::one() + (-u).exp())
}

impl<F: Real> Model<F> {
    pub fn new(net: &DecolleNetwork, surrogate: &Surrogate) -> Self {
        let decays = (0..net.layout.layers.len())
            .map(|l| {
                let (beta, alpha, alpharp) = net.spec.decays(l);
                Decays {
                    beta: F::of(beta),
                    alpha: F::of(alpha),
                    alpharp: F::of(alpharp),
                }
            })
            .collect();
        Model {
            w: net.params.iter().map(|v| F::of(*v)).collect(),
            layout: net.layout.clone(),
            decays,
            wrp: F::of(net.spec.wrp),
            spike: surrogate.to(),
            sigmoid_readout: net.spec.sigmoid_readout,
        }
    }

    /// Re-cast the trainable values after an optimiser step (the readouts never change).
    pub fn refresh(&mut self, params: &[f64]) {
        let nt = self.layout.n_trainable;
        for (w, p) in self.w[..nt].iter_mut().zip(&params[..nt]) {
            *w = F::of(*p);
        }
    }

    /// The readout `G_l` of layer `o`, `[n, n_outputs]`.
    #[inline(always)]
    pub fn readout(&self, o: &LayerOffsets) -> &[F] {
        &self.w[o.readout.clone()]
    }
}

/// The state of one layer for one sample.
#[derive(Clone, Debug, Default)]
pub struct LayerState<F: Real> {
    /// Presynaptic synaptic and membrane traces `Q`, `P` (`n_pre`).
    pub q: Vec<F>,
    pub p: Vec<F>,
    /// Projected traces `W Q`, `W P` (`n`; [`Drive::Events`] only).
    pub qw: Vec<F>,
    pub pw: Vec<F>,
    /// Refractory trace `R` and membrane `U` of the current step (`n`).
    pub r: Vec<F>,
    pub u: Vec<F>,
    /// This step's spikes as (neuron, value) pairs.
    pub idx: Vec<u32>,
    pub val: Vec<F>,
    /// This step's readout `y = G S` (`n_outputs`).
    pub y: Vec<F>,
}

/// The state of the whole stack for one sample; buffers are reused across samples.
#[derive(Clone, Debug, Default)]
pub struct State<F: Real> {
    pub layers: Vec<LayerState<F>>,
}

fn zero<F: Real>(v: &mut Vec<F>, n: usize) {
    v.clear();
    v.resize(n, F::zero());
}

impl<F: Real> State<F> {
    /// All traces to zero, sized for `m` (allocates only when buffers grow).
    pub fn reset(&mut self, m: &Model<F>) {
        let no = m.layout.n_outputs;
        self.layers
            .resize_with(m.layout.layers.len(), LayerState::default);
        for (s, o) in self.layers.iter_mut().zip(&m.layout.layers) {
            zero(&mut s.q, o.n_pre);
            zero(&mut s.p, o.n_pre);
            zero(&mut s.qw, o.n);
            zero(&mut s.pw, o.n);
            zero(&mut s.r, o.n);
            zero(&mut s.u, o.n);
            zero(&mut s.y, no);
            s.idx.clear();
            s.val.clear();
        }
    }

    /// Advance every layer by step `t` of input `x` (layer by layer, so layer `l` sees layer
    /// `l - 1`'s spikes of the same step).
    pub fn step(&mut self, m: &Model<F>, x: SampleInput<'_>, t: usize, drive: Drive) {
        let one = F::one();
        let no = m.layout.n_outputs;
        let events = drive == Drive::Events;
        for l in 0..self.layers.len() {
            let Decays {
                beta,
                alpha,
                alpharp,
            } = m.decays[l];
            let (oma, omb) = (one - alpha, one - beta);
            let refr = (one - alpharp) * m.wrp;
            let (below, rest) = self.layers.split_at_mut(l);
            let s = &mut rest[0];
            let o = &m.layout.layers[l];
            let n = o.n;
            let w = &m.w[o.w.clone()];
            // P[t] = alpha P[t-1] + (1 - alpha) Q[t-1]; Q[t] = beta Q[t-1] + (1 - beta) S_in[t].
            for i in 0..o.n_pre {
                s.p[i] = alpha * s.p[i] + oma * s.q[i];
                s.q[i] *= beta;
            }
            if events {
                for k in 0..n {
                    s.pw[k] = alpha * s.pw[k] + oma * s.qw[k];
                    s.qw[k] *= beta;
                }
            }
            let mut arrive = |i: usize, v: F| {
                s.q[i] += omb * v;
                if events {
                    axpy(&mut s.qw, omb * v, &w[i * n..(i + 1) * n]);
                }
            };
            if l == 0 {
                for (i, v) in x.at(t) {
                    arrive(i, F::of(v as f64));
                }
            } else {
                let b = &below[l - 1];
                for (&i, &v) in b.idx.iter().zip(&b.val) {
                    arrive(i as usize, v);
                }
            }
            // R[t] = alpharp R[t-1] - (1 - alpharp) wrp S[t-1].
            for r in s.r.iter_mut() {
                *r *= alpharp;
            }
            for (&j, &v) in s.idx.iter().zip(&s.val) {
                s.r[j as usize] -= refr * v;
            }
            // U[t] = W P[t] + b + R[t]; S[t] = H(U[t]).
            s.u.copy_from_slice(&m.w[o.bias.clone()]);
            add_to(&mut s.u, &s.r);
            match drive {
                Drive::Events => add_to(&mut s.u, &s.pw),
                Drive::Traces => add_scaled_rows(&mut s.u, &s.p, w),
            }
            s.idx.clear();
            s.val.clear();
            for k in 0..n {
                let z = m.spike.spike(s.u[k]);
                if z != F::zero() {
                    s.idx.push(k as u32);
                    s.val.push(z);
                }
            }
            // y[t] = G S[t]: one readout row per spike (or G sigmoid(U[t]), dense).
            let g = m.readout(o);
            s.y.iter_mut().for_each(|v| *v = F::zero());
            if m.sigmoid_readout && l + 1 == m.decays.len() {
                for j in 0..n {
                    axpy(&mut s.y, sigmoid(s.u[j]), &g[j * no..(j + 1) * no]);
                }
            } else {
                for (&j, &v) in s.idx.iter().zip(&s.val) {
                    let j = j as usize;
                    axpy(&mut s.y, v, &g[j * no..(j + 1) * no]);
                }
            }
        }
    }
}

/// The recorded trajectory of one layer over a sample, `[steps x n]` / `[steps x n_outputs]`.
#[derive(Clone, Debug, Default)]
pub struct LayerRecord<F: Real> {
    pub spikes: Vec<F>,
    pub u: Vec<F>,
    pub y: Vec<F>,
}

/// Run one sample with fixed weights, recording spikes, membranes and readouts of every layer.
pub fn record_sample<F: Real>(m: &Model<F>, x: SampleInput<'_>) -> Vec<LayerRecord<F>> {
    let steps = x.n_steps();
    let mut st = State::default();
    st.reset(m);
    let mut out: Vec<LayerRecord<F>> = m
        .layout
        .layers
        .iter()
        .map(|o| LayerRecord {
            spikes: vec![F::zero(); steps * o.n],
            u: Vec::with_capacity(steps * o.n),
            y: Vec::with_capacity(steps * m.layout.n_outputs),
        })
        .collect();
    for t in 0..steps {
        st.step(m, x, t, Drive::Events);
        for ((rec, s), o) in out.iter_mut().zip(&st.layers).zip(&m.layout.layers) {
            for (&j, &v) in s.idx.iter().zip(&s.val) {
                rec.spikes[t * o.n + j as usize] = v;
            }
            rec.u.extend_from_slice(&s.u);
            rec.y.extend_from_slice(&s.y);
        }
    }
    out
}
