//! A group of LIF neurons with receptor currents, its sparse connections, and the step loop.

use crate::error::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::ops::Range;

/// Neurons per block of the update loop (their state fits in L1).
const BLOCK: usize = 512;

/// Random sparse connections onto one receptor, stored by presynaptic neuron (CSR over the whole
/// group: row `j` lists the targets of neuron `j`; rows outside the source range are empty).
#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    pub receptor: usize,
    ptr: Vec<u32>,
    post: Vec<u32>,
    weight: Vec<f32>,
}

impl Connection {
    /// Each (pre, post) pair with `pre` in `pre` and `post` in `post` is connected independently with
    /// probability `p` (self-connections included, as Brian2's `connect(p=...)`), all with `weight`
    /// (volts). Pairs are drawn by geometric skipping, so the cost grows with the synapse count, not
    /// with the number of pairs.
    #[allow(clippy::too_many_arguments)]
    pub fn random(
        n: usize,
        pre: Range<usize>,
        post: Range<usize>,
        p: f64,
        weight: f64,
        receptor: usize,
        seed: u64,
    ) -> Result<Self> {
        if pre.end > n || pre.start > pre.end || post.end > n || post.start > post.end {
            return Err(Error::param(
                "pre/post",
                format!("index ranges inside 0..{n}"),
                format!("{pre:?} -> {post:?}"),
            ));
        }
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::param("p", "a probability in [0, 1]", p));
        }
        if !weight.is_finite() {
            return Err(Error::param("weight", "a finite weight (V)", weight));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let m = post.len();
        let mut ptr = vec![0u32; n + 1];
        let mut targets = Vec::new();
        let log_q = (1.0 - p).ln();
        for j in 0..n {
            if pre.contains(&j) && p > 0.0 && m > 0 {
                if p >= 1.0 {
                    targets.extend(post.clone().map(|k| k as u32));
                } else {
                    // Gaps between successive connected targets are geometric(p).
                    let mut k: f64 = -1.0;
                    loop {
                        let u: f64 = 1.0 - rng.random::<f64>(); // in (0, 1]
                        k += 1.0 + (u.ln() / log_q).floor();
                        if k >= m as f64 {
                            break;
                        }
                        targets.push((post.start + k as usize) as u32);
                    }
                }
            }
            ptr[j + 1] = targets.len() as u32;
        }
        let len = targets.len();
        Ok(Connection {
            receptor,
            ptr,
            post: targets,
            weight: vec![weight as f32; len],
        })
    }

    pub fn n_synapses(&self) -> usize {
        self.post.len()
    }
}

/// A group of `n` LIF neurons with exponential receptor currents (see the module docs). Volts and
/// seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub n: usize,
    pub dt: f64,
    pub tau_mem: f64,
    pub v_rest: f64,
    pub threshold: f64,
    pub v_reset: f64,
    pub refractory: f64,
    pub receptor_taus: Vec<f64>,
    pub connections: Vec<Connection>,
}

/// What a run produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SimResult {
    pub steps: usize,
    /// Step index and neuron of every spike, in time order (empty unless recorded).
    pub spike_steps: Vec<u32>,
    pub spike_ids: Vec<u32>,
    pub counts: Vec<u32>,
    /// Synaptic events delivered (spikes x their out-degree).
    pub synaptic_events: u64,
    /// Membrane potential at the end (V).
    pub v: Vec<f64>,
}

impl Group {
    pub fn validate(&self) -> Result<()> {
        let pos = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::param(name, "a finite value > 0", v))
            }
        };
        if self.n == 0 || self.n > u32::MAX as usize {
            return Err(Error::param("n", "between 1 and 2^32 - 1 neurons", self.n));
        }
        pos("dt", self.dt)?;
        pos("tau_mem", self.tau_mem)?;
        for (name, v) in [
            ("v_rest", self.v_rest),
            ("threshold", self.threshold),
            ("v_reset", self.v_reset),
        ] {
            if !v.is_finite() {
                return Err(Error::param(name, "a finite voltage (V)", v));
            }
        }
        if !(self.refractory.is_finite() && self.refractory >= 0.0) {
            return Err(Error::param(
                "refractory",
                "a finite time >= 0 s",
                self.refractory,
            ));
        }
        for (r, t) in self.receptor_taus.iter().enumerate() {
            pos(&format!("receptor_taus[{r}]"), *t)?;
        }
        for (c, conn) in self.connections.iter().enumerate() {
            if conn.receptor >= self.receptor_taus.len() {
                return Err(Error::param(
                    format!("connections[{c}].receptor"),
                    format!("a receptor index in 0..{}", self.receptor_taus.len()),
                    conn.receptor,
                ));
            }
            if conn.ptr.len() != self.n + 1 {
                return Err(Error::shape(
                    format!("connections[{c}]"),
                    format!("connections built for {} neurons", self.n),
                    conn.ptr.len().saturating_sub(1),
                ));
            }
        }
        Ok(())
    }

    /// Whole steps a neuron is held at `v_reset` after its spike step (integration resumes
    /// `refractory` seconds after the spike, Brian2's convention).
    pub fn refractory_steps(&self) -> u32 {
        ((self.refractory / self.dt).round() as u32).saturating_sub(1)
    }
}

/// Refractory clamp, threshold and reset of one neuron, as selects.
#[derive(Clone, Copy)]
struct Select {
    step: u32,
    release: u32,
    theta: f32,
    reset: f32,
}

impl Select {
    #[inline(always)]
    fn apply(&self, x: f32, v: &mut f32, until: &mut u32, flag: &mut u32) {
        let free = self.step >= *until;
        let spike = free & (x > self.theta);
        *v = if free & !spike { x } else { self.reset };
        *until = if spike { self.release } else { *until };
        *flag = spike as u32;
    }
}

/// Simulate `steps` steps from membrane potentials `v0` (V) with all receptor currents at zero.
pub fn run(group: &Group, v0: &[f64], steps: usize, record: bool) -> Result<SimResult> {
    group.validate()?;
    let n = group.n;
    if v0.len() != n {
        return Err(Error::shape(
            "v0",
            format!("{n} initial potentials"),
            v0.len(),
        ));
    }
    crate::error::ensure_all_finite("v0", v0)?;
    let dt = group.dt;
    let em = (-dt / group.tau_mem).exp() as f32;
    let decays: Vec<f32> = group
        .receptor_taus
        .iter()
        .map(|t| (-dt / t).exp() as f32)
        .collect();
    let props: Vec<f32> = group
        .receptor_taus
        .iter()
        .map(|&tr| {
            let tm = group.tau_mem;
            let p = if ((tr - tm) / tm).abs() < 1e-9 {
                dt / tm * (-dt / tm).exp()
            } else {
                tr / (tr - tm) * ((-dt / tr).exp() - (-dt / tm).exp())
            };
            p as f32
        })
        .collect();
    let (rest, theta, reset) = (
        group.v_rest as f32,
        group.threshold as f32,
        group.v_reset as f32,
    );
    let n_ref = group.refractory_steps();
    if (steps as u64) + (n_ref as u64) + 1 >= u32::MAX as u64 {
        return Err(Error::param(
            "duration",
            "fewer than 2^32 steps (including the refractory period)",
            steps,
        ));
    }
    let mut v: Vec<f32> = v0.iter().map(|x| *x as f32).collect();
    let mut g: Vec<Vec<f32>> = vec![vec![0.0; n]; group.receptor_taus.len()];
    let mut until = vec![0u32; n];
    let mut flags = vec![0u32; n];
    let mut spikes: Vec<u32> = Vec::with_capacity(n);
    let mut out = SimResult {
        steps,
        counts: vec![0; n],
        ..Default::default()
    };
    for t in 0..steps {
        // 1-2. The exact linear update, then refractory clamp, threshold and reset as selects; all
        // branch-free, so the loops vectorise. Two receptors: one fused pass; otherwise in blocks of
        // BLOCK neurons (their state stays in L1 between the per-receptor passes).
        // `until[k]`: the first step in which neuron k integrates again.
        let step = t as u32;
        let release = step + n_ref + 1;
        let sel = Select {
            step,
            release,
            theta,
            reset,
        };
        if let [g0, g1] = &mut g[..] {
            // The common two-receptor case (excitatory + inhibitory) in one fused pass.
            let (p0, p1, d0, d1) = (props[0], props[1], decays[0], decays[1]);
            for ((((vk, a), b), uk), fk) in v
                .iter_mut()
                .zip(g0.iter_mut())
                .zip(g1.iter_mut())
                .zip(until.iter_mut())
                .zip(flags.iter_mut())
            {
                let x = rest + (*vk - rest) * em + *a * p0 + *b * p1;
                *a *= d0;
                *b *= d1;
                sel.apply(x, vk, uk, fk);
            }
        } else {
            for b0 in (0..n).step_by(BLOCK) {
                let b1 = (b0 + BLOCK).min(n);
                let vb = &mut v[b0..b1];
                for vk in vb.iter_mut() {
                    *vk = rest + (*vk - rest) * em;
                }
                for ((gr, &p), &d) in g.iter_mut().zip(&props).zip(&decays) {
                    for (vk, gk) in vb.iter_mut().zip(gr[b0..b1].iter_mut()) {
                        *vk += *gk * p;
                        *gk *= d;
                    }
                }
                for ((vk, uk), fk) in vb
                    .iter_mut()
                    .zip(until[b0..b1].iter_mut())
                    .zip(flags[b0..b1].iter_mut())
                {
                    let x = *vk;
                    sel.apply(x, vk, uk, fk);
                }
            }
        }
        // Collect the spikes by scanning the flags eight at a time (spikes are rare).
        spikes.clear();
        for (c, chunk) in flags.chunks(8).enumerate() {
            if chunk.iter().fold(0u32, |a, b| a | b) != 0 {
                for (i, &f) in chunk.iter().enumerate() {
                    if f != 0 {
                        spikes.push((c * 8 + i) as u32);
                    }
                }
            }
        }
        // 3. Deliver: one pass over each spiking neuron's outgoing synapses.
        for c in &group.connections {
            let gr = &mut g[c.receptor];
            for &j in &spikes {
                let (lo, hi) = (c.ptr[j as usize] as usize, c.ptr[j as usize + 1] as usize);
                out.synaptic_events += (hi - lo) as u64;
                for e in lo..hi {
                    gr[c.post[e] as usize] += c.weight[e];
                }
            }
        }
        for &j in &spikes {
            out.counts[j as usize] += 1;
        }
        if record {
            out.spike_steps
                .resize(out.spike_steps.len() + spikes.len(), t as u32);
            out.spike_ids.extend_from_slice(&spikes);
        }
    }
    out.v = v.iter().map(|x| *x as f64).collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(tau_r: f64) -> Group {
        Group {
            n: 1,
            dt: 1e-4,
            tau_mem: 20e-3,
            v_rest: 0.0,
            threshold: 1.0,
            v_reset: 0.0,
            refractory: 0.0,
            receptor_taus: vec![tau_r],
            connections: vec![],
        }
    }

    /// The exact propagator against fine-step Euler integration of the two ODEs.
    #[test]
    fn propagator_matches_fine_integration() {
        for tau_r in [5e-3, 20e-3, 40e-3] {
            let gr = one(tau_r);
            let dt = gr.dt;
            let tm = gr.tau_mem;
            let p = if (tau_r - tm).abs() < 1e-12 {
                dt / tm * (-dt / tm).exp()
            } else {
                tau_r / (tau_r - tm) * ((-dt / tau_r).exp() - (-dt / tm).exp())
            };
            // Fine Euler over one step from v = 0, g = 1.
            let (mut v, mut g) = (0.0f64, 1.0f64);
            let h = dt / 100_000.0;
            for _ in 0..100_000 {
                let dv = (g - v) / tm;
                g -= g / tau_r * h;
                v += dv * h;
            }
            assert!((v - p).abs() < 1e-6 * p, "tau_r {tau_r}: {v} vs {p}");
        }
    }

    #[test]
    fn constant_drive_fires_at_the_closed_form_rate() {
        // v_rest above threshold: with no synapses the interspike interval is the time to climb from
        // v_reset to threshold plus the refractory period, t = tau ln((rest - reset)/(rest - theta)).
        let mut gr = one(5e-3);
        gr.v_rest = 1.1;
        gr.refractory = 5e-3;
        let r = run(&gr, &[0.0], 100_000, true).unwrap();
        let isi = 20e-3 * (1.1f64 / 0.1).ln() + 5e-3;
        let want = 10.0 / isi;
        let got = r.counts[0] as f64;
        assert!((got - want).abs() <= 2.0, "{got} spikes vs {want}");
    }

    #[test]
    fn random_connections_have_the_right_density_and_are_seeded() {
        let c = Connection::random(2000, 0..1600, 0..2000, 0.02, 1e-3, 0, 7).unwrap();
        let want = 1600.0 * 2000.0 * 0.02;
        let got = c.n_synapses() as f64;
        assert!((got - want).abs() < 4.0 * want.sqrt(), "{got} vs {want}");
        assert_eq!(
            c,
            Connection::random(2000, 0..1600, 0..2000, 0.02, 1e-3, 0, 7).unwrap()
        );
        assert!(c.ptr[1601..].iter().all(|&p| p as usize == c.n_synapses()));
        assert!(Connection::random(10, 0..11, 0..10, 0.1, 1.0, 0, 1).is_err());
    }
}
