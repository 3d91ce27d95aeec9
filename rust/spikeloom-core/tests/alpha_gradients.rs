//! Gradients of Comsa et al.'s method against central finite differences of the exact forward pass:
//! every weight and every pulse (bias) time of a 4-7-3 alpha network with 2 pulses per layer, in SI
//! units with a time unit of 1 ms, and dt/dt_i of single alpha neurons. Also: local derivative and
//! gradient clipping, the no-spike penalty (sign and columns), and which samples contribute.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spikeloom_core::engine::{LayerInit, Network};
use spikeloom_core::spike_time::{first_spike, spike_time_gradient, AlphaParams, SortedInputs};
use spikeloom_core::train::{
    comsa_gradients, evaluate_objective, ComsaLoss, ComsaSettings, LabelledTimes, Objective,
};

const UNIT: f64 = 1e-3;

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    lo + (hi - lo) * u
}

fn alpha() -> AlphaParams {
    AlphaParams::from_decay_rate(0.5, 1.0, UNIT).unwrap()
}

fn network(seed: u64) -> Network {
    let pulses = vec![vec![UNIT / 3.0, 2.0 * UNIT / 3.0]; 2];
    Network::with_init(
        alpha().lif().unwrap(),
        &[4, 7, 3],
        &pulses,
        &[
            LayerInit::uniform_normal(0.6, 0.8),
            LayerInit::uniform_normal(0.5, 0.7),
        ],
        seed,
    )
    .unwrap()
}

fn data(n: usize, seed: u64) -> (Vec<f64>, Vec<i64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let times = (0..n * 4)
        .map(|i| {
            if i % 7 == 3 {
                f64::INFINITY
            } else {
                uniform(&mut rng, 0.0, UNIT)
            }
        })
        .collect();
    let labels = (0..n).map(|_| (rng.next_u64() % 3) as i64).collect();
    (times, labels)
}

fn settings(penalty_no_spike: f64) -> ComsaSettings {
    ComsaSettings {
        time_unit: UNIT,
        penalty_output_spike_time: 0.05,
        penalty_no_spike,
        clip_derivative: None,
        clip_gradient: None,
        update_all_datapoints: true,
        train_pulses: true,
        lr_pulses: 0.1,
    }
}

fn mean_loss(net: &Network, d: LabelledTimes) -> f64 {
    let obj = Objective::Comsa(ComsaLoss {
        time_unit: UNIT,
        penalty_output_spike_time: 0.05,
    });
    evaluate_objective(net, d, &obj, 1).unwrap().loss
}

/// Central difference with steps h and h/2; `None` at kinks (a spike appears or disappears, or a
/// causal set changes), where the two disagree.
fn central(f: &mut dyn FnMut(f64) -> f64, h: f64) -> Option<f64> {
    let d1 = (f(h) - f(-h)) / (2.0 * h);
    let d2 = (f(h / 2.0) - f(-h / 2.0)) / h;
    ((d1 - d2).abs() <= 1e-4 * d1.abs().max(d2.abs()).max(1e-3)).then_some(d2)
}

#[test]
fn network_gradients_match_finite_differences() {
    let (times, labels) = data(24, 5);
    let d = LabelledTimes {
        times: &times,
        labels: &labels,
    };
    let net = network(11);
    // The network is in a regime with spiking and silent neurons in both layers.
    let out = net.run(&times, 24, 1).unwrap();
    let silent_hidden = out[0].iter().filter(|t| !t.is_finite()).count();
    assert!(
        silent_hidden > 0 && silent_hidden < out[0].len() / 2,
        "{silent_hidden}"
    );
    assert!(out[1].iter().filter(|t| t.is_finite()).count() > out[1].len() / 2);

    let g = comsa_gradients(&net, d, &settings(0.0), 2).unwrap();
    assert_eq!(g.contributing, 24);
    assert!((g.loss - mean_loss(&net, d)).abs() < 1e-12 * g.loss.abs());

    let (mut checked, mut skipped, mut max_rel) = (0, 0, 0.0f64);
    let scale = g.weights.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut flat = 0;
    for l in 0..2 {
        let n_w = net.layers()[l].weights.len();
        for i in 0..n_w {
            let mut f = |h: f64| {
                let mut p = net.clone();
                let mut w = p.layers()[l].weights.clone();
                w[i] += h;
                p.set_weights(l, &w).unwrap();
                mean_loss(&p, d)
            };
            match central(&mut f, 1e-6) {
                Some(fd) => {
                    let exact = g.weights[flat + i];
                    let rel = (fd - exact).abs() / fd.abs().max(exact.abs()).max(1e-4 * scale);
                    assert!(
                        rel < 1e-4,
                        "layer {l} weight {i}: exact {exact} vs finite difference {fd}"
                    );
                    max_rel = max_rel.max(rel);
                    checked += 1;
                }
                None => skipped += 1,
            }
        }
        flat += n_w;
    }
    assert!(
        checked > 9 * (checked + skipped) / 10,
        "{checked} checked, {skipped} skipped"
    );

    // Pulse (bias) times: dL/dt, 1/s.
    let scale_p = g.bias_times.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale_p > 0.0);
    let mut flat = 0;
    let mut pulses_checked = 0;
    for l in 0..2 {
        let bias = net.layers()[l].bias_times.clone();
        for i in 0..bias.len() {
            let mut f = |h: f64| {
                let mut p = net.clone();
                let mut b = bias.clone();
                b[i] += h;
                p.set_bias_times(l, &b).unwrap();
                mean_loss(&p, d)
            };
            if let Some(fd) = central(&mut f, 1e-6 * UNIT) {
                let exact = g.bias_times[flat + i];
                let rel = (fd - exact).abs() / fd.abs().max(exact.abs()).max(1e-4 * scale_p);
                assert!(
                    rel < 1e-4,
                    "layer {l} pulse {i}: exact {exact} vs finite difference {fd}"
                );
                assert!(exact != 0.0, "layer {l} pulse {i} has no gradient");
                max_rel = max_rel.max(rel);
                pulses_checked += 1;
            }
        }
        flat += bias.len();
    }
    assert_eq!(pulses_checked, 4);
    eprintln!("{checked} weights + 4 pulses checked ({skipped} kinks skipped), max relative error {max_rel:e}");
}

#[test]
fn alpha_input_time_derivatives_match_finite_differences() {
    let a = alpha();
    let lif = a.lif().unwrap();
    let kernel = lif.kernel().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut sorted = SortedInputs::with_capacity(8);
    let mut checked = 0;
    for _ in 0..200 {
        let n = 3 + (rng.next_u64() % 5) as usize;
        let times: Vec<f64> = (0..n).map(|_| uniform(&mut rng, 0.0, 2.0 * UNIT)).collect();
        let weights: Vec<f64> = (0..n).map(|_| uniform(&mut rng, -0.5, 1.5)).collect();
        let solve = |s: &mut SortedInputs, t: &[f64]| {
            s.prepare(t, &kernel);
            first_spike(&kernel, lif.threshold, s, &weights)
        };
        let (t0, nc) = solve(&mut sorted, &times);
        if !t0.is_finite() {
            continue;
        }
        let mut dt = vec![0.0; n];
        spike_time_gradient(&kernel, t0, nc, &sorted, &weights, |j, _, b| dt[j] = b);
        for j in 0..n {
            let mut f = |h: f64| {
                let mut tp = times.clone();
                tp[j] += h;
                let (t, ncp) = solve(&mut SortedInputs::with_capacity(8), &tp);
                if ncp != nc {
                    f64::NAN
                } else {
                    t
                }
            };
            if let Some(fd) = central(&mut f, 1e-7 * UNIT) {
                assert!(
                    (fd - dt[j]).abs() <= 1e-5 * fd.abs().max(dt[j].abs()).max(1e-3),
                    "dt/dt[{j}] exact {} vs finite difference {fd}",
                    dt[j]
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 300, "{checked}");
}

#[test]
fn no_spike_penalty_raises_every_incoming_weight_of_silent_neurons() {
    let (times, labels) = data(16, 8);
    let d = LabelledTimes {
        times: &times,
        labels: &labels,
    };
    let mut net = network(11);
    // Hidden neuron 2 can never spike: all its weights (pulses included) are inhibitory.
    let mut w = net.layers()[0].weights.clone();
    w[2 * 6..3 * 6].iter_mut().for_each(|x| *x = -1.0);
    net.set_weights(0, &w).unwrap();
    let with = comsa_gradients(&net, d, &settings(3.0), 1).unwrap();
    let without = comsa_gradients(&net, d, &settings(0.0), 1).unwrap();
    // Its row: exactly the flat -penalty (no error flows through a silent neuron), all 6 columns.
    for (j, g) in with.weights[2 * 6..3 * 6].iter().enumerate() {
        assert!((g + 3.0).abs() < 1e-12, "column {j}: {g}");
    }
    assert!(without.weights[2 * 6..3 * 6].iter().all(|&g| g == 0.0));
    // Other neurons: the penalty is applied once per (sample, silent neuron), averaged over samples.
    let out = net.run(&times, 16, 1).unwrap();
    for k in 0..7 {
        let silent = (0..16).filter(|&s| !out[0][s * 7 + k].is_finite()).count() as f64;
        for j in 0..6 {
            let i = k * 6 + j;
            let diff = with.weights[i] - without.weights[i];
            assert!(
                (diff + 3.0 * silent / 16.0).abs() < 1e-12,
                "neuron {k} col {j}: {diff} for {silent} silent samples"
            );
        }
    }
    // Silent output neurons are penalised too (layer 1 rows).
    let off = 7 * 6;
    for k in 0..3 {
        let silent = (0..16).filter(|&s| !out[1][s * 3 + k].is_finite()).count() as f64;
        let diff = with.weights[off + k * 9] - without.weights[off + k * 9];
        assert!((diff + 3.0 * silent / 16.0).abs() < 1e-12);
    }
}

#[test]
fn clipping_bounds_local_derivatives_and_products() {
    let (times, labels) = data(1, 21);
    let d = LabelledTimes {
        times: &times,
        labels: &labels,
    };
    let net = network(11);
    let free = comsa_gradients(&net, d, &settings(0.0), 1).unwrap();
    let out = net.run(&times, 1, 1).unwrap();
    // dL/dt of the outputs (the loss's own gradient).
    let mut delta = [0.0; 3];
    ComsaLoss {
        time_unit: UNIT,
        penalty_output_spike_time: 0.05,
    }
    .loss_and_grad(&out[1], labels[0] as usize, &mut delta);
    // Tiny derivative clip: every causal output-layer entry becomes delta * sign * c * time_unit.
    let c = 1e-6;
    let mut s = settings(0.0);
    s.clip_derivative = Some(c);
    let clipped = comsa_gradients(&net, d, &s, 1).unwrap();
    let off = 7 * 6;
    let mut nonzero = 0;
    for (k, dk) in delta.iter().enumerate() {
        for j in 0..9 {
            let (g0, g1) = (
                free.weights[off + k * 9 + j],
                clipped.weights[off + k * 9 + j],
            );
            if g0 == 0.0 {
                assert_eq!(g1, 0.0);
                continue;
            }
            nonzero += 1;
            assert!(
                (g1.abs() - dk.abs() * c * UNIT).abs() <= 1e-12 * g1.abs(),
                "k={k} j={j}: {g1} vs {}",
                dk * c * UNIT
            );
            assert_eq!(g1.signum(), g0.signum());
        }
    }
    assert!(nonzero > 5);
    // Gradient clip: every product bounded.
    let mut s = settings(0.0);
    s.clip_gradient = Some(1e-3);
    let clipped = comsa_gradients(&net, d, &s, 1).unwrap();
    assert!(clipped.weights.iter().all(|g| g.abs() <= 1e-3));
    assert!(clipped.weights.iter().any(|g| g.abs() == 1e-3));
}

#[test]
fn only_misclassified_samples_contribute_unless_update_all() {
    let (times, labels) = data(40, 13);
    let d = LabelledTimes {
        times: &times,
        labels: &labels,
    };
    let net = network(11);
    let mut s = settings(1.0);
    s.update_all_datapoints = false;
    let g = comsa_gradients(&net, d, &s, 2).unwrap();
    let wrong = (40.0 * (1.0 - g.accuracy)).round() as usize;
    assert_eq!(g.contributing, wrong);
    assert!(wrong > 0 && wrong < 40);
    // The same gradient as computing on the misclassified samples alone with update_all.
    let pred = net.run(&times, 40, 1).unwrap();
    let (mut wt, mut wl) = (Vec::new(), Vec::new());
    for i in 0..40 {
        let o = &pred[1][i * 3..(i + 1) * 3];
        let first = spikeloom_core::train::first_to_spike(o);
        if first != Some(labels[i] as usize) {
            wt.extend_from_slice(&times[i * 4..(i + 1) * 4]);
            wl.push(labels[i]);
        }
    }
    let g2 = comsa_gradients(
        &net,
        LabelledTimes {
            times: &wt,
            labels: &wl,
        },
        &settings(1.0),
        2,
    )
    .unwrap();
    for (a, b) in g.weights.iter().zip(&g2.weights) {
        assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0));
    }
    for (a, b) in g.bias_times.iter().zip(&g2.bias_times) {
        assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0));
    }
}

#[test]
fn chunked_backward_equals_sample_by_sample_backward() {
    use spikeloom_core::engine::BackwardOptions;
    let (times, labels) = data(8, 31);
    let net = network(11);
    let loss = ComsaLoss {
        time_unit: UNIT,
        penalty_output_spike_time: 0.05,
    };
    let opts = BackwardOptions {
        max_dw_norm: f64::INFINITY,
        clip_derivative: 50.0,
        clip_gradient: f64::INFINITY,
        time_unit: UNIT,
        silent_penalty: 0.7,
        bias_times: true,
        fast_gradient: true,
    };
    let active = [true, false, true, true, true, false, true, true];
    // Sample by sample.
    let (mut g1, mut b1) = (vec![0.0; net.n_weights()], vec![0.0; net.n_bias()]);
    let mut ws = net.workspace();
    for i in (0..8).filter(|&i| active[i]) {
        net.forward(&times[i * 4..(i + 1) * 4], &mut ws);
        let last = ws.deltas.len() - 1;
        let out = ws.outputs[last].clone();
        loss.loss_and_grad(&out, labels[i] as usize, &mut ws.deltas[last]);
        let mut b = vec![0.0; net.n_bias()];
        net.backward_with(&mut ws, &mut g1, &mut b, &opts);
        b1.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
    }
    // All at once.
    let mut wss: Vec<_> = (0..8).map(|_| net.workspace()).collect();
    for (i, ws) in wss.iter_mut().enumerate() {
        net.forward(&times[i * 4..(i + 1) * 4], ws);
        let last = ws.deltas.len() - 1;
        let out = ws.outputs[last].clone();
        loss.loss_and_grad(&out, labels[i] as usize, &mut ws.deltas[last]);
    }
    let mut g2 = vec![0.0; net.n_weights()];
    net.backward_chunk(&mut wss, &active, &mut g2, &opts);
    let mut b2 = vec![0.0; net.n_bias()];
    for ws in wss.iter().zip(active).filter(|(_, a)| *a).map(|(w, _)| w) {
        b2.iter_mut()
            .zip(&ws.bias_deltas)
            .for_each(|(x, y)| *x += y);
    }
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&g1), bits(&g2));
    assert_eq!(bits(&b1), bits(&b2));
    assert!(g1.iter().filter(|x| **x != 0.0).count() > net.n_weights() / 2);
}

#[test]
fn fast_rank2_backward_matches_the_exact_evaluation() {
    use spikeloom_core::engine::BackwardOptions;
    let (times, labels) = data(16, 41);
    let net = network(13);
    let loss = ComsaLoss {
        time_unit: UNIT,
        penalty_output_spike_time: 0.05,
    };
    let mut opts = BackwardOptions {
        max_dw_norm: f64::INFINITY,
        clip_derivative: f64::INFINITY,
        clip_gradient: f64::INFINITY,
        time_unit: UNIT,
        silent_penalty: 0.0,
        bias_times: true,
        fast_gradient: true,
    };
    let mut run = |fast: bool| {
        opts.fast_gradient = fast;
        let (mut g, mut b) = (vec![0.0; net.n_weights()], vec![0.0; net.n_bias()]);
        let mut ws = net.workspace();
        for i in 0..16 {
            net.forward(&times[i * 4..(i + 1) * 4], &mut ws);
            let last = ws.deltas.len() - 1;
            let out = ws.outputs[last].clone();
            loss.loss_and_grad(&out, labels[i] as usize, &mut ws.deltas[last]);
            net.backward_with(&mut ws, &mut g, &mut b, &opts);
        }
        (g, b)
    };
    let (g_fast, b_fast) = run(true);
    let (g_exact, b_exact) = run(false);
    let scale = g_exact.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (a, b)) in g_fast.iter().zip(&g_exact).enumerate() {
        assert!((a - b).abs() <= 1e-10 * scale, "weight {i}: {a} vs {b}");
    }
    let scale = b_exact.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 0.0);
    for (i, (a, b)) in b_fast.iter().zip(&b_exact).enumerate() {
        assert!((a - b).abs() <= 1e-10 * scale, "bias {i}: {a} vs {b}");
    }
}
