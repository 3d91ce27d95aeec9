//! The alpha neuron of Comsa et al. (2020) runs on the tau_mem = tau_syn LIF walk through
//! [`AlphaParams::lif`]. These tests check that mapping against independent references:
//!
//! * Comsa et al.'s own closed form, re-derived here from the paper's equations (A = sum w e^{K t_i},
//!   B = sum w e^{K t_i} t_i, t* = B/A - W0(-(K theta / A) e^{K B/A}) / K, their causal walk, their
//!   derivative formulas with the 1 / (1 + W) factor) with a Lambert W of its own (Halley iteration):
//!   spike times, causal sets and dt/dw, dt/dt_i agree to ~1e-10 relative, in paper units and in SI
//!   units (tau = 5.5 ms, time unit 1 ms);
//! * direct bisection of the PSP sum V(t) = sum w (t - t_i)/T e^{-(t - t_i)/tau} = theta on a fine scan
//!   (no closed form at all).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spikeloom_core::spike_time::{
    first_spike, spike_time_gradient, AlphaParams, Gradient, SortedInputs,
};

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    lo + (hi - lo) * u
}

/// W0 by Halley's iteration from a branch-point / log start (independent of spikeloom's solver).
fn w0_reference(z: f64) -> f64 {
    assert!(z >= -1.0 / std::f64::consts::E);
    let mut w = if z < -0.25 {
        -1.0 + (2.0 * (1.0 + std::f64::consts::E * z)).max(0.0).sqrt()
    } else if z < 3.0 {
        z / (1.0 + z).sqrt()
    } else {
        z.ln() - z.ln().ln().max(0.0)
    };
    for _ in 0..100 {
        let ew = w.exp();
        let f = w * ew - z;
        let denom = ew * (w + 1.0) - (w + 2.0) * f / (2.0 * w + 2.0);
        if denom == 0.0 || !denom.is_finite() {
            break;
        }
        let next = w - f / denom;
        if (next - w).abs() <= 1e-16 * (1.0 + w.abs()) {
            w = next;
            break;
        }
        w = next;
    }
    w
}

/// Comsa et al.'s neuron in paper units (decay rate K, threshold theta): (t*, causal flags, A, W).
struct Comsa {
    t: f64,
    causal: Vec<bool>,
    a: f64,
    w: f64,
}

fn comsa_neuron(k: f64, theta: f64, times: &[f64], weights: &[f64]) -> Comsa {
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by(|&i, &j| times[i].partial_cmp(&times[j]).unwrap().then(i.cmp(&j)));
    let (mut a, mut b, mut w_last) = (0.0, 0.0, f64::NAN);
    let mut t_spike = f64::INFINITY;
    let mut causal = vec![false; times.len()];
    for &i in &order {
        if t_spike <= times[i] {
            break;
        }
        t_spike = f64::INFINITY;
        causal[i] = true;
        let e = (k * times[i]).exp();
        a += weights[i] * e;
        b += weights[i] * e * times[i];
        if a < 0.0 {
            continue;
        }
        let z = -(k * theta / a) * (k * b / a).exp();
        if (-1.0 / std::f64::consts::E..=f64::MAX).contains(&z) {
            let w = w0_reference(z);
            let t = b / a - w / k;
            if t >= times[i] {
                t_spike = t;
                w_last = w;
            }
        }
    }
    if !t_spike.is_finite() {
        causal.iter_mut().for_each(|c| *c = false);
    }
    Comsa {
        t: t_spike,
        causal,
        a,
        w: w_last,
    }
}

/// Comsa et al.'s derivatives (paper units) of a spiking neuron.
fn comsa_derivatives(k: f64, c: &Comsa, times: &[f64], weights: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = times.len();
    let (mut dw, mut dt) = (vec![0.0; n], vec![0.0; n]);
    for i in (0..n).filter(|&i| c.causal[i]) {
        let e = (k * times[i]).exp();
        let denom = c.a * (1.0 + c.w);
        dw[i] = -e * (c.t - times[i]) / denom;
        dt[i] = weights[i] * e * (1.0 - k * (c.t - times[i])) / denom;
    }
    (dw, dt)
}

fn close(a: f64, b: f64, scale: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(scale)
}

/// Random neurons in paper units (inputs in [0, 3]), some inputs silent, mixed-sign weights scaled
/// so that about half the neurons reach `theta` (`w_scale` = theta / peak of t e^{-Kt}).
fn random_neuron(rng: &mut ChaCha8Rng, w_scale: f64) -> (Vec<f64>, Vec<f64>) {
    let n = 2 + (rng.next_u64() % 12) as usize;
    let mut times: Vec<f64> = (0..n).map(|_| uniform(rng, 0.0, 3.0)).collect();
    if rng.next_u64() % 4 == 0 {
        times[0] = f64::INFINITY; // a silent input
    }
    let weights = (0..n)
        .map(|_| w_scale * uniform(rng, -0.6, 1.0) * 4.0 / n as f64)
        .collect();
    (times, weights)
}

#[test]
fn alpha_walk_equals_comsa_closed_form() {
    // (decay rate K per unit, threshold, SI time unit)
    let cases = [
        (1.0, 0.4, 1.0),
        (0.18176949150701854, 1.1673205005788956, 1.0),
        (0.18176949150701854, 1.1673205005788956, 1e-3),
        (2.5, 0.3, 5e-3),
    ];
    for (case, &(k, theta, unit)) in cases.iter().enumerate() {
        let alpha = AlphaParams::from_decay_rate(k, theta, unit).unwrap();
        let lif = alpha.lif().unwrap();
        let kernel = lif.kernel().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(40 + case as u64);
        let mut sorted = SortedInputs::with_capacity(16);
        let (mut spiking, mut silent, mut max_rel) = (0, 0, 0.0f64);
        // The weight scale that makes about half the neurons spike: theta / (peak of t e^{-Kt}) / n.
        let w_scale = theta * k * std::f64::consts::E;
        for _ in 0..400 {
            let (times, weights) = random_neuron(&mut rng, w_scale);
            let reference = comsa_neuron(k, theta, &times, &weights);
            let si_times: Vec<f64> = times.iter().map(|t| t * unit).collect();
            sorted.prepare(&si_times, &kernel);
            let (t_si, n_causal) = first_spike(&kernel, lif.threshold, &sorted, &weights);
            if !reference.t.is_finite() {
                assert!(
                    !t_si.is_finite(),
                    "case {case}: Comsa silent, spikeloom spikes at {t_si}: {times:?} {weights:?}"
                );
                silent += 1;
                continue;
            }
            assert!(
                t_si.is_finite(),
                "case {case}: Comsa spikes at {}, spikeloom silent",
                reference.t
            );
            let t = t_si / unit;
            assert!(
                close(t, reference.t, 1.0, 1e-10),
                "case {case}: t {t} vs Comsa {}",
                reference.t
            );
            max_rel = max_rel.max((t - reference.t).abs() / reference.t.abs().max(1.0));
            // Same causal set.
            let causal_sl: Vec<usize> = sorted.order[..n_causal].to_vec();
            let causal_ref: Vec<usize> =
                (0..times.len()).filter(|&i| reference.causal[i]).collect();
            let mut sorted_sl = causal_sl.clone();
            sorted_sl.sort_unstable();
            assert_eq!(sorted_sl, causal_ref, "case {case}: causal sets differ");
            // Derivatives: spikeloom's are in SI (dt/dw in seconds, dt/dt_i dimensionless).
            let (dw_ref, dt_ref) = comsa_derivatives(k, &reference, &times, &weights);
            let (mut dw, mut dt) = (vec![0.0; times.len()], vec![0.0; times.len()]);
            let outcome =
                spike_time_gradient(&kernel, t_si, n_causal, &sorted, &weights, |j, a, b| {
                    dw[j] = a / unit;
                    dt[j] = b;
                });
            assert!(matches!(outcome, Gradient::Ok(_)));
            // 1 / (1 + W) amplifies rounding near the tangent; compare relative to the row's scale.
            let amp = 1.0 / (1.0 + reference.w);
            let sw = dw_ref.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let st = dt_ref.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for i in 0..times.len() {
                assert!(
                    close(dw[i], dw_ref[i], sw, 1e-9 * amp),
                    "case {case}: dt/dw[{i}] {} vs Comsa {}",
                    dw[i],
                    dw_ref[i]
                );
                assert!(
                    close(dt[i], dt_ref[i], st, 1e-9 * amp),
                    "case {case}: dt/dt[{i}] {} vs Comsa {}",
                    dt[i],
                    dt_ref[i]
                );
            }
            spiking += 1;
        }
        assert!(
            spiking > 50 && silent > 50,
            "case {case}: {spiking} spiking, {silent} silent"
        );
        eprintln!(
            "case {case}: {spiking} spiking / {silent} silent, max relative time error {max_rel:e}"
        );
    }
}

/// First crossing of V(t) = theta by scanning V on a fine grid and bisecting; `None` when a local
/// maximum comes within `ambiguity` of theta before the crossing (a grid cannot decide those).
fn bisection_reference(alpha: &AlphaParams, times: &[f64], weights: &[f64]) -> Option<f64> {
    let v = |t: f64| alpha.potential(t, times, weights);
    let last = times
        .iter()
        .copied()
        .filter(|t| t.is_finite())
        .fold(0.0, f64::max);
    let step = 1e-3 * alpha.tau;
    let theta = alpha.threshold;
    let (mut t, mut prev, mut prev2) = (0.0, 0.0, 0.0);
    while t < last + 40.0 * alpha.tau {
        let next = t + step;
        let vn = v(next);
        if vn >= theta {
            let (mut lo, mut hi) = (t, next);
            for _ in 0..200 {
                let mid = 0.5 * (lo + hi);
                if mid <= lo || mid >= hi {
                    break;
                }
                if v(mid) >= theta {
                    hi = mid
                } else {
                    lo = mid
                }
            }
            return Some(hi);
        }
        // local maximum just below threshold: ambiguous
        if prev >= prev2 && prev >= vn && prev > theta * (1.0 - 1e-6) {
            return None;
        }
        (prev2, prev) = (prev, vn);
        t = next;
    }
    Some(f64::INFINITY)
}

#[test]
fn alpha_spike_times_match_psp_sum_bisection() {
    for (case, &(k, theta, unit)) in [
        (1.0, 0.4, 1.0),
        (0.18176949150701854, 1.1673205005788956, 1e-3),
    ]
    .iter()
    .enumerate()
    {
        let alpha = AlphaParams::from_decay_rate(k, theta, unit).unwrap();
        let lif = alpha.lif().unwrap();
        let kernel = lif.kernel().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(90 + case as u64);
        let mut sorted = SortedInputs::with_capacity(16);
        let w_scale = theta * k * std::f64::consts::E;
        let (mut checked, mut spiking) = (0, 0);
        for _ in 0..150 {
            let (times, weights) = random_neuron(&mut rng, w_scale);
            let si: Vec<f64> = times.iter().map(|t| t * unit).collect();
            sorted.prepare(&si, &kernel);
            let (t, _) = first_spike(&kernel, lif.threshold, &sorted, &weights);
            let Some(reference) = bisection_reference(&alpha, &si, &weights) else {
                continue;
            };
            checked += 1;
            if reference.is_finite() {
                spiking += 1;
                assert!(
                    (t - reference).abs() <= 1e-9 * alpha.tau,
                    "case {case}: exact {t} vs bisection {reference}"
                );
            } else {
                assert!(
                    !t.is_finite(),
                    "case {case}: exact {t}, bisection: no crossing"
                );
            }
        }
        assert!(
            checked > 120 && spiking > 40,
            "case {case}: {checked} checked, {spiking} spiking"
        );
    }
}
