//! S4NN (Kheradpisheh & Masquelier 2020, "Temporal backpropagation for spiking neural networks with
//! one spike per neuron", IJNS 30(6) 2050027): non-leaky integrate-and-fire neurons with step
//! synapses on a discrete time grid, one spike per neuron, trained with approximate temporal
//! backpropagation (`dt/dV = -1`, relative targets, per-layer normalised errors).
//!
//! Units: time is a dimensionless step index `t = 0..=t_max` of the input code's grid (the paper uses
//! `t_max = 256` for 8-bit pixels: `t = floor((255 - p) t_max / 255)`); weights and thresholds are
//! dimensionless potentials. `t_max` also means "no real spike" (a forced spike at the end of the
//! window), exactly as in the paper.
//!
//! - [`network`]: the event-driven forward pass, decisions (tie rules) and evaluation protocols.
//! - [`train`]: targets, errors, the learning rule and the per-sample SGD training loop.
//! - [`state`]: the resumable state of a training run (checkpoints).
//! - [`on_chip`]: the hardware model inside mini-batch training.
//! - [`io`]: safetensors files with JSON metadata, written atomically.
//!
//! Re-derived from the paper's equations and the method notes; no code from the GPL reference
//! implementation (SRKH/S4NN) is included.

pub mod io;
pub mod network;
pub mod on_chip;
pub mod state;
pub mod train;

pub use network::{
    first_to_spike, LabelledSteps, Protocol, S4nnEvaluation, S4nnLayer, S4nnNetwork, S4nnWorkspace,
    TieRule, MAX_T_MAX, PAPER_FALLBACK_OFFSET,
};
pub use train::{
    fit, fit_from, output_errors, relative_targets, HiddenDelta, S4nnEpochMetrics, S4nnFitConfig,
    S4nnFitOutcome,
};
