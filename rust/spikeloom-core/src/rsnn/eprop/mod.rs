//! e-prop (Bellec, Scherr et al. 2020): online, local learning for a recurrent layer of LIF or
//! adaptive LIF neurons with a leaky readout, on the same network description and engine conventions
//! as BPTT ([`crate::rsnn`]).
//!
//! The weight update is `sum_t L_j[t] ebar_ji[t]`: eligibility traces computed forward in time from
//! neuron-local quantities ([`kernel`]), filtered by the readout's kernel, times a learning signal
//! broadcast from the readout errors through a feedback matrix (symmetric, random or adaptive,
//! [`config::Feedback`]). With symmetric feedback it equals BPTT's gradient with the recurrent spike
//! path and the reset detached (`BpttConfig::detach_recurrent`, `detach_reset`).
//!
//! Both voltage conventions of the reference code are the layer's `input_scale`: `one` is the paper's
//! and NEST's (`EligALIF`: `v = alpha v + W z - z v_th`, `zbar = alpha zbar + z`), `one_minus_alpha`
//! is the TF tutorial's `LightLIF` (`v = alpha v + (1 - alpha) W z - z v_th`, `zbar = alpha zbar + (1 -
//! alpha) z`). The pseudo-derivative is the configured surrogate in absolute units: Bellec's
//! `gamma / v_th max(0, 1 - |v - A| / v_th)` is `piecewise_linear` with `width = v_th`, `scale = 0.3`.
//! There is no refractory period in this engine (`n_ref = 0`).

pub mod config;
pub mod kernel;
pub mod sparse;
pub mod train;

#[cfg(test)]
mod tests;

pub use config::{EpropConfig, Feedback, Mode, Optimizer, RateAverage};
pub use train::{
    fit, fit_from, gradient, initial_feedback, workspace_bytes, EpropEpochMetrics, EpropStats,
};
