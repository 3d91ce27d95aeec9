//! The burst-dependent plasticity rule with an online burst-probability average (Payeur et al. 2021):
//!
//! ```text
//! dW_ij/dt = eta [ B_i(t) - P_bar_i(t) E_i(t) ] E~_j(t)
//! ```
//! in the reference code's adaptive, event-driven form: at each postsynaptic **event**
//! `dw = eta (-min(P_bar, 1) + hom) E~_pre`, at each postsynaptic **burst** (its second spike)
//! `dw = eta (1 + hom) E~_pre`, where `E~_pre` is the presynaptic event trace (+1 per presynaptic
//! event, time constant `tau_pre`) and `P_bar` the postsynaptic moving-average burst probability.
//! Homeostasis: `hom = -(r - max_rate) / r` when the postsynaptic event-rate estimate `r` exceeds
//! `max_rate`; at each presynaptic event, synapses onto neurons with `r < min_rate` gain
//! `eta (min_rate - r)` (there `r` is either the same event-rate estimate or, with `hom_tau`, a long
//! average of all postsynaptic spikes, as in the reference XOR program). Weights are clipped to `[w_min, w_max]`. The average of `B - P_bar E` is
//! zero when bursting is at its average: LTP when the burst probability is above average, LTD below.

use crate::error::{Error, Result};

/// Parameters of a plastic connection.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleParams {
    pub eta: f64,
    pub tau_pre: f64,
    pub w_min: f64,
    pub w_max: f64,
    /// Event rate (Hz) above which LTP is scaled down (homeostasis).
    pub max_rate: f64,
    /// Event rate (Hz) below which presynaptic events potentiate (homeostasis).
    pub min_rate: f64,
    /// Valence in rates, as in an earlier version of the reference `AdaptiveEBCPConnection`: at a
    /// postsynaptic event `-B_bar` (burst-rate estimate, Hz), at a burst `+E_bar` (event-rate
    /// estimate, Hz), homeostasis `-(r - max_rate)` (Hz): the rule scaled by the event rate,
    /// `eta E_bar (B - P_bar E)`, without the cap on `P_bar`.
    #[serde(default)]
    pub rate_valence: bool,
    /// Time constant (s) of the postsynaptic rate `r` read by the homeostatic potentiation at
    /// presynaptic events (`r < min_rate`). `None`: the postsynaptic population's event-rate average
    /// (`tau_avg`). `Some(tau)`: an exponential average of *all* postsynaptic spikes (events, burst
    /// and within-burst spikes; +1/tau per spike, Hz) with this time constant, starting at
    /// `hom_rate0`. The reference XOR connections use the latter with 30 s: their presynaptic update
    /// resolves to the base class's, which reads a 30 s postsynaptic trace of all spikes.
    #[serde(default)]
    pub hom_tau: Option<f64>,
    /// Initial value (Hz) of the `hom_tau` average (the reference: 0.1 Hz).
    #[serde(default = "default_hom_rate0")]
    pub hom_rate0: f64,
}

fn default_hom_rate0() -> f64 {
    0.1
}

impl RuleParams {
    pub fn validate(&self) -> Result<()> {
        if !(self.eta.is_finite() && self.eta >= 0.0) {
            return Err(Error::param("eta", "a finite learning rate >= 0", self.eta));
        }
        if !(self.tau_pre.is_finite() && self.tau_pre > 0.0) {
            return Err(Error::param(
                "tau_pre",
                "a finite time constant > 0 (s)",
                self.tau_pre,
            ));
        }
        if !(self.w_min.is_finite() && self.w_max.is_finite() && self.w_min <= self.w_max) {
            return Err(Error::param(
                "w_min/w_max",
                "finite bounds with w_min <= w_max",
                format!("{} / {}", self.w_min, self.w_max),
            ));
        }
        if let Some(t) = self.hom_tau {
            if !(t.is_finite() && t > 0.0) {
                return Err(Error::param(
                    "hom_tau",
                    "a finite time constant > 0 (s) or None",
                    t,
                ));
            }
        }
        if !(self.hom_rate0.is_finite() && self.hom_rate0 >= 0.0) {
            return Err(Error::param(
                "hom_rate0",
                "a finite rate >= 0 (Hz)",
                self.hom_rate0,
            ));
        }
        if !(self.max_rate > 0.0 && self.min_rate >= 0.0 && self.min_rate <= self.max_rate) {
            return Err(Error::param(
                "min_rate/max_rate",
                "0 <= min_rate <= max_rate, max_rate > 0 (Hz)",
                format!("{} / {}", self.min_rate, self.max_rate),
            ));
        }
        Ok(())
    }

    /// Homeostatic term at a postsynaptic spike for event-rate estimate `rate` (Hz).
    #[inline]
    pub fn hom(&self, rate: f64) -> f64 {
        if rate > self.max_rate {
            -(rate - self.max_rate) / rate
        } else {
            0.0
        }
    }

    /// Factor multiplying `eta E~_pre` at a postsynaptic event.
    #[inline]
    pub fn event_factor(&self, p_bar: f64, rate: f64) -> f64 {
        -p_bar.min(1.0) + self.hom(rate)
    }

    /// Factor multiplying `eta E~_pre` at a postsynaptic burst.
    #[inline]
    pub fn burst_factor(&self, rate: f64) -> f64 {
        1.0 + self.hom(rate)
    }

    /// Weight change of a synapse at a presynaptic event for postsynaptic rate estimate `rate`.
    #[inline]
    pub fn pre_event_change(&self, rate: f64) -> f64 {
        if rate < self.min_rate {
            self.eta * (self.min_rate - rate)
        } else {
            0.0
        }
    }

    /// Factors at a postsynaptic event and burst for the event- and burst-rate estimates (Hz) and
    /// burst probability of the postsynaptic neuron, in either valence convention.
    #[inline]
    pub fn factors(&self, rate: f64, burst_rate: f64, p_bar: f64) -> (f64, f64) {
        if self.rate_valence {
            let hom = if rate > self.max_rate {
                -(rate - self.max_rate)
            } else {
                0.0
            };
            (-burst_rate + hom, rate + hom)
        } else {
            (self.event_factor(p_bar, rate), self.burst_factor(rate))
        }
    }

    #[inline]
    pub fn clip(&self, w: f64) -> f64 {
        w.clamp(self.w_min, self.w_max)
    }
}
