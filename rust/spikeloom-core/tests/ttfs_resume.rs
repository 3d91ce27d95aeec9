//! A time-to-first-spike training run stopped after an epoch and resumed from its state (in memory,
//! or through the checkpoint file it wrote) repeats the uninterrupted run bit for bit: Göltz et al.'s
//! method with weight bumping, and Comsa et al.'s with trained pulse times and best-epoch restore.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spikeloom_core::engine::{LayerInit, Network};
use spikeloom_core::rsnn::checkpoint::{Continuation, TrainState};
use spikeloom_core::spike_time::{AlphaParams, LifParams};
use spikeloom_core::train::ttfs::fit_from;
use spikeloom_core::train::{EpochMetrics, FitConfig, LabelledTimes};
use std::ops::ControlFlow;

mod common;
use common::uniform;

fn dataset(n: usize, seed: u64, lo: f64, hi: f64) -> (Vec<f64>, Vec<i64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let times = (0..n * 4).map(|_| uniform(&mut rng, lo, hi)).collect();
    let labels = (0..n).map(|_| (rng.next_u64() % 3) as i64).collect();
    (times, labels)
}

fn goltz() -> (Network, FitConfig) {
    let net = Network::new(
        LifParams::new(1.0, 1.0, 1.0).unwrap(),
        &[4, 20, 3],
        &[vec![0.9], vec![0.9]],
        &[(0.3, 0.5), (0.5, 0.8)],
        7,
    )
    .unwrap();
    let mut cfg = FitConfig::yin_yang(1.0, 2);
    cfg.epochs = 4;
    cfg.batch_size = 37;
    cfg.input_noise = 0.05;
    cfg.restore_best = true;
    // Bumps happen in the first epochs of this network (checked below), so their state carries.
    cfg.max_missing = vec![0.05, 0.05];
    (net, cfg)
}

fn xor(n: usize, seed: u64) -> (Vec<f64>, Vec<i64>) {
    common::noisy_xor(n, seed, 1e-3)
}

fn comsa() -> (Network, FitConfig) {
    let alpha = AlphaParams::from_decay_rate(1.0, 0.4, 1e-3).unwrap();
    let pulses = vec![0.33e-3, 0.67e-3];
    let net = Network::with_init(
        alpha.lif().unwrap(),
        &[2, 6, 2],
        &[pulses.clone(), pulses],
        &[
            LayerInit::glorot(2, 2, 6, 0.0, 0.0),
            LayerInit::glorot(6, 2, 2, 0.0, 0.0),
        ],
        3,
    )
    .unwrap();
    let s = common::comsa_settings(1e-3);
    let mut cfg = FitConfig::comsa(2, 1e-2, s);
    cfg.epochs = 4;
    cfg.batch_size = 10;
    cfg.restore_best = true;
    (net, cfg)
}

fn bits(net: &Network) -> Vec<u64> {
    net.layers()
        .iter()
        .flat_map(|l| l.weights.iter().chain(&l.bias_times).map(|w| w.to_bits()))
        .collect()
}

fn metric_bits(h: &[EpochMetrics]) -> Vec<[u64; 6]> {
    h.iter()
        .map(|m| {
            [
                m.epoch as u64,
                m.train_loss.to_bits(),
                m.val_accuracy.unwrap().to_bits(),
                m.lr.to_bits(),
                m.bumps as u64,
                m.chopped as u64,
            ]
        })
        .collect()
}

/// Run `cfg` on `net` from `resume`, stopping after `stop_after` epochs of this call (if any).
fn run(
    net: &mut Network,
    cfg: &FitConfig,
    data: &(Vec<f64>, Vec<i64>, Vec<f64>, Vec<i64>),
    resume: Option<&TrainState>,
    checkpoint: Option<&std::path::Path>,
    stop_after: Option<usize>,
) -> (Vec<EpochMetrics>, TrainState) {
    fit_from(
        net,
        LabelledTimes {
            times: &data.0,
            labels: &data.1,
        },
        Some(LabelledTimes {
            times: &data.2,
            labels: &data.3,
        }),
        cfg,
        Continuation {
            resume,
            checkpoint,
            fingerprint: Some("test"),
        },
        &mut common::stop_after(stop_after),
    )
    .unwrap()
}

fn check_resume(
    make: fn() -> (Network, FitConfig),
    data: (Vec<f64>, Vec<i64>, Vec<f64>, Vec<i64>),
) {
    let (init, cfg) = make();
    let mut whole = init.clone();
    let (h_whole, st_whole) = run(&mut whole, &cfg, &data, None, None, None);
    assert_eq!(h_whole.len(), cfg.epochs);
    assert_eq!(st_whole.progress.epochs_done, cfg.epochs);
    assert_eq!(st_whole.fingerprint.as_deref(), Some("test"));
    assert_ne!(bits(&whole), bits(&init), "training changed nothing");
    // The state records every epoch's metrics but the wall-clock seconds.
    let recorded: Vec<_> = h_whole
        .iter()
        .map(|m| {
            let mut v = serde_json::to_value(m).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            v
        })
        .collect();
    assert_eq!(st_whole.progress.history, recorded);
    for stop in 1..cfg.epochs {
        // Stopped after `stop` epochs, writing a checkpoint file each epoch.
        let dir = std::env::temp_dir().join(format!(
            "spikeloom-ttfs-resume-{}-{stop}-{}",
            std::process::id(),
            cfg.lr
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("state.safetensors");
        let mut first = init.clone();
        let (h1, st1) = run(&mut first, &cfg, &data, None, Some(&file), Some(stop));
        assert_eq!((h1.len(), st1.progress.epochs_done), (stop, stop));
        let from_file = TrainState::load(&file).unwrap();
        assert_eq!(from_file.params, st1.params);
        assert_eq!(from_file.progress.epochs_done, stop);
        // Resumed on a fresh copy of the initial network: the rest of the run, bit for bit.
        for st in [&st1, &from_file] {
            let mut second = init.clone();
            let (h2, st2) = run(&mut second, &cfg, &data, Some(st), None, None);
            assert_eq!(h2.len(), cfg.epochs - stop);
            let mut h = h1.clone();
            h.extend(h2);
            assert_eq!(metric_bits(&h), metric_bits(&h_whole), "stop after {stop}");
            assert_eq!(bits(&second), bits(&whole), "stop after {stop}");
            assert_eq!(st2.params, st_whole.params);
            assert_eq!(st2.opt_w, st_whole.opt_w);
            assert_eq!(st2.opt_tau, st_whole.opt_tau);
            // The state's history is the whole run's, across the two calls.
            assert_eq!(st2.progress.history, st_whole.progress.history);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
    // A state of the other method, or for another network size, is refused by name.
    let mut other = init.clone();
    let mut wrong = st_whole.clone();
    wrong.method = if wrong.method == "ttfs" {
        "alpha"
    } else {
        "ttfs"
    }
    .into();
    let err = fit_from(
        &mut other,
        LabelledTimes {
            times: &data.0,
            labels: &data.1,
        },
        None,
        &FitConfig {
            restore_best: false,
            ..cfg.clone()
        },
        Continuation {
            resume: Some(&wrong),
            ..Default::default()
        },
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("resume"), "{err}");
    assert_eq!(
        bits(&other),
        bits(&init),
        "a refused state changed the network"
    );
}

#[test]
fn goltz_run_resumes_exactly() {
    let (tx, ty) = dataset(300, 2024, 0.15, 2.0);
    let (vx, vy) = dataset(60, 2025, 0.15, 2.0);
    // The run bumps (so the carried bump state is exercised) and also takes gradient steps.
    let (init, cfg) = goltz();
    let mut net = init.clone();
    let (h, _) = run(
        &mut net,
        &cfg,
        &(tx.clone(), ty.clone(), vx.clone(), vy.clone()),
        None,
        None,
        None,
    );
    let bumps: usize = h.iter().map(|m| m.bumps).sum();
    assert!(
        bumps > 0 && bumps < cfg.epochs * 300usize.div_ceil(37),
        "bumps {bumps}"
    );
    check_resume(goltz, (tx, ty, vx, vy));
}

#[test]
fn comsa_run_resumes_exactly() {
    let (tx, ty) = xor(200, 7);
    let (vx, vy) = xor(50, 8);
    check_resume(comsa, (tx, ty, vx, vy));
}
