//! DECOLLE: deep continuous local learning (Kaiser, Mostafa & Neftci 2020, Front. Neurosci. 14:424).
//!
//! A stack of LIF layers; layer `l` of `n` neurons receives `S_in` (the network's input events for
//! `l = 0`, else layer `l - 1`'s spikes of the same step) through `n_pre` presynaptic traces. One step
//! `t` of duration `dt` (all states start at zero):
//!
//! ```text
//! P[t] = alpha P[t-1] + (1 - alpha) Q[t-1]            (membrane trace, per presynaptic unit)
//! Q[t] = beta Q[t-1] + (1 - beta) S_in[t]             (synaptic trace, per presynaptic unit)
//! R[t] = alpharp R[t-1] - (1 - alpharp) wrp S[t-1]    (refractory trace, per neuron)
//! U[t] = W P[t] + b + R[t]
//! S[t] = H(U[t])                                      (threshold 0; spikes where U > 0)
//! y[t] = G S[t]                                       (fixed random readout, n_outputs)
//! ```
//! with `beta = exp(-dt/tau_syn)`, `alpha = exp(-dt/tau_mem)`, `alpharp = exp(-dt/tau_ref)`. This is
//! the update order of `LIFLayer.forward` in the reference code (`nmi-lab/decolle-public`): `P` takes
//! the synaptic trace of the previous step, so an input at step `t` first moves the membrane at step
//! `t + 1` (one step of latency per layer). Written with shifted indices as
//! `Q[t+1] = beta Q[t] + (1 - beta) S_in[t]`, `U[t] = W P[t] + ...`, the notes' form has one more step
//! of latency; everything else is identical.
//!
//! Learning is local in time and space: every state is detached, so each layer's weights only see its
//! own loss `L_l(t) = loss(G_l S_l[t], onehot(label))` with `P`, `R` held fixed:
//!
//! ```text
//! delta[t]       = (G_l^T dL_l/dy_l[t]) * sigma'(U_l[t])       (sigma' the surrogate derivative)
//! dL_l/dW_l[t]   = delta[t] outer P_l[t]                        (W as [n_pre, n]: row i gets P[i] delta)
//! dL_l/db_l[t]   = delta[t]
//! ```
//! No reverse pass and no stored trajectory: the eligibility is the presynaptic trace `P` itself.
//! The readouts `G_l ~ U(-a, a)`, `a = readout_gain / sqrt(n_l)`, are fixed; the prediction is the
//! argmax of the last layer's readout summed over the loss window (steps `burn_in..steps`).
//!
//! - [`network`]: the description, the flat parameter vector, seeded initialisation.
//! - [`forward`]: the step (event-driven with fixed weights, trace-driven while learning online).
//! - [`loss`]: the local losses (SmoothL1, MSE, per-step cross-entropy) and the local gradient.
//! - [`train`]: gradients, the per-sequence and online update modes, evaluation, the epoch loop.
//! - [`io`]: safetensors files.
//!
//! The reference's `LenetDECOLLE` feeds `sigmoid(U)` rather than the spikes to the last layer's
//! readout; that is the option `sigmoid_readout` (off by default: every readout reads spikes). Time
//! constants can differ per layer, as the reference's per-layer `alpha`/`beta`/`alpharp` lists.
//! Left out of the reference: convolutional layers and pooling, dropout on the readouts, the
//! readouts' fixed random biases, the membrane regulariser, per-input random time constants
//! (`LIFLayerVariableTau`).

pub mod forward;
pub mod io;
pub mod loss;
pub mod network;
pub mod train;

#[cfg(test)]
mod tests;

pub use loss::LocalLoss;
pub use network::{DecolleNetwork, DecolleSpec};
pub use train::{DecolleConfig, DecolleEpochMetrics, OptimizerKind};
