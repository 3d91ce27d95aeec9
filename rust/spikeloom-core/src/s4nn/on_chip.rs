//! The hardware model inside S4NN mini-batch training (see `S4nnFitConfig::hardware`): the chip
//! network each batch runs forward on, its straight-through chain, the clamp of the shadow weights,
//! and the chip validation and test run on.
//!
//! The weights are the tensors `layers.K.w` (`[n_in, n_out]`, the neuron on the last axis) of
//! [`crate::hardware::params`], so `Hardware.deploy` of an S4NN network draws the same chips.

use super::network::S4nnNetwork;
use crate::error::Result;
use crate::hardware::{aware_chip_seed, HardwareMode, HardwareTraining, ParamChip, TensorInfo};

/// The named weight tensors of `net`, layer after layer.
pub fn tensors(net: &S4nnNetwork) -> Vec<TensorInfo> {
    let mut at = 0;
    net.layers
        .iter()
        .enumerate()
        .map(|(k, l)| {
            let r = at..at + l.w.len();
            at = r.end;
            (format!("layers.{k}.w"), vec![l.n_in, l.n_out], r)
        })
        .collect()
}

/// A run's hardware model and its buffers.
pub struct S4nnOnChip {
    hw: HardwareTraining,
    tensors: Vec<TensorInfo>,
    len: usize,
    fixed: ParamChip,
    net: S4nnNetwork,
    shadow: Vec<f64>,
    eff: Vec<f64>,
    chain: Vec<f64>,
}

impl S4nnOnChip {
    pub fn new(hw: &HardwareTraining, net: &S4nnNetwork) -> Result<Self> {
        let tensors = tensors(net);
        let len = tensors.last().map_or(0, |t| t.2.end);
        let fixed = ParamChip::sample(&hw.spec, &tensors, len, hw.chip_seed)?;
        Ok(S4nnOnChip {
            hw: hw.clone(),
            tensors,
            len,
            fixed,
            net: net.clone(),
            shadow: Vec::new(),
            eff: Vec::new(),
            chain: Vec::new(),
        })
    }

    /// True for hardware-aware training.
    pub fn aware(&self) -> bool {
        self.hw.mode == HardwareMode::Aware
    }

    /// Probability that an input spike is lost in a trial.
    pub fn spike_loss(&self) -> f64 {
        self.hw.spec.spike_loss
    }

    /// Write `chip`'s (default: chip `chip_seed`) weights for `self.shadow` into the chip network,
    /// with the chain when `chain` is set.
    fn write(&mut self, chip: Option<&ParamChip>, chain: bool) -> Result<&S4nnNetwork> {
        let chip = chip.unwrap_or(&self.fixed);
        let chain = chain.then_some(&mut self.chain);
        chip.effective(&self.shadow, &mut self.eff, chain)?;
        let mut at = 0;
        for l in &mut self.net.layers {
            let n = l.w.len();
            l.w.copy_from_slice(&self.eff[at..at + n]);
            at += n;
        }
        Ok(&self.net)
    }

    /// The chip network batch `batch` of epoch `epoch` (from 0) runs on, for the shadow weights
    /// `scales[l] * w` (in the loop: chip `chip_seed`; hardware-aware: a fresh chip).
    pub fn batch(
        &mut self,
        net: &S4nnNetwork,
        scales: &[f64],
        run_seed: u64,
        epoch: usize,
        batch: usize,
    ) -> Result<&S4nnNetwork> {
        self.shadow.clear();
        for (l, s) in net.layers.iter().zip(scales) {
            self.shadow.extend(l.w.iter().map(|w| w * s));
        }
        if self.aware() {
            let seed = aware_chip_seed(self.hw.chip_seed, run_seed, epoch, batch);
            let fresh = ParamChip::sample(&self.hw.spec, &self.tensors, self.len, seed)?;
            self.write(Some(&fresh), true)
        } else {
            self.write(None, false)
        }
    }

    /// Hardware-aware: the per-layer gradients (with respect to the chip's weights) chained to the
    /// shadow weights. In the loop: unchanged.
    pub fn chain_gradient(&self, grads: &mut [Vec<f64>]) {
        if !self.aware() {
            return;
        }
        let mut at = 0;
        for g in grads {
            for (gi, c) in g.iter_mut().zip(&self.chain[at..]) {
                *gi *= c;
            }
            at += g.len();
        }
    }

    /// Clip the shadow weights `scales[l] * w` to the chip's range (no-op without one).
    pub fn clamp(&self, net: &mut S4nnNetwork, scales: &[f64]) {
        let Some(r) = self.hw.spec.weight_range.filter(|r| r.is_finite()) else {
            return;
        };
        for (l, &s) in net.layers.iter_mut().zip(scales) {
            let bound = r / s;
            l.w.iter_mut().for_each(|w| *w = w.clamp(-bound, bound));
        }
    }

    /// Chip `chip_seed` for the (materialised) weights of `net`: what validation and test run on.
    pub fn validation(&mut self, net: &S4nnNetwork) -> Result<&S4nnNetwork> {
        self.shadow.clear();
        for l in &net.layers {
            self.shadow.extend_from_slice(&l.w);
        }
        self.write(None, false)
    }
}
