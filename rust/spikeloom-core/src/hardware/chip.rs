//! The chip family ([`HardwareSpec`]) and one sampled instance ([`Chip`]) with its frozen
//! fixed-pattern mismatch.

use super::Quantizer;
use crate::engine::{Layer, Network};
use crate::error::{Error, Result};
use crate::spike_time::{Kernel, LifParams};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// Smallest mismatch gain: relative Gaussian gains `1 + sd z` are truncated here so that no
/// parameter changes sign (reached only at z < -4.75 for sd = 0.2).
pub const MIN_GAIN: f64 = 0.05;

/// A family of chips: resolution, range, mismatch spreads and trial noise. Spreads are relative
/// standard deviations (0.1 = 10 %); times are in seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardwareSpec {
    /// Bits of weight magnitude (plus a sign); None = float weights.
    #[serde(default)]
    pub bits: Option<u32>,
    /// Largest weight magnitude; weights are clipped to it. None = unlimited.
    #[serde(default)]
    pub weight_range: Option<f64>,
    /// Relative sd of every synapse's gain.
    #[serde(default)]
    pub weight_mismatch: f64,
    /// Relative sd of every neuron's threshold.
    #[serde(default)]
    pub threshold_mismatch: f64,
    /// Relative sd of every neuron's time constants (tau_mem and tau_syn scaled together).
    #[serde(default)]
    pub tau_mismatch: f64,
    /// Sd of the Gaussian jitter of every spike time (input and emitted), seconds; new every trial.
    #[serde(default)]
    pub jitter: f64,
    /// Probability that an input or hidden spike is lost, new every trial.
    #[serde(default)]
    pub spike_loss: f64,
    /// Membrane noise, new every trial: the stationary sd of each free membrane's fluctuation,
    /// relative to the threshold (an Ornstein-Uhlenbeck process with the membrane time constant;
    /// clock-driven BPTT networks only, see `rsnn::forward::Model::with_membrane_noise`).
    #[serde(default)]
    pub membrane_noise: f64,
}

impl HardwareSpec {
    /// Check every field; names the offending one.
    pub fn validate(&self) -> Result<()> {
        self.quantizer()?;
        self.validate_spreads()?;
        self.no_membrane_noise("the exact spike-time engines (TTFS, alpha)")
    }

    /// Refuse membrane noise for `what`, which does not simulate it (naming the field).
    pub fn no_membrane_noise(&self, what: &str) -> Result<()> {
        if self.membrane_noise != 0.0 {
            return Err(Error::param(
                "membrane_noise",
                format!(
                    "0 for {what} (membrane noise is simulated by the clock-driven BPTT networks)"
                ),
                self.membrane_noise,
            ));
        }
        Ok(())
    }

    /// [`HardwareSpec::validate`] for parameter-based networks, where `bits` without a range
    /// quantises each weight tensor over its own largest magnitude (see [`super::ParamChip`]).
    pub fn validate_for_params(&self) -> Result<()> {
        Quantizer::new(
            self.bits.filter(|_| self.weight_range.is_some()),
            self.weight_range.unwrap_or(f64::INFINITY),
        )?;
        if let Some(b) = self.bits {
            Quantizer::new(Some(b), 1.0)?;
        }
        self.validate_spreads()
    }

    fn validate_spreads(&self) -> Result<()> {
        for (name, v) in [
            ("weight_mismatch", self.weight_mismatch),
            ("threshold_mismatch", self.threshold_mismatch),
            ("tau_mismatch", self.tau_mismatch),
            ("jitter", self.jitter),
            ("membrane_noise", self.membrane_noise),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::param(name, "a finite value >= 0", v));
            }
        }
        if !(0.0..1.0).contains(&self.spike_loss) {
            return Err(Error::param(
                "spike_loss",
                "a probability in [0, 1)",
                self.spike_loss,
            ));
        }
        Ok(())
    }

    /// The weight quantiser of this family.
    pub fn quantizer(&self) -> Result<Quantizer> {
        Quantizer::new(self.bits, self.weight_range.unwrap_or(f64::INFINITY))
    }

    /// True when a trial draws random numbers (jitter or lost spikes).
    pub fn has_trial_noise(&self) -> bool {
        self.jitter > 0.0 || self.spike_loss > 0.0
    }
}

/// Frozen mismatch of one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerMismatch {
    /// Gain of every synapse, `[n_out, width]` row-major (bias columns included).
    pub weight_gain: Vec<f64>,
    /// Gain of every neuron's threshold.
    pub threshold_gain: Vec<f64>,
    /// Gain of every neuron's time constants.
    pub tau_gain: Vec<f64>,
}

/// One chip instance: a spec plus the mismatch drawn for a network of a given shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Chip {
    pub spec: HardwareSpec,
    pub quantizer: Quantizer,
    pub seed: u64,
    pub layers: Vec<LayerMismatch>,
}

fn gains(rng: &mut ChaCha8Rng, n: usize, sd: f64) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let z: f64 = StandardNormal.sample(rng);
            if sd == 0.0 {
                1.0
            } else {
                (1.0 + sd * z).max(MIN_GAIN)
            }
        })
        .collect()
}

impl Chip {
    /// Draw the chip instance `seed` for `net`'s shape. Per layer, in order: synapse gains (row
    /// after row), threshold gains, time-constant gains, all from one ChaCha8 stream of `seed`
    /// (numbers are drawn even for zero spreads, so changing one spread leaves the others' draws alone).
    pub fn sample(spec: &HardwareSpec, net: &Network, seed: u64) -> Result<Chip> {
        spec.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let layers = net
            .layers()
            .iter()
            .map(|l| LayerMismatch {
                weight_gain: gains(&mut rng, l.weights.len(), spec.weight_mismatch),
                threshold_gain: gains(&mut rng, l.n_out, spec.threshold_mismatch),
                tau_gain: gains(&mut rng, l.n_out, spec.tau_mismatch),
            })
            .collect();
        Ok(Chip {
            spec: spec.clone(),
            quantizer: spec.quantizer()?,
            seed,
            layers,
        })
    }

    /// Check that the chip was drawn for a network of `net`'s shape.
    pub fn check(&self, net: &Network) -> Result<()> {
        let ok = self.layers.len() == net.layers().len()
            && self.layers.iter().zip(net.layers()).all(|(m, l)| {
                m.weight_gain.len() == l.weights.len() && m.tau_gain.len() == l.n_out
            });
        if ok {
            Ok(())
        } else {
            Err(Error::shape(
                "chip",
                "a chip sampled for this network's layer sizes",
                format!("a chip with {} layers of other sizes", self.layers.len()),
            ))
        }
    }

    /// True when some neuron's time constants differ from the nominal ones.
    pub fn has_tau_mismatch(&self) -> bool {
        self.layers
            .iter()
            .any(|m| m.tau_gain.iter().any(|&g| g != 1.0))
    }

    /// The network the chip runs for the float (shadow) weights of `net`: weights quantised, times
    /// the synapse gain, divided by the threshold gain of their neuron (exactly a threshold of
    /// `theta g_k`, see the module docs). Same neuron, kernel and bias times.
    pub fn effective(&self, net: &Network) -> Result<Network> {
        self.check(net)?;
        let layers = net
            .layers()
            .iter()
            .zip(&self.layers)
            .map(|(l, m)| {
                let width = l.width();
                let weights = l
                    .weights
                    .iter()
                    .zip(&m.weight_gain)
                    .enumerate()
                    .map(|(i, (&w, &g))| self.quantizer.apply(w) * g / m.threshold_gain[i / width])
                    .collect();
                Layer {
                    weights,
                    ..l.clone()
                }
            })
            .collect();
        Network::from_layers(net.neuron(), layers)
    }

    /// d w_eff / d w of every weight (flat, layer after layer), straight through the quantiser.
    pub fn chain(&self, net: &Network, out: &mut Vec<f64>) {
        out.clear();
        for (l, m) in net.layers().iter().zip(&self.layers) {
            let width = l.width();
            out.extend(
                l.weights
                    .iter()
                    .zip(&m.weight_gain)
                    .enumerate()
                    .map(|(i, (&w, &g))| {
                        self.quantizer.straight_through(w) * g / m.threshold_gain[i / width]
                    }),
            );
        }
    }

    /// The kernel of neuron `k` of layer `l` (nominal time constants times the neuron's gain).
    pub fn neuron_kernel(&self, neuron: LifParams, l: usize, k: usize) -> Result<Kernel> {
        let g = self.layers[l].tau_gain[k];
        LifParams {
            tau_mem: neuron.tau_mem * g,
            tau_syn: neuron.tau_syn * g,
            threshold: neuron.threshold,
        }
        .kernel()
    }
}
