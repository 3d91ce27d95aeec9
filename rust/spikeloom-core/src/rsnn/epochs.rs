//! The epoch loop shared by the recurrent trainers (BPTT, DECOLLE, e-prop): per epoch a seeded shuffle
//! of the training samples, one call per batch, the epoch's metrics and validation score, best-epoch
//! restore, and a callback that may stop training. Each trainer supplies the batch step and the metrics.

use crate::error::Result;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::ops::ControlFlow;
use std::time::Instant;

/// The loop's settings, taken from a trainer's config.
#[derive(Clone, Copy, Debug)]
pub struct EpochSpec {
    pub epochs: usize,
    pub batch_size: usize,
    /// Epoch `e` shuffles the previous epoch's order with a stream seeded by `seed + e`.
    pub seed: u64,
    /// Keep the parameters of the epoch with the best validation score (ties: the later epoch).
    pub restore_best: bool,
}

impl EpochSpec {
    pub fn new(epochs: usize, batch_size: usize, seed: u64, restore_best: bool) -> Self {
        EpochSpec {
            epochs,
            batch_size,
            seed,
            restore_best,
        }
    }
}

/// A network whose parameters are one flat vector (what best-epoch restore copies).
pub trait FlatParams {
    fn flat_params(&mut self) -> &mut Vec<f64>;
}

impl FlatParams for super::network::RsnnNetwork {
    fn flat_params(&mut self) -> &mut Vec<f64> {
        &mut self.params
    }
}

impl FlatParams for super::decolle::DecolleNetwork {
    fn flat_params(&mut self) -> &mut Vec<f64> {
        &mut self.params
    }
}

/// How the learning rate changes from epoch to epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// StepLR: times `gamma` every `step` epochs ([`step_lr`]).
    #[default]
    Step,
    /// Linear decay towards zero over the run: `lr (1 - (epoch - 1) / epochs)` (PyTorch's
    /// `LambdaLR(lambda e: 1 - e / epochs)`, Yin et al.'s S-MNIST script).
    Linear,
}

impl LrSchedule {
    /// Learning rate of epoch `epoch` (from 1) of `epochs`; `gamma` and `step` parametrise StepLR.
    pub fn lr(self, lr: f64, gamma: f64, step: usize, epoch: usize, epochs: usize) -> f64 {
        match self {
            LrSchedule::Step => step_lr(lr, gamma, step, epoch),
            LrSchedule::Linear => lr * (1.0 - (epoch - 1) as f64 / epochs.max(1) as f64),
        }
    }
}

/// Learning rate of epoch `epoch` (from 1) under StepLR: `lr gamma^floor((epoch - 1) / step)`
/// (`step = 0`: constant).
pub fn step_lr(lr: f64, gamma: f64, step: usize, epoch: usize) -> f64 {
    let decays = (epoch - 1).checked_div(step).unwrap_or(0);
    lr * gamma.powi(decays as i32)
}

/// Where a run stands between calls of [`run_epochs_from`], so that a stopped run can be resumed: the
/// epochs completed, the best validation score so far with its parameters (under `restore_best`),
/// and, when the best parameters were put back into the network at the end, the last ones.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    pub epochs_done: usize,
    pub best: Option<(f64, Vec<f64>)>,
    /// The parameters training had reached, if the network now holds others (the best epoch's).
    pub last_params: Option<Vec<f64>>,
    /// The metrics of every completed epoch of the run, across all its calls, as JSON objects (in
    /// states written before they were recorded, only the epochs run since).
    pub history: Vec<serde_json::Value>,
}

/// An epoch's metrics as a record of [`Progress::history`]: the metrics without the wall-clock
/// `seconds`, so that the state records what the run computed, not how fast the machine was, and a
/// resumed run's state equals the uninterrupted run's byte for byte.
pub fn record(metrics: &impl serde::Serialize) -> serde_json::Value {
    // Metrics are structs of numbers, options, strings and vectors: serialising them cannot fail
    // (serde_json fails only on maps with non-string keys); non-finite numbers become null.
    let mut v = serde_json::to_value(metrics).unwrap_or(serde_json::Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.remove("seconds");
    }
    v
}

/// The work of one epoch, supplied by a trainer for its network `N`, batch statistics `S` and metrics
/// `M`.
pub trait EpochWork<N> {
    type Stats: Default;
    type Metrics: serde::Serialize;
    /// Train on one batch (sample indices), adding its statistics to `stats`.
    fn batch(
        &mut self,
        net: &mut N,
        epoch: usize,
        batch: &[usize],
        stats: &mut Self::Stats,
    ) -> Result<()>;
    /// The epoch's metrics from the accumulated statistics, including validation, and the
    /// validation score to maximise (`None` without validation data). `start` is when the epoch began.
    fn finish(
        &mut self,
        net: &mut N,
        epoch: usize,
        stats: &Self::Stats,
        start: Instant,
    ) -> Result<(Self::Metrics, Option<f64>)>;
    /// Called when an epoch has completed (`progress` counts it), before the callback: e.g. to write
    /// the run's state to a checkpoint file. Default: nothing.
    fn epoch_done(&mut self, _net: &mut N, _progress: &Progress) -> Result<()> {
        Ok(())
    }
}

/// Run the epochs over `n_samples` training samples, continuing from `progress` (epochs
/// `progress.epochs_done + 1 ..= spec.epochs`, the best epoch so far included in best-epoch restore),
/// which it updates: an epoch counts as done when all its batches ran. Returns the metrics of every
/// epoch run. `interrupt` is asked after every batch: when it returns true the epoch ends there (its
/// metrics over the batches run are kept, the callback is not called) and training stops. Epoch `e`
/// shuffles and schedules as in an uninterrupted run, so a run stopped after an epoch and resumed
/// (with the trainer's state) repeats the uninterrupted run exactly.
pub fn run_epochs_from<N: FlatParams, W: EpochWork<N>>(
    net: &mut N,
    spec: EpochSpec,
    n_samples: usize,
    work: &mut W,
    progress: &mut Progress,
    callback: &mut dyn FnMut(&W::Metrics) -> ControlFlow<()>,
    interrupt: &dyn Fn() -> bool,
) -> Result<Vec<W::Metrics>> {
    let shuffle = |order: &mut Vec<usize>, epoch: usize| {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed.wrapping_add(epoch as u64));
        order.shuffle(&mut rng);
    };
    // Each epoch shuffles the previous epoch's order: replay the epochs already done.
    let mut order: Vec<usize> = (0..n_samples).collect();
    for epoch in 1..=progress.epochs_done.min(spec.epochs) {
        shuffle(&mut order, epoch);
    }
    let mut history = Vec::new();
    progress.last_params = None;
    for epoch in progress.epochs_done + 1..=spec.epochs {
        let start = Instant::now();
        shuffle(&mut order, epoch);
        let mut stats = W::Stats::default();
        let mut stopped = false;
        for batch in order.chunks(spec.batch_size) {
            work.batch(net, epoch, batch, &mut stats)?;
            if interrupt() {
                stopped = true;
                break;
            }
        }
        let (metrics, score) = work.finish(net, epoch, &stats, start)?;
        if let (Some(score), true) = (score, spec.restore_best) {
            if progress.best.as_ref().map_or(true, |(b, _)| score >= *b) {
                progress.best = Some((score, net.flat_params().clone()));
            }
        }
        if stopped {
            history.push(metrics);
            break;
        }
        progress.epochs_done = epoch;
        progress.history.push(record(&metrics));
        work.epoch_done(net, progress)?;
        let flow = callback(&metrics);
        history.push(metrics);
        if flow.is_break() {
            break;
        }
    }
    if let Some((_, p)) = &progress.best {
        progress.last_params = Some(std::mem::replace(net.flat_params(), p.clone()));
    }
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run from the start.
    fn run_epochs<N: FlatParams, W: EpochWork<N>>(
        net: &mut N,
        spec: EpochSpec,
        n_samples: usize,
        work: &mut W,
        callback: &mut dyn FnMut(&W::Metrics) -> ControlFlow<()>,
        interrupt: &dyn Fn() -> bool,
    ) -> Result<Vec<W::Metrics>> {
        let mut progress = Progress::default();
        run_epochs_from(
            net,
            spec,
            n_samples,
            work,
            &mut progress,
            callback,
            interrupt,
        )
    }

    /// A toy trainer: the "network" is a parameter vector whose first entry counts the samples seen;
    /// the validation score peaks at epoch 2.
    struct Toy(Vec<Vec<usize>>);
    impl FlatParams for Vec<f64> {
        fn flat_params(&mut self) -> &mut Vec<f64> {
            self
        }
    }
    impl EpochWork<Vec<f64>> for Toy {
        type Stats = usize;
        type Metrics = (usize, usize);
        fn batch(
            &mut self,
            net: &mut Vec<f64>,
            _: usize,
            batch: &[usize],
            n: &mut usize,
        ) -> Result<()> {
            net[0] += batch.len() as f64;
            *n += batch.len();
            self.0.push(batch.to_vec());
            Ok(())
        }
        fn finish(
            &mut self,
            _: &mut Vec<f64>,
            epoch: usize,
            n: &usize,
            _: Instant,
        ) -> Result<((usize, usize), Option<f64>)> {
            Ok(((epoch, *n), Some(-((epoch as f64) - 2.0).abs())))
        }
    }

    #[test]
    fn epochs_shuffle_by_seed_restore_the_best_and_stop_on_request() {
        let spec = EpochSpec {
            epochs: 4,
            batch_size: 3,
            seed: 9,
            restore_best: true,
        };
        let (mut net, mut toy) = (vec![0.0], Toy(Vec::new()));
        let hist = run_epochs(
            &mut net,
            spec,
            7,
            &mut toy,
            &mut |_| ControlFlow::Continue(()),
            &|| false,
        )
        .unwrap();
        assert_eq!(hist, vec![(1, 7), (2, 7), (3, 7), (4, 7)]);
        assert_eq!(net[0], 14.0, "restored to the end of epoch 2");
        assert_eq!(toy.0.len(), 12);
        let epoch1: Vec<usize> = toy.0[..3].concat();
        let mut sorted = epoch1.clone();
        sorted.sort();
        assert_eq!(sorted, (0..7).collect::<Vec<_>>());
        let mut again = Toy(Vec::new());
        run_epochs(
            &mut vec![0.0],
            spec,
            7,
            &mut again,
            &mut |_| ControlFlow::Continue(()),
            &|| false,
        )
        .unwrap();
        assert_eq!(again.0, toy.0, "same seed, same batches");
        let mut stop = Toy(Vec::new());
        let h = run_epochs(
            &mut vec![0.0],
            spec,
            7,
            &mut stop,
            &mut |m| {
                if m.0 == 1 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
            &|| false,
        )
        .unwrap();
        assert_eq!(h.len(), 1);
        // An interrupt after the second batch ends training there: one partial epoch (6 of 7
        // samples), no callback, and the best epoch so far (that one) restored.
        let (mut net, mut cut) = (vec![0.0], Toy(Vec::new()));
        let asked = std::cell::Cell::new(0);
        let mut called = false;
        let h = run_epochs(
            &mut net,
            spec,
            7,
            &mut cut,
            &mut |_| {
                called = true;
                ControlFlow::Continue(())
            },
            &|| {
                asked.set(asked.get() + 1);
                asked.get() == 2
            },
        )
        .unwrap();
        assert_eq!(h, vec![(1, 6)]);
        assert!(!called);
        assert_eq!(net[0], 6.0);
        assert_eq!(step_lr(1.0, 0.5, 2, 5), 0.25);
        assert_eq!(step_lr(1.0, 0.5, 0, 5), 1.0);
    }
}
