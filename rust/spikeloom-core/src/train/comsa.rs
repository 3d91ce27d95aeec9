//! Comsa et al. (2020), "Temporal coding in spiking neural networks with alpha synaptic function":
//! the loss and the training settings of the method. The training loop itself is the shared one of
//! [`super::ttfs`] (select it with [`super::Method::Comsa`]).
//!
//! Loss of one sample, with times measured in `time_unit` (the paper's units, no temperature):
//!
//! ```text
//! p_k = softmax(-t / time_unit)_k       (silent outputs: p_k = 0; all outputs silent: p_k = 1/n)
//! L   = -log(p_label + 1e-8) + penalty_output_spike_time * sum_{k spiking} (t_k / time_unit)^2
//! ```
//!
//! dL/dt_k = (y_k - p_k) / time_unit + 2 penalty_output_spike_time t_k / time_unit^2 for spiking k,
//! the reference's derivative of the cross-entropy term. It ignores the 1e-8 (exact to a relative
//! 1e-8 / p_label) and, when the labelled output is silent, it is not the derivative of the capped loss
//! (which is flat) but the limit of the exact gradient as the label's spike time goes to infinity,
//! `-p_k / time_unit`: it keeps pushing the wrong outputs later.

use crate::error::{ensure_positive, Error, Result};
use serde::{Deserialize, Serialize};

/// Added to the label probability inside the logarithm (as the reference).
pub const LOG_EPS: f64 = 1e-8;

/// The cross-entropy loss over negative output spike times of Comsa et al.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComsaLoss {
    /// The unit of time of the softmax (the paper's "1"): p = softmax(-t / time_unit).
    pub time_unit: f64,
    /// Weight of the penalty sum_k (t_k / time_unit)^2 on spiking outputs (paper: 0).
    pub penalty_output_spike_time: f64,
}

impl ComsaLoss {
    pub fn validate(&self) -> Result<()> {
        ensure_positive("time_unit", self.time_unit)?;
        let p = self.penalty_output_spike_time;
        if !(p.is_finite() && p >= 0.0) {
            return Err(Error::param(
                "penalty_output_spike_time",
                "a finite value >= 0",
                p,
            ));
        }
        Ok(())
    }

    /// Loss of one sample; writes dL/dt into `grad` (0 for silent outputs).
    pub fn loss_and_grad(&self, t: &[f64], label: usize, grad: &mut [f64]) -> f64 {
        let u = self.time_unit;
        let t_min = t.iter().copied().fold(f64::INFINITY, f64::min);
        let n = t.len() as f64;
        if !t_min.is_finite() {
            // No output spiked: every exp(-(t_k - t_min)) is "exp(0)" in the reference, p_k = 1/n. No
            // error flows through silent neurons, so the gradient is 0.
            grad.iter_mut().for_each(|g| *g = 0.0);
            return -(1.0 / n + LOG_EPS).ln();
        }
        let z: f64 = t
            .iter()
            .filter(|tk| tk.is_finite())
            .map(|&tk| (-(tk - t_min) / u).exp())
            .sum();
        let mut penalty = 0.0;
        let pen = self.penalty_output_spike_time;
        for (k, (g, &tk)) in grad.iter_mut().zip(t).enumerate() {
            if !tk.is_finite() {
                *g = 0.0;
                continue;
            }
            let p = (-(tk - t_min) / u).exp() / z;
            let y = if k == label { 1.0 } else { 0.0 };
            let x = tk / u;
            *g = (y - p) / u + 2.0 * pen * x / u;
            penalty += x * x;
        }
        let p_label = if t[label].is_finite() {
            (-(t[label] - t_min) / u).exp() / z
        } else {
            0.0
        };
        -(p_label + LOG_EPS).ln() + pen * penalty
    }
}

/// Settings of the Comsa et al. method (with [`super::FitConfig`]'s lr, batch size, epochs, Adam betas).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComsaSettings {
    /// The unit of the paper's times (softmax, penalties and clipping are expressed in it).
    pub time_unit: f64,
    /// Weight of the output spike-time penalty (paper: 0).
    #[serde(default)]
    pub penalty_output_spike_time: f64,
    /// Every incoming weight of a neuron that did not spike (pulses included) gets the gradient
    /// `-penalty_no_spike` (MNIST: 48.37).
    pub penalty_no_spike: f64,
    /// Clip each local derivative dt/dw (in time units) and dt/dt_j to +-this value (None = off; MNIST: 539.7).
    #[serde(default)]
    pub clip_derivative: Option<f64>,
    /// Clip each product dL/dt * local derivative to +-this value (None = off, as in the paper).
    #[serde(default)]
    pub clip_gradient: Option<f64>,
    /// Learn from every sample (true) or only from misclassified ones (false, the reference default).
    pub update_all_datapoints: bool,
    /// Train the bias spike times (pulses) with their own Adam state.
    pub train_pulses: bool,
    /// Adam learning rate of the pulse times, in time units per step (MNIST: 0.0954).
    pub lr_pulses: f64,
}

impl ComsaSettings {
    /// The loss of these settings.
    pub fn loss(&self) -> ComsaLoss {
        ComsaLoss {
            time_unit: self.time_unit,
            penalty_output_spike_time: self.penalty_output_spike_time,
        }
    }

    pub fn validate(&self) -> Result<()> {
        self.loss().validate()?;
        if !(self.penalty_no_spike.is_finite() && self.penalty_no_spike >= 0.0) {
            return Err(Error::param(
                "penalty_no_spike",
                "a finite value >= 0",
                self.penalty_no_spike,
            ));
        }
        for (name, c) in [
            ("clip_derivative", self.clip_derivative),
            ("clip_gradient", self.clip_gradient),
        ] {
            if let Some(c) = c {
                ensure_positive(name, c)?;
            }
        }
        if self.train_pulses {
            ensure_positive("lr_pulses", self.lr_pulses)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss(pen: f64) -> ComsaLoss {
        ComsaLoss {
            time_unit: 0.5,
            penalty_output_spike_time: pen,
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        for pen in [0.0, 0.3] {
            let l = loss(pen);
            let t = [1.3, 0.9, f64::INFINITY, 1.1];
            for label in [0, 1, 3] {
                let mut g = [0.0; 4];
                l.loss_and_grad(&t, label, &mut g);
                for k in [0, 1, 3] {
                    let h = 1e-6;
                    let (mut tp, mut tm) = (t, t);
                    tp[k] += h;
                    tm[k] -= h;
                    let mut s = [0.0; 4];
                    let fd = (l.loss_and_grad(&tp, label, &mut s)
                        - l.loss_and_grad(&tm, label, &mut s))
                        / (2.0 * h);
                    assert!(
                        (fd - g[k]).abs() < 1e-6 * (1.0 + fd.abs()),
                        "pen={pen} label={label} k={k}: fd={fd} g={}",
                        g[k]
                    );
                }
                assert_eq!(g[2], 0.0);
            }
        }
    }

    #[test]
    fn silent_outputs() {
        let l = loss(0.0);
        let mut g = [1.0; 3];
        // all silent: p = 1/3
        let v = l.loss_and_grad(&[f64::INFINITY; 3], 1, &mut g);
        assert!((v - (-(1.0f64 / 3.0 + 1e-8).ln())).abs() < 1e-15);
        assert_eq!(g, [0.0; 3]);
        // label silent, others spike: p_label = 0 -> -log(1e-8); the gradient is the limit of the exact
        // gradient for a label spiking at T -> inf: -p_k / time_unit.
        let t = [1.0, f64::INFINITY, 2.0];
        let v = l.loss_and_grad(&t, 1, &mut g);
        assert!((v - 8.0 * 10f64.ln()).abs() < 1e-12);
        let mut g_late = [0.0; 3];
        l.loss_and_grad(&[1.0, 40.0, 2.0], 1, &mut g_late);
        for k in [0, 2] {
            assert!(
                g[k] < 0.0 && (g[k] - g_late[k]).abs() < 1e-12,
                "{g:?} {g_late:?}"
            );
        }
        assert_eq!(g[1], 0.0);
        // softmax over -t / time_unit with no temperature
        let v = l.loss_and_grad(&[1.0, 1.5], 0, &mut g);
        let p0 = 1.0 / (1.0 + (-1.0f64).exp());
        assert!((v + (p0 + 1e-8).ln()).abs() < 1e-14);
        assert!((g[0] - (1.0 - p0) / 0.5).abs() < 1e-14);
        assert!((g[1] + (1.0 - p0) / 0.5).abs() < 1e-14);
    }
}
