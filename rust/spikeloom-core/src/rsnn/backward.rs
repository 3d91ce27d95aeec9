//! Backpropagation through time over a recorded [`Trace`], without autodiff: the adjoint recursion of
//! the equations in [`super::network`], run backwards in time, top layer first within each step.
//!
//! With `delta x` the total derivative of the loss with respect to `x`, `v = u - theta` and `sigma'` the
//! surrogate derivative, one step `t` of one layer reads
//!
//! ```text
//! delta z[t]     = (from the layer above or the readout at t) + (carried from t+1, see below)
//! delta v        = delta z[t] sigma'(v[t])
//! delta u[t]     = delta v + alpha m[t+1] delta u[t+1]
//! delta theta[t] = -delta v - z[t-1] delta u[t]                 (the last term: subtract_adaptive reset)
//! delta a[t]     = beta delta theta[t] + rho delta a[t+1]
//! delta I[t]     = zeta delta u[t] (+ alpha_s delta i[t+1] for a current-based synapse)
//! carried to z[t-1]: W_rec delta I[t] + c_a delta a[t] + (reset: -theta_0, -theta[t] or -alpha u[t-1]) delta u[t]
//! passed to the layer below at t: W_in delta I[t]
//! ```
//! `detach_reset` drops the reset's dependence on the spike (the multiplicative mask of a zero reset
//! still gates the membrane path). `detach_recurrent` drops the recurrent spike path (`z[t-1] -> I[t]`
//! through `W_rec` is a constant; `W_rec` still gets its gradient): with both detached, BPTT computes
//! exactly the gradient that e-prop with symmetric feedback computes forward in time. Weight gradients are outer products of the sparse spike/input
//! events with the dense `delta I`, so they cost (events x fan-out); the dense parts are the
//! matrix-vector products `W delta I`, done with vectorised dot products over weight rows.
//!
//! The time-constant slots of the gradient receive derivatives with respect to the *decay factors*
//! (`alpha`, `alpha_s`, `rho`, `kappa`); the trainer converts them to seconds once per batch
//! ([`decay_to_tau`]), since that conversion is linear and the same for every sample.

// Index loops walk several per-neuron arrays in step; iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use super::forward::{Model, Trace};
use super::input::SampleInput;
use super::network::{Adaptation, Reset};
use super::real::{add_scaled_rows, axpy, Real};

/// A gradient added to a layer's spikes at every step of a window (firing-rate regularisers, a
/// spike-count loss).
#[derive(Clone, Debug, Default)]
pub struct DirectGrad<F: Real> {
    pub layer: usize,
    pub from: usize,
    pub to: usize,
    pub g: Vec<F>,
}

/// Work buffers of the reverse pass, reused across samples.
#[derive(Clone, Debug, Default)]
pub struct BackwardScratch<F: Real> {
    du: Vec<Vec<F>>,
    da: Vec<Vec<F>>,
    di: Vec<Vec<F>>,
    dzc: Vec<Vec<F>>,
    dza: Vec<Vec<F>>,
    d_cur: Vec<Vec<F>>,
    zprev: Vec<Vec<F>>,
    dyc: Vec<F>,
    gq: Vec<F>,
}

fn zeroed<F: Real>(v: &mut Vec<F>, n: usize) {
    v.clear();
    v.resize(n, F::zero());
}

impl<F: Real> BackwardScratch<F> {
    fn prepare(&mut self, m: &Model<F>) {
        let nl = m.layers.len();
        for buf in [
            &mut self.du,
            &mut self.da,
            &mut self.di,
            &mut self.dzc,
            &mut self.dza,
            &mut self.d_cur,
            &mut self.zprev,
        ] {
            buf.resize_with(nl, Vec::new);
            for (b, lm) in buf.iter_mut().zip(&m.layers) {
                zeroed(b, lm.n);
            }
        }
        let no = m.readout.as_ref().map_or(0, |r| r.n);
        zeroed(&mut self.dyc, no);
        zeroed(&mut self.gq, no);
    }
}

/// Accumulate the gradient of one sample into `grad` (flat, the network's layout). `dy` is the
/// derivative of the (already scaled) loss with respect to the readout trajectory `[T x n_out]`.
#[allow(clippy::too_many_arguments)]
pub fn backward<F: Real>(
    m: &Model<F>,
    x: SampleInput<'_>,
    t0: usize,
    tr: &Trace<F>,
    dy: &[F],
    direct: &[DirectGrad<F>],
    detach_reset: bool,
    detach_recurrent: bool,
    grad: &mut [F],
    s: &mut BackwardScratch<F>,
) {
    s.prepare(m);
    let nl = m.layers.len();
    let steps = tr.steps;
    for t in (0..steps).rev() {
        // Readout: delta y, its parameters, and delta z of the last layer.
        let top = nl - 1;
        if let (Some(rm), Some(o)) = (&m.readout, &m.layout.readout) {
            let no = rm.n;
            for k in 0..no {
                let dyt = dy[t * no + k] + s.dyc[k];
                let yp = if t > 0 {
                    tr.y[(t - 1) * no + k]
                } else {
                    tr.init_y[k]
                };
                let mut dk = yp;
                if rm.one_minus_kappa {
                    dk -= tr.q[t * no + k];
                }
                grad[o.tau.start + k] += dyt * dk;
                let gq = rm.zeta[k] * dyt;
                s.gq[k] = gq;
                grad[o.bias.start + k] += gq;
                s.dyc[k] = rm.kappa[k] * dyt;
            }
            let (idx, val) = tr.layers[top].spikes(t);
            for (&j, &v) in idx.iter().zip(val) {
                let j = j as usize;
                axpy(
                    &mut grad[o.w.start + j * no..o.w.start + (j + 1) * no],
                    v,
                    &s.gq,
                );
            }
            let dza = &mut s.dza[top];
            dza.iter_mut().for_each(|v| *v = F::zero());
            add_scaled_rows(dza, &s.gq, &m.wt[o.w.clone()]);
        } else {
            s.dza[top].iter_mut().for_each(|v| *v = F::zero());
        }
        for l in (0..nl).rev() {
            for dg in direct {
                if dg.layer == l && t >= dg.from && t < dg.to {
                    for (dz, g) in s.dza[l].iter_mut().zip(&dg.g) {
                        *dz += *g;
                    }
                }
            }
            let lm = &m.layers[l];
            let o = &m.layout.layers[l];
            let lt = &tr.layers[l];
            let n = lm.n;
            let row = t * n;
            // z[t-1] as a dense vector.
            if t > 0 {
                let (idx, val) = lt.spikes(t - 1);
                for (&j, &v) in idx.iter().zip(val) {
                    s.zprev[l][j as usize] = v;
                }
            } else {
                s.zprev[l].copy_from_slice(&lt.init_z);
            }
            let adaptive = lm.adaptation != Adaptation::None;
            for k in 0..n {
                let zp = s.zprev[l][k];
                let theta = lt.theta(lm, t, k);
                let dz = s.dza[l][k] + s.dzc[l][k];
                let dv = dz * m.spike.grad(lt.u[row + k] - theta);
                let du = dv + s.du[l][k];
                let (up, ap, ip) = lt.prev(t, k);
                let mask = if lm.reset == Reset::Zero {
                    F::one() - zp
                } else {
                    F::one()
                };
                // Membrane decay alpha (and zeta = 1 - alpha).
                let mut dalpha = du * mask * up;
                if lm.one_minus_alpha {
                    dalpha -= du * lt.d[row + k];
                }
                grad[o.tau_mem.start + k] += dalpha;
                // Adaptation.
                let mut dzc = F::zero();
                if adaptive {
                    let mut dtheta = -dv;
                    if lm.reset == Reset::SubtractAdaptive && !detach_reset {
                        dtheta -= zp * du;
                    }
                    let da = lm.beta * dtheta + s.da[l][k];
                    let drho = if lm.adaptation == Adaptation::Yin {
                        ap - zp
                    } else {
                        ap
                    };
                    grad[o.tau_adapt.start + k] += da * drho;
                    s.da[l][k] = lm.rho[k] * da;
                    dzc += lm.c_a[k] * da;
                }
                // Synapse and input current.
                let mut di = lm.zeta[k] * du;
                if lm.synapse {
                    di += s.di[l][k];
                    grad[o.tau_syn.start + k] += di * ip;
                    s.di[l][k] = lm.alpha_s[k] * di;
                }
                s.d_cur[l][k] = di;
                // Reset's dependence on z[t-1].
                if !detach_reset {
                    dzc -= match lm.reset {
                        Reset::Subtract => lm.theta0 * du,
                        Reset::SubtractAdaptive => theta * du,
                        Reset::Zero => lm.alpha[k] * up * du,
                    };
                }
                s.dzc[l][k] = dzc;
                s.du[l][k] = lm.alpha[k] * mask * du;
            }
            let dcur = &s.d_cur[l];
            add_to_range(grad, o.bias.start, dcur);
            // Weight gradients: one row per input event / spike below.
            let gw_in = o.w_in.start;
            if l == 0 {
                for (j, v) in x.at(t0 + t) {
                    axpy(
                        &mut grad[gw_in + j * n..gw_in + (j + 1) * n],
                        F::of(v as f64),
                        dcur,
                    );
                }
            } else {
                let (idx, val) = tr.layers[l - 1].spikes(t);
                for (&j, &v) in idx.iter().zip(val) {
                    let j = j as usize;
                    axpy(&mut grad[gw_in + j * n..gw_in + (j + 1) * n], v, dcur);
                }
            }
            if lm.recurrent {
                let gw = o.w_rec.start;
                if t > 0 {
                    let (idx, val) = lt.spikes(t - 1);
                    for (&j, &v) in idx.iter().zip(val) {
                        let j = j as usize;
                        axpy(&mut grad[gw + j * n..gw + (j + 1) * n], v, dcur);
                    }
                } else {
                    for (j, &v) in lt.init_z.iter().enumerate() {
                        if v != F::zero() {
                            axpy(&mut grad[gw + j * n..gw + (j + 1) * n], v, dcur);
                        }
                    }
                }
                if !detach_recurrent {
                    add_scaled_rows(&mut s.dzc[l], dcur, &m.wt[o.w_rec.clone()]);
                }
            }
            if l > 0 {
                let below = &mut s.dza[l - 1];
                below.iter_mut().for_each(|v| *v = F::zero());
                add_scaled_rows(below, &s.d_cur[l], &m.wt[o.w_in.clone()]);
            }
            // Clear the dense z[t-1].
            if t > 0 {
                let (idx, _) = lt.spikes(t - 1);
                for &j in idx {
                    s.zprev[l][j as usize] = F::zero();
                }
            } else {
                s.zprev[l].iter_mut().for_each(|z| *z = F::zero());
            }
        }
    }
}

#[inline(always)]
fn add_to_range<F: Real>(grad: &mut [F], start: usize, v: &[F]) {
    for (g, x) in grad[start..start + v.len()].iter_mut().zip(v) {
        *g += *x;
    }
}

/// Convert the decay-factor slots of a reduced gradient into derivatives with respect to the time
/// constants (s): `dL/dtau = dL/ddecay * decay * dt / tau^2`, where `decay = exp(-dt/tau)`. Zeroes the
/// recurrent diagonals (self-connections are masked).
pub fn decay_to_tau(net: &super::network::RsnnNetwork, grad: &mut [f64]) {
    let dt = net.spec.dt;
    for i in net.layout.n_weights..net.layout.len {
        let tau = net.params[i];
        let d = (-dt / tau).exp();
        grad[i] *= d * dt / (tau * tau);
    }
    for o in &net.layout.layers {
        if !o.w_rec.is_empty() {
            for k in 0..o.n {
                grad[o.w_rec.start + k * o.n + k] = 0.0;
            }
        }
    }
}
