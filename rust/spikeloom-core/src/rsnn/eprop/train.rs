//! e-prop training: per-trial gradients in parallel over fixed chunks of samples (fixed-order
//! reduction: results do not depend on the thread count), online updates at every step with the batch
//! in lock-step, the three feedback variants, the rate regulariser, and the epoch loop.

use super::config::{check_network, EpropConfig, Feedback, Mode, Optimizer, RateAverage};
use super::kernel::{run_steps, RegSpec, Weights, Workspace};
use crate::error::{Error, Result};
use crate::parallel::{with_threads, CHUNK};
use crate::rsnn::checkpoint::{run_resumable, write_checkpoint, Continuation, Resume, TrainState};
use crate::rsnn::epochs::{EpochSpec, EpochWork, Progress};
use crate::rsnn::loss::{LossKind, Target};
use crate::rsnn::network::RsnnNetwork;
use crate::rsnn::on_chip::OnChip;
use crate::rsnn::real::Real;
use crate::rsnn::train::TrialNoise;
use crate::rsnn::train::{evaluate, Data, Precision, Targets};
use crate::train::adam::{Optimizer as Opt, OptimizerKind, OptimizerState};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use serde::Serialize;
use std::ops::ControlFlow;
use std::time::Instant;

/// Loss, accuracy and spikes summed over samples.
#[derive(Clone, Debug, Default)]
pub struct EpropStats {
    pub loss: f64,
    pub correct: usize,
    pub samples: usize,
    pub spikes: f64,
}

impl EpropStats {
    fn add(&mut self, o: &EpropStats) {
        self.loss += o.loss;
        self.correct += o.correct;
        self.samples += o.samples;
        self.spikes += o.spikes;
    }
}

/// The initial feedback matrix `B` `[n_rec x n_out]` of random / adaptive e-prop (`None` for
/// symmetric), drawn from N(0, sd^2) with `sd = feedback_sd` or `1 / sqrt(n_rec)`.
pub fn initial_feedback(net: &RsnnNetwork, cfg: &EpropConfig) -> Option<Vec<f64>> {
    if cfg.feedback == Feedback::Symmetric {
        return None;
    }
    let ro = net.layout.readout.as_ref()?;
    let sd = cfg.feedback_sd.unwrap_or(1.0 / (ro.n_pre as f64).sqrt());
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x6570_726f_7066_6262);
    let d = Normal::new(0.0, sd).ok()?;
    Some((0..ro.n_pre * ro.n).map(|_| d.sample(&mut rng)).collect())
}

fn reg_spec(cfg: &EpropConfig, scale: f64) -> RegSpec {
    RegSpec {
        c: cfg.reg_rate * scale,
        target_hz: cfg.reg_target_hz,
        running: cfg.reg_average == RateAverage::Running,
    }
}

/// Add a workspace's accumulated updates into a flat gradient (the network's layout).
fn collect<F: Real>(net: &RsnnNetwork, ws: &Workspace<F>, g: &mut [F], esum: Option<&mut [F]>) {
    let o = &net.layout.layers[0];
    let ro = net.layout.readout.as_ref().expect("checked");
    let add = |dst: &mut [F], src: &[F]| {
        for (a, b) in dst.iter_mut().zip(src) {
            *a += *b;
        }
    };
    add(&mut g[o.w_in.clone()], &ws.input.g);
    add(&mut g[o.w_rec.clone()], &ws.rec.g);
    add(&mut g[o.bias.clone()], &ws.bias.g);
    add(&mut g[ro.w.clone()], &ws.g_out);
    add(&mut g[ro.bias.clone()], &ws.g_bout);
    if let Some(e) = esum {
        add(&mut e[o.w_in.clone()], &ws.input.esum);
        add(&mut e[o.w_rec.clone()], &ws.rec.esum);
        add(&mut e[o.bias.clone()], &ws.bias.esum);
    }
}

/// Zero the recurrent diagonal of a flat gradient.
fn mask_diagonal(net: &RsnnNetwork, g: &mut [f64]) {
    let o = &net.layout.layers[0];
    if !o.w_rec.is_empty() {
        for k in 0..o.n {
            g[o.w_rec.start + k * o.n + k] = 0.0;
        }
    }
}

/// The e-prop weight update direction (an estimate of the gradient of the batch-mean loss, plus the
/// rate regulariser) over `samples`, per trial, with feedback `fb` (`None` = symmetric). Time-constant
/// entries are zero; the recurrent diagonal is zero.
pub fn gradient<F: Real>(
    net: &RsnnNetwork,
    data: Data<'_>,
    samples: &[usize],
    cfg: &EpropConfig,
    fb: Option<&[f64]>,
) -> Result<(Vec<f64>, EpropStats)> {
    gradient_trial::<F>(net, data, samples, cfg, fb, None)
}

/// [`gradient`] with the forward passes run with a chip's trial `noise` (membrane noise, per-sample
/// streams: [`TrialNoise::sample_seed`]).
pub fn gradient_trial<F: Real>(
    net: &RsnnNetwork,
    data: Data<'_>,
    samples: &[usize],
    cfg: &EpropConfig,
    fb: Option<&[f64]>,
    noise: Option<TrialNoise>,
) -> Result<(Vec<f64>, EpropStats)> {
    let w = Weights::<F>::new(net, &cfg.surrogate, fb)
        .with_membrane_noise(noise.map_or(0.0, |n| n.membrane));
    let steps = data.x.n_steps;
    let window = cfg.loss.window(steps)?;
    let scale = 1.0 / samples.len().max(1) as f64;
    let batch_reg = cfg.reg_rate > 0.0 && cfg.reg_average == RateAverage::Batch;
    let reg = reg_spec(cfg, scale);
    let len = net.layout.len;
    let n = w.n;
    type Part<F> = (Vec<F>, Vec<F>, Vec<f64>, EpropStats);
    let parts: Vec<Part<F>> = with_threads(cfg.threads, || {
        samples
            .par_chunks(CHUNK)
            .map_init(Workspace::<F>::default, |ws, chunk| {
                let mut g = vec![F::zero(); len];
                let mut esum = vec![F::zero(); if batch_reg { len } else { 0 }];
                let mut counts = vec![0.0; n];
                let mut st = EpropStats::default();
                for &s in chunk {
                    ws.noise = noise.map(|n| ChaCha8Rng::seed_from_u64(n.sample_seed(s, 0)));
                    run_sample(
                        &w, data, s, cfg, window, scale, &reg, batch_reg, ws, &mut st,
                    );
                    collect(net, ws, &mut g, batch_reg.then_some(&mut esum[..]));
                    for (c, v) in counts.iter_mut().zip(&ws.counts) {
                        *c += v.f64();
                    }
                }
                (g, esum, counts, st)
            })
            .collect()
    })?;
    let mut grad = vec![0.0; len];
    let mut esum = vec![0.0; if batch_reg { len } else { 0 }];
    let mut counts = vec![0.0; n];
    let mut stats = EpropStats::default();
    for (g, e, c, st) in &parts {
        for (a, b) in grad.iter_mut().zip(g) {
            *a += b.f64();
        }
        for (a, b) in esum.iter_mut().zip(e) {
            *a += b.f64();
        }
        for (a, b) in counts.iter_mut().zip(c) {
            *a += b;
        }
        stats.add(st);
    }
    if batch_reg {
        stats.loss += batch_regulariser(net, cfg, &counts, &esum, samples.len(), steps, &mut grad);
    }
    mask_diagonal(net, &mut grad);
    Ok((grad, stats))
}

/// The batch-average regulariser: `E = c/2 sum_j (f_j - f*)^2`, `f_j` = spikes / (batch T dt); adds
/// `c (f_j - f*) sum_{b,t} e_ji / (batch T dt)` to the gradient and returns E.
fn batch_regulariser(
    net: &RsnnNetwork,
    cfg: &EpropConfig,
    counts: &[f64],
    esum: &[f64],
    batch: usize,
    steps: usize,
    grad: &mut [f64],
) -> f64 {
    let o = &net.layout.layers[0];
    let n = o.n;
    let denom = batch as f64 * steps as f64 * net.spec.dt;
    let mut loss = 0.0;
    let coef: Vec<f64> = counts
        .iter()
        .map(|c| {
            let d = c / denom - cfg.reg_target_hz;
            loss += 0.5 * cfg.reg_rate * d * d;
            cfg.reg_rate * d / denom
        })
        .collect();
    for r in [&o.w_in, &o.w_rec, &o.bias] {
        for (idx, i) in r.clone().enumerate() {
            grad[i] += coef[idx % n] * esum[i];
        }
    }
    loss
}

/// Run one whole sample through a reset workspace, accumulating its updates.
#[allow(clippy::too_many_arguments)]
fn run_sample<F: Real>(
    w: &Weights<F>,
    data: Data<'_>,
    s: usize,
    cfg: &EpropConfig,
    window: (usize, usize),
    scale: f64,
    reg: &RegSpec,
    batch_reg: bool,
    ws: &mut Workspace<F>,
    st: &mut EpropStats,
) {
    let steps = data.x.n_steps;
    let x = data.x.sample(s);
    let target = target_of(data.y, s, steps);
    ws.reset(w, batch_reg);
    run_steps(
        ws,
        w,
        x,
        0..steps,
        steps,
        &cfg.loss,
        window,
        target,
        scale,
        reg,
    );
    finish_stats(ws, target, scale, st);
}

fn finish_stats<F: Real>(ws: &Workspace<F>, target: Target<'_>, scale: f64, st: &mut EpropStats) {
    st.loss += ws.loss / scale;
    st.samples += 1;
    st.spikes += ws.counts.iter().map(|c| c.f64()).sum::<f64>();
    if let Target::Label(c) = target {
        if ws.prediction() == c {
            st.correct += 1;
        }
    }
}

fn target_of<'a>(y: &'a Targets, s: usize, steps: usize) -> Target<'a> {
    match y {
        Targets::Labels(l) => Target::Label(l[s]),
        Targets::Series { data, n_out } => {
            let w = steps * n_out;
            Target::Series(&data[s * w..(s + 1) * w])
        }
    }
}

/// The optimiser over the weights group, and the feedback matrix it keeps in step with `W_out`.
struct Updater {
    /// When set, updates are summed here instead of applied (weights frozen).
    frozen: Option<Vec<f64>>,
    /// Adam, or plain gradient descent (`Opt::Sgd`).
    opt: Opt,
    lr: f64,
    fb: Option<Vec<f64>>,
    adaptive: bool,
    decay: f64,
}

impl Updater {
    fn new(net: &RsnnNetwork, cfg: &EpropConfig) -> Self {
        let nw = net.layout.n_weights;
        Updater {
            frozen: None,
            opt: Opt::new(
                match cfg.optimizer {
                    Optimizer::Adam => OptimizerKind::Adam,
                    Optimizer::Sgd => OptimizerKind::Sgd,
                },
                nw,
                cfg.betas,
                cfg.eps,
            ),
            lr: cfg.lr,
            fb: initial_feedback(net, cfg),
            adaptive: cfg.feedback == Feedback::Adaptive,
            decay: cfg.feedback_decay,
        }
    }

    fn apply(&mut self, net: &mut RsnnNetwork, g: &[f64]) -> Result<()> {
        if let Some(i) = g.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                arg: "e-prop update".into(),
                expected: "finite updates (lower the learning rate)".into(),
                got: format!("{} at parameter {i}", g[i]),
            });
        }
        if let Some(sum) = &mut self.frozen {
            for (a, b) in sum.iter_mut().zip(g) {
                *a += b;
            }
            return Ok(());
        }
        let nw = net.layout.n_weights;
        let ro = net.layout.readout.clone().expect("checked");
        let old_out: Vec<f64> = if self.adaptive {
            net.params[ro.w.clone()].to_vec()
        } else {
            Vec::new()
        };
        self.opt.step(self.lr, &g[..nw], [&mut net.params[..nw]]);
        net.mask_diagonals();
        if self.adaptive {
            let fb = self.fb.as_mut().expect("adaptive feedback has a matrix");
            let keep = 1.0 - self.decay;
            for ((b, new), old) in fb
                .iter_mut()
                .zip(net.params[ro.w.clone()].iter_mut())
                .zip(&old_out)
            {
                *b = (*b + (*new - old)) * keep;
                *new *= keep;
            }
        }
        Ok(())
    }
}

/// Online e-prop over one batch: the samples run in lock-step and the weights are updated after
/// every step with that step's batch-mean update. Returns the batch's stats.
fn online_batch<F: Real>(
    net: &mut RsnnNetwork,
    data: Data<'_>,
    batch: &[usize],
    cfg: &EpropConfig,
    up: &mut Updater,
    works: &mut Vec<Workspace<F>>,
) -> Result<EpropStats> {
    let steps = data.x.n_steps;
    let window = cfg.loss.window(steps)?;
    let scale = 1.0 / batch.len() as f64;
    let reg = reg_spec(cfg, scale);
    let mut w = Weights::<F>::new(net, &cfg.surrogate, up.fb.as_deref());
    works.resize_with(batch.len(), Workspace::default);
    for ws in works.iter_mut() {
        ws.reset(&w, false);
    }
    let len = net.layout.len;
    for t in 0..steps {
        let wref = &w;
        let netref = &*net;
        let parts: Vec<Vec<F>> = with_threads(cfg.threads, || {
            works
                .par_chunks_mut(CHUNK)
                .zip(batch.par_chunks(CHUNK))
                .map(|(wss, ids)| {
                    let mut g = vec![F::zero(); len];
                    for (ws, &s) in wss.iter_mut().zip(ids) {
                        let target = target_of(data.y, s, steps);
                        run_steps(
                            ws,
                            wref,
                            data.x.sample(s),
                            t..t + 1,
                            steps,
                            &cfg.loss,
                            window,
                            target,
                            scale,
                            &reg,
                        );
                        collect(netref, ws, &mut g, None);
                        ws.clear_updates();
                    }
                    g
                })
                .collect()
        })?;
        let mut g = vec![0.0; len];
        for p in &parts {
            for (a, b) in g.iter_mut().zip(p) {
                *a += b.f64();
            }
        }
        mask_diagonal(net, &mut g);
        up.apply(net, &g)?;
        w.refresh(net, up.fb.as_deref());
    }
    let mut st = EpropStats::default();
    for (ws, &s) in works.iter().zip(batch) {
        finish_stats(ws, target_of(data.y, s, steps), scale, &mut st);
    }
    Ok(st)
}

/// The sum over steps of online mode's per-step updates over `samples` (one batch, run in lock-step)
/// with the weights frozen: equal to the per-trial update [`gradient`].
pub fn online_update_sum<F: Real>(
    net: &RsnnNetwork,
    data: Data<'_>,
    samples: &[usize],
    cfg: &EpropConfig,
) -> Result<(Vec<f64>, EpropStats)> {
    cfg.validate(net)?;
    data.check("data", net, &cfg.loss)?;
    let mut up = Updater::new(net, cfg);
    up.frozen = Some(vec![0.0; net.layout.len]);
    let mut copy = net.clone();
    let st = online_batch::<F>(&mut copy, data, samples, cfg, &mut up, &mut Vec::new())?;
    Ok((up.frozen.unwrap_or_default(), st))
}

/// Metrics of one epoch.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EpropEpochMetrics {
    pub epoch: usize,
    /// Optimiser steps so far (batches in per-trial mode, time steps in online mode).
    pub updates: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    /// Mean firing rate of the recurrent layer over the epoch's training samples (Hz).
    pub rate_hz: f64,
    pub seconds: f64,
}

/// Train `net` in place with e-prop. `callback` runs after each epoch; `ControlFlow::Break` stops.
pub fn fit(
    net: &mut RsnnNetwork,
    train: Data<'_>,
    validation: Option<Data<'_>>,
    cfg: &EpropConfig,
    callback: &mut dyn FnMut(&EpropEpochMetrics) -> ControlFlow<()>,
    interrupt: &dyn Fn() -> bool,
) -> Result<Vec<EpropEpochMetrics>> {
    let run = Continuation::default();
    fit_from(net, train, validation, cfg, run, callback, interrupt).map(|(h, _)| h)
}

/// [`fit`] continuing a stopped run and/or writing its state after every epoch (see
/// [`crate::rsnn::checkpoint`]; the state carries the adaptive feedback matrix and the update
/// count); returns the epochs' metrics and the state to resume from.
pub fn fit_from(
    net: &mut RsnnNetwork,
    train: Data<'_>,
    validation: Option<Data<'_>>,
    cfg: &EpropConfig,
    run: Continuation<'_>,
    callback: &mut dyn FnMut(&EpropEpochMetrics) -> ControlFlow<()>,
    interrupt: &dyn Fn() -> bool,
) -> Result<(Vec<EpropEpochMetrics>, TrainState)> {
    cfg.validate(net)?;
    train.check("train", net, &cfg.loss)?;
    if let Some(v) = validation {
        v.check("validation", net, &cfg.loss)?;
    }
    if let Some(st) = run.resume {
        st.check("resume", "eprop", net.params.len(), cfg.epochs)?;
    }
    match cfg.precision {
        Precision::F32 => fit_impl::<f32>(net, train, validation, cfg, run, callback, interrupt),
        Precision::F64 => fit_impl::<f64>(net, train, validation, cfg, run, callback, interrupt),
    }
}

fn fit_impl<F: Real>(
    net: &mut RsnnNetwork,
    train: Data<'_>,
    validation: Option<Data<'_>>,
    cfg: &EpropConfig,
    run: Continuation<'_>,
    callback: &mut dyn FnMut(&EpropEpochMetrics) -> ControlFlow<()>,
    interrupt: &dyn Fn() -> bool,
) -> Result<(Vec<EpropEpochMetrics>, TrainState)> {
    check_network(net)?;
    let mut work = EpropEpoch::<F> {
        train,
        validation,
        cfg,
        up: Updater::new(net, cfg),
        works: Vec::new(),
        updates: 0,
        run,
        hw: OnChip::for_rsnn(cfg.hardware.as_ref(), net, cfg.seed)?,
        on_chip: None,
    };
    let spec = EpochSpec::new(cfg.epochs, cfg.batch_size, cfg.seed, cfg.restore_best);
    let n = train.x.n_samples;
    run_resumable(net, spec, n, &mut work, run, callback, interrupt)
}

/// One e-prop epoch's batches (per-trial or online updates) and metrics.
struct EpropEpoch<'a, F: Real> {
    train: Data<'a>,
    validation: Option<Data<'a>>,
    cfg: &'a EpropConfig,
    up: Updater,
    works: Vec<Workspace<F>>,
    /// Weight updates so far (over all epochs).
    updates: usize,
    /// Where to write the run's state after every epoch.
    run: Continuation<'a>,
    /// The hardware model (see [`crate::rsnn::on_chip`]) and the network a batch runs on the chip.
    hw: Option<OnChip>,
    on_chip: Option<RsnnNetwork>,
}

impl<F: Real> Resume<RsnnNetwork> for EpropEpoch<'_, F> {
    fn restore(&mut self, st: &TrainState) -> Result<()> {
        self.up.opt.restore(&st.opt_w, "resume")?;
        if let Some(fb) = &mut self.up.fb {
            match st.extra("feedback") {
                Some(saved) if saved.len() == fb.len() => fb.copy_from_slice(saved),
                _ => {
                    return Err(Error::param(
                        "resume",
                        format!("a feedback matrix of {} entries", fb.len()),
                        "none of that size",
                    ))
                }
            }
        }
        self.updates = st.counter("updates").unwrap_or(0) as usize;
        Ok(())
    }

    fn state(&self, progress: Progress, params: Vec<f64>) -> TrainState {
        TrainState {
            fingerprint: None,
            method: "eprop".into(),
            progress,
            params,
            opt_w: self.up.opt.state(),
            opt_tau: OptimizerState::none(),
            extra: self
                .up
                .fb
                .iter()
                .map(|fb| ("feedback".to_string(), fb.clone()))
                .collect(),
            counters: vec![("updates".into(), self.updates as u64)],
        }
    }
}

impl<F: Real> EpochWork<RsnnNetwork> for EpropEpoch<'_, F> {
    type Stats = EpropStats;
    type Metrics = EpropEpochMetrics;

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
        total: &mut EpropStats,
    ) -> Result<()> {
        let (cfg, train) = (self.cfg, self.train);
        let st = match cfg.mode {
            Mode::PerTrial => {
                let fb = self.up.fb.as_deref();
                let (g, st) = match &mut self.hw {
                    Some(h) => h.batch_gradient(
                        epoch,
                        train,
                        batch,
                        net,
                        &mut self.on_chip,
                        |n, d, idx, noise| gradient_trial::<F>(n, d, idx, cfg, fb, noise),
                    )?,
                    None => gradient::<F>(net, train, batch, cfg, fb)?,
                };
                self.up.apply(net, &g)?;
                if let Some(h) = &self.hw {
                    h.clamp(&mut net.params);
                }
                self.updates += 1;
                st
            }
            Mode::Online => {
                self.updates += train.x.n_steps;
                online_batch::<F>(net, train, batch, cfg, &mut self.up, &mut self.works)?
            }
        };
        total.add(&st);
        Ok(())
    }

    fn finish(
        &mut self,
        net: &mut RsnnNetwork,
        epoch: usize,
        total: &EpropStats,
        start: Instant,
    ) -> Result<(EpropEpochMetrics, Option<f64>)> {
        let cfg = self.cfg;
        let steps = self.train.x.n_steps;
        let classification = cfg.loss.kind != LossKind::Mse;
        let n_rec = net.spec.layers[0].size;
        let n = total.samples.max(1) as f64;
        let mut m = EpropEpochMetrics {
            epoch,
            updates: self.updates,
            train_loss: total.loss / n,
            train_accuracy: if classification {
                total.correct as f64 / n
            } else {
                f64::NAN
            },
            rate_hz: total.spikes / (n * n_rec as f64 * steps as f64 * net.spec.dt),
            ..Default::default()
        };
        let mut score = None;
        if let Some(v) = self.validation {
            let on_chip = OnChip::validation_net(self.hw.as_ref(), &*net)?;
            let eval_net = on_chip.as_ref().unwrap_or(&*net);
            let st = evaluate::<F>(eval_net, v, &cfg.loss, &cfg.surrogate, cfg.threads)?;
            let (vl, va, sc) = st.validation(classification);
            (m.val_loss, m.val_accuracy, score) = (Some(vl), va, Some(sc));
        }
        m.seconds = start.elapsed().as_secs_f64();
        Ok((m, score))
    }
}

/// Bytes of one e-prop workspace after running `steps` steps of the first sample of `x` (the
/// per-sample memory of both modes; it does not depend on `steps`).
pub fn workspace_bytes<F: Real>(
    net: &RsnnNetwork,
    data: Data<'_>,
    cfg: &EpropConfig,
) -> Result<usize> {
    cfg.validate(net)?;
    data.check("data", net, &cfg.loss)?;
    let w = Weights::<F>::new(net, &cfg.surrogate, None);
    let steps = data.x.n_steps;
    let window = cfg.loss.window(steps)?;
    let mut ws = Workspace::<F>::default();
    let mut st = EpropStats::default();
    let batch_reg = cfg.reg_rate > 0.0 && cfg.reg_average == RateAverage::Batch;
    run_sample(
        &w,
        data,
        0,
        cfg,
        window,
        1.0,
        &reg_spec(cfg, 1.0),
        batch_reg,
        &mut ws,
        &mut st,
    );
    Ok(ws.bytes())
}
