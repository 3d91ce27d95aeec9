//! S4NN learning against a direct, dense implementation of the rule written here from the method
//! notes (explicit post-update weights, dense masks, eager weight decay), target-rule edge cases,
//! thread-count independence, dead-neuron re-initialisation, model selection and file round trips.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spikeloom_core::s4nn::{
    fit, io, output_errors, relative_targets, HiddenDelta, LabelledSteps, S4nnEpochMetrics,
    S4nnFitConfig, S4nnNetwork, TieRule,
};
use spikeloom_core::Error;
use std::ops::ControlFlow;
use std::path::Path;

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    lo + (hi - lo) * u
}

// ---------------------------------------------------------------------------------------------
// Dense reference

#[derive(Clone, Debug)]
struct Dense {
    sizes: Vec<usize>,
    /// Per layer `[n_out][n_in]`.
    w: Vec<Vec<f64>>,
    thr: Vec<f64>,
    t_max: u32,
    delay: u32,
}

impl Dense {
    fn layer(&self, l: usize, x: &[u32]) -> Vec<u32> {
        let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
        (0..n_out)
            .map(|j| {
                let mut v = 0.0;
                for t in 0..=self.t_max {
                    if t == self.t_max {
                        return self.t_max; // forced spike
                    }
                    for (i, &xi) in x.iter().enumerate() {
                        if xi == t {
                            v += self.w[l][j * n_in + i];
                        }
                    }
                    if v > self.thr[l] {
                        return (t + self.delay).min(self.t_max);
                    }
                }
                unreachable!()
            })
            .collect()
    }

    fn forward(&self, x: &[u32]) -> Vec<Vec<u32>> {
        let mut out = Vec::new();
        let mut input = x.to_vec();
        for l in 0..self.sizes.len() - 1 {
            let t = self.layer(l, &input);
            out.push(t.clone());
            input = t;
        }
        out
    }

    /// Per-layer normalised deltas (None: zero output error). `updated`: the error of layer l-1
    /// uses layer l's weights after this sample's own step `W(1 - lr wd) - lr g`.
    fn deltas(
        &self,
        x: &[u32],
        y: usize,
        lr: &[f64],
        wd: &[f64],
        gamma: u32,
        updated: bool,
    ) -> (Vec<Vec<u32>>, Option<Vec<Vec<f64>>>) {
        let times = self.forward(x);
        let n_layers = times.len();
        let out = &times[n_layers - 1];
        let t_max = self.t_max;
        let tau = *out.iter().min().unwrap();
        let mut target: Vec<u32> = out.clone();
        if tau == t_max {
            target.iter_mut().for_each(|t| *t = t_max);
            target[y] = t_max - gamma;
        } else {
            for (tg, &t) in target.iter_mut().zip(out) {
                if t - tau < gamma {
                    *tg = (tau + gamma).min(t_max);
                }
            }
            target[y] = tau;
        }
        let e: Vec<f64> = target
            .iter()
            .zip(out)
            .map(|(&tg, &t)| (tg as f64 - t as f64) / t_max as f64)
            .collect();
        let norm = e.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm == 0.0 {
            return (times, None);
        }
        let mut deltas = vec![Vec::new(); n_layers];
        deltas[n_layers - 1] = e.iter().map(|v| v / norm).collect();
        for l in (1..n_layers).rev() {
            let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
            let input = &times[l - 1];
            let mut d = vec![0.0; n_in];
            for (i, di) in d.iter_mut().enumerate() {
                for j in 0..n_out {
                    let mask = if input[i] < times[l][j] { 1.0 } else { 0.0 };
                    let w_old = self.w[l][j * n_in + i];
                    let w = if updated {
                        w_old - lr[l] * deltas[l][j] * mask - lr[l] * wd[l] * w_old
                    } else {
                        w_old
                    };
                    *di += deltas[l][j] * mask * w;
                }
            }
            let norm = d.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm > 0.0 {
                d.iter_mut().for_each(|v| *v /= norm);
            }
            deltas[l - 1] = d;
        }
        (times, Some(deltas))
    }

    /// Dense gradient `g_ji = delta_j [t_i < t_j]` of every layer (zeros for a zero error).
    fn grads(
        &self,
        x: &[u32],
        times: &[Vec<u32>],
        deltas: &Option<Vec<Vec<f64>>>,
    ) -> Vec<Vec<f64>> {
        let mut g: Vec<Vec<f64>> = self.w.iter().map(|w| vec![0.0; w.len()]).collect();
        if let Some(deltas) = deltas {
            for l in 0..times.len() {
                let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
                let input: &[u32] = if l == 0 { x } else { &times[l - 1] };
                for j in 0..n_out {
                    for i in 0..n_in {
                        if input[i] < times[l][j] {
                            g[l][j * n_in + i] = deltas[l][j];
                        }
                    }
                }
            }
        }
        g
    }

    /// One step on a batch of samples: `W <- W - lr (mean g + wd W)`.
    fn step(
        &mut self,
        batch: &[(&[u32], usize)],
        lr: &[f64],
        wd: &[f64],
        gamma: u32,
        updated: bool,
    ) {
        let mut total: Vec<Vec<f64>> = self.w.iter().map(|w| vec![0.0; w.len()]).collect();
        for &(x, y) in batch {
            let (times, deltas) = self.deltas(x, y, lr, wd, gamma, updated);
            for (t, g) in total.iter_mut().zip(self.grads(x, &times, &deltas)) {
                for (a, b) in t.iter_mut().zip(g) {
                    *a += b;
                }
            }
        }
        let b = batch.len() as f64;
        for (l, w) in self.w.iter_mut().enumerate() {
            for (wv, g) in w.iter_mut().zip(&total[l]) {
                *wv = *wv - lr[l] * g / b - lr[l] * wd[l] * *wv;
            }
        }
    }
}

struct Case {
    dense: Dense,
    net: S4nnNetwork,
    x: Vec<u32>,
    y: Vec<i64>,
}

fn case(seed: u64, sizes: &[usize], t_max: u32, delay: u32, n: usize) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n_layers = sizes.len() - 1;
    // Thresholds and weights such that many, but not all, neurons fire.
    let thr: Vec<f64> = (0..n_layers).map(|_| uniform(&mut rng, 4.0, 8.0)).collect();
    let w: Vec<Vec<f64>> = sizes
        .windows(2)
        .map(|p| {
            (0..p[0] * p[1])
                .map(|_| uniform(&mut rng, -1.0, 4.0))
                .collect()
        })
        .collect();
    let x: Vec<u32> = (0..n * sizes[0])
        .map(|_| {
            if rng.next_u64() % 4 == 0 {
                t_max
            } else {
                (rng.next_u64() % u64::from(t_max)) as u32
            }
        })
        .collect();
    let n_out = *sizes.last().unwrap() as u64;
    let y: Vec<i64> = (0..n).map(|_| (rng.next_u64() % n_out) as i64).collect();
    let net = S4nnNetwork::from_weights(sizes, &thr, &w, t_max, delay).unwrap();
    Case {
        dense: Dense {
            sizes: sizes.to_vec(),
            w,
            thr,
            t_max,
            delay,
        },
        net,
        x,
        y,
    }
}

fn cfg_for(n_layers: usize, batch: usize, hidden: HiddenDelta) -> S4nnFitConfig {
    let mut cfg = S4nnFitConfig::paper(n_layers);
    cfg.epochs = 1;
    cfg.lr = (0..n_layers).map(|l| 0.3 + 0.2 * l as f64).collect();
    cfg.weight_decay = vec![2e-3; n_layers];
    cfg.batch_size = batch;
    cfg.hidden_delta = hidden;
    cfg.reinit_below = 0.0;
    cfg.shuffle = false;
    cfg.keep_best = false;
    cfg.threads = 2;
    cfg
}

fn assert_close(net: &S4nnNetwork, dense: &Dense, what: &str) {
    for (l, w) in dense.w.iter().enumerate() {
        let got = net.weights(l).unwrap();
        for (k, (a, b)) in got.iter().zip(w).enumerate() {
            assert!(
                (a - b).abs() <= 1e-10 * (1.0 + b.abs()),
                "{what}: layer {l} weight {k}: {a} vs {b}"
            );
        }
    }
}

fn run_fit(
    net: &mut S4nnNetwork,
    x: &[u32],
    y: &[i64],
    cfg: &S4nnFitConfig,
) -> Vec<S4nnEpochMetrics> {
    fit(
        net,
        LabelledSteps {
            times: x,
            labels: y,
        },
        None,
        None,
        cfg,
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap()
    .history
}

#[test]
fn sgd_matches_the_dense_rule() {
    let mut updates = 0.0;
    for (sizes, t_max, delay) in [
        (vec![10usize, 8, 4], 24u32, 1u32),
        (vec![10, 8, 4], 24, 0),
        (vec![9, 7, 6, 3], 20, 1),
        (vec![12, 5], 16, 2),
    ] {
        for hidden in [HiddenDelta::Updated, HiddenDelta::Original] {
            for seed in 0..4 {
                let Case {
                    mut dense,
                    mut net,
                    x,
                    y,
                } = case(seed, &sizes, t_max, delay, 25);
                let cfg = cfg_for(sizes.len() - 1, 1, hidden);
                let h = run_fit(&mut net, &x, &y, &cfg);
                updates += h[0].train_error_fraction;
                for s in 0..y.len() {
                    let xs = &x[s * sizes[0]..(s + 1) * sizes[0]];
                    dense.step(
                        &[(xs, y[s] as usize)],
                        &cfg.lr,
                        &cfg.weight_decay,
                        cfg.gamma,
                        hidden == HiddenDelta::Updated,
                    );
                }
                assert_close(
                    &net,
                    &dense,
                    &format!("{sizes:?} delay {delay} {hidden:?} seed {seed}"),
                );
            }
        }
    }
    assert!(
        updates > 0.5 * 32.0,
        "most samples should have a non-zero error"
    );
}

#[test]
fn updated_and_original_hidden_errors_differ() {
    let Case { net, x, y, .. } = case(3, &[10, 8, 4], 24, 1, 25);
    let (mut a, mut b) = (net.clone(), net);
    run_fit(&mut a, &x, &y, &cfg_for(2, 1, HiddenDelta::Updated));
    run_fit(&mut b, &x, &y, &cfg_for(2, 1, HiddenDelta::Original));
    assert_ne!(a.weights(0).unwrap(), b.weights(0).unwrap());
}

#[test]
fn minibatch_matches_the_dense_rule_for_any_thread_count() {
    for hidden in [HiddenDelta::Updated, HiddenDelta::Original] {
        let Case {
            mut dense,
            net,
            x,
            y,
            ..
        } = case(11, &[10, 8, 4], 24, 1, 43);
        let mut results = Vec::new();
        for threads in [1, 2, 3] {
            let mut n = net.clone();
            let mut cfg = cfg_for(2, 20, hidden);
            cfg.threads = threads;
            let h = run_fit(&mut n, &x, &y, &cfg);
            results.push((n, h[0].train_accuracy, h[0].train_error_fraction));
        }
        assert!(
            results.windows(2).all(|p| p[0] == p[1]),
            "thread count changed the result"
        );
        for batch in (0..43).collect::<Vec<usize>>().chunks(20) {
            let samples: Vec<(&[u32], usize)> = batch
                .iter()
                .map(|&s| (&x[s * 10..(s + 1) * 10], y[s] as usize))
                .collect();
            dense.step(
                &samples,
                &[0.3, 0.5],
                &[2e-3, 2e-3],
                3,
                hidden == HiddenDelta::Updated,
            );
        }
        assert_close(&results[0].0, &dense, &format!("batch {hidden:?}"));
    }
}

#[test]
fn target_rule_edge_cases() {
    let t_max = 20;
    let mut tg = [0u32; 4];
    // No output spike: everyone at t_max, the label gamma earlier.
    relative_targets(&[20, 20, 20, 20], 2, t_max, 3, &mut tg);
    assert_eq!(tg, [20, 20, 17, 20]);
    // Correct winner ahead by >= gamma: targets = times, zero error.
    relative_targets(&[5, 8, 9, 20], 0, t_max, 3, &mut tg);
    assert_eq!(tg, [5, 8, 9, 20]);
    let mut e = [1.0; 4];
    assert!(!output_errors(&[5, 8, 9, 20], 0, t_max, 3, &mut e));
    assert_eq!(e, [0.0; 4]);
    // Correct winner, margin < gamma: the close competitor is pushed to tau + gamma.
    relative_targets(&[5, 7, 9, 20], 0, t_max, 3, &mut tg);
    assert_eq!(tg, [5, 8, 9, 20]);
    assert!(output_errors(&[5, 7, 9, 20], 0, t_max, 3, &mut e));
    assert_eq!(e, [0.0, 1.0 / 20.0, 0.0, 0.0]);
    // Wrong winner: winner pushed to tau + gamma, label pulled to tau.
    relative_targets(&[5, 7, 9, 20], 2, t_max, 3, &mut tg);
    assert_eq!(tg, [8, 8, 5, 20]);
    // Tie including the label: the other tied output is pushed back.
    relative_targets(&[5, 5, 12, 20], 1, t_max, 3, &mut tg);
    assert_eq!(tg, [8, 5, 12, 20]);
    // tau + gamma is clamped at t_max.
    relative_targets(&[19, 20, 20, 20], 1, t_max, 3, &mut tg);
    assert_eq!(tg, [20, 19, 20, 20]);
    // Label silent while another fired.
    relative_targets(&[20, 20, 12, 20], 3, t_max, 3, &mut tg);
    assert_eq!(tg, [20, 20, 15, 12]);
}

#[test]
fn zero_error_samples_only_decay() {
    // One output fires alone and early: the label sample gives zero error, only decay applies.
    let w = [vec![10.0, 0.0], vec![0.0, 1.0]];
    let flat: Vec<f64> = w.concat();
    let mut net =
        S4nnNetwork::from_weights(&[2, 2], &[5.0], std::slice::from_ref(&flat), 10, 1).unwrap();
    let mut cfg = cfg_for(1, 1, HiddenDelta::Updated);
    cfg.lr = vec![0.5];
    cfg.weight_decay = vec![0.01];
    let h = run_fit(&mut net, &[0, 10], &[0], &cfg);
    assert_eq!(h[0].train_error_fraction, 0.0);
    assert_eq!(h[0].train_accuracy, 1.0);
    let got = net.weights(0).unwrap();
    for (a, b) in got.iter().zip(&flat) {
        assert!((a - b * (1.0 - 0.005)).abs() < 1e-12);
    }
}

#[test]
fn dead_hidden_neurons_are_reinitialised() {
    let Case { net, x, y, .. } = case(5, &[10, 8, 4], 24, 1, 40);
    let mut w0 = net.weights(0).unwrap();
    // Hidden neurons 0 and 3 can never fire.
    for j in [0usize, 3] {
        w0[j * 10..(j + 1) * 10].iter_mut().for_each(|w| *w = -50.0);
    }
    let mut base = net.clone();
    base.set_weights(0, &w0).unwrap();
    let mut cfg = cfg_for(2, 1, HiddenDelta::Updated);
    cfg.reinit_below = 0.001;
    cfg.reinit = vec![(1.0, 2.0), (0.0, 48.0)];
    let mut a = base.clone();
    let h = run_fit(&mut a, &x, &y, &cfg);
    let fired_any: Vec<bool> = {
        // Which neurons fired at least once with the initial weights? (Only dead ones are reset.)
        let (t, _) = base.run(&x, 40, 1).unwrap();
        (0..8)
            .map(|j| (0..40).any(|s| t[0][s * 8 + j] < 24))
            .collect()
    };
    assert!(!fired_any[0] && !fired_any[3]);
    assert!(h[0].reinitialised >= 2);
    let wa = a.weights(0).unwrap();
    for j in [0usize, 3] {
        assert!(wa[j * 10..(j + 1) * 10]
            .iter()
            .all(|w| (1.0..2.0).contains(w)));
    }
    // Seeded: the same run gives the same redraw; a different seed a different one.
    let mut b = base.clone();
    run_fit(&mut b, &x, &y, &cfg);
    assert_eq!(a, b);
    let mut c = base.clone();
    let mut cfg_c = cfg.clone();
    cfg_c.seed = 9;
    run_fit(&mut c, &x, &y, &cfg_c);
    assert_ne!(wa[..10], c.weights(0).unwrap()[..10]);
    // Off: dead neurons keep their (decayed) weights.
    let mut d = base.clone();
    cfg.reinit_below = 0.0;
    let h = run_fit(&mut d, &x, &y, &cfg);
    assert_eq!(h[0].reinitialised, 0);
    assert!(d.weights(0).unwrap()[..10].iter().all(|&w| w < -45.0));
}

#[test]
fn keep_best_restores_the_best_validation_epoch_and_callback_can_stop() {
    let Case { net, x, y, .. } = case(8, &[10, 12, 4], 24, 1, 120);
    let mut cfg = cfg_for(2, 1, HiddenDelta::Updated);
    cfg.epochs = 8;
    cfg.keep_best = true;
    cfg.shuffle = true;
    let train = LabelledSteps {
        times: &x[..80 * 10],
        labels: &y[..80],
    };
    let val = LabelledSteps {
        times: &x[80 * 10..],
        labels: &y[80..],
    };
    let mut n = net.clone();
    let out = fit(&mut n, train, Some(val), Some(val), &cfg, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    let accs: Vec<f64> = out
        .history
        .iter()
        .map(|m| m.val_accuracy.unwrap())
        .collect();
    let best = out.best_epoch.unwrap();
    let max = accs.iter().cloned().fold(f64::MIN, f64::max);
    assert_eq!(accs[best - 1], max);
    assert_eq!(accs.iter().position(|&a| a == max).unwrap() + 1, best);
    let e = n.evaluate(val, TieRule::Voltage, 1).unwrap();
    assert_eq!(e.accuracy, max);
    assert_eq!(out.history[0].test_accuracy, out.history[0].val_accuracy);
    // The callback stops after epoch 3.
    let mut n = net.clone();
    let out = fit(&mut n, train, None, None, &cfg, &mut |m| {
        if m.epoch == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert_eq!(out.history.len(), 3);
    assert_eq!(out.best_epoch, None);
}

#[test]
fn bad_configurations_are_refused() {
    let Case { mut net, x, y, .. } = case(1, &[10, 8, 4], 24, 1, 10);
    let data = LabelledSteps {
        times: &x,
        labels: &y,
    };
    let check = |cfg: S4nnFitConfig, net: &mut S4nnNetwork, arg: &str| match fit(
        net,
        data,
        None,
        None,
        &cfg,
        &mut |_| ControlFlow::Continue(()),
    ) {
        Err(Error::InvalidParameter { arg: a, .. }) | Err(Error::Shape { arg: a, .. }) => {
            assert_eq!(a, arg)
        }
        other => panic!("{arg}: {other:?}"),
    };
    let base = cfg_for(2, 1, HiddenDelta::Updated);
    let mut c = base.clone();
    c.lr = vec![0.1];
    check(c, &mut net, "lr");
    let mut c = base.clone();
    c.lr = vec![0.1, -1.0];
    check(c, &mut net, "lr[1]");
    let mut c = base.clone();
    c.weight_decay = vec![0.0, 100.0];
    check(c, &mut net, "weight_decay[1]");
    let mut c = base.clone();
    c.batch_size = 0;
    check(c, &mut net, "batch_size");
    let mut c = base.clone();
    c.gamma = 25;
    check(c, &mut net, "gamma");
    let mut c = base.clone();
    c.reinit_below = 1.5;
    check(c, &mut net, "reinit_below");
    let mut c = base.clone();
    c.reinit = vec![(2.0, 1.0), (0.0, 1.0)];
    check(c, &mut net, "reinit[0]");
    let bad_labels = vec![7i64; 10];
    match fit(
        &mut net,
        LabelledSteps {
            times: &x,
            labels: &bad_labels,
        },
        None,
        None,
        &base,
        &mut |_| ControlFlow::Continue(()),
    ) {
        Err(Error::InvalidParameter { arg, .. }) => assert_eq!(arg, "train.labels"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn file_round_trip_and_corrupt_files() {
    let Case { net, .. } = case(2, &[10, 8, 4], 24, 2, 1);
    let bytes = io::to_bytes(&net, r#"{"seed": 1}"#).unwrap();
    assert_eq!(bytes, io::to_bytes(&net, r#"{"seed": 1}"#).unwrap());
    let (back, extra) = io::from_bytes(&bytes, Path::new("x")).unwrap();
    assert_eq!(back, net);
    assert_eq!(extra, r#"{"seed": 1}"#);
    for cut in [0, 7, 100, bytes.len() - 1] {
        assert!(matches!(
            io::from_bytes(&bytes[..cut], Path::new("x")),
            Err(Error::FileFormat { .. })
        ));
    }
    // A TTFS network file is refused with a clear reason.
    let ttfs = spikeloom_core::engine::Network::new(
        spikeloom_core::spike_time::LifParams::new(1.0, 1.0, 1.0).unwrap(),
        &[2, 2],
        &[vec![]],
        &[(0.0, 1.0)],
        0,
    )
    .unwrap();
    let other = spikeloom_core::io::to_bytes(&ttfs, "{}").unwrap();
    match io::from_bytes(&other, Path::new("y")) {
        Err(Error::FileFormat { reason, .. }) => assert!(reason.contains("s4nn"), "{reason}"),
        r => panic!("{r:?}"),
    }
    let dir = std::env::temp_dir().join(format!("s4nn-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("net.safetensors");
    io::save(&net, &path, "{}").unwrap();
    assert_eq!(io::load(&path).unwrap().0, net);
    assert!(matches!(
        io::load(&dir.join("missing")),
        Err(Error::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
