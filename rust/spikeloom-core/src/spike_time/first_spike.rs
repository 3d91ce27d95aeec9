//! The causal-set walk: the first threshold crossing of one neuron given its sorted inputs.

use super::{lambert, Kernel, SortedInputs};

/// First spike time of one neuron and the size of its causal set.
///
/// `weights[j]` is the weight of input `j` (indices as in the unsorted input vector). Inputs are
/// visited in time order; after adding input k the membrane is evolved in closed form over the
/// interval up to input k+1, and a crossing is accepted only if it falls inside that interval, so a
/// later (e.g. inhibitory) input can never retroactively cancel an earlier spike, and a spike that
/// would have happened without that later input is not reported if the input prevents it.
///
/// Returns `(t*, n_causal)`; `(+inf, 0)` when the neuron never reaches threshold. The state is kept
/// relative to the latest input time, so nothing overflows however late the inputs are.
pub fn first_spike(
    kernel: &Kernel,
    threshold: f64,
    inputs: &SortedInputs,
    weights: &[f64],
) -> (f64, usize) {
    match *kernel {
        Kernel::Equal { tau } => walk_equal(tau, threshold, inputs, weights),
        Kernel::Double { tau_mem, .. } => walk_double(tau_mem, threshold, inputs, weights),
    }
}

/// tau_mem = tau_syn = tau. With x = (t - r)/tau relative to the latest input time r:
/// u(x) = exp(-x) (A x - B), A = sum w e^{(t_i - r)/tau}, B = sum w ((t_i - r)/tau) e^{(t_i - r)/tau}.
fn walk_equal(tau: f64, theta: f64, inp: &SortedInputs, weights: &[f64]) -> (f64, usize) {
    let (mut a, mut b) = (0.0f64, 0.0f64);
    // Propagator across the gap just crossed (none before the first input).
    let (mut e_prev, mut x_prev) = (1.0f64, 0.0f64);
    let steps = inp
        .order
        .iter()
        .zip(&inp.times)
        .zip(inp.f1.iter().zip(&inp.f2));
    for (k, ((&j, &t), (&e_end, &x_end))) in steps.enumerate() {
        // Move the reference from the previous input to this one, then add this input.
        b = e_prev * (b - x_prev * a);
        a = a * e_prev + weights[j];
        (e_prev, x_prev) = (e_end, x_end);
        if a <= 0.0 {
            continue; // u has no rising flank above 0 on this interval
        }
        // Division-free tests first (this loop runs for every input of every neuron).
        // u(x_end) = e_end (a x_end - b); on the last interval u decays to 0.
        let u_end = if x_end.is_finite() {
            e_end * (a * x_end - b)
        } else {
            0.0
        };
        let crossing = if u_end >= theta {
            true // u(r) < theta <= u(end): the first crossing is on the rising flank
        } else {
            // Otherwise only a peak inside the interval can reach theta. With s = a + b = a x_peak:
            // peak inside  <=>  0 < s < a x_end;  u_peak = a e^{-x_peak} <= a^2 / (a + s).
            let s = a + b;
            s > 0.0 && s < a * x_end && (a / theta) * a >= a + s && a * (-(s / a)).exp() >= theta
        };
        if crossing {
            // (x - B/A) e^{-(x - B/A)} = (theta/A) e^{B/A}  =>  x = B/A - W0(-(theta/A) e^{B/A})
            let z = -(theta / a) * (b / a).exp();
            let w = lambert::w0(z).unwrap_or(-1.0); // a crossing exists: z < -1/e only by rounding
            let x_peak = b / a + 1.0;
            let x = (b / a - w).clamp(0.0, x_peak.min(x_end));
            return (t + tau * x, k + 1);
        }
    }
    (f64::INFINITY, 0)
}

/// tau_mem = 2 tau_syn. With y = exp(-(t - r)/tau_mem): u = 2 (A2 y - A1 y^2),
/// A1 = sum w e^{(t_i - r)/tau_syn}, A2 = sum w e^{(t_i - r)/tau_mem}.
fn walk_double(tau_mem: f64, theta: f64, inp: &SortedInputs, weights: &[f64]) -> (f64, usize) {
    let (mut a1, mut a2) = (0.0f64, 0.0f64);
    let (mut ys_prev, mut y_prev) = (1.0f64, 1.0f64);
    let steps = inp
        .order
        .iter()
        .zip(&inp.times)
        .zip(inp.f1.iter().zip(&inp.f2));
    for (k, ((&j, &t), (&ys_end, &y_end))) in steps.enumerate() {
        let w = weights[j];
        a1 = a1 * ys_prev + w;
        a2 = a2 * y_prev + w;
        (ys_prev, y_prev) = (ys_end, y_end);
        if a1 <= 0.0 || a2 <= 0.0 {
            continue; // no upward crossing of a positive threshold (see module docs)
        }
        // u(end) = 2 (a2 y_end - a1 y_end^2); peak at y_peak = a2 / (2 a1) with u_peak = a2^2 / (2 a1).
        // Peak inside the interval <=> y_end < y_peak < 1 <=> 2 a1 y_end < a2 < 2 a1 (division-free).
        // (a2 / theta) * a2 instead of a2^2 keeps the test free of overflow for huge weights.
        let u_end = 2.0 * (a2 * y_end - a1 * ys_end);
        let crossing = u_end >= theta
            || (a2 < 2.0 * a1 && a2 > 2.0 * a1 * y_end && (a2 / theta) * a2 >= 2.0 * a1);
        if crossing {
            // a1 y^2 - a2 y + theta/2 = 0, earliest crossing = larger root y*. Written without
            // squares (no overflow) and as 1 - y* (no cancellation when the crossing follows the input
            // closely, e.g. one strong input): with s = sqrt(a2^2 - 2 a1 theta),
            //   1 - y* = (2 a1 - 2 a2 + theta) / (2 a1 - a2 + s),   dt = -tau_mem ln(1 - (1 - y*)).
            let s = a2 * (1.0 - (2.0 * a1 / a2) * (theta / a2)).max(0.0).sqrt();
            let q = (2.0 * (a1 - a2) + theta) / (2.0 * a1 - a2 + s);
            let one_minus_y = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
            let gap_end = if y_end > 0.0 {
                -tau_mem * y_end.ln()
            } else {
                f64::INFINITY
            };
            let dt = (-tau_mem * (-one_minus_y).ln_1p()).clamp(0.0, gap_end);
            return (t + dt, k + 1);
        }
    }
    (f64::INFINITY, 0)
}

/// Outcome of [`spike_time_gradient`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Gradient {
    /// Derivatives were delivered; the value is du/dt at the crossing.
    Ok(f64),
    /// The neuron did not spike: no derivatives.
    Silent,
    /// du/dt at the crossing is not positive (tangential touch, derivative infinite): none delivered.
    Tangential,
}

/// Exact derivatives of the spike time `t_out` with respect to every causal input's weight and time.
///
/// Calls `f(j, dt/dw_j, dt/dt_j)` for each causal input `j` (unsorted index). Non-causal inputs have
/// zero derivatives and are not visited.
pub fn spike_time_gradient(
    kernel: &Kernel,
    t_out: f64,
    n_causal: usize,
    inputs: &SortedInputs,
    weights: &[f64],
    mut f: impl FnMut(usize, f64, f64),
) -> Gradient {
    if !t_out.is_finite() || n_causal == 0 {
        return Gradient::Silent;
    }
    let causal = &inputs.order[..n_causal];
    let times = &inputs.times[..n_causal];
    let mut dudt = 0.0;
    for (&j, &t) in causal.iter().zip(times) {
        dudt += weights[j] * kernel.psp_slope(t_out - t);
    }
    if !(dudt > 0.0 && dudt.is_finite()) {
        return Gradient::Tangential;
    }
    let inv = 1.0 / dudt;
    for (&j, &t) in causal.iter().zip(times) {
        let s = t_out - t;
        f(
            j,
            -kernel.psp(s) * inv,
            weights[j] * kernel.psp_slope(s) * inv,
        );
    }
    Gradient::Ok(dudt)
}

#[cfg(test)]
mod tests {
    use super::super::LifParams;
    use super::*;

    fn solve(p: LifParams, times: &[f64], w: &[f64]) -> (f64, usize) {
        let k = p.kernel().unwrap();
        let mut s = SortedInputs::with_capacity(times.len());
        s.prepare(times, &k);
        first_spike(&k, p.threshold, &s, w)
    }

    #[test]
    fn single_input_closed_form_equal() {
        // u = w x e^{-x}; peak w/e at x = 1. With w = 3, theta = 1: x e^{-x} = 1/3.
        let p = LifParams::new(1.0, 1.0, 1.0).unwrap();
        let (t, n) = solve(p, &[0.5], &[3.0]);
        assert_eq!(n, 1);
        let x = t - 0.5;
        assert!((3.0 * x * (-x).exp() - 1.0).abs() < 1e-13 && x < 1.0);
        // below threshold peak: w = 2 < e
        assert_eq!(solve(p, &[0.5], &[2.0]).0, f64::INFINITY);
    }

    #[test]
    fn single_input_closed_form_double() {
        let p = LifParams::new(2.0, 1.0, 0.4).unwrap();
        let (t, _) = solve(p, &[0.0], &[1.0]);
        let u = 2.0 * ((-t / 2.0).exp() - (-t).exp());
        assert!((u - 0.4).abs() < 1e-13, "u={u}");
        // peak of 2(y - y^2) is 0.5 at y = 1/2: threshold 0.6 never reached
        let p = LifParams::new(2.0, 1.0, 0.6).unwrap();
        assert_eq!(solve(p, &[0.0], &[1.0]).0, f64::INFINITY);
    }

    #[test]
    fn later_input_does_not_cancel_earlier_spike_and_inhibition_prevents_later_one() {
        let p = LifParams::new(1.0, 1.0, 1.0).unwrap();
        let (t0, _) = solve(p, &[0.0], &[3.0]);
        // strong inhibition after the crossing changes nothing
        let (t1, n1) = solve(p, &[0.0, t0 + 0.01], &[3.0, -10.0]);
        assert_eq!((t0, 1), (t1, n1));
        // the same inhibition before the crossing cancels the spike
        let (t2, _) = solve(p, &[0.0, t0 - 0.05], &[3.0, -10.0]);
        assert_eq!(t2, f64::INFINITY);
        // inputs at +inf are ignored
        let (t3, _) = solve(p, &[0.0, f64::INFINITY], &[3.0, 100.0]);
        assert_eq!(t3, t0);
    }

    #[test]
    fn late_inputs_do_not_overflow() {
        let p = LifParams::new(1.0, 1.0, 1.0).unwrap();
        let (t, _) = solve(p, &[1e4, 1e4 + 0.1], &[2.0, 2.0]);
        assert!(t.is_finite() && t > 1e4 + 0.1);
    }
}
