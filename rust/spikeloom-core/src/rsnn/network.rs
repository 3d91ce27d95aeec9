//! Recurrent spiking networks: the layer description, the flat parameter vector and its layout,
//! validation and seeded initialisation.
//!
//! One layer `l` of size `n`, fed by `n_pre` units (the inputs, or layer `l - 1`), advances by one step
//! `dt` as (all per neuron, `z[t-1]` the layer's previous spikes, `x[t]` this step's input):
//!
//! ```text
//! I[t]     = b + W_in^T x[t] + W_rec^T z[t-1]              (W_rec's diagonal is masked)
//! i[t]     = alpha_s i[t-1] + I[t]     ; d = i[t]           (current-based synapse: `synapse = true`)
//!                                       d = I[t]            (otherwise)
//! a[t]     = rho a[t-1] + c_a z[t-1]   ; c_a = 1 (Bellec) or 1 - rho (Yin)
//! theta[t] = theta_0 + beta a[t]
//! u[t]     = alpha m[t] u[t-1] + zeta d - r[t]
//!            m[t] = 1 - z[t-1] (reset `zero`), else 1
//!            r[t] = theta_0 z[t-1] (reset `subtract`), theta[t] z[t-1] (`subtract_adaptive`), 0 (`zero`)
//!            zeta = 1 (`input_scale = one`) or 1 - alpha (`one_minus_alpha`)
//! z[t]     = H(u[t] - theta[t])
//! ```
//! with `alpha = exp(-dt/tau_mem)`, `alpha_s = exp(-dt/tau_syn)`, `rho = exp(-dt/tau_adapt)`, one time
//! constant per neuron. The leaky-integrator readout is `y[t] = kappa y[t-1] + zeta_o (b_o + W_out^T
//! z_L[t])` with `kappa = exp(-dt/tau_out)`. All states start at zero.
//!
//! Bellec's ALIF (e-prop) is `adaptation = bellec, reset = subtract`; Yin's is `adaptation = yin,
//! reset = subtract_adaptive, input_scale = one_minus_alpha`; SpyTorch's current-based LIF is
//! `synapse = true, input_scale = one, adaptation = none`.
//!
//! Parameters live in one `f64` vector: every weight tensor first (the "weights" group), then every
//! time constant (the "taus" group), so each optimiser group is one contiguous range.

use super::connectivity::{Csr, LayerConnectivity};
use crate::error::{Error, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// How the membrane is reset after a spike.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reset {
    /// `u -= theta_0` (reset by subtraction of the base threshold).
    #[default]
    Subtract,
    /// `u -= theta[t]` (subtract the current adaptive threshold; Yin et al.).
    SubtractAdaptive,
    /// The leak term is multiplied by `1 - z[t-1]` (reset to zero).
    Zero,
}

/// How the synaptic drive enters the membrane.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputScale {
    /// `zeta = 1` (SpyTorch, snnTorch, e-prop's NEST form).
    #[default]
    One,
    /// `zeta = 1 - alpha` (Yin et al., Bellec's TF code, DECOLLE).
    OneMinusAlpha,
}

/// Threshold adaptation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Adaptation {
    #[default]
    None,
    /// `a[t] = rho a[t-1] + z[t-1]` (Bellec et al. 2018/2020).
    Bellec,
    /// `a[t] = rho a[t-1] + (1 - rho) z[t-1]` (Yin et al. 2021).
    Yin,
}

fn default_true() -> bool {
    true
}
fn default_one() -> f64 {
    1.0
}

/// One hidden (spiking) layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSpec {
    pub size: usize,
    #[serde(default = "default_true")]
    pub recurrent: bool,
    #[serde(default = "default_one")]
    pub threshold: f64,
    #[serde(default)]
    pub reset: Reset,
    #[serde(default)]
    pub input_scale: InputScale,
    /// Mean and spread (Gaussian, clipped to the valid range) of the initial membrane time constants (s).
    pub tau_mem: f64,
    #[serde(default)]
    pub tau_mem_sd: f64,
    /// Current-based synapse time constant (s); `None` = the input current enters the membrane directly.
    #[serde(default)]
    pub tau_syn: Option<f64>,
    #[serde(default)]
    pub tau_syn_sd: f64,
    #[serde(default)]
    pub adaptation: Adaptation,
    /// Adaptation strength beta (threshold units per unit of `a`).
    #[serde(default)]
    pub beta: f64,
    /// Adaptation time constant (s); required when `adaptation` is not `none`.
    #[serde(default)]
    pub tau_adapt: Option<f64>,
    #[serde(default)]
    pub tau_adapt_sd: f64,
    #[serde(default)]
    pub train_tau_mem: bool,
    #[serde(default)]
    pub train_tau_syn: bool,
    #[serde(default)]
    pub train_tau_adapt: bool,
    /// Initial feed-forward weights ~ N(0, (gain / sqrt(fan_in))^2).
    #[serde(default = "default_one")]
    pub gain: f64,
    /// Initial recurrent weights ~ N(0, (rec_gain / sqrt(size))^2).
    #[serde(default = "default_one")]
    pub rec_gain: f64,
    /// Connection probability of the input projection (1 = dense; see
    /// [`super::connectivity`]). Kept weights start ~ N(0, (gain / sqrt(p_in n_pre))^2).
    #[serde(default = "default_one")]
    pub p_in: f64,
    /// Connection probability of the recurrent projection (1 = dense, self-connections excluded
    /// either way). Kept weights start ~ N(0, (rec_gain / sqrt(p_rec size))^2).
    #[serde(default = "default_one")]
    pub p_rec: f64,
}

/// The leaky-integrator readout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadoutSpec {
    pub size: usize,
    pub tau: f64,
    #[serde(default)]
    pub tau_sd: f64,
    #[serde(default)]
    pub input_scale: InputScale,
    #[serde(default)]
    pub train_tau: bool,
    #[serde(default = "default_one")]
    pub gain: f64,
}

fn default_tau_max() -> f64 {
    10.0
}

/// A whole network: inputs, spiking layers, and an optional readout (without one, the last layer's
/// spikes are the output, e.g. for a spike-count loss).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub n_inputs: usize,
    /// Simulation step (s).
    pub dt: f64,
    pub layers: Vec<LayerSpec>,
    #[serde(default)]
    pub readout: Option<ReadoutSpec>,
    /// Time constants are kept in `[tau_min, tau_max]` (s); `tau_min` defaults to `dt`.
    #[serde(default)]
    pub tau_min: Option<f64>,
    #[serde(default = "default_tau_max")]
    pub tau_max: f64,
    /// Seed of the sparse connectivity of layers with `p_in` or `p_rec` below 1.
    #[serde(default)]
    pub connectivity_seed: u64,
}

/// Where one layer's tensors sit in the flat parameter vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerOffsets {
    pub n_pre: usize,
    pub n: usize,
    pub w_in: Range<usize>,
    pub w_rec: Range<usize>,
    pub bias: Range<usize>,
    pub tau_mem: Range<usize>,
    pub tau_syn: Range<usize>,
    pub tau_adapt: Range<usize>,
}

/// Where the readout's tensors sit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadoutOffsets {
    pub n_pre: usize,
    pub n: usize,
    pub w: Range<usize>,
    pub bias: Range<usize>,
    pub tau: Range<usize>,
}

/// The layout of the flat parameter vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub layers: Vec<LayerOffsets>,
    pub readout: Option<ReadoutOffsets>,
    /// `0..n_weights` is the weights group, `n_weights..len` the time constants.
    pub n_weights: usize,
    pub len: usize,
}

impl Layout {
    /// Every tensor: its name (`layers.0.w_in`, `readout.tau`, ...), shape and range in the flat
    /// vector. Weight matrices are `[n_pre, n_post]` (a row per presynaptic unit). Empty tensors are
    /// left out.
    pub fn tensors(&self) -> Vec<(String, Vec<usize>, Range<usize>)> {
        let mut out = Vec::new();
        for (l, o) in self.layers.iter().enumerate() {
            let mut push = |name: &str, shape: Vec<usize>, r: &Range<usize>| {
                if !r.is_empty() {
                    out.push((format!("layers.{l}.{name}"), shape, r.clone()));
                }
            };
            push("w_in", vec![o.n_pre, o.n], &o.w_in);
            push("w_rec", vec![o.n, o.n], &o.w_rec);
            push("bias", vec![o.n], &o.bias);
            push("tau_mem", vec![o.n], &o.tau_mem);
            push("tau_syn", vec![o.n], &o.tau_syn);
            push("tau_adapt", vec![o.n], &o.tau_adapt);
        }
        if let Some(r) = &self.readout {
            out.push(("readout.w".into(), vec![r.n_pre, r.n], r.w.clone()));
            out.push(("readout.bias".into(), vec![r.n], r.bias.clone()));
            out.push(("readout.tau".into(), vec![r.n], r.tau.clone()));
        }
        out
    }
}

impl NetworkSpec {
    pub fn tau_min(&self) -> f64 {
        self.tau_min.unwrap_or(self.dt)
    }

    /// Check every field; errors name the field (`layers[1].tau_mem`).
    /// The sparse projections of every layer, drawn from `connectivity_seed` (one stream per
    /// projection).
    pub fn connectivity(&self) -> Vec<LayerConnectivity> {
        let mut n_pre = self.n_inputs;
        let mut out = Vec::with_capacity(self.layers.len());
        for (l, s) in self.layers.iter().enumerate() {
            let seed = self.connectivity_seed;
            let l = l as u64;
            out.push(LayerConnectivity {
                w_in: (s.p_in < 1.0)
                    .then(|| Csr::random(n_pre, s.size, s.p_in, false, seed, 2 * l)),
                w_rec: (s.recurrent && s.p_rec < 1.0)
                    .then(|| Csr::random(s.size, s.size, s.p_rec, true, seed, 2 * l + 1)),
            });
            n_pre = s.size;
        }
        out
    }

    pub fn validate(&self) -> Result<()> {
        let pos = |name: String, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::param(name, "a finite value > 0", v))
            }
        };
        if self.n_inputs == 0 {
            return Err(Error::param("n_inputs", "at least 1 input", 0));
        }
        pos("dt".into(), self.dt)?;
        if self.layers.is_empty() {
            return Err(Error::param("layers", "at least one spiking layer", "none"));
        }
        let (lo, hi) = (self.tau_min(), self.tau_max);
        pos("tau_min".into(), lo)?;
        if !(hi.is_finite() && hi > lo) {
            return Err(Error::param(
                "tau_max",
                format!("a finite value > tau_min = {lo}"),
                hi,
            ));
        }
        let in_range = |name: String, v: f64| {
            pos(name.clone(), v)?;
            if v < lo || v > hi {
                return Err(Error::param(
                    name,
                    format!("a time constant in [tau_min, tau_max] = [{lo}, {hi}] s"),
                    v,
                ));
            }
            Ok(())
        };
        let sd = |name: String, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(Error::param(name, "a finite spread >= 0", v))
            }
        };
        for (l, s) in self.layers.iter().enumerate() {
            let f = |field: &str| format!("layers[{l}].{field}");
            if s.size == 0 {
                return Err(Error::param(f("size"), "at least 1 neuron", 0));
            }
            pos(f("threshold"), s.threshold)?;
            for (name, p) in [("p_in", s.p_in), ("p_rec", s.p_rec)] {
                if !(p > 0.0 && p <= 1.0) {
                    return Err(Error::param(
                        f(name),
                        "a connection probability in (0, 1]",
                        p,
                    ));
                }
            }
            in_range(f("tau_mem"), s.tau_mem)?;
            sd(f("tau_mem_sd"), s.tau_mem_sd)?;
            sd(f("tau_syn_sd"), s.tau_syn_sd)?;
            sd(f("tau_adapt_sd"), s.tau_adapt_sd)?;
            if let Some(t) = s.tau_syn {
                in_range(f("tau_syn"), t)?;
            } else if s.train_tau_syn {
                return Err(Error::param(
                    f("train_tau_syn"),
                    "false when the layer has no synaptic current (tau_syn = None)",
                    true,
                ));
            }
            if !(s.beta.is_finite() && s.beta >= 0.0) {
                return Err(Error::param(f("beta"), "a finite value >= 0", s.beta));
            }
            match (s.adaptation, s.tau_adapt) {
                (Adaptation::None, None) => {
                    if s.train_tau_adapt {
                        return Err(Error::param(
                            f("train_tau_adapt"),
                            "false for a layer without adaptation",
                            true,
                        ));
                    }
                }
                (Adaptation::None, Some(t)) => {
                    return Err(Error::param(
                        f("tau_adapt"),
                        "None for a layer without adaptation (set adaptation to bellec or yin)",
                        t,
                    ))
                }
                (_, None) => {
                    return Err(Error::param(
                        f("tau_adapt"),
                        "an adaptation time constant for an adaptive layer",
                        "None",
                    ))
                }
                (_, Some(t)) => in_range(f("tau_adapt"), t)?,
            }
            if s.reset == Reset::SubtractAdaptive && s.adaptation == Adaptation::None {
                return Err(Error::param(
                    f("reset"),
                    "subtract or zero for a layer without adaptation (subtract_adaptive needs it)",
                    "subtract_adaptive",
                ));
            }
            if !(s.gain.is_finite() && s.gain >= 0.0) {
                return Err(Error::param(f("gain"), "a finite value >= 0", s.gain));
            }
            if !(s.rec_gain.is_finite() && s.rec_gain >= 0.0) {
                return Err(Error::param(
                    f("rec_gain"),
                    "a finite value >= 0",
                    s.rec_gain,
                ));
            }
        }
        if let Some(r) = &self.readout {
            if r.size == 0 {
                return Err(Error::param("readout.size", "at least 1 output", 0));
            }
            in_range("readout.tau".into(), r.tau)?;
            sd("readout.tau_sd".into(), r.tau_sd)?;
            if !(r.gain.is_finite() && r.gain >= 0.0) {
                return Err(Error::param("readout.gain", "a finite value >= 0", r.gain));
            }
        }
        Ok(())
    }

    /// Number of network outputs: the readout's size, or the last layer's.
    pub fn n_outputs(&self) -> usize {
        match &self.readout {
            Some(r) => r.size,
            None => self.layers.last().map_or(0, |l| l.size),
        }
    }

    /// The parameter layout (weights group first, then time constants).
    pub fn layout(&self) -> Layout {
        let mut at = 0;
        let mut take = |len: usize| {
            let r = at..at + len;
            at += len;
            r
        };
        let mut layers = Vec::new();
        let mut n_pre = self.n_inputs;
        for s in &self.layers {
            let n = s.size;
            let w_in = take(n_pre * n);
            let w_rec = take(if s.recurrent { n * n } else { 0 });
            let bias = take(n);
            layers.push(LayerOffsets {
                n_pre,
                n,
                w_in,
                w_rec,
                bias,
                tau_mem: 0..0,
                tau_syn: 0..0,
                tau_adapt: 0..0,
            });
            n_pre = n;
        }
        let mut readout = self.readout.as_ref().map(|r| ReadoutOffsets {
            n_pre,
            n: r.size,
            w: take(n_pre * r.size),
            bias: take(r.size),
            tau: 0..0,
        });
        let n_weights = take(0).start;
        for (s, o) in self.layers.iter().zip(&mut layers) {
            o.tau_mem = take(o.n);
            o.tau_syn = take(if s.tau_syn.is_some() { o.n } else { 0 });
            o.tau_adapt = take(if s.adaptation != Adaptation::None {
                o.n
            } else {
                0
            });
        }
        if let Some(r) = &mut readout {
            r.tau = take(r.n);
        }
        let len = take(0).start;
        Layout {
            layers,
            readout,
            n_weights,
            len,
        }
    }
}

/// A recurrent spiking network: its description and its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct RsnnNetwork {
    pub spec: NetworkSpec,
    pub layout: Layout,
    pub params: Vec<f64>,
    /// Per layer: the sparse projections (from the description; see [`super::connectivity`]).
    pub conn: Vec<LayerConnectivity>,
}

impl RsnnNetwork {
    /// A network with seeded random weights and time constants (see [`LayerSpec`] for the laws).
    pub fn new(spec: NetworkSpec, seed: u64) -> Result<Self> {
        spec.validate()?;
        let layout = spec.layout();
        let mut params = vec![0.0; layout.len];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (lo, hi) = (spec.tau_min(), spec.tau_max);
        let normal = |rng: &mut ChaCha8Rng, sd: f64| -> f64 {
            if sd == 0.0 {
                0.0
            } else {
                Normal::new(0.0, sd).map_or(0.0, |d| d.sample(rng))
            }
        };
        for (s, o) in spec.layers.iter().zip(&layout.layers) {
            let sd_in = s.gain / (o.n_pre as f64).sqrt();
            for w in &mut params[o.w_in.clone()] {
                *w = normal(&mut rng, sd_in);
            }
            let sd_rec = s.rec_gain / (o.n as f64).sqrt();
            for (idx, w) in params[o.w_rec.clone()].iter_mut().enumerate() {
                let v = normal(&mut rng, sd_rec);
                *w = if idx / o.n == idx % o.n { 0.0 } else { v };
            }
            let mut taus = |range: Range<usize>, mean: f64, sd: f64, rng: &mut ChaCha8Rng| {
                for t in &mut params[range] {
                    *t = (mean + normal(rng, sd)).clamp(lo, hi);
                }
            };
            taus(o.tau_mem.clone(), s.tau_mem, s.tau_mem_sd, &mut rng);
            if let Some(ts) = s.tau_syn {
                taus(o.tau_syn.clone(), ts, s.tau_syn_sd, &mut rng);
            }
            if let Some(ta) = s.tau_adapt {
                taus(o.tau_adapt.clone(), ta, s.tau_adapt_sd, &mut rng);
            }
        }
        if let (Some(r), Some(o)) = (&spec.readout, &layout.readout) {
            let sd = r.gain / (o.n_pre as f64).sqrt();
            for w in &mut params[o.w.clone()] {
                *w = normal(&mut rng, sd);
            }
            for t in &mut params[o.tau.clone()] {
                *t = (r.tau + normal(&mut rng, r.tau_sd)).clamp(lo, hi);
            }
        }
        let mut net = RsnnNetwork {
            conn: spec.connectivity(),
            spec,
            layout,
            params,
        };
        net.rescale_sparse_init();
        net.mask_diagonals();
        Ok(net)
    }

    /// Replace the parameters (e.g. loaded from a file), checking length and finiteness, masking the
    /// recurrent diagonals and refusing time constants outside `[tau_min, tau_max]`.
    pub fn set_params(&mut self, params: Vec<f64>) -> Result<()> {
        if params.len() != self.layout.len {
            return Err(Error::shape(
                "params",
                format!("{} values", self.layout.len),
                params.len(),
            ));
        }
        crate::error::ensure_all_finite("params", &params)?;
        let (lo, hi) = (self.spec.tau_min(), self.spec.tau_max);
        if let Some(i) = params[self.layout.n_weights..]
            .iter()
            .position(|t| *t < lo || *t > hi)
        {
            return Err(Error::param(
                "time constants",
                format!("values in [tau_min, tau_max] = [{lo}, {hi}] s"),
                params[self.layout.n_weights + i],
            ));
        }
        self.params = params;
        self.mask_diagonals();
        Ok(())
    }

    /// Zero the recurrent self-connections, and the weights of synapses that a sparse projection
    /// does not have.
    pub fn mask_diagonals(&mut self) {
        for (o, c) in self.layout.layers.iter().zip(&self.conn) {
            if !o.w_rec.is_empty() {
                for k in 0..o.n {
                    self.params[o.w_rec.start + k * o.n + k] = 0.0;
                }
            }
            for (csr, range) in [(&c.w_in, &o.w_in), (&c.w_rec, &o.w_rec)] {
                if let Some(csr) = csr {
                    // Zero each row between its kept synapses (targets are increasing).
                    let block = &mut self.params[range.clone()];
                    for (j, row) in block.chunks_exact_mut(csr.n).enumerate() {
                        let mut next = 0;
                        for &k in csr.targets(j) {
                            row[next..k as usize].iter_mut().for_each(|w| *w = 0.0);
                            next = k as usize + 1;
                        }
                        row[next..].iter_mut().for_each(|w| *w = 0.0);
                    }
                }
            }
        }
    }

    /// Scale the initial weights of sparse projections by `1 / sqrt(p)`, so that the expected input
    /// variance matches the dense layer's (the kept synapses are a fraction `p` of the fan-in).
    fn rescale_sparse_init(&mut self) {
        for ((o, c), s) in self
            .layout
            .layers
            .iter()
            .zip(&self.conn)
            .zip(&self.spec.layers)
        {
            for (csr, range, p) in [(&c.w_in, &o.w_in, s.p_in), (&c.w_rec, &o.w_rec, s.p_rec)] {
                if csr.is_some() {
                    let f = 1.0 / p.sqrt();
                    self.params[range.clone()].iter_mut().for_each(|w| *w *= f);
                }
            }
        }
    }

    /// Clamp every time constant into `[tau_min, tau_max]`.
    pub fn clamp_taus(&mut self) {
        let (lo, hi) = (self.spec.tau_min(), self.spec.tau_max);
        for t in &mut self.params[self.layout.n_weights..] {
            *t = t.clamp(lo, hi);
        }
    }

    pub fn n_outputs(&self) -> usize {
        self.spec.n_outputs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn spec() -> NetworkSpec {
        serde_json::from_str(
            r#"{"n_inputs": 3, "dt": 0.001,
                "layers": [{"size": 4, "tau_mem": 0.02, "tau_syn": 0.005},
                           {"size": 2, "recurrent": false, "tau_mem": 0.02, "adaptation": "bellec",
                            "beta": 0.5, "tau_adapt": 0.2}],
                "readout": {"size": 2, "tau": 0.02}}"#,
        )
        .unwrap()
    }

    #[test]
    fn layout_groups_weights_before_taus() {
        let l = spec().layout();
        assert_eq!(l.layers[0].w_in, 0..12);
        assert_eq!(l.layers[0].w_rec, 12..28);
        assert_eq!(l.layers[0].bias, 28..32);
        assert_eq!(l.layers[1].w_in, 32..40);
        assert_eq!(l.layers[1].w_rec, 40..40);
        let r = l.readout.clone().unwrap();
        assert_eq!(r.w, 42..46);
        assert_eq!(l.n_weights, 48);
        assert_eq!(l.layers[0].tau_mem, 48..52);
        assert_eq!(l.layers[0].tau_syn, 52..56);
        assert_eq!(l.layers[1].tau_adapt, 58..60);
        assert_eq!(r.tau, 60..62);
        assert_eq!(l.len, 62);
    }

    #[test]
    fn init_is_seeded_and_masks_the_diagonal() {
        let a = RsnnNetwork::new(spec(), 3).unwrap();
        let b = RsnnNetwork::new(spec(), 3).unwrap();
        let c = RsnnNetwork::new(spec(), 4).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.params, c.params);
        let o = &a.layout.layers[0];
        for k in 0..4 {
            assert_eq!(a.params[o.w_rec.start + 5 * k], 0.0);
        }
        assert!(a.params[o.tau_mem.clone()].iter().all(|t| *t == 0.02));
    }

    #[test]
    fn validation_names_the_field() {
        let mut s = spec();
        s.layers[1].tau_adapt = None;
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("layers[1].tau_adapt"), "{e}");
        let mut s = spec();
        s.layers[0].tau_mem = 1e-4;
        let e = s.validate().unwrap_err().to_string();
        assert!(
            e.contains("layers[0].tau_mem") && e.contains("tau_min"),
            "{e}"
        );
    }
}
