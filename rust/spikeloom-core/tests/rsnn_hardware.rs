//! Hardware-aware and hardware-in-the-loop training of clock-driven networks (BPTT, DECOLLE, e-prop):
//! an ideal chip changes nothing (bit for bit), hardware-aware steps are the chip's gradient chained
//! to the shadow parameters, validation runs on the training chip, shadow weights stay in range.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use spikeloom_core::hardware::{aware_chip_seed, HardwareSpec, ParamChip};
use spikeloom_core::rsnn::decolle::train::{evaluate as decolle_evaluate, fit as decolle_fit};
use spikeloom_core::rsnn::decolle::{
    DecolleConfig, DecolleEpochMetrics, DecolleNetwork, DecolleSpec,
};
use spikeloom_core::rsnn::eprop::train::fit as eprop_fit;
use spikeloom_core::rsnn::eprop::{EpropConfig, EpropEpochMetrics};
use spikeloom_core::rsnn::forward::{forward, Model, Trace};
use spikeloom_core::rsnn::on_chip::trial_seed;
use spikeloom_core::rsnn::train::{evaluate, evaluate_trial, fit, gradient, Data, TrialNoise};
use spikeloom_core::rsnn::{BpttConfig, NetworkSpec, RsnnNetwork, Sequences, Surrogate, Targets};
use std::ops::ControlFlow;

fn net() -> RsnnNetwork {
    let spec: NetworkSpec = serde_json::from_str(
        r#"{"n_inputs": 5, "dt": 0.001,
            "layers": [{"size": 7, "tau_mem": 0.01, "train_tau_mem": true, "gain": 3.0}],
            "readout": {"size": 3, "tau": 0.02}}"#,
    )
    .unwrap();
    RsnnNetwork::new(spec, 4).unwrap()
}

fn data(n: usize, steps: usize) -> (Sequences, Targets) {
    let x: Vec<f64> = (0..n * steps * 5)
        .map(|i| f64::from((i * 7919 + 13) % 10 < 3))
        .collect();
    (
        Sequences::from_dense("x", &x, n, steps, 5).unwrap(),
        Targets::Labels((0..n).map(|s| s % 3).collect()),
    )
}

/// The base configuration with the fields of `extra` (", key: value, ..." JSON) replacing its own.
fn config(extra: &str) -> BpttConfig {
    let mut base: serde_json::Value = serde_json::from_str(
        r#"{"epochs": 2, "batch_size": 4, "lr": 0.01, "lr_tau": 0.001, "seed": 3, "threads": 2,
            "loss": {"kind": "ce_sum_softmax"}}"#,
    )
    .unwrap();
    let more: serde_json::Value =
        serde_json::from_str(&format!("{{{}}}", extra.trim_start_matches(','))).unwrap();
    for (k, v) in more.as_object().unwrap() {
        base[k] = v.clone();
    }
    serde_json::from_value(base).unwrap()
}

fn train(net: &mut RsnnNetwork, cfg: &BpttConfig, d: Data<'_>) -> Vec<Option<f64>> {
    let h = fit(
        net,
        d,
        Some(d),
        cfg,
        &mut |_| ControlFlow::Continue(()),
        &|| false,
    )
    .unwrap();
    h.iter().map(|m| m.val_accuracy).collect()
}

#[test]
fn an_ideal_chip_trains_exactly_as_ideal_training() {
    let (x, y) = data(10, 15);
    let d = Data { x: &x, y: &y };
    let mut ideal = net();
    let h0 = train(&mut ideal, &config(""), d);
    for mode in ["aware", "in-the-loop"] {
        let mut n = net();
        let cfg = config(&format!(
            r#", "hardware": {{"spec": {{}}, "mode": "{mode}", "chip_seed": 5}}"#
        ));
        let h = train(&mut n, &cfg, d);
        assert_eq!(n.params, ideal.params, "{mode}");
        assert_eq!(h, h0, "{mode}");
    }
}

#[test]
fn hardware_aware_steps_are_the_chips_gradient_chained_to_the_shadow_parameters() {
    let (x, y) = data(6, 12);
    let d = Data { x: &x, y: &y };
    let spec = HardwareSpec {
        bits: Some(4),
        weight_range: Some(1.5),
        weight_mismatch: 0.1,
        threshold_mismatch: 0.1,
        tau_mismatch: 0.1,
        ..Default::default()
    };
    let cfg = config(&format!(
        r#", "optimizer": "sgd", "precision": "f64", "epochs": 1, "batch_size": 6,
            "hardware": {{"spec": {}, "mode": "aware", "chip_seed": 11}}"#,
        serde_json::to_string(&spec).unwrap()
    ));
    let mut n = net();
    let p0 = n.params.clone();
    // One batch: SGD moves every parameter by -lr * gradient.
    fit(
        &mut n,
        d,
        None,
        &cfg,
        &mut |_| ControlFlow::Continue(()),
        &|| false,
    )
    .unwrap();
    // The same batch's chip, drawn independently of the trainer.
    let net0 = net();
    let chip = ParamChip::sample(
        &spec,
        &net0.layout.tensors(),
        net0.layout.len,
        aware_chip_seed(11, 3, 0, 0),
    )
    .unwrap();
    let mut on_chip = net0.clone();
    let mut chain = Vec::new();
    chip.effective(&net0.params, &mut on_chip.params, Some(&mut chain))
        .unwrap();
    assert!(chain.contains(&0.0), "some weights are clipped");
    let plain: BpttConfig = config(r#", "precision": "f64""#);
    let idx: Vec<usize> = (0..6).collect();
    let (g, _) = gradient::<f64>(&on_chip, d, &idx, &plain).unwrap();
    let nw = net0.layout.n_weights;
    let weights: Vec<_> = net0
        .layout
        .tensors()
        .into_iter()
        .filter(|(name, _, _)| name.rsplit('.').next().unwrap().starts_with('w'))
        .map(|(_, _, r)| r)
        .collect();
    let mut checked = 0;
    for i in 0..n.params.len() {
        let lr = if i < nw { 0.01 } else { 0.001 };
        let mut want = p0[i] - lr * g[i] * chain[i];
        // Shadow weights are clipped into the range after the step; the recurrent diagonal is masked.
        if weights.iter().any(|r| r.contains(&i)) {
            want = want.clamp(-1.5, 1.5);
        }
        // The readout's time constants are not trained.
        if net0.layout.readout.as_ref().unwrap().tau.contains(&i) {
            want = p0[i];
        }
        let rec = &net0.layout.layers[0].w_rec;
        if rec.contains(&i) && (i - rec.start) % 8 == 0 {
            want = 0.0;
        }
        let tol = 1e-12 * (1.0 + want.abs());
        assert!(
            (n.params[i] - want).abs() <= tol,
            "parameter {i}: {} vs {want}",
            n.params[i]
        );
        checked += usize::from(g[i] != 0.0);
    }
    assert!(checked > nw / 2);
}

#[test]
fn in_the_loop_validation_runs_on_the_training_chip_and_weights_stay_in_range() {
    let (x, y) = data(12, 15);
    let d = Data { x: &x, y: &y };
    let spec = HardwareSpec {
        bits: Some(3),
        weight_range: Some(0.6),
        weight_mismatch: 0.2,
        threshold_mismatch: 0.2,
        ..Default::default()
    };
    let cfg = config(&format!(
        r#", "epochs": 3, "lr": 0.05, "hardware": {{"spec": {}, "mode": "in-the-loop", "chip_seed": 2}}"#,
        serde_json::to_string(&spec).unwrap()
    ));
    let mut n = net();
    let h = fit(
        &mut n,
        d,
        Some(d),
        &cfg,
        &mut |_| ControlFlow::Continue(()),
        &|| false,
    )
    .unwrap();
    // Every weight tensor inside [-0.6, 0.6] (biases and time constants are not weights).
    for (name, _, r) in n.layout.tensors() {
        if name.rsplit('.').next().unwrap().starts_with('w') {
            assert!(n.params[r].iter().all(|w| w.abs() <= 0.6), "{name}");
        }
    }
    // The last epoch's validation accuracy is the trained network's on chip 2.
    let chip = ParamChip::sample(&spec, &n.layout.tensors(), n.layout.len, 2).unwrap();
    let mut on_chip = n.clone();
    chip.effective(&n.params, &mut on_chip.params, None)
        .unwrap();
    let st = evaluate::<f32>(&on_chip, d, &cfg.loss, &cfg.surrogate, 1).unwrap();
    let acc = st.correct as f64 / st.samples as f64;
    assert_eq!(h.last().unwrap().val_accuracy, Some(acc));
    let st_ideal = evaluate::<f32>(&n, d, &cfg.loss, &cfg.surrogate, 1).unwrap();
    assert_ne!(
        st_ideal.loss, st.loss,
        "the chip differs from the ideal model"
    );
}

#[test]
fn lost_input_spikes_are_reproducible_and_change_training() {
    let (x, y) = data(8, 15);
    let d = Data { x: &x, y: &y };
    let run = |loss: f64| {
        let cfg = config(&format!(
            r#", "hardware": {{"spec": {{"spike_loss": {loss}}}, "mode": "in-the-loop", "chip_seed": 0}}"#
        ));
        let mut n = net();
        train(&mut n, &cfg, d);
        n.params
    };
    assert_eq!(run(0.3), run(0.3));
    assert_ne!(run(0.3), run(0.0));
}

#[test]
fn a_step_on_noisy_inputs_is_the_ideal_gradient_on_the_inputs_the_trial_drew() {
    // One sample, one SGD step on an ideal chip with lost and jittered input spikes (sd 2 steps):
    // the step is the ideal gradient at the inputs `subset_with_trial_noise` draws from the batch's
    // stream, which differ from the clean inputs.
    let (x, y) = data(1, 30);
    let d = Data { x: &x, y: &y };
    let cfg = config(
        r#", "optimizer": "sgd", "precision": "f64", "epochs": 1, "batch_size": 1,
            "hardware": {"spec": {"spike_loss": 0.2, "jitter": 0.002}, "mode": "in-the-loop", "chip_seed": 0}"#,
    );
    let mut n = net();
    let p0 = n.params.clone();
    train(&mut n, &cfg, d); // validation does not change the parameters
    let mut rng = ChaCha8Rng::seed_from_u64(trial_seed(3, 0, 0));
    let noisy = x.subset_with_trial_noise(&[0], 0.2, 2.0, &mut rng);
    assert_ne!(noisy.to_dense(), x.to_dense());
    let plain: BpttConfig = config(r#", "precision": "f64""#);
    let net0 = net();
    let (g, _) = gradient::<f64>(&net0, Data { x: &noisy, y: &y }, &[0], &plain).unwrap();
    let (g_clean, _) = gradient::<f64>(&net0, d, &[0], &plain).unwrap();
    assert_ne!(g, g_clean);
    let nw = net0.layout.n_weights;
    let tau_out = net0.layout.readout.as_ref().unwrap().tau.clone();
    for i in 0..n.params.len() {
        let lr = if i < nw { 0.01 } else { 0.001 };
        let want = if tau_out.contains(&i) {
            p0[i]
        } else {
            p0[i] - lr * g[i]
        };
        assert!(
            (n.params[i] - want).abs() <= 1e-12 * (1.0 + want.abs()),
            "parameter {i}: {} vs {want}",
            n.params[i]
        );
    }
}

#[test]
fn membrane_noise_is_an_ornstein_uhlenbeck_process_of_the_requested_size() {
    // 64 free LIF neurons (no input; threshold 1, noise 0.1 thresholds: never near a spike), tau 20
    // ms, dt 1 ms: after the start the membrane's sd is 0.1 and its lag-k autocorrelation
    // exp(-k dt / tau) (the exact discretisation of the OU process).
    let spec: NetworkSpec = serde_json::from_str(
        r#"{"n_inputs": 1, "dt": 0.001,
            "layers": [{"size": 64, "tau_mem": 0.02, "recurrent": false}]}"#,
    )
    .unwrap();
    let net = RsnnNetwork::new(spec, 0).unwrap();
    let steps = 6000;
    let x = Sequences::from_dense("x", &vec![0.0f64; steps], 1, steps, 1).unwrap();
    let run = |rel: f64, seed: Option<u64>| {
        let m = Model::<f64>::new(&net, &Surrogate::default()).with_membrane_noise(rel);
        let mut tr = Trace::default();
        tr.seed_noise(seed);
        forward(&m, x.sample(0), &mut tr);
        assert_eq!(tr.layers[0].idx.len(), 0, "no spikes");
        tr.layers[0].u.clone()
    };
    let u = run(0.1, Some(9));
    assert_eq!(u, run(0.1, Some(9)));
    assert_ne!(u, run(0.1, Some(10)));
    assert!(
        run(0.1, None).iter().all(|&v| v == 0.0),
        "no stream, no noise"
    );
    assert!(
        run(0.0, Some(9)).iter().all(|&v| v == 0.0),
        "no noise level, no noise"
    );
    let n = 64;
    let burn = 300;
    let at = |t: usize, k: usize| u[t * n + k];
    let (mut s2, mut c1, mut c10, mut m) = (0.0, 0.0, 0.0, 0.0);
    for t in burn..steps {
        for k in 0..n {
            s2 += at(t, k) * at(t, k);
            c1 += at(t, k) * at(t - 1, k);
            c10 += at(t, k) * at(t - 10, k);
            m += at(t, k);
        }
    }
    let count = ((steps - burn) * n) as f64;
    let sd = (s2 / count).sqrt();
    let alpha = (-0.05f64).exp();
    assert!((m / count).abs() < 0.005, "mean {}", m / count);
    assert!((sd - 0.1).abs() < 0.003, "stationary sd {sd}");
    assert!((c1 / s2 - alpha).abs() < 0.005, "lag-1 {}", c1 / s2);
    assert!(
        (c10 / s2 - alpha.powi(10)).abs() < 0.02,
        "lag-10 {}",
        c10 / s2
    );
}

#[test]
fn membrane_noise_trains_reproducibly_and_only_where_it_is_simulated() {
    let (x, y) = data(8, 15);
    let d = Data { x: &x, y: &y };
    let run = |noise: f64, mode: &str, threads: usize| {
        let cfg = config(&format!(
            r#", "threads": {threads}, "hardware": {{"spec": {{"membrane_noise": {noise}}}, "mode": "{mode}", "chip_seed": 0}}"#
        ));
        let mut n = net();
        train(&mut n, &cfg, d);
        n.params
    };
    for mode in ["aware", "in-the-loop"] {
        assert_eq!(run(0.2, mode, 1), run(0.2, mode, 2), "{mode}");
        assert_ne!(run(0.2, mode, 2), run(0.0, mode, 2), "{mode}");
    }
    // An ideal chip without noise is ideal training.
    let mut ideal = net();
    train(&mut ideal, &config(""), d);
    assert_eq!(run(0.0, "in-the-loop", 2), ideal.params);
    // Trial evaluation: same seed, same result; no noise = evaluate.
    let trained = net();
    let cfg = config("");
    let ev = |noise: Option<TrialNoise>| {
        evaluate_trial::<f32>(&trained, d, &cfg.loss, &cfg.surrogate, 2, noise)
            .unwrap()
            .loss
    };
    let noisy = Some(TrialNoise {
        membrane: 0.3,
        seed: 4,
    });
    assert_eq!(ev(noisy), ev(noisy));
    assert_ne!(ev(noisy), ev(None));
    assert_eq!(
        ev(None),
        evaluate::<f32>(&trained, d, &cfg.loss, &cfg.surrogate, 2)
            .unwrap()
            .loss
    );
    // e-prop (per trial) trains with it too: reproducible for any thread count, and it matters.
    let eprop = |noise: f64, threads: usize| {
        let spec = format!(r#"{{"membrane_noise": {noise}}}"#);
        let mut cfg = eprop_cfg(&hw(&spec, "in-the-loop"));
        cfg.threads = threads;
        let mut n = eprop_net();
        run_eprop(&mut n, d, None, &cfg);
        n.params
    };
    assert_eq!(eprop(0.3, 1), eprop(0.3, 2));
    assert_ne!(eprop(0.3, 2), eprop(0.0, 2));
    // DECOLLE does not simulate it, and e-prop cannot follow per-neuron time constants: refused
    // by name.
    let spec = r#"{"membrane_noise": 0.1}"#;
    let (dx, dy) = data(4, 10);
    let dd = Data { x: &dx, y: &dy };
    let e = decolle_fit(
        &mut decolle_net(),
        dd,
        None,
        &decolle_cfg(&hw(spec, "aware")),
        &mut |_| ControlFlow::Continue(()),
        &|| false,
    )
    .unwrap_err();
    assert!(e.to_string().contains("membrane_noise"), "{e}");
    let e = eprop_fit(
        &mut eprop_net(),
        dd,
        None,
        &eprop_cfg(&hw(r#"{"tau_mismatch": 0.05}"#, "in-the-loop")),
        &mut |_| ControlFlow::Continue(()),
        &|| false,
    )
    .unwrap_err();
    assert!(e.to_string().contains("tau_mismatch"), "{e}");
}

#[test]
fn a_single_gradient_refuses_a_hardware_model() {
    let (x, y) = data(2, 5);
    let cfg = config(r#", "hardware": {"spec": {}, "mode": "aware", "chip_seed": 0}"#);
    let e = gradient::<f32>(&net(), Data { x: &x, y: &y }, &[0, 1], &cfg).unwrap_err();
    assert!(e.to_string().contains("hardware"), "{e}");
}

// --- DECOLLE and e-prop: the same chips, through the shared `rsnn::on_chip` --------------------------

fn decolle_net() -> DecolleNetwork {
    let spec: DecolleSpec = serde_json::from_str(
        r#"{"n_inputs": 5, "sizes": [7, 6], "n_outputs": 3, "dt": 0.001, "gain": 3.0,
            "readout_gain": 1.0, "tau_mem": [0.02, 0.033], "tau_syn": [0.003, 0.0125]}"#,
    )
    .unwrap();
    DecolleNetwork::new(spec, 1).unwrap()
}

fn decolle_cfg(extra: &str) -> DecolleConfig {
    serde_json::from_str(&format!(
        r#"{{"epochs": 2, "batch_size": 4, "lr": 0.01, "online": false, "seed": 2, "threads": 2 {extra}}}"#
    ))
    .unwrap()
}

fn eprop_net() -> RsnnNetwork {
    let spec: NetworkSpec = serde_json::from_str(
        r#"{"n_inputs": 5, "dt": 0.001,
            "layers": [{"size": 7, "tau_mem": 0.02, "gain": 3.0}],
            "readout": {"size": 3, "tau": 0.02}}"#,
    )
    .unwrap();
    RsnnNetwork::new(spec, 6).unwrap()
}

fn eprop_cfg(extra: &str) -> EpropConfig {
    serde_json::from_str(&format!(
        r#"{{"epochs": 2, "batch_size": 4, "lr": 0.01, "seed": 2, "threads": 2,
            "loss": {{"kind": "ce_per_step", "start": 5}} {extra}}}"#
    ))
    .unwrap()
}

fn run_decolle(
    n: &mut DecolleNetwork,
    d: Data<'_>,
    val: Option<Data<'_>>,
    cfg: &DecolleConfig,
) -> Vec<DecolleEpochMetrics> {
    decolle_fit(n, d, val, cfg, &mut |_| ControlFlow::Continue(()), &|| {
        false
    })
    .unwrap()
}

fn run_eprop(
    n: &mut RsnnNetwork,
    d: Data<'_>,
    val: Option<Data<'_>>,
    cfg: &EpropConfig,
) -> Vec<EpropEpochMetrics> {
    eprop_fit(n, d, val, cfg, &mut |_| ControlFlow::Continue(()), &|| {
        false
    })
    .unwrap()
}

fn hw(spec: &str, mode: &str) -> String {
    format!(r#", "hardware": {{"spec": {spec}, "mode": "{mode}", "chip_seed": 5}}"#)
}

const CHIP: &str =
    r#"{"bits": 3, "weight_range": 1.0, "weight_mismatch": 0.2, "threshold_mismatch": 0.2}"#;

#[test]
fn decolle_and_eprop_on_an_ideal_chip_train_exactly_as_ideal_training() {
    let (x, y) = data(10, 15);
    let d = Data { x: &x, y: &y };
    let mut ideal = decolle_net();
    let h0 = run_decolle(&mut ideal, d, Some(d), &decolle_cfg(""));
    let mut ideal_e = eprop_net();
    let he0 = run_eprop(&mut ideal_e, d, Some(d), &eprop_cfg(""));
    for mode in ["aware", "in-the-loop"] {
        let mut n = decolle_net();
        let h = run_decolle(&mut n, d, Some(d), &decolle_cfg(&hw("{}", mode)));
        assert_eq!(n.params, ideal.params, "decolle {mode}");
        let acc = |h: &[DecolleEpochMetrics]| h.iter().map(|m| m.val_accuracy).collect::<Vec<_>>();
        assert_eq!(acc(&h), acc(&h0));
        let mut e = eprop_net();
        let he = run_eprop(&mut e, d, Some(d), &eprop_cfg(&hw("{}", mode)));
        assert_eq!(e.params, ideal_e.params, "eprop {mode}");
        assert_eq!(he.last().unwrap().val_loss, he0.last().unwrap().val_loss);
    }
}

#[test]
fn decolle_and_eprop_train_on_the_chip_and_validate_on_it() {
    let (x, y) = data(12, 15);
    let d = Data { x: &x, y: &y };
    // DECOLLE in the loop: weights stay in range, and the last validation is the chip's.
    let cfg = decolle_cfg(&hw(CHIP, "in-the-loop"));
    let mut n = decolle_net();
    let h = run_decolle(&mut n, d, Some(d), &cfg);
    let mut ideal = decolle_net();
    run_decolle(&mut ideal, d, None, &decolle_cfg(""));
    assert_ne!(n.params, ideal.params);
    for (name, _, r) in n.layout.tensors() {
        if name.rsplit('.').next().unwrap().starts_with('w') {
            assert!(n.params[r].iter().all(|w| w.abs() <= 1.0), "{name}");
        }
    }
    let spec: HardwareSpec = serde_json::from_str(CHIP).unwrap();
    let chip = ParamChip::sample(&spec, &n.layout.tensors(), n.params.len(), 5).unwrap();
    let mut on_chip = n.clone();
    chip.effective(&n.params, &mut on_chip.params, None)
        .unwrap();
    let st =
        decolle_evaluate::<f32>(&on_chip, d, cfg.loss, cfg.burn_in, &cfg.surrogate, 1).unwrap();
    assert_eq!(h.last().unwrap().val_accuracy, Some(st.accuracy()));
    // e-prop, hardware-aware with lost input spikes: reproducible for any thread count, not ideal.
    let run = |threads: usize| {
        let mut c = eprop_cfg(&hw(
            r#"{"bits": 4, "weight_range": 2.0, "weight_mismatch": 0.1, "spike_loss": 0.2}"#,
            "aware",
        ));
        c.threads = threads;
        let mut e = eprop_net();
        run_eprop(&mut e, d, None, &c);
        e.params
    };
    let mut e0 = eprop_net();
    run_eprop(&mut e0, d, None, &eprop_cfg(""));
    let a = run(1);
    assert_eq!(a, run(2));
    assert_ne!(a, e0.params);
}

#[test]
fn online_updates_refuse_a_hardware_model() {
    let mut c = decolle_cfg(&hw("{}", "aware"));
    c.online = true;
    assert!(c.validate().unwrap_err().to_string().contains("online"));
    let e = eprop_cfg(&format!(r#", "mode": "online" {}"#, hw("{}", "aware")));
    assert!(e
        .validate(&eprop_net())
        .unwrap_err()
        .to_string()
        .contains("mode"));
}
