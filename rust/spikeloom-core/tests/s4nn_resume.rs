//! An S4NN training run stopped after an epoch and resumed from its state (in memory, or through the
//! checkpoint file it wrote) repeats the uninterrupted run bit for bit: per-sample SGD and
//! mini-batches, with shuffling, a learning-rate decay, dead-neuron re-draws and best-epoch restore.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spikeloom_core::rsnn::checkpoint::{Continuation, TrainState};
use spikeloom_core::s4nn::{
    fit, fit_from, HiddenDelta, LabelledSteps, S4nnEpochMetrics, S4nnFitConfig, S4nnNetwork,
};
use std::ops::ControlFlow;

mod common;
use common::{s4nn_steps, uniform};

const T_MAX: u32 = 24;

struct Data {
    x: Vec<u32>,
    y: Vec<i64>,
    vx: Vec<u32>,
    vy: Vec<i64>,
}

fn steps(rng: &mut ChaCha8Rng, n: usize) -> Vec<u32> {
    s4nn_steps(rng, n, T_MAX)
}

fn data(seed: u64) -> Data {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (n, nv) = (60, 30);
    Data {
        x: steps(&mut rng, n * 10),
        y: (0..n).map(|_| (rng.next_u64() % 4) as i64).collect(),
        vx: steps(&mut rng, nv * 10),
        vy: (0..nv).map(|_| (rng.next_u64() % 4) as i64).collect(),
    }
}

impl Data {
    fn train(&self) -> LabelledSteps<'_> {
        LabelledSteps {
            times: &self.x,
            labels: &self.y,
        }
    }
    fn validation(&self) -> Option<LabelledSteps<'_>> {
        Some(LabelledSteps {
            times: &self.vx,
            labels: &self.vy,
        })
    }
}

/// A 10-12-4 network in which hidden neurons 0 and 5 can never fire (so they are re-drawn).
fn network(seed: u64) -> S4nnNetwork {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut w0: Vec<f64> = (0..120).map(|_| uniform(&mut rng, -1.0, 4.0)).collect();
    for j in [0usize, 5] {
        w0[j * 10..(j + 1) * 10].iter_mut().for_each(|w| *w = -50.0);
    }
    let w1: Vec<f64> = (0..48).map(|_| uniform(&mut rng, -1.0, 4.0)).collect();
    S4nnNetwork::from_weights(&[10, 12, 4], &[6.0, 5.0], &[w0, w1], T_MAX, 1).unwrap()
}

fn config(batch: usize) -> S4nnFitConfig {
    let mut cfg = S4nnFitConfig::paper(2);
    cfg.epochs = 5;
    cfg.lr = vec![0.3, 0.5];
    cfg.lr_decay = 0.8;
    cfg.weight_decay = vec![2e-3; 2];
    cfg.batch_size = batch;
    cfg.hidden_delta = HiddenDelta::Updated;
    cfg.reinit_below = 0.05;
    // Re-drawn neurons may stay dead, so re-draws happen in later epochs too.
    cfg.reinit = vec![(-3.0, 2.0), (0.0, 48.0)];
    cfg.seed = 11;
    cfg.threads = 2;
    cfg
}

fn bits(net: &S4nnNetwork) -> Vec<u64> {
    (0..2)
        .flat_map(|l| net.weights(l).unwrap())
        .map(f64::to_bits)
        .collect()
}

fn metric_bits(h: &[S4nnEpochMetrics]) -> Vec<[u64; 6]> {
    h.iter()
        .map(|m| {
            [
                m.epoch as u64,
                m.train_accuracy.to_bits(),
                m.train_error_fraction.to_bits(),
                m.hidden_spike_fraction.unwrap().to_bits(),
                m.reinitialised as u64,
                m.val_accuracy.unwrap().to_bits(),
            ]
        })
        .collect()
}

/// Run `cfg` on `net` from `resume`, stopping after `stop_after` epochs of this call (if any).
fn run(
    net: &mut S4nnNetwork,
    cfg: &S4nnFitConfig,
    d: &Data,
    resume: Option<&TrainState>,
    checkpoint: Option<&std::path::Path>,
    stop_after: Option<usize>,
) -> (Vec<S4nnEpochMetrics>, Option<usize>, TrainState) {
    let (outcome, state) = fit_from(
        net,
        d.train(),
        d.validation(),
        None,
        cfg,
        Continuation {
            resume,
            checkpoint,
            fingerprint: Some("test"),
        },
        &mut common::stop_after(stop_after),
    )
    .unwrap();
    (outcome.history, outcome.best_epoch, state)
}

fn check_resume(batch: usize) {
    let (init, cfg, d) = (network(2), config(batch), data(102));
    let mut whole = init.clone();
    let (h_whole, best_whole, st_whole) = run(&mut whole, &cfg, &d, None, None, None);
    assert_eq!(h_whole.len(), cfg.epochs);
    assert_eq!(st_whole.progress.epochs_done, cfg.epochs);
    assert_eq!(st_whole.method, "s4nn");
    // The state records every epoch's metrics but the wall-clock seconds.
    let history = &st_whole.progress.history;
    assert_eq!(history.len(), cfg.epochs);
    for (r, m) in history.iter().zip(&h_whole) {
        assert_eq!(r["epoch"], m.epoch);
        assert_eq!(r["val_accuracy"].as_f64(), m.val_accuracy);
        assert!(r.get("seconds").is_none());
    }
    assert_eq!(st_whole.fingerprint.as_deref(), Some("test"));
    // The run exercises what the state must carry: re-draws after several epochs, and a best epoch
    // before the last (so the network ends with other weights than the state's).
    assert!(
        h_whole[1..].iter().any(|m| m.reinitialised > 0),
        "{h_whole:?}"
    );
    let best = best_whole.unwrap();
    assert!(best < cfg.epochs, "best epoch {best} of {}", cfg.epochs);
    assert_ne!(st_whole.params, st_whole.progress.best.as_ref().unwrap().1);
    // `fit` is `fit_from` of a new run.
    let mut plain = init.clone();
    let outcome = fit(
        &mut plain,
        d.train(),
        d.validation(),
        None,
        &cfg,
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap();
    assert_eq!(bits(&plain), bits(&whole));
    assert_eq!(outcome.best_epoch, best_whole);

    for stop in 1..cfg.epochs {
        let dir = std::env::temp_dir().join(format!(
            "spikeloom-s4nn-resume-{}-{batch}-{stop}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("state.safetensors");
        let mut first = init.clone();
        let (h1, _, st1) = run(&mut first, &cfg, &d, None, Some(&file), Some(stop));
        assert_eq!((h1.len(), st1.progress.epochs_done), (stop, stop));
        let from_file = TrainState::load(&file).unwrap();
        assert_eq!(from_file, st1);
        for st in [&st1, &from_file] {
            // Resumed on a fresh copy of the initial network: the rest of the run, bit for bit.
            let mut second = init.clone();
            let (h2, best2, st2) = run(&mut second, &cfg, &d, Some(st), None, None);
            assert_eq!(h2.len(), cfg.epochs - stop);
            let mut h = h1.clone();
            h.extend(h2);
            assert_eq!(metric_bits(&h), metric_bits(&h_whole), "stop after {stop}");
            assert_eq!(bits(&second), bits(&whole), "stop after {stop}");
            assert_eq!(best2, best_whole);
            assert_eq!(st2, st_whole);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    // A finished run resumed for the same epochs runs nothing and keeps the best epoch's weights.
    let mut again = init.clone();
    let (h, best_again, st) = run(&mut again, &cfg, &d, Some(&st_whole), None, None);
    assert!(h.is_empty());
    assert_eq!((best_again, bits(&again)), (best_whole, bits(&whole)));
    assert_eq!(st, st_whole);
}

#[test]
fn per_sample_sgd_resumes_bit_for_bit() {
    check_resume(1);
}

#[test]
fn mini_batches_resume_bit_for_bit() {
    check_resume(7);
}

#[test]
fn foreign_or_damaged_states_are_refused_without_touching_the_network() {
    let (init, cfg, d) = (network(2), config(1), data(102));
    let mut trained = init.clone();
    let (_, _, st) = run(&mut trained, &cfg, &d, None, None, Some(2));
    let mut bad = Vec::new();
    let mut other = st.clone();
    other.method = "ttfs".into();
    bad.push((other, "s4nn run"));
    let mut other = st.clone();
    other.params.pop();
    bad.push((other, "parameters"));
    let mut other = st.clone();
    other.params[3] = f64::NAN;
    bad.push((other, "resume"));
    let mut other = st.clone();
    other.progress.epochs_done = cfg.epochs + 1;
    bad.push((other, "epochs"));
    let mut other = st.clone();
    other.counters.clear();
    bad.push((other, "best epoch"));
    for (state, what) in bad {
        let mut net = init.clone();
        let err = fit_from(
            &mut net,
            d.train(),
            None,
            None,
            &cfg,
            Continuation {
                resume: Some(&state),
                ..Default::default()
            },
            &mut |_| ControlFlow::Continue(()),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("resume") && err.contains(what),
            "{what}: {err}"
        );
        assert_eq!(net, init, "{what}: the network changed");
    }
}
