//! The hardware model inside the clock-driven trainers (BPTT, DECOLLE, e-prop): the chip each batch
//! runs on, its effective parameters, and the batch's lost input spikes.
//!
//! In the loop every batch runs on chip `chip_seed`; hardware-aware, batch `b` of epoch `e` runs on a
//! fresh chip ([`aware_chip_seed`]) and the gradient with respect to its effective parameters is
//! chained to the shadow parameters (straight through the quantiser). Validation runs on chip
//! `chip_seed` in both modes. Shadow weights are clipped to the weight range after every update. The
//! trainers decide what the reverse pass sees (BPTT in the loop: the shadow network's model at the
//! chip's trajectory).

use super::epochs::FlatParams;
use super::input::Sequences;
use super::train::{Data, Targets, TrialNoise};
use crate::error::Result;
use crate::hardware::forward::mix;
use crate::hardware::{aware_chip_seed, HardwareMode, HardwareTraining, ParamChip, TensorInfo};
use crate::train::ttfs::stream_seed;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The seed of the ChaCha8 stream of the input trial noise of batch `batch` of epoch `epoch` (from
/// 0) in a run seeded with `run_seed` ([`Sequences::subset_with_trial_noise`] draws from it).
pub fn trial_seed(run_seed: u64, epoch: usize, batch: usize) -> u64 {
    stream_seed(mix(run_seed, 0x4857), epoch, batch)
}

/// A trainer's hardware model for one run.
#[derive(Clone, Debug)]
pub struct OnChip {
    hw: HardwareTraining,
    run_seed: u64,
    /// Sd of the input spikes' jitter, steps (the spec's seconds over the network's `dt`).
    jitter_steps: f64,
    tensors: Vec<TensorInfo>,
    len: usize,
    /// Chip `chip_seed` (trained on in the loop; validation runs on it in both modes).
    fixed: ParamChip,
    /// (epoch from 1, batches begun in it): the seeds of the per-batch chips and trial noise.
    batch_no: (usize, usize),
    chain: Vec<f64>,
}

/// What one batch runs on: a fresh chip (hardware-aware) and its inputs with trial noise (lost and
/// jittered input spikes).
pub struct BatchOnChip {
    fresh: Option<ParamChip>,
    noisy: Option<(Sequences, Targets, Vec<usize>)>,
    noise: Option<TrialNoise>,
}

impl BatchOnChip {
    /// The batch's data and sample indices (the noisy copy with trial noise).
    pub fn data<'a>(&'a self, train: Data<'a>, batch: &'a [usize]) -> (Data<'a>, &'a [usize]) {
        match &self.noisy {
            Some((x, y, idx)) => (Data { x, y }, idx),
            None => (train, batch),
        }
    }

    /// The batch's trial noise inside the forward pass (membrane noise), if the chip has any.
    pub fn noise(&self) -> Option<TrialNoise> {
        self.noise
    }
}

impl OnChip {
    /// The hardware model of a run over parameters made of `tensors`, of a network with time step
    /// `dt` (s) (None without one).
    pub fn new(
        hw: Option<&HardwareTraining>,
        tensors: Vec<TensorInfo>,
        len: usize,
        dt: f64,
        run_seed: u64,
    ) -> Result<Option<Self>> {
        let Some(hw) = hw else {
            return Ok(None);
        };
        let fixed = ParamChip::sample(&hw.spec, &tensors, len, hw.chip_seed)?;
        Ok(Some(OnChip {
            hw: hw.clone(),
            run_seed,
            jitter_steps: hw.spec.jitter / dt,
            tensors,
            len,
            fixed,
            batch_no: (usize::MAX, 0),
            chain: Vec::new(),
        }))
    }

    /// [`OnChip::new`] for a recurrent network (BPTT, e-prop): its parameter tensors.
    pub fn for_rsnn(
        hw: Option<&HardwareTraining>,
        net: &super::network::RsnnNetwork,
        run_seed: u64,
    ) -> Result<Option<Self>> {
        Self::new(
            hw,
            net.layout.tensors(),
            net.layout.len,
            net.spec.dt,
            run_seed,
        )
    }

    /// True for hardware-aware training (a fresh chip per batch, gradients chained).
    pub fn aware(&self) -> bool {
        self.hw.mode == HardwareMode::Aware
    }

    /// Begin a batch of epoch `epoch` (from 1): draw its chip (hardware-aware) and its inputs' trial
    /// noise (lost and jittered spikes).
    pub fn begin_batch(
        &mut self,
        epoch: usize,
        train: Data<'_>,
        batch: &[usize],
    ) -> Result<BatchOnChip> {
        let b = if self.batch_no.0 == epoch {
            self.batch_no.1
        } else {
            0
        };
        self.batch_no = (epoch, b + 1);
        let fresh = if self.aware() {
            let seed = aware_chip_seed(self.hw.chip_seed, self.run_seed, epoch - 1, b);
            Some(ParamChip::sample(
                &self.hw.spec,
                &self.tensors,
                self.len,
                seed,
            )?)
        } else {
            None
        };
        let (p, jitter) = (self.hw.spec.spike_loss, self.jitter_steps);
        let noisy = (p > 0.0 || jitter > 0.0).then(|| {
            let mut rng = ChaCha8Rng::seed_from_u64(trial_seed(self.run_seed, epoch - 1, b));
            let x = train.x.subset_with_trial_noise(batch, p, jitter, &mut rng);
            let y = train.y.subset(batch, train.x.n_steps);
            (x, y, (0..batch.len()).collect())
        });
        let membrane = self.hw.spec.membrane_noise;
        let noise = (membrane > 0.0).then(|| TrialNoise {
            membrane,
            seed: mix(trial_seed(self.run_seed, epoch - 1, b), 0x4D45_4D42),
        });
        Ok(BatchOnChip {
            fresh,
            noisy,
            noise,
        })
    }

    /// The batch's chip parameters for the shadow `params`, written to `out` (and, hardware-aware,
    /// the chain `d p_eff / d p` kept for [`OnChip::chain_gradient`]).
    pub fn effective(
        &mut self,
        batch: &BatchOnChip,
        params: &[f64],
        out: &mut Vec<f64>,
    ) -> Result<()> {
        match &batch.fresh {
            Some(chip) => chip.effective(params, out, Some(&mut self.chain)),
            None => self.fixed.effective(params, out, None),
        }
    }

    /// Hardware-aware: the gradient with respect to the chip's parameters, chained to the shadow
    /// parameters (the first `g.len()` of them). In the loop: unchanged.
    pub fn chain_gradient(&self, g: &mut [f64]) {
        if self.aware() {
            g.iter_mut().zip(&self.chain).for_each(|(g, c)| *g *= c);
        }
    }

    /// Clip the shadow weights to the chip's range (no-op without one).
    pub fn clamp(&self, params: &mut [f64]) {
        self.fixed.clamp_weights(params);
    }

    /// One batch's gradient computed on the chip (DECOLLE, e-prop): `grad` runs on the chip's copy
    /// of `net` (kept in `chip_net` from batch to batch) with the batch's data and its trial noise;
    /// hardware-aware, the result is chained to the shadow parameters.
    pub fn batch_gradient<N: Clone + FlatParams, S>(
        &mut self,
        epoch: usize,
        train: Data<'_>,
        batch: &[usize],
        net: &mut N,
        chip_net: &mut Option<N>,
        grad: impl FnOnce(&N, Data<'_>, &[usize], Option<TrialNoise>) -> Result<(Vec<f64>, S)>,
    ) -> Result<(Vec<f64>, S)> {
        let on = self.begin_batch(epoch, train, batch)?;
        let (data, idx) = on.data(train, batch);
        let chip = chip_net.get_or_insert_with(|| net.clone());
        self.effective(&on, net.flat_params(), chip.flat_params())?;
        let mut r = grad(chip, data, idx, on.noise())?;
        self.chain_gradient(&mut r.0);
        Ok(r)
    }

    /// The network validation runs on: chip `chip_seed` of the shadow `net` (None without a hardware
    /// model: validate `net` itself).
    pub fn validation_net<N: Clone + FlatParams>(
        hw: Option<&OnChip>,
        net: &N,
    ) -> Result<Option<N>> {
        let Some(h) = hw else {
            return Ok(None);
        };
        let mut on_chip = net.clone();
        let shadow = on_chip.flat_params().clone();
        h.fixed.effective(&shadow, on_chip.flat_params(), None)?;
        Ok(Some(on_chip))
    }
}
