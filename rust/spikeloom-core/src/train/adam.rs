//! Adam (Kingma & Ba 2015). Where eps goes is an option ([`EpsPlacement`]): PyTorch adds it to the
//! square root (`m / (sqrt(v) + eps)`, the default, used by the Göltz method); Comsa et al.'s reference
//! code adds it under the square root (`m / sqrt(v + eps)`).

use serde::{Deserialize, Serialize};

/// Where Adam adds eps to the second-moment estimate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpsPlacement {
    /// `m_hat / (sqrt(v_hat) + eps)` (PyTorch, Kingma & Ba).
    #[default]
    Outside,
    /// `m_hat / sqrt(v_hat + eps)` (google/ihmehimmeli).
    Inside,
}

/// Adam state for one flat parameter vector.
#[derive(Clone, Debug)]
pub struct Adam {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub eps_placement: EpsPlacement,
    m: Vec<f64>,
    v: Vec<f64>,
    step: i32,
}

impl Adam {
    /// Adam with PyTorch's eps placement.
    pub fn new(n: usize, beta1: f64, beta2: f64, eps: f64) -> Self {
        Self::with_placement(n, beta1, beta2, eps, EpsPlacement::Outside)
    }

    pub fn with_placement(
        n: usize,
        beta1: f64,
        beta2: f64,
        eps: f64,
        eps_placement: EpsPlacement,
    ) -> Self {
        Adam {
            beta1,
            beta2,
            eps,
            eps_placement,
            m: vec![0.0; n],
            v: vec![0.0; n],
            step: 0,
        }
    }

    /// Number of steps taken.
    pub fn steps(&self) -> i32 {
        self.step
    }

    /// One update of `params` (any number of slices, concatenated in order) with gradient `grad`.
    pub fn step<'a>(
        &mut self,
        lr: f64,
        grad: &[f64],
        params: impl IntoIterator<Item = &'a mut [f64]>,
    ) {
        self.step += 1;
        let c1 = 1.0 - self.beta1.powi(self.step);
        let c2 = 1.0 - self.beta2.powi(self.step);
        let mut i = 0;
        for slice in params {
            for p in slice.iter_mut() {
                let g = grad[i];
                self.m[i] = self.beta1 * self.m[i] + (1.0 - self.beta1) * g;
                self.v[i] = self.beta2 * self.v[i] + (1.0 - self.beta2) * g * g;
                *p -= match self.eps_placement {
                    EpsPlacement::Outside => {
                        lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + self.eps)
                    }
                    EpsPlacement::Inside => {
                        lr * (self.m[i] / c1) / ((self.v[i] / c2) + self.eps).sqrt()
                    }
                };
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_and_placements() {
        // First step: m_hat = g, v_hat = g^2.
        let g = [0.5, -2e-4];
        for placement in [EpsPlacement::Outside, EpsPlacement::Inside] {
            let mut a = Adam::with_placement(2, 0.9, 0.999, 1e-8, placement);
            let mut p = [1.0, 1.0];
            a.step(0.1, &g, [&mut p[..]]);
            for k in 0..2 {
                let denom = match placement {
                    EpsPlacement::Outside => g[k].abs() + 1e-8,
                    EpsPlacement::Inside => (g[k] * g[k] + 1e-8).sqrt(),
                };
                let want = 1.0 - 0.1 * g[k] / denom;
                assert!(
                    (p[k] - want).abs() < 1e-15,
                    "{placement:?} {k}: {} vs {want}",
                    p[k]
                );
            }
            assert_eq!(a.steps(), 1);
        }
        // eps inside the root damps small gradients much more: sqrt(1e-8) = 1e-4.
        let mut inside = [0.0];
        let mut outside = [0.0];
        Adam::with_placement(1, 0.9, 0.999, 1e-8, EpsPlacement::Inside).step(
            1.0,
            &[1e-4],
            [&mut inside[..]],
        );
        Adam::new(1, 0.9, 0.999, 1e-8).step(1.0, &[1e-4], [&mut outside[..]]);
        assert!((inside[0] + 1.0 / 2f64.sqrt()).abs() < 1e-12);
        assert!((outside[0] + 1.0).abs() < 1e-3);
    }
}
