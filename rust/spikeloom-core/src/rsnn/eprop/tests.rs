//! e-prop against BPTT (f64): with symmetric feedback, e-prop's update equals BPTT's gradient with
//! the recurrent spike path and the reset detached, for LIF and ALIF, both voltage conventions and both
//! losses; online updates sum to the per-trial update; memory does not grow with T.

use super::config::{EpropConfig, Feedback, Mode, Optimizer, RateAverage};
use super::train::{gradient, workspace_bytes};
use crate::rsnn::train::{gradient as bptt_gradient, BpttConfig, Data, Targets};
use crate::rsnn::{NetworkSpec, RateRegulariser, RsnnNetwork, Sequences, Surrogate};

fn net(adaptive: bool, one_minus_alpha: bool, n_out: usize) -> RsnnNetwork {
    let scale = if one_minus_alpha {
        "one_minus_alpha"
    } else {
        "one"
    };
    let adapt = if adaptive {
        r#", "adaptation": "bellec", "beta": 0.3, "tau_adapt": 0.05"#
    } else {
        ""
    };
    let gain = if one_minus_alpha { 12.0 } else { 1.5 };
    let spec: NetworkSpec = serde_json::from_str(&format!(
        r#"{{"n_inputs": 5, "dt": 0.001,
            "layers": [{{"size": 7, "tau_mem": 0.01, "input_scale": "{scale}", "threshold": 0.5,
                         "gain": {gain}, "rec_gain": {gain}{adapt}}}],
            "readout": {{"size": {n_out}, "tau": 0.008, "input_scale": "{scale}"}}}}"#
    ))
    .unwrap();
    let mut n = RsnnNetwork::new(spec, 7).unwrap();
    let o = n.layout.layers[0].clone();
    for (i, b) in n.params[o.bias.clone()].iter_mut().enumerate() {
        *b = 0.02 * i as f64;
    }
    n
}

fn data(n: usize, steps: usize, n_in: usize, n_out: usize, classes: bool) -> (Sequences, Targets) {
    let x: Vec<f64> = (0..n * steps * n_in)
        .map(|i| if (i * 7919 + 13) % 11 < 3 { 1.0 } else { 0.0 })
        .collect();
    let xs = Sequences::from_dense("x", &x, n, steps, n_in).unwrap();
    let y = if classes {
        Targets::Labels((0..n).map(|s| s % n_out).collect())
    } else {
        Targets::Series {
            data: (0..n * steps * n_out)
                .map(|i| (i as f32 * 0.13).sin())
                .collect(),
            n_out,
        }
    };
    (xs, y)
}

fn eprop_cfg(loss: &str) -> EpropConfig {
    let mut c: EpropConfig = serde_json::from_str(&format!(
        r#"{{"epochs": 1, "batch_size": 4, "lr": 0.01, "precision": "f64",
            "loss": {{"kind": "{loss}", "start": 3}}}}"#
    ))
    .unwrap();
    c.surrogate = Surrogate::PiecewiseLinear {
        width: 0.5,
        scale: 0.3,
    };
    c.threads = 1;
    c
}

fn bptt_cfg(loss: &str, detach: bool) -> BpttConfig {
    let mut c: BpttConfig = serde_json::from_str(&format!(
        r#"{{"epochs": 1, "batch_size": 4, "lr": 0.01, "precision": "f64",
            "loss": {{"kind": "{loss}", "start": 3}}}}"#
    ))
    .unwrap();
    c.surrogate = Surrogate::PiecewiseLinear {
        width: 0.5,
        scale: 0.3,
    };
    c.detach_reset = detach;
    c.detach_recurrent = detach;
    c.threads = 1;
    c
}

/// max |a - b| / max |b| over the weights group.
fn rel(a: &[f64], b: &[f64], nw: usize) -> f64 {
    let d = a[..nw]
        .iter()
        .zip(&b[..nw])
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    let m = b[..nw].iter().map(|v| v.abs()).fold(0.0, f64::max);
    d / m
}

#[test]
fn symmetric_eprop_equals_bptt_with_detached_recurrence_and_reset() {
    for adaptive in [false, true] {
        for oma in [false, true] {
            for (loss, classes) in [("mse", false), ("ce_per_step", true)] {
                let n_out = 3;
                let net = net(adaptive, oma, n_out);
                let (xs, ys) = data(4, 40, 5, n_out, classes);
                let d = Data { x: &xs, y: &ys };
                let idx: Vec<usize> = (0..4).collect();
                let (ge, st) = gradient::<f64>(&net, d, &idx, &eprop_cfg(loss), None).unwrap();
                let (gb, sb) = bptt_gradient::<f64>(&net, d, &idx, &bptt_cfg(loss, true)).unwrap();
                let tag = format!("adaptive {adaptive}, one_minus_alpha {oma}, {loss}");
                let spikes: f64 = sb.spikes.iter().sum();
                assert!(
                    spikes > 20.0 && st.spikes == spikes,
                    "{tag}: {spikes} spikes"
                );
                assert!((st.loss - sb.loss).abs() < 1e-9 * sb.loss, "{tag}: loss");
                let nw = net.layout.n_weights;
                let r = rel(&ge, &gb, nw);
                assert!(r < 1e-10, "{tag}: relative difference {r}");
                // The readout's update is BPTT's exact gradient (undetached), too.
                let (gfull, _) =
                    bptt_gradient::<f64>(&net, d, &idx, &bptt_cfg(loss, false)).unwrap();
                let ro = net.layout.readout.clone().unwrap();
                let r_out = rel(
                    &ge[ro.w.start..ro.bias.end],
                    &gfull[ro.w.start..ro.bias.end],
                    ro.bias.end - ro.w.start,
                );
                assert!(r_out < 1e-10, "{tag}: readout {r_out}");
                // ... while the hidden weights' full gradient differs (the test can fail).
                let o = &net.layout.layers[0];
                let r_rec = rel(&ge[o.w_rec.clone()], &gfull[o.w_rec.clone()], o.w_rec.len());
                assert!(
                    r_rec > 1e-3,
                    "{tag}: e-prop should differ from full BPTT ({r_rec})"
                );
            }
        }
    }
}

#[test]
fn batch_rate_regulariser_equals_bptt_regulariser() {
    // One sample, every rate below the target: BPTT's lower regulariser lower * mean_k (f* - f_k)^2
    // is e-prop's c/2 sum_k (f_k - f*)^2 with c = 2 lower / n.
    for adaptive in [false, true] {
        let net = net(adaptive, false, 2);
        let (xs, ys) = data(1, 30, 5, 2, false);
        let d = Data { x: &xs, y: &ys };
        let mut ce = eprop_cfg("mse");
        ce.reg_rate = 2.0 * 0.01 / 7.0;
        ce.reg_target_hz = 2000.0;
        ce.reg_average = RateAverage::Batch;
        let mut cb = bptt_cfg("mse", true);
        cb.regulariser = RateRegulariser {
            lower: 0.01,
            rate_low: 2000.0,
            ..Default::default()
        };
        let (ge, se) = gradient::<f64>(&net, d, &[0], &ce, None).unwrap();
        let (gb, sb) = bptt_gradient::<f64>(&net, d, &[0], &cb).unwrap();
        let (g0, _) = gradient::<f64>(&net, d, &[0], &eprop_cfg("mse"), None).unwrap();
        let nw = net.layout.n_weights;
        assert!((se.loss - sb.loss).abs() < 1e-9 * sb.loss);
        assert!(rel(&ge, &gb, nw) < 1e-10, "adaptive {adaptive}");
        assert!(rel(&ge, &g0, nw) > 1e-3, "the regulariser must matter");
    }
}

#[test]
fn online_updates_sum_to_the_per_trial_update() {
    use super::train::fit;
    for adaptive in [false, true] {
        let base = net(adaptive, false, 2);
        let (xs, ys) = data(3, 30, 5, 2, true);
        let d = Data { x: &xs, y: &ys };
        let mut cfg = eprop_cfg("ce_per_step");
        cfg.batch_size = 3;
        cfg.optimizer = Optimizer::Sgd;
        cfg.reg_rate = 1e-3;
        cfg.reg_average = RateAverage::Running;
        let (g, st) = gradient::<f64>(&base, d, &[0, 1, 2], &cfg, None).unwrap();
        let nw = base.layout.n_weights;
        // Frozen weights: the per-step updates sum exactly to the per-trial update.
        let (gs, so) = super::train::online_update_sum::<f64>(&base, d, &[0, 1, 2], &cfg).unwrap();
        assert!(rel(&gs, &g, nw) < 1e-12, "adaptive {adaptive}");
        assert!((st.loss - so.loss).abs() < 1e-12 * st.loss);
        let mut prev = f64::INFINITY;
        for lr in [1e-4, 1e-5, 1e-6] {
            cfg.lr = lr;
            let mut trial = base.clone();
            cfg.mode = Mode::PerTrial;
            fit(
                &mut trial,
                d,
                None,
                &cfg,
                &mut |_| std::ops::ControlFlow::Continue(()),
                &|| false,
            )
            .unwrap();
            let mut online = base.clone();
            cfg.mode = Mode::Online;
            fit(
                &mut online,
                d,
                None,
                &cfg,
                &mut |_| std::ops::ControlFlow::Continue(()),
                &|| false,
            )
            .unwrap();
            let dt: Vec<f64> = (0..nw).map(|i| base.params[i] - trial.params[i]).collect();
            let don: Vec<f64> = (0..nw).map(|i| base.params[i] - online.params[i]).collect();
            // The per-trial step is exactly lr * g.
            let want: Vec<f64> = g[..nw].iter().map(|v| v * lr).collect();
            assert!(rel(&dt, &want, nw) < 1e-9);
            // Online: the per-step updates sum to the same, up to the O(lr) effect of updating
            // during the trial, which vanishes linearly.
            let r = rel(&don, &dt, nw);
            assert!(r < prev, "adaptive {adaptive}, lr {lr}: {r} (prev {prev})");
            prev = r;
        }
        assert!(prev < 0.05, "{prev}");
    }
}

#[test]
fn workspace_memory_does_not_grow_with_sequence_length() {
    let net = net(true, false, 2);
    let cfg = eprop_cfg("ce_per_step");
    let mut sizes = Vec::new();
    for steps in [20, 200, 2000] {
        let (xs, ys) = data(1, steps, 5, 2, true);
        sizes.push(workspace_bytes::<f64>(&net, Data { x: &xs, y: &ys }, &cfg).unwrap());
    }
    assert_eq!(sizes[0], sizes[1]);
    assert_eq!(sizes[1], sizes[2]);
    assert!(sizes[0] > 0);
}

#[test]
fn random_feedback_is_seeded_and_differs_from_symmetric() {
    let net = net(false, false, 2);
    let (xs, ys) = data(2, 30, 5, 2, false);
    let d = Data { x: &xs, y: &ys };
    let mut cfg = eprop_cfg("mse");
    cfg.feedback = Feedback::Random;
    let b1 = super::train::initial_feedback(&net, &cfg).unwrap();
    let b2 = super::train::initial_feedback(&net, &cfg).unwrap();
    assert_eq!(b1, b2);
    cfg.seed = 1;
    assert_ne!(b1, super::train::initial_feedback(&net, &cfg).unwrap());
    let (gr, _) = gradient::<f64>(&net, d, &[0, 1], &cfg, Some(&b1)).unwrap();
    let (gs, _) = gradient::<f64>(&net, d, &[0, 1], &eprop_cfg("mse"), None).unwrap();
    let ro = net.layout.readout.clone().unwrap();
    // Same readout update (exact in both), different hidden updates.
    assert!(rel(&gr[ro.w.clone()], &gs[ro.w.clone()], ro.w.len()) < 1e-12);
    let o = &net.layout.layers[0];
    assert!(rel(&gr[o.w_in.clone()], &gs[o.w_in.clone()], o.w_in.len()) > 1e-2);
    // Random feedback equal to W_out reproduces symmetric e-prop.
    let wout = net.params[ro.w.clone()].to_vec();
    let (gw, _) = gradient::<f64>(&net, d, &[0, 1], &cfg, Some(&wout)).unwrap();
    assert!(rel(&gw, &gs, net.layout.n_weights) < 1e-12);
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let net = net(true, true, 2);
    let (xs, ys) = data(19, 25, 5, 2, true);
    let d = Data { x: &xs, y: &ys };
    let idx: Vec<usize> = (0..19).collect();
    let mut cfg = eprop_cfg("ce_per_step");
    cfg.precision = crate::rsnn::Precision::F32;
    let (g1, _) = gradient::<f32>(&net, d, &idx, &cfg, None).unwrap();
    cfg.threads = 3;
    let (g3, _) = gradient::<f32>(&net, d, &idx, &cfg, None).unwrap();
    assert_eq!(g1, g3);
}

#[test]
fn unsupported_networks_are_refused_with_the_field_name() {
    let mut spec = net(false, false, 2).spec;
    spec.layers[0].tau_syn = Some(0.005);
    let n = RsnnNetwork::new(spec, 1).unwrap();
    let e = eprop_cfg("mse").validate(&n).unwrap_err().to_string();
    assert!(e.contains("layers[0].tau_syn"), "{e}");
    let mut c = eprop_cfg("ce_max");
    c.loss.start = 0;
    let e = c.validate(&net(false, false, 2)).unwrap_err().to_string();
    assert!(e.contains("loss"), "{e}");
}
