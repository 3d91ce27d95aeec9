//! Data generators shared by the integration tests (each test crate uses some of them).
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spikeloom_core::train::ComsaSettings;
use std::ops::ControlFlow;

/// Uniform in `[lo, hi)` from the top 53 bits of the stream.
pub fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    lo + (hi - lo) * u
}

/// `n` S4NN input times: a quarter "no spike" (`t_max`), the rest uniform in `0..t_max`.
pub fn s4nn_steps(rng: &mut ChaCha8Rng, n: usize, t_max: u32) -> Vec<u32> {
    (0..n)
        .map(|_| {
            if rng.next_u64() % 4 == 0 {
                t_max
            } else {
                (rng.next_u64() % u64::from(t_max)) as u32
            }
        })
        .collect()
}

/// Noisy XOR in Comsa's encoding: value x in [0, 0.45) (false) or [0.55, 1) (true), spike at
/// (1 - x) time units of `unit` seconds. Label = XOR.
pub fn noisy_xor(n: usize, seed: u64, unit: f64) -> (Vec<f64>, Vec<i64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut times, mut labels) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let (a, b) = (rng.next_u64() % 2, rng.next_u64() % 2);
        for bit in [a, b] {
            let x = 0.55 * bit as f64 + uniform(&mut rng, 0.0, 0.45);
            times.push((1.0 - x) * unit);
        }
        labels.push((a ^ b) as i64);
    }
    (times, labels)
}

/// Comsa et al.'s settings of these tests: no-spike penalty 1, derivative clipping at 100, trained
/// pulse times (learning rate 1e-2 per time unit).
pub fn comsa_settings(time_unit: f64) -> ComsaSettings {
    ComsaSettings {
        time_unit,
        penalty_output_spike_time: 0.0,
        penalty_no_spike: 1.0,
        clip_derivative: Some(100.0),
        clip_gradient: None,
        update_all_datapoints: false,
        train_pulses: true,
        lr_pulses: 1e-2,
    }
}

/// An epoch callback that stops training after the `n`-th epoch it sees (never with `None`).
pub fn stop_after<M>(n: Option<usize>) -> impl FnMut(&M) -> ControlFlow<()> {
    let mut seen = 0;
    move |_| {
        seen += 1;
        if n == Some(seen) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}
