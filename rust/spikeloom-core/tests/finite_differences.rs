//! Exact derivatives against central finite differences of the exact solver.
//!
//! * `spike_time_gradient` (dt/dw_j, dt/dt_j) against finite differences of `first_spike`;
//! * `Network::backward` against finite differences of `sum_k delta_k t_out_k` over every weight of
//!   a 3-5-2 network with one bias spike per layer.
//!
//! Points where the causal set changes between the +/- evaluations (a kink of t) or where a spike
//! appears or disappears are skipped, and so are near-tangential crossings (where the derivative
//! blows up and finite differences are meaningless); the tests assert that most points are checked.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spikeloom_core::engine::{Layer, Network};
use spikeloom_core::spike_time::{
    first_spike, spike_time_gradient, Gradient, LifParams, SortedInputs,
};

const REL_TOL: f64 = 1e-4;
const EPS_REL: f64 = 1e-6;

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    lo + (hi - lo) * u
}

fn neurons() -> Vec<(&'static str, LifParams, f64)> {
    // (name, params, weight scale giving about half spiking neurons)
    vec![
        ("equal tau=1", LifParams::new(1.0, 1.0, 1.0).unwrap(), 1.0),
        (
            "double tau_syn=1",
            LifParams::new(2.0, 1.0, 0.5).unwrap(),
            0.4,
        ),
        (
            "equal tau=5ms",
            LifParams::new(5e-3, 5e-3, 1.3).unwrap(),
            1.3,
        ),
        (
            "double tau_syn=5ms",
            LifParams::new(10e-3, 5e-3, 0.8).unwrap(),
            0.64,
        ),
    ]
}

fn solve(p: &LifParams, sorted: &mut SortedInputs, times: &[f64], weights: &[f64]) -> (f64, usize) {
    let kernel = p.kernel().unwrap();
    sorted.prepare(times, &kernel);
    first_spike(&kernel, p.threshold, sorted, weights)
}

#[derive(Default, Debug)]
struct Stats {
    checked: usize,
    skipped: usize,
    max_rel: f64,
}

/// |a - b| within REL_TOL relative to the larger magnitude, with an absolute floor `floor`.
fn close(a: f64, b: f64, floor: f64) -> (bool, f64) {
    let err = (a - b).abs();
    let rel = err / a.abs().max(b.abs()).max(floor);
    (rel <= REL_TOL, rel)
}

#[test]
fn spike_time_gradient_matches_finite_differences() {
    for (case, (name, p, w_scale)) in neurons().into_iter().enumerate() {
        let kernel = p.kernel().unwrap();
        let tau = p.tau_syn;
        let mut rng = ChaCha8Rng::seed_from_u64(500 + case as u64);
        let mut sorted = SortedInputs::with_capacity(16);
        let (mut w_stats, mut t_stats) = (Stats::default(), Stats::default());
        let mut neurons_checked = 0;
        let mut tangential_skips = 0;
        for _ in 0..60 {
            let n = 2 + (rng.next_u64() % 9) as usize;
            let times: Vec<f64> = (0..n).map(|_| uniform(&mut rng, 0.0, 2.5 * tau)).collect();
            let weights: Vec<f64> = (0..n)
                .map(|_| w_scale * uniform(&mut rng, -1.0, 3.0) * 4.0 / n as f64)
                .collect();
            let (t, n_causal) = solve(&p, &mut sorted, &times, &weights);
            let mut dw = vec![0.0; n];
            let mut dt = vec![0.0; n];
            let mut visited = vec![false; n];
            let outcome =
                spike_time_gradient(&kernel, t, n_causal, &sorted, &weights, |j, a, b| {
                    assert!(!visited[j], "input {j} visited twice");
                    visited[j] = true;
                    dw[j] = a;
                    dt[j] = b;
                });
            let dudt = match outcome {
                Gradient::Silent => {
                    assert!(t == f64::INFINITY);
                    assert!(visited.iter().all(|v| !v));
                    continue;
                }
                Gradient::Tangential => {
                    tangential_skips += 1;
                    continue;
                }
                Gradient::Ok(d) => d,
            };
            // Visited exactly the causal inputs: those with t_j <= t (n_causal of them).
            assert_eq!(visited.iter().filter(|v| **v).count(), n_causal);
            for j in 0..n {
                if visited[j] {
                    assert!(
                        times[j] <= t,
                        "{name}: causal input {j} at {} after the spike {t}",
                        times[j]
                    );
                }
            }
            // Near-tangential: 1e-6 perturbations can move t by more than the linear regime.
            if dudt * tau < 1e-3 * p.threshold {
                tangential_skips += 1;
                continue;
            }
            neurons_checked += 1;
            // dt/dw: scale of the derivative for the absolute floor.
            let scale_w = dw
                .iter()
                .fold(0.0f64, |m, v| m.max(v.abs()))
                .max(1e-3 * tau / p.threshold);
            for j in 0..n {
                let eps = EPS_REL * weights[j].abs().max(w_scale);
                let mut wp = weights.clone();
                wp[j] += eps;
                let (tp, np) = solve(&p, &mut sorted, &times, &wp);
                wp[j] = weights[j] - eps;
                let (tm, nm) = solve(&p, &mut sorted, &times, &wp);
                if np != n_causal || nm != n_causal || !tp.is_finite() || !tm.is_finite() {
                    w_stats.skipped += 1;
                    continue;
                }
                let fd = (tp - tm) / (2.0 * eps);
                let (ok, rel) = close(dw[j], fd, 1e-3 * scale_w);
                assert!(ok, "{name}: dt/dw[{j}] exact {} vs finite difference {fd} (rel {rel:e}); times {times:?} weights {weights:?}", dw[j]);
                w_stats.max_rel = w_stats.max_rel.max(rel);
                w_stats.checked += 1;
                if !visited[j] {
                    assert_eq!(fd, 0.0, "{name}: non-causal input {j} moves the spike");
                }
            }
            let scale_t = dt.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-3);
            for j in 0..n {
                let eps = EPS_REL * tau;
                let mut tp_in = times.clone();
                tp_in[j] += eps;
                let (tp, np) = solve(&p, &mut sorted, &tp_in, &weights);
                tp_in[j] = times[j] - eps;
                let (tm, nm) = solve(&p, &mut sorted, &tp_in, &weights);
                if np != n_causal || nm != n_causal || !tp.is_finite() || !tm.is_finite() {
                    t_stats.skipped += 1;
                    continue;
                }
                let fd = (tp - tm) / (2.0 * eps);
                let (ok, rel) = close(dt[j], fd, 1e-3 * scale_t);
                assert!(ok, "{name}: dt/dt[{j}] exact {} vs finite difference {fd} (rel {rel:e}); times {times:?} weights {weights:?}", dt[j]);
                t_stats.max_rel = t_stats.max_rel.max(rel);
                t_stats.checked += 1;
            }
            // Sum rule: shifting every causal input by the same amount shifts the spike by it.
            let sum: f64 = dt.iter().sum();
            assert!((sum - 1.0).abs() < 1e-9, "{name}: sum of dt/dt_j = {sum}");
        }
        eprintln!("{name}: neurons {neurons_checked} (tangential skips {tangential_skips}); dw {w_stats:?}; dt {t_stats:?}");
        assert!(
            neurons_checked >= 15,
            "{name}: only {neurons_checked} spiking neurons checked"
        );
        assert!(w_stats.skipped * 20 <= w_stats.checked && t_stats.skipped * 20 <= t_stats.checked);
    }
}

/// sum_k delta_k t_k over the output spikes that exist in the unperturbed run; `None` when the set
/// of spiking neurons (any layer) differs from `pattern`.
fn objective(net: &Network, x: &[f64], delta: &[f64], pattern: &[Vec<bool>]) -> Option<f64> {
    let mut ws = net.workspace();
    net.forward(x, &mut ws);
    for (out, pat) in ws.outputs.iter().zip(pattern) {
        if out.iter().map(|t| t.is_finite()).ne(pat.iter().copied()) {
            return None;
        }
    }
    let last = ws.outputs.last().unwrap();
    Some(
        last.iter()
            .zip(delta)
            .filter(|(t, _)| t.is_finite())
            .map(|(t, d)| t * d)
            .sum(),
    )
}

#[test]
fn backward_matches_finite_differences() {
    let delta = [0.7, -1.3];
    for (case, (name, p, w_scale)) in neurons().into_iter().enumerate() {
        let tau = p.tau_syn;
        let mut stats = Stats::default();
        let mut silent_outputs = 0;
        let mut chopped_or_tangential = 0;
        // Non-zero gradients of the hidden layer: the error really is propagated down.
        let mut hidden_nonzero = 0;
        for trial in 0..6u64 {
            let seed = 900 + 10 * case as u64 + trial;
            let net0 = Network::new(
                p,
                &[3, 5, 2],
                &[vec![0.9 * tau], vec![0.9 * tau]],
                &[
                    (1.2 * w_scale, 0.8 * w_scale),
                    (0.9 * w_scale, 0.6 * w_scale),
                ],
                seed,
            )
            .unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let x: Vec<f64> = (0..3)
                .map(|_| uniform(&mut rng, 0.15 * tau, 2.0 * tau))
                .collect();
            let mut ws = net0.workspace();
            net0.forward(&x, &mut ws);
            let pattern: Vec<Vec<bool>> = ws
                .outputs
                .iter()
                .map(|o| o.iter().map(|t| t.is_finite()).collect())
                .collect();
            silent_outputs += pattern[1].iter().filter(|s| !**s).count();
            let last = ws.deltas.len() - 1;
            ws.deltas[last].copy_from_slice(&delta);
            let mut grad = vec![0.0; net0.n_weights()];
            let bs = net0.backward(&mut ws, &mut grad, f64::INFINITY);
            assert_eq!(bs.chopped, 0, "max_dw_norm = inf never chops");
            if bs.tangential > 0 {
                chopped_or_tangential += 1;
                continue;
            }
            // The backward pass only adds to `grad`: a second call doubles it.
            let mut twice = grad.clone();
            let mut ws2 = net0.workspace();
            net0.forward(&x, &mut ws2);
            ws2.deltas[last].copy_from_slice(&delta);
            net0.backward(&mut ws2, &mut twice, f64::INFINITY);
            for (a, b) in grad.iter().zip(&twice) {
                assert_eq!(2.0 * a, *b);
            }
            hidden_nonzero += grad[..net0.layers()[0].weights.len()]
                .iter()
                .filter(|g| **g != 0.0)
                .count();
            let scale = grad
                .iter()
                .fold(0.0f64, |m, v| m.max(v.abs()))
                .max(1e-3 * tau);
            let mut offset = 0;
            for l in 0..net0.layers().len() {
                let weights = net0.layers()[l].weights.clone();
                for i in 0..weights.len() {
                    let eps = EPS_REL * weights[i].abs().max(w_scale);
                    let mut net = net0.clone();
                    let mut w = weights.clone();
                    w[i] = weights[i] + eps;
                    net.set_weights(l, &w).unwrap();
                    let fp = objective(&net, &x, &delta, &pattern);
                    w[i] = weights[i] - eps;
                    net.set_weights(l, &w).unwrap();
                    let fm = objective(&net, &x, &delta, &pattern);
                    let (Some(fp), Some(fm)) = (fp, fm) else {
                        stats.skipped += 1;
                        continue;
                    };
                    let fd = (fp - fm) / (2.0 * eps);
                    let g = grad[offset + i];
                    let (ok, rel) = close(g, fd, 1e-3 * scale);
                    assert!(ok, "{name} trial {trial}: dL/dW[{l}][{i}] backward {g} vs finite difference {fd} (rel {rel:e})");
                    stats.max_rel = stats.max_rel.max(rel);
                    stats.checked += 1;
                }
                offset += weights.len();
            }
        }
        eprintln!(
            "{name}: {stats:?}; silent outputs {silent_outputs}; nets skipped (tangential) {chopped_or_tangential}; \
             non-zero hidden-layer gradients {hidden_nonzero}"
        );
        assert!(hidden_nonzero >= 40, "{name}: {hidden_nonzero}");
        assert!(stats.checked >= 4 * 27, "{name}: {stats:?}");
        assert!(stats.skipped * 10 <= stats.checked, "{name}: {stats:?}");
    }
}

/// Chopping: with a finite max_dw_norm below the largest |dL/dw| of a row, that row's gradient
/// (and the error it passes down) is dropped; with a larger one nothing changes.
#[test]
fn backward_chopping_drops_whole_rows() {
    let p = LifParams::new(1.0, 1.0, 1.0).unwrap();
    let layer0 = Layer {
        n_in: 2,
        n_out: 2,
        bias_times: vec![0.5],
        weights: vec![2.0, 1.5, 0.5, 1.8, 2.2, 0.4],
    };
    let layer1 = Layer {
        n_in: 2,
        n_out: 1,
        bias_times: vec![],
        weights: vec![2.0, 2.0],
    };
    let net = Network::from_layers(p, vec![layer0, layer1]).unwrap();
    let x = [0.1, 0.3];
    let run = |max: f64| {
        let mut ws = net.workspace();
        net.forward(&x, &mut ws);
        assert!(
            ws.outputs.iter().flatten().all(|t| t.is_finite()),
            "{:?}",
            ws.outputs
        );
        ws.deltas[1][0] = 1.0;
        let mut g = vec![0.0; net.n_weights()];
        let s = net.backward(&mut ws, &mut g, max);
        (g, s)
    };
    let (full, s) = run(f64::INFINITY);
    assert_eq!(s.chopped, 0);
    let top = full[6..].iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let (same, s) = run(top * 1.01);
    assert_eq!(s.chopped, 0);
    let max_lower = full[..6].iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if max_lower < top * 1.01 {
        assert_eq!(same, full);
    }
    let (none, s) = run(top * 0.99);
    assert!(s.chopped >= 1);
    assert!(
        none[6..].iter().all(|v| *v == 0.0),
        "output row not dropped: {none:?}"
    );
    assert!(
        none[..6].iter().all(|v| *v == 0.0),
        "dropped row still passed its error down: {none:?}"
    );
}

/// `layer_spike_times` Jacobians against finite differences of its own spike times.
#[test]
fn layer_spike_times_jacobians_match_finite_differences() {
    use spikeloom_core::engine::ttfs::layer_spike_times;
    for (case, (name, p, w_scale)) in neurons().into_iter().enumerate() {
        let tau = p.tau_syn;
        let mut rng = ChaCha8Rng::seed_from_u64(4242 + case as u64);
        let (n, n_in, n_out) = (6, 5, 4);
        let x: Vec<f64> = (0..n * n_in)
            .map(|_| uniform(&mut rng, 0.0, 2.0 * tau))
            .collect();
        let w: Vec<f64> = (0..n_out * n_in)
            .map(|_| w_scale * uniform(&mut rng, -0.5, 2.5))
            .collect();
        let (t, dw, dx) = layer_spike_times(p, &x, n, n_in, &w, n_out, 2).unwrap();
        let mut stats = Stats::default();
        for s in 0..n {
            for k in 0..n_out {
                let t0 = t[s * n_out + k];
                for j in 0..n_in {
                    let at = (s * n_out + k) * n_in + j;
                    if !t0.is_finite() {
                        assert_eq!((dw[at], dx[at]), (0.0, 0.0));
                        continue;
                    }
                    // dt/dw
                    let eps = EPS_REL * w[k * n_in + j].abs().max(w_scale);
                    let mut wp = w.clone();
                    wp[k * n_in + j] += eps;
                    let tp =
                        layer_spike_times(p, &x[s * n_in..(s + 1) * n_in], 1, n_in, &wp, n_out, 1)
                            .unwrap()
                            .0[k];
                    wp[k * n_in + j] -= 2.0 * eps;
                    let tm =
                        layer_spike_times(p, &x[s * n_in..(s + 1) * n_in], 1, n_in, &wp, n_out, 1)
                            .unwrap()
                            .0[k];
                    if tp.is_finite() && tm.is_finite() {
                        let fd = (tp - tm) / (2.0 * eps);
                        let (ok, rel) = close(dw[at], fd, 1e-3 * tau / p.threshold);
                        assert!(
                            ok,
                            "{name}: dt/dw sample {s} neuron {k} input {j}: {} vs {fd}",
                            dw[at]
                        );
                        stats.max_rel = stats.max_rel.max(rel);
                        stats.checked += 1;
                    } else {
                        stats.skipped += 1;
                    }
                    // dt/dx
                    let eps = EPS_REL * tau;
                    let mut xp = x[s * n_in..(s + 1) * n_in].to_vec();
                    xp[j] += eps;
                    let tp = layer_spike_times(p, &xp, 1, n_in, &w, n_out, 1).unwrap().0[k];
                    xp[j] -= 2.0 * eps;
                    let tm = layer_spike_times(p, &xp, 1, n_in, &w, n_out, 1).unwrap().0[k];
                    if tp.is_finite() && tm.is_finite() {
                        let fd = (tp - tm) / (2.0 * eps);
                        let (ok, rel) = close(dx[at], fd, 1e-3);
                        assert!(
                            ok,
                            "{name}: dt/dx sample {s} neuron {k} input {j}: {} vs {fd}",
                            dx[at]
                        );
                        stats.max_rel = stats.max_rel.max(rel);
                        stats.checked += 1;
                    } else {
                        stats.skipped += 1;
                    }
                }
            }
        }
        eprintln!("{name}: layer_spike_times {stats:?}");
        assert!(
            stats.checked >= 60 && stats.skipped * 10 <= stats.checked,
            "{name}: {stats:?}"
        );
    }
}
