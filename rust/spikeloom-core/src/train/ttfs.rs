//! The training loop for exact time-to-first-spike networks: Göltz et al. (2021), the default, and
//! Comsa et al. (2020) ([`Method::Comsa`]: alpha-function loss, trainable pulse times, no-spike
//! penalty, derivative clipping; see [`super::comsa`]).
//!
//! Mini-batches of a seeded shuffle; the samples of a batch run in parallel in fixed chunks of
//! [`CHUNK`] samples, each chunk with its own workspace and gradient buffer; the chunk buffers are
//! added in chunk order, so the trained weights are bit-identical for any thread count.
//!
//! Weight bumping (the paper's remedy for silent neurons): after the forward pass of a batch, if in
//! some layer the fraction of (sample, neuron) pairs without a spike exceeds `max_missing[layer]`,
//! the gradient step is skipped and `bump` is added to every incoming weight (bias weights included)
//! of that layer's neurons that were silent for at least one sample of the batch. Only the first
//! offending layer is bumped (hidden layers are checked before the output layer). The bump doubles
//! for consecutive bumps of the same layer (`bump_exponential`) and starts again from its initial
//! value after a normal step or a bump of another layer.
//!
//! Comsa et al.'s method (no bumping): a sample contributes its gradient if it is misclassified, or
//! always with `update_all_datapoints`; the summed gradient is divided by the number of contributing
//! samples of the batch (no step when there are none), weights and pulse times take Adam steps with
//! separate states and learning rates, and pulse times are clamped to >= 0 after each step.

use super::adam::EpsPlacement;
use super::comsa::{ComsaLoss, ComsaSettings};
use super::ttfs_state::{flat_params, Carried};
use super::{first_to_spike, Optimizer, TtfsLoss};
use crate::engine::ttfs::{BackwardOptions, BackwardStats};
use crate::engine::{Network, Workspace};
use crate::error::{ensure_positive, Error, Result};
use crate::hardware::forward::{evaluate_one, mix, ChipNetwork};
use crate::hardware::{chip_forward, Chip, ChipScratch, HardwareMode, HardwareTraining};
use crate::parallel::{pool, with_threads, CHUNK};
use crate::rsnn::checkpoint::{write_checkpoint, Continuation, TrainState};
use crate::rsnn::epochs::record;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;
use std::time::Instant;

/// Input spike times `[n, n_inputs]` (row-major, +inf = no spike) with integer labels.
#[derive(Clone, Copy, Debug)]
pub struct LabelledTimes<'a> {
    pub times: &'a [f64],
    pub labels: &'a [i64],
}

impl LabelledTimes<'_> {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    fn check(&self, arg: &str, net: &Network) -> Result<()> {
        net.check_inputs(&format!("{arg}.times"), self.times, self.labels.len())?;
        let n_out = net.n_outputs() as i64;
        if let Some(i) = self.labels.iter().position(|&y| y < 0 || y >= n_out) {
            return Err(Error::param(
                format!("{arg}.labels"),
                format!("integers in 0..{n_out} (one per output neuron)"),
                format!("{} at index {i}", self.labels[i]),
            ));
        }
        Ok(())
    }
    fn sample(&self, i: usize, n_in: usize) -> (&[f64], usize) {
        (
            &self.times[i * n_in..(i + 1) * n_in],
            self.labels[i] as usize,
        )
    }
}

/// Hyper-parameters of one training run. Defaults are the Yin-Yang settings of the paper.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Multiply the learning rate by `lr_gamma` every `lr_step` epochs.
    pub lr_step: usize,
    pub lr_gamma: f64,
    pub adam_beta1: f64,
    pub adam_beta2: f64,
    pub adam_eps: f64,
    pub loss: TtfsLoss,
    /// Per (sample, neuron) clipping threshold on |dL/dw| of the batch-mean loss (paper: 0.2): the
    /// neuron's contribution for that sample is dropped when exceeded.
    pub max_dw_norm: f64,
    /// Per layer: tolerated fraction of silent (sample, neuron) pairs before bumping.
    pub max_missing: Vec<f64>,
    /// Initial bump added to silent neurons' incoming weights (paper: 5e-4).
    pub bump: f64,
    pub bump_exponential: bool,
    /// Standard deviation of Gaussian input-time noise during training (same unit as times; 0 = off).
    /// Noisy times are reflected at 0 (|t|), as in the reference.
    pub input_noise: f64,
    pub seed: u64,
    /// Worker threads (0 = one per core). Results do not depend on it.
    pub threads: usize,
    /// The training method; default Göltz et al. (the fields above all apply to it).
    #[serde(default)]
    pub method: Method,
    /// Where Adam adds eps (default: PyTorch's convention, outside the square root).
    #[serde(default)]
    pub adam_eps_placement: EpsPlacement,
    /// After training, restore the network of the epoch with the best validation accuracy (the
    /// latest on ties, as Comsa et al.'s reference). Needs a validation set; default off.
    #[serde(default)]
    pub restore_best: bool,
    /// Train with a hardware model in the forward pass (hardware-aware or hardware-in-the-loop, see
    /// [`crate::hardware`]); None = ideal training.
    #[serde(default)]
    pub hardware: Option<HardwareTraining>,
}

/// The training method of [`fit`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Göltz et al. (2021): [`TtfsLoss`], chopping (`max_dw_norm`), weight bumping.
    #[default]
    Goltz,
    /// Comsa et al. (2020): see [`super::comsa`]. `loss`, `max_dw_norm`, `max_missing` and `bump` of
    /// the config are not used.
    Comsa(ComsaSettings),
}

/// The loss a network is evaluated with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Objective {
    Goltz(TtfsLoss),
    Comsa(ComsaLoss),
}

impl Objective {
    fn validate(&self) -> Result<()> {
        match self {
            Objective::Goltz(l) => l.validate(),
            Objective::Comsa(l) => l.validate(),
        }
    }
    /// Loss of one sample's output times; writes dL/dt to `grad`.
    #[inline]
    pub fn loss_and_grad(&self, t: &[f64], label: usize, grad: &mut [f64]) -> f64 {
        match self {
            Objective::Goltz(l) => l.loss_and_grad(t, label, grad),
            Objective::Comsa(l) => l.loss_and_grad(t, label, grad),
        }
    }
}

impl FitConfig {
    /// The paper's Yin-Yang configuration for `n_layers` layers with the given tau_syn.
    pub fn yin_yang(tau_syn: f64, n_layers: usize) -> Self {
        let mut max_missing = vec![0.3; n_layers];
        max_missing[n_layers - 1] = 0.0;
        FitConfig {
            epochs: 300,
            batch_size: 150,
            lr: 0.005,
            lr_step: 20,
            lr_gamma: 0.95,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_eps: 1e-8,
            loss: TtfsLoss {
                xi: 0.2,
                alpha: 0.005,
                beta: 1.0,
                tau_syn,
            },
            max_dw_norm: 0.2,
            max_missing,
            bump: 5e-4,
            bump_exponential: true,
            input_noise: 0.0,
            seed: 0,
            threads: 0,
            method: Method::Goltz,
            adam_eps_placement: EpsPlacement::Outside,
            restore_best: false,
            hardware: None,
        }
    }

    /// Comsa et al.'s training for `n_layers` layers: batch 32, 100 epochs, constant learning rate
    /// `lr`, Adam (0.9, 0.999, eps 1e-8 inside the root), best validation epoch restored.
    pub fn comsa(n_layers: usize, lr: f64, settings: ComsaSettings) -> Self {
        FitConfig {
            epochs: 100,
            batch_size: 32,
            lr,
            lr_step: 1,
            lr_gamma: 1.0,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_eps: 1e-8,
            loss: TtfsLoss {
                xi: 1.0,
                alpha: 0.0,
                beta: 1.0,
                tau_syn: settings.time_unit,
            },
            max_dw_norm: f64::INFINITY,
            max_missing: vec![1.0; n_layers],
            bump: 0.0,
            bump_exponential: false,
            input_noise: 0.0,
            seed: 0,
            threads: 0,
            method: Method::Comsa(settings),
            adam_eps_placement: EpsPlacement::Inside,
            restore_best: true,
            hardware: None,
        }
    }

    /// The loss this configuration trains (and validates) with.
    pub fn objective(&self) -> Objective {
        match &self.method {
            Method::Goltz => Objective::Goltz(self.loss),
            Method::Comsa(c) => Objective::Comsa(c.loss()),
        }
    }

    fn validate(&self, net: &Network) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::param("batch_size", "an integer >= 1", 0));
        }
        if self.lr_step == 0 {
            return Err(Error::param("lr_step", "an integer >= 1", 0));
        }
        ensure_positive("lr", self.lr)?;
        ensure_positive("lr_gamma", self.lr_gamma)?;
        for (name, b) in [
            ("adam_beta1", self.adam_beta1),
            ("adam_beta2", self.adam_beta2),
        ] {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::param(name, "a value in [0, 1)", b));
            }
        }
        ensure_positive("adam_eps", self.adam_eps)?;
        match &self.method {
            Method::Goltz => {
                ensure_positive("max_dw_norm", self.max_dw_norm)?;
                self.loss.validate()?;
            }
            Method::Comsa(c) => c.validate()?,
        }
        let n_layers = net.layers().len();
        if self.max_missing.len() != n_layers {
            return Err(Error::shape(
                "max_missing",
                format!("one fraction per layer ({n_layers})"),
                self.max_missing.len(),
            ));
        }
        if let Some(m) = self.max_missing.iter().find(|m| !(0.0..=1.0).contains(*m)) {
            return Err(Error::param("max_missing", "fractions in [0, 1]", m));
        }
        if !(self.bump.is_finite() && self.bump >= 0.0) {
            return Err(Error::param("bump", "a finite value >= 0", self.bump));
        }
        if let Some(h) = &self.hardware {
            h.spec.validate()?;
        }
        if !(self.input_noise.is_finite() && self.input_noise >= 0.0) {
            return Err(Error::param(
                "input_noise",
                "a finite standard deviation >= 0",
                self.input_noise,
            ));
        }
        Ok(())
    }
}

/// Metrics of one epoch, handed to the progress callback and returned as the history.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (computed during training).
    pub train_loss: f64,
    /// Training accuracy over the epoch (computed during training, before each batch's update).
    pub train_accuracy: f64,
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    pub lr: f64,
    /// Batches whose step was replaced by weight bumping.
    pub bumps: usize,
    /// (sample, neuron) gradients dropped by clipping or tangential crossings.
    pub chopped: usize,
    /// Wall time of the epoch (training and validation), seconds.
    pub seconds: f64,
}

/// Loss and accuracy of a network on a labelled set.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    /// Per sample: index of the first output to spike, -1 if none spiked.
    pub predictions: Vec<i64>,
}

/// Per-chunk buffers for training.
struct ChunkState {
    ws: Workspace,
    /// Comsa method: one workspace per sample position of the chunk (the chunk's backward pass runs
    /// neuron by neuron over all its samples, see `Network::backward_chunk`).
    wss: Vec<Workspace>,
    /// Comsa method: which positions contribute a gradient.
    active: Vec<bool>,
    grad: Vec<f64>,
    /// dL/dt of the bias spikes (Comsa method with trainable pulses).
    bias_grad: Vec<f64>,
    /// Samples that contributed a gradient (Comsa method).
    contributing: usize,
    /// Per layer, per neuron: samples of this chunk in which the neuron was silent.
    silent: Vec<Vec<usize>>,
    x: Vec<f64>,
    /// Buffers of the hardware model's neuron-by-neuron path.
    scratch: ChipScratch,
    loss: f64,
    correct: usize,
    stats: BackwardStats,
}

impl ChunkState {
    fn new(net: &Network, per_sample: bool) -> Self {
        let n = if per_sample { CHUNK } else { 0 };
        ChunkState {
            ws: net.workspace(),
            wss: (0..n).map(|_| net.workspace()).collect(),
            active: vec![false; n],
            grad: vec![0.0; net.n_weights()],
            bias_grad: vec![0.0; net.n_bias()],
            contributing: 0,
            silent: net.layers().iter().map(|l| vec![0; l.n_out]).collect(),
            x: vec![0.0; net.n_inputs()],
            scratch: ChipScratch::default(),
            loss: 0.0,
            correct: 0,
            stats: BackwardStats::default(),
        }
    }
}

/// Mean loss and accuracy (first output spike decides; no output spike = wrong), in parallel.
pub fn evaluate(
    net: &Network,
    data: LabelledTimes,
    loss: &TtfsLoss,
    threads: usize,
) -> Result<Evaluation> {
    evaluate_objective(net, data, &Objective::Goltz(*loss), threads)
}

/// [`evaluate`] with any loss (e.g. Comsa et al.'s).
pub fn evaluate_objective(
    net: &Network,
    data: LabelledTimes,
    loss: &Objective,
    threads: usize,
) -> Result<Evaluation> {
    data.check("data", net)?;
    loss.validate()?;
    with_threads(threads, || evaluate_in_pool(net, data, loss))
}

fn evaluate_in_pool(net: &Network, data: LabelledTimes, loss: &Objective) -> Evaluation {
    let n = data.len();
    let n_in = net.n_inputs();
    let mut predictions = vec![-1i64; n];
    let mut losses = vec![0.0; n];
    predictions
        .par_chunks_mut(CHUNK)
        .zip(losses.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each_init(
            || (net.workspace(), vec![0.0; net.n_outputs()]),
            |(ws, g), (c, (pred, ls))| {
                for (i, (p, l)) in pred.iter_mut().zip(ls.iter_mut()).enumerate() {
                    let (x, y) = data.sample(c * CHUNK + i, n_in);
                    net.forward(x, ws);
                    let out = ws.outputs.last().expect("a network has layers");
                    *l = loss.loss_and_grad(out, y, g);
                    *p = first_to_spike(out).map_or(-1, |k| k as i64);
                }
            },
        );
    let correct = predictions
        .iter()
        .zip(data.labels)
        .filter(|(p, y)| *p == *y)
        .count();
    Evaluation {
        loss: if n > 0 {
            losses.iter().sum::<f64>() / n as f64
        } else {
            f64::NAN
        },
        accuracy: if n > 0 {
            correct as f64 / n as f64
        } else {
            f64::NAN
        },
        predictions,
    }
}

/// Train `net` in place for `cfg.epochs` epochs. After every epoch `callback` receives the metrics;
/// returning `ControlFlow::Break(())` stops training after that epoch (weights are kept).
pub fn fit(
    net: &mut Network,
    train: LabelledTimes,
    validation: Option<LabelledTimes>,
    cfg: &FitConfig,
    callback: &mut dyn FnMut(&EpochMetrics) -> ControlFlow<()>,
) -> Result<Vec<EpochMetrics>> {
    fit_from(
        net,
        train,
        validation,
        cfg,
        Continuation::default(),
        callback,
    )
    .map(|(history, _)| history)
}

/// [`fit`] continuing from `run.resume` (a state of the same method and network size: its
/// parameters replace `net`'s and the epochs after its `epochs_done` run), writing the run's state to
/// `run.checkpoint` (atomically) after every completed epoch; returns the history of the epochs run
/// and the final state. A run stopped after an epoch and resumed repeats the uninterrupted run bit
/// for bit (the shuffles of the epochs done are replayed; everything else is in the state).
pub fn fit_from(
    net: &mut Network,
    train: LabelledTimes,
    validation: Option<LabelledTimes>,
    cfg: &FitConfig,
    run: Continuation<'_>,
    callback: &mut dyn FnMut(&EpochMetrics) -> ControlFlow<()>,
) -> Result<(Vec<EpochMetrics>, TrainState)> {
    cfg.validate(net)?;
    train.check("train", net)?;
    if train.is_empty() {
        return Err(Error::shape("train", "at least one sample", 0));
    }
    if let Some(v) = validation {
        v.check("validation", net)?;
    } else if cfg.restore_best {
        return Err(Error::param(
            "restore_best",
            "a validation set to pick the best epoch",
            "no validation set",
        ));
    }
    let pool = pool(cfg.threads)?;
    fit_with_pool(&pool, net, train, validation, cfg, run, callback)
}

/// The epoch loop runs on the caller's thread (so `callback` may touch thread-bound state, such as
/// a Python interpreter); only the per-batch work runs inside `pool`.
fn fit_with_pool(
    pool: &rayon::ThreadPool,
    net: &mut Network,
    train: LabelledTimes,
    validation: Option<LabelledTimes>,
    cfg: &FitConfig,
    run: Continuation<'_>,
    callback: &mut dyn FnMut(&EpochMetrics) -> ControlFlow<()>,
) -> Result<(Vec<EpochMetrics>, TrainState)> {
    let n = train.len();
    let n_in = net.n_inputs();
    let n_layers = net.layers().len();
    let batch = cfg.batch_size.min(n);
    let is_comsa = matches!(cfg.method, Method::Comsa(_));
    let mut chunks: Vec<ChunkState> = (0..batch.div_ceil(CHUNK))
        .map(|_| ChunkState::new(net, is_comsa))
        .collect();
    let mut grad = vec![0.0; net.n_weights()];
    let comsa = match &cfg.method {
        Method::Goltz => None,
        Method::Comsa(c) => Some((c, comsa_backward_options(c))),
    };
    let mut bias_grad = vec![0.0; net.n_bias()];
    let objective = cfg.objective();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let noise = if cfg.input_noise > 0.0 {
        Some(
            Normal::new(0.0, cfg.input_noise)
                .map_err(|e| Error::param("input_noise", "a valid sd", e))?,
        )
    } else {
        None
    };
    let mut history = Vec::with_capacity(cfg.epochs);
    // Hardware model: the chip of in-the-loop training (and of validation in both modes).
    let hw = cfg.hardware.as_ref();
    let fixed_chip = match hw {
        Some(h) => Some(Chip::sample(&h.spec, net, h.chip_seed)?),
        None => None,
    };
    let mut chain: Vec<f64> = Vec::new();
    // With a limited weight range the shadow weights are kept inside it after every update: a weight
    // beyond the range has no effect on the chip and no gradient (straight-through derivative 0), so
    // it could only drift (e.g. under repeated bumping of neurons the range keeps silent).
    let shadow_range = match hw {
        Some(h) => h.spec.weight_range.filter(|r| r.is_finite()),
        None => None,
    };

    // Continue a stopped run: its parameters, optimiser moments, best epoch and bumping state, and
    // the shuffles of the epochs it completed (each epoch shuffles the previous order).
    let mut carry = Carried::new(net, cfg);
    if let Some(st) = run.resume {
        carry.restore(st, net, cfg)?;
        for _ in 0..carry.epochs_done {
            order.shuffle(&mut rng);
        }
    }

    let first_epoch = carry.epochs_done;
    for epoch in first_epoch..cfg.epochs {
        let start = Instant::now();
        let lr = cfg.lr * cfg.lr_gamma.powi((epoch / cfg.lr_step) as i32);
        order.shuffle(&mut rng);
        let (mut loss_sum, mut correct, mut bumps, mut chopped) = (0.0, 0usize, 0usize, 0usize);
        for (b, idx) in order.chunks(batch).enumerate() {
            let batch_seed = noise.map(|_| stream_seed(cfg.seed, epoch, b));
            let chip_net =
                batch_chip(hw, fixed_chip.as_ref(), net, cfg.seed, epoch, b, &mut chain)?;
            let chip = chip_net.as_ref().map(|cn| {
                (
                    cn,
                    stream_seed(mix(cfg.seed, 0x4857), epoch, b),
                    hw.map(|h| h.mode),
                )
            });
            let net_ref: &Network = net;
            let inv_batch = 1.0 / idx.len() as f64;
            let active = &mut chunks[..idx.len().div_ceil(CHUNK)];
            pool.install(|| {
                active
                    .par_iter_mut()
                    .zip(idx.par_chunks(CHUNK))
                    .enumerate()
                    .for_each(|(c, (st, ids))| {
                        if comsa.is_none() {
                            // (The Comsa backward pass overwrites the chunk gradient row by row.)
                            st.grad.iter_mut().for_each(|g| *g = 0.0);
                        }
                        st.silent
                            .iter_mut()
                            .for_each(|s| s.iter_mut().for_each(|v| *v = 0));
                        st.loss = 0.0;
                        st.correct = 0;
                        st.stats = BackwardStats::default();
                        if let Some((cs, opts)) = &comsa {
                            st.bias_grad.iter_mut().for_each(|g| *g = 0.0);
                            st.contributing = 0;
                            let noise = noise.zip(batch_seed);
                            comsa_chunk(net_ref, st, train, ids, (cs, opts), noise, c, chip);
                            return;
                        }
                        for (i, &s) in ids.iter().enumerate() {
                            let (x, y) = train.sample(s, n_in);
                            st.x.copy_from_slice(x);
                            if let (Some(dist), Some(seed)) = (noise, batch_seed) {
                                // One stream per (epoch, batch, position): independent of thread count.
                                let mut r = ChaCha8Rng::seed_from_u64(
                                    seed ^ ((c * CHUNK + i) as u64)
                                        .wrapping_mul(0x9E37_79B9_7F4A_7C15),
                                );
                                for t in st.x.iter_mut().filter(|t| t.is_finite()) {
                                    *t = (*t + dist.sample(&mut r)).abs();
                                }
                            }
                            match chip {
                                Some((cn, trial, _)) => {
                                    let mut r = ChaCha8Rng::seed_from_u64(mix(
                                        trial,
                                        (c * CHUNK + i) as u64,
                                    ));
                                    chip_forward(cn, &st.x, &mut st.ws, &mut st.scratch, &mut r);
                                }
                                None => net_ref.forward(&st.x, &mut st.ws),
                            }
                            for (l, out) in st.ws.outputs.iter().enumerate() {
                                for (k, t) in out.iter().enumerate() {
                                    st.silent[l][k] += usize::from(!t.is_finite());
                                }
                            }
                            let last = st.ws.deltas.len() - 1;
                            let out = &st.ws.outputs[last];
                            st.correct += usize::from(first_to_spike(out) == Some(y));
                            st.loss += cfg.loss.loss_and_grad(out, y, &mut st.ws.deltas[last]);
                            // Gradient of the batch-mean loss: clipping compares this sample's share of
                            // the batch gradient with max_dw_norm, as the reference does.
                            st.ws.deltas[last].iter_mut().for_each(|d| *d *= inv_batch);
                            // Aware: through the chip's effective network; in the loop: the ideal
                            // model at the chip's spike times and the shadow weights.
                            let backward_net = match chip {
                                Some((cn, _, Some(HardwareMode::Aware))) => &cn.effective,
                                _ => net_ref,
                            };
                            let s =
                                backward_net.backward(&mut st.ws, &mut st.grad, cfg.max_dw_norm);
                            st.stats.chopped += s.chopped;
                            st.stats.tangential += s.tangential;
                        }
                    })
            });
            let used = &chunks[..idx.len().div_ceil(CHUNK)];
            if let Some((c, _)) = &comsa {
                for st in used {
                    loss_sum += st.loss;
                    correct += st.correct;
                    chopped += st.stats.chopped + st.stats.tangential;
                }
                let contributing = reduce_bias_grads(used, &mut bias_grad);
                pool.install(|| {
                    reduce_par(used, &mut grad);
                    apply_chain(hw, &chain, &mut grad);
                    comsa_step(
                        net,
                        c,
                        contributing,
                        (&mut grad, &mut carry.adam, lr),
                        (&mut bias_grad, &mut carry.pulse_adam),
                    );
                    net.update_layers_par(|layers| clamp_shadow(layers, shadow_range));
                });
                continue;
            }
            // Fixed-order reduction.
            grad.iter_mut().for_each(|g| *g = 0.0);
            for st in used {
                for (g, s) in grad.iter_mut().zip(&st.grad) {
                    *g += s;
                }
                loss_sum += st.loss;
                correct += st.correct;
                chopped += st.stats.chopped + st.stats.tangential;
            }
            apply_chain(hw, &chain, &mut grad);
            // Weight bumping for silent neurons: hidden layers first, then the output layer.
            let bumped_layer = (0..n_layers).find(|&l| {
                let n_out = net.layers()[l].n_out;
                let silent: usize = used
                    .iter()
                    .map(|st| st.silent[l].iter().sum::<usize>())
                    .sum();
                silent as f64 / (idx.len() * n_out) as f64 > cfg.max_missing[l]
            });
            if let Some(l) = bumped_layer {
                carry.bump_value = if cfg.bump_exponential && carry.last_bumped == Some(l) {
                    carry.bump_value * 2.0
                } else {
                    cfg.bump
                };
                net.update_layers(|layers| {
                    let layer = &mut layers[l];
                    let width = layer.width();
                    for (k, row) in layer.weights.chunks_mut(width).enumerate() {
                        if used.iter().any(|st| st.silent[l][k] > 0) {
                            row.iter_mut().for_each(|w| *w += carry.bump_value);
                        }
                    }
                    clamp_shadow(layers, shadow_range);
                });
                carry.last_bumped = Some(l);
                bumps += 1;
                continue;
            }
            carry.last_bumped = None;
            net.update_layers(|layers| {
                carry.adam.step(
                    lr,
                    &grad,
                    layers.iter_mut().map(|l| l.weights.as_mut_slice()),
                );
                clamp_shadow(layers, shadow_range);
            });
        }
        let (val_loss, val_accuracy) = match (validation, &fixed_chip) {
            (Some(v), Some(chip)) => {
                // On the chip of the run (one trial per sample).
                let cn = chip.network(net)?;
                let e = pool.install(|| {
                    evaluate_one(&cn, chip.seed, mix(cfg.seed, epoch as u64), v, &objective)
                });
                (Some(e.loss), Some(e.accuracy))
            }
            (Some(v), None) => {
                let e = pool.install(|| evaluate_in_pool(net, v, &objective));
                (Some(e.loss), Some(e.accuracy))
            }
            (None, _) => (None, None),
        };
        if cfg.restore_best {
            if let Some(acc) = val_accuracy {
                if carry.best.as_ref().map_or(true, |(b, _)| acc >= *b) {
                    carry.best = Some((acc, net.clone()));
                }
            }
        }
        let metrics = EpochMetrics {
            epoch: epoch + 1,
            train_loss: loss_sum / n as f64,
            train_accuracy: correct as f64 / n as f64,
            val_loss,
            val_accuracy,
            lr,
            bumps,
            chopped,
            seconds: start.elapsed().as_secs_f64(),
        };
        carry.epochs_done = epoch + 1;
        carry.history.push(record(&metrics));
        write_checkpoint(&run, || carry.state(net, None))?;
        let flow = callback(&metrics);
        history.push(metrics);
        if flow.is_break() {
            break;
        }
    }
    // The network ends with the best epoch's parameters; the state continues from the last ones.
    let last = carry.best.as_ref().map(|_| flat_params(net));
    if let Some((_, best_net)) = &carry.best {
        *net = best_net.clone();
    }
    let state = run.stamp(carry.state(net, last));
    Ok((history, state))
}

/// The backward options of Comsa et al.'s method.
fn comsa_backward_options(c: &ComsaSettings) -> BackwardOptions {
    BackwardOptions {
        max_dw_norm: f64::INFINITY,
        clip_derivative: c.clip_derivative.unwrap_or(f64::INFINITY),
        clip_gradient: c.clip_gradient.unwrap_or(f64::INFINITY),
        time_unit: c.time_unit,
        silent_penalty: c.penalty_no_spike,
        bias_times: c.train_pulses,
        fast_gradient: true,
    }
}

/// Forward pass, loss and gradient of the samples `ids` of chunk number `chunk` for Comsa et al.'s
/// method: each sample runs forward in its own workspace, then one backward pass covers the
/// contributing samples neuron by neuron. Does not allocate. With `chip`, samples run on the batch's
/// chip (see [`batch_chip`]).
#[allow(clippy::too_many_arguments)]
fn comsa_chunk(
    net: &Network,
    st: &mut ChunkState,
    data: LabelledTimes,
    ids: &[usize],
    (c, opts): (&ComsaSettings, &BackwardOptions),
    noise: Option<(Normal<f64>, u64)>,
    chunk: usize,
    chip: Option<BatchChip>,
) {
    let n_in = net.n_inputs();
    let loss = c.loss();
    for (i, &s) in ids.iter().enumerate() {
        let (x, y) = data.sample(s, n_in);
        st.x.copy_from_slice(x);
        if let Some((dist, seed)) = noise {
            // One stream per (epoch, batch, position): independent of thread count.
            let mut r = ChaCha8Rng::seed_from_u64(
                seed ^ ((chunk * CHUNK + i) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            for t in st.x.iter_mut().filter(|t| t.is_finite()) {
                *t = (*t + dist.sample(&mut r)).abs();
            }
        }
        let ws = &mut st.wss[i];
        match chip {
            Some((cn, trial, _)) => {
                let mut r = ChaCha8Rng::seed_from_u64(mix(trial, (chunk * CHUNK + i) as u64));
                chip_forward(cn, &st.x, ws, &mut st.scratch, &mut r);
            }
            None => net.forward(&st.x, ws),
        }
        for (l, out) in ws.outputs.iter().enumerate() {
            for (k, t) in out.iter().enumerate() {
                st.silent[l][k] += usize::from(!t.is_finite());
            }
        }
        let last = ws.deltas.len() - 1;
        let out = &ws.outputs[last];
        let correct = first_to_spike(out) == Some(y);
        st.correct += usize::from(correct);
        st.loss += loss.loss_and_grad(out, y, &mut ws.deltas[last]);
        st.active[i] = !correct || c.update_all_datapoints;
        st.contributing += usize::from(st.active[i]);
    }
    let n = ids.len();
    let backward_net = match chip {
        Some((cn, _, Some(HardwareMode::Aware))) => &cn.effective,
        _ => net,
    };
    let stats = backward_net.backward_chunk(&mut st.wss[..n], &st.active[..n], &mut st.grad, opts);
    st.stats.tangential += stats.tangential;
    if opts.bias_times {
        for (ws, _) in st.wss[..n].iter().zip(&st.active).filter(|(_, a)| **a) {
            for (g, d) in st.bias_grad.iter_mut().zip(&ws.bias_deltas) {
                *g += d;
            }
        }
    }
}

/// Elements per parallel work item of the Comsa step (reduction, Adam, transposition).
const BLOCK: usize = 1 << 12;

/// `grad = sum of the chunks' gradients`, chunk after chunk for every element (the same order as the
/// serial reduction), element blocks in parallel in the current rayon pool.
fn reduce_par(used: &[ChunkState], grad: &mut [f64]) {
    grad.par_chunks_mut(BLOCK).enumerate().for_each(|(b, g)| {
        g.iter_mut().for_each(|x| *x = 0.0);
        let range = b * BLOCK..b * BLOCK + g.len();
        for st in used {
            for (x, s) in g.iter_mut().zip(&st.grad[range.clone()]) {
                *x += s;
            }
        }
    });
}

/// Sum the chunks' bias-time gradients in chunk order; returns the number of contributing samples.
fn reduce_bias_grads(used: &[ChunkState], bias_grad: &mut [f64]) -> usize {
    bias_grad.iter_mut().for_each(|g| *g = 0.0);
    let mut contributing = 0;
    for st in used {
        for (g, s) in bias_grad.iter_mut().zip(&st.bias_grad) {
            *g += s;
        }
        contributing += st.contributing;
    }
    contributing
}

/// One optimiser step of Comsa et al.'s method from summed gradients: both are divided by the number
/// of contributing samples (no step if there are none); pulse times take their step in time units
/// (`lr_pulses` is per time unit, so the SI step is `time_unit` times larger and the gradient, dL/dt in
/// 1/unit, `time_unit` times smaller) and are clamped to >= 0. Element-wise work runs in the current
/// rayon pool (bit-identical for any thread count).
fn comsa_step(
    net: &mut Network,
    c: &ComsaSettings,
    contributing: usize,
    (grad, adam, lr): (&mut [f64], &mut Optimizer, f64),
    (bias_grad, pulse_adam): (&mut [f64], &mut Optimizer),
) {
    if contributing == 0 {
        return;
    }
    let inv = 1.0 / contributing as f64;
    grad.par_chunks_mut(BLOCK)
        .for_each(|g| g.iter_mut().for_each(|x| *x *= inv));
    net.update_layers_par(|layers| {
        adam.step_par(
            lr,
            grad,
            layers.iter_mut().map(|l| l.weights.as_mut_slice()),
            BLOCK,
        );
        if c.train_pulses && !bias_grad.is_empty() {
            bias_grad.iter_mut().for_each(|g| *g *= c.time_unit * inv);
            pulse_adam.step(
                c.lr_pulses * c.time_unit,
                bias_grad,
                layers.iter_mut().map(|l| l.bias_times.as_mut_slice()),
            );
            for layer in layers.iter_mut() {
                layer.bias_times.iter_mut().for_each(|t| *t = t.max(0.0));
            }
        }
    });
}

/// Gradients of Comsa et al.'s method over a labelled set, exactly as one training step sees them.
#[derive(Clone, Debug, PartialEq)]
pub struct ComsaGradients {
    /// Mean loss over all samples.
    pub loss: f64,
    /// Fraction of samples whose first output spike is the label.
    pub accuracy: f64,
    /// Samples that contributed (all, or the misclassified ones).
    pub contributing: usize,
    /// dL/dW (flat, layer after layer), summed over contributing samples and divided by their number.
    pub weights: Vec<f64>,
    /// dL/dt of every bias spike (flat, layer after layer; 1 / time unit of the network), averaged the
    /// same way. Zeros unless `train_pulses`.
    pub bias_times: Vec<f64>,
}

/// The averaged gradient Comsa et al.'s method would step on for the samples `data` (one batch),
/// computed with the training loop's own per-sample code, in fixed chunks (bit-identical for any
/// thread count).
pub fn comsa_gradients(
    net: &Network,
    data: LabelledTimes,
    settings: &ComsaSettings,
    threads: usize,
) -> Result<ComsaGradients> {
    settings.validate()?;
    data.check("data", net)?;
    if data.is_empty() {
        return Err(Error::shape("data", "at least one sample", 0));
    }
    let opts = comsa_backward_options(settings);
    let n = data.len();
    let ids: Vec<usize> = (0..n).collect();
    // A fixed group of chunk buffers is reused; chunk results are added in chunk order, so the sums
    // are those of one pass over all chunks.
    const GROUP: usize = 8;
    let mut chunks: Vec<ChunkState> = (0..n.div_ceil(CHUNK).min(GROUP))
        .map(|_| ChunkState::new(net, true))
        .collect();
    let mut weights = vec![0.0; net.n_weights()];
    let mut bias_times = vec![0.0; net.n_bias()];
    let (mut loss, mut correct, mut contributing) = (0.0, 0usize, 0usize);
    let pool = pool(threads)?;
    for (g, group) in ids.chunks(CHUNK * GROUP).enumerate() {
        let used = &mut chunks[..group.len().div_ceil(CHUNK)];
        pool.install(|| {
            used.par_iter_mut()
                .zip(group.par_chunks(CHUNK))
                .enumerate()
                .for_each(|(c, (st, ids))| {
                    st.bias_grad.iter_mut().for_each(|x| *x = 0.0);
                    (st.loss, st.correct, st.contributing) = (0.0, 0, 0);
                    comsa_chunk(
                        net,
                        st,
                        data,
                        ids,
                        (settings, &opts),
                        None,
                        g * GROUP + c,
                        None,
                    )
                })
        });
        for st in used.iter() {
            for (x, s) in weights.iter_mut().zip(&st.grad) {
                *x += s;
            }
            for (x, s) in bias_times.iter_mut().zip(&st.bias_grad) {
                *x += s;
            }
            loss += st.loss;
            correct += st.correct;
            contributing += st.contributing;
        }
    }
    if contributing > 0 {
        let inv = 1.0 / contributing as f64;
        weights.iter_mut().for_each(|g| *g *= inv);
        bias_times.iter_mut().for_each(|g| *g *= inv);
    }
    Ok(ComsaGradients {
        loss: loss / n as f64,
        accuracy: correct as f64 / n as f64,
        contributing,
        weights,
        bias_times,
    })
}

/// A seed for the noise of one (epoch, batch), derived from the run's seed (SplitMix64 mixing).
pub(crate) fn stream_seed(seed: u64, epoch: usize, batch: usize) -> u64 {
    let mut z = seed
        .wrapping_add((epoch as u64).wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add((batch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A batch's chip: its network, the seed of its trial noise, and the training mode.
type BatchChip<'a> = (&'a ChipNetwork, u64, Option<HardwareMode>);

/// The chip a batch runs on: in the loop, the run's chip; hardware-aware, a fresh instance per batch
/// (its straight-through chain d w_eff / d w written to `chain`). None without a hardware model.
fn batch_chip(
    hw: Option<&HardwareTraining>,
    fixed: Option<&Chip>,
    net: &Network,
    seed: u64,
    epoch: usize,
    batch: usize,
    chain: &mut Vec<f64>,
) -> Result<Option<ChipNetwork>> {
    let (Some(h), Some(fixed)) = (hw, fixed) else {
        return Ok(None);
    };
    match h.mode {
        HardwareMode::InTheLoop => Ok(Some(fixed.network(net)?)),
        HardwareMode::Aware => {
            let chip = Chip::sample(
                &h.spec,
                net,
                crate::hardware::aware_chip_seed(h.chip_seed, seed, epoch, batch),
            )?;
            chip.chain(net, chain);
            Ok(Some(chip.network(net)?))
        }
    }
}

/// Hardware-aware training: dL/dw = dL/dw_eff * d w_eff / d w (straight through the quantiser).
fn apply_chain(hw: Option<&HardwareTraining>, chain: &[f64], grad: &mut [f64]) {
    if let Some(HardwareTraining {
        mode: HardwareMode::Aware,
        ..
    }) = hw
    {
        grad.iter_mut().zip(chain).for_each(|(g, c)| *g *= c);
    }
}

/// Clip every weight to `[-range, range]` (no-op without a range).
fn clamp_shadow(layers: &mut [crate::engine::Layer], range: Option<f64>) {
    if let Some(r) = range {
        for l in layers.iter_mut() {
            l.weights.iter_mut().for_each(|w| *w = w.clamp(-r, r));
        }
    }
}
