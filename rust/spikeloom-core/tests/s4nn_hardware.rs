//! S4NN mini-batch training on a hardware model: in the loop on an ideal chip it is ideal training
//! bit for bit, hardware-aware on an ideal chip it agrees to rounding, the shadow weights stay in
//! the chip's range, and validation runs on the training chip.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spikeloom_core::hardware::{HardwareMode, HardwareSpec, HardwareTraining, ParamChip};
use spikeloom_core::s4nn::on_chip::tensors;
use spikeloom_core::s4nn::{fit, LabelledSteps, S4nnFitConfig, S4nnNetwork};
use std::ops::ControlFlow;

mod common;
use common::{s4nn_steps, uniform};

const T_MAX: u32 = 24;

/// 60 samples of 10 input times with labels 0..4.
fn data(seed: u64) -> (Vec<u32>, Vec<i64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = s4nn_steps(&mut rng, 600, T_MAX);
    (x, (0..60).map(|_| (rng.next_u64() % 4) as i64).collect())
}

fn network() -> S4nnNetwork {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let w0: Vec<f64> = (0..120).map(|_| uniform(&mut rng, -1.0, 4.0)).collect();
    let w1: Vec<f64> = (0..48).map(|_| uniform(&mut rng, -1.0, 4.0)).collect();
    S4nnNetwork::from_weights(&[10, 12, 4], &[6.0, 5.0], &[w0, w1], T_MAX, 1).unwrap()
}

fn config(hardware: Option<HardwareTraining>) -> S4nnFitConfig {
    let mut cfg = S4nnFitConfig::paper(2);
    cfg.epochs = 3;
    cfg.lr = vec![0.3, 0.5];
    cfg.batch_size = 8;
    cfg.keep_best = false;
    cfg.reinit_below = 0.0;
    cfg.seed = 2;
    cfg.threads = 2;
    cfg.hardware = hardware;
    cfg
}

fn hw(spec: HardwareSpec, mode: HardwareMode) -> Option<HardwareTraining> {
    Some(HardwareTraining {
        spec,
        mode,
        chip_seed: 7,
    })
}

/// Input-major `[n_in][n_out]` to the public layout `[n_out][n_in]`.
fn transpose(w: &[f64], n_in: usize, n_out: usize) -> Vec<f64> {
    (0..n_out)
        .flat_map(|j| (0..n_in).map(move |i| w[i * n_out + j]))
        .collect()
}

fn all_weights(net: &S4nnNetwork) -> Vec<f64> {
    (0..2).flat_map(|l| net.weights(l).unwrap()).collect()
}

#[test]
fn s4nn_on_an_ideal_chip_trains_as_ideal_mini_batches() {
    let (x, y) = data(1);
    let d = LabelledSteps {
        times: &x,
        labels: &y,
    };
    let go = &mut |_: &_| ControlFlow::Continue(());
    let mut ideal = network();
    let h0 = fit(&mut ideal, d, Some(d), None, &config(None), go).unwrap();
    let mut loop_ = network();
    let h = fit(
        &mut loop_,
        d,
        Some(d),
        None,
        &config(hw(HardwareSpec::default(), HardwareMode::InTheLoop)),
        go,
    )
    .unwrap();
    assert_eq!(all_weights(&loop_), all_weights(&ideal));
    assert_eq!(
        h.history.iter().map(|m| m.val_accuracy).collect::<Vec<_>>(),
        h0.history
            .iter()
            .map(|m| m.val_accuracy)
            .collect::<Vec<_>>()
    );
    // Hardware-aware on an ideal chip: the deltas read the true weights w s instead of s times the
    // sum over w, so the two agree to rounding.
    let mut aware = network();
    fit(
        &mut aware,
        d,
        None,
        None,
        &config(hw(HardwareSpec::default(), HardwareMode::Aware)),
        go,
    )
    .unwrap();
    for (a, b) in all_weights(&aware).iter().zip(all_weights(&ideal)) {
        assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

#[test]
fn s4nn_trains_on_its_chip_and_validates_there() {
    let (x, y) = data(3);
    let d = LabelledSteps {
        times: &x,
        labels: &y,
    };
    let spec = HardwareSpec {
        bits: Some(3),
        weight_range: Some(3.0),
        weight_mismatch: 0.2,
        threshold_mismatch: 0.2,
        spike_loss: 0.1,
        ..Default::default()
    };
    let go = &mut |_: &_| ControlFlow::Continue(());
    for mode in [HardwareMode::InTheLoop, HardwareMode::Aware] {
        let cfg = config(hw(spec.clone(), mode));
        let mut net = network();
        let h = fit(&mut net, d, Some(d), None, &cfg, go).unwrap();
        let w = all_weights(&net);
        assert!(
            w.iter().all(|w| w.abs() <= 3.0 + 1e-12),
            "{mode:?}: shadow weights in range"
        );
        let mut again = network();
        fit(&mut again, d, Some(d), None, &cfg, go).unwrap();
        assert_eq!(all_weights(&again), w, "{mode:?}: reproducible");
        // The last validation is chip 7's accuracy for the final weights.
        let t = tensors(&net);
        let len = t.last().unwrap().2.end;
        let chip = ParamChip::sample(&spec, &t, len, 7).unwrap();
        let shadow: Vec<f64> = net
            .layers()
            .iter()
            .flat_map(|l| l.weights_input_major().to_vec())
            .collect();
        let mut eff = Vec::new();
        chip.effective(&shadow, &mut eff, None).unwrap();
        let (w0, w1) = eff.split_at(120);
        let public = [transpose(w0, 10, 12), transpose(w1, 12, 4)];
        let on_chip =
            S4nnNetwork::from_weights(&[10, 12, 4], &[6.0, 5.0], &public, T_MAX, 1).unwrap();
        let acc = on_chip.evaluate(d, cfg.tie, 1).unwrap().accuracy;
        assert_eq!(
            h.history.last().unwrap().val_accuracy,
            Some(acc),
            "{mode:?}"
        );
    }
    let mut net = network();
    let mut bad = config(hw(spec, HardwareMode::Aware));
    bad.batch_size = 1;
    assert!(fit(&mut net, d, None, None, &bad, go)
        .unwrap_err()
        .to_string()
        .contains("batch_size"));
}
