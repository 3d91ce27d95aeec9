//! Losses on the readout membrane (or on output spike counts) and firing-rate regularisers.
//!
//! Every loss is evaluated over the window of steps `[start, end)` (`start` is the burn-in; `end`
//! defaults to the sequence length). With `y[t]` the readout membrane and `c` the label:
//!
//! | kind            | loss                                                                  |
//! |-----------------|-----------------------------------------------------------------------|
//! | `ce_max`        | CE(softmax(max_t y[t]), c) (SpyTorch)                                  |
//! | `ce_last`       | CE(softmax(y[end - 1]), c)                                             |
//! | `ce_mean`       | CE(softmax(mean_t y[t]), c)                                            |
//! | `ce_sum_softmax`| CE(softmax(sum_t softmax(y[t])), c) (Yin et al.'s "sum of softmaxes")  |
//! | `ce_per_step`   | mean_t CE(softmax(y[t]), c) (e-prop's evidence accumulation)           |
//! | `ce_counts`     | CE(softmax(spike counts of the last layer), c) (no readout)            |
//! | `mse`           | mean over window steps and outputs of (y[t] - target[t])^2             |
//!
//! CE(p, c) = -log p_c. The prediction is the argmax of the logits (for `ce_per_step` and `mse`:
//! of the window mean of `y`); ties go to the lowest index.

// Index loops walk several per-neuron arrays in step; iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use super::real::Real;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    #[default]
    CeMax,
    CeLast,
    CeMean,
    CeSumSoftmax,
    CePerStep,
    CeCounts,
    Mse,
}

impl LossKind {
    pub fn needs_readout(self) -> bool {
        self != LossKind::CeCounts
    }
    pub fn is_classification(self) -> bool {
        self != LossKind::Mse
    }
}

/// The loss and its window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossSpec {
    pub kind: LossKind,
    /// First step counted (burn-in).
    #[serde(default)]
    pub start: usize,
    /// One past the last step counted (`None` = the sequence length).
    #[serde(default)]
    pub end: Option<usize>,
}

impl LossSpec {
    /// The window for sequences of `steps` steps.
    pub fn window(&self, steps: usize) -> Result<(usize, usize)> {
        let end = self.end.unwrap_or(steps);
        if end > steps || self.start >= end {
            return Err(Error::param(
                "loss window",
                format!("0 <= start < end <= {steps} (the sequence length)"),
                format!("start {}, end {end}", self.start),
            ));
        }
        Ok((self.start, end))
    }
}

/// Lower and upper firing-rate regularisers of the spiking layers (Zenke & Vogels 2021 style), with
/// rates in Hz (spikes per neuron over the sample, divided by the sample's duration):
/// `lower * mean_k relu(rate_low - r_k)^2 + upper * relu(mean_k r_k - rate_high)^2`, per layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateRegulariser {
    #[serde(default)]
    pub lower: f64,
    #[serde(default)]
    pub rate_low: f64,
    #[serde(default)]
    pub upper: f64,
    #[serde(default)]
    pub rate_high: f64,
}

impl RateRegulariser {
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("regulariser.lower", self.lower),
            ("regulariser.rate_low", self.rate_low),
            ("regulariser.upper", self.upper),
            ("regulariser.rate_high", self.rate_high),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::param(name, "a finite value >= 0", v));
            }
        }
        Ok(())
    }

    pub fn is_active(&self) -> bool {
        self.lower > 0.0 || self.upper > 0.0
    }

    /// The penalty of one layer with spike `counts` over `duration` seconds; writes
    /// d penalty / d count_k into `grad`.
    pub fn apply<F: Real>(&self, counts: &[F], duration: f64, grad: &mut [F]) -> f64 {
        let n = counts.len() as f64;
        let mut loss = 0.0;
        let mut mean_rate = 0.0;
        for (g, c) in grad.iter_mut().zip(counts) {
            let r = c.f64() / duration;
            mean_rate += r / n;
            let short = self.rate_low - r;
            if self.lower > 0.0 && short > 0.0 {
                loss += self.lower * short * short / n;
                *g = F::of(-2.0 * self.lower * short / n / duration);
            } else {
                *g = F::zero();
            }
        }
        let excess = mean_rate - self.rate_high;
        if self.upper > 0.0 && excess > 0.0 {
            loss += self.upper * excess * excess;
            let gk = F::of(2.0 * self.upper * excess / n / duration);
            for g in grad.iter_mut() {
                *g += gk;
            }
        }
        loss
    }
}

/// A sample's target: a class label, or a regression series `[T x n_out]`.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    Label(usize),
    Series(&'a [f32]),
}

/// Cross-entropy of `logits` against class `c`; writes softmax - onehot into `g`.
pub(crate) fn cross_entropy(logits: &[f64], c: usize, g: &mut [f64]) -> f64 {
    let mx = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut z = 0.0;
    for (gk, l) in g.iter_mut().zip(logits) {
        *gk = (l - mx).exp();
        z += *gk;
    }
    for gk in g.iter_mut() {
        *gk /= z;
    }
    let loss = -(g[c].ln());
    g[c] -= 1.0;
    // A class probability that underflows to zero gives +inf: capped, so such a loss stays finite. An
    // overflowed readout (an infinite or NaN logit) gives NaN, which must reach the caller (`min`
    // would turn it into the cap and hide it).
    if loss.is_nan() {
        loss
    } else {
        loss.min(1e30)
    }
}

pub(crate) fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (k, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = k;
        }
    }
    best
}

/// Work buffers of [`readout_loss`].
#[derive(Clone, Debug, Default)]
pub struct LossScratch {
    logits: Vec<f64>,
    g: Vec<f64>,
    p: Vec<f64>,
    /// Offsets added to the logits of the summed losses (`ce_counts`, `ce_sum_softmax`): the sums of
    /// earlier truncated-BPTT windows, constants here (empty = none).
    pub carry: Vec<f64>,
}

impl LossScratch {
    /// The logits of the last classification loss (including the carried offsets).
    pub fn logits(&self) -> &[f64] {
        &self.logits
    }

    fn add_carry(&mut self) {
        for (l, c) in self.logits.iter_mut().zip(&self.carry) {
            *l += *c;
        }
    }
}

/// Loss of one sample from its readout trajectory `y` (`[steps x n_out]`, or the spike `counts` for
/// `ce_counts`). Writes `scale * dL/dy` into `dy` (same shape; zeroed first) and returns (loss,
/// predicted class or `usize::MAX` for regression).
#[allow(clippy::too_many_arguments)]
pub fn readout_loss<F: Real>(
    spec: &LossSpec,
    window: (usize, usize),
    y: &[F],
    n_out: usize,
    target: Target<'_>,
    scale: f64,
    dy: &mut [F],
    s: &mut LossScratch,
) -> (f64, usize) {
    let (start, end) = window;
    let w = (end - start) as f64;
    dy.iter_mut().for_each(|v| *v = F::zero());
    s.logits.clear();
    s.logits.resize(n_out, 0.0);
    s.g.clear();
    s.g.resize(n_out, 0.0);
    let at = |t: usize, k: usize| y[t * n_out + k].f64();
    let label = match target {
        Target::Label(c) => c,
        Target::Series(_) => 0,
    };
    match spec.kind {
        LossKind::CeMax => {
            let mut arg = vec![start; 0];
            arg.resize(n_out, start);
            for k in 0..n_out {
                let mut best = start;
                for t in start..end {
                    if at(t, k) > at(best, k) {
                        best = t;
                    }
                }
                arg[k] = best;
                s.logits[k] = at(best, k);
            }
            let loss = cross_entropy(&s.logits, label, &mut s.g);
            for k in 0..n_out {
                dy[arg[k] * n_out + k] = F::of(scale * s.g[k]);
            }
            (loss, argmax(&s.logits))
        }
        LossKind::CeLast => {
            for k in 0..n_out {
                s.logits[k] = at(end - 1, k);
            }
            let loss = cross_entropy(&s.logits, label, &mut s.g);
            for k in 0..n_out {
                dy[(end - 1) * n_out + k] = F::of(scale * s.g[k]);
            }
            (loss, argmax(&s.logits))
        }
        LossKind::CeMean | LossKind::CeCounts => {
            let (lo, hi, div) = if spec.kind == LossKind::CeCounts {
                (0, 1, 1.0)
            } else {
                (start, end, w)
            };
            for t in lo..hi {
                for k in 0..n_out {
                    s.logits[k] += at(t, k) / div;
                }
            }
            s.add_carry();
            let loss = cross_entropy(&s.logits, label, &mut s.g);
            for t in lo..hi {
                for k in 0..n_out {
                    dy[t * n_out + k] = F::of(scale * s.g[k] / div);
                }
            }
            (loss, argmax(&s.logits))
        }
        LossKind::CeSumSoftmax => {
            s.p.clear();
            s.p.resize((end - start) * n_out, 0.0);
            for t in start..end {
                let p = &mut s.p[(t - start) * n_out..(t - start + 1) * n_out];
                let mx = (0..n_out)
                    .map(|k| at(t, k))
                    .fold(f64::NEG_INFINITY, f64::max);
                let mut z = 0.0;
                for k in 0..n_out {
                    p[k] = (at(t, k) - mx).exp();
                    z += p[k];
                }
                for k in 0..n_out {
                    p[k] /= z;
                    s.logits[k] += p[k];
                }
            }
            s.add_carry();
            let loss = cross_entropy(&s.logits, label, &mut s.g);
            for t in start..end {
                let p = &s.p[(t - start) * n_out..(t - start + 1) * n_out];
                let pg: f64 = p.iter().zip(&s.g).map(|(a, b)| a * b).sum();
                for k in 0..n_out {
                    dy[t * n_out + k] = F::of(scale * p[k] * (s.g[k] - pg));
                }
            }
            (loss, argmax(&s.logits))
        }
        LossKind::CePerStep => {
            let mut loss = 0.0;
            let mut mean = vec![0.0; n_out];
            for t in start..end {
                for k in 0..n_out {
                    s.logits[k] = at(t, k);
                    mean[k] += at(t, k) / w;
                }
                loss += cross_entropy(&s.logits, label, &mut s.g) / w;
                for k in 0..n_out {
                    dy[t * n_out + k] = F::of(scale * s.g[k] / w);
                }
            }
            (loss, argmax(&mean))
        }
        LossKind::Mse => {
            let tgt = match target {
                Target::Series(v) => v,
                Target::Label(_) => &[][..],
            };
            let mut loss = 0.0;
            let norm = w * n_out as f64;
            for t in start..end {
                for k in 0..n_out {
                    let e = at(t, k) - tgt[t * n_out + k] as f64;
                    loss += e * e / norm;
                    dy[t * n_out + k] = F::of(scale * 2.0 * e / norm);
                }
            }
            (loss, usize::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every loss's gradient against central finite differences of the loss itself.
    #[test]
    fn loss_gradients_match_finite_differences() {
        let (steps, n_out) = (6usize, 3usize);
        let y0: Vec<f64> = (0..steps * n_out)
            .map(|i| ((i * 7919) % 13) as f64 * 0.21 - 1.1)
            .collect();
        let series: Vec<f32> = (0..steps * n_out).map(|i| (i as f32 * 0.3).sin()).collect();
        for kind in [
            LossKind::CeMax,
            LossKind::CeLast,
            LossKind::CeMean,
            LossKind::CeSumSoftmax,
            LossKind::CePerStep,
            LossKind::Mse,
        ] {
            let spec = LossSpec {
                kind,
                start: 1,
                end: Some(5),
            };
            let win = spec.window(steps).unwrap();
            let target = if kind == LossKind::Mse {
                Target::Series(&series)
            } else {
                Target::Label(2)
            };
            let mut s = LossScratch::default();
            let mut dy = vec![0.0; steps * n_out];
            readout_loss(&spec, win, &y0, n_out, target, 1.0, &mut dy, &mut s);
            for i in 0..y0.len() {
                let h = 1e-6;
                let mut yp = y0.clone();
                yp[i] += h;
                let mut ym = y0.clone();
                ym[i] -= h;
                let mut tmp = vec![0.0; steps * n_out];
                let lp = readout_loss(&spec, win, &yp, n_out, target, 1.0, &mut tmp, &mut s).0;
                let lm = readout_loss(&spec, win, &ym, n_out, target, 1.0, &mut tmp, &mut s).0;
                let fd = (lp - lm) / (2.0 * h);
                assert!(
                    (fd - dy[i]).abs() < 1e-6,
                    "{kind:?} [{i}]: fd {fd} vs {}",
                    dy[i]
                );
            }
        }
    }

    #[test]
    fn cross_entropy_caps_underflow_and_keeps_overflow_visible() {
        let mut g = [0.0; 2];
        // p(class 1) = exp(-800) underflows to 0: the loss is capped, the gradient is exact.
        assert_eq!(cross_entropy(&[800.0, 0.0], 1, &mut g), 1e30);
        assert_eq!(g, [1.0, -1.0]);
        // An overflowed logit is not a finite loss.
        assert!(cross_entropy(&[f64::INFINITY, 0.0], 0, &mut g).is_nan());
        assert!(cross_entropy(&[f64::INFINITY, f64::INFINITY], 1, &mut g).is_nan());
        assert!(cross_entropy(&[f64::NAN, 0.0], 1, &mut g).is_nan());
        assert!((cross_entropy(&[0.0, 0.0], 1, &mut g) - std::f64::consts::LN_2).abs() < 1e-15);
    }

    #[test]
    fn regulariser_gradient() {
        let r = RateRegulariser {
            lower: 0.5,
            rate_low: 5.0,
            upper: 0.1,
            rate_high: 2.0,
        };
        let counts = [0.0f64, 1.0, 3.0];
        let mut g = [0.0; 3];
        r.apply(&counts, 0.5, &mut g);
        for i in 0..3 {
            let h = 1e-6;
            let (mut cp, mut cm) = (counts, counts);
            cp[i] += h;
            cm[i] -= h;
            let mut tmp = [0.0; 3];
            let fd = (r.apply(&cp, 0.5, &mut tmp) - r.apply(&cm, 0.5, &mut tmp)) / (2.0 * h);
            assert!((fd - g[i]).abs() < 1e-6, "{i}: {fd} vs {}", g[i]);
        }
    }
}
