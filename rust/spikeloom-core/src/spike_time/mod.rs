//! Exact first-spike solvers.
//!
//! The neuron is the current-based leaky integrate-and-fire neuron of Göltz et al. (2021), written
//! with dimensionless weights and threshold:
//!
//! ```text
//! du/dt = -u / tau_mem + I / tau_syn        tau_syn dI/dt = -I        I += w_i at each input t_i
//! first output spike: the first t with u(t) = theta (u is continuous, so crossings lie between inputs)
//! ```
//!
//! With tau_mem = tau_syn = tau the post-synaptic potential of one input is the alpha function
//! `w (s/tau) exp(-s/tau)` (Comsa et al. 2020 use the same closed form, see [`alpha`]) and the crossing is given by the
//! principal branch of Lambert W. With tau_mem = 2 tau_syn the potential is
//! `2 w (exp(-s/tau_mem) - exp(-s/tau_syn))` and the crossing solves a quadratic in exp(-t/tau_mem).
//! Other ratios have no closed form and are refused.
//!
//! Derivatives of the spike time use the implicit function theorem at the crossing,
//! `dt*/dp = -(du/dp) / (du/dt)`, which is exactly the closed-form derivative of the papers
//! (the `1 / (1 + W)` factor of the Lambert W solution is `du/dt` up to a positive factor).

pub mod alpha;
mod first_spike;
pub mod lambert;
mod sorted_inputs;

pub use alpha::AlphaParams;
pub use first_spike::{
    first_spike, first_spike_layer, spike_time_gradient, spike_time_gradient_fast, Gradient,
    LayerScratch,
};
pub use sorted_inputs::SortedInputs;

use crate::error::{ensure_positive, Error, Result};
use serde::{Deserialize, Serialize};

/// Relative tolerance on tau_mem / tau_syn when matching a supported ratio.
const RATIO_TOLERANCE: f64 = 1e-9;

/// Parameters of the current-based LIF neuron (times in any unit, usually seconds; weights and
/// threshold dimensionless, leak potential 0).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LifParams {
    /// Membrane time constant.
    pub tau_mem: f64,
    /// Synaptic current time constant.
    pub tau_syn: f64,
    /// Firing threshold (dimensionless, > 0).
    pub threshold: f64,
}

/// The closed-form post-synaptic kernel selected by the ratio tau_mem / tau_syn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kernel {
    /// tau_mem = tau_syn = tau: alpha-shaped PSP, Lambert W solution.
    Equal { tau: f64 },
    /// tau_mem = 2 tau_syn: difference of exponentials, quadratic solution.
    Double { tau_syn: f64, tau_mem: f64 },
}

impl LifParams {
    /// Validated parameters; refuses tau ratios without an exact solver.
    pub fn new(tau_mem: f64, tau_syn: f64, threshold: f64) -> Result<Self> {
        let p = LifParams {
            tau_mem,
            tau_syn,
            threshold,
        };
        p.kernel()?;
        Ok(p)
    }

    /// The kernel for these parameters, or an error naming the supported ratios.
    pub fn kernel(&self) -> Result<Kernel> {
        ensure_positive("tau_mem", self.tau_mem)?;
        ensure_positive("tau_syn", self.tau_syn)?;
        ensure_positive("threshold", self.threshold)?;
        let ratio = self.tau_mem / self.tau_syn;
        if (ratio - 1.0).abs() <= RATIO_TOLERANCE {
            Ok(Kernel::Equal { tau: self.tau_syn })
        } else if (ratio - 2.0).abs() <= 2.0 * RATIO_TOLERANCE {
            Ok(Kernel::Double {
                tau_syn: self.tau_syn,
                tau_mem: 2.0 * self.tau_syn,
            })
        } else {
            Err(Error::Unsupported(format!(
                "tau_mem / tau_syn = {ratio} ({} / {}) has no exact spike-time solver; supported ratios are \
                 tau_mem = tau_syn (Lambert W) and tau_mem = 2 * tau_syn (quadratic)",
                self.tau_mem, self.tau_syn
            )))
        }
    }
}

impl Kernel {
    /// Post-synaptic potential of a unit-weight input, `s` after it arrived (s >= 0).
    #[inline]
    pub fn psp(&self, s: f64) -> f64 {
        match *self {
            Kernel::Equal { tau } => {
                let x = s / tau;
                x * (-x).exp()
            }
            Kernel::Double { tau_syn, tau_mem } => {
                2.0 * ((-s / tau_mem).exp() - (-s / tau_syn).exp())
            }
        }
    }

    /// d psp / ds.
    #[inline]
    pub fn psp_slope(&self, s: f64) -> f64 {
        match *self {
            Kernel::Equal { tau } => {
                let x = s / tau;
                (-x).exp() * (1.0 - x) / tau
            }
            Kernel::Double { tau_syn, tau_mem } => {
                2.0 * ((-s / tau_syn).exp() / tau_syn - (-s / tau_mem).exp() / tau_mem)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios() {
        assert!(matches!(
            LifParams::new(1.0, 1.0, 1.0).unwrap().kernel(),
            Ok(Kernel::Equal { .. })
        ));
        assert!(matches!(
            LifParams::new(2e-3, 1e-3, 1.0).unwrap().kernel(),
            Ok(Kernel::Double { .. })
        ));
        let err = LifParams::new(20e-3, 5e-3, 1.0).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("tau_mem = tau_syn") && msg.contains("tau_mem = 2 * tau_syn"),
            "{msg}"
        );
        assert!(LifParams::new(-1.0, 1.0, 1.0).is_err());
        assert!(LifParams::new(1.0, 1.0, 0.0).is_err());
        assert!(LifParams::new(f64::NAN, 1.0, 1.0).is_err());
    }
}
