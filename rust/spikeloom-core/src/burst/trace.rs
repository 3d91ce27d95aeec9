//! Step-by-step recording of uncoupled two-compartment neurons under given inputs (for validation
//! against references and for single-neuron experiments).

use super::neuron::{StepSpike, Stepper, TwoCompartmentParams, TwoCompartmentState};
use super::poisson::Xoshiro256pp;
use crate::error::{Error, Result};

/// Inputs, row-major `[steps][n]`: external currents (A) and conductance increments per step
/// (dimensionless) onto exc/inh soma and exc/inh dendrite.
pub struct NeuronInputs<'a> {
    pub i_s: &'a [f64],
    pub i_d: &'a [f64],
    pub ge_s: &'a [f64],
    pub gi_s: &'a [f64],
    pub ge_d: &'a [f64],
    pub gi_d: &'a [f64],
}

/// Recorded states `[steps][n]` after each step and spikes (step, neuron, 1 = somatic /
/// 2 = burst second spike).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NeuronTrace {
    pub vs: Vec<f64>,
    pub vd: Vec<f64>,
    pub ws: Vec<f64>,
    pub wd: Vec<f64>,
    pub thr: Vec<f64>,
    pub spike_step: Vec<u64>,
    pub spike_id: Vec<u32>,
    pub spike_type: Vec<u8>,
}

#[allow(clippy::too_many_arguments)]
/// Simulate `n` uncoupled neurons for `steps` steps from rest (`vs0`, `vd0` initial potentials).
pub fn simulate(
    params: &TwoCompartmentParams,
    dt: f64,
    n: usize,
    steps: usize,
    vs0: &[f64],
    vd0: &[f64],
    inputs: &NeuronInputs<'_>,
    seed: u64,
) -> Result<NeuronTrace> {
    let stepper = Stepper::<f64>::new(params, dt)?;
    let len = n * steps;
    for (name, a) in [
        ("i_s", inputs.i_s),
        ("i_d", inputs.i_d),
        ("ge_s", inputs.ge_s),
        ("gi_s", inputs.gi_s),
        ("ge_d", inputs.ge_d),
        ("gi_d", inputs.gi_d),
    ] {
        if a.len() != len {
            return Err(Error::shape(name, format!("{steps} x {n} values"), a.len()));
        }
        if let Some(v) = a.iter().find(|v| !v.is_finite()) {
            return Err(Error::param(name, "finite values", v));
        }
    }
    for (name, a) in [("vs0", vs0), ("vd0", vd0)] {
        if a.len() != n {
            return Err(Error::shape(name, format!("{n} potentials (V)"), a.len()));
        }
    }
    let mut s = TwoCompartmentState::<f64>::rest(n, params);
    s.vs.copy_from_slice(vs0);
    s.vd.copy_from_slice(vd0);
    let mut rng = Xoshiro256pp::new(seed, 0);
    let mut tr = NeuronTrace::default();
    let mut out = Vec::new();
    for t in 0..steps {
        let row = t * n..(t + 1) * n;
        for (g, x) in [
            (&mut s.ge_s, inputs.ge_s),
            (&mut s.gi_s, inputs.gi_s),
            (&mut s.ge_d, inputs.ge_d),
            (&mut s.gi_d, inputs.gi_d),
        ] {
            g.iter_mut().zip(&x[row.clone()]).for_each(|(g, x)| *g += x);
        }
        stepper.advance(
            &mut s,
            &inputs.i_s[row.clone()],
            &inputs.i_d[row],
            t as u64,
            &mut rng,
            &mut out,
        );
        for &(i, kind) in &out {
            tr.spike_step.push(t as u64);
            tr.spike_id.push(i);
            tr.spike_type
                .push(if kind == StepSpike::Somatic { 1 } else { 2 });
        }
        tr.vs.extend_from_slice(&s.vs);
        tr.vd.extend_from_slice(&s.vd);
        tr.ws.extend_from_slice(&s.ws);
        tr.wd.extend_from_slice(&s.wd);
        tr.thr.extend_from_slice(&s.thr);
    }
    Ok(tr)
}
