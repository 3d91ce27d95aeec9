//! The configuration of an e-prop run and the checks that a network is one e-prop can train.

use crate::error::{Error, Result};
use crate::rsnn::loss::{LossKind, LossSpec};
use crate::rsnn::network::{Adaptation, Reset, RsnnNetwork};
use crate::rsnn::surrogate::Surrogate;
use crate::rsnn::train::Precision;
use serde::{Deserialize, Serialize};

/// How the learning signal is broadcast from the readout errors to the recurrent neurons:
/// `L_j[t] = sum_k B[j, k] zeta_o err_k[t]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feedback {
    /// `B = W_out` (symmetric e-prop: the exact partial derivative dE/dz).
    #[default]
    Symmetric,
    /// `B` fixed, drawn once from N(0, feedback_sd^2) with the run's seed (random e-prop).
    Random,
    /// `B` starts random and receives every update applied to `W_out`; both are shrunk by
    /// `feedback_decay` after each update (adaptive e-prop, Kolen-Pollack style).
    Adaptive,
}

/// When the weights change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Sum the updates over each trial, average over the batch, one optimiser step per batch (the
    /// paper's form).
    #[default]
    PerTrial,
    /// One optimiser step at every time step, with that step's update averaged over the batch (the
    /// batch runs in lock-step). Memory does not depend on the sequence length.
    Online,
}

/// The firing-rate regulariser `E_reg = c_reg / 2 * sum_j (f_j - f_target)^2`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateAverage {
    /// `f_j` = mean rate of neuron j over the batch and the whole trial (the paper's tutorials);
    /// its update `c_reg (f_j - f_target) mean_{batch,t} e_ji[t] / dt` is applied at the end of the
    /// trial (per-trial mode only).
    #[default]
    Batch,
    /// `f_j[t]` = the running average of neuron j's rate since the start of the trial (its spike count
    /// up to t over the elapsed time); the update `c_reg (f_j[t] - f_target) e_ji[t] / (T dt)` is
    /// local in time, so it works online.
    Running,
}

/// The optimiser.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    #[default]
    Adam,
    /// Plain gradient descent `w -= lr g` (the pattern-generation tutorial).
    Sgd,
}

fn default_betas() -> (f64, f64) {
    (0.9, 0.999)
}
fn default_eps() -> f64 {
    1e-8
}
fn default_feedback_decay() -> f64 {
    0.0
}
fn default_surrogate() -> Surrogate {
    // Bellec et al.: gamma_pd = 0.3, psi = gamma / v_th max(0, 1 - |v - A| / v_th) for v_th = 1.
    Surrogate::PiecewiseLinear {
        width: 1.0,
        scale: 0.3,
    }
}
fn default_rate_target() -> f64 {
    10.0
}

/// Everything an e-prop run needs besides the network and the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpropConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    #[serde(default)]
    pub optimizer: Optimizer,
    #[serde(default = "default_betas")]
    pub betas: (f64, f64),
    #[serde(default = "default_eps")]
    pub eps: f64,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub feedback: Feedback,
    /// Standard deviation of the random / adaptive feedback weights (`None`: `1 / sqrt(n_rec)`).
    #[serde(default)]
    pub feedback_sd: Option<f64>,
    /// Adaptive feedback: `W_out` and `B` are multiplied by `1 - feedback_decay` after each update.
    #[serde(default = "default_feedback_decay")]
    pub feedback_decay: f64,
    /// `mse` or `ce_per_step` (the losses whose error is local in time), with their window.
    pub loss: LossSpec,
    /// The pseudo-derivative psi (absolute voltage units; Bellec's is `piecewise_linear` with
    /// `width = v_th`, `scale = 0.3`).
    #[serde(default = "default_surrogate")]
    pub surrogate: Surrogate,
    /// Firing-rate regularisation strength `c_reg` (0 = off).
    #[serde(default)]
    pub reg_rate: f64,
    /// Target rate (Hz).
    #[serde(default = "default_rate_target")]
    pub reg_target_hz: f64,
    #[serde(default)]
    pub reg_average: RateAverage,
    #[serde(default)]
    pub precision: Precision,
    #[serde(default)]
    pub seed: u64,
    /// Worker threads (0 = all cores). Results do not depend on it.
    #[serde(default)]
    pub threads: usize,
    #[serde(default)]
    pub restore_best: bool,
    /// Train on a hardware model (per-trial mode only): every batch runs on a chip (in the loop:
    /// chip `chip_seed`; hardware-aware: a fresh one, updates chained to the shadow weights through
    /// the quantiser) that computes its own eligibility traces and learning signals (on-chip
    /// learning); the updates are applied to the shadow weights. Validation runs on chip
    /// `chip_seed`. None = ideal training.
    #[serde(default)]
    pub hardware: Option<crate::hardware::HardwareTraining>,
}

impl EpropConfig {
    pub fn validate(&self, net: &RsnnNetwork) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::param("epochs", "at least 1", 0));
        }
        if self.batch_size == 0 {
            return Err(Error::param("batch_size", "at least 1", 0));
        }
        if let Some(h) = &self.hardware {
            h.spec.validate_for_params()?;
            if h.spec.tau_mismatch != 0.0 {
                return Err(Error::param(
                    "tau_mismatch",
                    "0 for e-prop training (its eligibility traces share one membrane time constant \
                     per layer, so a chip's per-neuron time constants cannot be followed)",
                    h.spec.tau_mismatch,
                ));
            }
            if self.mode == Mode::Online {
                return Err(Error::param(
                    "mode",
                    "per_trial with a hardware model (the chip's parameters are drawn per batch)",
                    "online",
                ));
            }
        }
        let nonneg = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(Error::param(name, "a finite value >= 0", v))
            }
        };
        nonneg("lr", self.lr)?;
        nonneg("reg_rate", self.reg_rate)?;
        nonneg("reg_target_hz", self.reg_target_hz)?;
        if !(0.0..1.0).contains(&self.feedback_decay) {
            return Err(Error::param(
                "feedback_decay",
                "a value in [0, 1)",
                self.feedback_decay,
            ));
        }
        let (b1, b2) = self.betas;
        for (name, b) in [("betas[0]", b1), ("betas[1]", b2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::param(name, "a value in [0, 1)", b));
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::param("eps", "a finite value > 0", self.eps));
        }
        if let Some(sd) = self.feedback_sd {
            if !(sd.is_finite() && sd > 0.0) {
                return Err(Error::param("feedback_sd", "a finite value > 0", sd));
            }
        }
        if !matches!(self.loss.kind, LossKind::Mse | LossKind::CePerStep) {
            return Err(Error::param(
                "loss",
                "mse or ce_per_step (e-prop needs an error at each step)",
                format!("{:?}", self.loss.kind),
            ));
        }
        if self.mode == Mode::Online
            && self.reg_rate > 0.0
            && self.reg_average == RateAverage::Batch
        {
            return Err(Error::param(
                "reg_average",
                "running for online mode (the batch average is only known at the end of a trial)",
                "batch",
            ));
        }
        self.surrogate.validate()?;
        check_network(net)
    }
}

/// e-prop trains one recurrent layer of LIF or Bellec-ALIF neurons (reset by subtraction, no
/// synaptic current, one membrane time constant per layer) and a leaky readout with one time constant.
/// Time constants are not trained.
pub fn check_network(net: &RsnnNetwork) -> Result<()> {
    let spec = &net.spec;
    if spec.layers.len() != 1 {
        return Err(Error::param(
            "network.layers",
            "exactly one spiking layer for e-prop",
            format!("{} layers", spec.layers.len()),
        ));
    }
    let l = &spec.layers[0];
    if l.tau_syn.is_some() {
        return Err(Error::param(
            "layers[0].tau_syn",
            "None for e-prop (current-based synapses are not supported)",
            format!("{:?}", l.tau_syn),
        ));
    }
    if !matches!(l.adaptation, Adaptation::None | Adaptation::Bellec) {
        return Err(Error::param(
            "layers[0].adaptation",
            "none (LIF) or bellec (ALIF) for e-prop",
            format!("{:?}", l.adaptation),
        ));
    }
    for (name, p) in [("layers[0].p_in", l.p_in), ("layers[0].p_rec", l.p_rec)] {
        if p < 1.0 {
            return Err(Error::param(
                name,
                "1 for e-prop (sparse projections are trained with BPTT only)",
                p,
            ));
        }
    }
    if l.reset != Reset::Subtract {
        return Err(Error::param(
            "layers[0].reset",
            "subtract for e-prop",
            format!("{:?}", l.reset),
        ));
    }
    if l.train_tau_mem || l.train_tau_adapt || l.train_tau_syn {
        return Err(Error::param(
            "layers[0].train_tau_*",
            "false (e-prop trains weights and biases only)",
            true,
        ));
    }
    let Some(r) = &spec.readout else {
        return Err(Error::param(
            "network.readout",
            "a leaky readout (e-prop's learning signal comes from it)",
            "None",
        ));
    };
    if r.train_tau {
        return Err(Error::param(
            "readout.train_tau",
            "false (e-prop trains weights and biases only)",
            true,
        ));
    }
    let o = &net.layout.layers[0];
    let same = |name: &str, v: &[f64]| {
        if v.iter().all(|x| *x == v[0]) {
            Ok(())
        } else {
            Err(Error::param(
                name,
                "one value for the whole layer (e-prop shares the presynaptic traces)",
                "different values per neuron",
            ))
        }
    };
    same("layers[0].tau_mem", &net.params[o.tau_mem.clone()])?;
    if let Some(ro) = &net.layout.readout {
        same("readout.tau", &net.params[ro.tau.clone()])?;
    }
    Ok(())
}
