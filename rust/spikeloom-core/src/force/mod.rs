//! FORCE training of spiking reservoirs (Nicola & Clopath 2017, Nat Commun 8:2208).
//!
//! A network of `n` LIF, Izhikevich or theta neurons with static sparse random weights `G Omega0`
//! and a learned rank-k feedback term `Q eta d^T`:
//!
//! ```text
//! I_i   = IPSC_i + sum_c eta_ic xhat_c + BIAS                 (input current, model units)
//! IPSC  = (double-exponential filter of)  G Omega0 s(t)         (tau_rise, tau_decay)
//! r     = (the same filter of) s(t) ;  xhat = d^T r              (readout)
//! filter, per step dt:  x <- x e^{-dt/tr} + h dt ;  h <- h e^{-dt/td} + (input) / (tr td)
//! ```
//! and RLS (see [`rls`]) on `d` every `rls_every` steps while learning. Each neuron model runs in its
//! own units (LIF / theta: s and mV or rad; Izhikevich: ms, mV, pA), as in the reference scripts, so
//! their gains `G`, `Q` and `P(0)` carry over; the public API takes seconds and converts.
//! Spikes are delivered by walking each spiking neuron's outgoing synapses (spikes x fan-out).

pub mod io;
pub mod kernel;
mod lanes;
pub mod network;
pub mod neuron;
pub mod rls;
mod rls_pass;
pub mod weights;

pub use network::{ForceConfig, ForceNetwork, Progress, RunOptions, RunOutput};
pub use neuron::{NeuronModel, NeuronState};
pub use rls::{Gain, Precision, Rls, RlsState};
pub use weights::StaticWeights;
