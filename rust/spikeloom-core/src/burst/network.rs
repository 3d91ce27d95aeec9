//! Networks of two-compartment populations with background Poisson drive, sparse projections onto
//! soma or dendrite, idealised or Tsodyks-Markram short-term plasticity and the burst-dependent rule.
//!
//! Spikes reach their targets after a transmission delay of `D >= 1` steps (the reference Auryn
//! simulations use Auryn's minimum axonal delay of 8 steps of 0.1 ms). Each step (`dt`) every
//! population (1) adds the spikes its presynaptic populations emitted `D` steps earlier (walking each
//! spike's outgoing synapse list: work = spikes x fan-out) and updates the presynaptic event traces,
//! (2) adds its background Poisson inputs (one Poisson count per source and step, spread over
//! uniformly drawn neurons), (3) integrates its neurons (one vectorised pass), (4) classifies its
//! spikes into events and bursts and updates its rate / burst-probability averages, and (5) applies
//! the plasticity rule on its incoming plastic synapses. Because of the delay, populations advance
//! `D` steps at a time independently of each other (in parallel with rayon, one synchronisation per
//! block). Each population owns its incoming projections and its random streams, so results do not
//! depend on the number of threads. Traces decay in O(1) per step (running scale factor).

use super::detect::{Detector, RateEstimate, SpikeKind};
use super::neuron::{StepSpike, Stepper, TwoCompartmentParams, TwoCompartmentState};
use super::poisson::{index32, PoissonAlias, Xoshiro256pp};
use super::rule::RuleParams;
use super::stp::{TmState, Transmit};
use crate::error::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Target compartment of a synapse or input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compartment {
    Soma,
    Dendrite,
}

/// Receptor of a synapse: excitatory (AMPA, reversal `e_exc`) or inhibitory (GABA, `e_inh`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Receptor {
    Exc,
    Inh,
}

/// An independent Poisson source per neuron onto one compartment and receptor.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Background {
    pub compartment: Compartment,
    pub receptor: Receptor,
    /// Rate (Hz) and conductance jump (units of the leak conductance).
    pub rate: f64,
    pub weight: f64,
}

/// A population of identical two-compartment neurons.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopulationSpec {
    pub n: usize,
    pub params: TwoCompartmentParams,
    pub backgrounds: Vec<Background>,
    /// Moving-average time constant of the event-rate / burst-probability estimates (s).
    pub tau_avg: f64,
    /// Event/burst classification window (s; 16 ms).
    pub burst_window: f64,
    /// Initial somatic and dendritic potentials are E_L + N(0, v_init_sd) (V).
    pub v_init_sd: f64,
    /// Initial values of the event-rate and burst-rate averages (Hz).
    pub event_rate0: f64,
    pub burst_rate0: f64,
}

/// A random projection from population `pre` to population `post`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectionSpec {
    pub pre: usize,
    pub post: usize,
    /// Each pair is connected with probability `p`, with initial weight `weight` (dimensionless).
    pub p: f64,
    pub weight: f64,
    pub compartment: Compartment,
    pub receptor: Receptor,
    pub transmit: Transmit,
    pub rule: Option<RuleParams>,
    pub seed: u64,
    /// Classification window (s) of the presynaptic spikes for this projection: a spike is an event
    /// for it when a per-neuron trace of all presynaptic spikes (time constant `event_window`, +1
    /// per spike) is below `1/e`, a burst / within-burst spike otherwise; the transmission filter and
    /// the rule (presynaptic event trace, homeostatic potentiation) then use this classification.
    /// `None`: the presynaptic population's (`burst_window`, 16 ms). The reference XOR code's
    /// plastic connections classify with their presynaptic trace, time constant `tau_pre` (100 ms).
    #[serde(default)]
    pub event_window: Option<f64>,
}

/// Description of a whole network (JSON-serialisable).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub dt: f64,
    pub seed: u64,
    /// Transmission delay (s; rounded to whole steps, at least one step; default one step).
    #[serde(default)]
    pub delay: Option<f64>,
    pub populations: Vec<PopulationSpec>,
    pub projections: Vec<ProjectionSpec>,
}

#[derive(Clone, Debug)]
struct Projection {
    pre: usize,
    compartment: Compartment,
    receptor: Receptor,
    transmit: Transmit,
    rule: Option<RuleParams>,
    // Post-major index (plasticity at postsynaptic spikes): synapse `in_syn[s]` from `in_pre[s]`.
    in_ptr: Vec<u32>,
    in_pre: Vec<u32>,
    in_syn: Vec<u32>,
    // Weights and targets are stored pre-major, so delivering a spike reads them sequentially.
    w: Vec<f64>,
    out_ptr: Vec<u32>,
    out_post: Vec<u32>,
    // Presynaptic event traces in a running scale: value = pre_trace / pre_scale.
    pre_trace: Vec<f64>,
    pre_scale: f64,
    pre_grow: f64,
    stp: Option<TmState>,
    /// Own classification of the presynaptic spikes (`ProjectionSpec::event_window`).
    pre_detect: Option<Detector>,
    /// Kinds of the spikes arriving in the current step (scratch).
    kinds: Vec<SpikeKind>,
    /// Index of the postsynaptic population's all-spike average read by the min-rate homeostasis
    /// (`RuleParams::hom_tau`); `None`: its event-rate average.
    hom_avg: Option<usize>,
}

impl Projection {
    fn build(spec: &ProjectionSpec, n_pre: usize, n_post: usize, dt: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&spec.p) {
            return Err(Error::param("p", "a probability in [0, 1]", spec.p));
        }
        if !(spec.weight.is_finite() && spec.weight >= 0.0) {
            return Err(Error::param(
                "weight",
                "a finite conductance >= 0 (units of the leak conductance; the receptor sets the sign)",
                spec.weight,
            ));
        }
        if let Some(r) = &spec.rule {
            r.validate()?;
        }
        let stp = match spec.transmit {
            Transmit::Stp(tm) => {
                tm.validate()?;
                Some(TmState::new(n_pre, tm))
            }
            _ => None,
        };
        // Draw the pairs pre-major (geometric skipping), then index them post-major.
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        if spec.p > 0.0 && n_post > 0 {
            let log_q = (1.0 - spec.p).ln();
            for i in 0..n_pre {
                if spec.p >= 1.0 {
                    pairs.extend((0..n_post).map(|j| (i as u32, j as u32)));
                    continue;
                }
                let mut k: f64 = -1.0;
                loop {
                    let u: f64 = 1.0 - rng.random::<f64>();
                    k += 1.0 + (u.ln() / log_q).floor();
                    if k >= n_post as f64 {
                        break;
                    }
                    pairs.push((i as u32, k as u32));
                }
            }
        }
        let nnz = pairs.len();
        let mut in_ptr = vec![0u32; n_post + 1];
        for &(_, j) in &pairs {
            in_ptr[j as usize + 1] += 1;
        }
        for j in 0..n_post {
            in_ptr[j + 1] += in_ptr[j];
        }
        let mut fill = in_ptr.clone();
        let mut in_pre = vec![0u32; nnz];
        let mut syn_of_pair = vec![0u32; nnz];
        for (k, &(i, j)) in pairs.iter().enumerate() {
            let s = fill[j as usize] as usize;
            in_pre[s] = i;
            syn_of_pair[k] = s as u32;
            fill[j as usize] += 1;
        }
        let mut out_ptr = vec![0u32; n_pre + 1];
        for &(i, _) in &pairs {
            out_ptr[i as usize + 1] += 1;
        }
        for i in 0..n_pre {
            out_ptr[i + 1] += out_ptr[i];
        }
        // pairs are pre-major: pair k is synapse k; syn_of_pair maps it to its post-major slot
        let mut in_syn = vec![0u32; nnz];
        for (k, &slot) in syn_of_pair.iter().enumerate() {
            in_syn[slot as usize] = k as u32;
        }
        let out_post: Vec<u32> = pairs.iter().map(|&(_, j)| j).collect();
        let tau_pre = spec.rule.map_or(1.0, |r| r.tau_pre);
        let pre_detect =
            match spec.event_window {
                Some(w) => Some(Detector::new(n_pre, w).map_err(|_| {
                    Error::param("event_window", "a finite window > 0 (s) or None", w)
                })?),
                None => None,
            };
        Ok(Projection {
            pre: spec.pre,
            compartment: spec.compartment,
            receptor: spec.receptor,
            transmit: spec.transmit,
            rule: spec.rule,
            in_ptr,
            in_pre,
            in_syn,
            w: vec![spec.weight; nnz],
            out_ptr,
            out_post,
            pre_trace: if spec.rule.is_some() {
                vec![0.0; n_pre]
            } else {
                Vec::new()
            },
            pre_scale: 1.0,
            pre_grow: 1.0 / (-dt / tau_pre).exp(),
            stp,
            pre_detect,
            kinds: Vec::new(),
            hom_avg: None,
        })
    }
}

/// A spike in a population's log: emission step, neuron, kind.
type Logged = (u64, u32, SpikeKind);

#[derive(Clone, Debug)]
struct Population {
    spec: PopulationSpec,
    stepper: Stepper<f32>,
    state: TwoCompartmentState<f32>,
    detector: Detector,
    rates: RateEstimate,
    /// Averages of all spikes (every kind counted as an event) with the `(hom_tau, hom_rate0)` of
    /// incoming plastic projections (one per distinct pair).
    spike_avg: Vec<(f64, f64, RateEstimate)>,
    bg: Vec<PoissonAlias>,
    bg_rng: Xoshiro256pp,
    burst_rng: Xoshiro256pp,
    i_s: Vec<f32>,
    i_d: Vec<f32>,
    incoming: Vec<Projection>,
    out: Vec<(u32, StepSpike)>,
    step_spikes: Vec<(u32, SpikeKind)>,
    /// Spikes emitted during the current block (in step order).
    block: Vec<Logged>,
    /// Spikes emitted during the last `delay` steps (still to be delivered), in step order.
    log: Vec<Logged>,
    n_events: Vec<u32>,
    n_bursts: Vec<u32>,
    n_spikes: Vec<u32>,
}

/// Counts of one run, per population and neuron, and the optional raster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunResult {
    pub events: Vec<Vec<u32>>,
    pub bursts: Vec<Vec<u32>>,
    pub spikes: Vec<Vec<u32>>,
    /// Raster (only if recorded): step, population, neuron, kind code (0 event, 1 burst, 2 within).
    pub rec_step: Vec<u64>,
    pub rec_pop: Vec<u32>,
    pub rec_id: Vec<u32>,
    pub rec_kind: Vec<u8>,
    pub synaptic_events: u64,
}

/// A network of two-compartment populations (see the module docs).
#[derive(Clone, Debug)]
pub struct Network {
    pub dt: f64,
    step: u64,
    delay: u64,
    pops: Vec<Population>,
}

impl Network {
    /// Build the network with a transmission delay of one step; `seed` sets initial potentials,
    /// background and burst draws.
    pub fn new(
        dt: f64,
        pops: &[PopulationSpec],
        projections: &[ProjectionSpec],
        seed: u64,
    ) -> Result<Self> {
        Self::with_delay(dt, pops, projections, seed, dt)
    }

    /// Build the network described by `spec`.
    pub fn from_spec(spec: &NetworkSpec) -> Result<Self> {
        Self::with_delay(
            spec.dt,
            &spec.populations,
            &spec.projections,
            spec.seed,
            spec.delay.unwrap_or(spec.dt),
        )
    }

    /// Build the network with a transmission delay of `delay` seconds (rounded to whole steps, at
    /// least one).
    pub fn with_delay(
        dt: f64,
        pops: &[PopulationSpec],
        projections: &[ProjectionSpec],
        seed: u64,
        delay: f64,
    ) -> Result<Self> {
        if !(dt.is_finite() && dt > 0.0) {
            return Err(Error::param("dt", "a finite step > 0 (s)", dt));
        }
        if !(delay.is_finite() && (0.0..=1.0).contains(&delay)) {
            return Err(Error::param(
                "delay",
                "a transmission delay in [0, 1] s",
                delay,
            ));
        }
        let delay_steps = ((delay / dt).round() as u64).max(1);
        let mut built = Vec::with_capacity(pops.len());
        for (k, spec) in pops.iter().enumerate() {
            let stepper = Stepper::new(&spec.params, dt)?;
            if !(spec.v_init_sd.is_finite() && spec.v_init_sd >= 0.0) {
                return Err(Error::param(
                    "v_init_sd",
                    "a finite value >= 0 (V)",
                    spec.v_init_sd,
                ));
            }
            if spec.n == 0 || spec.n > u32::MAX as usize {
                return Err(Error::param("n", "a population size in 1..2^32", spec.n));
            }
            let mut bg = Vec::with_capacity(spec.backgrounds.len());
            for b in &spec.backgrounds {
                if !(b.rate.is_finite() && b.rate >= 0.0 && b.weight.is_finite() && b.weight >= 0.0)
                {
                    return Err(Error::param(
                        "background",
                        "finite rate >= 0 (Hz) and weight >= 0",
                        format!("rate {} weight {}", b.rate, b.weight),
                    ));
                }
                bg.push(PoissonAlias::new(b.rate * dt * spec.n as f64)?);
            }
            let mut rng = ChaCha8Rng::seed_from_u64(
                seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .wrapping_add(k as u64 + 1),
            );
            let mut state = TwoCompartmentState::rest(spec.n, &spec.params);
            for i in 0..spec.n {
                // Box-Muller normal draws for the initial potentials.
                for v in [&mut state.vs[i], &mut state.vd[i]] {
                    let u1: f64 = 1.0 - rng.random::<f64>();
                    let u2: f64 = rng.random::<f64>();
                    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                    *v = (spec.params.e_l + spec.v_init_sd * z) as f32;
                }
            }
            built.push(Population {
                detector: Detector::new(spec.n, spec.burst_window)?,
                rates: RateEstimate::new(
                    spec.n,
                    spec.tau_avg,
                    dt,
                    spec.event_rate0,
                    spec.burst_rate0,
                )?,
                stepper,
                state,
                spike_avg: Vec::new(),
                bg,
                bg_rng: Xoshiro256pp::new(seed, 4 * k as u64 + 1),
                burst_rng: Xoshiro256pp::new(seed, 4 * k as u64 + 2),
                i_s: vec![0.0; spec.n],
                i_d: vec![0.0; spec.n],
                incoming: Vec::new(),
                out: Vec::new(),
                step_spikes: Vec::new(),
                block: Vec::new(),
                log: Vec::new(),
                n_events: vec![0; spec.n],
                n_bursts: vec![0; spec.n],
                n_spikes: vec![0; spec.n],
                spec: spec.clone(),
            });
        }
        for (k, ps) in projections.iter().enumerate() {
            if ps.pre >= pops.len() || ps.post >= pops.len() {
                return Err(Error::param(
                    format!("projections[{k}].pre/post"),
                    format!("population indices in 0..{}", pops.len()),
                    format!("{} -> {}", ps.pre, ps.post),
                ));
            }
            let mut proj = Projection::build(ps, pops[ps.pre].n, pops[ps.post].n, dt)?;
            if let Some(rule) = &ps.rule {
                if let Some(tau) = rule.hom_tau {
                    let post = &mut built[ps.post];
                    let key = (tau, rule.hom_rate0);
                    let idx = match post.spike_avg.iter().position(|a| (a.0, a.1) == key) {
                        Some(i) => i,
                        None => {
                            let n = post.spec.n;
                            let avg = RateEstimate::new(n, tau, dt, rule.hom_rate0, 0.0)?;
                            post.spike_avg.push((tau, rule.hom_rate0, avg));
                            post.spike_avg.len() - 1
                        }
                    };
                    proj.hom_avg = Some(idx);
                }
            }
            built[ps.post].incoming.push(proj);
        }
        Ok(Network {
            dt,
            step: 0,
            delay: delay_steps,
            pops: built,
        })
    }

    /// Simulated time so far (s).
    pub fn time(&self) -> f64 {
        self.step as f64 * self.dt
    }

    /// Transmission delay (steps).
    pub fn delay_steps(&self) -> u64 {
        self.delay
    }

    pub fn n_populations(&self) -> usize {
        self.pops.len()
    }

    fn pop(&self, k: usize) -> Result<&Population> {
        self.pops.get(k).ok_or_else(|| {
            Error::param(
                "population",
                format!("an index in 0..{}", self.pops.len()),
                k,
            )
        })
    }

    /// Set the external current (A) of every neuron of population `k` in one compartment.
    pub fn set_current(
        &mut self,
        k: usize,
        compartment: Compartment,
        values: &[f64],
    ) -> Result<()> {
        let n = self.pop(k)?.spec.n;
        if values.len() != n {
            return Err(Error::shape(
                "current",
                format!("{n} values (one per neuron)"),
                values.len(),
            ));
        }
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(Error::param("current", "finite currents (A)", v));
        }
        let p = &mut self.pops[k];
        let dst = match compartment {
            Compartment::Soma => &mut p.i_s,
            Compartment::Dendrite => &mut p.i_d,
        };
        dst.iter_mut().zip(values).for_each(|(d, &v)| *d = v as f32);
        Ok(())
    }

    /// Moving-average event rates (Hz) and burst probabilities of population `k`.
    pub fn estimates(&self, k: usize) -> Result<(Vec<f64>, Vec<f64>)> {
        let p = self.pop(k)?;
        let n = p.spec.n;
        Ok((p.rates.events(), (0..n).map(|i| p.rates.p_bar(i)).collect()))
    }

    /// Somatic and dendritic potentials (V) of population `k`.
    pub fn potentials(&self, k: usize) -> Result<(Vec<f64>, Vec<f64>)> {
        let p = self.pop(k)?;
        let f = |v: &Vec<f32>| v.iter().map(|&x| x as f64).collect();
        Ok((f(&p.state.vs), f(&p.state.vd)))
    }

    /// Synaptic conductances (units of the leak conductance) of population `k`: excitatory soma,
    /// inhibitory soma, excitatory dendrite, inhibitory dendrite, after the last step's decay.
    pub fn conductances(&self, k: usize) -> Result<[Vec<f64>; 4]> {
        let s = &self.pop(k)?.state;
        let f = |v: &Vec<f32>| v.iter().map(|&x| x as f64).collect();
        Ok([f(&s.ge_s), f(&s.gi_s), f(&s.ge_d), f(&s.gi_d)])
    }

    fn projection(&self, post: usize, index: usize) -> Result<&Projection> {
        let p = self.pop(post)?;
        p.incoming.get(index).ok_or_else(|| {
            Error::param(
                "projection",
                format!(
                    "an index in 0..{} (incoming projections of population {post})",
                    p.incoming.len()
                ),
                index,
            )
        })
    }

    /// Weights of the `index`-th incoming projection of population `post` with their (pre, post)
    /// neuron indices, post-major.
    pub fn weights(&self, post: usize, index: usize) -> Result<(Vec<u32>, Vec<u32>, Vec<f64>)> {
        let pr = self.projection(post, index)?;
        let n_post = pr.in_ptr.len() - 1;
        let mut posts = Vec::with_capacity(pr.w.len());
        for j in 0..n_post {
            for _ in pr.in_ptr[j]..pr.in_ptr[j + 1] {
                posts.push(j as u32);
            }
        }
        let w = pr.in_syn.iter().map(|&k| pr.w[k as usize]).collect();
        Ok((pr.in_pre.clone(), posts, w))
    }

    /// Replace the weights of a projection (same order as [`Network::weights`]).
    pub fn set_weights(&mut self, post: usize, index: usize, w: &[f64]) -> Result<()> {
        let nnz = self.projection(post, index)?.w.len();
        if w.len() != nnz {
            return Err(Error::shape("weights", format!("{nnz} weights"), w.len()));
        }
        if let Some(v) = w.iter().find(|v| !v.is_finite() || **v < 0.0) {
            return Err(Error::param("weights", "finite weights >= 0", v));
        }
        let pr = &mut self.pops[post].incoming[index];
        for (s, &k) in pr.in_syn.iter().enumerate() {
            pr.w[k as usize] = w[s];
        }
        Ok(())
    }

    /// Run `steps` steps; plasticity only if `plastic`; record the raster if `record`.
    pub fn run(
        &mut self,
        steps: u64,
        plastic: bool,
        record: bool,
        threads: usize,
    ) -> Result<RunResult> {
        let n_pops = self.pops.len();
        for p in &mut self.pops {
            p.n_events.iter_mut().for_each(|c| *c = 0);
            p.n_bursts.iter_mut().for_each(|c| *c = 0);
            p.n_spikes.iter_mut().for_each(|c| *c = 0);
        }
        let mut res = RunResult::default();
        let dt = self.dt;
        let d = self.delay;
        let pool = crate::parallel::pool(threads)?;
        let parallel = pool.current_num_threads() > 1 && n_pops > 1;
        let mut syn_events = 0u64;
        let mut cursor = vec![0usize; n_pops];
        pool.install(|| {
            let mut done = 0u64;
            while done < steps {
                let b = d.min(steps - done);
                let t0 = self.step + 1;
                let logs: Vec<Vec<Logged>> = self
                    .pops
                    .iter_mut()
                    .map(|p| std::mem::take(&mut p.log))
                    .collect();
                let logs_ref = &logs;
                let delivered: u64 = if parallel {
                    self.pops
                        .par_iter_mut()
                        .map(|p| p.advance_block(logs_ref, t0, b, d, dt, plastic))
                        .sum()
                } else {
                    self.pops
                        .iter_mut()
                        .map(|p| p.advance_block(logs_ref, t0, b, d, dt, plastic))
                        .sum()
                };
                syn_events += delivered;
                if record {
                    cursor.iter_mut().for_each(|c| *c = 0);
                    for t in t0..t0 + b {
                        for (k, p) in self.pops.iter().enumerate() {
                            while let Some(&(s, i, kind)) = p.block.get(cursor[k]) {
                                if s != t {
                                    break;
                                }
                                res.rec_step.push(t);
                                res.rec_pop.push(k as u32);
                                res.rec_id.push(i);
                                res.rec_kind.push(kind.code());
                                cursor[k] += 1;
                            }
                        }
                    }
                }
                // Keep what the next block still has to deliver (emitted at >= t0 + b - d).
                let keep_from = (t0 + b).saturating_sub(d);
                for (p, mut log) in self.pops.iter_mut().zip(logs) {
                    log.retain(|&(s, _, _)| s >= keep_from);
                    log.append(&mut p.block);
                    p.log = log;
                }
                self.step += b;
                done += b;
            }
        });
        res.synaptic_events = syn_events;
        for p in &self.pops {
            res.events.push(p.n_events.clone());
            res.bursts.push(p.n_bursts.clone());
            res.spikes.push(p.n_spikes.clone());
        }
        Ok(res)
    }
}

/// The entries of a step-ordered log emitted at step `s`.
#[inline]
fn emitted_at(log: &[Logged], s: u64) -> &[Logged] {
    let a = log.partition_point(|e| e.0 < s);
    let b = a + log[a..].partition_point(|e| e.0 == s);
    &log[a..b]
}

impl Population {
    /// Advance `b` steps starting with step `t0`; spikes arrive `d >= b` steps after emission, so all
    /// spikes delivered in this block are in `logs` (one per population). Returns the deliveries.
    fn advance_block(
        &mut self,
        logs: &[Vec<Logged>],
        t0: u64,
        b: u64,
        d: u64,
        dt: f64,
        plastic: bool,
    ) -> u64 {
        let mut delivered = 0u64;
        self.block.clear();
        for t in t0..t0 + b {
            delivered += self.deliver(logs, t, d, dt, plastic);
            self.background();
            self.integrate(t, dt, plastic);
        }
        delivered
    }

    /// (1) Deliver the spikes emitted at step `t - d`; presynaptic traces and homeostatic
    /// potentiation at presynaptic events.
    fn deliver(&mut self, logs: &[Vec<Logged>], t: u64, d: u64, dt: f64, plastic: bool) -> u64 {
        let mut delivered = 0u64;
        let st = &mut self.state;
        let rates = &self.rates;
        let spike_avg = &self.spike_avg;
        let emit = t.checked_sub(d);
        for pr in &mut self.incoming {
            let arriving = match emit {
                Some(s) => emitted_at(&logs[pr.pre], s),
                None => &[],
            };
            // Classification of the arriving spikes for this projection.
            pr.kinds.clear();
            match &mut pr.pre_detect {
                Some(det) => pr.kinds.extend(
                    arriving
                        .iter()
                        .map(|&(s, i, _)| det.spike(i as usize, s as f64 * dt)),
                ),
                None => pr.kinds.extend(arriving.iter().map(|&(_, _, k)| k)),
            }
            if let Some(rule) = pr.rule {
                pr.pre_scale *= pr.pre_grow;
                if pr.pre_scale > 1e150 {
                    let inv = 1.0 / pr.pre_scale;
                    pr.pre_trace.iter_mut().for_each(|x| *x *= inv);
                    pr.pre_scale = 1.0;
                }
                for (&(_, i, _), &kind) in arriving.iter().zip(&pr.kinds) {
                    if kind != SpikeKind::Event {
                        continue;
                    }
                    pr.pre_trace[i as usize] += pr.pre_scale;
                    if plastic && rule.min_rate > 0.0 {
                        let (a, b) = (pr.out_ptr[i as usize], pr.out_ptr[i as usize + 1]);
                        let hom = pr.hom_avg.map(|h| &spike_avg[h].2);
                        for k in a as usize..b as usize {
                            let j = pr.out_post[k] as usize;
                            let r = match hom {
                                Some(avg) => avg.event(j),
                                None => rates.event(j),
                            };
                            let dw = rule.pre_event_change(r);
                            if dw != 0.0 {
                                pr.w[k] = rule.clip(pr.w[k] + dw);
                            }
                        }
                    }
                }
            }
            if arriving.is_empty() {
                continue;
            }
            let g = match (pr.compartment, pr.receptor) {
                (Compartment::Soma, Receptor::Exc) => &mut st.ge_s,
                (Compartment::Soma, Receptor::Inh) => &mut st.gi_s,
                (Compartment::Dendrite, Receptor::Exc) => &mut st.ge_d,
                (Compartment::Dendrite, Receptor::Inh) => &mut st.gi_d,
            };
            for (&(s, i, _), &kind) in arriving.iter().zip(&pr.kinds) {
                if !pr.transmit.passes(kind) {
                    continue;
                }
                let eff = match &mut pr.stp {
                    Some(tm) => tm.spike(i as usize, s as f64 * dt),
                    None => 1.0,
                };
                let (a, b) = (pr.out_ptr[i as usize], pr.out_ptr[i as usize + 1]);
                let (a, b) = (a as usize, b as usize);
                for (&j, &w) in pr.out_post[a..b].iter().zip(&pr.w[a..b]) {
                    g[j as usize] += (eff * w) as f32;
                }
                delivered += (b - a) as u64;
            }
        }
        delivered
    }

    /// (2) Background Poisson inputs: the superposition of the `n` independent per-neuron processes
    /// of a source is one Poisson count per step whose events land on uniformly drawn neurons.
    fn background(&mut self) {
        let n = self.spec.n as u32;
        let st = &mut self.state;
        for (b, tab) in self.spec.backgrounds.iter().zip(&self.bg) {
            if tab.mean <= 0.0 {
                continue;
            }
            let g = match (b.compartment, b.receptor) {
                (Compartment::Soma, Receptor::Exc) => &mut st.ge_s,
                (Compartment::Soma, Receptor::Inh) => &mut st.gi_s,
                (Compartment::Dendrite, Receptor::Exc) => &mut st.ge_d,
                (Compartment::Dendrite, Receptor::Inh) => &mut st.gi_d,
            };
            let w = b.weight as f32;
            let count = tab.sample(&mut self.bg_rng);
            let mut left = count;
            while left >= 2 {
                let u = self.bg_rng.next_u64();
                g[index32(u as u32, n) as usize] += w;
                g[index32((u >> 32) as u32, n) as usize] += w;
                left -= 2;
            }
            if left == 1 {
                let u = self.bg_rng.next_u64();
                g[index32(u as u32, n) as usize] += w;
            }
        }
    }

    /// (3)-(5) Integrate, classify, plasticity at postsynaptic events and bursts (with the averages
    /// before this step's spikes), then update the averages.
    fn integrate(&mut self, t: u64, dt: f64, plastic: bool) {
        self.rates.decay();
        for a in &mut self.spike_avg {
            a.2.decay();
        }
        self.stepper.advance(
            &mut self.state,
            &self.i_s,
            &self.i_d,
            t,
            &mut self.burst_rng,
            &mut self.out,
        );
        self.step_spikes.clear();
        let time = t as f64 * dt;
        for &(i, _) in &self.out {
            let iu = i as usize;
            let kind = self.detector.spike(iu, time);
            self.step_spikes.push((i, kind));
            self.block.push((t, i, kind));
            self.n_spikes[iu] += 1;
            match kind {
                SpikeKind::Event => self.n_events[iu] += 1,
                SpikeKind::Burst => self.n_bursts[iu] += 1,
                SpikeKind::Within => {}
            }
        }
        if self.step_spikes.is_empty() {
            return;
        }
        if plastic {
            for pr in &mut self.incoming {
                let Some(rule) = pr.rule else { continue };
                let inv_scale = 1.0 / pr.pre_scale;
                for &(j, kind) in &self.step_spikes {
                    let j = j as usize;
                    let (on_event, on_burst) = rule.factors(
                        self.rates.event(j),
                        self.rates.burst(j),
                        self.rates.p_bar(j),
                    );
                    let factor = match kind {
                        SpikeKind::Event => on_event,
                        SpikeKind::Burst => on_burst,
                        SpikeKind::Within => continue,
                    };
                    let c = rule.eta * factor * inv_scale;
                    for s in pr.in_ptr[j] as usize..pr.in_ptr[j + 1] as usize {
                        let x = pr.pre_trace[pr.in_pre[s] as usize];
                        let k = pr.in_syn[s] as usize;
                        pr.w[k] = rule.clip(pr.w[k] + c * x);
                    }
                }
            }
        }
        for &(j, kind) in &self.step_spikes {
            self.rates.add(j as usize, kind);
            for a in &mut self.spike_avg {
                a.2.add(j as usize, SpikeKind::Event);
            }
        }
    }
}
