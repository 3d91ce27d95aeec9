//! A FORCE reservoir: the neurons, static sparse weights, synaptic filters, the rank-k decoders with
//! output feedback, RLS, and the step loop.

use super::kernel::{self, Block, Fanout, Segment, StepConsts, W};
use super::neuron::{NeuronModel, NeuronState};
use super::rls::{Gain, Precision, Rls};
use super::weights::StaticWeights;
use crate::error::{ensure_positive, Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;

/// Reservoirs at least this large run the RLS pass on the thread pool.
const PARALLEL_MIN_N: usize = 768;

/// Blocks of [`W`] neurons per segment of the neuron pass (at least), unless a run asks otherwise
/// ([`RunOptions::segment_blocks`]): a reservoir of `nb` blocks is cut into `max(1, nb /
/// segment_blocks)` contiguous segments of nearly equal size, fixed by `n` alone, which run on the
/// thread pool (each delivers the last step's spikes onto its own neurons and steps them; the
/// readout adds the segments' partial sums in segment order), so results do not depend on the
/// number of threads. The default keeps reservoirs below 16384 neurons in one segment: on the
/// shared 2-core VM, splitting the ~20-us step of the 5000-neuron Ode-to-Joy reservoir in two did
/// not pay (the second worker seldom woke within a step; measured under load 4-6).
const SEGMENT_BLOCKS: usize = 1024;

/// The contiguous block ranges of the segments of a reservoir of `nb` blocks.
fn segment_ranges(nb: usize, per: usize) -> Vec<(usize, usize)> {
    let s = (nb / per.max(1)).max(1);
    (0..s).map(|i| (i * nb / s, (i + 1) * nb / s)).collect()
}

/// Where each fan-out list enters each segment: `at[j * (s + 1) + q]` is the first synapse of
/// neuron `j` onto segment `q` (of `s`), the last entry its end; `None` when some list is not
/// sorted by postsynaptic neuron (then each segment filters the full lists).
fn segment_splits(w: &StaticWeights, bounds: &[usize]) -> Option<Vec<usize>> {
    let s = bounds.len() - 1;
    let mut at = Vec::with_capacity(w.n * (s + 1));
    for j in 0..w.n {
        let (lo, hi) = (w.ptr[j], w.ptr[j + 1]);
        let post = &w.post[lo..hi];
        if post.windows(2).any(|p| p[0] > p[1]) {
            return None;
        }
        for &b in &bounds[..s] {
            at.push(lo + post.partition_point(|&p| (p as usize) < b));
        }
        at.push(hi);
    }
    Some(at)
}

/// Add the static weights of `spikes` (in order) onto `jd`, the spike inputs of segment `q`
/// (neurons `base..base + jd.len()`): the segment's share of each list from `splits`, or (without
/// them) the full lists with the synapses onto other neurons skipped.
#[inline]
fn deliver(
    spikes: &[u32],
    w: &StaticWeights,
    splits: Option<&[usize]>,
    q: usize,
    base: usize,
    jd: &mut [f64],
) {
    for &j in spikes {
        let j = j as usize;
        match splits {
            Some(at) => {
                let s1 = at.len() / w.n;
                let (lo, hi) = (at[j * s1 + q], at[j * s1 + q + 1]);
                for (&p, &x) in w.post[lo..hi].iter().zip(&w.weight[lo..hi]) {
                    jd[p as usize - base] += x;
                }
            }
            None => {
                let (lo, hi) = (w.ptr[j], w.ptr[j + 1]);
                for (&p, &x) in w.post[lo..hi].iter().zip(&w.weight[lo..hi]) {
                    if let Some(t) = jd.get_mut((p as usize).wrapping_sub(base)) {
                        *t += x;
                    }
                }
            }
        }
    }
}

/// A segment's part of the state during a run.
struct SegState<'a> {
    blocks: &'a mut [Block],
    jd: &'a mut [f64],
    base: usize,
    /// Index of the segment.
    q: usize,
    spikes: Vec<u32>,
    part: Vec<[f64; 4]>,
}

/// Everything that defines a reservoir. Times in seconds; `g`, `q`, `bias` in the model's current
/// units (see [`NeuronModel`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForceConfig {
    pub n: usize,
    /// Output dimension (rank of the learned feedback term).
    pub k: usize,
    pub model: NeuronModel,
    pub dt: f64,
    /// Synaptic rise time (s); 0 = single exponential.
    pub tau_rise: f64,
    pub tau_decay: f64,
    /// Gain of the static weights and of the feedback encoders.
    pub g: f64,
    pub q: f64,
    /// Connection probability of the static weights.
    pub p: f64,
    /// Subtract each row's mean over its nonzero static weights.
    pub balance: bool,
    /// RLS every `rls_every` steps while learning.
    pub rls_every: usize,
    /// `P(0) = I / lambda`.
    pub lambda: f64,
    pub gain: Gain,
    pub seed: u64,
    /// Storage of the RLS matrix `P` (float64 unless asked otherwise).
    #[serde(default)]
    pub precision: Precision,
}

impl ForceConfig {
    pub fn validate(&self) -> Result<()> {
        if self.n == 0 || self.n > u32::MAX as usize {
            return Err(Error::param("n", "between 1 and 2^32 - 1 neurons", self.n));
        }
        if self.k == 0 {
            return Err(Error::param("k", "at least one output", self.k));
        }
        self.model.validate()?;
        ensure_positive("dt", self.dt)?;
        ensure_positive("tau_decay", self.tau_decay)?;
        if !(self.tau_rise.is_finite() && self.tau_rise >= 0.0) {
            return Err(Error::param(
                "tau_rise",
                "a time >= 0 s (0 = single exponential)",
                self.tau_rise,
            ));
        }
        if !self.q.is_finite() {
            return Err(Error::param("q", "a finite gain", self.q));
        }
        if self.rls_every == 0 {
            return Err(Error::param("rls_every", "at least 1 step", 0));
        }
        ensure_positive("lambda", self.lambda)?;
        Ok(())
    }
}

/// What a run records besides the readout.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Keep the readout every this many steps (>= 1).
    pub record_every: usize,
    /// Keep (step, neuron) of every spike.
    pub record_spikes: bool,
    /// Keep the filtered rates `r` and targets of every RLS update (for checks).
    pub record_updates: bool,
    /// Call the progress callback every this many steps (0 = never).
    pub progress_every: usize,
    /// Run RLS (and the segments of the neuron pass) on the thread pool for large reservoirs.
    pub parallel: bool,
    /// Blocks of eight neurons per segment of the neuron pass, at least (0: the default, 1024).
    /// Results depend on the segments (the readout's summation order), not on the threads.
    pub segment_blocks: usize,
}

/// Reported to the progress callback.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Simulated time since the reservoir was built (s).
    pub time: f64,
    /// Steps done in this run so far, of `total`.
    pub steps: usize,
    pub total: usize,
    /// Mean firing rate (Hz) since the previous report.
    pub rate_hz: f64,
    /// Mean squared readout error since the previous report (NaN without a target).
    pub mse: f64,
    pub learning: bool,
    pub rls_updates: u64,
}

/// What a run produced.
#[derive(Clone, Debug, Default)]
pub struct RunOutput {
    pub steps: usize,
    /// Readout every `record_every` steps, row-major (rows x k).
    pub z: Vec<f64>,
    pub counts: Vec<u32>,
    pub spike_steps: Vec<u64>,
    pub spike_ids: Vec<u32>,
    pub update_rates: Vec<f64>,
    pub update_targets: Vec<f64>,
    pub interrupted: bool,
}

/// A FORCE reservoir and its state (it persists across runs, so settle / learn / test are three
/// consecutive runs).
#[derive(Clone, Debug)]
pub struct ForceNetwork {
    pub cfg: ForceConfig,
    pub weights: StaticWeights,
    /// Feedback encoders `q * U(-1, 1)`, column-major: `encoders[c * n + i]`.
    pub encoders: Vec<f64>,
    pub neurons: NeuronState,
    pub ipsc: Vec<f64>,
    pub h: Vec<f64>,
    pub r: Vec<f64>,
    pub hr: Vec<f64>,
    pub z: Vec<f64>,
    pub rls: Rls,
    /// Steps simulated so far.
    pub step: u64,
}

/// The readout of output `c` from the segments' lane sums: lanes added in segment order, then
/// `(a0 + a1) + (a2 + a3)`.
#[inline]
fn readout(segs: &[SegState], c: usize) -> f64 {
    let mut t = segs[0].part[c];
    for sg in &segs[1..] {
        for (x, y) in t.iter_mut().zip(&sg.part[c]) {
            *x += y;
        }
    }
    (t[0] + t[1]) + (t[2] + t[3])
}

impl ForceNetwork {
    /// Static weights, encoders and initial state drawn from `cfg.seed` (three independent streams).
    pub fn new(cfg: ForceConfig) -> Result<Self> {
        cfg.validate()?;
        let weights = StaticWeights::random(cfg.n, cfg.p, cfg.g, cfg.balance, cfg.seed)?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x9e37_79b9_7f4a_7c15);
        let encoders = (0..cfg.n * cfg.k)
            .map(|_| cfg.q * (2.0 * rng.random::<f64>() - 1.0))
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5851_f42d_4c95_7f2d);
        let u: Vec<f64> = (0..cfg.n).map(|_| rng.random::<f64>()).collect();
        let neurons = cfg.model.initial_state(&u);
        Self::with_parts(cfg, weights, encoders, neurons)
    }

    /// A reservoir from given weights, encoders and neuron state.
    pub fn with_parts(
        cfg: ForceConfig,
        weights: StaticWeights,
        encoders: Vec<f64>,
        neurons: NeuronState,
    ) -> Result<Self> {
        cfg.validate()?;
        let n = cfg.n;
        if weights.n != n {
            return Err(Error::shape(
                "weights",
                format!("a {n} x {n} matrix"),
                weights.n,
            ));
        }
        weights.validate()?;
        if encoders.len() != n * cfg.k {
            return Err(Error::shape(
                "encoders",
                format!("{n} x {} values", cfg.k),
                encoders.len(),
            ));
        }
        crate::error::ensure_all_finite("encoders", &encoders)?;
        if neurons.v.len() != n || neurons.u.len() != n || neurons.last_spike.len() != n {
            return Err(Error::shape(
                "state",
                format!("{n} values per state variable"),
                neurons.v.len(),
            ));
        }
        crate::error::ensure_all_finite("v", &neurons.v)?;
        crate::error::ensure_all_finite("u", &neurons.u)?;
        let rls = Rls::with_precision(n, cfg.k, cfg.lambda, cfg.gain, cfg.precision)?;
        Ok(ForceNetwork {
            weights,
            encoders,
            neurons,
            ipsc: vec![0.0; n],
            h: vec![0.0; n],
            r: vec![0.0; n],
            hr: vec![0.0; n],
            z: vec![0.0; cfg.k],
            rls,
            step: 0,
            cfg,
        })
    }

    /// Simulate `steps` steps. With `learn`, RLS runs every `rls_every` steps (counted from the
    /// reservoir's first step, as `mod(i, step) == 1` in the reference) against `target`
    /// (steps x k, row-major; needed when learning, optional otherwise, for the reported error).
    /// The callback can stop the run (`Break`); the state is then consistent and the run can go on.
    pub fn run(
        &mut self,
        steps: usize,
        target: Option<&[f64]>,
        learn: bool,
        opts: &RunOptions,
        callback: &mut (dyn FnMut(&Progress) -> ControlFlow<()> + Send),
    ) -> Result<RunOutput> {
        let (n, k) = (self.cfg.n, self.cfg.k);
        if let Some(t) = target {
            if t.len() != steps * k {
                return Err(Error::shape(
                    "target",
                    format!("{steps} x {k} values (one row per step)"),
                    t.len(),
                ));
            }
            crate::error::ensure_all_finite("target", t)?;
        } else if learn {
            return Err(Error::param(
                "target",
                "a target signal when learning",
                "None",
            ));
        }
        if opts.record_every == 0 {
            return Err(Error::param("record_every", "at least 1 step", 0));
        }
        let unit = self.cfg.model.time_unit();
        let dtm = self.cfg.dt / unit;
        let (trm, tdm) = (self.cfg.tau_rise / unit, self.cfg.tau_decay / unit);
        let single = trm == 0.0;
        let mut consts = StepConsts {
            dt: dtm,
            er: if single { 0.0 } else { (-dtm / trm).exp() },
            ed: (-dtm / tdm).exp(),
            jump: if single { 1.0 / tdm } else { 1.0 / (trm * tdm) },
            single,
            bias: self.cfg.model.bias(),
            step: 0,
        };
        let parallel = opts.parallel && n >= PARALLEL_MIN_N;
        let n_ref = kernel::refractory_steps(&self.cfg.model, dtm);
        let lif = matches!(self.cfg.model, NeuronModel::Lif { .. });

        // The state in blocks of W neurons for the run (padding lanes: zero encoders and decoders,
        // their spikes ignored).
        let nb = n.div_ceil(W);
        let np = nb * W;
        let mut blocks = vec![Block::default(); nb];
        let mut jd = vec![0.0f64; np];
        for i in 0..n {
            let (b, l) = (&mut blocks[i / W], i % W);
            b.v[l] = self.neurons.v[i];
            b.aux[l] = if lif {
                (self.neurons.last_spike[i] + n_ref) as f64
            } else {
                self.neurons.u[i]
            };
            b.ipsc[l] = self.ipsc[i];
            b.h[l] = self.h[i];
            b.r[l] = self.r[i];
            b.hr[l] = self.hr[i];
        }
        let pad = |x: &[f64]| -> Vec<f64> {
            let mut out = vec![0.0; k * np];
            for (o, col) in out.chunks_exact_mut(np).zip(x.chunks_exact(n)) {
                o[..n].copy_from_slice(col);
            }
            out
        };
        let enc = pad(&self.encoders);
        let mut dec = pad(&self.rls.d);

        // The segments of the neuron pass.
        let per = match opts.segment_blocks {
            0 => SEGMENT_BLOCKS,
            b => b,
        };
        let ranges = segment_ranges(nb, per);
        let w = &self.weights;
        let split_table = if ranges.len() > 1 {
            let bounds: Vec<usize> = ranges.iter().map(|&(a, _)| a * W).chain([np]).collect();
            segment_splits(w, &bounds)
        } else {
            None
        };
        let splits = split_table.as_deref();
        let mut segs: Vec<SegState> = Vec::with_capacity(ranges.len());
        {
            let (mut rb, mut rj): (&mut [Block], &mut [f64]) = (&mut blocks, &mut jd);
            for (q, &(a, b)) in ranges.iter().enumerate() {
                let (hb, tb) = rb.split_at_mut(b - a);
                let (hj, tj) = rj.split_at_mut((b - a) * W);
                segs.push(SegState {
                    blocks: hb,
                    jd: hj,
                    base: a * W,
                    q,
                    spikes: Vec::new(),
                    part: vec![[0.0; 4]; k],
                });
                (rb, rj) = (tb, tj);
            }
        }
        let parallel_pass = opts.parallel && segs.len() > 1;
        let model = &self.cfg.model;

        let mut out = RunOutput {
            counts: vec![0; n],
            ..Default::default()
        };
        out.z.reserve(steps / opts.record_every * k + k);
        let mut spikes: Vec<u32> = Vec::new();
        let fanout = Fanout {
            ptr: &w.ptr,
            post: &w.post,
            weight: &w.weight,
        };
        let mut err = vec![0.0; k];
        let (mut win_spikes, mut win_sq, mut win_steps) = (0u64, 0.0f64, 0usize);
        for t in 0..steps {
            self.step += 1;
            let i = self.step;
            consts.step = i;
            // 1.-4. Per segment: the last step's spikes (column sums of the static weights, spikes
            // x fan-out) into the spike input, then one pass: input current (filtered static input
            // + bias + feedback of the previous readout), neurons, filters, and the segment's share
            // of the readout d^T r.
            {
                let (c, z, enc, dec) = (&consts, &self.z[..], &enc[..], &dec[..]);
                let prev = &spikes[..];
                let work = |sg: &mut SegState| {
                    deliver(prev, w, splits, sg.q, sg.base, sg.jd);
                    sg.spikes.clear();
                    kernel::step_pass(
                        model,
                        c,
                        Segment {
                            blocks: sg.blocks,
                            jd: sg.jd,
                            base: sg.base,
                        },
                        n,
                        np,
                        enc,
                        dec,
                        z,
                        &mut sg.part,
                        &mut sg.spikes,
                        fanout,
                    );
                };
                if parallel_pass {
                    segs.par_iter_mut().for_each(work);
                } else {
                    segs.iter_mut().for_each(work);
                }
            }
            spikes.clear();
            for sg in &segs {
                spikes.extend_from_slice(&sg.spikes);
            }
            for (cc, zc) in self.z.iter_mut().enumerate() {
                *zc = readout(&segs, cc);
            }
            for &j in &spikes {
                out.counts[j as usize] += 1;
            }
            // 5. Error, RLS.
            if let Some(tg) = target {
                let y = &tg[t * k..(t + 1) * k];
                for ((e, zc), yc) in err.iter_mut().zip(&self.z).zip(y) {
                    *e = zc - yc;
                    win_sq += *e * *e;
                }
                if learn && (i - 1) % self.cfg.rls_every as u64 == 0 {
                    for sg in &segs {
                        for (bi, b) in sg.blocks.iter().enumerate() {
                            let i = sg.base + bi * W;
                            let m = W.min(n.saturating_sub(i));
                            self.r[i..i + m].copy_from_slice(&b.r[..m]);
                        }
                    }
                    if opts.record_updates {
                        out.update_rates.extend_from_slice(&self.r);
                        out.update_targets.extend_from_slice(y);
                    }
                    self.rls.update(&self.r, &err, parallel);
                    for (o, col) in dec.chunks_exact_mut(np).zip(self.rls.d.chunks_exact(n)) {
                        o[..n].copy_from_slice(col);
                    }
                }
            }
            // 6. Records and progress.
            if t % opts.record_every == 0 {
                out.z.extend_from_slice(&self.z);
            }
            if opts.record_spikes {
                out.spike_steps
                    .resize(out.spike_steps.len() + spikes.len(), i);
                out.spike_ids.extend_from_slice(&spikes);
            }
            win_spikes += spikes.len() as u64;
            win_steps += 1;
            out.steps = t + 1;
            if opts.progress_every > 0 && (win_steps == opts.progress_every || t + 1 == steps) {
                let secs = win_steps as f64 * self.cfg.dt;
                let p = Progress {
                    time: self.step as f64 * self.cfg.dt,
                    steps: t + 1,
                    total: steps,
                    rate_hz: win_spikes as f64 / (n as f64 * secs),
                    mse: if target.is_some() {
                        win_sq / (win_steps * k) as f64
                    } else {
                        f64::NAN
                    },
                    learning: learn,
                    rls_updates: self.rls.updates,
                };
                (win_spikes, win_sq, win_steps) = (0, 0.0, 0);
                if callback(&p).is_break() {
                    out.interrupted = t + 1 < steps;
                    break;
                }
            }
        }
        // The last step's spikes into the spike input; back from blocks, with it added to the
        // filter.
        for sg in segs.iter_mut() {
            deliver(&spikes, w, splits, sg.q, sg.base, sg.jd);
        }
        drop(segs);
        for i in 0..n {
            let (b, l) = (&blocks[i / W], i % W);
            let add = jd[i] * consts.jump;
            self.neurons.v[i] = b.v[l];
            if lif {
                self.neurons.last_spike[i] = (b.aux[l] as u64).saturating_sub(n_ref);
            } else {
                self.neurons.u[i] = b.aux[l];
            }
            self.ipsc[i] = if single { b.ipsc[l] + add } else { b.ipsc[l] };
            self.h[i] = if single { b.h[l] } else { b.h[l] + add };
            self.r[i] = b.r[l];
            self.hr[i] = b.hr[l];
        }
        if self.z.iter().any(|x| !x.is_finite()) {
            return Err(Error::NonFinite {
                arg: "readout".into(),
                expected:
                    "a finite readout (the reservoir diverged: lower q, g or the RLS rate 1/lambda)"
                        .into(),
                got: format!("{:?}", self.z),
            });
        }
        Ok(out)
    }

    /// Static weights as (pre, post, weight) triplets.
    pub fn weight_triplets(&self) -> (Vec<u32>, Vec<u32>, Vec<f64>) {
        let w = &self.weights;
        let mut pre = Vec::with_capacity(w.n_synapses());
        for j in 0..w.n {
            pre.resize(pre.len() + (w.ptr[j + 1] - w.ptr[j]), j as u32);
        }
        (pre, w.post.clone(), w.weight.clone())
    }
}

/// A LIF reservoir of the sine script's constants with k = 2 and RLS every 20 steps, for tests.
#[cfg(test)]
pub(crate) fn lif_config(n: usize, seed: u64, precision: super::Precision) -> ForceConfig {
    ForceConfig {
        n,
        k: 2,
        model: NeuronModel::Lif {
            tau_mem: 10e-3,
            v_reset: -65.0,
            v_peak: -40.0,
            refractory: 2e-3,
            bias: -40.0,
        },
        dt: 5e-5,
        tau_rise: 2e-3,
        tau_decay: 20e-3,
        g: 0.04,
        q: 10.0,
        p: 0.1,
        balance: true,
        rls_every: 20,
        lambda: 2e5,
        gain: Gain::Exact,
        seed,
        precision,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Segment delivery: with the split table (sorted lists) and by filtering the full lists, each
    /// segment gets exactly its neurons' share, added in the same order as one whole-reservoir
    /// delivery (identical bits); an unsorted list disables the table.
    #[test]
    fn segment_delivery_matches_whole_delivery() {
        let n = 4100;
        let w = StaticWeights::random(n, 0.1, 1.5, true, 9).unwrap();
        let nb = n.div_ceil(W);
        let ranges = segment_ranges(nb, 256);
        assert_eq!(ranges.len(), 2);
        let bounds: Vec<usize> = ranges.iter().map(|&(a, _)| a * W).chain([nb * W]).collect();
        let at = segment_splits(&w, &bounds).expect("sorted lists");
        let spikes: Vec<u32> = vec![3, 17, 2000, 2051, 4099];
        let mut whole = vec![0.0; nb * W];
        deliver(&spikes, &w, None, 0, 0, &mut whole);
        assert!(whole.iter().filter(|x| **x != 0.0).count() > 300);
        for table in [Some(&at[..]), None] {
            let mut parts = Vec::new();
            for (q, &(a, b)) in ranges.iter().enumerate() {
                let mut jd = vec![0.0; (b - a) * W];
                deliver(&spikes, &w, table, q, a * W, &mut jd);
                parts.extend(jd);
            }
            let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&parts), bits(&whole));
        }
        let mut shuffled = w.clone();
        shuffled.post.swap(w.ptr[5], w.ptr[5] + 1);
        assert!(segment_splits(&shuffled, &bounds).is_none());
    }

    /// Runs in three segments equal the one-segment run (same spikes, readouts to rounding) and do
    /// not depend on the thread pool (identical bits), free and learning.
    #[test]
    fn segmented_runs_match_and_do_not_depend_on_threads() {
        let cfg = lif_config(1000, 4, Default::default());
        let steps = 2000;
        let target: Vec<f64> = (0..steps * 2)
            .map(|i| ((i / 2) as f64 * 5e-5 * 31.4).sin() * (1 + i % 2) as f64)
            .collect();
        let go = |segment_blocks: usize, parallel: bool| {
            let mut net = ForceNetwork::new(cfg.clone()).unwrap();
            let opts = RunOptions {
                record_every: 1,
                record_spikes: true,
                parallel,
                segment_blocks,
                ..Default::default()
            };
            let mut cb = |_: &Progress| ControlFlow::Continue(());
            let a = net
                .run(steps, Some(&target), false, &opts, &mut cb)
                .unwrap();
            let b = net.run(steps, Some(&target), true, &opts, &mut cb).unwrap();
            let z: Vec<f64> = a.z.iter().chain(&b.z).copied().collect();
            let sp: Vec<(u64, u32)> = a
                .spike_steps
                .iter()
                .chain(&b.spike_steps)
                .copied()
                .zip(a.spike_ids.iter().chain(&b.spike_ids).copied())
                .collect();
            (z, sp, net.rls.d.clone())
        };
        let one = go(0, true);
        let (three, three_p) = (go(40, false), go(40, true));
        assert_eq!(segment_ranges(1000usize.div_ceil(W), 40).len(), 3);
        assert!(one.1.len() > 1000, "spikes {}", one.1.len());
        assert_eq!(three.1, one.1);
        let scale = one.0.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(scale > 0.0);
        for (a, b) in three.0.iter().zip(&one.0) {
            assert!((a - b).abs() <= 1e-12 * scale, "{a} vs {b}");
        }
        let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&three.0), bits(&three_p.0));
        assert_eq!(three.1, three_p.1);
        assert_eq!(bits(&three.2), bits(&three_p.2));
    }
}
