//! S4NN learning: approximate temporal backpropagation, re-derived from the equations of
//! Kheradpisheh & Masquelier 2020 (no code from the GPL reference implementation).
//!
//! Per sample (`t` are the forward pass's spike times, `t_max` = forced spike):
//!
//! 1. Relative targets with margin `gamma` ([`relative_targets`]): `tau = min_j t_j` over outputs.
//!    If `tau = t_max` (no output fired): `T_j = t_max`, `T_label = t_max - gamma`. Otherwise
//!    `T_j = t_j`, except `T_j = min(tau + gamma, t_max)` for every `j` with `t_j - tau < gamma`, and
//!    finally `T_label = tau`. A correct winner ahead of all others by `>= gamma` gives zero error.
//! 2. Output error `e_j = (T_j - t_j) / t_max`; `delta_o = e / ||e||_2` (no update if `e = 0`).
//! 3. With `dt_j/dV_j = -1` and `dV_j/dw_ji = [t_i < t_j]` (strict, the causal mask), the weight
//!    gradient of layer `l` is `g_ji = delta_j [t_i < t_j]`, and the error passed down is
//!    `delta_i = sum_j delta_j [t_i < t_j] w_ji`, L2-normalised per layer. `w_ji` is either the
//!    layer's weight before this sample's update ([`HiddenDelta::Original`]) or after it
//!    ([`HiddenDelta::Updated`], the reference's order: the output layer is updated first), i.e.
//!    `w_ji (1 - lr lambda) - lr delta_j [t_i < t_j]`. With `delay >= 1` the strict mask is exactly
//!    the set of inputs that caused the crossing; with `delay = 0` inputs arriving in the crossing
//!    step are not counted. Hidden neurons that did not really fire
//!    (`t_i = t_max`) have no later outputs and get `delta_i = 0`.
//! 4. SGD: `W <- W (1 - lr lambda) - lr g` per layer (decay applied every sample, also when the error
//!    is zero). Mini-batches (`batch_size > 1`): every sample's deltas are computed with the weights
//!    at the start of the batch, `g` is the batch mean (fixed-chunk, fixed-order reduction, so results
//!    do not depend on the thread count) and the decay is applied once per batch.
//!
//! Optional (not in the paper): `lr_decay` multiplies the learning rates after every epoch.
//!
//! Dead-neuron re-initialisation: after each epoch, every hidden neuron that really fired
//! (`t < t_max`) in fewer than `reinit_below x n_train` of that epoch's training samples (counted in
//! the training forward passes) gets all its incoming weights re-drawn from `U[reinit[l])`, from a
//! ChaCha8 stream keyed by (seed, epoch, layer), drawn in (neuron, input) order.
//!
//! Implementation: weight decay is applied lazily (`W = s U` with a per-layer scale `s`, folded back
//! into the weights at the end of every epoch), so a per-sample step costs only the causal
//! (input, neuron) pairs of neurons with a non-zero error, never the whole weight matrix.

use super::network::{
    check_range, draw_uniform, first_to_spike, LabelledSteps, S4nnNetwork, S4nnWorkspace, TieRule,
};
use super::on_chip::S4nnOnChip;
use super::state;
use crate::error::{Error, Result};
use crate::hardware::forward::mix;
use crate::hardware::HardwareTraining;
use crate::parallel::{pool, CHUNK};
use crate::rsnn::checkpoint::{write_checkpoint, Continuation, TrainState};
use crate::rsnn::epochs::record;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;
use std::time::Instant;

/// Which output-layer weights the hidden error uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HiddenDelta {
    /// The weights after this sample's update of the layer above (the reference code's order).
    #[default]
    Updated,
    /// The weights of the forward pass (textbook backpropagation).
    Original,
}

impl HiddenDelta {
    /// Parse `"updated"` or `"original"` (`arg` names the argument in the error).
    pub fn parse(arg: &str, s: &str) -> Result<Self> {
        match s {
            "updated" => Ok(HiddenDelta::Updated),
            "original" => Ok(HiddenDelta::Original),
            _ => Err(Error::param(
                arg,
                "'updated' or 'original'",
                format!("'{s}'"),
            )),
        }
    }
}

/// Hyper-parameters of S4NN training. [`S4nnFitConfig::paper`] gives the paper's MNIST values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct S4nnFitConfig {
    pub epochs: usize,
    /// Learning rate per layer (paper: 0.2, 0.2).
    pub lr: Vec<f64>,
    /// The learning rates are multiplied by `lr_decay` after every epoch (paper: 1, constant).
    pub lr_decay: f64,
    /// L2 weight decay `lambda` per layer (paper: 1e-6); the step is `W (1 - lr lambda) - lr g`.
    pub weight_decay: Vec<f64>,
    /// Target margin, time steps (paper: 3).
    pub gamma: u32,
    /// Samples per step; 1 = per-sample SGD as in the paper.
    pub batch_size: usize,
    pub hidden_delta: HiddenDelta,
    /// Re-initialise hidden neurons that really fired in fewer than this fraction of an epoch's
    /// training samples (0 = never).
    pub reinit_below: f64,
    /// Per layer: the uniform range `[low, high)` re-initialised weights are drawn from (the output
    /// layer's entry is unused).
    pub reinit: Vec<(f64, f64)>,
    /// Shuffle the training set every epoch (seeded); false = data order.
    pub shuffle: bool,
    /// With a validation set: restore the weights of the epoch with the best clean validation
    /// accuracy at the end (first best on equality).
    pub keep_best: bool,
    /// Tie rule of the clean accuracies reported during training.
    pub tie: TieRule,
    pub seed: u64,
    /// Worker threads for evaluation and mini-batches (0 = all cores). Results do not depend on it.
    pub threads: usize,
    /// Train on a hardware model (mini-batches only, `batch_size >= 2`): every batch runs forward on
    /// a chip (tensors `layers.K.w`, see [`crate::hardware::params`]); in the loop (chip
    /// `chip_seed`) the deltas are the ideal model's at the chip's spike times, with the shadow
    /// weights; hardware-aware (a fresh chip per batch) they are the chip's, chained to the shadow
    /// weights through the quantiser. Lost input spikes never arrive. Validation and test run on chip
    /// `chip_seed`. None = ideal training.
    #[serde(default)]
    pub hardware: Option<HardwareTraining>,
}

impl S4nnFitConfig {
    /// The paper's MNIST settings for a network of `n_layers` layers (the init ranges are U[0, 5]
    /// for hidden layers and U[0, 48] for the output layer).
    pub fn paper(n_layers: usize) -> Self {
        let mut reinit = vec![(0.0, 5.0); n_layers];
        reinit[n_layers - 1] = (0.0, 48.0);
        S4nnFitConfig {
            epochs: 100,
            lr: vec![0.2; n_layers],
            lr_decay: 1.0,
            weight_decay: vec![1e-6; n_layers],
            gamma: 3,
            batch_size: 1,
            hidden_delta: HiddenDelta::Updated,
            reinit_below: 0.001,
            reinit,
            shuffle: true,
            keep_best: true,
            tie: TieRule::Voltage,
            seed: 0,
            threads: 0,
            hardware: None,
        }
    }

    fn validate(&self, net: &S4nnNetwork) -> Result<()> {
        let n_layers = net.layers().len();
        for (name, v) in [("lr", &self.lr), ("weight_decay", &self.weight_decay)] {
            if v.len() != n_layers {
                return Err(Error::shape(
                    name,
                    format!("one value per layer ({n_layers})"),
                    v.len(),
                ));
            }
        }
        for (l, (&lr, &wd)) in self.lr.iter().zip(&self.weight_decay).enumerate() {
            if !(lr.is_finite() && lr > 0.0) {
                return Err(Error::param(format!("lr[{l}]"), "a finite value > 0", lr));
            }
            if !(wd.is_finite() && wd >= 0.0 && lr * wd < 1.0) {
                return Err(Error::param(
                    format!("weight_decay[{l}]"),
                    format!("a finite value >= 0 with lr * weight_decay < 1 (lr = {lr})"),
                    wd,
                ));
            }
        }
        if !(self.lr_decay.is_finite() && self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return Err(Error::param(
                "lr_decay",
                "a factor in (0, 1]",
                self.lr_decay,
            ));
        }
        if self.batch_size == 0 {
            return Err(Error::param("batch_size", "an integer >= 1", 0));
        }
        if let Some(h) = &self.hardware {
            h.spec.validate_for_params()?;
            h.spec.no_membrane_noise(
                "S4NN (non-leaky IF neurons have no stationary membrane fluctuation)",
            )?;
            if self.batch_size < 2 {
                return Err(Error::param(
                    "batch_size",
                    "at least 2 with a hardware model (the chip's weights are drawn per batch)",
                    self.batch_size,
                ));
            }
        }
        if self.gamma > net.t_max() {
            return Err(Error::param(
                "gamma",
                format!("an integer in 0..={} (t_max)", net.t_max()),
                self.gamma,
            ));
        }
        if !(0.0..=1.0).contains(&self.reinit_below) {
            return Err(Error::param(
                "reinit_below",
                "a fraction in [0, 1]",
                self.reinit_below,
            ));
        }
        if self.reinit.len() != n_layers {
            return Err(Error::shape(
                "reinit",
                format!("one (low, high) range per layer ({n_layers})"),
                self.reinit.len(),
            ));
        }
        for (l, &r) in self.reinit.iter().enumerate() {
            check_range(&format!("reinit[{l}]"), r)?;
        }
        Ok(())
    }
}

/// Metrics of one epoch, handed to the callback and returned as the history.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct S4nnEpochMetrics {
    pub epoch: usize,
    /// Clean accuracy of the training forward passes (each before its own update).
    pub train_accuracy: f64,
    /// Fraction of training samples with a non-zero error (i.e. that changed the weights).
    pub train_error_fraction: f64,
    /// Mean fraction of hidden neurons that really fired per training sample (None: no hidden layer).
    pub hidden_spike_fraction: Option<f64>,
    /// Fraction of training samples in which no output really fired.
    pub output_silent_fraction: f64,
    /// Hidden neurons re-initialised at the end of the epoch.
    pub reinitialised: usize,
    pub val_accuracy: Option<f64>,
    pub val_accuracy_paper: Option<f64>,
    pub test_accuracy: Option<f64>,
    pub test_accuracy_paper: Option<f64>,
    /// Wall time of the epoch (training, re-initialisation and evaluations), seconds.
    pub seconds: f64,
}

/// What [`fit`] returns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct S4nnFitOutcome {
    pub history: Vec<S4nnEpochMetrics>,
    /// The epoch (1-based) whose weights were kept by `keep_best`, if any.
    pub best_epoch: Option<usize>,
}

/// The target time of output `j` under the relative target rule (see the module docs).
#[inline]
fn target_of(j: usize, t_j: u32, label: usize, tau: u32, t_max: u32, gamma: u32) -> u32 {
    if tau >= t_max {
        if j == label {
            t_max.saturating_sub(gamma)
        } else {
            t_max
        }
    } else if j == label {
        tau
    } else if t_j - tau < gamma {
        tau.saturating_add(gamma).min(t_max)
    } else {
        t_j
    }
}

/// The relative targets `T` of the output layer for output times `times` and class `label`.
pub fn relative_targets(times: &[u32], label: usize, t_max: u32, gamma: u32, targets: &mut [u32]) {
    let tau = times.iter().copied().min().unwrap_or(t_max);
    for (j, (tg, &t)) in targets.iter_mut().zip(times).enumerate() {
        *tg = target_of(j, t, label, tau, t_max, gamma);
    }
}

/// The output errors `e_j = (T_j - t_j) / t_max`; returns whether any is non-zero.
pub fn output_errors(times: &[u32], label: usize, t_max: u32, gamma: u32, e: &mut [f64]) -> bool {
    let tau = times.iter().copied().min().unwrap_or(t_max);
    let mut any = false;
    for (j, (ej, &t)) in e.iter_mut().zip(times).enumerate() {
        let target = target_of(j, t, label, tau, t_max, gamma);
        *ej = (f64::from(target) - f64::from(t)) / f64::from(t_max);
        any |= target != t;
    }
    any
}

/// Divide by the L2 norm; returns false (and leaves zeros) when the vector is zero.
fn normalise(d: &mut [f64]) -> bool {
    let norm = d.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        d.iter_mut().for_each(|x| *x /= norm);
        true
    } else {
        d.iter_mut().for_each(|x| *x = 0.0);
        false
    }
}

/// Normalised deltas of every layer for the sample last run in `ws`; the true weights of layer `l`
/// are `scales[l] * w`. Returns false when the output error is zero (no update).
fn compute_deltas(
    net: &S4nnNetwork,
    ws: &mut S4nnWorkspace,
    label: usize,
    cfg: &S4nnFitConfig,
    scales: &[f64],
) -> bool {
    let t_max = net.t_max();
    let last = net.layers.len() - 1;
    output_errors(
        &ws.times[last],
        label,
        t_max,
        cfg.gamma,
        &mut ws.deltas[last],
    );
    if !normalise(&mut ws.deltas[last]) {
        return false;
    }
    for l in (1..=last).rev() {
        let layer = &net.layers[l];
        let n_out = layer.n_out;
        let (lower, upper) = ws.deltas.split_at_mut(l);
        let (d_out, d_in) = (&upper[0], &mut lower[l - 1]);
        let (t_out, t_in) = (&ws.times[l], &ws.times[l - 1]);
        let (lr, s) = (cfg.lr[l], scales[l]);
        let keep = 1.0 - lr * cfg.weight_decay[l];
        for (i, (d, &ti)) in d_in.iter_mut().zip(t_in).enumerate() {
            if ti >= t_max {
                *d = 0.0;
                continue;
            }
            let (mut a, mut b) = (0.0, 0.0);
            for ((&w, &dj), &tj) in layer.w[i * n_out..(i + 1) * n_out]
                .iter()
                .zip(d_out)
                .zip(t_out)
            {
                if ti < tj {
                    a += dj * w;
                    b += dj * dj;
                }
            }
            *d = match cfg.hidden_delta {
                HiddenDelta::Original => s * a,
                HiddenDelta::Updated => keep * s * a - lr * b,
            };
        }
        normalise(d_in);
    }
    true
}

/// `w[k][j] -= coef * delta_j` for every causal pair `t_k < t_j` with `delta_j != 0`; `w` is
/// input-major `[n_in][n_out]`, `order` the inputs sorted by time. Allocation-free once the
/// scratch vectors have capacity `n_out`.
#[allow(clippy::too_many_arguments)]
fn scatter(
    w: &mut [f64],
    n_out: usize,
    order: &[u32],
    t_in: &[u32],
    t_out: &[u32],
    delta: &[f64],
    coef: f64,
    act_j: &mut Vec<u32>,
    act_d: &mut Vec<f64>,
) {
    act_j.clear();
    act_j.extend((0..n_out as u32).filter(|&j| delta[j as usize] != 0.0));
    if act_j.is_empty() {
        return;
    }
    // Latest first: the neurons a later input still precedes form a prefix.
    act_j.sort_unstable_by_key(|&j| (std::cmp::Reverse(t_out[j as usize]), j));
    act_d.clear();
    act_d.extend(act_j.iter().map(|&j| coef * delta[j as usize]));
    let mut m = act_j.len();
    for &k in order {
        let tk = t_in[k as usize];
        while m > 0 && t_out[act_j[m - 1] as usize] <= tk {
            m -= 1;
        }
        if m == 0 {
            break;
        }
        let row = &mut w[k as usize * n_out..(k as usize + 1) * n_out];
        for (&j, &d) in act_j[..m].iter().zip(&act_d[..m]) {
            row[j as usize] -= d;
        }
    }
}

/// Apply `w_l -= coef_l * delta_l (x) mask_l` to every layer `l` for the sample in `ws` (`x`: its
/// inputs); `layers` yields `(weights or gradient buffer, n_out, coef)` per layer.
fn scatter_layers<'a>(
    ws: &mut S4nnWorkspace,
    x: &[u32],
    layers: impl Iterator<Item = (&'a mut [f64], usize, f64)>,
) {
    let S4nnWorkspace {
        times,
        order,
        n_order,
        deltas,
        act_j,
        act_d,
        ..
    } = ws;
    for (l, (w, n_out, coef)) in layers.enumerate() {
        let t_in: &[u32] = if l == 0 { x } else { &times[l - 1] };
        scatter(
            w,
            n_out,
            &order[l][..n_order[l]],
            t_in,
            &times[l],
            &deltas[l],
            coef,
            act_j,
            act_d,
        );
    }
}

/// Counters of one epoch (integers: summing them in any order gives the same result).
#[derive(Clone, Debug, Default)]
struct Tally {
    correct: usize,
    updates: usize,
    silent_out: usize,
    hidden_spikes: u64,
    /// Per hidden layer, per neuron: training samples in which it really fired.
    fired: Vec<Vec<u32>>,
}

impl Tally {
    fn new(net: &S4nnNetwork) -> Self {
        let l = net.layers.len();
        Tally {
            fired: net.layers[..l - 1]
                .iter()
                .map(|layer| vec![0; layer.n_out])
                .collect(),
            ..Tally::default()
        }
    }
    fn reset(&mut self) {
        self.correct = 0;
        self.updates = 0;
        self.silent_out = 0;
        self.hidden_spikes = 0;
        self.fired.iter_mut().for_each(|f| f.fill(0));
    }
    fn record(&mut self, ws: &S4nnWorkspace, label: usize, t_max: u32, tie: TieRule) {
        let last = ws.times.len() - 1;
        for (f, times) in self.fired.iter_mut().zip(&ws.times) {
            for (c, &t) in f.iter_mut().zip(times) {
                let fired = t < t_max;
                *c += u32::from(fired);
                self.hidden_spikes += u64::from(fired);
            }
        }
        let out = &ws.times[last];
        let winner = first_to_spike(out, &ws.v_cross[last], t_max, tie);
        self.silent_out += usize::from(out.iter().all(|&t| t >= t_max));
        self.correct += usize::from(winner == Some(label));
    }
    fn add(&mut self, other: &Tally) {
        self.correct += other.correct;
        self.updates += other.updates;
        self.silent_out += other.silent_out;
        self.hidden_spikes += other.hidden_spikes;
        for (a, b) in self.fired.iter_mut().zip(&other.fired) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
    }
}

/// Per-chunk buffers of mini-batch training.
struct ChunkState {
    ws: S4nnWorkspace,
    /// A sample's inputs with lost spikes (hardware trial noise).
    x: Vec<u32>,
    /// Per layer, input-major: the sum of this chunk's per-sample gradients.
    grad: Vec<Vec<f64>>,
    tally: Tally,
}

/// A seed for one (epoch, layer) stream, derived from the run's seed (SplitMix64 mixing).
fn stream_seed(seed: u64, epoch: usize, layer: usize) -> u64 {
    let mut z = (seed ^ 0x5344_4E4E_5245_494E)
        .wrapping_add((epoch as u64).wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add((layer as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Fold the lazy decay scales into the weights.
fn materialise(net: &mut S4nnNetwork, scales: &mut [f64]) {
    for (layer, s) in net.layers.iter_mut().zip(scales.iter_mut()) {
        if *s != 1.0 {
            layer.w.iter_mut().for_each(|w| *w *= *s);
            *s = 1.0;
        }
    }
}

/// Re-draw the incoming weights of hidden neurons that fired in fewer than `reinit_below * n`
/// samples; returns how many were re-initialised.
fn reinit_dead(
    net: &mut S4nnNetwork,
    fired: &[Vec<u32>],
    n: usize,
    cfg: &S4nnFitConfig,
    epoch: usize,
) -> usize {
    let limit = cfg.reinit_below * n as f64;
    let mut count = 0;
    for (l, f) in fired.iter().enumerate() {
        let (lo, hi) = cfg.reinit[l];
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(cfg.seed, epoch, l));
        let layer = &mut net.layers[l];
        let n_out = layer.n_out;
        for (j, &c) in f.iter().enumerate() {
            if f64::from(c) < limit {
                for k in 0..layer.n_in {
                    layer.w[k * n_out + j] = draw_uniform(&mut rng, lo, hi);
                }
                count += 1;
            }
        }
    }
    count
}

/// Train `net` in place. After every epoch `callback` receives the metrics; returning
/// `ControlFlow::Break(())` stops training after that epoch. `test` is only evaluated for the
/// history (never used for any decision).
pub fn fit(
    net: &mut S4nnNetwork,
    train: LabelledSteps,
    validation: Option<LabelledSteps>,
    test: Option<LabelledSteps>,
    cfg: &S4nnFitConfig,
    callback: &mut dyn FnMut(&S4nnEpochMetrics) -> ControlFlow<()>,
) -> Result<S4nnFitOutcome> {
    let run = Continuation::default();
    fit_from(net, train, validation, test, cfg, run, callback).map(|(outcome, _)| outcome)
}

/// [`fit`] as part of a longer run: continue from `run.resume` (its weights replace `net`'s; the
/// epochs after its `epochs_done` up to `cfg.epochs` are run), write the run's state to
/// `run.checkpoint` (atomically) after every completed epoch, and return the outcome of the epochs
/// run with the final state (see [`super::state`]). A run stopped after an epoch and resumed repeats
/// the uninterrupted run bit for bit.
pub fn fit_from(
    net: &mut S4nnNetwork,
    train: LabelledSteps,
    validation: Option<LabelledSteps>,
    test: Option<LabelledSteps>,
    cfg: &S4nnFitConfig,
    run: Continuation<'_>,
    callback: &mut dyn FnMut(&S4nnEpochMetrics) -> ControlFlow<()>,
) -> Result<(S4nnFitOutcome, TrainState)> {
    cfg.validate(net)?;
    train.check("train", net)?;
    if train.is_empty() {
        return Err(Error::shape("train", "at least one sample", 0));
    }
    if let Some(v) = validation {
        v.check("validation", net)?;
    }
    if let Some(t) = test {
        t.check("test", net)?;
    }
    let pool = pool(cfg.threads)?;
    let n = train.len();
    let n_in = net.n_inputs();
    let n_layers = net.layers.len();
    let t_max = net.t_max();
    let batch = cfg.batch_size.min(n);
    let hidden_total: usize = net.layers[..n_layers - 1].iter().map(|l| l.n_out).sum();
    let mut scales = vec![1.0; n_layers];
    let mut ws = net.workspace();
    let mut tally = Tally::new(net);
    // Per-sample SGD (the paper's), or mini-batches (always with a hardware model, whose chip is
    // drawn per batch, even when the data set is a single sample).
    let per_sample = batch == 1 && cfg.hardware.is_none();
    let mut chunks: Vec<ChunkState> = if !per_sample {
        (0..batch.div_ceil(CHUNK))
            .map(|_| ChunkState {
                ws: net.workspace(),
                x: Vec::new(),
                grad: net.layers.iter().map(|l| vec![0.0; l.w.len()]).collect(),
                tally: Tally::new(net),
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut chip = match &cfg.hardware {
        Some(h) => Some(S4nnOnChip::new(h, net)?),
        None => None,
    };
    let ones = vec![1.0; n_layers];
    // Continue a stopped run: its weights and best epoch, and the shuffles of the epochs it did
    // (each epoch shuffles the previous order).
    let (first_epoch, mut best, mut run_history) = match run.resume {
        Some(st) => state::restore(st, net, cfg.epochs)?,
        None => (0, None, Vec::new()),
    };
    if !cfg.keep_best {
        best = None; // (a state of a `keep_best` run resumed without it)
    }
    if cfg.shuffle {
        for _ in 0..first_epoch {
            order.shuffle(&mut rng);
        }
    }
    let mut history = Vec::with_capacity(cfg.epochs - first_epoch);

    for epoch in first_epoch..cfg.epochs {
        let start = Instant::now();
        // This epoch's learning rates (lr_decay^epoch) and decay factors 1 - lr lambda.
        let factor = cfg.lr_decay.powi(epoch as i32);
        let ecfg = S4nnFitConfig {
            lr: cfg.lr.iter().map(|lr| lr * factor).collect(),
            ..cfg.clone()
        };
        let keep: Vec<f64> = ecfg
            .lr
            .iter()
            .zip(&ecfg.weight_decay)
            .map(|(lr, wd)| 1.0 - lr * wd)
            .collect();
        if cfg.shuffle {
            order.shuffle(&mut rng);
        }
        tally.reset();
        if per_sample {
            for &s in &order {
                let (x, y) = train.sample(s, n_in);
                net.forward_scaled(x, &mut ws, Some(&scales));
                tally.record(&ws, y, t_max, cfg.tie);
                let nonzero = compute_deltas(net, &mut ws, y, &ecfg, &scales);
                for (s, k) in scales.iter_mut().zip(&keep) {
                    *s *= k;
                }
                if nonzero {
                    tally.updates += 1;
                    // `scales` already include this sample's decay: w -= (lr / s) delta (x) mask.
                    let layers = net.layers.iter_mut().zip(&scales).zip(&ecfg.lr);
                    scatter_layers(
                        &mut ws,
                        x,
                        layers.map(|((l, s), lr)| (l.w.as_mut_slice(), l.n_out, lr / s)),
                    );
                }
            }
        } else {
            for (b, idx) in order.chunks(batch).enumerate() {
                let net_ref: &S4nnNetwork = net;
                let scales_ref: &[f64] = &scales;
                // The hardware model: the batch runs forward on a chip (its weights are the true
                // ones, no scales); in the loop the deltas use the shadow weights, hardware-aware the
                // chip's (chained below).
                let loss = chip.as_ref().map_or(0.0, |c| c.spike_loss());
                let on_chip = match &mut chip {
                    Some(c) => {
                        let aware = c.aware();
                        Some((c.batch(net_ref, scales_ref, cfg.seed, epoch, b)?, aware))
                    }
                    None => None,
                };
                let (fwd, fwd_scales) = match on_chip {
                    Some((c, _)) => (c, None),
                    None => (net_ref, Some(scales_ref)),
                };
                let (bwd, bwd_scales) = match on_chip {
                    Some((c, true)) => (c, &ones[..]),
                    _ => (net_ref, scales_ref),
                };
                let noise_seed = stream_seed(mix(cfg.seed, 0x4857), epoch, b);
                let active = &mut chunks[..idx.len().div_ceil(CHUNK)];
                pool.install(|| {
                    active
                        .par_iter_mut()
                        .zip(idx.par_chunks(CHUNK))
                        .for_each(|(st, ids)| {
                            st.grad.iter_mut().for_each(|g| g.fill(0.0));
                            st.tally.reset();
                            for &s in ids {
                                let (x, y) = train.sample(s, n_in);
                                let x = if loss > 0.0 {
                                    // Lost input spikes never arrive (one stream per sample).
                                    let seed = mix(noise_seed, s as u64);
                                    let mut r = ChaCha8Rng::seed_from_u64(seed);
                                    st.x.clear();
                                    st.x.extend(x.iter().map(|&t| {
                                        if r.random::<f64>() < loss {
                                            t_max
                                        } else {
                                            t
                                        }
                                    }));
                                    &st.x[..]
                                } else {
                                    x
                                };
                                fwd.forward_scaled(x, &mut st.ws, fwd_scales);
                                st.tally.record(&st.ws, y, t_max, cfg.tie);
                                if compute_deltas(bwd, &mut st.ws, y, &ecfg, bwd_scales) {
                                    st.tally.updates += 1;
                                    // Accumulate the gradient: g += delta (x) mask.
                                    let layers = st.grad.iter_mut().zip(&net_ref.layers);
                                    scatter_layers(
                                        &mut st.ws,
                                        x,
                                        layers.map(|(g, l)| (g.as_mut_slice(), l.n_out, -1.0)),
                                    );
                                }
                            }
                        })
                });
                // Fixed-order reduction into the first chunk's buffers, then one step.
                let (first, rest) = chunks.split_at_mut(1);
                let used = idx.len().div_ceil(CHUNK);
                for st in &rest[..used - 1] {
                    for (a, b) in first[0].grad.iter_mut().zip(&st.grad) {
                        for (x, y) in a.iter_mut().zip(b) {
                            *x += y;
                        }
                    }
                }
                for st in &chunks[..used] {
                    tally.add(&st.tally);
                }
                if let Some(c) = &chip {
                    c.chain_gradient(&mut chunks[0].grad);
                }
                for (l, layer) in net.layers.iter_mut().enumerate() {
                    scales[l] *= keep[l];
                    let coef = ecfg.lr[l] / (scales[l] * idx.len() as f64);
                    for (w, g) in layer.w.iter_mut().zip(&chunks[0].grad[l]) {
                        *w -= coef * g;
                    }
                }
                if let Some(c) = &chip {
                    c.clamp(net, &scales);
                }
            }
        }
        materialise(net, &mut scales);
        let reinitialised = if cfg.reinit_below > 0.0 {
            reinit_dead(net, &tally.fired, n, cfg, epoch)
        } else {
            0
        };
        // Validation and test on chip `chip_seed` with a hardware model.
        let eval_net: &S4nnNetwork = match &mut chip {
            Some(c) => c.validation(net)?,
            None => net,
        };
        let eval = |d: Option<LabelledSteps>| {
            d.map(|d| pool.install(|| eval_net.evaluate_in_pool(d, cfg.tie)))
        };
        let (val, tst) = (eval(validation), eval(test));
        if let Some(v) = &val {
            let improved = match &best {
                Some((acc, _, _)) => v.accuracy > *acc,
                None => true,
            };
            if cfg.keep_best && improved {
                let snapshot = net.layers.iter().map(|l| l.w.clone()).collect();
                best = Some((v.accuracy, epoch + 1, snapshot));
            }
        }
        let metrics = S4nnEpochMetrics {
            epoch: epoch + 1,
            train_accuracy: tally.correct as f64 / n as f64,
            train_error_fraction: tally.updates as f64 / n as f64,
            hidden_spike_fraction: (hidden_total > 0)
                .then(|| tally.hidden_spikes as f64 / (n * hidden_total) as f64),
            output_silent_fraction: tally.silent_out as f64 / n as f64,
            reinitialised,
            val_accuracy: val.as_ref().map(|e| e.accuracy),
            val_accuracy_paper: val.as_ref().map(|e| e.accuracy_paper),
            test_accuracy: tst.as_ref().map(|e| e.accuracy),
            test_accuracy_paper: tst.as_ref().map(|e| e.accuracy_paper),
            seconds: start.elapsed().as_secs_f64(),
        };
        let current = || state::flat_weights(net.layers.iter().map(|l| &l.w));
        run_history.push(record(&metrics));
        write_checkpoint(&run, || {
            state::state(epoch + 1, best.as_ref(), current(), &run_history)
        })?;
        let flow = callback(&metrics);
        history.push(metrics);
        if flow.is_break() {
            break;
        }
    }
    // The network ends with the best epoch's weights; the state continues from the last ones.
    let done = history.last().map_or(first_epoch, |m| m.epoch);
    let last = state::flat_weights(net.layers.iter().map(|l| &l.w));
    let final_state = run.stamp(state::state(done, best.as_ref(), last, &run_history));
    let best_epoch = match best {
        Some((_, epoch, snapshot)) => {
            for (layer, w) in net.layers.iter_mut().zip(snapshot) {
                layer.w = w;
            }
            Some(epoch)
        }
        None => None,
    };
    Ok((
        S4nnFitOutcome {
            history,
            best_epoch,
        },
        final_state,
    ))
}
