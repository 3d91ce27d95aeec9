//! The event-driven S4NN forward pass against a dense, time-stepped simulation on the grid (the
//! reference's formulation: V = cumulative sum over time of W S, V[t_max] forced above threshold,
//! t = first crossing + delay, clamped to t_max), for random networks with mixed-sign weights.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spikeloom_core::s4nn::{first_to_spike, LabelledSteps, S4nnNetwork, TieRule};
use spikeloom_core::Error;

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    lo + (hi - lo) * u
}

/// Dense simulation of one layer: `w` is `[n_out][n_in]`; returns (times, V at the crossing step).
fn dense_layer(
    x: &[u32],
    w: &[f64],
    n_out: usize,
    threshold: f64,
    t_max: u32,
    delay: u32,
) -> (Vec<u32>, Vec<f64>) {
    let n_in = x.len();
    let steps = t_max as usize + 1;
    let mut times = vec![t_max; n_out];
    let mut v_cross = vec![0.0; n_out];
    for j in 0..n_out {
        // Spike tensor S[i][t] = 1 at t = x[i]; V(t) = sum_{tau <= t} sum_i w_ji S[i][tau].
        let mut v = vec![0.0; steps];
        let mut acc = 0.0;
        for (t, vt) in v.iter_mut().enumerate() {
            for i in 0..n_in {
                if x[i] as usize == t {
                    acc += w[j * n_in + i];
                }
            }
            *vt = acc;
        }
        v[t_max as usize] = threshold + 1.0; // forced spike
        let first = v.iter().position(|&vt| vt > threshold).expect("forced");
        times[j] = (first as u32 + delay).min(t_max);
        if times[j] < t_max {
            v_cross[j] = v[first];
        }
    }
    (times, v_cross)
}

fn random_case(
    seed: u64,
    sizes: &[usize],
    t_max: u32,
    delay: u32,
) -> (S4nnNetwork, Vec<Vec<f64>>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let thresholds: Vec<f64> = (1..sizes.len())
        .map(|_| uniform(&mut rng, 3.0, 12.0))
        .collect();
    let weights: Vec<Vec<f64>> = sizes
        .windows(2)
        .map(|p| {
            (0..p[0] * p[1])
                .map(|_| uniform(&mut rng, -2.0, 6.0))
                .collect()
        })
        .collect();
    let net = S4nnNetwork::from_weights(sizes, &thresholds, &weights, t_max, delay).unwrap();
    (net, weights, thresholds)
}

fn random_inputs(seed: u64, n: usize, n_in: usize, t_max: u32) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xABCD);
    (0..n * n_in)
        .map(|_| {
            // A third of the inputs at t_max (background), the rest anywhere on the grid.
            if rng.next_u64() % 3 == 0 {
                t_max
            } else {
                (rng.next_u64() % (u64::from(t_max) + 1)) as u32
            }
        })
        .collect()
}

#[test]
fn event_driven_forward_equals_dense_grid_simulation() {
    let mut compared = 0usize;
    let mut fired = 0usize;
    for (case, (sizes, t_max, delay)) in [
        (vec![12, 9, 5], 20u32, 1u32),
        (vec![12, 9, 5], 20, 0),
        (vec![7, 6, 6, 4], 16, 2),
        (vec![30, 4], 256, 1),
        (vec![5, 8, 3], 3, 1),
    ]
    .into_iter()
    .enumerate()
    {
        for seed in 0..15u64 {
            let (net, weights, thresholds) =
                random_case(seed * 31 + case as u64, &sizes, t_max, delay);
            let n = 20;
            let x = random_inputs(seed, n, sizes[0], t_max);
            let (per_layer, volts) = net.run(&x, n, 2).unwrap();
            let mut ws = net.workspace();
            for s in 0..n {
                let mut input = x[s * sizes[0]..(s + 1) * sizes[0]].to_vec();
                let mut last_v = Vec::new();
                for l in 0..sizes.len() - 1 {
                    let (t, v) = dense_layer(
                        &input,
                        &weights[l],
                        sizes[l + 1],
                        thresholds[l],
                        t_max,
                        delay,
                    );
                    let got = &per_layer[l][s * sizes[l + 1]..(s + 1) * sizes[l + 1]];
                    assert_eq!(got, &t[..], "case {case} seed {seed} sample {s} layer {l}");
                    compared += t.len();
                    fired += t.iter().filter(|&&ti| ti < t_max).count();
                    input = t;
                    last_v = v;
                }
                let n_out = *sizes.last().unwrap();
                let got_v = &volts[s * n_out..(s + 1) * n_out];
                for (a, b) in got_v.iter().zip(&last_v) {
                    assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()), "{a} vs {b}");
                }
                // Single-sample forward agrees with the batch call.
                net.forward(&x[s * sizes[0]..(s + 1) * sizes[0]], &mut ws);
                assert_eq!(
                    ws.times.last().unwrap(),
                    &per_layer[sizes.len() - 2][s * n_out..(s + 1) * n_out]
                );
            }
        }
    }
    // The comparison covers both real and forced spikes.
    assert!(
        fired > compared / 5 && fired < compared,
        "{fired} of {compared}"
    );
}

#[test]
fn delay_shifts_real_spikes_and_clamps_at_t_max() {
    // One neuron, threshold 1.5: inputs at 2 and 5 with weight 1 -> V crosses at step 5.
    let x = [2u32, 5, 9];
    for (delay, expected) in [(0u32, 5u32), (1, 6), (4, 9), (5, 10), (6, 10)] {
        let net =
            S4nnNetwork::from_weights(&[3, 1], &[1.5], &[vec![1.0, 1.0, 1.0]], 10, delay).unwrap();
        let (t, _) = net.run(&x, 1, 1).unwrap();
        assert_eq!(t[0], vec![expected], "delay {delay}");
    }
    // Strict threshold: V == theta does not fire.
    let net = S4nnNetwork::from_weights(&[3, 1], &[2.0], &[vec![1.0, 1.0, 1.0]], 10, 1).unwrap();
    assert_eq!(net.run(&x, 1, 1).unwrap().0[0], vec![10]);
    // Inputs at the same step are summed before the threshold test (inhibition cancels).
    let net = S4nnNetwork::from_weights(&[3, 1], &[1.5], &[vec![2.0, -1.0, 0.0]], 10, 0).unwrap();
    assert_eq!(net.run(&[3, 3, 0], 1, 1).unwrap().0[0], vec![10]);
    assert_eq!(net.run(&[3, 4, 0], 1, 1).unwrap().0[0], vec![3]);
}

#[test]
fn tie_rules() {
    let times = [4u32, 2, 2, 7];
    let volts = [0.0, 10.5, 12.0, 0.0];
    assert_eq!(first_to_spike(&times, &volts, 10, TieRule::Index), Some(1));
    assert_eq!(
        first_to_spike(&times, &volts, 10, TieRule::Voltage),
        Some(2)
    );
    // Equal voltages: lowest index.
    assert_eq!(
        first_to_spike(&times, &[0.0, 3.0, 3.0, 0.0], 10, TieRule::Voltage),
        Some(1)
    );
    assert_eq!(
        first_to_spike(&[10, 10], &[0.0, 0.0], 10, TieRule::Voltage),
        None
    );
}

#[test]
fn protocols_on_a_constructed_network() {
    // Inputs 0 and 1 drive outputs 0 and 1 to the same crossing step with different voltages;
    // input 2 drives output 2 alone, below threshold at t_max - 3 but largest potential.
    let t_max = 10;
    let w = [
        vec![6.0, 0.0, 0.0], // output 0: crosses at the input step with V = 6
        vec![8.0, 0.0, 0.0], // output 1: same step, V = 8
        vec![0.0, 0.0, 4.5], // output 2: never fires (threshold 5)
    ];
    let flat: Vec<f64> = w.concat();
    let net = S4nnNetwork::from_weights(&[3, 3], &[5.0], &[flat], t_max, 1).unwrap();
    // Sample 0: input 0 at step 2 -> outputs 0 and 1 tie at 3. Sample 1: only input 2 (at 1).
    let x = [2u32, 10, 10, 10, 10, 1];
    let labels_a = [0i64, 2];
    let e = net
        .evaluate(
            LabelledSteps {
                times: &x,
                labels: &labels_a,
            },
            TieRule::Voltage,
            1,
        )
        .unwrap();
    // Clean: sample 0 -> voltage rule picks 1 (wrong); sample 1 -> no spike (wrong).
    assert_eq!(e.accuracy, 0.0);
    // Paper: label 0 is among the tied winners; fallback picks output 2 (V = 4.5 at t_max - 3).
    assert_eq!(e.accuracy_paper, 1.0);
    assert_eq!(e.no_output_spike, 0.5);
    assert_eq!(e.ties, 0.5);
    assert_eq!(e.mean_first_spike, 3.0);
    let e = net
        .evaluate(
            LabelledSteps {
                times: &x,
                labels: &labels_a,
            },
            TieRule::Index,
            1,
        )
        .unwrap();
    assert_eq!(e.accuracy, 0.5);
    use spikeloom_core::s4nn::Protocol;
    assert_eq!(
        net.predict(&x, 2, TieRule::Voltage, Protocol::Clean, 1)
            .unwrap(),
        vec![1, -1]
    );
    assert_eq!(
        net.predict(&x, 2, TieRule::Index, Protocol::Paper, 1)
            .unwrap(),
        vec![0, 2]
    );
    // The fallback potential is taken at t_max - 3: an input at t_max - 2 does not count.
    let x_late = [10u32, 10, 8];
    assert_eq!(
        net.predict(&x_late, 1, TieRule::Index, Protocol::Paper, 1)
            .unwrap(),
        vec![0]
    );
}

#[test]
fn bad_inputs_are_refused() {
    let (net, _, _) = random_case(1, &[4, 3, 2], 10, 1);
    assert!(matches!(
        net.run(&[0, 1, 2], 1, 1),
        Err(Error::Shape { .. })
    ));
    match net.run(&[0, 1, 11, 3], 1, 1) {
        Err(Error::InvalidParameter { arg, .. }) => assert_eq!(arg, "times"),
        other => panic!("{other:?}"),
    }
    let bad_label = [0i64];
    let x = [0u32, 1, 2, 3];
    match net.evaluate(
        LabelledSteps {
            times: &x,
            labels: &[5],
        },
        TieRule::Index,
        1,
    ) {
        Err(Error::InvalidParameter { arg, .. }) => assert_eq!(arg, "data.labels"),
        other => panic!("{other:?}"),
    }
    let _ = bad_label;
    assert!(S4nnNetwork::new(&[4], &[], &[], 10, 1, 0).is_err());
    assert!(S4nnNetwork::new(&[4, 0], &[1.0], &[(0.0, 1.0)], 10, 1, 0).is_err());
    assert!(S4nnNetwork::new(&[4, 2], &[0.0], &[(0.0, 1.0)], 10, 1, 0).is_err());
    assert!(S4nnNetwork::new(&[4, 2], &[1.0], &[(2.0, 1.0)], 10, 1, 0).is_err());
    assert!(S4nnNetwork::new(&[4, 2], &[1.0], &[(0.0, 1.0)], 0, 0, 0).is_err());
    assert!(S4nnNetwork::new(&[4, 2], &[1.0], &[(0.0, 1.0)], 10, 11, 0).is_err());
    assert!(S4nnNetwork::new(&[4, 2], &[1.0, 1.0], &[(0.0, 1.0)], 10, 1, 0).is_err());
    assert!(S4nnNetwork::new(
        &[1 << 20, 1 << 20, 2],
        &[1.0, 1.0],
        &[(0.0, 1.0); 2],
        10,
        1,
        0
    )
    .is_err());
}

#[test]
fn initialisation_is_seeded_and_uniform() {
    let a = S4nnNetwork::new(
        &[50, 40, 10],
        &[100.0, 100.0],
        &[(0.0, 5.0), (0.0, 48.0)],
        256,
        1,
        3,
    )
    .unwrap();
    let b = S4nnNetwork::new(
        &[50, 40, 10],
        &[100.0, 100.0],
        &[(0.0, 5.0), (0.0, 48.0)],
        256,
        1,
        3,
    )
    .unwrap();
    let c = S4nnNetwork::new(
        &[50, 40, 10],
        &[100.0, 100.0],
        &[(0.0, 5.0), (0.0, 48.0)],
        256,
        1,
        4,
    )
    .unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    let w0 = a.weights(0).unwrap();
    let w1 = a.weights(1).unwrap();
    assert!(w0.iter().all(|&w| (0.0..5.0).contains(&w)));
    assert!(w1.iter().all(|&w| (0.0..48.0).contains(&w)));
    let mean = w0.iter().sum::<f64>() / w0.len() as f64;
    assert!((mean - 2.5).abs() < 0.15, "{mean}");
    // Public layout [n_out][n_in] round-trips through set_weights.
    let mut d = a.clone();
    d.set_weights(0, &w0).unwrap();
    assert_eq!(d, a);
}
