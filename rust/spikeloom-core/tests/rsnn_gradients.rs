//! BPTT against central finite differences, in f64, on tiny networks whose spike function is a smooth
//! sigmoid (so the loss is a smooth function of every parameter). Covers every neuron variant, reset
//! mode, input scaling, trainable time constant, several losses and the rate regulariser.

use spikeloom_core::rsnn::train::{gradient, Data};
use spikeloom_core::rsnn::{
    BpttConfig, NetworkSpec, RateRegulariser, RsnnNetwork, Sequences, Surrogate, Targets,
};

fn config(loss: &str) -> BpttConfig {
    let mut c: BpttConfig = serde_json::from_str(&format!(
        r#"{{"epochs": 1, "batch_size": 3, "lr": 0.01, "precision": "f64",
            "loss": {{"kind": "{loss}", "start": 2}}}}"#
    ))
    .unwrap();
    c.surrogate = Surrogate::SmoothSigmoid { slope: 4.0 };
    c.regulariser = RateRegulariser {
        lower: 1e-4,
        rate_low: 300.0,
        upper: 1e-5,
        rate_high: 50.0,
    };
    c.threads = 1;
    c
}

fn check(spec_json: &str, loss: &str, seed: u64) {
    let spec: NetworkSpec = serde_json::from_str(spec_json).unwrap();
    let mut net = RsnnNetwork::new(spec, seed).unwrap();
    // Non-zero biases so every bias gradient is exercised.
    for o in net.layout.layers.clone() {
        for (i, b) in net.params[o.bias.clone()].iter_mut().enumerate() {
            *b = 0.3 + 0.05 * i as f64;
        }
    }
    let (n, steps, n_in) = (3usize, 12usize, net.spec.n_inputs);
    let x: Vec<f64> = (0..n * steps * n_in)
        .map(|i| {
            if (i * 7 + 3) % 5 < 2 {
                0.0
            } else {
                ((i * 31) % 11) as f64 * 0.2
            }
        })
        .collect();
    let xs = Sequences::from_dense("x", &x, n, steps, n_in).unwrap();
    let n_out = net.n_outputs();
    let y = if loss == "mse" {
        Targets::Series {
            data: (0..n * steps * n_out)
                .map(|i| (i as f32 * 0.37).sin())
                .collect(),
            n_out,
        }
    } else {
        Targets::Labels((0..n).map(|s| s % n_out).collect())
    };
    let data = Data { x: &xs, y: &y };
    let cfg = config(loss);
    let idx: Vec<usize> = (0..n).collect();
    let (g, _) = gradient::<f64>(&net, data, &idx, &cfg).unwrap();
    let loss_at = |p: &[f64]| {
        let mut m = net.clone();
        m.params = p.to_vec();
        let (_, st) = gradient::<f64>(&m, data, &idx, &cfg).unwrap();
        st.loss / st.samples as f64
    };
    let mut worst = 0.0f64;
    let scale = g[..net.layout.n_weights]
        .iter()
        .fold(0.0f64, |a, v| a.max(v.abs()));
    let tau_scale = g[net.layout.n_weights..]
        .iter()
        .fold(0.0f64, |a, v| a.max(v.abs()));
    assert!(scale > 0.0);
    for i in 0..net.params.len() {
        if net
            .layout
            .layers
            .iter()
            .any(|o| o.w_rec.contains(&i) && (i - o.w_rec.start) / o.n == (i - o.w_rec.start) % o.n)
        {
            assert_eq!(g[i], 0.0, "masked diagonal {i}");
            continue;
        }
        let h = if i >= net.layout.n_weights {
            1e-4 * net.params[i]
        } else {
            1e-5
        };
        // Five-point central stencil (truncation error O(h^4)).
        let at = |d: f64| {
            let mut p = net.params.clone();
            p[i] += d;
            loss_at(&p)
        };
        let fd = (8.0 * (at(h) - at(-h)) - (at(2.0 * h) - at(-2.0 * h))) / (12.0 * h);
        // Time-constant gradients are per second: compare them relative to their own size (with a
        // floor: a component cancelled down to 1e-4 of its group has no significant digits in FD).
        let denom = if i >= net.layout.n_weights {
            fd.abs().max(g[i].abs()).max(1e-4 * tau_scale)
        } else {
            scale
        };
        let err = (fd - g[i]).abs() / denom;
        worst = worst.max(err);
        assert!(
            err < 1e-5,
            "{loss} param {i}: fd {fd:e} vs bptt {:e} (rel err {err:e})",
            g[i]
        );
    }
    eprintln!("{loss}: worst relative error {worst:e}");
}

const LIF: &str = r#"{"n_inputs": 3, "dt": 0.001, "layers": [
    {"size": 4, "tau_mem": 0.01, "tau_mem_sd": 0.003, "train_tau_mem": true, "gain": 2.0, "rec_gain": 1.5}],
    "readout": {"size": 2, "tau": 0.01, "tau_sd": 0.002, "train_tau": true}}"#;

const LIF_ZERO_TWO_LAYERS: &str = r#"{"n_inputs": 3, "dt": 0.001, "layers": [
    {"size": 4, "reset": "zero", "input_scale": "one_minus_alpha", "tau_mem": 0.004,
     "tau_mem_sd": 0.001, "train_tau_mem": true, "gain": 6.0, "rec_gain": 3.0},
    {"size": 3, "recurrent": false, "tau_mem": 0.01, "train_tau_mem": true, "gain": 2.0}],
    "readout": {"size": 2, "tau": 0.01, "input_scale": "one_minus_alpha", "train_tau": true}}"#;

const CUBA: &str = r#"{"n_inputs": 3, "dt": 0.001, "layers": [
    {"size": 4, "tau_mem": 0.01, "tau_syn": 0.005, "tau_syn_sd": 0.001, "train_tau_syn": true,
     "train_tau_mem": true, "gain": 1.5, "rec_gain": 1.0}],
    "readout": {"size": 3, "tau": 0.02}}"#;

const BELLEC: &str = r#"{"n_inputs": 3, "dt": 0.001, "layers": [
    {"size": 5, "tau_mem": 0.02, "adaptation": "bellec", "beta": 0.3, "tau_adapt": 0.05,
     "tau_adapt_sd": 0.01, "train_tau_adapt": true, "train_tau_mem": true, "gain": 2.0, "rec_gain": 1.5}],
    "readout": {"size": 2, "tau": 0.02}}"#;

const YIN: &str = r#"{"n_inputs": 3, "dt": 0.001, "layers": [
    {"size": 4, "tau_mem": 0.02, "input_scale": "one_minus_alpha", "reset": "subtract_adaptive",
     "adaptation": "yin", "beta": 1.8, "threshold": 0.3, "tau_adapt": 0.03, "tau_adapt_sd": 0.005,
     "train_tau_adapt": true, "train_tau_mem": true, "gain": 8.0, "rec_gain": 4.0},
    {"size": 3, "tau_mem": 0.02, "input_scale": "one_minus_alpha", "reset": "subtract_adaptive",
     "adaptation": "yin", "beta": 1.8, "threshold": 0.3, "tau_adapt": 0.05,
     "train_tau_adapt": true, "gain": 8.0, "rec_gain": 4.0}],
    "readout": {"size": 2, "tau": 0.02, "input_scale": "one_minus_alpha", "train_tau": true}}"#;

const COUNTS: &str = r#"{"n_inputs": 3, "dt": 0.001, "layers": [
    {"size": 4, "tau_mem": 0.01, "gain": 2.0},
    {"size": 3, "tau_mem": 0.01, "recurrent": false, "gain": 2.0}]}"#;

#[test]
fn lif_subtract_reset() {
    check(LIF, "ce_max", 1);
    check(LIF, "ce_last", 2);
}

#[test]
fn lif_zero_reset_two_layers() {
    check(LIF_ZERO_TWO_LAYERS, "ce_mean", 3);
}

#[test]
fn current_based_lif() {
    check(CUBA, "mse", 5);
    check(CUBA, "ce_mean", 4);
    check(CUBA, "ce_sum_softmax", 9);
    check(CUBA, "ce_sum_softmax", 4);
}

#[test]
fn bellec_adaptive_lif() {
    check(BELLEC, "ce_per_step", 6);
}

#[test]
fn yin_adaptive_lif() {
    check(YIN, "ce_sum_softmax", 7);
}

#[test]
fn spike_count_loss() {
    check(COUNTS, "ce_counts", 8);
}

/// Truncated BPTT: a window started from the carried state continues the full trajectory exactly, and
/// its gradient is the derivative of the window's loss with the carried state held fixed.
#[test]
fn truncated_window_gradient_is_the_detached_gradient() {
    use spikeloom_core::rsnn::forward::{forward, forward_window, Model, SampleState, Trace};
    use spikeloom_core::rsnn::train::gradient_window;
    for (spec_json, loss) in [(YIN, "ce_sum_softmax"), (CUBA, "mse"), (LIF, "ce_mean")] {
        let spec: NetworkSpec = serde_json::from_str(spec_json).unwrap();
        let net = RsnnNetwork::new(spec, 11).unwrap();
        let (n, steps, n_in, k) = (2usize, 14usize, net.spec.n_inputs, 5usize);
        let x: Vec<f64> = (0..n * steps * n_in)
            .map(|i| {
                if (i * 7 + 3) % 5 < 2 {
                    0.0
                } else {
                    ((i * 31) % 11) as f64 * 0.2
                }
            })
            .collect();
        let xs = Sequences::from_dense("x", &x, n, steps, n_in).unwrap();
        let n_out = net.n_outputs();
        let y = if loss == "mse" {
            Targets::Series {
                data: (0..n * steps * n_out)
                    .map(|i| (i as f32 * 0.37).sin())
                    .collect(),
                n_out,
            }
        } else {
            Targets::Labels((0..n).map(|s| s % n_out).collect())
        };
        let data = Data { x: &xs, y: &y };
        let mut cfg = config(loss);
        cfg.loss.start = 0;
        let idx: Vec<usize> = (0..n).collect();
        // Continuity: windows reproduce the full run step for step.
        let m = Model::<f64>::new(&net, &cfg.surrogate);
        let mut full = Trace::default();
        forward(&m, xs.sample(1), &mut full);
        let mut st = SampleState::default();
        let mut part = Trace::default();
        for t0 in (0..steps).step_by(k) {
            let len = k.min(steps - t0);
            part.load_state(&m, &st);
            forward_window(&m, xs.sample(1), &mut part, t0, len);
            part.save_state(&mut st);
            let no = net.n_outputs();
            assert_eq!(&full.y[t0 * no..(t0 + len) * no], &part.y[..len * no]);
            let nn = full.layers[0].n;
            assert_eq!(
                &full.layers[0].u[t0 * nn..(t0 + len) * nn],
                &part.layers[0].u[..len * nn]
            );
        }
        // The second window's gradient against finite differences with the carried state fixed.
        let mut states = vec![SampleState::default(); n];
        gradient_window::<f64>(&net, data, &idx, &cfg, 0, k, &mut states).unwrap();
        let carried = states.clone();
        let (g, _) =
            gradient_window::<f64>(&net, data, &idx, &cfg, k, k, &mut states.clone()).unwrap();
        let loss_at = |p: &[f64]| {
            let mut mm = net.clone();
            mm.params = p.to_vec();
            let (_, st) =
                gradient_window::<f64>(&mm, data, &idx, &cfg, k, k, &mut carried.clone()).unwrap();
            st.loss / n as f64
        };
        let scale = g[..net.layout.n_weights]
            .iter()
            .fold(0.0f64, |a, v| a.max(v.abs()));
        assert!(scale > 0.0);
        for i in 0..net.layout.n_weights {
            if net.layout.layers.iter().any(|o| {
                o.w_rec.contains(&i) && (i - o.w_rec.start) / o.n == (i - o.w_rec.start) % o.n
            }) {
                continue;
            }
            let h = 1e-5;
            let at = |d: f64| {
                let mut p = net.params.clone();
                p[i] += d;
                loss_at(&p)
            };
            let fd = (8.0 * (at(h) - at(-h)) - (at(2.0 * h) - at(-2.0 * h))) / (12.0 * h);
            let err = (fd - g[i]).abs() / scale;
            assert!(
                err < 1e-6,
                "{loss} window param {i}: fd {fd:e} vs {:e}",
                g[i]
            );
        }
    }
}
