//! The time-to-first-spike loss of Göltz et al. (2021):
//!
//! ```text
//! L = -log softmax(-t / (xi tau_syn))[label] + alpha (exp(t_label / (beta tau_syn)) - 1)
//! ```
//!
//! A silent output has probability 0; if the labelled neuron is silent the sample's loss is the
//! constant [`MISSING_LABEL_LOSS`] with no gradient (the reference does the same; learning then relies
//! on weight bumping to revive the neuron).

use crate::error::{ensure_positive, Error, Result};
use serde::{Deserialize, Serialize};

/// Per-sample loss reported when the labelled output neuron did not spike.
pub const MISSING_LABEL_LOSS: f64 = 100.0;

/// Parameters of the TTFS cross-entropy loss (times in the unit of tau_syn).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TtfsLoss {
    /// Softmax temperature in units of tau_syn (paper: 0.2).
    pub xi: f64,
    /// Weight of the exponential regulariser (paper: 0.005).
    pub alpha: f64,
    /// Regulariser time constant in units of tau_syn (paper: 1).
    pub beta: f64,
    /// Synaptic time constant (sets the unit of time).
    pub tau_syn: f64,
}

impl TtfsLoss {
    pub fn validate(&self) -> Result<()> {
        ensure_positive("xi", self.xi)?;
        ensure_positive("beta", self.beta)?;
        ensure_positive("tau_syn", self.tau_syn)?;
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return Err(Error::param("alpha", "a finite value >= 0", self.alpha));
        }
        Ok(())
    }

    /// Loss of one sample; writes dL/dt into `grad` (0 for silent neurons).
    pub fn loss_and_grad(&self, t: &[f64], label: usize, grad: &mut [f64]) -> f64 {
        grad.iter_mut().for_each(|g| *g = 0.0);
        let t_label = t[label];
        if !t_label.is_finite() {
            return MISSING_LABEL_LOSS;
        }
        let temp = self.xi * self.tau_syn;
        let t_min = t.iter().copied().fold(f64::INFINITY, f64::min);
        let z: f64 = t.iter().map(|&tk| (-(tk - t_min) / temp).exp()).sum();
        for (g, &tk) in grad.iter_mut().zip(t) {
            *g = -(-(tk - t_min) / temp).exp() / z / temp;
        }
        let tau_reg = self.beta * self.tau_syn;
        let reg = (t_label / tau_reg).exp();
        grad[label] += 1.0 / temp + self.alpha * reg / tau_reg;
        (t_label - t_min) / temp + z.ln() + self.alpha * (reg - 1.0)
    }
}

/// Index of the earliest output spike (lowest index on ties), or `None` if no output spiked.
pub fn first_to_spike(t: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (k, &tk) in t.iter().enumerate() {
        if tk.is_finite() && best.map_or(true, |b| tk < t[b]) {
            best = Some(k);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let loss = TtfsLoss {
            xi: 0.2,
            alpha: 0.005,
            beta: 1.0,
            tau_syn: 2.0,
        };
        let t = [1.3, 0.9, f64::INFINITY, 1.1];
        let mut g = [0.0; 4];
        loss.loss_and_grad(&t, 3, &mut g);
        for k in [0, 1, 3] {
            let h = 1e-6;
            let (mut tp, mut tm) = (t, t);
            tp[k] += h;
            tm[k] -= h;
            let mut s = [0.0; 4];
            let fd = (loss.loss_and_grad(&tp, 3, &mut s) - loss.loss_and_grad(&tm, 3, &mut s))
                / (2.0 * h);
            assert!(
                (fd - g[k]).abs() < 1e-6 * (1.0 + fd.abs()),
                "k={k} fd={fd} g={}",
                g[k]
            );
        }
        assert_eq!(g[2], 0.0);
        assert_eq!(loss.loss_and_grad(&t, 2, &mut g), MISSING_LABEL_LOSS);
        assert!(g.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn prediction_rule() {
        assert_eq!(first_to_spike(&[2.0, 1.0, 1.0]), Some(1));
        assert_eq!(first_to_spike(&[f64::INFINITY; 3]), None);
    }
}
