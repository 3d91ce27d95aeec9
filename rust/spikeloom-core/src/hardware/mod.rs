//! A model of analog neuromorphic hardware, applied to the effective parameters of a network.
//!
//! A [`HardwareSpec`] describes a chip family: weight quantisation to `bits` of magnitude plus a sign
//! over `[-weight_range, weight_range]` ([`Quantizer`]), frozen per-instance fixed-pattern mismatch
//! (relative Gaussian gains of every synapse, every neuron's threshold and time constants) and
//! trial-to-trial noise (spike-time jitter, lost spikes). [`Chip::sample`] draws one instance from a
//! seed; the same seed always gives the same chip.
//!
//! How the model enters the exact first-spike engine ([`crate::engine::Network`]):
//! - quantisation and synapse mismatch change the weights: `w_eff = Q(w) g_syn`;
//! - threshold mismatch `theta_k = theta g_k` is written as a scaling of neuron k's incoming weights by
//!   `1 / g_k`. With rest 0 and linear sub-threshold dynamics the membrane is linear in the weights, so
//!   `u(t) >= theta g_k` and `u(t) / g_k >= theta` cross at the same time: the two are identical.
//! - time-constant mismatch scales a neuron's tau_mem and tau_syn together (the ratio stays 1 or 2, so
//!   the closed-form solvers still apply); such layers run neuron by neuron with their own kernel.
//! - jitter (Gaussian, seconds) is added to every input spike and to every spike a neuron emits
//!   (reflected at 0); lost spikes drop input and hidden spikes with probability `spike_loss`.
//!
//! Training ([`HardwareTraining`], used by [`crate::train::fit`]) keeps float shadow weights; the
//! forward pass runs on a chip and the gradient reaches the shadow weights straight through the
//! quantiser (identity inside the range, zero where a weight is clipped). With a finite weight range
//! the shadow weights are clipped to it after every update (a weight beyond the range has no effect
//! on the chip and no gradient, and would otherwise drift under weight bumping).

pub mod chip;
pub mod forward;
pub mod params;
pub mod quantize;

pub use chip::{Chip, HardwareSpec};
pub use forward::{chip_forward, evaluate_chips, run_chip, ChipEvaluation, ChipScratch};
pub use params::{ParamChip, TensorInfo};
pub use quantize::Quantizer;

use serde::{Deserialize, Serialize};

/// How the hardware model enters training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HardwareMode {
    /// Hardware-aware: every batch runs forward on a freshly sampled chip instance (quantised,
    /// mismatched, noisy); the gradient flows through that chip's effective parameters and, straight
    /// through the quantiser, to the float shadow weights.
    Aware,
    /// Hardware-in-the-loop: every batch runs forward on one fixed chip (`chip_seed`); the gradient is
    /// the ideal model's, evaluated at the spike times the chip produced and the shadow weights
    /// (Göltz et al. on BrainScaleS-2). With an ideal chip this is exactly ideal training.
    InTheLoop,
}

/// The hardware part of a training configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HardwareTraining {
    pub spec: HardwareSpec,
    pub mode: HardwareMode,
    /// Seed of the chip instance (in-the-loop: the chip trained on; aware: the validation chip and the
    /// root of the per-batch chip seeds).
    pub chip_seed: u64,
}

/// The seed of the chip instance that hardware-aware training draws for batch `batch` (from 0) of
/// epoch `epoch` (from 0) of a run with seed `run_seed`.
pub fn aware_chip_seed(chip_seed: u64, run_seed: u64, epoch: usize, batch: usize) -> u64 {
    forward::mix(
        chip_seed,
        crate::train::ttfs::stream_seed(run_seed, epoch, batch),
    )
}
