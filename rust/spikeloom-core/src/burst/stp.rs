//! Short-term plasticity: idealised (events-only / bursts-only transmission, as in the XOR network)
//! and Tsodyks-Markram depressing / facilitating synapses (as in the propagation figure).
//!
//! Tsodyks-Markram with facilitation (per presynaptic neuron; u utilisation, R available resources):
//!
//! ```text
//! du/dt = (u0 - u) / tau_f          dR/dt = (1 - R) / tau_d             between spikes
//! at a spike: u <- u + f (1 - u);   efficacy = u R;   R <- R - u R
//! ```
//! Between spikes the solution is exact: `u(t) = u0 + (u - u0) e^{-t/tau_f}`,
//! `R(t) = 1 - (1 - R) e^{-t/tau_d}`; a spike transmits `weight * efficacy`.

use super::detect::SpikeKind;
use crate::error::{Error, Result};

/// Parameters of a Tsodyks-Markram synapse.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsodyksMarkram {
    /// Baseline utilisation u0 in [0, 1].
    pub u0: f64,
    /// Facilitation increment f in [0, 1].
    pub f: f64,
    pub tau_d: f64,
    pub tau_f: f64,
}

impl TsodyksMarkram {
    /// Short-term depressing synapse (transmits event rate): u0 0.9, f 0.1, tau_d 20 ms, tau_f 1 s.
    pub fn depressing() -> Self {
        TsodyksMarkram {
            u0: 0.9,
            f: 0.1,
            tau_d: 20e-3,
            tau_f: 1.0,
        }
    }

    /// Short-term facilitating synapse (transmits burst rate): u0 0.02, f 0.1, tau_d = tau_f = 100 ms.
    pub fn facilitating() -> Self {
        TsodyksMarkram {
            u0: 0.02,
            f: 0.1,
            tau_d: 100e-3,
            tau_f: 100e-3,
        }
    }

    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.u0) {
            return Err(Error::param("u0", "a utilisation in [0, 1]", self.u0));
        }
        if !(0.0..=1.0).contains(&self.f) {
            return Err(Error::param(
                "f",
                "a facilitation increment in [0, 1]",
                self.f,
            ));
        }
        for (name, v) in [("tau_d", self.tau_d), ("tau_f", self.tau_f)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::param(name, "a finite time constant > 0 (s)", v));
            }
        }
        Ok(())
    }
}

/// State of Tsodyks-Markram synapses, one per presynaptic neuron.
#[derive(Clone, Debug, PartialEq)]
pub struct TmState {
    pub params: TsodyksMarkram,
    pub u: Vec<f64>,
    pub r: Vec<f64>,
    pub last: Vec<f64>,
}

impl TmState {
    /// At rest: u = u0, R = 1.
    pub fn new(n: usize, params: TsodyksMarkram) -> Self {
        TmState {
            params,
            u: vec![params.u0; n],
            r: vec![1.0; n],
            last: vec![f64::NEG_INFINITY; n],
        }
    }

    /// A spike of presynaptic neuron `i` at time `t` (s): returns its efficacy `u R`.
    #[inline]
    pub fn spike(&mut self, i: usize, t: f64) -> f64 {
        let p = &self.params;
        let (mut u, mut r) = (self.u[i], self.r[i]);
        if self.last[i].is_finite() {
            let dtl = t - self.last[i];
            u = p.u0 + (u - p.u0) * (-dtl / p.tau_f).exp();
            r = 1.0 - (1.0 - r) * (-dtl / p.tau_d).exp();
        }
        u += p.f * (1.0 - u);
        let eff = u * r;
        r -= eff;
        self.u[i] = u;
        self.r[i] = r;
        self.last[i] = t;
        eff
    }
}

/// Efficacies of a spike train of one synapse (times in s, non-decreasing).
pub fn efficacies(times: &[f64], params: TsodyksMarkram) -> Result<Vec<f64>> {
    params.validate()?;
    let mut s = TmState::new(1, params);
    let mut prev = f64::NEG_INFINITY;
    let mut out = Vec::with_capacity(times.len());
    for &t in times {
        if !t.is_finite() || t < prev {
            return Err(Error::param(
                "spike_times",
                "finite times in non-decreasing order (s)",
                t,
            ));
        }
        prev = t;
        out.push(s.spike(0, t));
    }
    Ok(out)
}

/// What a connection transmits.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transmit {
    /// Every spike, with full efficacy.
    All,
    /// Idealised short-term depression: only events (first spikes of bursts, isolated spikes).
    Events,
    /// Idealised short-term facilitation: only the spike that marks a burst.
    Bursts,
    /// Tsodyks-Markram dynamics on every spike.
    Stp(TsodyksMarkram),
}

impl Transmit {
    /// Whether the idealised filter passes a spike of `kind`.
    #[inline]
    pub fn passes(&self, kind: SpikeKind) -> bool {
        match self {
            Transmit::All | Transmit::Stp(_) => true,
            Transmit::Events => kind == SpikeKind::Event,
            Transmit::Bursts => kind == SpikeKind::Burst,
        }
    }
}
