//! The three neuron models of Nicola & Clopath (2017), forward Euler exactly as in their scripts, each
//! in its own units (LIF and theta: seconds; Izhikevich: milliseconds, mV, pA, pF).

use crate::error::{ensure_positive, Error, Result};
use serde::{Deserialize, Serialize};

/// A neuron model and its constants, in the model's own units (see each variant).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NeuronModel {
    /// `tau_m dv/dt = -v + I` (s, mV); `v >= v_peak` spikes and resets to `v_reset`; no integration
    /// for `refractory` seconds after a spike (and at the very start, as in the reference script).
    Lif {
        tau_mem: f64,
        v_reset: f64,
        v_peak: f64,
        refractory: f64,
        bias: f64,
    },
    /// `C dv/dt = k (v - v_r)(v - v_t) - u + I`, `du/dt = a (b (v - v_r) - u)` (ms, mV, pA, pF);
    /// both right-hand sides use the potential at the start of the step; `v >= v_peak` spikes,
    /// `v <- v_reset`, `u <- u + d`. `a` is in 1/ms here (the public API takes 1/s).
    Izhikevich {
        c: f64,
        k: f64,
        v_r: f64,
        v_t: f64,
        a: f64,
        b: f64,
        d: f64,
        v_peak: f64,
        v_reset: f64,
        bias: f64,
    },
    /// `dtheta/dt = (1 - cos theta) + (1 + cos theta) pi^2 I` (s); `theta >= pi` spikes, `theta <- -pi`.
    Theta { bias: f64 },
}

/// Per-neuron state of a reservoir.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NeuronState {
    /// Membrane potential (mV) or phase (rad).
    pub v: Vec<f64>,
    /// Izhikevich recovery current (pA); zeros for the other models.
    pub u: Vec<f64>,
    /// LIF: 1-based step of the last spike (0 = none yet).
    pub last_spike: Vec<u64>,
}

impl NeuronModel {
    /// Seconds per unit of time of the model (1e-3 for Izhikevich, whose equations are in ms).
    pub fn time_unit(&self) -> f64 {
        match self {
            NeuronModel::Izhikevich { .. } => 1e-3,
            _ => 1.0,
        }
    }

    pub fn validate(&self) -> Result<()> {
        let finite = |name: &str, v: f64| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(Error::param(name, "a finite value", v))
            }
        };
        match *self {
            NeuronModel::Lif {
                tau_mem,
                v_reset,
                v_peak,
                refractory,
                bias,
            } => {
                ensure_positive("tau_mem", tau_mem)?;
                finite("v_reset", v_reset)?;
                finite("v_peak", v_peak)?;
                finite("bias", bias)?;
                if v_reset >= v_peak {
                    return Err(Error::param(
                        "v_reset",
                        format!("a reset below v_peak = {v_peak} mV"),
                        v_reset,
                    ));
                }
                if !(refractory.is_finite() && refractory >= 0.0) {
                    return Err(Error::param("refractory", "a time >= 0 s", refractory));
                }
            }
            NeuronModel::Izhikevich {
                c,
                k,
                v_r,
                v_t,
                a,
                b,
                d,
                v_peak,
                v_reset,
                bias,
            } => {
                ensure_positive("c", c)?;
                ensure_positive("k", k)?;
                for (n, x) in [
                    ("v_r", v_r),
                    ("v_t", v_t),
                    ("a", a),
                    ("b", b),
                    ("d", d),
                    ("v_peak", v_peak),
                    ("v_reset", v_reset),
                    ("bias", bias),
                ] {
                    finite(n, x)?;
                }
                if v_reset >= v_peak {
                    return Err(Error::param(
                        "v_reset",
                        format!("a reset below v_peak = {v_peak} mV"),
                        v_reset,
                    ));
                }
            }
            NeuronModel::Theta { bias } => finite("bias", bias)?,
        }
        Ok(())
    }

    /// The reference scripts' random initial state: LIF `U(v_reset, 30)`, Izhikevich
    /// `U(v_r, v_peak)` with `u = 0`, theta `U(-pi, pi)`; `uniform` holds one U(0,1) draw per neuron.
    pub fn initial_state(&self, uniform: &[f64]) -> NeuronState {
        let n = uniform.len();
        let v = match *self {
            NeuronModel::Lif { v_reset, .. } => uniform
                .iter()
                .map(|x| v_reset + x * (30.0 - v_reset))
                .collect(),
            NeuronModel::Izhikevich { v_r, v_peak, .. } => {
                uniform.iter().map(|x| v_r + x * (v_peak - v_r)).collect()
            }
            NeuronModel::Theta { .. } => uniform
                .iter()
                .map(|x| -std::f64::consts::PI + x * 2.0 * std::f64::consts::PI)
                .collect(),
        };
        NeuronState {
            v,
            u: vec![0.0; n],
            last_spike: vec![0; n],
        }
    }

    /// The constant bias current (model units).
    pub fn bias(&self) -> f64 {
        match *self {
            NeuronModel::Lif { bias, .. }
            | NeuronModel::Izhikevich { bias, .. }
            | NeuronModel::Theta { bias } => bias,
        }
    }

    /// One Euler step of every neuron under input currents `current` (model units, bias included),
    /// `dt` in model time units, `step` the 1-based index of this step. Sets `flags[i]` to 1.0 where
    /// neuron i spiked, 0.0 elsewhere (branch-free loops, so they vectorise).
    pub fn step(
        &self,
        state: &mut NeuronState,
        current: &[f64],
        dt: f64,
        step: u64,
        flags: &mut [f64],
    ) {
        match *self {
            NeuronModel::Lif {
                tau_mem,
                v_reset,
                v_peak,
                refractory,
                ..
            } => {
                let n_ref = (refractory / dt).round() as u64;
                let f = dt / tau_mem;
                for (((v, last), &cur), fl) in state
                    .v
                    .iter_mut()
                    .zip(state.last_spike.iter_mut())
                    .zip(current)
                    .zip(flags.iter_mut())
                {
                    let free = step > *last + n_ref;
                    let x = if free { *v + f * (cur - *v) } else { *v };
                    let spike = x >= v_peak;
                    *v = if spike { v_reset } else { x };
                    *last = if spike { step } else { *last };
                    *fl = if spike { 1.0 } else { 0.0 };
                }
            }
            NeuronModel::Izhikevich {
                c,
                k,
                v_r,
                v_t,
                a,
                b,
                d,
                v_peak,
                v_reset,
                ..
            } => {
                let (fc, fa) = (dt / c, dt * a);
                for (((v, u), &cur), fl) in state
                    .v
                    .iter_mut()
                    .zip(state.u.iter_mut())
                    .zip(current)
                    .zip(flags.iter_mut())
                {
                    let v0 = *v;
                    let v1 = v0 + fc * (k * (v0 - v_r) * (v0 - v_t) - *u + cur);
                    let u1 = *u + fa * (b * (v0 - v_r) - *u);
                    let spike = v1 >= v_peak;
                    *v = if spike { v_reset } else { v1 };
                    *u = if spike { u1 + d } else { u1 };
                    *fl = if spike { 1.0 } else { 0.0 };
                }
            }
            NeuronModel::Theta { .. } => {
                let pi = std::f64::consts::PI;
                let pi2 = pi * pi;
                for ((v, &cur), fl) in state.v.iter_mut().zip(current).zip(flags.iter_mut()) {
                    let cs = v.cos();
                    let x = *v + dt * ((1.0 - cs) + (1.0 + cs) * pi2 * cur);
                    let spike = x >= pi;
                    *v = if spike { -pi } else { x };
                    *fl = if spike { 1.0 } else { 0.0 };
                }
            }
        }
    }
}
