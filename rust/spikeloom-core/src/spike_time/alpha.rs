//! The alpha-synapse neuron of Comsa et al. (2020) as a parameterisation of the tau_mem = tau_syn kernel.
//!
//! Comsa et al. write the membrane potential of a non-leaky neuron driven by alpha-shaped PSPs as
//!
//! ```text
//! V(t) = sum_i w_i ((t - t_i) / T) exp(-(t - t_i) / tau)        (t > t_i; the paper: T = 1, K = 1/tau)
//! ```
//!
//! where `T` is the unit in which the paper's times are expressed (`time_unit`; its threshold has units
//! of weight x `T`). The current-based LIF neuron with tau_mem = tau_syn = tau has
//! `u(t) = sum_i w_i ((t - t_i) / tau) exp(-(t - t_i) / tau)`, so `V = (tau / T) u` and
//!
//! ```text
//! V(t) = theta_alpha   <=>   u(t) = theta_alpha * T / tau = theta_lif
//! ```
//!
//! Spike times, causal sets and every derivative dt/dw, dt/dt_i are therefore identical after this mapping,
//! and the alpha neuron runs on the one Lambert W walk of [`super::first_spike`] (no second solver).

use super::LifParams;
use crate::error::{ensure_positive, Result};
use serde::{Deserialize, Serialize};

/// Parameters of the alpha-synapse neuron (Comsa et al. 2020).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlphaParams {
    /// Decay time constant tau = 1/K (same unit as spike times, usually seconds).
    pub tau: f64,
    /// Threshold theta_alpha, in units of weight x `time_unit` (the paper's `fire_threshold`).
    pub threshold: f64,
    /// The unit of the paper's times (the "1" of the reference code), same unit as `tau`.
    pub time_unit: f64,
}

impl AlphaParams {
    /// Validated parameters.
    pub fn new(tau: f64, threshold: f64, time_unit: f64) -> Result<Self> {
        let p = AlphaParams {
            tau,
            threshold,
            time_unit,
        };
        p.lif()?;
        Ok(p)
    }

    /// From the paper's decay rate K (per `time_unit`): tau = time_unit / K.
    pub fn from_decay_rate(decay_rate: f64, threshold: f64, time_unit: f64) -> Result<Self> {
        ensure_positive("decay_rate", decay_rate)?;
        ensure_positive("time_unit", time_unit)?;
        Self::new(time_unit / decay_rate, threshold, time_unit)
    }

    /// The decay rate K in units of 1 / `time_unit`.
    pub fn decay_rate(&self) -> f64 {
        self.time_unit / self.tau
    }

    /// The equivalent LIF neuron: tau_mem = tau_syn = tau, threshold theta_alpha * time_unit / tau.
    pub fn lif(&self) -> Result<LifParams> {
        ensure_positive("tau", self.tau)?;
        ensure_positive("threshold", self.threshold)?;
        ensure_positive("time_unit", self.time_unit)?;
        let theta = self.threshold * self.time_unit / self.tau;
        ensure_positive("threshold * time_unit / tau", theta)?;
        LifParams::new(self.tau, self.tau, theta)
    }

    /// The alpha potential V(t) of one neuron, summed directly over its inputs (a reference, O(n)).
    pub fn potential(&self, t: f64, times: &[f64], weights: &[f64]) -> f64 {
        times
            .iter()
            .zip(weights)
            .filter(|(ti, _)| ti.is_finite() && t > **ti)
            .map(|(ti, w)| w * ((t - ti) / self.time_unit) * (-(t - ti) / self.tau).exp())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_and_validation() {
        let a =
            AlphaParams::from_decay_rate(0.18176949150701854, 1.1673205005788956, 1e-3).unwrap();
        assert!((a.tau - 1e-3 / 0.18176949150701854).abs() < 1e-18);
        assert!((a.decay_rate() - 0.18176949150701854).abs() < 1e-15);
        let lif = a.lif().unwrap();
        assert_eq!(lif.tau_mem, lif.tau_syn);
        assert!((lif.threshold - 1.1673205005788956 * 0.18176949150701854).abs() < 1e-14);
        // time_unit = tau: thresholds coincide
        assert_eq!(
            AlphaParams::new(2.0, 0.4, 2.0)
                .unwrap()
                .lif()
                .unwrap()
                .threshold,
            0.4
        );
        assert!(AlphaParams::new(0.0, 1.0, 1.0).is_err());
        assert!(AlphaParams::new(1.0, -1.0, 1.0).is_err());
        assert!(AlphaParams::new(1.0, 1.0, f64::NAN).is_err());
        assert!(AlphaParams::from_decay_rate(0.0, 1.0, 1.0).is_err());
    }

    #[test]
    fn potential_is_tau_over_unit_times_lif_potential() {
        let a = AlphaParams::new(3.0, 1.0, 0.5).unwrap();
        let (times, w) = ([0.2, 1.0, f64::INFINITY], [1.5, -0.4, 9.0]);
        for t in [0.1, 0.5, 1.3, 4.0] {
            let lif: f64 = times
                .iter()
                .zip(&w)
                .filter(|(ti, _)| ti.is_finite() && t > **ti)
                .map(|(ti, wi)| wi * ((t - ti) / 3.0) * (-(t - ti) / 3.0).exp())
                .sum();
            assert!((a.potential(t, &times, &w) - 6.0 * lif).abs() < 1e-14);
        }
    }
}
