//! The local loss of one layer at one step, and its weight gradient with the states held fixed.
//!
//! With `y = G S[t]` the layer's readout and `c` the label (target `onehot(c)`):
//!
//! | kind          | loss                                                                 |
//! |---------------|----------------------------------------------------------------------|
//! | `smooth_l1`   | mean_k h(y_k - onehot_k), `h(d) = d^2/2` if `|d| < 1` else `|d| - 1/2` (PyTorch's SmoothL1Loss, DECOLLE) |
//! | `mse`         | mean_k (y_k - onehot_k)^2                                            |
//! | `ce_per_step` | -log softmax(y)_c                                                    |

// Index loops walk several per-neuron arrays in step; iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use super::forward::{sigmoid, LayerState, Model};
use crate::rsnn::loss::cross_entropy;
use crate::rsnn::real::{axpy, dot, Real};
use serde::{Deserialize, Serialize};

/// The per-layer, per-step loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalLoss {
    #[default]
    SmoothL1,
    Mse,
    CePerStep,
}

/// Work buffers of [`LocalLoss::eval`].
#[derive(Clone, Debug, Default)]
pub struct LossScratch {
    logits: Vec<f64>,
    g: Vec<f64>,
}

impl LocalLoss {
    /// The loss of readout `y` against label `c`; writes `scale * dL/dy` into `e`.
    pub fn eval<F: Real>(
        self,
        y: &[F],
        c: usize,
        scale: f64,
        e: &mut [F],
        s: &mut LossScratch,
    ) -> f64 {
        let n = y.len() as f64;
        let target = |k: usize| if k == c { 1.0 } else { 0.0 };
        match self {
            LocalLoss::SmoothL1 => {
                let mut loss = 0.0;
                for k in 0..y.len() {
                    let d = y[k].f64() - target(k);
                    loss += if d.abs() < 1.0 {
                        0.5 * d * d
                    } else {
                        d.abs() - 0.5
                    };
                    e[k] = F::of(scale * d.clamp(-1.0, 1.0) / n);
                }
                loss / n
            }
            LocalLoss::Mse => {
                let mut loss = 0.0;
                for k in 0..y.len() {
                    let d = y[k].f64() - target(k);
                    loss += d * d;
                    e[k] = F::of(scale * 2.0 * d / n);
                }
                loss / n
            }
            LocalLoss::CePerStep => {
                s.logits.clear();
                s.logits.extend(y.iter().map(|v| v.f64()));
                s.g.clear();
                s.g.resize(y.len(), 0.0);
                let loss = cross_entropy(&s.logits, c, &mut s.g);
                for k in 0..y.len() {
                    e[k] = F::of(scale * s.g[k]);
                }
                loss
            }
        }
    }
}

/// Add layer `l`'s local weight and bias gradient for one step to `grad` (the trainable part of the
/// flat vector): `delta = (G^T e) * sigma'(U)`, `dW[i, :] += P[i] delta`, `db += delta`, where `e` is
/// the (scaled) loss gradient on the readout and `sigma'` the surrogate derivative (the exact
/// logistic derivative for a sigmoid readout). `delta` is a work buffer.
pub fn local_gradient<F: Real>(
    m: &Model<F>,
    l: usize,
    s: &LayerState<F>,
    e: &[F],
    delta: &mut Vec<F>,
    grad: &mut [F],
) {
    let o = &m.layout.layers[l];
    let (n, no) = (o.n, m.layout.n_outputs);
    let g = m.readout(o);
    let smooth = m.sigmoid_readout && l + 1 == m.layout.layers.len();
    let slope = |u: F| {
        if smooth {
            let p = sigmoid(u);
            p * (F::one() - p)
        } else {
            m.spike.grad(u)
        }
    };
    delta.clear();
    delta.extend((0..n).map(|j| dot(&g[j * no..(j + 1) * no], e) * slope(s.u[j])));
    let gw = &mut grad[o.w.clone()];
    for (i, &p) in s.p.iter().enumerate() {
        if p != F::zero() {
            axpy(&mut gw[i * n..(i + 1) * n], p, delta);
        }
    }
    for (gb, d) in grad[o.bias.clone()].iter_mut().zip(delta.iter()) {
        *gb += *d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_gradients_match_finite_differences() {
        let y0 = [0.3f64, -1.7, 1.4, 0.05];
        for kind in [LocalLoss::SmoothL1, LocalLoss::Mse, LocalLoss::CePerStep] {
            let mut s = LossScratch::default();
            let mut e = [0.0; 4];
            kind.eval(&y0, 2, 0.5, &mut e, &mut s);
            for i in 0..4 {
                let h = 1e-6;
                let (mut yp, mut ym) = (y0, y0);
                yp[i] += h;
                ym[i] -= h;
                let mut tmp = [0.0; 4];
                let fd = (kind.eval(&yp, 2, 1.0, &mut tmp, &mut s)
                    - kind.eval(&ym, 2, 1.0, &mut tmp, &mut s))
                    / (2.0 * h);
                assert!(
                    (0.5 * fd - e[i]).abs() < 1e-8,
                    "{kind:?} {i}: {fd} {}",
                    e[i]
                );
            }
        }
        // SmoothL1 at the target is zero; far from it, linear.
        let mut s = LossScratch::default();
        let mut e = [0.0; 2];
        assert_eq!(
            LocalLoss::SmoothL1.eval(&[0.0, 1.0], 1, 1.0, &mut e, &mut s),
            0.0
        );
        let l = LocalLoss::SmoothL1.eval(&[3.0, 1.0], 1, 1.0, &mut e, &mut s);
        assert!((l - 1.25).abs() < 1e-15 && e == [0.5, 0.0]);
    }
}
