//! The DECOLLE network description, its flat parameter vector and seeded initialisation.
//!
//! Parameters live in one `f64` vector: for every layer its weights `W_l` (`[n_pre, n_l]`, a row per
//! presynaptic unit, as in [`crate::rsnn::network`]) and biases `b_l` (the trainable part,
//! `0..n_trainable`), then every layer's fixed random readout `G_l` (`[n_l, n_outputs]`, a row per
//! neuron), which no optimiser ever touches.

use crate::error::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::ops::Range;

fn default_tau_syn() -> Vec<f64> {
    vec![12.5e-3]
}
fn default_tau_mem() -> Vec<f64> {
    vec![33e-3]
}
fn default_tau_ref() -> Vec<f64> {
    // exp(-1 ms / tau_ref) = 0.65, DECOLLE's alpharp.
    vec![1e-3 / (1.0f64 / 0.65).ln()]
}
fn default_one() -> f64 {
    1.0
}
fn default_readout_gain() -> f64 {
    0.5
}

/// A stack of DECOLLE LIF layers with fixed random readouts (times in seconds). Each time constant
/// is one value for every layer or one value per layer (as the reference's per-layer lists).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecolleSpec {
    pub n_inputs: usize,
    /// Neurons per layer, input side first.
    pub sizes: Vec<usize>,
    /// Outputs of every layer's readout (the classes).
    pub n_outputs: usize,
    /// Simulation step (s).
    pub dt: f64,
    /// Synaptic trace time constants (s): `beta = exp(-dt/tau_syn)`.
    #[serde(default = "default_tau_syn")]
    pub tau_syn: Vec<f64>,
    /// Membrane trace time constants (s): `alpha = exp(-dt/tau_mem)`.
    #[serde(default = "default_tau_mem")]
    pub tau_mem: Vec<f64>,
    /// Refractory trace time constants (s): `alpharp = exp(-dt/tau_ref)`.
    #[serde(default = "default_tau_ref")]
    pub tau_ref: Vec<f64>,
    /// Refractory weight `wrp` (voltage units per spike).
    #[serde(default = "default_one")]
    pub wrp: f64,
    /// Initial weights ~ U(-gain / sqrt(n_pre), gain / sqrt(n_pre)); biases start at 0.
    #[serde(default = "default_one")]
    pub gain: f64,
    /// Readouts ~ U(-a, a) with `a = readout_gain / sqrt(n_l)` (DECOLLE's `lc_ampl`, 0.5).
    #[serde(default = "default_readout_gain")]
    pub readout_gain: f64,
    /// The last layer's readout reads `sigmoid(U)` instead of the spikes (as the reference's
    /// `LenetDECOLLE` does), so its output and its local gradient are smooth.
    #[serde(default)]
    pub sigmoid_readout: bool,
}

/// Where one layer's tensors sit in the flat vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerOffsets {
    pub n_pre: usize,
    pub n: usize,
    pub w: Range<usize>,
    pub bias: Range<usize>,
    pub readout: Range<usize>,
}

/// The layout of the flat vector: trainable `0..n_trainable`, fixed readouts `n_trainable..len`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub layers: Vec<LayerOffsets>,
    pub n_outputs: usize,
    pub n_trainable: usize,
    pub len: usize,
}

impl Layout {
    /// Every tensor: its name (`layers.0.w`, `layers.0.bias`, `layers.0.readout`), shape and range.
    pub fn tensors(&self) -> Vec<(String, Vec<usize>, Range<usize>)> {
        let mut out = Vec::new();
        for (l, o) in self.layers.iter().enumerate() {
            out.push((format!("layers.{l}.w"), vec![o.n_pre, o.n], o.w.clone()));
            out.push((format!("layers.{l}.bias"), vec![o.n], o.bias.clone()));
        }
        for (l, o) in self.layers.iter().enumerate() {
            let shape = vec![o.n, self.n_outputs];
            out.push((format!("layers.{l}.readout"), shape, o.readout.clone()));
        }
        out
    }
}

impl DecolleSpec {
    /// Check every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if self.n_inputs == 0 {
            return Err(Error::param("n_inputs", "at least 1 input", 0));
        }
        if self.sizes.is_empty() {
            return Err(Error::param("sizes", "at least one layer", "none"));
        }
        if let Some(l) = self.sizes.iter().position(|&n| n == 0) {
            return Err(Error::param(format!("sizes[{l}]"), "at least 1 neuron", 0));
        }
        if self.n_outputs == 0 {
            return Err(Error::param("n_outputs", "at least 1 output", 0));
        }
        crate::error::ensure_positive("dt", self.dt)?;
        let nl = self.sizes.len();
        for (name, taus) in [
            ("tau_syn", &self.tau_syn),
            ("tau_mem", &self.tau_mem),
            ("tau_ref", &self.tau_ref),
        ] {
            if taus.len() != 1 && taus.len() != nl {
                return Err(Error::shape(
                    name,
                    format!("one time constant or one per layer ({nl})"),
                    format!("{} values", taus.len()),
                ));
            }
            for (l, &v) in taus.iter().enumerate() {
                crate::error::ensure_positive(&format!("{name}[{l}]"), v)?;
            }
        }
        for (name, v) in [
            ("wrp", self.wrp),
            ("gain", self.gain),
            ("readout_gain", self.readout_gain),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::param(name, "a finite value >= 0", v));
            }
        }
        Ok(())
    }

    /// The decay factors `(beta, alpha, alpharp)` per step of layer `l`.
    pub fn decays(&self, l: usize) -> (f64, f64, f64) {
        let d = |taus: &[f64]| (-self.dt / taus[l.min(taus.len() - 1)]).exp();
        (d(&self.tau_syn), d(&self.tau_mem), d(&self.tau_ref))
    }

    pub fn layout(&self) -> Layout {
        let mut at = 0;
        let mut take = |len: usize| {
            let r = at..at + len;
            at += len;
            r
        };
        let mut layers = Vec::new();
        let mut n_pre = self.n_inputs;
        for &n in &self.sizes {
            layers.push(LayerOffsets {
                n_pre,
                n,
                w: take(n_pre * n),
                bias: take(n),
                readout: 0..0,
            });
            n_pre = n;
        }
        let n_trainable = take(0).start;
        for o in &mut layers {
            o.readout = take(o.n * self.n_outputs);
        }
        Layout {
            layers,
            n_outputs: self.n_outputs,
            n_trainable,
            len: take(0).start,
        }
    }
}

/// A DECOLLE network: description, layout and parameters (trainable ones, then fixed readouts).
#[derive(Clone, Debug, PartialEq)]
pub struct DecolleNetwork {
    pub spec: DecolleSpec,
    pub layout: Layout,
    pub params: Vec<f64>,
}

impl DecolleNetwork {
    /// Seeded initialisation (laws in [`DecolleSpec`]).
    pub fn new(spec: DecolleSpec, seed: u64) -> Result<Self> {
        spec.validate()?;
        let layout = spec.layout();
        let mut params = vec![0.0; layout.len];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut uniform = |r: Range<usize>, a: f64, params: &mut [f64]| {
            for p in &mut params[r] {
                *p = a * (2.0 * rng.random::<f64>() - 1.0);
            }
        };
        for o in &layout.layers {
            uniform(
                o.w.clone(),
                spec.gain / (o.n_pre as f64).sqrt(),
                &mut params,
            );
        }
        for o in &layout.layers {
            let a = spec.readout_gain / (o.n as f64).sqrt();
            uniform(o.readout.clone(), a, &mut params);
        }
        Ok(DecolleNetwork {
            spec,
            layout,
            params,
        })
    }

    /// Replace all values (trainable and readouts), checking length and finiteness.
    pub fn set_params(&mut self, params: Vec<f64>) -> Result<()> {
        if params.len() != self.layout.len {
            return Err(Error::shape(
                "params",
                format!("{} values", self.layout.len),
                params.len(),
            ));
        }
        crate::error::ensure_all_finite("params", &params)?;
        self.params = params;
        Ok(())
    }

    pub fn n_layers(&self) -> usize {
        self.spec.sizes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn spec() -> DecolleSpec {
        serde_json::from_str(r#"{"n_inputs": 3, "sizes": [4, 2], "n_outputs": 2, "dt": 0.001}"#)
            .unwrap()
    }

    #[test]
    fn layout_defaults_and_init() {
        let s = spec();
        let (beta, alpha, alpharp) = s.decays(1);
        assert!((beta - 0.923).abs() < 1e-3 && (alpha - 0.970).abs() < 1e-3);
        assert!((alpharp - 0.65).abs() < 1e-12);
        let l = s.layout();
        assert_eq!(l.layers[0].w, 0..12);
        assert_eq!(l.layers[0].bias, 12..16);
        assert_eq!(l.layers[1].w, 16..24);
        assert_eq!(l.n_trainable, 26);
        assert_eq!(l.layers[0].readout, 26..34);
        assert_eq!(l.len, 38);
        let a = DecolleNetwork::new(s.clone(), 1).unwrap();
        assert_eq!(a, DecolleNetwork::new(s.clone(), 1).unwrap());
        assert_ne!(a.params, DecolleNetwork::new(s, 2).unwrap().params);
        let bound = 1.0 / 3f64.sqrt();
        assert!(a.params[0..12].iter().all(|w| w.abs() <= bound));
        assert!(a.params[12..16].iter().all(|b| *b == 0.0));
        assert!(a.params[26..34]
            .iter()
            .all(|g| g.abs() <= 0.25 && *g != 0.0));
    }

    #[test]
    fn validation_names_the_field() {
        let mut s = spec();
        s.sizes[1] = 0;
        assert!(s.validate().unwrap_err().to_string().contains("sizes[1]"));
        let mut s = spec();
        s.tau_ref = vec![1e-3, -1.0];
        assert!(s.validate().unwrap_err().to_string().contains("tau_ref[1]"));
        s.tau_ref = vec![1e-3; 3];
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("one per layer (2)"));
        let bad = serde_json::from_str::<DecolleSpec>(
            r#"{"n_inputs": 3, "sizes": [4], "n_outputs": 2, "dt": 0.001, "tau": 1}"#,
        );
        assert!(bad.is_err());
    }
}
