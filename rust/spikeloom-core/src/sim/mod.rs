//! Pure simulation of large spiking networks on the clock-driven engine: a group of LIF neurons with
//! exponential current synapses on several receptors (e.g. excitatory and inhibitory, each with its own
//! time constant), refractoriness, and sparse (CSR) random connectivity. Each step: integrate every
//! neuron with exact propagators, threshold, reset, then deliver this step's spikes by walking each
//! spiking neuron's outgoing synapse list (work = spikes x fan-out).
//!
//! Per neuron, with `w = v - v_rest` and one current `g_r` per receptor (in volts, like Brian2's CUBA):
//!
//! ```text
//! dv/dt   = (v_rest - v + sum_r g_r) / tau_mem        (clamped at v_reset while refractory)
//! dg_r/dt = -g_r / tau_r                              (a spike of a presynaptic neuron adds its weight)
//! ```
//! integrated exactly over a step `dt` (the ODE is linear between spikes):
//!
//! ```text
//! v[t+1] = v_rest + (v[t] - v_rest) e^{-dt/tau_mem} + sum_r g_r[t] * P_r
//! P_r    = tau_r / (tau_r - tau_mem) * (e^{-dt/tau_r} - e^{-dt/tau_mem})     (tau_r != tau_mem)
//! g_r[t+1] = e^{-dt/tau_r} g_r[t] + (weights of the spikes delivered in step t)
//! ```
//! A neuron spikes in step t when `v > threshold` after the update; it is then set to `v_reset` and held
//! there for `refractory` seconds (rounded to whole steps). Spikes are delivered at the end of their
//! step, so they act from the next step on.

pub mod group;

pub use group::{run, Connection, Group, SimResult};
