//! Exact event-driven engine for feed-forward layers of single-spike (time-to-first-spike) neurons.
//!
//! Per sample and layer: the input spikes (previous layer's output plus this layer's bias spikes)
//! are sorted once, then every neuron walks them in closed form ([`crate::spike_time::first_spike`]).
//! There is no time grid: spike times are exact to float precision. The backward pass visits only
//! the causal inputs of neurons that spiked.

use crate::error::{ensure_all_finite, ensure_spike_times, Error, Result};
use crate::parallel::{with_threads, CHUNK};
use crate::spike_time::{
    first_spike_layer, spike_time_gradient, spike_time_gradient_fast, Gradient, Kernel,
    LayerScratch, LifParams, SortedInputs,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Largest number of weights a network may have (2^31 f64 = 16 GiB): larger requests are refused
/// with an error instead of aborting the process on a failed allocation.
pub const MAX_WEIGHTS: usize = 1 << 31;

/// One fully connected layer. Row-major weights `[n_out, n_in + n_bias]`; the bias columns come last.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub n_in: usize,
    pub n_out: usize,
    /// Times of this layer's bias spikes (fixed, not trained).
    pub bias_times: Vec<f64>,
    pub weights: Vec<f64>,
}

impl Layer {
    /// Columns of the weight matrix: data inputs plus bias spikes.
    #[inline]
    pub fn width(&self) -> usize {
        self.n_in + self.bias_times.len()
    }
}

/// A feed-forward network of current-based LIF neurons with exact first-spike times.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    neuron: LifParams,
    kernel: Kernel,
    layers: Vec<Layer>,
    /// Per layer, the weights transposed (`[width, n_out]`, input-major) for the layer-wide sweep of
    /// the forward pass. Always equal to the transpose of `layers[l].weights`: every mutation goes
    /// through [`Network::update_layers`] or [`Network::set_weights`], which refresh it.
    transposed: Vec<Vec<f64>>,
}

/// [`transpose_into`] spread over the current rayon pool (rows of the transpose in parallel).
fn transpose_into_par(layer: &Layer, out: &mut Vec<f64>) {
    let (n_out, width) = (layer.n_out, layer.width());
    out.resize(n_out * width, 0.0);
    let w = &layer.weights;
    out.par_chunks_mut(n_out * 16)
        .enumerate()
        .for_each(|(block, o)| {
            for (r, row) in o.chunks_mut(n_out).enumerate() {
                let j = block * 16 + r;
                for (k, x) in row.iter_mut().enumerate() {
                    *x = w[k * width + j];
                }
            }
        });
}

/// `[n_out, width]` row-major -> `[width, n_out]` row-major.
fn transpose_into(layer: &Layer, out: &mut Vec<f64>) {
    let (n_out, width) = (layer.n_out, layer.width());
    out.resize(n_out * width, 0.0);
    for (k, row) in layer.weights.chunks_exact(width).enumerate() {
        for (j, &w) in row.iter().enumerate() {
            out[j * n_out + k] = w;
        }
    }
}

/// Buffers for one sample's forward and backward pass, allocated once per thread and reused.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// Per layer: the input spike vector (previous output + bias spikes).
    pub inputs: Vec<Vec<f64>>,
    pub(crate) sorted: Vec<SortedInputs>,
    scratch: LayerScratch,
    /// Per layer: output spike times (+inf = no spike).
    pub outputs: Vec<Vec<f64>>,
    pub(crate) causal: Vec<Vec<usize>>,
    /// Per layer: du/dt of each neuron at its spike (NaN if silent), from the forward sweep.
    pub(crate) slopes: Vec<Vec<f64>>,
    /// Per layer: dL/dt of each output spike, set by the loss for the last layer.
    pub deltas: Vec<Vec<f64>>,
    /// dL/dt of every bias spike (flat, layer after layer), written by [`Network::backward_chunk`].
    pub bias_deltas: Vec<f64>,
    rank: RankTerms,
    row_w: Vec<f64>,
    row_t: Vec<f64>,
}

/// Per-input factors of the rank-2 form of the alpha kernel's weight derivatives in the first layer
/// (see [`Network::accumulate_row_fast`]): with `t' = t - t0` (`t0` the first input) and
/// `B = exp(t'/tau)`, `p[i] = B_i t'_i` and `q[i] = B_i` for the i-th input in time order.
#[derive(Clone, Debug, Default)]
struct RankTerms {
    /// The factors are valid (equal kernel, inputs spread over less than 600 tau).
    ok: bool,
    t0: f64,
    p: Vec<f64>,
    q: Vec<f64>,
    /// Positions (in time order) of the bias inputs.
    bias_pos: Vec<usize>,
}

/// Statistics of one backward pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackwardStats {
    /// (neuron, sample) pairs whose gradient was dropped because it exceeded `max_dw_norm`.
    pub chopped: usize,
    /// Pairs with a tangential threshold touch (infinite derivative), dropped.
    pub tangential: usize,
}

/// Gaussian initial weights of one layer, with separate distributions for the data columns and the
/// bias (pulse) columns.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerInit {
    pub data_mean: f64,
    pub data_sd: f64,
    pub bias_mean: f64,
    pub bias_sd: f64,
}

impl LayerInit {
    /// The same normal distribution for every column.
    pub fn uniform_normal(mean: f64, sd: f64) -> Self {
        LayerInit {
            data_mean: mean,
            data_sd: sd,
            bias_mean: mean,
            bias_sd: sd,
        }
    }

    /// Comsa et al.'s Glorot-style initialisation: `sd = sqrt(2 / (n_out + n_in + n_bias))` for every
    /// column, mean `data_multiplier * sd` for the data columns and `bias_multiplier * sd` for the bias
    /// (pulse) columns.
    pub fn glorot(
        n_in: usize,
        n_bias: usize,
        n_out: usize,
        data_multiplier: f64,
        bias_multiplier: f64,
    ) -> Self {
        let sd = (2.0 / (n_out + n_in + n_bias) as f64).sqrt();
        LayerInit {
            data_mean: data_multiplier * sd,
            data_sd: sd,
            bias_mean: bias_multiplier * sd,
            bias_sd: sd,
        }
    }

    fn validate(&self, l: usize) -> Result<()> {
        let ok = |m: f64, s: f64| m.is_finite() && s.is_finite() && s >= 0.0;
        if ok(self.data_mean, self.data_sd) && ok(self.bias_mean, self.bias_sd) {
            Ok(())
        } else {
            Err(Error::param(
                format!("init[{l}]"),
                "finite means and standard deviations >= 0",
                format!("{self:?}"),
            ))
        }
    }
}

/// What [`Network::backward_with`] computes besides the plain exact gradient.
///
/// The default ([`BackwardOptions::goltz`] with `max_dw_norm = inf`) is the exact gradient of the loss
/// with respect to the weights, with errors propagated to the data inputs of every layer but the first.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackwardOptions {
    /// Göltz et al.'s chopping: a (sample, neuron) contribution is dropped when any |dL/dw| of its row
    /// exceeds this value (`inf` = off).
    pub max_dw_norm: f64,
    /// Comsa et al.'s local derivative clipping: every dt/dw is clipped to
    /// `[-clip_derivative * time_unit, clip_derivative * time_unit]` and every dt/dt_j to
    /// `[-clip_derivative, clip_derivative]` before it is multiplied by dL/dt (`inf` = off).
    pub clip_derivative: f64,
    /// Comsa et al.'s gradient clipping of each product: dL/dt * dt/dw to `[-clip_gradient,
    /// clip_gradient]`, dL/dt * dt/dt_j to `[-clip_gradient / time_unit, clip_gradient / time_unit]`
    /// (`inf` = off).
    pub clip_gradient: f64,
    /// The unit of time the clipping thresholds are expressed in (Comsa et al.'s "1").
    pub time_unit: f64,
    /// Every incoming weight (bias columns included) of a silent neuron gets the gradient
    /// `-silent_penalty` (Comsa et al.'s `penalty_no_spike`; gradient descent then raises them). 0 = off.
    pub silent_penalty: f64,
    /// Also compute dL/dt of every bias spike (trainable bias times, Comsa et al.'s pulses).
    pub bias_times: bool,
    /// Evaluate the derivatives with [`spike_time_gradient_fast`] (no exp per input; equal to a few
    /// ulps, not bit-identical to the default [`spike_time_gradient`]).
    pub fast_gradient: bool,
}

impl BackwardOptions {
    /// Göltz et al.'s backward pass: exact gradient with per-(sample, neuron) chopping.
    pub fn goltz(max_dw_norm: f64) -> Self {
        BackwardOptions {
            max_dw_norm,
            clip_derivative: f64::INFINITY,
            clip_gradient: f64::INFINITY,
            time_unit: 1.0,
            silent_penalty: 0.0,
            bias_times: false,
            fast_gradient: false,
        }
    }

    fn clips(&self) -> bool {
        self.clip_derivative.is_finite() || self.clip_gradient.is_finite()
    }
}

impl Network {
    /// A network with Gaussian initial weights: `init[l] = (mean, sd)` for layer `l`.
    ///
    /// `sizes = [n_input, n_hidden..., n_output]`; `bias_times[l]` are layer `l`'s bias spike times.
    pub fn new(
        neuron: LifParams,
        sizes: &[usize],
        bias_times: &[Vec<f64>],
        init: &[(f64, f64)],
        seed: u64,
    ) -> Result<Self> {
        Self::check_structure(sizes, bias_times, init.len())?;
        let n_layers = sizes.len() - 1;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut layers = Vec::with_capacity(n_layers);
        for l in 0..n_layers {
            let (mean, sd) = init[l];
            if !(mean.is_finite() && sd.is_finite() && sd >= 0.0) {
                return Err(Error::param(
                    format!("init[{l}]"),
                    "finite mean and sd >= 0",
                    format!("({mean}, {sd})"),
                ));
            }
            let normal = Normal::new(mean, sd)
                .map_err(|e| Error::param(format!("init[{l}]"), "a valid normal", e))?;
            let width = sizes[l] + bias_times[l].len();
            let weights = (0..sizes[l + 1] * width)
                .map(|_| normal.sample(&mut rng))
                .collect();
            layers.push(Layer {
                n_in: sizes[l],
                n_out: sizes[l + 1],
                bias_times: bias_times[l].clone(),
                weights,
            });
        }
        Self::from_layers(neuron, layers)
    }

    /// A network with Gaussian initial weights drawn per column from `init[l]` (data columns and bias
    /// columns may differ, e.g. [`LayerInit::glorot`]). Weights are drawn row by row from one seeded
    /// stream: `mean + sd * z`, z standard normal.
    pub fn with_init(
        neuron: LifParams,
        sizes: &[usize],
        bias_times: &[Vec<f64>],
        init: &[LayerInit],
        seed: u64,
    ) -> Result<Self> {
        Self::check_structure(sizes, bias_times, init.len())?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut layers = Vec::with_capacity(sizes.len() - 1);
        for (l, li) in init.iter().enumerate() {
            li.validate(l)?;
            let (n_in, n_bias) = (sizes[l], bias_times[l].len());
            let width = n_in + n_bias;
            let mut weights = Vec::with_capacity(sizes[l + 1] * width);
            for _ in 0..sizes[l + 1] {
                for j in 0..width {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    weights.push(if j < n_in {
                        li.data_mean + li.data_sd * z
                    } else {
                        li.bias_mean + li.bias_sd * z
                    });
                }
            }
            layers.push(Layer {
                n_in,
                n_out: sizes[l + 1],
                bias_times: bias_times[l].clone(),
                weights,
            });
        }
        Self::from_layers(neuron, layers)
    }

    /// Layer sizes, one bias list and one init entry per layer, and the weight budget.
    fn check_structure(sizes: &[usize], bias_times: &[Vec<f64>], n_init: usize) -> Result<()> {
        if sizes.len() < 2 {
            return Err(Error::shape(
                "sizes",
                "at least 2 layer sizes (input and output)",
                format!("{sizes:?}"),
            ));
        }
        let n_layers = sizes.len() - 1;
        if bias_times.len() != n_layers {
            return Err(Error::shape(
                "bias_times",
                format!("one list per layer ({n_layers})"),
                bias_times.len(),
            ));
        }
        if n_init != n_layers {
            return Err(Error::shape(
                "init",
                format!("one initialisation per layer ({n_layers})"),
                n_init,
            ));
        }
        let mut total = 0usize;
        for l in 0..n_layers {
            let width = sizes[l].checked_add(bias_times[l].len());
            match width.and_then(|w| w.checked_mul(sizes[l + 1])) {
                Some(n) if total.saturating_add(n) <= MAX_WEIGHTS => total += n,
                _ => {
                    return Err(Error::shape(
                        "sizes",
                        format!("at most {MAX_WEIGHTS} weights in total"),
                        format!("{sizes:?}"),
                    ))
                }
            }
        }
        Ok(())
    }

    /// A network from explicit layers, validated.
    pub fn from_layers(neuron: LifParams, layers: Vec<Layer>) -> Result<Self> {
        let kernel = neuron.kernel()?;
        if layers.is_empty() {
            return Err(Error::shape("layers", "at least one layer", 0));
        }
        for (l, layer) in layers.iter().enumerate() {
            if layer.n_in == 0 || layer.n_out == 0 {
                return Err(Error::shape(
                    format!("sizes[{l}..{}]", l + 2),
                    "non-empty layers",
                    format!("{} -> {}", layer.n_in, layer.n_out),
                ));
            }
            if l > 0 && layer.n_in != layers[l - 1].n_out {
                return Err(Error::shape(
                    format!("layers[{l}].n_in"),
                    format!("{} (outputs of layer {})", layers[l - 1].n_out, l - 1),
                    layer.n_in,
                ));
            }
            if layer.weights.len() != layer.n_out * layer.width() {
                return Err(Error::shape(
                    format!("weights[{l}]"),
                    format!("{} x {} values", layer.n_out, layer.width()),
                    layer.weights.len(),
                ));
            }
            ensure_all_finite(&format!("weights[{l}]"), &layer.weights)?;
            ensure_spike_times(&format!("bias_times[{l}]"), &layer.bias_times)?;
            ensure_all_finite(&format!("bias_times[{l}]"), &layer.bias_times)?;
        }
        let transposed = layers
            .iter()
            .map(|l| {
                let mut t = Vec::new();
                transpose_into(l, &mut t);
                t
            })
            .collect();
        Ok(Network {
            neuron,
            kernel,
            layers,
            transposed,
        })
    }

    pub fn neuron(&self) -> LifParams {
        self.neuron
    }
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }
    /// Mutate the layers (optimisers): `f` may change weights and bias times but not shapes. The
    /// transposed weights of the forward pass are refreshed afterwards.
    pub(crate) fn update_layers<R>(&mut self, f: impl FnOnce(&mut [Layer]) -> R) -> R {
        let r = f(&mut self.layers);
        for (layer, t) in self.layers.iter().zip(&mut self.transposed) {
            debug_assert_eq!(layer.weights.len(), layer.n_out * layer.width());
            transpose_into(layer, t);
        }
        r
    }

    /// [`Network::update_layers`] refreshing the transposed weights in parallel; call it inside the
    /// rayon pool that should do the work.
    pub(crate) fn update_layers_par<R>(&mut self, f: impl FnOnce(&mut [Layer]) -> R) -> R {
        let r = f(&mut self.layers);
        for (layer, t) in self.layers.iter().zip(&mut self.transposed) {
            debug_assert_eq!(layer.weights.len(), layer.n_out * layer.width());
            transpose_into_par(layer, t);
        }
        r
    }
    pub fn n_inputs(&self) -> usize {
        self.layers[0].n_in
    }
    pub fn n_outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].n_out
    }
    /// `[n_input, n_hidden..., n_output]`.
    pub fn sizes(&self) -> Vec<usize> {
        std::iter::once(self.n_inputs())
            .chain(self.layers.iter().map(|l| l.n_out))
            .collect()
    }
    /// Total number of weights (the length of a flat gradient buffer).
    pub fn n_weights(&self) -> usize {
        self.layers.iter().map(|l| l.weights.len()).sum()
    }

    /// Total number of bias spikes (the length of a flat bias-time gradient buffer).
    pub fn n_bias(&self) -> usize {
        self.layers.iter().map(|l| l.bias_times.len()).sum()
    }

    /// Replace layer `l`'s bias spike times (same count; each finite and >= 0), validated.
    pub fn set_bias_times(&mut self, l: usize, times: &[f64]) -> Result<()> {
        let n = self.layers.len();
        let layer = self
            .layers
            .get_mut(l)
            .ok_or_else(|| Error::param("layer", format!("an index in 0..{n}"), l))?;
        if times.len() != layer.bias_times.len() {
            return Err(Error::shape(
                "bias_times",
                format!(
                    "{} spike times (the layer's bias count)",
                    layer.bias_times.len()
                ),
                times.len(),
            ));
        }
        ensure_spike_times("bias_times", times)?;
        ensure_all_finite("bias_times", times)?;
        layer.bias_times.copy_from_slice(times);
        Ok(())
    }

    /// Replace layer `l`'s weights (`[n_out, n_in + n_bias]` row-major), validated.
    pub fn set_weights(&mut self, l: usize, weights: &[f64]) -> Result<()> {
        let n = self.layers.len();
        let layer = self
            .layers
            .get_mut(l)
            .ok_or_else(|| Error::param("layer", format!("an index in 0..{n}"), l))?;
        if weights.len() != layer.weights.len() {
            return Err(Error::shape(
                "weights",
                format!("{} x {} values", layer.n_out, layer.width()),
                weights.len(),
            ));
        }
        ensure_all_finite("weights", weights)?;
        layer.weights.copy_from_slice(weights);
        transpose_into(layer, &mut self.transposed[l]);
        Ok(())
    }

    /// A fresh workspace sized for this network.
    pub fn workspace(&self) -> Workspace {
        let max_width = self.layers.iter().map(Layer::width).max().unwrap_or(0);
        let max_out = self.layers.iter().map(|l| l.n_out).max().unwrap_or(0);
        Workspace {
            inputs: self
                .layers
                .iter()
                .map(|l| vec![f64::INFINITY; l.width()])
                .collect(),
            sorted: self
                .layers
                .iter()
                .map(|l| SortedInputs::with_capacity(l.width()))
                .collect(),
            scratch: LayerScratch::with_capacity(max_out),
            outputs: self
                .layers
                .iter()
                .map(|l| vec![f64::INFINITY; l.n_out])
                .collect(),
            causal: self.layers.iter().map(|l| vec![0; l.n_out]).collect(),
            slopes: self.layers.iter().map(|l| vec![0.0; l.n_out]).collect(),
            deltas: self.layers.iter().map(|l| vec![0.0; l.n_out]).collect(),
            bias_deltas: vec![0.0; self.n_bias()],
            rank: RankTerms {
                ok: false,
                t0: 0.0,
                p: Vec::with_capacity(max_width),
                q: Vec::with_capacity(max_width),
                bias_pos: Vec::with_capacity(max_width),
            },
            row_w: vec![0.0; max_width],
            row_t: vec![0.0; max_width],
        }
    }

    /// Exact forward pass of one sample (`x`: input spike times, +inf = no spike). Does not allocate.
    /// Input validation is the caller's job (done once per batch by the public entry points).
    pub fn forward(&self, x: &[f64], ws: &mut Workspace) {
        for l in 0..self.layers.len() {
            let n_in = self.layers[l].n_in;
            let (before, after) = ws.inputs.split_at_mut(l);
            let _ = before;
            if l == 0 {
                after[0][..n_in].copy_from_slice(x);
            } else {
                after[0][..n_in].copy_from_slice(&ws.outputs[l - 1]);
            }
            self.forward_layer(l, ws);
        }
    }

    /// Forward pass of layer `l` alone, its data inputs already in `ws.inputs[l][..n_in]` (the bias
    /// spikes are filled in here). Lets a caller alter the spikes between layers (the hardware model's
    /// lost spikes and jitter) while using the same layer sweep as [`Network::forward`].
    pub fn forward_layer(&self, l: usize, ws: &mut Workspace) {
        let layer = &self.layers[l];
        let input = &mut ws.inputs[l];
        input[layer.n_in..].copy_from_slice(&layer.bias_times);
        let sorted = &mut ws.sorted[l];
        sorted.prepare(input, &self.kernel);
        first_spike_layer(
            &self.kernel,
            self.neuron.threshold,
            sorted,
            &self.transposed[l],
            layer.n_out,
            &mut ws.scratch,
            &mut ws.outputs[l],
            &mut ws.causal[l],
            &mut ws.slopes[l],
        );
    }

    /// Backward pass of the sample last run through [`Network::forward`] in `ws`, with
    /// `ws.deltas[last]` = dL/dt_out set. Adds dL/dW to `grad` (flat, layer after layer).
    ///
    /// Per (sample, neuron) clipping: if any |dL/dw| of the neuron's row exceeds `max_dw_norm`, the
    /// neuron's contribution for this sample (weights and the error passed down) is dropped, as in
    /// Göltz et al.'s "gradient chopping" (it guards against the 1/(du/dt) blow-up of near-tangential
    /// crossings). `max_dw_norm = inf` disables it.
    pub fn backward(
        &self,
        ws: &mut Workspace,
        grad: &mut [f64],
        max_dw_norm: f64,
    ) -> BackwardStats {
        self.backward_with(ws, grad, &mut [], &BackwardOptions::goltz(max_dw_norm))
    }

    /// The general backward pass (see [`BackwardOptions`]): adds dL/dW to `grad` (flat, layer after
    /// layer) and, with `opts.bias_times`, dL/dt of every bias spike to `bias_grad` (flat, layer after
    /// layer, `n_bias()` values; may be empty otherwise).
    ///
    /// Errors flow only through neurons that spiked and only to causal inputs that spiked; a silent
    /// neuron's incoming weights get `-opts.silent_penalty` each (whatever its error).
    pub fn backward_with(
        &self,
        ws: &mut Workspace,
        grad: &mut [f64],
        bias_grad: &mut [f64],
        opts: &BackwardOptions,
    ) -> BackwardStats {
        let mut stats = BackwardStats::default();
        let mut offset = self.n_weights();
        let mut bias_offset = self.n_bias();
        let clips = opts.clips();
        let (dw_max, dt_max) = (opts.clip_derivative * opts.time_unit, opts.clip_derivative);
        let (gw_max, gt_max) = (opts.clip_gradient, opts.clip_gradient / opts.time_unit);
        for l in (0..self.layers.len()).rev() {
            let layer = &self.layers[l];
            let width = layer.width();
            offset -= layer.weights.len();
            bias_offset -= layer.bias_times.len();
            if l > 0 {
                ws.deltas[l - 1].iter_mut().for_each(|d| *d = 0.0);
            }
            if l == 0 && opts.fast_gradient && opts.max_dw_norm == f64::INFINITY {
                self.prepare_rank(ws, l);
            } else {
                ws.rank.ok = false;
            }
            let (lower, upper) = ws.deltas.split_at_mut(l);
            let delta_out = &upper[0];
            for k in 0..layer.n_out {
                if opts.silent_penalty != 0.0 && !ws.outputs[l][k].is_finite() {
                    grad[offset + k * width..offset + (k + 1) * width]
                        .iter_mut()
                        .for_each(|g| *g -= opts.silent_penalty);
                    continue;
                }
                let delta = delta_out[k];
                if delta == 0.0 {
                    continue;
                }
                let row = &layer.weights[k * width..(k + 1) * width];
                let sorted = &ws.sorted[l];
                let n_causal = ws.causal[l][k];
                if opts.max_dw_norm == f64::INFINITY {
                    // No chopping: accumulate straight from the derivative callback (one addition
                    // per causal input either way, so the sums are the same as below).
                    let bias_l = if opts.bias_times {
                        &mut bias_grad[bias_offset..bias_offset + layer.bias_times.len()]
                    } else {
                        &mut []
                    };
                    let outcome = self.accumulate_row(
                        l,
                        k,
                        RowInput {
                            k,
                            t_out: ws.outputs[l][k],
                            n_causal,
                            sorted,
                            delta,
                            slope: ws.slopes[l][k],
                            rank: (l == 0 && ws.rank.ok).then_some(&ws.rank),
                        },
                        &mut grad[offset + k * width..offset + (k + 1) * width],
                        lower.last_mut().map(|v| v.as_mut_slice()),
                        bias_l,
                        opts,
                    );
                    stats.tangential += usize::from(outcome == Gradient::Tangential);
                    continue;
                }
                let (row_w, row_t) = (&mut ws.row_w, &mut ws.row_t);
                let mut max_abs = 0.0f64;
                let outcome = if clips {
                    row_gradient(
                        opts.fast_gradient,
                        &self.kernel,
                        ws.outputs[l][k],
                        n_causal,
                        sorted,
                        row,
                        |j, dw, dt| {
                            let dw = dw.clamp(-dw_max, dw_max);
                            let dt = dt.clamp(-dt_max, dt_max);
                            row_w[j] = (delta * dw).clamp(-gw_max, gw_max);
                            row_t[j] = (delta * dt).clamp(-gt_max, gt_max);
                            max_abs = max_abs.max(row_w[j].abs());
                        },
                    )
                } else {
                    row_gradient(
                        opts.fast_gradient,
                        &self.kernel,
                        ws.outputs[l][k],
                        n_causal,
                        sorted,
                        row,
                        |j, dw, dt| {
                            row_w[j] = delta * dw;
                            row_t[j] = delta * dt;
                            max_abs = max_abs.max(row_w[j].abs());
                        },
                    )
                };
                match outcome {
                    Gradient::Silent => continue,
                    Gradient::Tangential => {
                        stats.tangential += 1;
                        continue;
                    }
                    Gradient::Ok(_) => {}
                }
                if max_abs > opts.max_dw_norm || !max_abs.is_finite() {
                    stats.chopped += 1;
                    continue;
                }
                let g = &mut grad[offset + k * width..offset + (k + 1) * width];
                for &j in &sorted.order[..n_causal] {
                    g[j] += row_w[j];
                    if j < layer.n_in {
                        if l > 0 {
                            lower[l - 1][j] += row_t[j];
                        }
                    } else if opts.bias_times {
                        bias_grad[bias_offset + j - layer.n_in] += row_t[j];
                    }
                }
            }
        }
        stats
    }

    /// Adds one (sample, neuron) contribution without chopping: `delta * dt/dw` (clipped per `opts`)
    /// to the neuron's gradient row `g`, `delta * dt/dt_j` to `lower[j]` for data inputs (if given)
    /// and to `bias[j - n_in]` for bias inputs (if `bias` is non-empty).
    #[allow(clippy::too_many_arguments)]
    fn accumulate_row(
        &self,
        l: usize,
        k: usize,
        input: RowInput,
        g: &mut [f64],
        mut lower: Option<&mut [f64]>,
        bias: &mut [f64],
        opts: &BackwardOptions,
    ) -> Gradient {
        let layer = &self.layers[l];
        let width = layer.width();
        let n_in = layer.n_in;
        let row = &layer.weights[k * width..(k + 1) * width];
        let clips = opts.clips();
        let (dw_max, dt_max) = (opts.clip_derivative * opts.time_unit, opts.clip_derivative);
        let (gw_max, gt_max) = (opts.clip_gradient, opts.clip_gradient / opts.time_unit);
        let delta = input.delta;
        let accumulate = |j: usize, dw: f64, dt: f64| {
            let (gw, gt) = if clips {
                let dw = dw.clamp(-dw_max, dw_max);
                let dt = dt.clamp(-dt_max, dt_max);
                (
                    (delta * dw).clamp(-gw_max, gw_max),
                    (delta * dt).clamp(-gt_max, gt_max),
                )
            } else {
                (delta * dw, delta * dt)
            };
            g[j] += gw;
            if j < n_in {
                if let Some(lw) = lower.as_deref_mut() {
                    lw[j] += gt;
                }
            } else if let Some(b) = bias.get_mut(j - n_in) {
                *b += gt;
            }
        };
        if opts.fast_gradient {
            return self.accumulate_row_fast(l, &input, g, lower, bias, opts);
        }
        spike_time_gradient(
            &self.kernel,
            input.t_out,
            input.n_causal,
            input.sorted,
            row,
            accumulate,
        )
    }

    /// Fill `ws.rank` for layer `l` of the sample in `ws` (equal kernel only). Does not allocate.
    fn prepare_rank(&self, ws: &mut Workspace, l: usize) {
        let r = &mut ws.rank;
        r.ok = false;
        let Kernel::Equal { tau } = self.kernel else {
            return;
        };
        let sorted = &ws.sorted[l];
        let n = sorted.len();
        if n == 0 || (sorted.times[n - 1] - sorted.times[0]) / tau >= 600.0 {
            return;
        }
        let n_in = self.layers[l].n_in;
        r.t0 = sorted.times[0];
        r.p.clear();
        r.q.clear();
        r.bias_pos.clear();
        for (i, (&t, &j)) in sorted.times.iter().zip(&sorted.order).enumerate() {
            let tp = t - r.t0;
            let b = (tp / tau).exp();
            r.p.push(b * tp);
            r.q.push(b);
            if j >= n_in {
                r.bias_pos.push(i);
            }
        }
        r.ok = true;
    }

    /// [`Network::accumulate_row`] with [`spike_time_gradient_fast`]'s evaluation written out as one
    /// loop per kernel (the hot loop of Comsa et al.'s training): du/dt comes from the forward sweep
    /// (`input.slope`), the kernel factors from suffix products of the gap propagators, and dt/dt_j is
    /// computed only where it is used (data inputs of layers > 0, bias inputs if `bias` is given).
    fn accumulate_row_fast(
        &self,
        l: usize,
        input: &RowInput,
        g: &mut [f64],
        mut lower: Option<&mut [f64]>,
        bias: &mut [f64],
        opts: &BackwardOptions,
    ) -> Gradient {
        let (t_out, n_c, sorted, delta) = (input.t_out, input.n_causal, input.sorted, input.delta);
        if !t_out.is_finite() || n_c == 0 {
            return Gradient::Silent;
        }
        let layer = &self.layers[l];
        let width = layer.width();
        let n_in = layer.n_in;
        let w = &layer.weights[input_row(l, width, input)];
        let dudt = if input.slope.is_nan() {
            // Not from a sweep (e.g. a tangential touch): sum it as the generic evaluation does.
            match spike_time_gradient_fast(
                &self.kernel,
                t_out,
                n_c,
                sorted,
                w,
                None,
                |_| false,
                |_, _, _| {},
            ) {
                Gradient::Ok(d) => d,
                other => return other,
            }
        } else {
            input.slope
        };
        let inv = 1.0 / dudt;
        if !(dudt > 0.0 && dudt.is_finite() && inv.is_finite()) {
            return Gradient::Tangential;
        }
        let clips = opts.clips();
        let (dw_max, dt_max) = (opts.clip_derivative * opts.time_unit, opts.clip_derivative);
        let (gw_max, gt_max) = (opts.clip_gradient, opts.clip_gradient / opts.time_unit);
        let causal = &sorted.order[..n_c];
        let times = &sorted.times[..n_c];
        let last = n_c - 1;
        if let (Kernel::Equal { tau }, Some(r), None) = (self.kernel, input.rank, lower.as_ref()) {
            // Rank-2 form of the first layer (no errors passed down): with t' = t - t0,
            // A = exp(-t'_out/tau), B_j = exp(t'_j/tau) and a = A / (tau du/dt),
            //   delta dt/dw_j = -delta x_j e^{-x_j} / (du/dt) = (delta a) B_j t'_j - (delta a t'_out) B_j,
            // so a row costs two multiply-adds per causal input. Used when no clipping can act:
            // |dt/dw_j| <= 1 / (e du/dt) (x e^{-x} <= 1/e), and when A cannot underflow.
            let tk = t_out - r.t0;
            let bound = inv / std::f64::consts::E;
            if tk / tau < 600.0 && bound <= dw_max && (delta * bound).abs() <= gw_max {
                let big_a = (-tk / tau).exp();
                let v1 = delta * (big_a * inv / tau);
                let v2 = v1 * tk;
                for ((&j, &p), &q) in causal.iter().zip(&r.p[..n_c]).zip(&r.q[..n_c]) {
                    g[j] += v1 * p - v2 * q;
                }
                // dL/dt of the bias inputs among the causal ones (e = A B_j).
                let n_bias_causal = if bias.is_empty() { 0 } else { r.bias_pos.len() };
                for &pos in r.bias_pos[..n_bias_causal]
                    .iter()
                    .take_while(|&&pos| pos < n_c)
                {
                    let j = causal[pos];
                    let e = big_a * r.q[pos];
                    let x = (t_out - times[pos]) / tau;
                    let dt = w[j] * e * (1.0 - x) / tau * inv;
                    bias[j - n_in] += if clips {
                        (delta * dt.clamp(-dt_max, dt_max)).clamp(-gt_max, gt_max)
                    } else {
                        delta * dt
                    };
                }
                return Gradient::Ok(dudt);
            }
        }
        // Adds one causal input's contributions; `$dt` is evaluated only where it is used.
        macro_rules! add {
            ($j:expr, $dw:expr, $dt:expr) => {{
                let (j, dw) = ($j, $dw);
                g[j] += if clips {
                    (delta * dw.clamp(-dw_max, dw_max)).clamp(-gw_max, gw_max)
                } else {
                    delta * dw
                };
                let target = if j < n_in {
                    lower.as_deref_mut().map(|lw| &mut lw[j])
                } else {
                    bias.get_mut(j - n_in)
                };
                if let Some(d) = target {
                    let dt: f64 = $dt;
                    *d += if clips {
                        (delta * dt.clamp(-dt_max, dt_max)).clamp(-gt_max, gt_max)
                    } else {
                        delta * dt
                    };
                }
            }};
        }
        match self.kernel {
            Kernel::Equal { tau } => {
                let inv_tau = 1.0 / tau;
                let mut e = (-(t_out - times[last]) * inv_tau).exp();
                for k in (0..n_c).rev() {
                    if k < last {
                        e *= sorted.f1[k];
                    }
                    let x = (t_out - times[k]) * inv_tau;
                    let j = causal[k];
                    add!(j, -x * e * inv, w[j] * e * (1.0 - x) * inv_tau * inv);
                }
            }
            Kernel::Double { tau_syn, tau_mem } => {
                let s_last = t_out - times[last];
                let (mut es, mut em) = ((-s_last / tau_syn).exp(), (-s_last / tau_mem).exp());
                for k in (0..n_c).rev() {
                    if k < last {
                        es *= sorted.f1[k];
                        em *= sorted.f2[k];
                    }
                    let j = causal[k];
                    add!(
                        j,
                        -2.0 * (em - es) * inv,
                        w[j] * 2.0 * (es / tau_syn - em / tau_mem) * inv
                    );
                }
            }
        }
        Gradient::Ok(dudt)
    }

    /// [`Network::backward_with`] (without chopping: `opts.max_dw_norm` must be infinite) for the
    /// samples of `wss` whose `active` flag is set, each run forward in its own workspace with its
    /// output deltas set. Writes (overwrites) the summed dL/dW of these samples into `grad`; with
    /// `opts.bias_times`, writes each sample's dL/dt of the bias spikes to its `ws.bias_deltas`.
    ///
    /// Each neuron's gradient row is zeroed just before its updates, while it is about to be in
    /// cache (zeroing the whole buffer up front costs a second trip to memory for every row).
    ///
    /// Neurons are visited layer by layer and, for each neuron, sample after sample, so the neuron's
    /// weight and gradient rows stay in cache across the samples. Every gradient element receives its
    /// contributions in sample order, so the result equals `backward_with` run sample after sample.
    pub fn backward_chunk(
        &self,
        wss: &mut [Workspace],
        active: &[bool],
        grad: &mut [f64],
        opts: &BackwardOptions,
    ) -> BackwardStats {
        assert!(
            opts.max_dw_norm == f64::INFINITY,
            "backward_chunk does not chop"
        );
        let mut stats = BackwardStats::default();
        let mut offset = self.n_weights();
        let mut bias_offset = self.n_bias();
        for ws in wss
            .iter_mut()
            .zip(active)
            .filter(|(_, a)| **a)
            .map(|(w, _)| w)
        {
            ws.bias_deltas.iter_mut().for_each(|d| *d = 0.0);
        }
        for l in (0..self.layers.len()).rev() {
            let layer = &self.layers[l];
            let width = layer.width();
            offset -= layer.weights.len();
            bias_offset -= layer.bias_times.len();
            let n_bias = layer.bias_times.len();
            for ws in wss
                .iter_mut()
                .zip(active)
                .filter(|(_, a)| **a)
                .map(|(w, _)| w)
            {
                if l > 0 {
                    ws.deltas[l - 1].iter_mut().for_each(|d| *d = 0.0);
                }
                if l == 0 && opts.fast_gradient {
                    self.prepare_rank(ws, l);
                } else {
                    ws.rank.ok = false;
                }
            }
            for k in 0..layer.n_out {
                let g = &mut grad[offset + k * width..offset + (k + 1) * width];
                g.iter_mut().for_each(|x| *x = 0.0);
                for ws in wss
                    .iter_mut()
                    .zip(active)
                    .filter(|(_, a)| **a)
                    .map(|(w, _)| w)
                {
                    if opts.silent_penalty != 0.0 && !ws.outputs[l][k].is_finite() {
                        g.iter_mut().for_each(|x| *x -= opts.silent_penalty);
                        continue;
                    }
                    let (lower, upper) = ws.deltas.split_at_mut(l);
                    let delta = upper[0][k];
                    if delta == 0.0 {
                        continue;
                    }
                    let bias_l = if opts.bias_times {
                        &mut ws.bias_deltas[bias_offset..bias_offset + n_bias]
                    } else {
                        &mut []
                    };
                    let outcome = self.accumulate_row(
                        l,
                        k,
                        RowInput {
                            k,
                            t_out: ws.outputs[l][k],
                            n_causal: ws.causal[l][k],
                            sorted: &ws.sorted[l],
                            delta,
                            slope: ws.slopes[l][k],
                            rank: (l == 0 && ws.rank.ok).then_some(&ws.rank),
                        },
                        g,
                        lower.last_mut().map(|v| v.as_mut_slice()),
                        bias_l,
                        opts,
                    );
                    stats.tangential += usize::from(outcome == Gradient::Tangential);
                }
            }
        }
        stats
    }

    /// Check a batch of input spike times (`n * n_inputs` values) before any work is done.
    pub fn check_inputs(&self, arg: &str, x: &[f64], n: usize) -> Result<()> {
        if x.len() != n * self.n_inputs() {
            return Err(Error::shape(
                arg,
                format!("{n} x {} spike times", self.n_inputs()),
                format!("{} values", x.len()),
            ));
        }
        ensure_spike_times(arg, x)
    }

    /// Spike times of every layer for `n` samples (`x`: `[n, n_inputs]` row-major), in parallel
    /// over samples. Returns one `[n, n_l]` row-major vector per layer; +inf = no spike.
    pub fn run(&self, x: &[f64], n: usize, threads: usize) -> Result<Vec<Vec<f64>>> {
        self.check_inputs("times", x, n)?;
        let total: usize = self.layers.iter().map(|l| l.n_out).sum();
        let n_in = self.n_inputs();
        let mut flat = vec![0.0; n * total];
        with_threads(threads, || {
            flat.par_chunks_mut(total * CHUNK)
                .zip(x.par_chunks(n_in * CHUNK))
                .for_each_init(
                    || self.workspace(),
                    |ws, (out, xin)| {
                        for (o, xi) in out.chunks_mut(total).zip(xin.chunks(n_in)) {
                            self.forward(xi, ws);
                            let mut at = 0;
                            for layer_out in &ws.outputs {
                                o[at..at + layer_out.len()].copy_from_slice(layer_out);
                                at += layer_out.len();
                            }
                        }
                    },
                );
        })?;
        let mut per_layer: Vec<Vec<f64>> = self
            .layers
            .iter()
            .map(|l| Vec::with_capacity(n * l.n_out))
            .collect();
        for sample in flat.chunks(total.max(1)) {
            let mut at = 0;
            for (l, layer) in self.layers.iter().enumerate() {
                per_layer[l].extend_from_slice(&sample[at..at + layer.n_out]);
                at += layer.n_out;
            }
        }
        Ok(per_layer)
    }
}

/// One (sample, neuron) of a backward pass: the neuron's spike, causal set, inputs, dL/dt and du/dt
/// at the spike.
struct RowInput<'a> {
    k: usize,
    t_out: f64,
    n_causal: usize,
    sorted: &'a SortedInputs,
    delta: f64,
    slope: f64,
    /// Rank-2 factors of the layer's inputs (first layer of the fast path), if prepared.
    rank: Option<&'a RankTerms>,
}

/// The weight-row range of neuron `input.k` in a layer of `width` columns.
#[inline]
fn input_row(_l: usize, width: usize, input: &RowInput) -> std::ops::Range<usize> {
    input.k * width..(input.k + 1) * width
}

/// [`spike_time_gradient`] or, with `fast`, [`spike_time_gradient_fast`].
#[inline]
fn row_gradient(
    fast: bool,
    kernel: &Kernel,
    t_out: f64,
    n_causal: usize,
    inputs: &SortedInputs,
    weights: &[f64],
    f: impl FnMut(usize, f64, f64),
) -> Gradient {
    if fast {
        spike_time_gradient_fast(kernel, t_out, n_causal, inputs, weights, None, |_| true, f)
    } else {
        spike_time_gradient(kernel, t_out, n_causal, inputs, weights, f)
    }
}

/// One layer's exact spike times and their Jacobians, for embedding the solver in other pipelines.
///
/// `x`: `[n, n_in]` input times; `weights`: `[n_out, n_in]`. Returns `(times [n, n_out],
/// dt_dw [n, n_out, n_in], dt_dx [n, n_out, n_in])`, zero derivatives where the neuron is silent,
/// the input is not causal, or the crossing is tangential.
pub fn layer_spike_times(
    neuron: LifParams,
    x: &[f64],
    n: usize,
    n_in: usize,
    weights: &[f64],
    n_out: usize,
    threads: usize,
) -> Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    let layer = Layer {
        n_in,
        n_out,
        bias_times: Vec::new(),
        weights: weights.to_vec(),
    };
    let net = Network::from_layers(neuron, vec![layer])?;
    net.check_inputs("times", x, n)?;
    let mut times = vec![0.0; n * n_out];
    let mut dw = vec![0.0; n * n_out * n_in];
    let mut dx = vec![0.0; n * n_out * n_in];
    let kernel = net.kernel;
    with_threads(threads, || {
        times
            .par_chunks_mut(n_out)
            .zip(dw.par_chunks_mut(n_out * n_in))
            .zip(dx.par_chunks_mut(n_out * n_in))
            .zip(x.par_chunks(n_in))
            .for_each_init(
                || net.workspace(),
                |ws, (((t, gw), gx), xi)| {
                    net.forward(xi, ws);
                    t.copy_from_slice(&ws.outputs[0]);
                    for k in 0..n_out {
                        let row = &weights[k * n_in..(k + 1) * n_in];
                        let (rw, rx) = (
                            &mut gw[k * n_in..(k + 1) * n_in],
                            &mut gx[k * n_in..(k + 1) * n_in],
                        );
                        spike_time_gradient(
                            &kernel,
                            t[k],
                            ws.causal[0][k],
                            &ws.sorted[0],
                            row,
                            |j, a, b| {
                                rw[j] = a;
                                rx[j] = b;
                            },
                        );
                    }
                },
            );
    })?;
    Ok((times, dw, dx))
}
