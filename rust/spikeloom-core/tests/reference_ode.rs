//! The exact first-spike solvers and the event-driven engine against an independent reference: a
//! fine-step classic RK4 integration of the neuron ODE
//!
//! ```text
//! du/dt = -u / tau_mem + I / tau_syn        tau_syn dI/dt = -I        I += w_i at each input t_i
//! ```
//!
//! Steps are split exactly at input times (so the jumps of I are exact); the first step whose end
//! point reaches theta is refined by bisection on the length of one RK4 sub-step taken from the
//! step's start. Nothing of the crate's kernels, propagators or solvers is used by the reference.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spikeloom_core::engine::{Layer, Network};
use spikeloom_core::spike_time::{first_spike, LifParams, SortedInputs};

/// RK4 step length in units of tau_syn.
const H_REL: f64 = 1e-5;
/// Silent neurons: the reference must stay below theta this long (in tau_mem) after the last input.
const SILENT_WINDOW: f64 = 20.0;
/// Agreement required between the reference and the core.
const REL_TOL: f64 = 1e-6;

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    lo + (hi - lo) * u
}

#[derive(Clone, Copy, Debug)]
struct Ode {
    tau_mem: f64,
    tau_syn: f64,
    theta: f64,
}

/// The reference's answer for one neuron.
#[derive(Clone, Copy, Debug)]
enum Reference {
    /// Crossed theta at `t`; `slope` = du/dt there (to recognise near-tangential crossings).
    Spike { t: f64, slope: f64 },
    /// Never reached theta up to the end of the window; `max_u` = the largest u seen.
    Silent { max_u: f64 },
}

impl Ode {
    #[inline]
    fn rhs(&self, u: f64, i: f64) -> (f64, f64) {
        (-u / self.tau_mem + i / self.tau_syn, -i / self.tau_syn)
    }

    /// One classic RK4 step of length `h` from (u, i).
    #[inline]
    fn rk4(&self, (u, i): (f64, f64), h: f64) -> (f64, f64) {
        let (k1u, k1i) = self.rhs(u, i);
        let (k2u, k2i) = self.rhs(u + 0.5 * h * k1u, i + 0.5 * h * k1i);
        let (k3u, k3i) = self.rhs(u + 0.5 * h * k2u, i + 0.5 * h * k2i);
        let (k4u, k4i) = self.rhs(u + h * k3u, i + h * k3i);
        (
            u + h / 6.0 * (k1u + 2.0 * k2u + 2.0 * k3u + k4u),
            i + h / 6.0 * (k1i + 2.0 * k2i + 2.0 * k3i + k4i),
        )
    }

    /// Integrate from the first input to the first threshold crossing, or to `SILENT_WINDOW`
    /// tau_mem after the last input.
    fn first_crossing(&self, times: &[f64], weights: &[f64]) -> Reference {
        assert_eq!(times.len(), weights.len());
        // Events: (time, total weight), sorted, +inf dropped, simultaneous inputs merged.
        let mut ev: Vec<(f64, f64)> = times
            .iter()
            .zip(weights)
            .filter(|(t, _)| t.is_finite())
            .map(|(&t, &w)| (t, w))
            .collect();
        ev.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut events: Vec<(f64, f64)> = Vec::new();
        for (t, w) in ev {
            match events.last_mut() {
                Some(last) if last.0 == t => last.1 += w,
                _ => events.push((t, w)),
            }
        }
        if events.is_empty() {
            return Reference::Silent { max_u: 0.0 };
        }
        let h = H_REL * self.tau_syn;
        // The RK4 map of one full step is linear in the state: its matrix, built from the basis
        // vectors, advances full steps cheaply (same method, same step).
        let (m00, m10) = self.rk4((1.0, 0.0), h);
        let (m01, m11) = self.rk4((0.0, 1.0), h);
        let t_end = events.last().unwrap().0 + SILENT_WINDOW * self.tau_mem;
        let (mut u, mut i) = (0.0f64, 0.0f64);
        let mut max_u = f64::NEG_INFINITY;
        for (k, &(t_k, w_k)) in events.iter().enumerate() {
            i += w_k;
            let seg_end = events.get(k + 1).map_or(t_end, |e| e.0);
            let n_full = ((seg_end - t_k) / h).floor() as u64;
            // Full steps, then the remainder up to the next event (ending exactly at its time).
            for step in 0..=n_full {
                let t0 = t_k + step as f64 * h;
                let (len, full) = if step < n_full {
                    (h, true)
                } else {
                    (seg_end - t0, false)
                };
                if len <= 0.0 {
                    break;
                }
                let start = (u, i);
                let next = if full {
                    (m00 * u + m01 * i, m10 * u + m11 * i)
                } else {
                    self.rk4(start, len)
                };
                if next.0 >= self.theta {
                    // Bisection on the sub-step length, re-integrating one RK4 sub-step each time.
                    let (mut lo, mut hi) = (0.0f64, len);
                    for _ in 0..200 {
                        if hi - lo <= 1e-13 * self.tau_syn {
                            break;
                        }
                        let mid = 0.5 * (lo + hi);
                        if self.rk4(start, mid).0 >= self.theta {
                            hi = mid;
                        } else {
                            lo = mid;
                        }
                    }
                    let s = 0.5 * (lo + hi);
                    let (uc, ic) = self.rk4(start, s);
                    return Reference::Spike {
                        t: t0 + s,
                        slope: self.rhs(uc, ic).0,
                    };
                }
                (u, i) = next;
                max_u = max_u.max(u);
            }
        }
        Reference::Silent { max_u }
    }
}

#[derive(Default, Debug)]
struct Tally {
    spikes: usize,
    silent: usize,
    skipped: usize,
    max_rel: f64,
}

/// Compare one neuron's core answer with the reference's. Near-ambiguous cases (peak within 1e-9
/// of theta, or crossing slope so small that 1e-14 of error in u moves t by > 1e-7) are skipped.
fn check(ode: &Ode, got: f64, reference: Reference, tally: &mut Tally, what: &str) {
    let scale = ode.tau_syn;
    match reference {
        Reference::Spike { t, slope } => {
            if slope * scale < 1e-5 * ode.theta {
                eprintln!("{what}: skipped near-tangential reference crossing at {t} (slope {slope}), core {got}");
                tally.skipped += 1;
                return;
            }
            let rel = (got - t).abs() / t.abs().max(scale);
            assert!(
                rel <= REL_TOL,
                "{what}: reference spike at {t} (slope {slope}), core says {got} (rel err {rel:e})"
            );
            tally.max_rel = tally.max_rel.max(rel);
            tally.spikes += 1;
        }
        Reference::Silent { max_u } => {
            if (ode.theta - max_u).abs() < 1e-9 * ode.theta {
                eprintln!(
                    "{what}: skipped reference peak {max_u} within 1e-9 of theta, core {got}"
                );
                tally.skipped += 1;
                return;
            }
            assert!(
                got == f64::INFINITY,
                "{what}: reference never crosses (max u = {max_u}, theta = {}), core spikes at {got}",
                ode.theta
            );
            tally.silent += 1;
        }
    }
}

fn params(ode: &Ode) -> LifParams {
    LifParams::new(ode.tau_mem, ode.tau_syn, ode.theta).unwrap()
}

fn core_single(ode: &Ode, times: &[f64], weights: &[f64]) -> f64 {
    let kernel = params(ode).kernel().unwrap();
    let mut s = SortedInputs::with_capacity(times.len());
    s.prepare(times, &kernel);
    first_spike(&kernel, ode.theta, &s, weights).0
}

fn kernels() -> Vec<(&'static str, Ode)> {
    vec![
        (
            "equal tau=1",
            Ode {
                tau_mem: 1.0,
                tau_syn: 1.0,
                theta: 1.0,
            },
        ),
        (
            "double tau_syn=1",
            Ode {
                tau_mem: 2.0,
                tau_syn: 1.0,
                theta: 0.5,
            },
        ),
        (
            "equal tau=5ms",
            Ode {
                tau_mem: 5e-3,
                tau_syn: 5e-3,
                theta: 1.3,
            },
        ),
        (
            "double tau_syn=5ms",
            Ode {
                tau_mem: 10e-3,
                tau_syn: 5e-3,
                theta: 0.8,
            },
        ),
    ]
}

/// Random single layers run through `Network::forward`, every neuron against the reference.
#[test]
fn random_layers_match_reference_ode() {
    let mut total = Tally::default();
    for (case, (name, ode)) in kernels().into_iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(1000 + case as u64);
        let tau = ode.tau_syn;
        // Single-input peak: w/e (equal) or w/2 (double); choose weights so about half spike.
        let w_scale = ode.theta * if ode.tau_mem == ode.tau_syn { 1.0 } else { 0.8 };
        let mut tally = Tally::default();
        for trial in 0..3 {
            let n_in = 4 + trial * 3;
            let n_out = 8;
            let mut x: Vec<f64> = (0..n_in)
                .map(|_| uniform(&mut rng, 0.0, 2.0 * tau))
                .collect();
            if trial == 2 {
                x[1] = f64::INFINITY; // a missing input
            }
            let weights: Vec<f64> = (0..n_out * n_in)
                .map(|_| w_scale * uniform(&mut rng, -0.8, 2.0) * 4.0 / n_in as f64)
                .collect();
            let layer = Layer {
                n_in,
                n_out,
                bias_times: vec![],
                weights: weights.clone(),
            };
            let net = Network::from_layers(params(&ode), vec![layer]).unwrap();
            let mut ws = net.workspace();
            net.forward(&x, &mut ws);
            for k in 0..n_out {
                let row = &weights[k * n_in..(k + 1) * n_in];
                let reference = ode.first_crossing(&x, row);
                let got = ws.outputs[0][k];
                check(
                    &ode,
                    got,
                    reference,
                    &mut tally,
                    &format!("{name} trial {trial} neuron {k}"),
                );
                // The direct solver gives the same answer as the engine.
                assert_eq!(core_single(&ode, &x, row).to_bits(), got.to_bits());
            }
        }
        eprintln!("{name}: {tally:?}");
        assert!(
            tally.spikes >= 4 && tally.silent >= 2,
            "{name}: too few informative cases: {tally:?}"
        );
        assert!(tally.skipped <= 2, "{name}: {tally:?}");
        total.spikes += tally.spikes;
        total.silent += tally.silent;
        total.max_rel = total.max_rel.max(tally.max_rel);
    }
    eprintln!("all kernels: {total:?}");
}

/// Two inputs whose sum is needed to spike, with inhibition and excitation at varied offsets: many
/// crossings fall close to input times, which stresses the interval bookkeeping of the walk.
#[test]
fn crossings_near_input_times_match_reference() {
    for (name, ode) in kernels() {
        let tau = ode.tau_syn;
        let mut tally = Tally::default();
        let base_w = if ode.tau_mem == ode.tau_syn { 3.0 } else { 2.4 } * ode.theta;
        let (t0, _) = match ode.first_crossing(&[0.0], &[base_w]) {
            Reference::Spike { t, slope } => (t, slope),
            r => panic!("{name}: the base input must spike: {r:?}"),
        };
        for j in 0..12 {
            // A second input at offsets around the base crossing.
            let t1 = t0 + (j as f64 - 5.5) * 0.02 * tau;
            for w1 in [-5.0 * ode.theta, -0.3 * ode.theta, 0.4 * ode.theta] {
                let times = [0.0, t1];
                let weights = [base_w, w1];
                let got = core_single(&ode, &times, &weights);
                check(
                    &ode,
                    got,
                    ode.first_crossing(&times, &weights),
                    &mut tally,
                    &format!("{name} t1={t1} w1={w1}"),
                );
            }
        }
        eprintln!("{name}: {tally:?}");
        assert!(
            tally.spikes >= 20 && tally.skipped == 0,
            "{name}: {tally:?}"
        );
    }
}

#[test]
fn explicit_cases_match_reference() {
    for (name, ode) in kernels() {
        let tau = ode.tau_syn;
        let mut tally = Tally::default();
        let w = if ode.tau_mem == ode.tau_syn { 3.0 } else { 2.4 } * ode.theta;
        let t_in = 0.3 * tau;
        let t0 = match ode.first_crossing(&[t_in], &[w]) {
            Reference::Spike { t, .. } => t,
            r => panic!("{name}: {r:?}"),
        };
        let got0 = core_single(&ode, &[t_in], &[w]);
        check(
            &ode,
            got0,
            ode.first_crossing(&[t_in], &[w]),
            &mut tally,
            name,
        );

        // An input after the crossing changes nothing, even a strong inhibitory one.
        for w_late in [-20.0 * ode.theta, 5.0 * ode.theta] {
            let times = [t_in, t0 + 0.01 * tau];
            let got = core_single(&ode, &times, &[w, w_late]);
            assert_eq!(got, got0, "{name}: late input w={w_late} moved the spike");
            check(
                &ode,
                got,
                ode.first_crossing(&times, &[w, w_late]),
                &mut tally,
                name,
            );
        }

        // Inhibition before the crossing cancels the spike (reference and core agree).
        let times = [t_in, t0 - 0.05 * tau];
        let weights = [w, -20.0 * ode.theta];
        let r = ode.first_crossing(&times, &weights);
        assert!(matches!(r, Reference::Silent { .. }), "{name}: {r:?}");
        let got = core_single(&ode, &times, &weights);
        assert_eq!(
            got,
            f64::INFINITY,
            "{name}: inhibition did not cancel the spike"
        );
        check(&ode, got, r, &mut tally, name);

        // Weaker inhibition before the crossing only delays it.
        let weights = [w, -0.2 * ode.theta];
        let got = core_single(&ode, &times, &weights);
        assert!(got > t0 && got.is_finite(), "{name}: {got} vs {t0}");
        check(
            &ode,
            got,
            ode.first_crossing(&times, &weights),
            &mut tally,
            name,
        );

        // Inputs at +inf are ignored, whatever their weight, also in the engine.
        let times = [t_in, f64::INFINITY, f64::INFINITY];
        let weights = [w, 100.0, -100.0];
        let got = core_single(&ode, &times, &weights);
        assert_eq!(got, got0);
        let layer = Layer {
            n_in: 3,
            n_out: 1,
            bias_times: vec![],
            weights: weights.to_vec(),
        };
        let net = Network::from_layers(params(&ode), vec![layer]).unwrap();
        let mut ws = net.workspace();
        net.forward(&times, &mut ws);
        assert_eq!(ws.outputs[0][0], got0);
        check(
            &ode,
            got,
            ode.first_crossing(&times, &weights),
            &mut tally,
            name,
        );

        // No inputs at all: silent.
        let got = core_single(&ode, &[f64::INFINITY], &[5.0]);
        assert_eq!(got, f64::INFINITY);

        // Sub-threshold single input: silent; just above threshold: spikes near the PSP peak.
        let peak_w = if ode.tau_mem == ode.tau_syn {
            std::f64::consts::E
        } else {
            2.0
        } * ode.theta;
        for (factor, spikes) in [
            (0.999, false),
            (1.0 - 1e-7, false),
            (1.0 + 1e-7, true),
            (1.0 + 1e-5, true),
            (1.001, true),
            (1.05, true),
        ] {
            let r = ode.first_crossing(&[t_in], &[peak_w * factor]);
            let got = core_single(&ode, &[t_in], &[peak_w * factor]);
            assert_eq!(got.is_finite(), spikes, "{name} factor {factor}");
            check(&ode, got, r, &mut tally, &format!("{name} factor {factor}"));
        }

        // Simultaneous inputs add up.
        let times = [t_in, t_in, t_in];
        let weights = [0.5 * w, 0.3 * w, 0.2 * w];
        let got = core_single(&ode, &times, &weights);
        assert!(
            (got - got0).abs() <= 1e-12 * got0.max(tau),
            "{name}: {got} vs {got0}"
        );
        check(
            &ode,
            got,
            ode.first_crossing(&times, &weights),
            &mut tally,
            name,
        );

        // Late inputs (far from t = 0) do not lose precision.
        let shift = 1e3 * tau;
        let times = [shift + t_in, shift + t_in + 0.1 * tau];
        let weights = [0.6 * w, 0.6 * w];
        let got = core_single(&ode, &times, &weights);
        let r = ode.first_crossing(&times, &weights);
        if let Reference::Spike { t, .. } = r {
            assert!(
                (got - t).abs() <= 1e-9 * tau,
                "{name}: late inputs: {got} vs {t}"
            );
        } else {
            panic!("{name}: {r:?}");
        }
        eprintln!("{name}: {tally:?}");
        assert_eq!(tally.skipped, 0);
    }
}

/// A 2-layer network with bias spikes; the reference runs layer by layer on its own hidden times.
#[test]
fn two_layer_network_with_bias_matches_reference() {
    for (case, (name, ode)) in kernels().into_iter().enumerate() {
        let tau = ode.tau_syn;
        let mut rng = ChaCha8Rng::seed_from_u64(77 + case as u64);
        let w_scale = ode.theta * if ode.tau_mem == ode.tau_syn { 1.0 } else { 0.6 };
        let (n_in, n_hid, n_out) = (4, 6, 3);
        let bias0 = vec![0.9 * tau];
        let bias1 = vec![0.5 * tau, 1.2 * tau];
        let w0: Vec<f64> = (0..n_hid * (n_in + 1))
            .map(|_| w_scale * uniform(&mut rng, -0.3, 2.0))
            .collect();
        let w1: Vec<f64> = (0..n_out * (n_hid + 2))
            .map(|_| w_scale * uniform(&mut rng, -0.3, 1.6))
            .collect();
        let net = Network::from_layers(
            params(&ode),
            vec![
                Layer {
                    n_in,
                    n_out: n_hid,
                    bias_times: bias0.clone(),
                    weights: w0.clone(),
                },
                Layer {
                    n_in: n_hid,
                    n_out,
                    bias_times: bias1.clone(),
                    weights: w1.clone(),
                },
            ],
        )
        .unwrap();
        let mut ws = net.workspace();
        let mut tally = Tally::default();
        for sample in 0..3 {
            let x: Vec<f64> = (0..n_in)
                .map(|_| uniform(&mut rng, 0.15 * tau, 2.0 * tau))
                .collect();
            net.forward(&x, &mut ws);
            // Reference hidden layer.
            let mut in0 = x.clone();
            in0.extend_from_slice(&bias0);
            let mut hidden_ref = Vec::new();
            for k in 0..n_hid {
                let r = ode.first_crossing(&in0, &w0[k * (n_in + 1)..(k + 1) * (n_in + 1)]);
                check(
                    &ode,
                    ws.outputs[0][k],
                    r,
                    &mut tally,
                    &format!("{name} sample {sample} hidden {k}"),
                );
                hidden_ref.push(match r {
                    Reference::Spike { t, .. } => t,
                    Reference::Silent { .. } => f64::INFINITY,
                });
            }
            // Reference output layer on the reference's own hidden times.
            let mut in1 = hidden_ref;
            in1.extend_from_slice(&bias1);
            for k in 0..n_out {
                let r = ode.first_crossing(&in1, &w1[k * (n_hid + 2)..(k + 1) * (n_hid + 2)]);
                check(
                    &ode,
                    ws.outputs[1][k],
                    r,
                    &mut tally,
                    &format!("{name} sample {sample} output {k}"),
                );
            }
        }
        eprintln!("{name}: {tally:?}");
        assert!(
            tally.spikes >= 15 && tally.skipped == 0,
            "{name}: {tally:?}"
        );
    }
}

/// The reference itself against the closed-form PSP of a single input (guards the reference).
#[test]
fn reference_reproduces_single_input_closed_form() {
    for (name, ode) in kernels() {
        let tau = ode.tau_syn;
        let w = 4.0 * ode.theta;
        match ode.first_crossing(&[0.2 * tau], &[w]) {
            Reference::Spike { t, .. } => {
                let s = t - 0.2 * tau;
                let u = if ode.tau_mem == ode.tau_syn {
                    w * (s / tau) * (-s / tau).exp()
                } else {
                    2.0 * w * ((-s / ode.tau_mem).exp() - (-s / tau).exp())
                };
                assert!(
                    (u - ode.theta).abs() < 1e-10 * ode.theta,
                    "{name}: u(t*) = {u}"
                );
            }
            r => panic!("{name}: {r:?}"),
        }
    }
}

/// A larger random sweep (many inputs, mixed signs, near-threshold weights). Slow in debug builds:
/// `cargo test -p spikeloom-core --test reference_ode -- --ignored`.
#[test]
#[ignore = "slow extended sweep (about a minute in debug); run with --ignored"]
fn extended_random_sweep() {
    let cases: usize = std::env::var("SPIKELOOM_SWEEP_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let mut total = Tally::default();
    for (case, (name, ode)) in kernels().into_iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(31337 + case as u64);
        let tau = ode.tau_syn;
        let peak_w = if ode.tau_mem == ode.tau_syn {
            std::f64::consts::E
        } else {
            2.0
        } * ode.theta;
        let mut tally = Tally::default();
        for c in 0..cases {
            let n = 1 + (rng.next_u64() % 40) as usize;
            let span = uniform(&mut rng, 0.01, 6.0) * tau;
            let mut times: Vec<f64> = (0..n).map(|_| uniform(&mut rng, 0.0, span)).collect();
            if n > 3 && c % 5 == 0 {
                times[2] = times[1]; // simultaneous inputs
            }
            let mut weights: Vec<f64> = (0..n)
                .map(|_| {
                    let w = uniform(&mut rng, -1.0, 2.0) * peak_w * 2.0 / (n as f64).sqrt();
                    if rng.next_u64() % 8 == 0 {
                        -3.0 * w.abs()
                    } else {
                        w
                    }
                })
                .collect();
            if c % 7 == 0 {
                // A single dominant input close to the critical weight.
                weights[0] = peak_w * (1.0 + uniform(&mut rng, -1e-3, 1e-3));
                for w in &mut weights[1..] {
                    *w *= 1e-3;
                }
            }
            let got = core_single(&ode, &times, &weights);
            check(
                &ode,
                got,
                ode.first_crossing(&times, &weights),
                &mut tally,
                &format!("{name} case {c}: times {times:?} weights {weights:?}"),
            );
        }
        eprintln!("{name}: {tally:?}");
        total.spikes += tally.spikes;
        total.silent += tally.silent;
        total.skipped += tally.skipped;
        total.max_rel = total.max_rel.max(tally.max_rel);
    }
    eprintln!("sweep: {total:?}");
}
