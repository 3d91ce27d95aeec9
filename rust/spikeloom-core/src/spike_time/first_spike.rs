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
            s > 0.0 && s < a * x_end && (a / theta) * a >= a + s && equal_peak_reaches(a, b, theta)
        };
        if crossing {
            return (t + tau * equal_crossing(theta, a, b, x_end), k + 1);
        }
    }
    (f64::INFINITY, 0)
}

/// Equal kernel: the peak `a e^{-(a + b)/a}` of an interval reaches `theta` (the exact test after the
/// division-free pre-tests).
#[inline]
fn equal_peak_reaches(a: f64, b: f64, theta: f64) -> bool {
    let s = a + b;
    a * (-(s / a)).exp() >= theta
}

/// Equal kernel: the crossing `x = (t* - t) / tau` in an interval that starts at input time `t`
/// (state `a`, `b` relative to it) where a crossing is certain.
#[inline]
fn equal_crossing(theta: f64, a: f64, b: f64, x_end: f64) -> f64 {
    // (x - B/A) e^{-(x - B/A)} = (theta/A) e^{B/A}  =>  x = B/A - W0(-(theta/A) e^{B/A})
    let z = -(theta / a) * (b / a).exp();
    let w = lambert::w0(z).unwrap_or(-1.0); // a crossing exists: z < -1/e only by rounding
    let x_peak = b / a + 1.0;
    (b / a - w).clamp(0.0, x_peak.min(x_end))
}

/// Equal kernel: du/dt at `x` of an interval with state `a`, `b`: `e^{-x} (a (1 - x) + b) / tau`.
#[inline]
fn equal_slope(tau: f64, a: f64, b: f64, x: f64) -> f64 {
    (-x).exp() * (a * (1.0 - x) + b) / tau
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
            return (t + double_crossing(tau_mem, theta, a1, a2, y_end), k + 1);
        }
    }
    (f64::INFINITY, 0)
}

/// Double kernel: the crossing `t* - t` in an interval that starts at input time `t` where a crossing
/// is certain.
#[inline]
fn double_crossing(tau_mem: f64, theta: f64, a1: f64, a2: f64, y_end: f64) -> f64 {
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
    (-tau_mem * (-one_minus_y).ln_1p()).clamp(0.0, gap_end)
}

/// Double kernel: du/dt a time `dt` into an interval with state `a1`, `a2`:
/// `(2 y / tau_mem) (2 a1 y - a2)` with `y = e^{-dt/tau_mem}`.
#[inline]
fn double_slope(tau_mem: f64, a1: f64, a2: f64, dt: f64) -> f64 {
    let y = (-dt / tau_mem).exp();
    (2.0 * y / tau_mem) * (2.0 * a1 * y - a2)
}

/// Per-neuron state of [`first_spike_layer`], allocated once (per thread) and reused.
#[derive(Clone, Debug, Default)]
pub struct LayerScratch {
    a: Vec<f64>,
    b: Vec<f64>,
    hit: Vec<u8>,
}

impl LayerScratch {
    /// Buffers for layers of up to `n_out` neurons.
    pub fn with_capacity(n_out: usize) -> Self {
        LayerScratch {
            a: vec![0.0; n_out],
            b: vec![0.0; n_out],
            hit: vec![0; n_out],
        }
    }
}

/// [`first_spike`] for every neuron of a layer at once, with the weights transposed: `wt[j * n_out + k]`
/// is the weight from input `j` to neuron `k`. Writes `(t*, n_causal)` of neuron `k` to `t_out[k]`,
/// `n_causal[k]`.
///
/// The inputs are walked once; at each input all neurons advance together (one contiguous weight row,
/// vectorisable, and only the rows of inputs that spiked are read). Each neuron's state updates are
/// the scalar walk's operations in the same order, a branch-free pre-test (a superset of the scalar
/// tests) flags candidates, and flagged neurons are re-tested and solved by the scalar code: the
/// results are bit-identical to [`first_spike`] on every row. A neuron that has fired is parked at
/// `a = -inf` (its pre-test is then always false). Does not allocate when `scratch` is large enough.
///
/// `slope[k]` receives du/dt at the crossing from the walk's state (the value
/// [`spike_time_gradient`] sums over the causal inputs, to rounding), NaN for silent neurons.
#[allow(clippy::too_many_arguments)]
pub fn first_spike_layer(
    kernel: &Kernel,
    threshold: f64,
    inputs: &SortedInputs,
    wt: &[f64],
    n_out: usize,
    scratch: &mut LayerScratch,
    t_out: &mut [f64],
    n_causal: &mut [usize],
    slope: &mut [f64],
) {
    if scratch.a.len() < n_out {
        *scratch = LayerScratch::with_capacity(n_out);
    }
    t_out[..n_out].iter_mut().for_each(|t| *t = f64::INFINITY);
    n_causal[..n_out].iter_mut().for_each(|n| *n = 0);
    slope[..n_out].iter_mut().for_each(|d| *d = f64::NAN);
    let out = (t_out, n_causal, slope);
    let (a, b, hit) = (
        &mut scratch.a[..n_out],
        &mut scratch.b[..n_out],
        &mut scratch.hit[..n_out],
    );
    a.iter_mut().for_each(|v| *v = 0.0);
    b.iter_mut().for_each(|v| *v = 0.0);
    match *kernel {
        Kernel::Equal { tau } => sweep_equal(tau, threshold, inputs, wt, (a, b, hit), out),
        Kernel::Double { tau_mem, .. } => {
            sweep_double(tau_mem, threshold, inputs, wt, (a, b, hit), out)
        }
    }
}

type Lanes<'a> = (&'a mut [f64], &'a mut [f64], &'a mut [u8]);
type SweepOut<'a> = (&'a mut [f64], &'a mut [usize], &'a mut [f64]);

fn sweep_equal(
    tau: f64,
    theta: f64,
    inp: &SortedInputs,
    wt: &[f64],
    (a, b, hit): Lanes,
    (t_out, n_causal, slope): SweepOut,
) {
    let n = a.len();
    let mut remaining = n;
    let (mut e_prev, mut x_prev) = (1.0f64, 0.0f64);
    let steps = inp
        .order
        .iter()
        .zip(&inp.times)
        .zip(inp.f1.iter().zip(&inp.f2));
    for (k, ((&j, &t), (&e_end, &x_end))) in steps.enumerate() {
        let w = &wt[j * n..(j + 1) * n];
        let mut any = 0u8;
        if x_end.is_finite() {
            for l in 0..n {
                let bl = e_prev * (b[l] - x_prev * a[l]);
                let al = a[l] * e_prev + w[l];
                (a[l], b[l]) = (al, bl);
                let u_end = e_end * (al * x_end - bl);
                let s = al + bl;
                let h = u8::from((al > 0.0) & ((u_end >= theta) | ((s > 0.0) & (s < al * x_end))));
                hit[l] = h;
                any |= h;
            }
        } else {
            for l in 0..n {
                let bl = e_prev * (b[l] - x_prev * a[l]);
                let al = a[l] * e_prev + w[l];
                (a[l], b[l]) = (al, bl);
                // u_end = 0 < theta on the last interval; x_end = inf: `s < a x_end` <=> a > 0.
                let h = u8::from((al > 0.0) & (al + bl > 0.0));
                hit[l] = h;
                any |= h;
            }
        }
        (e_prev, x_prev) = (e_end, x_end);
        if any == 0 {
            continue;
        }
        for l in 0..n {
            if hit[l] == 0 {
                continue;
            }
            let (al, bl) = (a[l], b[l]);
            // The scalar walk's test, verbatim.
            let u_end = if x_end.is_finite() {
                e_end * (al * x_end - bl)
            } else {
                0.0
            };
            let s = al + bl;
            if u_end >= theta
                || (s > 0.0
                    && s < al * x_end
                    && (al / theta) * al >= al + s
                    && equal_peak_reaches(al, bl, theta))
            {
                let x = equal_crossing(theta, al, bl, x_end);
                t_out[l] = t + tau * x;
                slope[l] = equal_slope(tau, al, bl, x);
                n_causal[l] = k + 1;
                (a[l], b[l]) = (f64::NEG_INFINITY, 0.0);
                remaining -= 1;
            }
        }
        if remaining == 0 {
            return;
        }
    }
}

fn sweep_double(
    tau_mem: f64,
    theta: f64,
    inp: &SortedInputs,
    wt: &[f64],
    (a1, a2, hit): Lanes,
    (t_out, n_causal, slope): SweepOut,
) {
    let n = a1.len();
    let mut remaining = n;
    let (mut ys_prev, mut y_prev) = (1.0f64, 1.0f64);
    let steps = inp
        .order
        .iter()
        .zip(&inp.times)
        .zip(inp.f1.iter().zip(&inp.f2));
    for (k, ((&j, &t), (&ys_end, &y_end))) in steps.enumerate() {
        let w = &wt[j * n..(j + 1) * n];
        let mut any = 0u8;
        for l in 0..n {
            let p = a1[l] * ys_prev + w[l];
            let q = a2[l] * y_prev + w[l];
            (a1[l], a2[l]) = (p, q);
            let u_end = 2.0 * (q * y_end - p * ys_end);
            let h = u8::from(
                (p > 0.0)
                    & (q > 0.0)
                    & ((u_end >= theta) | ((q < 2.0 * p) & (q > 2.0 * p * y_end))),
            );
            hit[l] = h;
            any |= h;
        }
        (ys_prev, y_prev) = (ys_end, y_end);
        if any == 0 {
            continue;
        }
        for l in 0..n {
            if hit[l] == 0 {
                continue;
            }
            let (p, q) = (a1[l], a2[l]);
            let u_end = 2.0 * (q * y_end - p * ys_end);
            if u_end >= theta || (q < 2.0 * p && q > 2.0 * p * y_end && (q / theta) * q >= 2.0 * p)
            {
                let dt = double_crossing(tau_mem, theta, p, q, y_end);
                t_out[l] = t + dt;
                slope[l] = double_slope(tau_mem, p, q, dt);
                n_causal[l] = k + 1;
                (a1[l], a2[l]) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
                remaining -= 1;
            }
        }
        if remaining == 0 {
            return;
        }
    }
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

/// [`spike_time_gradient`] without an exponential per input: the kernel factors
/// `exp(-(t_out - t_j) / tau)` are built from the gap propagators of `inputs` (suffix products from the
/// last causal input, one `exp` per neuron). Same derivatives to a few ulps per causal input (not
/// bit-identical); `f` is called in reverse time order.
///
/// `dudt`: du/dt at the crossing if already known (e.g. from [`first_spike_layer`]), else it is summed
/// over the causal inputs. dt/dt_j is computed only where `need_dt(j)` (0 is passed elsewhere).
#[allow(clippy::too_many_arguments)]
pub fn spike_time_gradient_fast(
    kernel: &Kernel,
    t_out: f64,
    n_causal: usize,
    inputs: &SortedInputs,
    weights: &[f64],
    dudt: Option<f64>,
    need_dt: impl Fn(usize) -> bool,
    mut f: impl FnMut(usize, f64, f64),
) -> Gradient {
    if !t_out.is_finite() || n_causal == 0 {
        return Gradient::Silent;
    }
    let causal = &inputs.order[..n_causal];
    let times = &inputs.times[..n_causal];
    let last = n_causal - 1;
    match *kernel {
        Kernel::Equal { tau } => {
            let inv_tau = 1.0 / tau;
            let e_last = (-(t_out - times[last]) * inv_tau).exp();
            let dudt = dudt.unwrap_or_else(|| {
                // du/dt: e = exp(-(t_out - t_j)/tau), walking back from the last causal input.
                let (mut sum, mut e) = (0.0, e_last);
                for k in (0..n_causal).rev() {
                    if k < last {
                        e *= inputs.f1[k];
                    }
                    let x = (t_out - times[k]) * inv_tau;
                    sum += weights[causal[k]] * e * (1.0 - x);
                }
                sum * inv_tau
            });
            let inv = 1.0 / dudt;
            if !(dudt > 0.0 && dudt.is_finite() && inv.is_finite()) {
                return Gradient::Tangential;
            }
            let mut e = e_last;
            for k in (0..n_causal).rev() {
                if k < last {
                    e *= inputs.f1[k];
                }
                let x = (t_out - times[k]) * inv_tau;
                let j = causal[k];
                let dt = if need_dt(j) {
                    weights[j] * e * (1.0 - x) * inv_tau * inv
                } else {
                    0.0
                };
                f(j, -x * e * inv, dt);
            }
            Gradient::Ok(dudt)
        }
        Kernel::Double { tau_syn, tau_mem } => {
            let s_last = t_out - times[last];
            let (es_last, em_last) = ((-s_last / tau_syn).exp(), (-s_last / tau_mem).exp());
            let dudt = dudt.unwrap_or_else(|| {
                let (mut sum, mut es, mut em) = (0.0, es_last, em_last);
                for k in (0..n_causal).rev() {
                    if k < last {
                        es *= inputs.f1[k];
                        em *= inputs.f2[k];
                    }
                    sum += weights[causal[k]] * 2.0 * (es / tau_syn - em / tau_mem);
                }
                sum
            });
            let inv = 1.0 / dudt;
            if !(dudt > 0.0 && dudt.is_finite() && inv.is_finite()) {
                return Gradient::Tangential;
            }
            let (mut es, mut em) = (es_last, em_last);
            for k in (0..n_causal).rev() {
                if k < last {
                    es *= inputs.f1[k];
                    em *= inputs.f2[k];
                }
                let j = causal[k];
                let psp = 2.0 * (em - es);
                let dt = if need_dt(j) {
                    weights[j] * 2.0 * (es / tau_syn - em / tau_mem) * inv
                } else {
                    0.0
                };
                f(j, -psp * inv, dt);
            }
            Gradient::Ok(dudt)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::LifParams;
    use super::*;

    #[test]
    fn layer_sweep_is_bit_identical_to_the_scalar_walk() {
        for p in [
            LifParams::new(1.0, 1.0, 1.0).unwrap(),
            LifParams::new(2.0, 1.0, 0.4).unwrap(),
            LifParams::new(5e-3, 5e-3, 0.3).unwrap(),
        ] {
            let k = p.kernel().unwrap();
            let tau = p.tau_syn;
            let mut s = SortedInputs::with_capacity(64);
            let mut scratch = LayerScratch::with_capacity(4); // grows on demand
            let (mut spiking, mut silent) = (0, 0);
            for case in 0..60u64 {
                let r = |i: u64| ((case * 7919 + i * 104_729 + i * i * 31) % 1000) as f64 / 1000.0;
                let n = 1 + (case % 40) as usize;
                let mut times: Vec<f64> = (0..n).map(|i| 4.0 * tau * r(i as u64)).collect();
                if n > 3 {
                    times[1] = f64::INFINITY;
                    times[2] = times[0]; // a tie
                }
                let rows = 1 + (case % 21) as usize;
                let w: Vec<f64> = (0..rows * n)
                    .map(|i| (r(i as u64 + 500) - 0.25) * p.threshold * 20.0 / n as f64)
                    .collect();
                let mut wt = vec![0.0; rows * n];
                for row in 0..rows {
                    for j in 0..n {
                        wt[j * rows + row] = w[row * n + j];
                    }
                }
                s.prepare(&times, &k);
                let (mut t, mut nc, mut sl) = (vec![0.0; rows], vec![0; rows], vec![0.0; rows]);
                first_spike_layer(
                    &k,
                    p.threshold,
                    &s,
                    &wt,
                    rows,
                    &mut scratch,
                    &mut t,
                    &mut nc,
                    &mut sl,
                );
                for row in 0..rows {
                    let wr = &w[row * n..(row + 1) * n];
                    let (ts, ns) = first_spike(&k, p.threshold, &s, wr);
                    assert_eq!((t[row].to_bits(), nc[row]), (ts.to_bits(), ns), "row {row}");
                    // The slope from the walk's state equals du/dt summed over the causal inputs.
                    match spike_time_gradient(&k, ts, ns, &s, wr, |_, _, _| {}) {
                        Gradient::Ok(d) => assert!(
                            (sl[row] - d).abs() <= 1e-9 * d.abs().max(p.threshold / tau),
                            "slope {} vs {d}",
                            sl[row]
                        ),
                        Gradient::Silent => assert!(sl[row].is_nan()),
                        Gradient::Tangential => {}
                    }
                    if ts.is_finite() {
                        spiking += 1
                    } else {
                        silent += 1
                    }
                }
            }
            assert!(spiking > 50 && silent > 50, "{spiking} {silent}");
        }
    }

    #[test]
    fn fast_gradient_matches_exact_evaluation() {
        for p in [
            LifParams::new(1.0, 1.0, 1.0).unwrap(),
            LifParams::new(2.0, 1.0, 0.4).unwrap(),
            LifParams::new(5e-3, 5e-3, 0.3).unwrap(),
        ] {
            let k = p.kernel().unwrap();
            let tau = p.tau_syn;
            let mut s = SortedInputs::with_capacity(40);
            let mut checked = 0;
            for case in 0..200u64 {
                // deterministic pseudo-random inputs
                let r = |i: u64| ((case * 7919 + i * 104_729) % 1000) as f64 / 1000.0;
                let n = 3 + (case % 30) as usize;
                let times: Vec<f64> = (0..n).map(|i| 4.0 * tau * r(i as u64)).collect();
                let w: Vec<f64> = (0..n)
                    .map(|i| (r(i as u64 + 50) - 0.2) * p.threshold * 15.0 / n as f64)
                    .collect();
                s.prepare(&times, &k);
                let (t, nc) = first_spike(&k, p.threshold, &s, &w);
                let (mut a, mut b) = (vec![(0.0, 0.0); n], vec![(0.0, 0.0); n]);
                let ga = spike_time_gradient(&k, t, nc, &s, &w, |j, x, y| a[j] = (x, y));
                let gb = spike_time_gradient_fast(
                    &k,
                    t,
                    nc,
                    &s,
                    &w,
                    None,
                    |_| true,
                    |j, x, y| b[j] = (x, y),
                );
                match (ga, gb) {
                    (Gradient::Ok(da), Gradient::Ok(db)) => {
                        assert!((da - db).abs() <= 1e-12 * da.abs());
                        let scale = a
                            .iter()
                            .fold(0.0f64, |m, v| m.max(v.0.abs()).max(v.1.abs()));
                        for j in 0..n {
                            assert!(
                                (a[j].0 - b[j].0).abs() <= 1e-12 * scale,
                                "{:?} {:?}",
                                a[j],
                                b[j]
                            );
                            assert!(
                                (a[j].1 - b[j].1).abs() <= 1e-12 * scale,
                                "{:?} {:?}",
                                a[j],
                                b[j]
                            );
                        }
                        checked += 1;
                    }
                    (x, y) => assert_eq!(x, y),
                }
            }
            assert!(checked > 50, "{checked}");
        }
    }

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
