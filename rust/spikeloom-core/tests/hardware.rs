//! The hardware model: quantiser grid, seeded chips, effective weights, and training with a chip in
//! the forward pass (bit-identical for any thread count; in the loop on an ideal chip = ideal).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spikeloom_core::engine::Network;
use spikeloom_core::hardware::{Chip, HardwareMode, HardwareSpec, HardwareTraining, Quantizer};
use spikeloom_core::spike_time::LifParams;
use spikeloom_core::train::{fit, FitConfig, LabelledTimes};
use spikeloom_core::Error;
use std::ops::ControlFlow;

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    lo + (hi - lo) * u
}

fn dataset() -> (Vec<f64>, Vec<i64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    let n = 240;
    let times = (0..n * 4).map(|_| uniform(&mut rng, 0.15, 2.0)).collect();
    let labels = (0..n).map(|_| (rng.next_u64() % 3) as i64).collect();
    (times, labels)
}

fn net() -> Network {
    Network::new(
        LifParams::new(1.0, 1.0, 1.0).unwrap(),
        &[4, 16, 3],
        &[vec![0.9], vec![0.9]],
        &[(1.5, 0.8), (0.5, 0.8)],
        3,
    )
    .unwrap()
}

fn bss2_like() -> HardwareSpec {
    HardwareSpec {
        bits: Some(6),
        weight_range: Some(2.1),
        weight_mismatch: 0.05,
        threshold_mismatch: 0.08,
        tau_mismatch: 0.05,
        jitter: 0.04,
        spike_loss: 0.01,
        membrane_noise: 0.0,
    }
}

fn train(spec: Option<HardwareSpec>, mode: HardwareMode, threads: usize) -> Network {
    let (times, labels) = dataset();
    let mut n = net();
    let mut cfg = FitConfig::yin_yang(1.0, 2);
    cfg.epochs = 2;
    cfg.batch_size = 30;
    cfg.threads = threads;
    cfg.hardware = spec.map(|spec| HardwareTraining {
        spec,
        mode,
        chip_seed: 4,
    });
    let data = LabelledTimes {
        times: &times,
        labels: &labels,
    };
    fit(&mut n, data, Some(data), &cfg, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    n
}

#[test]
fn quantizer_grid_saturation_and_straight_through() {
    let q = Quantizer::new(Some(6), 2.1).unwrap();
    assert_eq!(q.levels(), Some(63));
    for i in -400..=400 {
        let w = i as f64 * 0.0071;
        let v = q.apply(w);
        let k = v * 30.0;
        assert!(
            (k - k.round()).abs() < 1e-9 && k.round().abs() <= 63.0,
            "{w} -> {v}"
        );
        assert!((v - w.clamp(-2.1, 2.1)).abs() <= 1.0 / 60.0 + 1e-12);
        assert_eq!(q.apply(-w), -v, "symmetric in the sign");
        assert_eq!(
            q.straight_through(w),
            if w.abs() <= 2.1 { 1.0 } else { 0.0 }
        );
    }
    assert_eq!(q.apply(5.0), 2.1);
    assert!(matches!(
        Quantizer::new(Some(0), 1.0),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(Quantizer::new(Some(4), f64::INFINITY).is_err());
    assert_eq!(Quantizer::new(None, f64::INFINITY).unwrap().apply(1e9), 1e9);
}

#[test]
fn chips_are_seeded_and_effective_weights_follow_the_formula() {
    let n = net();
    let spec = bss2_like();
    let a = Chip::sample(&spec, &n, 9).unwrap();
    assert_eq!(a, Chip::sample(&spec, &n, 9).unwrap());
    assert_ne!(a, Chip::sample(&spec, &n, 10).unwrap());
    let eff = a.effective(&n).unwrap();
    let q = spec.quantizer().unwrap();
    for ((l, m), e) in n.layers().iter().zip(&a.layers).zip(eff.layers()) {
        for (i, (&w, &we)) in l.weights.iter().zip(&e.weights).enumerate() {
            let k = i / l.width();
            let expected = q.apply(w) * m.weight_gain[i] / m.threshold_gain[k];
            assert!((we - expected).abs() <= 1e-15 * expected.abs().max(1.0));
        }
    }
    let bad = HardwareSpec {
        spike_loss: 1.5,
        ..HardwareSpec::default()
    };
    assert!(Chip::sample(&bad, &n, 0).is_err());
}

#[test]
fn hardware_training_is_bit_identical_for_any_thread_count() {
    for mode in [HardwareMode::Aware, HardwareMode::InTheLoop] {
        let a = train(Some(bss2_like()), mode, 1);
        let b = train(Some(bss2_like()), mode, 3);
        assert_eq!(a, b, "{mode:?}");
        assert_ne!(a, train(None, mode, 1), "{mode:?} changes training");
    }
}

#[test]
fn in_the_loop_on_an_ideal_chip_is_ideal_training() {
    let ideal = train(None, HardwareMode::InTheLoop, 2);
    let chip = train(Some(HardwareSpec::default()), HardwareMode::InTheLoop, 2);
    assert_eq!(ideal, chip);
}
