//! Training with Comsa et al.'s method: bit-identical for any thread count (weights and pulse times),
//! pulse times clamped at 0, the best validation epoch restored, and a noisy-XOR network that learns.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spikeloom_core::engine::{LayerInit, Network};
use spikeloom_core::spike_time::AlphaParams;
use spikeloom_core::train::{fit, ComsaSettings, EpochMetrics, FitConfig, LabelledTimes};
use std::ops::ControlFlow;

const UNIT: f64 = 1e-3;

mod common;
use common::uniform;

fn xor(n: usize, seed: u64) -> (Vec<f64>, Vec<i64>) {
    common::noisy_xor(n, seed, UNIT)
}

fn xor_net(seed: u64, n_pulses: usize) -> Network {
    let alpha = AlphaParams::from_decay_rate(1.0, 0.4, UNIT).unwrap();
    let pulses: Vec<f64> = (0..n_pulses)
        .map(|p| UNIT * (p + 1) as f64 / (n_pulses + 1) as f64)
        .collect();
    Network::with_init(
        alpha.lif().unwrap(),
        &[2, 4, 2],
        &[pulses.clone(), pulses],
        &[
            LayerInit::glorot(2, n_pulses, 4, 0.0, 0.0),
            LayerInit::glorot(4, n_pulses, 2, 0.0, 0.0),
        ],
        seed,
    )
    .unwrap()
}

fn settings() -> ComsaSettings {
    common::comsa_settings(UNIT)
}

fn run(
    net: &mut Network,
    cfg: &FitConfig,
    train: (&[f64], &[i64]),
    val: (&[f64], &[i64]),
) -> Vec<EpochMetrics> {
    fit(
        net,
        LabelledTimes {
            times: train.0,
            labels: train.1,
        },
        Some(LabelledTimes {
            times: val.0,
            labels: val.1,
        }),
        cfg,
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap()
}

fn bits(net: &Network) -> Vec<u64> {
    net.layers()
        .iter()
        .flat_map(|l| l.weights.iter().chain(&l.bias_times).map(|w| w.to_bits()))
        .collect()
}

#[test]
fn comsa_training_is_bit_identical_across_thread_counts() {
    let (tx, ty) = xor(300, 1);
    let (vx, vy) = xor(50, 2);
    let mut cfg = FitConfig::comsa(2, 1e-2, settings());
    cfg.epochs = 4;
    cfg.batch_size = 20;
    cfg.restore_best = false;
    let initial = xor_net(3, 2);
    let mut reference = None;
    for threads in [1, 2, 3] {
        cfg.threads = threads;
        let mut net = initial.clone();
        let h = run(&mut net, &cfg, (&tx, &ty), (&vx, &vy));
        let metrics: Vec<[u64; 4]> = h
            .iter()
            .map(|m| {
                [
                    m.train_loss.to_bits(),
                    m.train_accuracy.to_bits(),
                    m.val_loss.unwrap().to_bits(),
                    m.chopped as u64,
                ]
            })
            .collect();
        match &reference {
            None => {
                // Training moved weights and pulses.
                assert_ne!(net.layers()[0].weights, initial.layers()[0].weights);
                assert_ne!(net.layers()[0].bias_times, initial.layers()[0].bias_times);
                assert_ne!(net.layers()[1].bias_times, initial.layers()[1].bias_times);
                reference = Some((bits(&net), metrics));
            }
            Some((b, m)) => {
                assert_eq!(&bits(&net), b, "{threads} threads changed the network");
                assert_eq!(&metrics, m, "{threads} threads changed the metrics");
            }
        }
    }
    // Another shuffle seed gives another network.
    cfg.seed = 9;
    let mut net = initial.clone();
    run(&mut net, &cfg, (&tx, &ty), (&vx, &vy));
    assert_ne!(bits(&net), reference.unwrap().0);
}

#[test]
fn comsa_training_of_a_wide_network_is_bit_identical_across_thread_counts() {
    // > 4096 weights: the reduction, Adam step and transposition run in several parallel blocks.
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let n = 120;
    let times: Vec<f64> = (0..n * 40)
        .map(|i| {
            if i % 5 == 0 {
                f64::INFINITY
            } else {
                uniform(&mut rng, 0.0, UNIT)
            }
        })
        .collect();
    let labels: Vec<i64> = (0..n).map(|_| (rng.next_u64() % 3) as i64).collect();
    let alpha = AlphaParams::from_decay_rate(0.5, 1.0, UNIT).unwrap();
    let pulses = vec![vec![0.3 * UNIT, 0.6 * UNIT]; 2];
    let initial = Network::with_init(
        alpha.lif().unwrap(),
        &[40, 120, 3],
        &pulses,
        &[
            LayerInit::glorot(40, 2, 120, 1.0, 2.0),
            LayerInit::glorot(120, 2, 3, 1.0, 2.0),
        ],
        2,
    )
    .unwrap();
    assert!(initial.n_weights() > 4096);
    let mut s = settings();
    s.update_all_datapoints = true;
    let mut cfg = FitConfig::comsa(2, 1e-2, s);
    cfg.epochs = 2;
    cfg.batch_size = 24;
    cfg.restore_best = false;
    let mut nets = Vec::new();
    for threads in [1, 2, 3] {
        cfg.threads = threads;
        let mut net = initial.clone();
        run(
            &mut net,
            &cfg,
            (&times, &labels),
            (&times[..400], &labels[..10]),
        );
        nets.push(bits(&net));
    }
    assert_ne!(nets[0], bits(&initial));
    assert_eq!(nets[0], nets[1]);
    assert_eq!(nets[0], nets[2]);
}

#[test]
fn pulse_times_are_clamped_at_zero() {
    // One layer, label always 0. Output 0 is driven by a strong pulse and fires shortly after it, so an
    // earlier pulse means an earlier (better) output 0: dL/dt_pulse > 0 and the step moves the pulse
    // towards (and, with this learning rate, far below) 0. Output 1 ignores the pulse.
    let alpha = AlphaParams::from_decay_rate(1.0, 0.4, UNIT).unwrap();
    let layer = spikeloom_core::engine::Layer {
        n_in: 2,
        n_out: 2,
        bias_times: vec![0.2 * UNIT],
        weights: vec![0.5, 0.5, 3.0, 0.6, 0.6, 0.0],
    };
    let mut net = Network::from_layers(alpha.lif().unwrap(), vec![layer]).unwrap();
    let (tx, _) = xor(50, 4);
    let ty = vec![0i64; 50];
    let mut s = settings();
    s.lr_pulses = 5.0;
    s.update_all_datapoints = true;
    let mut cfg = FitConfig::comsa(1, 1e-3, s);
    cfg.epochs = 2;
    cfg.batch_size = 10;
    cfg.restore_best = false;
    let mut pulses_seen = Vec::new();
    for _ in 0..3 {
        fit(
            &mut net,
            LabelledTimes {
                times: &tx,
                labels: &ty,
            },
            None,
            &cfg,
            &mut |_| ControlFlow::Continue(()),
        )
        .unwrap();
        pulses_seen.push(net.layers()[0].bias_times[0]);
    }
    assert!(
        pulses_seen.iter().all(|&t| t == 0.0),
        "pulse times {pulses_seen:?}"
    );
    // Exactly zero is a valid spike time: the network still runs and output 0 still wins.
    let out = net.run(&tx, 50, 1).unwrap();
    assert!((0..50).all(|i| out[0][2 * i] < out[0][2 * i + 1]));
}

#[test]
fn noisy_xor_is_learnt_and_the_best_epoch_is_restored() {
    let (tx, ty) = xor(1000, 10);
    let (vx, vy) = xor(100, 11);
    let (sx, sy) = xor(400, 12);
    let mut net = xor_net(1, 2);
    let mut s = settings();
    s.clip_derivative = None;
    s.lr_pulses = 1e-2; // the recipe's
    let mut cfg = FitConfig::comsa(2, 1e-2, s);
    cfg.epochs = 60;
    cfg.batch_size = 10;
    let h = run(&mut net, &cfg, (&tx, &ty), (&vx, &vy));
    let best = h
        .iter()
        .map(|m| m.val_accuracy.unwrap())
        .fold(0.0, f64::max);
    // The restored network has the best validation accuracy seen.
    let val = spikeloom_core::train::evaluate_objective(
        &net,
        LabelledTimes {
            times: &vx,
            labels: &vy,
        },
        &cfg.objective(),
        1,
    )
    .unwrap();
    assert_eq!(val.accuracy, best);
    let test = spikeloom_core::train::evaluate_objective(
        &net,
        LabelledTimes {
            times: &sx,
            labels: &sy,
        },
        &cfg.objective(),
        1,
    )
    .unwrap();
    assert!(test.accuracy >= 0.97, "test accuracy {}", test.accuracy);
}

#[test]
fn restore_best_needs_validation() {
    let (tx, ty) = xor(20, 1);
    let mut net = xor_net(1, 2);
    let cfg = FitConfig::comsa(2, 1e-2, settings());
    let err = fit(
        &mut net,
        LabelledTimes {
            times: &tx,
            labels: &ty,
        },
        None,
        &cfg,
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap_err();
    assert!(err.to_string().contains("restore_best"), "{err}");
}
