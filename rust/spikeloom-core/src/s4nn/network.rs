//! The S4NN network: non-leaky integrate-and-fire neurons with instantaneous (step) synapses on a
//! discrete time grid, one spike per neuron, simulated event by event.
//!
//! Time is a step index `t = 0..=t_max` (dimensionless; one step is one grid bin of the input code,
//! not a physical duration). For neuron `j` of a layer with inputs `i`,
//!
//! ```text
//! V_j(t)   = sum_i w_ji [t_i <= t]                     (non-leaky, step PSPs)
//! t_cross  = first t with V_j(t) > theta               (strict >)
//! t_j      = min(t_cross + delay, t_max),  t_j = t_max if V_j never crosses (forced "fake" spike)
//! ```
//!
//! A neuron *really* fired when `t_j < t_max`. Input times `>= t_max` never contribute to a real spike
//! (and are never causal in learning), so they are dropped when the inputs are sorted.
//!
//! Event-driven forward pass per sample and layer: the inputs are bucket-sorted by time (counting sort
//! over the integer grid), then the buckets are walked in time order; each input adds its fan-out
//! row (weights are stored input-major, `[n_in][n_out]`, so the row is contiguous) to the potentials,
//! and after each bucket the not-yet-fired neurons are tested against the threshold. The walk stops
//! at `t_max - delay` (later crossings give `t_max` anyway) or when every neuron has fired. The work is
//! `O(active inputs x fan-out + buckets x n_out)`, never `O(n x t_max)`; nothing is allocated.

use crate::engine::ttfs::MAX_WEIGHTS;
use crate::error::{Error, Result};
use crate::parallel::{with_threads, CHUNK};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Largest supported `t_max` (the counting sort keeps one bucket per step).
pub const MAX_T_MAX: u32 = 1 << 16;

/// The paper protocol's fallback when no output fires: the winner is the output with the largest
/// potential at step `t_max - PAPER_FALLBACK_OFFSET` (as described for the reference code).
pub const PAPER_FALLBACK_OFFSET: u32 = 3;

/// How to break ties between outputs that fire in the same step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TieRule {
    /// Largest potential at the crossing step wins (SRKH/S4NN issue #4); remaining ties: lowest index.
    #[default]
    Voltage,
    /// Lowest output index wins.
    Index,
}

impl TieRule {
    /// Parse `"voltage"` or `"index"` (`arg` names the argument in the error).
    pub fn parse(arg: &str, s: &str) -> Result<Self> {
        match s {
            "voltage" => Ok(TieRule::Voltage),
            "index" => Ok(TieRule::Index),
            _ => Err(Error::param(arg, "'voltage' or 'index'", format!("'{s}'"))),
        }
    }
}

/// How a labelled set is scored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// The decision is the first output to spike with a deterministic tie rule; no output spike = wrong.
    #[default]
    Clean,
    /// The reference's scoring: correct if the label is among the outputs tied at the earliest step;
    /// if no output fires, the largest potential at `t_max - 3` decides.
    Paper,
}

impl Protocol {
    /// Parse `"clean"` or `"paper"` (`arg` names the argument in the error).
    pub fn parse(arg: &str, s: &str) -> Result<Self> {
        match s {
            "clean" => Ok(Protocol::Clean),
            "paper" => Ok(Protocol::Paper),
            _ => Err(Error::param(arg, "'clean' or 'paper'", format!("'{s}'"))),
        }
    }
}

/// One fully connected layer of IF neurons.
#[derive(Clone, Debug, PartialEq)]
pub struct S4nnLayer {
    pub(crate) n_in: usize,
    pub(crate) n_out: usize,
    pub(crate) threshold: f64,
    /// Input-major weights `[n_in][n_out]`: row `i` is the fan-out of input `i`.
    pub(crate) w: Vec<f64>,
}

impl S4nnLayer {
    pub fn n_in(&self) -> usize {
        self.n_in
    }
    pub fn n_out(&self) -> usize {
        self.n_out
    }
    pub fn threshold(&self) -> f64 {
        self.threshold
    }
    /// The weights in the internal input-major layout `[n_in][n_out]`.
    pub fn weights_input_major(&self) -> &[f64] {
        &self.w
    }
    /// A copy of the weights in the public layout `[n_out][n_in]` (row `j` = incoming weights of `j`).
    pub fn weights(&self) -> Vec<f64> {
        let mut out = vec![0.0; self.w.len()];
        for (i, row) in self.w.chunks_exact(self.n_out).enumerate() {
            for (j, &w) in row.iter().enumerate() {
                out[j * self.n_in + i] = w;
            }
        }
        out
    }
    fn set_from_public(&mut self, weights: &[f64]) {
        for (j, row) in weights.chunks_exact(self.n_in).enumerate() {
            for (i, &w) in row.iter().enumerate() {
                self.w[i * self.n_out + j] = w;
            }
        }
    }
}

/// A feed-forward S4NN network (Kheradpisheh & Masquelier 2020).
#[derive(Clone, Debug, PartialEq)]
pub struct S4nnNetwork {
    t_max: u32,
    delay: u32,
    pub(crate) layers: Vec<S4nnLayer>,
}

/// Buffers of one sample's forward and backward pass, allocated once and reused.
#[derive(Clone, Debug)]
pub struct S4nnWorkspace {
    /// Per layer: output spike times (`t_max` = no real spike).
    pub times: Vec<Vec<u32>>,
    /// Per layer: potential at the crossing step of each neuron that really fired (0 otherwise).
    pub v_cross: Vec<Vec<f64>>,
    /// Per layer: indices of the layer's inputs with time `< t_max`, sorted by (time, index).
    pub(crate) order: Vec<Vec<u32>>,
    pub(crate) n_order: Vec<usize>,
    counts: Vec<u32>,
    v: Vec<f64>,
    hits: Vec<u32>,
    /// Per layer: normalised error signals (learning only).
    pub(crate) deltas: Vec<Vec<f64>>,
    pub(crate) act_j: Vec<u32>,
    pub(crate) act_d: Vec<f64>,
}

impl S4nnWorkspace {
    /// Sorted (by time, then index) indices of layer `l`'s inputs that arrive before `t_max`.
    pub fn sorted_inputs(&self, l: usize) -> &[u32] {
        &self.order[l][..self.n_order[l]]
    }
}

/// `lo + (hi - lo) * u`, `u` uniform in [0, 1) with 53 random bits.
pub(crate) fn draw_uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// Check a uniform initialisation range `[lo, hi)`.
pub(crate) fn check_range(arg: &str, (lo, hi): (f64, f64)) -> Result<()> {
    if lo.is_finite() && hi.is_finite() && lo <= hi {
        Ok(())
    } else {
        Err(Error::param(
            arg,
            "a finite range (low, high) with low <= high",
            format!("({lo}, {hi})"),
        ))
    }
}

fn check_grid(t_max: u32, delay: u32) -> Result<()> {
    if t_max == 0 || t_max > MAX_T_MAX {
        return Err(Error::param(
            "t_max",
            format!("an integer in 1..={MAX_T_MAX}"),
            t_max,
        ));
    }
    if delay > t_max {
        return Err(Error::param(
            "delay",
            format!("an integer in 0..={t_max} (t_max)"),
            delay,
        ));
    }
    Ok(())
}

fn check_sizes(sizes: &[usize], thresholds: &[f64]) -> Result<()> {
    if sizes.len() < 2 {
        return Err(Error::shape(
            "sizes",
            "at least 2 layer sizes (input and output)",
            format!("{sizes:?}"),
        ));
    }
    if let Some(i) = sizes.iter().position(|&s| s == 0) {
        return Err(Error::param(format!("sizes[{i}]"), "an integer >= 1", 0));
    }
    if sizes.iter().any(|&s| s > u32::MAX as usize) {
        return Err(Error::shape(
            "sizes",
            format!("layer sizes <= {}", u32::MAX),
            format!("{sizes:?}"),
        ));
    }
    let mut total = 0usize;
    for pair in sizes.windows(2) {
        match pair[0].checked_mul(pair[1]) {
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
    let n_layers = sizes.len() - 1;
    if thresholds.len() != n_layers {
        return Err(Error::shape(
            "thresholds",
            format!("one threshold per layer ({n_layers})"),
            thresholds.len(),
        ));
    }
    if let Some(l) = thresholds.iter().position(|t| !(t.is_finite() && *t > 0.0)) {
        return Err(Error::param(
            format!("thresholds[{l}]"),
            "a finite value > 0",
            thresholds[l],
        ));
    }
    Ok(())
}

/// Bucket-sort the indices of `times` that are `< t_max` by (time, index) into `order`; returns how
/// many there are. Counting sort over the grid unless the grid is much larger than the input.
fn sort_by_time(times: &[u32], t_max: u32, counts: &mut [u32], order: &mut [u32]) -> usize {
    if t_max as usize > 4 * times.len() + 64 {
        let mut m = 0;
        for (i, &t) in times.iter().enumerate() {
            if t < t_max {
                order[m] = i as u32;
                m += 1;
            }
        }
        order[..m].sort_unstable_by_key(|&i| (times[i as usize], i));
        return m;
    }
    let counts = &mut counts[..t_max as usize];
    counts.fill(0);
    for &t in times {
        if t < t_max {
            counts[t as usize] += 1;
        }
    }
    let mut acc = 0u32;
    for c in counts.iter_mut() {
        let k = *c;
        *c = acc;
        acc += k;
    }
    for (i, &t) in times.iter().enumerate() {
        if t < t_max {
            let c = &mut counts[t as usize];
            order[*c as usize] = i as u32;
            *c += 1;
        }
    }
    acc as usize
}

/// The deterministic decision: the output that fired first (really, `< t_max`), ties broken by `tie`;
/// `None` if no output fired.
pub fn first_to_spike(times: &[u32], v_cross: &[f64], t_max: u32, tie: TieRule) -> Option<usize> {
    let t_min = times.iter().copied().min()?;
    if t_min >= t_max {
        return None;
    }
    let mut best: Option<usize> = None;
    for (j, &t) in times.iter().enumerate() {
        if t != t_min {
            continue;
        }
        best = match (best, tie) {
            (None, _) => Some(j),
            (Some(b), TieRule::Voltage) if v_cross[j] > v_cross[b] => Some(j),
            (b, _) => b,
        };
    }
    best
}

/// Input spike times `[n, n_inputs]` (row-major, integer steps) with integer labels.
#[derive(Clone, Copy, Debug)]
pub struct LabelledSteps<'a> {
    pub times: &'a [u32],
    pub labels: &'a [i64],
}

impl LabelledSteps<'_> {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub(crate) fn check(&self, arg: &str, net: &S4nnNetwork) -> Result<()> {
        net.check_inputs(&format!("{arg}.times"), self.times, self.labels.len())?;
        let n_out = net.n_outputs() as i64;
        if let Some(i) = self.labels.iter().position(|&y| y < 0 || y >= n_out) {
            return Err(Error::param(
                format!("{arg}.labels"),
                format!("integers in 0..{n_out} (one per output neuron)"),
                format!("{} at index {i}", self.labels[i]),
            ));
        }
        Ok(())
    }
    pub(crate) fn sample(&self, i: usize, n_in: usize) -> (&[u32], usize) {
        (
            &self.times[i * n_in..(i + 1) * n_in],
            self.labels[i] as usize,
        )
    }
}

/// Scores of a network on a labelled set (both protocols from one pass).
#[derive(Clone, Debug, PartialEq)]
pub struct S4nnEvaluation {
    pub n: usize,
    /// Clean protocol: first output to spike with the tie rule; no output spike counts as wrong.
    pub accuracy: f64,
    /// Paper protocol: label among the tied earliest outputs; max-potential fallback when none fires.
    pub accuracy_paper: f64,
    /// Fraction of samples in which no output really fired.
    pub no_output_spike: f64,
    /// Fraction of samples in which two or more outputs fired first in the same step.
    pub ties: f64,
    /// Mean time of the first output spike over samples with one (NaN if none).
    pub mean_first_spike: f64,
}

impl S4nnNetwork {
    /// A network with uniform initial weights: layer `l` draws from `U[init[l].0, init[l].1)`, in the
    /// public `[n_out][n_in]` order, from one ChaCha8 stream seeded with `seed`.
    pub fn new(
        sizes: &[usize],
        thresholds: &[f64],
        init: &[(f64, f64)],
        t_max: u32,
        delay: u32,
        seed: u64,
    ) -> Result<Self> {
        check_grid(t_max, delay)?;
        check_sizes(sizes, thresholds)?;
        let n_layers = sizes.len() - 1;
        if init.len() != n_layers {
            return Err(Error::shape(
                "init",
                format!("one (low, high) range per layer ({n_layers})"),
                init.len(),
            ));
        }
        for (l, &r) in init.iter().enumerate() {
            check_range(&format!("init[{l}]"), r)?;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut layers = Vec::with_capacity(n_layers);
        for l in 0..n_layers {
            let (lo, hi) = init[l];
            let public: Vec<f64> = (0..sizes[l] * sizes[l + 1])
                .map(|_| draw_uniform(&mut rng, lo, hi))
                .collect();
            let mut layer = S4nnLayer {
                n_in: sizes[l],
                n_out: sizes[l + 1],
                threshold: thresholds[l],
                w: vec![0.0; public.len()],
            };
            layer.set_from_public(&public);
            layers.push(layer);
        }
        Ok(S4nnNetwork {
            t_max,
            delay,
            layers,
        })
    }

    /// A network from explicit weights, one `[n_out][n_in]` row-major matrix per layer.
    pub fn from_weights(
        sizes: &[usize],
        thresholds: &[f64],
        weights: &[Vec<f64>],
        t_max: u32,
        delay: u32,
    ) -> Result<Self> {
        let init = vec![(0.0, 0.0); sizes.len().saturating_sub(1)];
        let mut net = Self::new(sizes, thresholds, &init, t_max, delay, 0)?;
        if weights.len() != net.layers.len() {
            return Err(Error::shape(
                "weights",
                format!("one matrix per layer ({})", net.layers.len()),
                weights.len(),
            ));
        }
        for (l, w) in weights.iter().enumerate() {
            net.set_weights(l, w)?;
        }
        Ok(net)
    }

    pub fn t_max(&self) -> u32 {
        self.t_max
    }
    pub fn delay(&self) -> u32 {
        self.delay
    }
    pub fn layers(&self) -> &[S4nnLayer] {
        &self.layers
    }
    pub fn thresholds(&self) -> Vec<f64> {
        self.layers.iter().map(|l| l.threshold).collect()
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

    fn layer_index(&self, l: usize) -> Result<usize> {
        if l < self.layers.len() {
            Ok(l)
        } else {
            Err(Error::param(
                "layer",
                format!("an index in 0..{}", self.layers.len()),
                l,
            ))
        }
    }

    /// A copy of layer `l`'s weights, `[n_out][n_in]` row-major.
    pub fn weights(&self, l: usize) -> Result<Vec<f64>> {
        Ok(self.layers[self.layer_index(l)?].weights())
    }

    /// Replace layer `l`'s weights (`[n_out][n_in]` row-major, finite).
    pub fn set_weights(&mut self, l: usize, weights: &[f64]) -> Result<()> {
        let l = self.layer_index(l)?;
        let layer = &mut self.layers[l];
        if weights.len() != layer.w.len() {
            return Err(Error::shape(
                "weights",
                format!("{} x {} values", layer.n_out, layer.n_in),
                weights.len(),
            ));
        }
        crate::error::ensure_all_finite("weights", weights)?;
        layer.set_from_public(weights);
        Ok(())
    }

    /// A fresh workspace sized for this network.
    pub fn workspace(&self) -> S4nnWorkspace {
        let max_out = self.layers.iter().map(|l| l.n_out).max().unwrap_or(0);
        S4nnWorkspace {
            times: self
                .layers
                .iter()
                .map(|l| vec![self.t_max; l.n_out])
                .collect(),
            v_cross: self.layers.iter().map(|l| vec![0.0; l.n_out]).collect(),
            order: self.layers.iter().map(|l| vec![0; l.n_in]).collect(),
            n_order: vec![0; self.layers.len()],
            counts: vec![0; self.t_max as usize],
            v: vec![0.0; max_out],
            hits: vec![0; max_out],
            deltas: self.layers.iter().map(|l| vec![0.0; l.n_out]).collect(),
            act_j: Vec::with_capacity(max_out),
            act_d: Vec::with_capacity(max_out),
        }
    }

    /// Check a batch of input times (`n * n_inputs` values, each in `0..=t_max`).
    pub fn check_inputs(&self, arg: &str, x: &[u32], n: usize) -> Result<()> {
        if x.len() != n * self.n_inputs() {
            return Err(Error::shape(
                arg,
                format!("{n} x {} spike times", self.n_inputs()),
                format!("{} values", x.len()),
            ));
        }
        if let Some(i) = x.iter().position(|&t| t > self.t_max) {
            return Err(Error::param(
                arg,
                format!("integer time steps in 0..={} (t_max)", self.t_max),
                format!("{} at flat index {i}", x[i]),
            ));
        }
        Ok(())
    }

    /// Forward pass of one sample (`x`: `n_inputs` time steps in `0..=t_max`). Does not allocate.
    /// Input validation is the caller's job.
    pub fn forward(&self, x: &[u32], ws: &mut S4nnWorkspace) {
        self.forward_scaled(x, ws, None);
    }

    /// Forward pass where layer `l`'s true weights are `scales[l] * w` (used by training to apply
    /// weight decay lazily).
    pub(crate) fn forward_scaled(&self, x: &[u32], ws: &mut S4nnWorkspace, scales: Option<&[f64]>) {
        let t_max = self.t_max;
        let delay = self.delay;
        let limit = t_max.saturating_sub(delay);
        for (l, layer) in self.layers.iter().enumerate() {
            let scale = scales.map_or(1.0, |s| s[l]);
            let (prev, cur) = ws.times.split_at_mut(l);
            let input: &[u32] = if l == 0 { x } else { &prev[l - 1] };
            let out = &mut cur[0];
            let n_sorted = sort_by_time(input, t_max, &mut ws.counts, &mut ws.order[l]);
            ws.n_order[l] = n_sorted;
            let order = &ws.order[l][..n_sorted];
            let n_out = layer.n_out;
            let v = &mut ws.v[..n_out];
            let hits = &mut ws.hits[..n_out];
            let vc = &mut ws.v_cross[l];
            v.fill(0.0);
            vc.fill(0.0);
            out.fill(t_max);
            let threshold = layer.threshold / scale;
            let mut unfired = n_out;
            let mut p = 0;
            while p < order.len() {
                let t = input[order[p] as usize];
                if t >= limit {
                    break;
                }
                while p < order.len() && input[order[p] as usize] == t {
                    let i = order[p] as usize;
                    for (vj, &wj) in v.iter_mut().zip(&layer.w[i * n_out..(i + 1) * n_out]) {
                        *vj += wj;
                    }
                    p += 1;
                }
                // Indices of crossing neurons are collected in `hits`.
                // A neuron that fired has v = -inf, so it never crosses again.
                // Blocks of 8 are tested with a vectorisable compare; only blocks with a crossing
                // (a few per step) are scanned.
                let mut k = 0;
                let mut scan = |base: usize, block: &[f64]| {
                    if block.iter().fold(false, |any, &x| any | (x > threshold)) {
                        for (jj, &x) in block.iter().enumerate() {
                            if x > threshold {
                                hits[k] = (base + jj) as u32;
                                k += 1;
                            }
                        }
                    }
                };
                let blocks = v.chunks_exact(8);
                let tail = blocks.remainder();
                for (b, block) in blocks.enumerate() {
                    scan(8 * b, block);
                }
                scan(n_out - tail.len(), tail);
                for &j in &hits[..k] {
                    let j = j as usize;
                    out[j] = t + delay;
                    vc[j] = v[j] * scale;
                    v[j] = f64::NEG_INFINITY;
                }
                unfired -= k;
                if unfired == 0 {
                    break;
                }
            }
        }
    }

    /// Potentials of the last layer at step `step`, `V_j(step) = sum_i w_ji [t_i <= step]`, for the
    /// sample `x` last run through [`S4nnNetwork::forward`] in `ws`.
    pub fn output_potentials(&self, x: &[u32], ws: &S4nnWorkspace, step: u32, v: &mut [f64]) {
        let last = self.layers.len() - 1;
        let layer = &self.layers[last];
        let input: &[u32] = if last == 0 { x } else { &ws.times[last - 1] };
        v.fill(0.0);
        for &i in ws.sorted_inputs(last) {
            let i = i as usize;
            if input[i] > step {
                break;
            }
            for (vj, &wj) in v
                .iter_mut()
                .zip(&layer.w[i * layer.n_out..(i + 1) * layer.n_out])
            {
                *vj += wj;
            }
        }
    }

    /// Spike times of every layer for `n` samples (`x`: `[n, n_inputs]`), in parallel over samples.
    /// Returns one `[n, n_l]` row-major vector per layer and the last layer's crossing potentials.
    pub fn run(&self, x: &[u32], n: usize, threads: usize) -> Result<(Vec<Vec<u32>>, Vec<f64>)> {
        self.check_inputs("times", x, n)?;
        let total: usize = self.layers.iter().map(|l| l.n_out).sum();
        let n_in = self.n_inputs();
        let n_out = self.n_outputs();
        let mut flat = vec![0u32; n * total];
        let mut volts = vec![0.0; n * n_out];
        with_threads(threads, || {
            flat.par_chunks_mut(total * CHUNK)
                .zip(volts.par_chunks_mut(n_out * CHUNK))
                .zip(x.par_chunks(n_in * CHUNK))
                .for_each_init(
                    || self.workspace(),
                    |ws, ((out, vo), xin)| {
                        for ((o, vv), xi) in out
                            .chunks_mut(total)
                            .zip(vo.chunks_mut(n_out))
                            .zip(xin.chunks(n_in))
                        {
                            self.forward(xi, ws);
                            let mut at = 0;
                            for layer_out in &ws.times {
                                o[at..at + layer_out.len()].copy_from_slice(layer_out);
                                at += layer_out.len();
                            }
                            vv.copy_from_slice(ws.v_cross.last().expect("a network has layers"));
                        }
                    },
                );
        })?;
        let mut per_layer: Vec<Vec<u32>> = self
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
        Ok((per_layer, volts))
    }

    /// Predicted classes. Clean: first output to spike (tie rule), -1 when no output fired. Paper:
    /// the same, but when no output fired the largest potential at `t_max - 3` decides.
    pub fn predict(
        &self,
        x: &[u32],
        n: usize,
        tie: TieRule,
        protocol: Protocol,
        threads: usize,
    ) -> Result<Vec<i64>> {
        self.check_inputs("times", x, n)?;
        let n_in = self.n_inputs();
        let mut pred = vec![-1i64; n];
        with_threads(threads, || {
            pred.par_chunks_mut(CHUNK)
                .zip(x.par_chunks(n_in * CHUNK))
                .for_each_init(
                    || (self.workspace(), vec![0.0; self.n_outputs()]),
                    |(ws, v), (p, xin)| {
                        for (pi, xi) in p.iter_mut().zip(xin.chunks(n_in)) {
                            self.forward(xi, ws);
                            let last = ws.times.len() - 1;
                            *pi = match first_to_spike(
                                &ws.times[last],
                                &ws.v_cross[last],
                                self.t_max,
                                tie,
                            ) {
                                Some(k) => k as i64,
                                None if protocol == Protocol::Paper => {
                                    self.fallback(xi, ws, v) as i64
                                }
                                None => -1,
                            };
                        }
                    },
                );
        })?;
        Ok(pred)
    }

    /// Argmax (first on equality) of the output potentials at `t_max - 3`.
    fn fallback(&self, x: &[u32], ws: &S4nnWorkspace, v: &mut [f64]) -> usize {
        let step = self.t_max.saturating_sub(PAPER_FALLBACK_OFFSET);
        self.output_potentials(x, ws, step, v);
        let mut best = 0;
        for (j, &vj) in v.iter().enumerate() {
            if vj > v[best] {
                best = j;
            }
        }
        best
    }

    /// Accuracy with both protocols, and spike statistics, in parallel over samples.
    pub fn evaluate(
        &self,
        data: LabelledSteps,
        tie: TieRule,
        threads: usize,
    ) -> Result<S4nnEvaluation> {
        data.check("data", self)?;
        with_threads(threads, || self.evaluate_in_pool(data, tie))
    }

    pub(crate) fn evaluate_in_pool(&self, data: LabelledSteps, tie: TieRule) -> S4nnEvaluation {
        #[derive(Clone, Copy, Default)]
        struct Tally {
            clean: usize,
            paper: usize,
            silent: usize,
            ties: usize,
            first_sum: u64,
        }
        let n = data.len();
        let n_in = self.n_inputs();
        let t_max = self.t_max;
        let mut tallies = vec![Tally::default(); n.div_ceil(CHUNK)];
        tallies.par_iter_mut().enumerate().for_each_init(
            || (self.workspace(), vec![0.0; self.n_outputs()]),
            |(ws, v), (c, tally)| {
                for s in c * CHUNK..((c + 1) * CHUNK).min(n) {
                    let (x, y) = data.sample(s, n_in);
                    self.forward(x, ws);
                    let last = ws.times.len() - 1;
                    let out = &ws.times[last];
                    let t_min = out.iter().copied().min().unwrap_or(t_max);
                    if t_min < t_max {
                        let winner = first_to_spike(out, &ws.v_cross[last], t_max, tie);
                        tally.clean += usize::from(winner == Some(y));
                        tally.paper += usize::from(out[y] == t_min);
                        tally.ties += usize::from(out.iter().filter(|&&t| t == t_min).count() > 1);
                        tally.first_sum += u64::from(t_min);
                    } else {
                        tally.silent += 1;
                        tally.paper += usize::from(self.fallback(x, ws, v) == y);
                    }
                }
            },
        );
        let mut total = Tally::default();
        for t in &tallies {
            total.clean += t.clean;
            total.paper += t.paper;
            total.silent += t.silent;
            total.ties += t.ties;
            total.first_sum += t.first_sum;
        }
        let frac = |k: usize| {
            if n > 0 {
                k as f64 / n as f64
            } else {
                f64::NAN
            }
        };
        let spiking = n - total.silent;
        S4nnEvaluation {
            n,
            accuracy: frac(total.clean),
            accuracy_paper: frac(total.paper),
            no_output_spike: frac(total.silent),
            ties: frac(total.ties),
            mean_first_spike: if spiking > 0 {
                total.first_sum as f64 / spiking as f64
            } else {
                f64::NAN
            },
        }
    }
}
