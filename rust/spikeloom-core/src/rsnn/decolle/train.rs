//! DECOLLE training: per-sample local gradients in parallel over fixed chunks of samples with a
//! fixed-order reduction (results never depend on the thread count), the two update modes, the
//! optimisers and the epoch loop.
//!
//! The objective of one sample is `J = sum_l (1/W) sum_{t in window} L_l(t)` (the local losses of
//! every layer, averaged over the `W` steps of the window `[burn_in, steps)`); a batch's objective is
//! the mean of `J` over its samples.
//!
//! - Per-sequence (`online = false`): the gradient of the batch objective, accumulated over the
//!   window, then one optimiser step per batch.
//! - Online (`online = true`, DECOLLE's `online_update`): the batch's samples run in lockstep; after
//!   every step of the window, the gradient of that step's share of the batch objective (a sum over
//!   the batch, reduced in chunk order) drives one optimiser step, and the next step runs with the
//!   new weights. With plain SGD and a small learning rate both modes move the weights by the same
//!   amount to first order.

// Index loops walk several per-neuron arrays in step; iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use super::forward::{record_sample, Drive, LayerRecord, Model, State};
use super::loss::{local_gradient, LocalLoss, LossScratch};
use super::network::DecolleNetwork;
use crate::error::{Error, Result};
use crate::parallel::{with_threads, CHUNK};
use crate::rsnn::checkpoint::{run_resumable, write_checkpoint, Continuation, Resume, TrainState};
use crate::rsnn::epochs::{step_lr, EpochSpec, EpochWork, Progress};
use crate::rsnn::input::{SampleInput, Sequences};
use crate::rsnn::loss::argmax;
use crate::rsnn::on_chip::OnChip;
use crate::rsnn::real::Real;
use crate::rsnn::surrogate::Surrogate;
use crate::rsnn::train::{Data, Precision, Targets};
pub use crate::train::adam::OptimizerKind;
use crate::train::adam::{Optimizer, OptimizerState};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;
use std::time::Instant;

fn default_surrogate() -> Surrogate {
    Surrogate::FastSigmoid {
        slope: 10.0,
        scale: 1.0,
    }
}
fn default_eps() -> f64 {
    1e-8
}
fn default_gamma() -> f64 {
    1.0
}
fn default_true() -> bool {
    true
}

/// Everything a DECOLLE run needs besides the network and the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecolleConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    #[serde(default)]
    pub optimizer: OptimizerKind,
    /// Adam/Adamax betas; `None` = (0, 0.95) for Adamax (DECOLLE), (0.9, 0.999) for Adam.
    #[serde(default)]
    pub betas: Option<(f64, f64)>,
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// StepLR: the learning rate times `lr_gamma` every `lr_step` epochs (0 = never).
    #[serde(default)]
    pub lr_step: usize,
    #[serde(default = "default_gamma")]
    pub lr_gamma: f64,
    #[serde(default)]
    pub loss: LocalLoss,
    /// Steps at the start of each sequence run without loss (and without updates).
    #[serde(default)]
    pub burn_in: usize,
    /// An optimiser step after every step of the window (true) or once per batch (false).
    #[serde(default = "default_true")]
    pub online: bool,
    #[serde(default = "default_surrogate")]
    pub surrogate: Surrogate,
    #[serde(default)]
    pub precision: Precision,
    #[serde(default)]
    pub seed: u64,
    /// Worker threads (0 = all cores). Results do not depend on it.
    #[serde(default)]
    pub threads: usize,
    /// Restore the parameters of the epoch with the best validation accuracy at the end.
    #[serde(default)]
    pub restore_best: bool,
    /// Train on a hardware model (per-batch updates only, `online = false`): every batch runs on a
    /// chip (in the loop: chip `chip_seed`; hardware-aware: a fresh one, the gradient chained to
    /// the shadow weights through the quantiser). DECOLLE's local gradients involve only the
    /// trajectory and the fixed local readouts, which the chip does not change, so in the loop the
    /// chip's gradient is the ideal model's at the chip's trajectory. Validation runs on chip
    /// `chip_seed`. None = ideal training.
    #[serde(default)]
    pub hardware: Option<crate::hardware::HardwareTraining>,
}

impl DecolleConfig {
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::param("epochs", "at least 1", 0));
        }
        if self.batch_size == 0 {
            return Err(Error::param("batch_size", "at least 1", 0));
        }
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return Err(Error::param("lr", "a finite value >= 0", self.lr));
        }
        let (b1, b2) = self.betas();
        for (name, b) in [("betas[0]", b1), ("betas[1]", b2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::param(name, "a value in [0, 1)", b));
            }
        }
        crate::error::ensure_positive("eps", self.eps)?;
        crate::error::ensure_positive("lr_gamma", self.lr_gamma)?;
        if let Some(h) = &self.hardware {
            h.spec.validate_for_params()?;
            h.spec.no_membrane_noise("DECOLLE training")?;
            if self.online {
                return Err(Error::param(
                    "online",
                    "false with a hardware model (the chip's parameters are drawn per batch)",
                    true,
                ));
            }
        }
        self.surrogate.validate()
    }

    /// The betas in use (the optimiser's default when unset).
    pub fn betas(&self) -> (f64, f64) {
        self.betas.unwrap_or(match self.optimizer {
            OptimizerKind::Adamax => (0.0, 0.95),
            _ => (0.9, 0.999),
        })
    }
}

/// Check a data set against the network: channels, one label per sample, a window that fits.
pub fn check_data(arg: &str, net: &DecolleNetwork, data: Data<'_>, burn_in: usize) -> Result<()> {
    data.x
        .check_channels(&format!("{arg}.x"), net.spec.n_inputs)?;
    let labels = match data.y {
        Targets::Labels(l) => l,
        Targets::Series { .. } => {
            return Err(Error::param(
                format!("{arg}.y"),
                "class labels [samples] (DECOLLE's targets are one-hot labels)",
                "regression targets",
            ))
        }
    };
    if labels.len() != data.x.n_samples {
        return Err(Error::shape(
            format!("{arg}.y"),
            format!("{} labels (one per sample)", data.x.n_samples),
            labels.len(),
        ));
    }
    if let Some(&c) = labels.iter().find(|&&c| c >= net.spec.n_outputs) {
        return Err(Error::param(
            format!("{arg}.y"),
            format!("labels in 0..{}", net.spec.n_outputs),
            c,
        ));
    }
    if burn_in >= data.x.n_steps {
        return Err(Error::param(
            "burn_in",
            format!("fewer steps than the sequences have ({})", data.x.n_steps),
            burn_in,
        ));
    }
    Ok(())
}

fn label(data: Data<'_>, s: usize) -> usize {
    match data.y {
        Targets::Labels(l) => l[s],
        Targets::Series { .. } => 0,
    }
}

/// Summed results of a set of samples.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub loss: f64,
    pub samples: usize,
    /// Correct predictions of each layer's readout (the last one is the network's).
    pub correct: Vec<usize>,
    /// Spikes per layer, summed over samples and steps.
    pub spikes: Vec<f64>,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.loss += o.loss;
        self.samples += o.samples;
        let nl = self.correct.len().max(o.correct.len());
        self.correct.resize(nl, 0);
        self.spikes.resize(nl, 0.0);
        for (a, b) in self.correct.iter_mut().zip(&o.correct) {
            *a += b;
        }
        for (a, b) in self.spikes.iter_mut().zip(&o.spikes) {
            *a += b;
        }
    }

    /// Accuracy of the network (its last layer's readout).
    pub fn accuracy(&self) -> f64 {
        self.correct.last().copied().unwrap_or(0) as f64 / self.samples.max(1) as f64
    }

    pub fn layer_accuracy(&self) -> Vec<f64> {
        let n = self.samples.max(1) as f64;
        self.correct.iter().map(|c| *c as f64 / n).collect()
    }

    /// Mean firing rate of each layer (Hz).
    pub fn rates_hz(&self, net: &DecolleNetwork, steps: usize) -> Vec<f64> {
        let n = self.samples.max(1) as f64;
        let seconds = steps as f64 * net.spec.dt;
        (self.spikes.iter().zip(&net.spec.sizes))
            .map(|(s, &size)| s / (n * size as f64) / seconds)
            .collect()
    }
}

/// The constants of a pass over a set of samples.
#[derive(Clone, Copy, Debug)]
struct Pass {
    loss: LocalLoss,
    burn_in: usize,
    /// `1 / W`: a step's share of a sample's objective.
    inv_window: f64,
    /// Factor of the loss gradient (`1 / (batch W)`).
    grad_scale: f64,
    drive: Drive,
}

/// One sample in flight: its state and running sums.
#[derive(Clone, Debug, Default)]
struct SampleRun<F: Real> {
    state: State<F>,
    loss: f64,
    /// Readouts summed over the window, `[layers x n_outputs]`.
    sums: Vec<f64>,
    spikes: Vec<f64>,
    e: Vec<F>,
    delta: Vec<F>,
    scratch: LossScratch,
}

impl<F: Real> SampleRun<F> {
    fn start(&mut self, m: &Model<F>) {
        self.state.reset(m);
        self.loss = 0.0;
        let nl = m.layout.layers.len();
        self.sums.clear();
        self.sums.resize(nl * m.layout.n_outputs, 0.0);
        self.spikes.clear();
        self.spikes.resize(nl, 0.0);
        self.e.resize(m.layout.n_outputs, F::zero());
    }

    /// Step `t`: advance, and inside the window add the losses and (with `grad`) the local gradients.
    fn step(
        &mut self,
        m: &Model<F>,
        x: SampleInput<'_>,
        t: usize,
        c: usize,
        pass: &Pass,
        mut grad: Option<&mut [F]>,
    ) {
        self.state.step(m, x, t, pass.drive);
        let no = m.layout.n_outputs;
        for (l, s) in self.state.layers.iter().enumerate() {
            self.spikes[l] += s.val.iter().map(|v| v.f64()).sum::<f64>();
            if t < pass.burn_in {
                continue;
            }
            for k in 0..no {
                self.sums[l * no + k] += s.y[k].f64();
            }
            let e = &mut self.e;
            let loss = pass
                .loss
                .eval(&s.y, c, pass.grad_scale, e, &mut self.scratch);
            self.loss += loss * pass.inv_window;
            if let Some(g) = grad.as_deref_mut() {
                local_gradient(m, l, s, &self.e, &mut self.delta, g);
            }
        }
    }

    /// Add this finished sample to `st`.
    fn finish(&self, no: usize, c: usize, st: &mut Stats) {
        let nl = self.spikes.len();
        st.loss += self.loss;
        st.samples += 1;
        st.correct.resize(nl, 0);
        st.spikes.resize(nl, 0.0);
        for l in 0..nl {
            if argmax(&self.sums[l * no..(l + 1) * no]) == c {
                st.correct[l] += 1;
            }
            st.spikes[l] += self.spikes[l];
        }
    }

    /// A whole sample with fixed weights.
    fn run(&mut self, m: &Model<F>, data: Data<'_>, s: usize, pass: &Pass, grad: Option<&mut [F]>) {
        self.start(m);
        let (x, c) = (data.x.sample(s), label(data, s));
        let mut grad = grad;
        for t in 0..data.x.n_steps {
            self.step(m, x, t, c, pass, grad.as_deref_mut());
        }
    }
}

fn pass(loss: LocalLoss, burn_in: usize, steps: usize, batch: usize, drive: Drive) -> Pass {
    let w = (steps - burn_in) as f64;
    Pass {
        loss,
        burn_in,
        inv_window: 1.0 / w,
        grad_scale: 1.0 / (batch.max(1) as f64 * w),
        drive,
    }
}

fn reduce<F: Real>(parts: &[(Vec<F>, Stats)], len: usize) -> (Vec<f64>, Stats) {
    let mut grad = vec![0.0; len];
    let mut stats = Stats::default();
    for (g, st) in parts {
        for (a, b) in grad.iter_mut().zip(g) {
            *a += b.f64();
        }
        stats.add(st);
    }
    (grad, stats)
}

/// Mean objective over `samples` of `data` and its local gradient (trainable values only), with the
/// weights fixed over each sequence. Parallel over fixed chunks, reduced in chunk order.
pub fn gradient<F: Real>(
    net: &DecolleNetwork,
    data: Data<'_>,
    samples: &[usize],
    cfg: &DecolleConfig,
) -> Result<(Vec<f64>, Stats)> {
    let m = Model::<F>::new(net, &cfg.surrogate);
    let p = pass(
        cfg.loss,
        cfg.burn_in,
        data.x.n_steps,
        samples.len(),
        Drive::Events,
    );
    let len = net.layout.n_trainable;
    let parts: Vec<(Vec<F>, Stats)> = with_threads(cfg.threads, || {
        samples
            .par_chunks(CHUNK)
            .map_init(SampleRun::<F>::default, |run, chunk| {
                let mut g = vec![F::zero(); len];
                let mut st = Stats::default();
                for &s in chunk {
                    run.run(&m, data, s, &p, Some(&mut g));
                    run.finish(m.layout.n_outputs, label(data, s), &mut st);
                }
                (g, st)
            })
            .collect()
    })?;
    Ok(reduce(&parts, len))
}

/// Objective (summed over samples), accuracies and spike counts over `data`, without gradient.
/// `surrogate` only matters when it is `smooth_sigmoid` (graded spikes).
pub fn evaluate<F: Real>(
    net: &DecolleNetwork,
    data: Data<'_>,
    loss: LocalLoss,
    burn_in: usize,
    surrogate: &Surrogate,
    threads: usize,
) -> Result<Stats> {
    check_data("data", net, data, burn_in)?;
    surrogate.validate()?;
    let m = Model::<F>::new(net, surrogate);
    let p = pass(loss, burn_in, data.x.n_steps, 1, Drive::Events);
    let idx: Vec<usize> = (0..data.x.n_samples).collect();
    let parts: Vec<Stats> = with_threads(threads, || {
        idx.par_chunks(CHUNK)
            .map_init(SampleRun::<F>::default, |run, chunk| {
                let mut st = Stats::default();
                for &s in chunk {
                    run.run(&m, data, s, &p, None);
                    run.finish(m.layout.n_outputs, label(data, s), &mut st);
                }
                st
            })
            .collect()
    })?;
    let mut st = Stats::default();
    for p in &parts {
        st.add(p);
    }
    Ok(st)
}

/// The optimiser in use; refuses non-finite gradients.
struct Optim(Optimizer);

impl Optim {
    fn new(cfg: &DecolleConfig, n: usize) -> Self {
        Optim(Optimizer::new(cfg.optimizer, n, cfg.betas(), cfg.eps))
    }

    /// One update of `params` (the trainable part) with `grad`; refuses non-finite gradients.
    fn step(&mut self, lr: f64, grad: &[f64], params: &mut [f64], epoch: usize) -> Result<()> {
        if let Some(i) = grad.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                arg: "gradient".into(),
                expected: "finite gradients (lower the learning rate)".into(),
                got: format!("{} at parameter {i} in epoch {epoch}", grad[i]),
            });
        }
        self.0.step(lr, grad, [params]);
        Ok(())
    }
}

/// The samples of one chunk in flight during an online batch, with the chunk's gradient buffer.
struct ChunkRun<F: Real> {
    runs: Vec<SampleRun<F>>,
    grad: Vec<F>,
}

/// One online batch: the samples advance in lockstep; after each window step, one optimiser step
/// with that step's gradient (reduced over fixed chunks in order). Runs inside the caller's pool.
fn online_batch<F: Real>(
    net: &mut DecolleNetwork,
    data: Data<'_>,
    batch: &[usize],
    cfg: &DecolleConfig,
    opt: &mut Optim,
    lr: f64,
    epoch: usize,
) -> Result<Stats> {
    let mut m = Model::<F>::new(net, &cfg.surrogate);
    let steps = data.x.n_steps;
    let p = pass(cfg.loss, cfg.burn_in, steps, batch.len(), Drive::Traces);
    let nt = net.layout.n_trainable;
    let chunks: Vec<&[usize]> = batch.chunks(CHUNK).collect();
    let mut flight: Vec<ChunkRun<F>> = chunks
        .iter()
        .map(|c| ChunkRun {
            runs: (0..c.len())
                .map(|_| {
                    let mut r = SampleRun::default();
                    r.start(&m);
                    r
                })
                .collect(),
            grad: vec![F::zero(); nt],
        })
        .collect();
    let mut g = vec![0.0; nt];
    for t in 0..steps {
        let train = t >= cfg.burn_in;
        let model = &m;
        flight
            .par_iter_mut()
            .zip(chunks.par_iter())
            .for_each(|(cr, chunk)| {
                cr.grad.iter_mut().for_each(|v| *v = F::zero());
                for (run, &s) in cr.runs.iter_mut().zip(chunk.iter()) {
                    let grad = train.then_some(&mut cr.grad[..]);
                    run.step(model, data.x.sample(s), t, label(data, s), &p, grad);
                }
            });
        if train {
            g.iter_mut().for_each(|v| *v = 0.0);
            for cr in &flight {
                for (a, b) in g.iter_mut().zip(&cr.grad) {
                    *a += b.f64();
                }
            }
            opt.step(lr, &g, &mut net.params[..nt], epoch)?;
            m.refresh(&net.params);
        }
    }
    let mut st = Stats::default();
    for (cr, chunk) in flight.iter().zip(&chunks) {
        let mut part = Stats::default();
        for (run, &s) in cr.runs.iter().zip(chunk.iter()) {
            run.finish(m.layout.n_outputs, label(data, s), &mut part);
        }
        st.add(&part);
    }
    Ok(st)
}

/// Metrics of one epoch.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DecolleEpochMetrics {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    /// Training accuracy of each layer's readout.
    pub train_layer_accuracy: Vec<f64>,
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    pub val_layer_accuracy: Option<Vec<f64>>,
    /// Mean firing rate of each layer over the epoch's training samples (Hz).
    pub rates_hz: Vec<f64>,
    pub lr: f64,
    pub seconds: f64,
}

/// Train `net` in place. `callback` runs after each epoch; `ControlFlow::Break` stops.
pub fn fit(
    net: &mut DecolleNetwork,
    train: Data<'_>,
    validation: Option<Data<'_>>,
    cfg: &DecolleConfig,
    callback: &mut dyn FnMut(&DecolleEpochMetrics) -> ControlFlow<()>,
    interrupt: &dyn Fn() -> bool,
) -> Result<Vec<DecolleEpochMetrics>> {
    let run = Continuation::default();
    fit_from(net, train, validation, cfg, run, callback, interrupt).map(|(h, _)| h)
}

/// [`fit`] continuing a stopped run and/or writing its state after every epoch (see
/// [`crate::rsnn::checkpoint`]); returns the epochs' metrics and the state to resume from.
pub fn fit_from(
    net: &mut DecolleNetwork,
    train: Data<'_>,
    validation: Option<Data<'_>>,
    cfg: &DecolleConfig,
    run: Continuation<'_>,
    callback: &mut dyn FnMut(&DecolleEpochMetrics) -> ControlFlow<()>,
    interrupt: &dyn Fn() -> bool,
) -> Result<(Vec<DecolleEpochMetrics>, TrainState)> {
    cfg.validate()?;
    check_data("train", net, train, cfg.burn_in)?;
    if let Some(v) = validation {
        check_data("validation", net, v, cfg.burn_in)?;
    }
    if let Some(st) = run.resume {
        st.check("resume", "decolle", net.params.len(), cfg.epochs)?;
    }
    match cfg.precision {
        Precision::F32 => fit_impl::<f32>(net, train, validation, cfg, run, callback, interrupt),
        Precision::F64 => fit_impl::<f64>(net, train, validation, cfg, run, callback, interrupt),
    }
}

fn fit_impl<F: Real>(
    net: &mut DecolleNetwork,
    train: Data<'_>,
    validation: Option<Data<'_>>,
    cfg: &DecolleConfig,
    run: Continuation<'_>,
    callback: &mut dyn FnMut(&DecolleEpochMetrics) -> ControlFlow<()>,
    interrupt: &dyn Fn() -> bool,
) -> Result<(Vec<DecolleEpochMetrics>, TrainState)> {
    let mut work = DecolleEpoch::<F> {
        train,
        validation,
        cfg,
        opt: Optim::new(cfg, net.layout.n_trainable),
        run,
        hw: OnChip::new(
            cfg.hardware.as_ref(),
            net.layout.tensors(),
            net.params.len(),
            net.spec.dt,
            cfg.seed,
        )?,
        on_chip: None,
        _f: std::marker::PhantomData,
    };
    let spec = EpochSpec::new(cfg.epochs, cfg.batch_size, cfg.seed, cfg.restore_best);
    let n = train.x.n_samples;
    run_resumable(net, spec, n, &mut work, run, callback, interrupt)
}

/// One DECOLLE epoch's batches (per-sequence or online updates) and metrics.
struct DecolleEpoch<'a, F> {
    train: Data<'a>,
    validation: Option<Data<'a>>,
    cfg: &'a DecolleConfig,
    opt: Optim,
    /// Where to write the run's state after every epoch.
    run: Continuation<'a>,
    /// The hardware model (see [`crate::rsnn::on_chip`]) and the network a batch runs on the chip.
    hw: Option<OnChip>,
    on_chip: Option<DecolleNetwork>,
    _f: std::marker::PhantomData<F>,
}

impl<F: Real> Resume<DecolleNetwork> for DecolleEpoch<'_, F> {
    fn restore(&mut self, st: &TrainState) -> Result<()> {
        self.opt.0.restore(&st.opt_w, "resume")
    }

    fn state(&self, progress: Progress, params: Vec<f64>) -> TrainState {
        TrainState {
            fingerprint: None,
            method: "decolle".into(),
            progress,
            params,
            opt_w: self.opt.0.state(),
            opt_tau: OptimizerState::none(),
            extra: Vec::new(),
            counters: Vec::new(),
        }
    }
}

impl<F: Real> EpochWork<DecolleNetwork> for DecolleEpoch<'_, F> {
    type Stats = Stats;
    type Metrics = DecolleEpochMetrics;

    fn epoch_done(&mut self, net: &mut DecolleNetwork, progress: &Progress) -> Result<()> {
        write_checkpoint(&self.run, || {
            self.state(progress.clone(), net.params.clone())
        })
    }

    fn batch(
        &mut self,
        net: &mut DecolleNetwork,
        epoch: usize,
        batch: &[usize],
        total: &mut Stats,
    ) -> Result<()> {
        let (cfg, train) = (self.cfg, self.train);
        let lr = step_lr(cfg.lr, cfg.lr_gamma, cfg.lr_step, epoch);
        let st = if cfg.online {
            let o = &mut self.opt;
            with_threads(cfg.threads, || {
                online_batch::<F>(net, train, batch, cfg, o, lr, epoch)
            })??
        } else {
            let nt = net.layout.n_trainable;
            let (g, st) = match &mut self.hw {
                Some(h) => h.batch_gradient(
                    epoch,
                    train,
                    batch,
                    net,
                    &mut self.on_chip,
                    |n, d, idx, _noise| gradient::<F>(n, d, idx, cfg),
                )?,
                None => gradient::<F>(net, train, batch, cfg)?,
            };
            self.opt.step(lr, &g, &mut net.params[..nt], epoch)?;
            if let Some(h) = &self.hw {
                h.clamp(&mut net.params);
            }
            st
        };
        total.add(&st);
        Ok(())
    }

    fn finish(
        &mut self,
        net: &mut DecolleNetwork,
        epoch: usize,
        total: &Stats,
        start: Instant,
    ) -> Result<(DecolleEpochMetrics, Option<f64>)> {
        let cfg = self.cfg;
        let n = total.samples.max(1) as f64;
        let mut metrics = DecolleEpochMetrics {
            epoch,
            train_loss: total.loss / n,
            train_accuracy: total.accuracy(),
            train_layer_accuracy: total.layer_accuracy(),
            rates_hz: total.rates_hz(net, self.train.x.n_steps),
            lr: step_lr(cfg.lr, cfg.lr_gamma, cfg.lr_step, epoch),
            ..Default::default()
        };
        let mut score = None;
        if let Some(v) = self.validation {
            let on_chip = OnChip::validation_net(self.hw.as_ref(), &*net)?;
            let eval_net = on_chip.as_ref().unwrap_or(&*net);
            let st = evaluate::<F>(
                eval_net,
                v,
                cfg.loss,
                cfg.burn_in,
                &cfg.surrogate,
                cfg.threads,
            )?;
            let va = st.accuracy();
            metrics.val_loss = Some(st.loss / st.samples.max(1) as f64);
            metrics.val_accuracy = Some(va);
            metrics.val_layer_accuracy = Some(st.layer_accuracy());
            score = Some(va);
        }
        metrics.seconds = start.elapsed().as_secs_f64();
        Ok((metrics, score))
    }
}

/// Run every sample of `x` with fixed weights and record each layer's spikes, membrane and readout
/// (in sample order). Memory grows with samples x steps x neurons: for recording, not training.
pub fn record<F: Real>(
    net: &DecolleNetwork,
    x: &Sequences,
    surrogate: &Surrogate,
    threads: usize,
) -> Result<Vec<Vec<LayerRecord<F>>>> {
    x.check_channels("x", net.spec.n_inputs)?;
    surrogate.validate()?;
    let m = Model::<F>::new(net, surrogate);
    with_threads(threads, || {
        (0..x.n_samples)
            .into_par_iter()
            .map(|s| record_sample(&m, x.sample(s)))
            .collect()
    })
}
