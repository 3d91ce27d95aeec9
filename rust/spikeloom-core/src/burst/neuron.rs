//! The two-compartment pyramidal neuron of Payeur et al. 2021 (after Naud & Sprekeler 2018) and its
//! simplified stochastic-burst variant (the reference code's `BurstPoissonGroup`, used for XOR).
//!
//! Forward Euler with step `dt`, SI units (V, s, A, F). Synaptic conductances are dimensionless, in
//! units of the compartment's leak conductance (Auryn's convention), so a conductance `g` towards
//! reversal `E` adds `g (E - V) / tau` to `dV/dt`:
//!
//! ```text
//! dVs/dt = [-(Vs - E_L) + ge_s (E_e - Vs) + gi_s (E_i - Vs)] / tau_s + [gs f(Vd) + ws + I_s] / Cs
//! dVd/dt = [-(Vd - E_L) + ge_d (E_e - Vd) + gi_d (E_i - Vd)] / tau_d   (or E - Vs: see below)
//!          + [gd f(Vd) + zeta K(t - t_hat) + wd + I_d] / Cd
//! f(Vd)  = 1 / (1 + exp(-(Vd - E_d) / D))          (dendritic Ca2+ nonlinearity)
//! K      = box of `bap_duration` after each somatic spike (back-propagating action potential)
//! tau_ws dws/dt = -ws + b tau_ws S(t)               (jump b per somatic spike)
//! tau_wd dwd/dt = -wd + a_wd (Vd - E_L)
//! tau_thr dthr/dt = -(thr - thr0), jump thr_jump per spike; spike when Vs > thr, reset Vs to v_reset
//! ```
//! With `dendritic_drive_somatic` the dendritic conductances drive `ge_d (E_e - Vs) + gi_d (E_i - Vs)`
//! (the reference Auryn code computes every synaptic current from the somatic potential).
//! In the stochastic-burst model the dendrite is passive (no `gs f`, `gd f`, `zeta K` terms): each
//! threshold crossing is a spike, and with probability `f(Vd)` (with `E_d = -57 mV`) a second spike
//! follows `U(burst_delay_min, burst_delay_max)` later. Every spike starts an absolute refractory
//! period (20 ms); the second spike of a burst does not reset the soma.
//!
//! [`Stepper::advance`] steps a whole population: one branch-free pass over the neurons (compiled for
//! the widest vector unit, AVX2 on x86-64, chosen at run time; same IEEE operations in the same order
//! on every CPU) followed by a scan for threshold crossings and due burst spikes. The state is generic
//! over the float type: `f64` for single-neuron recordings ([`super::trace`]), `f32` in networks (as
//! in the reference Auryn code, whose state variables are single precision; twice the SIMD width
//! and half the memory traffic).

use super::poisson::Xoshiro256pp;
use crate::error::{Error, Result};
use crate::rsnn::real::Real;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Which burst mechanism the neuron uses.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BurstMechanism {
    /// Active dendrite coupled to the soma through `f(Vd)`, with a back-propagating spike kernel.
    Dendritic,
    /// Passive dendrite; bursts are drawn after each somatic spike with probability `f(Vd)`.
    Stochastic,
}

/// Constants of the two-compartment neuron (SI units).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwoCompartmentParams {
    pub mechanism: BurstMechanism,
    pub e_l: f64,
    pub e_exc: f64,
    pub e_inh: f64,
    pub tau_s: f64,
    pub c_s: f64,
    /// Dendrite-to-soma coupling gs (A).
    pub g_s: f64,
    pub tau_d: f64,
    pub c_d: f64,
    /// Dendritic regenerative current gd (A).
    pub g_d: f64,
    pub tau_ws: f64,
    /// Somatic adaptation jump per spike b (A).
    pub b_ws: f64,
    pub tau_wd: f64,
    /// Dendritic adaptation coupling a_wd (S).
    pub a_wd: f64,
    /// Back-propagating spike amplitude zeta (A).
    pub zeta: f64,
    pub bap_duration: f64,
    /// Half-activation E_d (V) and slope D (V) of f(Vd).
    pub e_d: f64,
    pub d_d: f64,
    pub thr0: f64,
    pub thr_jump: f64,
    pub tau_thr: f64,
    pub v_reset: f64,
    pub refractory: f64,
    pub tau_ampa: f64,
    pub tau_gaba: f64,
    pub burst_delay_min: f64,
    pub burst_delay_max: f64,
    /// Driving force of the dendritic synaptic conductances: `false` (default) `E - Vd`; `true`
    /// `E - Vs`, as in the reference Auryn code (its synapse models compute every conductance
    /// current, dendritic ones included, from the somatic potential).
    #[serde(default)]
    pub dendritic_drive_somatic: bool,
}

impl TwoCompartmentParams {
    /// The reference constants of the active two-compartment neuron (Payeur et al. 2021, Methods).
    pub fn naud() -> Self {
        TwoCompartmentParams {
            mechanism: BurstMechanism::Dendritic,
            e_l: -70e-3,
            e_exc: 0.0,
            e_inh: -80e-3,
            tau_s: 16e-3,
            c_s: 370e-12,
            g_s: 1300e-12,
            tau_d: 7e-3,
            c_d: 170e-12,
            g_d: 1200e-12,
            tau_ws: 100e-3,
            b_ws: -200e-12,
            tau_wd: 30e-3,
            a_wd: -13e-9,
            zeta: 2600e-12,
            bap_duration: 2e-3,
            e_d: -38e-3,
            d_d: 6e-3,
            thr0: -50e-3,
            thr_jump: 2e-3,
            tau_thr: 27e-3,
            v_reset: -70e-3,
            refractory: 2e-3,
            tau_ampa: 5e-3,
            tau_gaba: 10e-3,
            burst_delay_min: 5e-3,
            burst_delay_max: 15e-3,
            dendritic_drive_somatic: false,
        }
    }

    /// The stochastic-burst variant used for XOR (the reference `BurstPoissonGroup`: passive
    /// dendrite, E_d = -57 mV, 20 ms refractory, burst spike 10 ms after the first).
    pub fn burst_poisson() -> Self {
        TwoCompartmentParams {
            mechanism: BurstMechanism::Stochastic,
            e_d: -57e-3,
            refractory: 20e-3,
            burst_delay_min: 10e-3,
            burst_delay_max: 10e-3,
            ..Self::naud()
        }
    }

    /// Check every constant; `dt` is the integration step (s).
    pub fn validate(&self, dt: f64) -> Result<()> {
        let positive = [
            ("tau_s", self.tau_s),
            ("c_s", self.c_s),
            ("tau_d", self.tau_d),
            ("c_d", self.c_d),
            ("tau_ws", self.tau_ws),
            ("tau_wd", self.tau_wd),
            ("d_d", self.d_d),
            ("tau_thr", self.tau_thr),
            ("tau_ampa", self.tau_ampa),
            ("tau_gaba", self.tau_gaba),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::param(name, "a finite value > 0 (SI units)", v));
            }
        }
        let finite = [
            ("e_l", self.e_l),
            ("e_exc", self.e_exc),
            ("e_inh", self.e_inh),
            ("g_s", self.g_s),
            ("g_d", self.g_d),
            ("b_ws", self.b_ws),
            ("a_wd", self.a_wd),
            ("zeta", self.zeta),
            ("e_d", self.e_d),
            ("thr0", self.thr0),
            ("thr_jump", self.thr_jump),
            ("v_reset", self.v_reset),
        ];
        for (name, v) in finite {
            if !v.is_finite() {
                return Err(Error::param(name, "a finite value (SI units)", v));
            }
        }
        for (name, v) in [
            ("bap_duration", self.bap_duration),
            ("refractory", self.refractory),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::param(name, "a finite duration >= 0 (s)", v));
            }
        }
        if !(self.burst_delay_min.is_finite()
            && self.burst_delay_min >= dt
            && self.burst_delay_max >= self.burst_delay_min
            && self.burst_delay_max.is_finite())
        {
            return Err(Error::param(
                "burst_delay_min/burst_delay_max",
                format!("dt ({dt}) <= burst_delay_min <= burst_delay_max (s)"),
                format!("{} / {}", self.burst_delay_min, self.burst_delay_max),
            ));
        }
        if !(dt.is_finite() && dt > 0.0 && dt <= 1e-3) {
            return Err(Error::param("dt", "a step in (0, 1e-3] s", dt));
        }
        Ok(())
    }

    /// The dendritic nonlinearity f(Vd).
    #[inline]
    pub fn f(&self, vd: f64) -> f64 {
        1.0 / (1.0 + (-(vd - self.e_d) / self.d_d).exp())
    }
}

/// State of `n` two-compartment neurons (structure of arrays).
#[derive(Clone, Debug)]
pub struct TwoCompartmentState<F: Real> {
    pub vs: Vec<F>,
    pub vd: Vec<F>,
    pub ws: Vec<F>,
    pub wd: Vec<F>,
    pub thr: Vec<F>,
    /// Conductances (dimensionless): excitatory/inhibitory onto soma/dendrite.
    pub ge_s: Vec<F>,
    pub gi_s: Vec<F>,
    pub ge_d: Vec<F>,
    pub gi_d: Vec<F>,
    /// First step at which the neuron may cross threshold again (absolute refractoriness).
    pub refr_until: Vec<u64>,
    /// Step of the pending second spike of a stochastic burst (`NO_BURST` = none).
    pub burst_at: Vec<u64>,
    /// Remaining steps of the back-propagating spike kernel.
    pub bap: Vec<u32>,
    pending: BinaryHeap<Reverse<(u64, u32)>>,
    cand: Vec<u32>,
}

/// `burst_at` value of a neuron without a pending burst spike.
pub const NO_BURST: u64 = u64::MAX;

impl<F: Real> TwoCompartmentState<F> {
    /// All neurons at rest (`E_L`, threshold at `thr0`, no conductance).
    pub fn rest(n: usize, p: &TwoCompartmentParams) -> Self {
        let zero = vec![F::zero(); n];
        TwoCompartmentState {
            vs: vec![F::of(p.e_l); n],
            vd: vec![F::of(p.e_l); n],
            ws: zero.clone(),
            wd: zero.clone(),
            thr: vec![F::of(p.thr0); n],
            ge_s: zero.clone(),
            gi_s: zero.clone(),
            ge_d: zero.clone(),
            gi_d: zero,
            refr_until: vec![0; n],
            burst_at: vec![NO_BURST; n],
            bap: vec![0; n],
            pending: BinaryHeap::new(),
            cand: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.vs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vs.is_empty()
    }
}

/// What a neuron did in one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepSpike {
    None,
    /// A threshold crossing (soma reset).
    Somatic,
    /// The delayed second spike of a stochastic burst (no reset).
    BurstSecond,
}

/// Precomputed per-step factors of a parameter set, in the state's float type.
#[derive(Clone, Debug)]
pub struct Stepper<F: Real> {
    pub p: TwoCompartmentParams,
    pub dt: f64,
    e_l: F,
    e_exc: F,
    e_inh: F,
    a_wd: F,
    thr0: F,
    thr_jump: F,
    v_reset: F,
    b_ws: F,
    g_s: F,
    g_d: F,
    zeta: F,
    decay_ampa: F,
    decay_gaba: F,
    decay_ws: F,
    decay_thr: F,
    refr_steps: u32,
    bap_steps: u32,
    // dt/tau_s, dt/C_s, dt/tau_d, dt/C_d, dt/tau_wd (no divisions in the step loop)
    k_s: F,
    c_s: F,
    k_d: F,
    c_d: F,
    k_wd: F,
}

/// The passive part of one Euler step of every neuron (stochastic mechanism): potentials,
/// adaptation, threshold relaxation and conductance decay; branch-free so it vectorises.
#[inline(always)]
fn passive_pass<F: Real, const SOMATIC_DRIVE: bool>(
    k: &Stepper<F>,
    s: &mut TwoCompartmentState<F>,
    i_s: &[F],
    i_d: &[F],
) {
    let n = s.vs.len();
    let (vs, vd, ws, wd, thr) = (
        &mut s.vs[..n],
        &mut s.vd[..n],
        &mut s.ws[..n],
        &mut s.wd[..n],
        &mut s.thr[..n],
    );
    let (ge_s, gi_s, ge_d, gi_d) = (
        &mut s.ge_s[..n],
        &mut s.gi_s[..n],
        &mut s.ge_d[..n],
        &mut s.gi_d[..n],
    );
    let (i_s, i_d) = (&i_s[..n], &i_d[..n]);
    for i in 0..n {
        let v_s = vs[i];
        let v_d = vd[i];
        let leak_s = -(v_s - k.e_l) + ge_s[i] * (k.e_exc - v_s) + gi_s[i] * (k.e_inh - v_s);
        let v_syn = if SOMATIC_DRIVE { v_s } else { v_d };
        let leak_d = -(v_d - k.e_l) + ge_d[i] * (k.e_exc - v_syn) + gi_d[i] * (k.e_inh - v_syn);
        let cur_s = ws[i] + i_s[i];
        let cur_d = wd[i] + i_d[i];
        vs[i] = v_s + leak_s * k.k_s + cur_s * k.c_s;
        vd[i] = v_d + leak_d * k.k_d + cur_d * k.c_d;
        ws[i] *= k.decay_ws;
        let w_d = wd[i];
        wd[i] = w_d + k.k_wd * (-w_d + k.a_wd * (v_d - k.e_l));
        thr[i] = k.thr0 + (thr[i] - k.thr0) * k.decay_thr;
        ge_s[i] *= k.decay_ampa;
        ge_d[i] *= k.decay_ampa;
        gi_s[i] *= k.decay_gaba;
        gi_d[i] *= k.decay_gaba;
    }
}

/// Neurons whose soma is above threshold, in order, into `cand` (chunks of 8 compared branch-free).
#[inline(always)]
fn above_threshold<F: Real>(vs: &[F], thr: &[F], cand: &mut Vec<u32>) {
    cand.clear();
    let n = vs.len().min(thr.len());
    let (vs, thr) = (&vs[..n], &thr[..n]);
    let full = n / 8 * 8;
    for (c, (v8, t8)) in vs[..full]
        .chunks_exact(8)
        .zip(thr[..full].chunks_exact(8))
        .enumerate()
    {
        let mut any = false;
        for j in 0..8 {
            any |= v8[j] > t8[j];
        }
        if any {
            for j in 0..8 {
                if v8[j] > t8[j] {
                    cand.push((c * 8 + j) as u32);
                }
            }
        }
    }
    for i in full..n {
        if vs[i] > thr[i] {
            cand.push(i as u32);
        }
    }
}

/// The same step for the active dendrite (`f(Vd)` coupling and back-propagating spike kernel).
fn active_pass<F: Real>(k: &Stepper<F>, s: &mut TwoCompartmentState<F>, i_s: &[F], i_d: &[F]) {
    for i in 0..s.vs.len() {
        let vs = s.vs[i];
        let vd = s.vd[i];
        let leak_s = -(vs - k.e_l) + s.ge_s[i] * (k.e_exc - vs) + s.gi_s[i] * (k.e_inh - vs);
        let v_syn = if k.p.dendritic_drive_somatic { vs } else { vd };
        let leak_d = -(vd - k.e_l) + s.ge_d[i] * (k.e_exc - v_syn) + s.gi_d[i] * (k.e_inh - v_syn);
        let fv = F::of(k.p.f(vd.f64()));
        let cur_s = s.ws[i] + i_s[i] + k.g_s * fv;
        let mut cur_d = s.wd[i] + i_d[i] + k.g_d * fv;
        if s.bap[i] > 0 {
            cur_d += k.zeta;
            s.bap[i] -= 1;
        }
        s.vs[i] = vs + leak_s * k.k_s + cur_s * k.c_s;
        s.vd[i] = vd + leak_d * k.k_d + cur_d * k.c_d;
        s.ws[i] *= k.decay_ws;
        let w_d = s.wd[i];
        s.wd[i] = w_d + k.k_wd * (-w_d + k.a_wd * (vd - k.e_l));
        s.thr[i] = k.thr0 + (s.thr[i] - k.thr0) * k.decay_thr;
        s.ge_s[i] *= k.decay_ampa;
        s.ge_d[i] *= k.decay_ampa;
        s.gi_s[i] *= k.decay_gaba;
        s.gi_d[i] *= k.decay_gaba;
    }
}

impl<F: Real> Stepper<F> {
    pub fn new(p: &TwoCompartmentParams, dt: f64) -> Result<Self> {
        p.validate(dt)?;
        Ok(Stepper {
            p: p.clone(),
            dt,
            e_l: F::of(p.e_l),
            e_exc: F::of(p.e_exc),
            e_inh: F::of(p.e_inh),
            a_wd: F::of(p.a_wd),
            thr0: F::of(p.thr0),
            thr_jump: F::of(p.thr_jump),
            v_reset: F::of(p.v_reset),
            b_ws: F::of(p.b_ws),
            g_s: F::of(p.g_s),
            g_d: F::of(p.g_d),
            zeta: F::of(p.zeta),
            decay_ampa: F::of((-dt / p.tau_ampa).exp()),
            decay_gaba: F::of((-dt / p.tau_gaba).exp()),
            decay_ws: F::of((-dt / p.tau_ws).exp()),
            decay_thr: F::of((-dt / p.tau_thr).exp()),
            refr_steps: (p.refractory / dt).round() as u32,
            bap_steps: (p.bap_duration / dt).round() as u32,
            k_s: F::of(dt / p.tau_s),
            c_s: F::of(dt / p.c_s),
            k_d: F::of(dt / p.tau_d),
            c_d: F::of(dt / p.c_d),
            k_wd: F::of(dt / p.tau_wd),
        })
    }

    /// Steps of the burst delay for a uniform draw `u` in [0, 1).
    #[inline]
    pub fn burst_delay_steps(&self, u: f64) -> u32 {
        let d = self.p.burst_delay_min + u * (self.p.burst_delay_max - self.p.burst_delay_min);
        ((d / self.dt).round() as u32).max(1)
    }

    /// One Euler step (number `t`) of every neuron with external currents `i_s`, `i_d` (A) and the
    /// conductances accumulated so far (which then decay by one step). Each step: potentials,
    /// adaptation and threshold are integrated; a neuron with a burst spike due emits it
    /// ([`StepSpike::BurstSecond`], refractory again, no reset); otherwise a neuron above threshold
    /// and out of its refractory period fires ([`StepSpike::Somatic`]: reset, threshold jump,
    /// adaptation jump, refractory period, and either the back-propagating kernel or, with
    /// probability `f(Vd)`, a burst spike `U(burst_delay_min, burst_delay_max)` later). `rng` draws
    /// the bursts. The spikes are written to `out` in neuron order.
    pub fn advance(
        &self,
        s: &mut TwoCompartmentState<F>,
        i_s: &[F],
        i_d: &[F],
        t: u64,
        rng: &mut Xoshiro256pp,
        out: &mut Vec<(u32, StepSpike)>,
    ) {
        assert!(i_s.len() == s.len() && i_d.len() == s.len());
        match self.p.mechanism {
            BurstMechanism::Stochastic => {
                struct Op<'a, F: Real> {
                    k: &'a Stepper<F>,
                    s: &'a mut TwoCompartmentState<F>,
                    i_s: &'a [F],
                    i_d: &'a [F],
                }
                impl<F: Real> pulp::WithSimd for Op<'_, F> {
                    type Output = ();
                    // Inlined into pulp's per-CPU entry points so the loops get their target features.
                    #[inline(always)]
                    fn with_simd<S: pulp::Simd>(self, _: S) {
                        if self.k.p.dendritic_drive_somatic {
                            passive_pass::<F, true>(self.k, self.s, self.i_s, self.i_d);
                        } else {
                            passive_pass::<F, false>(self.k, self.s, self.i_s, self.i_d);
                        }
                        let s = self.s;
                        above_threshold(&s.vs, &s.thr, &mut s.cand);
                    }
                }
                pulp::Arch::new().dispatch(Op {
                    k: self,
                    s: &mut *s,
                    i_s,
                    i_d,
                });
            }
            BurstMechanism::Dendritic => {
                active_pass(self, s, i_s, i_d);
                above_threshold(&s.vs, &s.thr, &mut s.cand);
            }
        }
        out.clear();
        // Burst spikes due at this step.
        while let Some(&Reverse((step, i))) = s.pending.peek() {
            if step > t {
                break;
            }
            s.pending.pop();
            let iu = i as usize;
            if s.burst_at[iu] == step {
                s.burst_at[iu] = NO_BURST;
                s.refr_until[iu] = t + self.refr_steps as u64;
                out.push((i, StepSpike::BurstSecond));
            }
        }
        let n_burst = out.len();
        for c in 0..s.cand.len() {
            let i = s.cand[c] as usize;
            if t >= s.refr_until[i] {
                if out[..n_burst].iter().any(|&(j, _)| j as usize == i) {
                    continue;
                }
                s.vs[i] = self.v_reset;
                s.thr[i] += self.thr_jump;
                s.ws[i] += self.b_ws;
                s.refr_until[i] = t + self.refr_steps as u64;
                match self.p.mechanism {
                    BurstMechanism::Dendritic => s.bap[i] = self.bap_steps,
                    BurstMechanism::Stochastic => {
                        if rng.uniform() < self.p.f(s.vd[i].f64()) {
                            let at = t + self.burst_delay_steps(rng.uniform()) as u64;
                            s.burst_at[i] = at;
                            s.pending.push(Reverse((at, i as u32)));
                        }
                    }
                }
                out.push((i as u32, StepSpike::Somatic));
            }
        }
        if n_burst > 0 {
            out.sort_unstable_by_key(|&(i, _)| i);
        }
    }
}
