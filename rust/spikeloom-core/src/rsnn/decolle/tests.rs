//! Numerical checks of the DECOLLE engine: local gradients against finite differences of the
//! per-step local loss with the states held fixed, the two drives, the two update modes, thread-count
//! independence.

use super::forward::{Drive, Model, State};
use super::loss::{LocalLoss, LossScratch};
use super::network::{DecolleNetwork, DecolleSpec};
use super::train::{evaluate, fit, gradient, DecolleConfig, OptimizerKind};
use crate::rsnn::input::Sequences;
use crate::rsnn::surrogate::Surrogate;
use crate::rsnn::train::{Data, Precision, Targets};
use std::ops::ControlFlow;

fn net(seed: u64) -> DecolleNetwork {
    let spec: DecolleSpec = serde_json::from_str(
        r#"{"n_inputs": 5, "sizes": [7, 6], "n_outputs": 3, "dt": 0.001, "gain": 3.0,
            "readout_gain": 1.0, "tau_mem": [0.02, 0.033], "tau_syn": [0.003, 0.0125]}"#,
    )
    .unwrap();
    DecolleNetwork::new(spec, seed).unwrap()
}

/// `n` samples of 12 steps: sparse random spikes of mixed sizes on 5 channels, labels 0..3.
fn data(n: usize) -> (Sequences, Targets) {
    let (steps, c) = (12, 5);
    let x: Vec<f64> = (0..n * steps * c)
        .map(|i| {
            let h = (i * 2_654_435_761) % 1000;
            if h < 350 {
                0.5 + h as f64 / 350.0
            } else {
                0.0
            }
        })
        .collect();
    let seq = Sequences::from_dense("x", &x, n, steps, c).unwrap();
    (seq, Targets::Labels((0..n).map(|s| s % 3).collect()))
}

fn config(loss: LocalLoss, surrogate: Surrogate) -> DecolleConfig {
    DecolleConfig {
        epochs: 1,
        batch_size: 4,
        lr: 1e-2,
        optimizer: OptimizerKind::Adamax,
        betas: None,
        eps: 1e-8,
        lr_step: 0,
        lr_gamma: 1.0,
        loss,
        burn_in: 2,
        online: false,
        surrogate,
        precision: Precision::F64,
        seed: 1,
        threads: 1,
        restore_best: false,
        hardware: None,
    }
}

/// The batch objective as a function of the trainable values, with every layer's `P` and `R` held at
/// the values of the unperturbed run (what "detached" means).
fn frozen_objective(
    net: &DecolleNetwork,
    x: &Sequences,
    y: &Targets,
    cfg: &DecolleConfig,
) -> impl Fn(&[f64]) -> f64 {
    let m = Model::<f64>::new(net, &cfg.surrogate);
    let mut frozen = Vec::new(); // (sample, t, layer, P, R)
    for s in 0..x.n_samples {
        let mut st = State::default();
        st.reset(&m);
        for t in 0..x.n_steps {
            st.step(&m, x.sample(s), t, Drive::Events);
            for (l, ls) in st.layers.iter().enumerate() {
                frozen.push((s, t, l, ls.p.clone(), ls.r.clone()));
            }
        }
    }
    let labels = match y {
        Targets::Labels(l) => l.clone(),
        _ => unreachable!(),
    };
    let (layout, spike) = (net.layout.clone(), cfg.surrogate.to::<f64>());
    let (n, steps, burn, loss) = (x.n_samples, x.n_steps, cfg.burn_in, cfg.loss);
    let no = layout.n_outputs;
    let base = net.params.clone();
    move |trainable: &[f64]| {
        let mut params = base.clone();
        params[..trainable.len()].copy_from_slice(trainable);
        let mut total = 0.0;
        for (s, t, l, p, r) in &frozen {
            if *t < burn {
                continue;
            }
            let o = &layout.layers[*l];
            let mut y = vec![0.0; no];
            for j in 0..o.n {
                let mut u = params[o.bias.start + j] + r[j];
                for i in 0..o.n_pre {
                    u += params[o.w.start + i * o.n + j] * p[i];
                }
                let z = spike.spike(u);
                for k in 0..no {
                    y[k] += params[o.readout.start + j * no + k] * z;
                }
            }
            let mut e = vec![0.0; no];
            let l = loss.eval(&y, labels[*s], 1.0, &mut e, &mut LossScratch::default());
            total += l / (n * (steps - burn)) as f64;
        }
        total
    }
}

#[test]
fn local_gradient_matches_finite_differences_of_the_frozen_loss() {
    let (x, y) = data(3);
    let net = net(4);
    for loss in [LocalLoss::SmoothL1, LocalLoss::Mse, LocalLoss::CePerStep] {
        let cfg = config(loss, Surrogate::SmoothSigmoid { slope: 2.0 });
        let d = Data { x: &x, y: &y };
        let (g, st) = gradient::<f64>(&net, d, &[0, 1, 2], &cfg).unwrap();
        let f = frozen_objective(&net, &x, &y, &cfg);
        let nt = net.layout.n_trainable;
        let p0 = net.params[..nt].to_vec();
        assert!((f(&p0) - st.loss / 3.0).abs() < 1e-12, "{loss:?} objective");
        let mut worst: f64 = 0.0;
        for i in (0..nt).step_by(3) {
            let h = 1e-5;
            let (mut a, mut b) = (p0.clone(), p0.clone());
            a[i] += h;
            b[i] -= h;
            let fd = (f(&a) - f(&b)) / (2.0 * h);
            worst = worst.max((fd - g[i]).abs() / (1e-6 + g[i].abs().max(fd.abs())));
            assert!(
                (fd - g[i]).abs() < 1e-7 + 1e-5 * fd.abs(),
                "{loss:?} [{i}]: fd {fd} vs {}",
                g[i]
            );
        }
        assert!(
            g.iter().any(|v| v.abs() > 1e-4),
            "{loss:?}: gradient not trivially zero"
        );
        assert!(worst < 1e-4, "{loss:?}: {worst}");
    }
}

#[test]
fn event_and_trace_drives_agree() {
    let (x, _) = data(2);
    let net = net(7);
    let m = Model::<f64>::new(&net, &Surrogate::default());
    for s in 0..2 {
        let (mut a, mut b) = (State::default(), State::default());
        a.reset(&m);
        b.reset(&m);
        let mut spikes = 0;
        for t in 0..x.n_steps {
            a.step(&m, x.sample(s), t, Drive::Events);
            b.step(&m, x.sample(s), t, Drive::Traces);
            for (la, lb) in a.layers.iter().zip(&b.layers) {
                for (ua, ub) in la.u.iter().zip(&lb.u) {
                    assert!((ua - ub).abs() < 1e-12);
                }
                assert_eq!(la.idx, lb.idx);
                spikes += la.idx.len();
            }
        }
        assert!(spikes > 0);
    }
}

fn train_once(cfg: &DecolleConfig, seed: u64) -> (DecolleNetwork, f64) {
    train_net(cfg, net(seed))
}

fn train_net(cfg: &DecolleConfig, mut n: DecolleNetwork) -> (DecolleNetwork, f64) {
    let (x, y) = data(20);
    let h = fit(
        &mut n,
        Data { x: &x, y: &y },
        None,
        cfg,
        &mut |_| ControlFlow::Continue(()),
        &|| false,
    )
    .unwrap();
    (n, h[0].train_loss)
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    for online in [false, true] {
        for precision in [Precision::F32, Precision::F64] {
            let mut cfg = config(LocalLoss::SmoothL1, Surrogate::default());
            cfg.online = online;
            cfg.precision = precision;
            cfg.batch_size = 20;
            let (a, la) = train_once(&cfg, 3);
            for threads in [2, 3] {
                cfg.threads = threads;
                let (b, lb) = train_once(&cfg, 3);
                assert_eq!(
                    a.params, b.params,
                    "online {online} {precision:?} {threads}"
                );
                assert_eq!(la, lb);
            }
        }
    }
}

#[test]
fn online_with_zero_learning_rate_changes_nothing() {
    let mut cfg = config(LocalLoss::SmoothL1, Surrogate::default());
    cfg.lr = 0.0;
    cfg.online = true;
    let before = net(5);
    let (after, loss_online) = train_once(&cfg, 5);
    assert_eq!(before.params, after.params);
    cfg.online = false;
    let (_, loss_seq) = train_once(&cfg, 5);
    assert!((loss_online - loss_seq).abs() < 1e-12 * loss_seq);
    let (x, y) = data(20);
    let st = evaluate::<f64>(
        &before,
        Data { x: &x, y: &y },
        cfg.loss,
        cfg.burn_in,
        &cfg.surrogate,
        1,
    )
    .unwrap();
    assert!((st.loss / 20.0 - loss_seq).abs() < 1e-12 * loss_seq);
}

#[test]
fn online_and_per_sequence_sgd_agree_to_first_order() {
    // Non-zero biases: with zero biases a neuron without input sits exactly at the threshold, and
    // any positive bias change flips its spikes (not a first-order effect).
    let mut base = net(6);
    for o in base.layout.layers.clone() {
        for (k, b) in base.params[o.bias].iter_mut().enumerate() {
            *b = 0.05 * ((k * 7 % 5) as f64 - 2.0);
        }
    }
    for loss in [LocalLoss::SmoothL1, LocalLoss::CePerStep] {
        let mut cfg = config(loss, Surrogate::default());
        cfg.optimizer = OptimizerKind::Sgd;
        cfg.batch_size = 20;
        cfg.lr = 1e-4;
        let delta = |online: bool, cfg: &mut DecolleConfig| {
            cfg.online = online;
            let (n, _) = train_net(cfg, base.clone());
            let d: Vec<f64> = n
                .params
                .iter()
                .zip(&base.params)
                .map(|(a, b)| a - b)
                .collect();
            d
        };
        let (d_seq, d_on) = (delta(false, &mut cfg), delta(true, &mut cfg));
        let norm = d_seq.iter().map(|v| v * v).sum::<f64>().sqrt();
        let diff = d_seq
            .iter()
            .zip(&d_on)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt();
        assert!(norm > 1e-7, "{loss:?}: the step moved the weights");
        assert!(diff < 1e-3 * norm, "{loss:?}: {diff} vs {norm}");
        assert!(d_seq[base.layout.n_trainable..].iter().all(|v| *v == 0.0));
    }
}

/// A learnable task: the channel of the label spikes every other step, channels 3 and 4 are noise.
fn task(n: usize) -> (Sequences, Targets) {
    let (steps, c) = (12, 5);
    let mut x = vec![0.0f64; n * steps * c];
    for s in 0..n {
        for t in 0..steps {
            let row = (s * steps + t) * c;
            if (t + s) % 2 == 0 {
                x[row + s % 3] = 1.0;
            }
            x[row + 3 + (s * 7 + t) % 2] = ((s * 13 + t * 5) % 3) as f64 * 0.5;
        }
    }
    let seq = Sequences::from_dense("x", &x, n, steps, c).unwrap();
    (seq, Targets::Labels((0..n).map(|s| s % 3).collect()))
}

#[test]
fn training_learns_and_bad_input_is_named() {
    let (x, y) = task(30);
    let spec: DecolleSpec = serde_json::from_str(
        r#"{"n_inputs": 5, "sizes": [20, 20], "n_outputs": 3, "dt": 0.001, "gain": 3.0,
            "readout_gain": 2.0}"#,
    )
    .unwrap();
    let mut n = DecolleNetwork::new(spec, 8).unwrap();
    let mut cfg = config(LocalLoss::SmoothL1, Surrogate::default());
    cfg.epochs = 30;
    cfg.online = true;
    cfg.precision = Precision::F32;
    let h = fit(
        &mut n,
        Data { x: &x, y: &y },
        None,
        &cfg,
        &mut |_| ControlFlow::Continue(()),
        &|| false,
    )
    .unwrap();
    let last = &h[29];
    assert!(last.train_loss < 0.8 * h[0].train_loss, "{last:?}");
    assert!(
        last.train_layer_accuracy[0] > 0.9 && last.train_accuracy > 0.6,
        "{last:?}"
    );
    cfg.burn_in = 12;
    let e = fit(
        &mut n,
        Data { x: &x, y: &y },
        None,
        &cfg,
        &mut |_| ControlFlow::Continue(()),
        &|| false,
    );
    assert!(e.unwrap_err().to_string().contains("burn_in"));
    let bad = Targets::Labels(vec![0; 29]);
    let e = evaluate::<f32>(&n, Data { x: &x, y: &bad }, cfg.loss, 0, &cfg.surrogate, 1);
    assert!(e.unwrap_err().to_string().contains("data.y"));
}
