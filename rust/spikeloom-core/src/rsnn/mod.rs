//! Recurrent, multi-spike spiking networks on the clock-driven engine with event propagation, and
//! surrogate-gradient BPTT.
//!
//! - [`network`]: layer descriptions (LIF, current-based LIF, Bellec and Yin adaptive LIF, reset and
//!   input-scaling variants), the flat parameter vector, initialisation.
//! - [`input`]: input sequences stored as events.
//! - [`forward`]: the fixed-order step loop; each step adds one weight row per event.
//! - [`surrogate`]: spike functions and surrogate derivatives in absolute voltage units.
//! - [`loss`]: readout losses and firing-rate regularisers.
//! - [`backward`]: the reverse pass (BPTT) over a recorded trace.
//! - [`train`]: batched gradients in parallel, Adam with parameter groups, the epoch loop.
//! - [`checkpoint`]: the state of a BPTT run, to stop and resume it.
//! - [`decolle`]: DECOLLE's local learning (fixed random readouts per layer, detached states) on a
//!   feed-forward stack of LIF layers, reusing the input events, surrogates and data types above.

pub mod backward;
pub mod checkpoint;
pub mod connectivity;
pub mod decolle;
pub mod epochs;
pub mod eprop;
pub mod forward;
pub mod input;
pub mod io;
pub mod lockstep;
pub mod loss;
pub mod network;
pub mod on_chip;
pub mod real;
pub mod surrogate;
pub mod train;

pub use input::Sequences;
pub use loss::{LossKind, LossSpec, RateRegulariser};
pub use network::{
    Adaptation, InputScale, LayerSpec, NetworkSpec, ReadoutSpec, Reset, RsnnNetwork,
};
pub use surrogate::Surrogate;
pub use train::{BpttConfig, BpttEpochMetrics, Data, Precision, Targets};
