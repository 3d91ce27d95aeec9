//! Batched BPTT: per-sample forward + loss + reverse pass in parallel over fixed chunks of samples,
//! a fixed-order reduction (results do not depend on the thread count), Adam (or Adamax, SGD) with one
//! learning rate for the weights and one for the time constants, StepLR or linear decay, and the epoch loop with validation,
//! best-epoch restore and a per-epoch callback.

// Index loops walk several per-neuron arrays in step; iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use super::backward::{backward_chunk, decay_to_tau, BackwardScratch, DirectGrad, SampleAdjoint};
use super::checkpoint::{run_resumable, write_checkpoint, Continuation, Resume, TrainState};
use super::epochs::{EpochSpec, EpochWork, LrSchedule, Progress};
use super::forward::{forward, forward_window, Model, SampleState, Trace};
use super::input::Sequences;
use super::loss::{readout_loss, LossKind, LossScratch, LossSpec, RateRegulariser, Target};
use super::network::RsnnNetwork;
use super::on_chip::OnChip;
use super::real::Real;
use super::surrogate::Surrogate;
use crate::error::{Error, Result};
use crate::hardware::forward::mix;
use crate::hardware::HardwareTraining;
use crate::parallel::{with_threads, CHUNK};
use crate::train::adam::{Optimizer, OptimizerKind};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;
use std::time::Instant;

/// Samples per work item of a BPTT gradient: one lockstep group of the reverse pass (see
/// [`backward_chunk`]), so a batch of 8 already keeps two cores busy. Fixed, so results are
/// bit-identical for any thread count.
const GRAD_CHUNK: usize = 4;
/// At most this many groups of consecutive chunks per gradient call, each with one gradient buffer
/// (fixed, so the summation order does not depend on the thread count).
const GRAD_GROUPS: usize = 16;
/// Elements per parallel block of the gradient reduction and the Adam step.
const REDUCE_BLOCK: usize = 1 << 14;

/// Floating-point precision of the simulation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    #[default]
    F32,
    F64,
}

/// Targets of a data set: class labels or regression series `[n x T x n_out]`.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    Labels(Vec<usize>),
    Series { data: Vec<f32>, n_out: usize },
}

impl Targets {
    /// Labels from integers, checked against the number of classes.
    pub fn labels(arg: &str, labels: &[i64], n_classes: usize) -> Result<Self> {
        labels
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                if c >= 0 && (c as usize) < n_classes {
                    Ok(c as usize)
                } else {
                    Err(Error::param(
                        arg,
                        format!("class labels in 0..{n_classes} (the network's outputs)"),
                        format!("{c} at index {i}"),
                    ))
                }
            })
            .collect::<Result<Vec<_>>>()
            .map(Targets::Labels)
    }

    /// The targets of `samples`, in that order.
    pub(crate) fn subset(&self, samples: &[usize], steps: usize) -> Targets {
        match self {
            Targets::Labels(l) => Targets::Labels(samples.iter().map(|&s| l[s]).collect()),
            Targets::Series { data, n_out } => {
                let w = steps * n_out;
                Targets::Series {
                    data: samples
                        .iter()
                        .flat_map(|&s| data[s * w..(s + 1) * w].iter().copied())
                        .collect(),
                    n_out: *n_out,
                }
            }
        }
    }

    fn len(&self, steps: usize) -> usize {
        match self {
            Targets::Labels(l) => l.len(),
            Targets::Series { data, n_out } => data.len() / (steps * n_out).max(1),
        }
    }

    fn get(&self, s: usize, steps: usize) -> Target<'_> {
        match self {
            Targets::Labels(l) => Target::Label(l[s]),
            Targets::Series { data, n_out } => {
                let w = steps * n_out;
                Target::Series(&data[s * w..(s + 1) * w])
            }
        }
    }
}

fn default_betas() -> (f64, f64) {
    (0.9, 0.999)
}
fn default_eps() -> f64 {
    1e-8
}
fn default_gamma() -> f64 {
    1.0
}
fn default_optimizer() -> OptimizerKind {
    OptimizerKind::Adam
}

/// Everything a BPTT run needs besides the network and the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BpttConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Learning rate of the weights and biases.
    pub lr: f64,
    /// Learning rate of the time constants (s per step); used for the trainable ones.
    #[serde(default)]
    pub lr_tau: f64,
    /// The optimiser (one state for the weights, one for the time constants; default Adam).
    #[serde(default = "default_optimizer")]
    pub optimizer: OptimizerKind,
    #[serde(default = "default_betas")]
    pub betas: (f64, f64),
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// The learning rates' schedule over epochs (both rates alike).
    #[serde(default)]
    pub lr_schedule: LrSchedule,
    /// StepLR: multiply both learning rates by `lr_gamma` every `lr_step` epochs (0 = never).
    #[serde(default)]
    pub lr_step: usize,
    #[serde(default = "default_gamma")]
    pub lr_gamma: f64,
    #[serde(default)]
    pub loss: LossSpec,
    #[serde(default)]
    pub surrogate: Surrogate,
    #[serde(default)]
    pub detach_reset: bool,
    /// Treat the recurrent spike path `z[t-1] -> W_rec -> I[t]` as a constant in the reverse pass
    /// (e-prop's approximation; with `detach_reset` too, BPTT equals symmetric e-prop).
    #[serde(default)]
    pub detach_recurrent: bool,
    #[serde(default)]
    pub regulariser: RateRegulariser,
    /// Clip the global gradient norm to this value (`None` = no clipping).
    #[serde(default)]
    pub clip_grad_norm: Option<f64>,
    /// Truncated BPTT: split each sequence into windows of this many steps; the state is carried
    /// across windows but the gradient is not, each window's part of the loss window is its loss, and
    /// the optimiser steps after every window (`None` = full BPTT).
    #[serde(default)]
    pub truncation: Option<usize>,
    /// With `truncation` and a summed loss (`ce_counts`, `ce_sum_softmax`): each window's loss is
    /// the cross-entropy of the sum from the start of the loss window to the window's end, earlier
    /// windows' part a constant (Yin et al.'s truncated BPTT), instead of the window's part alone.
    #[serde(default)]
    pub carry_loss: bool,
    #[serde(default)]
    pub precision: Precision,
    #[serde(default)]
    pub seed: u64,
    /// Worker threads (0 = all cores). Results do not depend on it.
    #[serde(default)]
    pub threads: usize,
    /// Restore the parameters of the epoch with the best validation accuracy (or loss, for
    /// regression) at the end.
    #[serde(default)]
    pub restore_best: bool,
    /// Train with a hardware model in the forward pass (see [`crate::hardware::params`]):
    /// hardware-aware (a new chip instance every batch, the gradient through its effective
    /// parameters and straight through the quantiser) or in the loop (one chip; the reverse pass of
    /// the ideal model, with the shadow parameters, at the trajectory the chip ran). Validation runs
    /// on chip `chip_seed`. None = ideal training.
    #[serde(default)]
    pub hardware: Option<HardwareTraining>,
}

impl BpttConfig {
    /// A base learning rate `lr` scheduled for epoch `epoch` (from 1).
    pub fn lr_at(&self, lr: f64, epoch: usize) -> f64 {
        self.lr_schedule
            .lr(lr, self.lr_gamma, self.lr_step, epoch, self.epochs)
    }

    pub fn validate(&self, net: &RsnnNetwork) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::param("epochs", "at least 1", 0));
        }
        if self.batch_size == 0 {
            return Err(Error::param("batch_size", "at least 1", 0));
        }
        if let Some(h) = &self.hardware {
            h.spec.validate_for_params()?;
        }
        let nonneg = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(Error::param(name, "a finite value >= 0", v))
            }
        };
        nonneg("lr", self.lr)?;
        nonneg("lr_tau", self.lr_tau)?;
        let (b1, b2) = self.betas;
        for (name, b) in [("betas[0]", b1), ("betas[1]", b2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::param(name, "a value in [0, 1)", b));
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::param("eps", "a finite value > 0", self.eps));
        }
        if !(self.lr_gamma.is_finite() && self.lr_gamma > 0.0) {
            return Err(Error::param(
                "lr_gamma",
                "a finite value > 0",
                self.lr_gamma,
            ));
        }
        if self.truncation == Some(0) {
            return Err(Error::param(
                "truncation",
                "a window of at least 1 step, or None",
                0,
            ));
        }
        if self.carry_loss {
            if self.truncation.is_none() {
                return Err(Error::param(
                    "carry_loss",
                    "a truncation window (carry_loss applies to truncated BPTT)",
                    "truncation None",
                ));
            }
            if !matches!(self.loss.kind, LossKind::CeCounts | LossKind::CeSumSoftmax) {
                return Err(Error::param(
                    "carry_loss",
                    "a summed loss: ce_counts or ce_sum_softmax",
                    format!("{:?}", self.loss.kind),
                ));
            }
        }
        if let Some(c) = self.clip_grad_norm {
            if !(c.is_finite() && c > 0.0) {
                return Err(Error::param("clip_grad_norm", "a finite value > 0", c));
            }
        }
        self.surrogate.validate()?;
        self.regulariser.validate()?;
        check_loss(net, &self.loss)
    }
}

fn check_loss(net: &RsnnNetwork, loss: &LossSpec) -> Result<()> {
    match (loss.kind.needs_readout(), net.spec.readout.is_some()) {
        (true, false) => Err(Error::param(
            "loss",
            "ce_counts for a network without a readout (the other losses read the readout membrane)",
            format!("{:?}", loss.kind),
        )),
        (false, true) => Err(Error::param(
            "loss",
            "a readout loss (ce_max, ce_last, ce_mean, ce_sum_softmax, ce_per_step, mse) for a network with a readout",
            "ce_counts",
        )),
        _ => Ok(()),
    }
}

/// A data set as the trainer sees it.
#[derive(Clone, Copy, Debug)]
pub struct Data<'a> {
    pub x: &'a Sequences,
    pub y: &'a Targets,
}

impl Data<'_> {
    pub fn check(&self, arg: &str, net: &RsnnNetwork, loss: &LossSpec) -> Result<()> {
        self.x
            .check_channels(&format!("{arg}.x"), net.spec.n_inputs)?;
        let n = self.y.len(self.x.n_steps);
        if n != self.x.n_samples {
            return Err(Error::shape(
                format!("{arg}.y"),
                format!("{} targets (one per sample)", self.x.n_samples),
                n,
            ));
        }
        match (self.y, loss.kind.is_classification()) {
            (Targets::Labels(_), false) => {
                return Err(Error::param(
                    format!("{arg}.y"),
                    "regression targets [n, steps, n_outputs] for the mse loss",
                    "class labels",
                ))
            }
            (Targets::Series { n_out, .. }, true) => {
                return Err(Error::param(
                    format!("{arg}.y"),
                    "class labels for a cross-entropy loss",
                    format!("regression targets with {n_out} outputs"),
                ))
            }
            (Targets::Series { n_out, .. }, false) if *n_out != net.n_outputs() => {
                return Err(Error::shape(
                    format!("{arg}.y"),
                    format!("{} outputs per step", net.n_outputs()),
                    n_out,
                ))
            }
            _ => {}
        }
        if let Targets::Labels(l) = self.y {
            if let Some(&c) = l.iter().find(|&&c| c >= net.n_outputs()) {
                return Err(Error::param(
                    format!("{arg}.y"),
                    format!("labels in 0..{}", net.n_outputs()),
                    c,
                ));
            }
        }
        loss.window(self.x.n_steps)?;
        Ok(())
    }
}

/// Summed results of a set of samples.
#[derive(Clone, Debug, Default)]
pub struct BatchStats {
    pub loss: f64,
    pub correct: usize,
    pub samples: usize,
    /// Spikes per spiking layer (summed over samples and steps).
    pub spikes: Vec<f64>,
}

impl BatchStats {
    /// Validation metrics from the statistics of a validation pass: mean loss, accuracy (for a
    /// classification loss) and the score that best-epoch selection maximises (accuracy, or minus the
    /// loss for regression).
    pub fn validation(&self, classification: bool) -> (f64, Option<f64>, f64) {
        let n = self.samples.max(1) as f64;
        let (loss, acc) = (self.loss / n, self.correct as f64 / n);
        let score = if classification { acc } else { -loss };
        (loss, classification.then_some(acc), score)
    }

    fn add(&mut self, o: &BatchStats) {
        self.loss += o.loss;
        self.correct += o.correct;
        self.samples += o.samples;
        if self.spikes.len() < o.spikes.len() {
            self.spikes.resize(o.spikes.len(), 0.0);
        }
        for (a, b) in self.spikes.iter_mut().zip(&o.spikes) {
            *a += b;
        }
    }
}

/// Per-thread workspace.
struct Work<F: Real> {
    trace: Trace<F>,
    back: BackwardScratch<F>,
    loss: LossScratch,
    dy: Vec<F>,
    direct: Vec<DirectGrad<F>>,
    /// The non-empty entries of `direct`, for the reverse pass.
    active: Vec<DirectGrad<F>>,
    /// The sample's step of the trace's step 0.
    t0: usize,
}

impl<F: Real> Work<F> {
    fn new() -> Self {
        Work {
            trace: Trace::default(),
            back: BackwardScratch::default(),
            loss: LossScratch::default(),
            dy: Vec::new(),
            direct: Vec::new(),
            active: Vec::new(),
            t0: 0,
        }
    }
}

/// Which steps of a sample one call processes: the whole sequence from zero, or (truncated BPTT) the
/// window `t0 .. t0 + len` starting from, and then updating, a carried state.
enum Span<'s, F: Real> {
    Whole,
    Window {
        t0: usize,
        len: usize,
        state: &'s mut SampleState<F>,
        carry: bool,
    },
}

/// Forward and loss of one sample (or of one window of it), leaving in `w` what its reverse pass
/// needs; returns whether the sample has a gradient (a loss or a regulariser in the window).
#[allow(clippy::too_many_arguments)]
fn one_sample<F: Real>(
    m: &Model<F>,
    data: Data<'_>,
    s: usize,
    loss: &LossSpec,
    reg: &RateRegulariser,
    scale: f64,
    w: &mut Work<F>,
    stats: &mut BatchStats,
    span: Span<'_, F>,
) -> bool {
    let x = data.x.sample(s);
    let steps = data.x.n_steps;
    let (t0, len, mut carry) = match span {
        Span::Whole => {
            forward(m, x, &mut w.trace);
            (0, steps, None)
        }
        Span::Window {
            t0,
            len,
            state,
            carry,
        } => {
            w.trace.load_state(m, state);
            forward_window(m, x, &mut w.trace, t0, len);
            w.trace.save_state(state);
            (t0, len, carry.then_some(&mut state.carry))
        }
    };
    w.loss.carry.clear();
    if let Some(c) = &carry {
        w.loss.carry.extend_from_slice(c);
    }
    w.t0 = t0;
    let last_window = t0 + len == steps;
    // The loss window in this call's local steps (empty: no loss here).
    let (ws, we) = loss.window(steps).unwrap_or((0, steps));
    let (lo, hi) = (ws.max(t0), we.min(t0 + len));
    let has_loss = lo < hi && (loss.kind != LossKind::CeLast || (we > t0 && we <= t0 + len));
    let window = (lo.saturating_sub(t0), hi.saturating_sub(t0));
    let tr = &w.trace;
    let nl = m.layers.len();
    let duration = len as f64 * m.dt;
    let target = match data.y.get(s, steps) {
        Target::Series(v) => {
            let no = v.len() / steps;
            Target::Series(&v[t0 * no..(t0 + len) * no])
        }
        t => t,
    };
    w.direct.resize_with(nl, DirectGrad::default);
    for d in &mut w.direct {
        d.g.clear();
    }
    let (mut l_loss, mut pred) = (0.0, usize::MAX);
    let no = m.readout.as_ref().map_or(0, |r| r.n);
    w.dy.clear();
    w.dy.resize(len * no, F::zero());
    if has_loss && loss.kind == LossKind::CeCounts {
        // Logits = spike counts of the last layer inside the window.
        let n = m.layers[nl - 1].n;
        let mut counts = vec![F::zero(); n];
        for t in window.0..window.1 {
            let (idx, val) = tr.layers[nl - 1].spikes(t);
            for (&j, &v) in idx.iter().zip(val) {
                counts[j as usize] += v;
            }
        }
        let mut g = vec![F::zero(); n];
        (l_loss, pred) = readout_loss(loss, (0, 1), &counts, n, target, scale, &mut g, &mut w.loss);
        let d = &mut w.direct[nl - 1];
        d.layer = nl - 1;
        (d.from, d.to) = window;
        d.g = g;
    } else if has_loss {
        (l_loss, pred) = readout_loss(
            loss,
            window,
            &tr.y,
            no,
            target,
            scale,
            &mut w.dy,
            &mut w.loss,
        );
    }
    if let (Some(c), true) = (carry.as_mut(), has_loss) {
        c.clear();
        c.extend_from_slice(w.loss.logits());
    }
    // Firing-rate regularisers on every spiking layer except a count-loss output layer.
    let mut reg_loss = 0.0;
    if reg.is_active() {
        let last = if loss.kind == LossKind::CeCounts {
            nl - 1
        } else {
            nl
        };
        for l in 0..last {
            let n = m.layers[l].n;
            let mut g = vec![F::zero(); n];
            reg_loss += reg.apply(&tr.layers[l].counts, duration, &mut g);
            let d = &mut w.direct[l];
            d.layer = l;
            (d.from, d.to) = (0, len);
            d.g = g.iter().map(|v| *v * F::of(scale)).collect();
        }
    }
    stats.loss += l_loss + reg_loss;
    if last_window {
        stats.samples += 1;
        if let Target::Label(c) = target {
            if pred == c {
                stats.correct += 1;
            }
        }
    }
    stats.spikes.resize(nl, 0.0);
    for (l, lt) in tr.layers.iter().enumerate() {
        stats.spikes[l] += lt.counts.iter().map(|c| c.f64()).sum::<f64>();
    }
    // The reverse pass needs the direct spike gradients that are in use.
    w.active.clear();
    w.active
        .extend(w.direct.iter().filter(|d| !d.g.is_empty()).cloned());
    has_loss || reg.is_active()
}

/// The hardware model is a training mode of [`fit`]; a single gradient has no chip to run on.
fn no_hardware(cfg: &BpttConfig) -> Result<()> {
    match cfg.hardware {
        None => Ok(()),
        Some(_) => Err(Error::param(
            "hardware",
            "None for a single gradient (hardware-aware and in-the-loop training are modes of fit)",
            "a hardware model",
        )),
    }
}

/// Loss and gradient (with respect to the parameters, time constants in seconds) of the mean loss
/// over `samples` of `data`. Parallel over fixed chunks, reduced in chunk order.
pub fn gradient<F: Real>(
    net: &RsnnNetwork,
    data: Data<'_>,
    samples: &[usize],
    cfg: &BpttConfig,
) -> Result<(Vec<f64>, BatchStats)> {
    no_hardware(cfg)?;
    gradient_span::<F>(
        net,
        None,
        data,
        samples,
        cfg,
        None,
        None,
        &mut GradScratch::default(),
    )
}

/// [`gradient`] over the window `t0 .. t0 + len` of each sample, starting from and updating the
/// carried `states` (one per sample; empty states mean zero): one step of truncated BPTT.
pub fn gradient_window<F: Real>(
    net: &RsnnNetwork,
    data: Data<'_>,
    samples: &[usize],
    cfg: &BpttConfig,
    t0: usize,
    len: usize,
    states: &mut [SampleState<F>],
) -> Result<(Vec<f64>, BatchStats)> {
    no_hardware(cfg)?;
    gradient_span::<F>(
        net,
        None,
        data,
        samples,
        cfg,
        Some((t0, len, states)),
        None,
        &mut GradScratch::default(),
    )
}

/// Buffers of [`gradient_span`] kept between calls (a training run reuses them from batch to batch
/// and window to window instead of mapping fresh pages): one gradient per group of samples (see
/// [`GRAD_GROUPS`]) and a pool of per-sample work buffers, taken by the groups while they run (so
/// as many sets as groups run at once). Work buffers are overwritten by each sample, so which set a
/// group takes does not change any result.
pub(crate) struct GradScratch<F: Real> {
    grads: Vec<Vec<F>>,
    works: std::sync::Mutex<Vec<Vec<Work<F>>>>,
}

impl<F: Real> Default for GradScratch<F> {
    fn default() -> Self {
        GradScratch {
            grads: Vec::new(),
            works: std::sync::Mutex::new(Vec::new()),
        }
    }
}

fn check_noise(noise: Option<TrialNoise>) -> Result<()> {
    match noise {
        Some(n) if !(n.membrane.is_finite() && n.membrane >= 0.0) => Err(Error::param(
            "membrane_noise",
            "a finite relative sd >= 0",
            n.membrane,
        )),
        _ => Ok(()),
    }
}

/// A chip's trial noise inside the forward pass: membrane noise of relative size `membrane` (see
/// [`Model::with_membrane_noise`]), drawn per sample from streams derived from `seed`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrialNoise {
    pub membrane: f64,
    pub seed: u64,
}

impl TrialNoise {
    /// The seed of the noise stream of sample `s` (its index in the data) from step `t0` on.
    pub fn sample_seed(&self, s: usize, t0: usize) -> u64 {
        mix(mix(self.seed, s as u64), t0 as u64)
    }
}

/// With `backward`, the reverse pass uses that network's parameters at the trajectory `net` ran
/// (hardware-in-the-loop: `net` is the chip, `backward` the ideal model); the gradient is then with
/// respect to `backward`'s parameters. With `noise`, the forward passes run with that trial noise.
#[allow(clippy::too_many_arguments)]
fn gradient_span<F: Real>(
    net: &RsnnNetwork,
    backward: Option<&RsnnNetwork>,
    data: Data<'_>,
    samples: &[usize],
    cfg: &BpttConfig,
    window: Option<(usize, usize, &mut [SampleState<F>])>,
    noise: Option<TrialNoise>,
    scratch: &mut GradScratch<F>,
) -> Result<(Vec<f64>, BatchStats)> {
    let m =
        Model::<F>::new(net, &cfg.surrogate).with_membrane_noise(noise.map_or(0.0, |n| n.membrane));
    let m_back = backward.map(|b| Model::<F>::new(b, &cfg.surrogate));
    let mb = m_back.as_ref().unwrap_or(&m);
    let scale = 1.0 / samples.len().max(1) as f64;
    let len = net.layout.len;
    let (span_t0, span_len, states) = match window {
        Some((t0, len, states)) => {
            if states.len() != samples.len() || len == 0 || t0 + len > data.x.n_steps {
                return Err(Error::param(
                    "window",
                    format!(
                        "one state per sample and 0 < len, t0 + len <= {}",
                        data.x.n_steps
                    ),
                    format!(
                        "{} states for {} samples, t0 {t0}, len {len}",
                        states.len(),
                        samples.len()
                    ),
                ));
            }
            (t0, len, Some(states))
        }
        None => (0, 0, None),
    };
    // Per chunk: the forward passes and losses one sample after another, then one lockstep reverse
    // pass over the chunk's samples (see `backward_chunk`), added into its group's gradient.
    let run_chunk = |ws: &mut Vec<Work<F>>,
                     chunk: &[usize],
                     states: Option<&mut [SampleState<F>]>,
                     g: &mut [F],
                     st: &mut BatchStats| {
        let mut states = states;
        if ws.len() < chunk.len() {
            ws.resize_with(chunk.len(), Work::new);
        }
        let mut needs = [false; GRAD_CHUNK];
        for (i, &s) in chunk.iter().enumerate() {
            let span = match &mut states {
                Some(sts) => Span::Window {
                    t0: span_t0,
                    len: span_len,
                    state: &mut sts[i],
                    carry: cfg.carry_loss,
                },
                None => Span::Whole,
            };
            ws[i]
                .trace
                .seed_noise(noise.map(|n| n.sample_seed(s, span_t0)));
            needs[i] = one_sample(
                &m,
                data,
                s,
                &cfg.loss,
                &cfg.regulariser,
                scale,
                &mut ws[i],
                st,
                span,
            );
        }
        let mut items: Vec<SampleAdjoint<'_, F>> = chunk
            .iter()
            .zip(ws.iter_mut())
            .zip(needs)
            .filter(|(_, need)| *need)
            .map(|((&s, w), _)| SampleAdjoint {
                x: data.x.sample(s),
                t0: w.t0,
                tr: &w.trace,
                dy: &w.dy,
                direct: &w.active,
                s: &mut w.back,
            })
            .collect();
        backward_chunk(mb, &mut items, cfg.detach_reset, cfg.detach_recurrent, g);
    };
    // The batch's chunks of GRAD_CHUNK samples form at most GRAD_GROUPS groups of consecutive
    // chunks; each group runs its chunks in order into one gradient, in parallel with the others.
    let n_chunks = samples.len().div_ceil(GRAD_CHUNK).max(1);
    let group_len = n_chunks.div_ceil(GRAD_GROUPS) * GRAD_CHUNK;
    let n_groups = samples.len().div_ceil(group_len);
    scratch
        .grads
        .resize_with(n_groups.max(scratch.grads.len()), Vec::new);
    let mut group_states: Vec<Option<&mut [SampleState<F>]>> = match states {
        Some(sts) => sts.chunks_mut(group_len).map(Some).collect(),
        None => (0..n_groups).map(|_| None).collect(),
    };
    let (grads, pool) = (&mut scratch.grads[..n_groups], &scratch.works);
    let stats: Vec<BatchStats> = with_threads(cfg.threads, || {
        grads
            .par_iter_mut()
            .zip(samples.par_chunks(group_len))
            .zip(group_states.par_iter_mut())
            .map(|((g, gsamples), gstates)| {
                g.clear();
                g.resize(len, F::zero());
                let taken = match pool.lock() {
                    Ok(mut p) => p.pop(),
                    Err(e) => e.into_inner().pop(),
                };
                let mut ws = taken.unwrap_or_default();
                let mut st = BatchStats::default();
                for (k, chunk) in gsamples.chunks(GRAD_CHUNK).enumerate() {
                    let sts = gstates
                        .as_deref_mut()
                        .map(|s| &mut s[k * GRAD_CHUNK..k * GRAD_CHUNK + chunk.len()]);
                    run_chunk(&mut ws, chunk, sts, g, &mut st);
                }
                match pool.lock() {
                    Ok(mut p) => p.push(ws),
                    Err(e) => e.into_inner().push(ws),
                }
                st
            })
            .collect()
    })?;
    // The groups' gradients are added in group order for every element (blocks of elements in
    // parallel), so the sum is the same for any thread count.
    let groups = &scratch.grads[..n_groups];
    let mut grad = vec![0.0; len];
    with_threads(cfg.threads, || {
        grad.par_chunks_mut(REDUCE_BLOCK)
            .enumerate()
            .for_each(|(b, out)| {
                let lo = b * REDUCE_BLOCK;
                let hi = lo + out.len();
                for g in groups {
                    for (a, x) in out.iter_mut().zip(&g[lo..hi]) {
                        *a += x.f64();
                    }
                }
            })
    })?;
    let mut total = BatchStats::default();
    for st in &stats {
        total.add(st);
    }
    decay_to_tau(backward.unwrap_or(net), &mut grad);
    Ok((grad, total))
}

/// Loss, accuracy and spike counts over `data` (no gradient).
pub fn evaluate<F: Real>(
    net: &RsnnNetwork,
    data: Data<'_>,
    loss: &LossSpec,
    surrogate: &Surrogate,
    threads: usize,
) -> Result<BatchStats> {
    evaluate_trial::<F>(net, data, loss, surrogate, threads, None)
}

/// [`evaluate`] as one trial on a chip: the forward passes with `noise` (None: as `evaluate`).
pub fn evaluate_trial<F: Real>(
    net: &RsnnNetwork,
    data: Data<'_>,
    loss: &LossSpec,
    surrogate: &Surrogate,
    threads: usize,
    noise: Option<TrialNoise>,
) -> Result<BatchStats> {
    check_loss(net, loss)?;
    data.check("data", net, loss)?;
    check_noise(noise)?;
    let m = Model::<F>::new(net, surrogate).with_membrane_noise(noise.map_or(0.0, |n| n.membrane));
    let idx: Vec<usize> = (0..data.x.n_samples).collect();
    let reg = RateRegulariser::default();
    let parts: Vec<BatchStats> = with_threads(threads, || {
        idx.par_chunks(CHUNK)
            .map_init(Work::<F>::new, |w, chunk| {
                let mut st = BatchStats::default();
                for &s in chunk {
                    w.trace.seed_noise(noise.map(|n| n.sample_seed(s, 0)));
                    one_sample(&m, data, s, loss, &reg, 1.0, w, &mut st, Span::Whole);
                }
                st
            })
            .collect()
    })?;
    let mut stats = BatchStats::default();
    for p in &parts {
        stats.add(p);
    }
    Ok(stats)
}

/// Metrics of one epoch.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BpttEpochMetrics {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    /// Mean firing rate of each spiking layer over the epoch's training samples (Hz).
    pub rates_hz: Vec<f64>,
    pub lr: f64,
    pub seconds: f64,
}

fn mean_rates(net: &RsnnNetwork, st: &BatchStats, steps: usize) -> Vec<f64> {
    net.spec
        .layers
        .iter()
        .zip(&st.spikes)
        .map(|(l, s)| s / (st.samples.max(1) * l.size) as f64 / (steps as f64 * net.spec.dt))
        .collect()
}

/// Train `net` in place with BPTT. `callback` runs after each epoch; `ControlFlow::Break` stops.
pub fn fit(
    net: &mut RsnnNetwork,
    train: Data<'_>,
    validation: Option<Data<'_>>,
    cfg: &BpttConfig,
    callback: &mut dyn FnMut(&BpttEpochMetrics) -> ControlFlow<()>,
    interrupt: &dyn Fn() -> bool,
) -> Result<Vec<BpttEpochMetrics>> {
    fit_from(
        net,
        train,
        validation,
        cfg,
        Continuation::default(),
        callback,
        interrupt,
    )
    .map(|(h, _)| h)
}

/// [`fit`] continuing the run whose state is `run.resume` (its parameters replace `net`'s; see
/// [`TrainState`]); returns the epochs' metrics and the state to resume from. With
/// `run.checkpoint`, the state is also written (atomically) to that file after every completed
/// epoch. A run stopped after an epoch (callback) and resumed with the same config and data gives
/// the same parameters, bit for bit, as the uninterrupted run; an epoch stopped by `interrupt` is
/// not counted and runs again in full.
pub fn fit_from(
    net: &mut RsnnNetwork,
    train: Data<'_>,
    validation: Option<Data<'_>>,
    cfg: &BpttConfig,
    run: Continuation<'_>,
    callback: &mut dyn FnMut(&BpttEpochMetrics) -> ControlFlow<()>,
    interrupt: &dyn Fn() -> bool,
) -> Result<(Vec<BpttEpochMetrics>, TrainState)> {
    cfg.validate(net)?;
    train.check("train", net, &cfg.loss)?;
    if let Some(v) = validation {
        v.check("validation", net, &cfg.loss)?;
    }
    if let Some(st) = run.resume {
        st.check("resume", "bptt", net.params.len(), cfg.epochs)?;
    }
    match cfg.precision {
        Precision::F32 => fit_impl::<f32>(net, train, validation, cfg, run, callback, interrupt),
        Precision::F64 => fit_impl::<f64>(net, train, validation, cfg, run, callback, interrupt),
    }
}

/// Which parameters are trained: weights always, time constants per the layer flags.
fn trainable_taus(net: &RsnnNetwork) -> Vec<bool> {
    let mut mask = vec![false; net.layout.len - net.layout.n_weights];
    let base = net.layout.n_weights;
    let mut set = |r: &std::ops::Range<usize>, on: bool| {
        for i in r.clone() {
            mask[i - base] = on;
        }
    };
    for (s, o) in net.spec.layers.iter().zip(&net.layout.layers) {
        set(&o.tau_mem, s.train_tau_mem);
        set(&o.tau_syn, s.train_tau_syn);
        set(&o.tau_adapt, s.train_tau_adapt);
    }
    if let (Some(r), Some(o)) = (&net.spec.readout, &net.layout.readout) {
        set(&o.tau, r.train_tau);
    }
    mask
}

fn fit_impl<F: Real>(
    net: &mut RsnnNetwork,
    train: Data<'_>,
    validation: Option<Data<'_>>,
    cfg: &BpttConfig,
    run: Continuation<'_>,
    callback: &mut dyn FnMut(&BpttEpochMetrics) -> ControlFlow<()>,
    interrupt: &dyn Fn() -> bool,
) -> Result<(Vec<BpttEpochMetrics>, TrainState)> {
    let nw = net.layout.n_weights;
    let (b1, b2) = cfg.betas;
    let tau_mask = trainable_taus(net);
    let mut work = BpttEpoch::<F> {
        train,
        validation,
        cfg,
        opt_w: Optimizer::new(cfg.optimizer, nw, (b1, b2), cfg.eps),
        opt_tau: Optimizer::new(cfg.optimizer, net.layout.len - nw, (b1, b2), cfg.eps),
        any_tau: tau_mask.iter().any(|&b| b),
        tau_mask,
        scratch: GradScratch::default(),
        run,
        hw: OnChip::for_rsnn(cfg.hardware.as_ref(), net, cfg.seed)?,
        on_chip: None,
    };
    let spec = EpochSpec::new(cfg.epochs, cfg.batch_size, cfg.seed, cfg.restore_best);
    let n = train.x.n_samples;
    run_resumable(net, spec, n, &mut work, run, callback, interrupt)
}

/// One BPTT epoch's batches (an optimiser step per batch, or per window under truncated BPTT) and
/// metrics.
struct BpttEpoch<'a, F: Real> {
    train: Data<'a>,
    validation: Option<Data<'a>>,
    cfg: &'a BpttConfig,
    opt_w: Optimizer,
    opt_tau: Optimizer,
    tau_mask: Vec<bool>,
    any_tau: bool,
    scratch: GradScratch<F>,
    /// Where to write the run's state after every epoch.
    run: Continuation<'a>,
    /// The hardware model (see [`super::on_chip`]), and the network a batch runs on the chip (its
    /// parameters rewritten for every window).
    hw: Option<OnChip>,
    on_chip: Option<RsnnNetwork>,
}

impl<F: Real> Resume<RsnnNetwork> for BpttEpoch<'_, F> {
    fn state(&self, progress: Progress, params: Vec<f64>) -> TrainState {
        TrainState {
            fingerprint: None,
            method: "bptt".into(),
            progress,
            params,
            opt_w: self.opt_w.state(),
            opt_tau: self.opt_tau.state(),
            extra: Vec::new(),
            counters: Vec::new(),
        }
    }

    fn restore(&mut self, st: &TrainState) -> Result<()> {
        self.opt_w.restore(&st.opt_w, "resume")?;
        self.opt_tau.restore(&st.opt_tau, "resume")
    }
}

impl<F: Real> EpochWork<RsnnNetwork> for BpttEpoch<'_, F> {
    type Stats = BatchStats;
    type Metrics = BpttEpochMetrics;

    fn epoch_done(&mut self, net: &mut RsnnNetwork, progress: &Progress) -> Result<()> {
        write_checkpoint(&self.run, || {
            self.state(progress.clone(), net.params.clone())
        })
    }

    fn batch(
        &mut self,
        net: &mut RsnnNetwork,
        epoch: usize,
        batch: &[usize],
        total: &mut BatchStats,
    ) -> Result<()> {
        let (cfg, train) = (self.cfg, self.train);
        let nw = net.layout.n_weights;
        let steps = train.x.n_steps;
        let lr = cfg.lr_at(cfg.lr, epoch);
        let lr_tau = cfg.lr_at(cfg.lr_tau, epoch);
        let windows: Vec<(usize, usize)> = match cfg.truncation {
            Some(k) if k < steps => (0..steps)
                .step_by(k)
                .map(|t0| (t0, k.min(steps - t0)))
                .collect(),
            _ => vec![(0, steps)],
        };
        // The hardware model: this batch's chip and its lost input spikes.
        let on = match &mut self.hw {
            Some(h) => Some(h.begin_batch(epoch, train, batch)?),
            None => None,
        };
        let (data, idx) = match &on {
            Some(b) => b.data(train, batch),
            None => (train, batch),
        };
        let mut states: Vec<SampleState<F>> = vec![SampleState::default(); batch.len()];
        for &(t0, len) in &windows {
            let scratch = &mut self.scratch;
            let window = (windows.len() > 1).then_some((t0, len, &mut states[..]));
            let (mut g, st) = match (&mut self.hw, &on) {
                (Some(h), Some(b)) => {
                    let chip_net = self.on_chip.get_or_insert_with(|| net.clone());
                    h.effective(b, &net.params, &mut chip_net.params)?;
                    // In the loop, the reverse pass is the ideal model's (shadow parameters) at the
                    // chip's trajectory; hardware-aware, it is the chip's, chained to the shadow
                    // parameters.
                    let back = (!h.aware()).then_some(&*net);
                    let noise = b.noise();
                    let mut r =
                        gradient_span::<F>(chip_net, back, data, idx, cfg, window, noise, scratch)?;
                    h.chain_gradient(&mut r.0);
                    r
                }
                _ => gradient_span::<F>(net, None, data, idx, cfg, window, None, scratch)?,
            };
            if let Some(i) = g.iter().position(|v| !v.is_finite()) {
                return Err(Error::NonFinite {
                    arg: "gradient".into(),
                    expected: "finite gradients (lower the learning rate or clip_grad_norm)".into(),
                    got: format!("{} at parameter {i} in epoch {epoch}", g[i]),
                });
            }
            for (gi, on) in g[nw..].iter_mut().zip(&self.tau_mask) {
                if !on {
                    *gi = 0.0;
                }
            }
            if let Some(c) = cfg.clip_grad_norm {
                let norm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
                if norm > c {
                    g.iter_mut().for_each(|v| *v *= c / norm);
                }
            }
            let (pw, pt) = net.params.split_at_mut(nw);
            // Element-wise, so the same result for any thread count.
            let opt_w = &mut self.opt_w;
            with_threads(cfg.threads, || {
                opt_w.step_par(lr, &g[..nw], [pw], REDUCE_BLOCK)
            })?;
            if self.any_tau {
                self.opt_tau.step(lr_tau, &g[nw..], [pt]);
            }
            net.mask_diagonals();
            net.clamp_taus();
            if let Some(h) = &self.hw {
                h.clamp(&mut net.params);
            }
            total.add(&st);
        }
        Ok(())
    }

    fn finish(
        &mut self,
        net: &mut RsnnNetwork,
        epoch: usize,
        total: &BatchStats,
        start: Instant,
    ) -> Result<(BpttEpochMetrics, Option<f64>)> {
        let cfg = self.cfg;
        let classification = cfg.loss.kind.is_classification();
        let n = total.samples.max(1) as f64;
        let mut metrics = BpttEpochMetrics {
            epoch,
            train_loss: total.loss / n,
            train_accuracy: if classification {
                total.correct as f64 / n
            } else {
                f64::NAN
            },
            rates_hz: mean_rates(net, total, self.train.x.n_steps),
            lr: cfg.lr_at(cfg.lr, epoch),
            ..Default::default()
        };
        let mut score = None;
        if let Some(v) = self.validation {
            let on_chip = OnChip::validation_net(self.hw.as_ref(), &*net)?;
            let eval_net = on_chip.as_ref().unwrap_or(&*net);
            let st = evaluate::<F>(eval_net, v, &cfg.loss, &cfg.surrogate, cfg.threads)?;
            let (vl, va, sc) = st.validation(classification);
            (metrics.val_loss, metrics.val_accuracy, score) = (Some(vl), va, Some(sc));
        }
        metrics.seconds = start.elapsed().as_secs_f64();
        Ok((metrics, score))
    }
}

/// Run every sample of `x` and return its full trajectory (spikes, membrane, adaptation, drive and
/// readout of every step), in sample order. Memory grows with samples x steps x neurons: meant for
/// recording and plotting, not for training.
pub fn record<F: Real>(
    net: &RsnnNetwork,
    x: &Sequences,
    surrogate: &Surrogate,
    threads: usize,
) -> Result<Vec<Trace<F>>> {
    record_trial(net, x, surrogate, threads, None)
}

/// [`record`] as one trial on a chip: the runs with `noise` (per-sample streams as
/// [`evaluate_trial`], so a recording shows the trajectories an evaluation with the same noise ran).
pub fn record_trial<F: Real>(
    net: &RsnnNetwork,
    x: &Sequences,
    surrogate: &Surrogate,
    threads: usize,
    noise: Option<TrialNoise>,
) -> Result<Vec<Trace<F>>> {
    x.check_channels("x", net.spec.n_inputs)?;
    surrogate.validate()?;
    check_noise(noise)?;
    let m = Model::<F>::new(net, surrogate).with_membrane_noise(noise.map_or(0.0, |n| n.membrane));
    with_threads(threads, || {
        (0..x.n_samples)
            .into_par_iter()
            .map(|s| {
                let mut tr = Trace::default();
                tr.seed_noise(noise.map(|n| n.sample_seed(s, 0)));
                forward(&m, x.sample(s), &mut tr);
                tr
            })
            .collect()
    })
}
