//! Online e-prop on a large recurrent LIF layer with sparse random connectivity (CSR by presynaptic
//! neuron): the scaling path. Same equations as [`super::kernel`] (LIF, symmetric feedback, MSE at every
//! step) with the update applied at every step, fused into the trace loop (`W -= lr L ebar`), so the
//! work per step is (synapses of active presynaptic units) and no gradient buffer is needed. Rows whose
//! presynaptic trace has never been non-zero are skipped.

// Index loops walk several per-neuron arrays in step; iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use crate::rsnn::surrogate::{SpikeFn, Surrogate};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// A CSR matrix by presynaptic row: row `i`'s targets are `col[ptr[i]..ptr[i + 1]]`.
#[derive(Clone, Debug, Default)]
pub struct Csr {
    pub ptr: Vec<usize>,
    pub col: Vec<u32>,
    pub val: Vec<f32>,
    /// Readout-filtered eligibility trace per synapse.
    ebar: Vec<f32>,
}

impl Csr {
    /// Random connectivity: each (i, j) exists with probability `p` (no self-connections when
    /// `square`), weights N(0, gain^2 / (p rows)).
    fn random(
        rows: usize,
        cols: usize,
        p: f64,
        gain: f64,
        square: bool,
        rng: &mut ChaCha8Rng,
    ) -> Self {
        let sd = gain / (p * rows as f64).sqrt().max(1.0);
        let normal = Normal::new(0.0, sd).expect("finite sd");
        let mut m = Csr {
            ptr: vec![0],
            ..Default::default()
        };
        for i in 0..rows {
            for j in 0..cols {
                if (!square || i != j) && rng.random::<f64>() < p {
                    m.col.push(j as u32);
                    m.val.push(normal.sample(rng) as f32);
                }
            }
            m.ptr.push(m.col.len());
        }
        m.ebar = vec![0.0; m.col.len()];
        m
    }

    pub fn nnz(&self) -> usize {
        self.col.len()
    }
}

/// A sparse LIF network with a leaky readout, trained online with e-prop.
#[derive(Clone, Debug)]
pub struct SparseEprop {
    pub n_in: usize,
    pub n: usize,
    pub n_out: usize,
    pub w_in: Csr,
    pub w_rec: Csr,
    pub w_out: Vec<f32>,
    alpha: f32,
    kappa: f32,
    theta0: f32,
    spike: SpikeFn<f32>,
    u: Vec<f32>,
    z: Vec<f32>,
    zprev: Vec<f32>,
    psi: Vec<f32>,
    cur: Vec<f32>,
    l: Vec<f32>,
    zbar_in: Vec<f32>,
    zbar_rec: Vec<f32>,
    y: Vec<f32>,
    zo: Vec<f32>,
    /// Spikes emitted so far.
    pub spikes: u64,
}

impl SparseEprop {
    /// `n_in` inputs and `n` LIF neurons (threshold 1, tau_mem, `input_scale = one`) connected with
    /// probability `p_in` / `p_rec`, `n_out` readouts (tau_out); Bellec's pseudo-derivative.
    #[allow(clippy::too_many_arguments)]
    pub fn random(
        n_in: usize,
        n: usize,
        n_out: usize,
        p_in: f64,
        p_rec: f64,
        tau_mem: f64,
        tau_out: f64,
        dt: f64,
        gain: f64,
        seed: u64,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let w_in = Csr::random(n_in, n, p_in, gain, false, &mut rng);
        let w_rec = Csr::random(n, n, p_rec, gain, true, &mut rng);
        let normal = Normal::new(0.0, 1.0 / (n as f64).sqrt()).expect("finite sd");
        let w_out = (0..n * n_out)
            .map(|_| normal.sample(&mut rng) as f32)
            .collect();
        let sur = Surrogate::PiecewiseLinear {
            width: 1.0,
            scale: 0.3,
        };
        SparseEprop {
            n_in,
            n,
            n_out,
            w_in,
            w_rec,
            w_out,
            alpha: (-dt / tau_mem).exp() as f32,
            kappa: (-dt / tau_out).exp() as f32,
            theta0: 1.0,
            spike: sur.to(),
            u: vec![0.0; n],
            z: vec![0.0; n],
            zprev: vec![0.0; n],
            psi: vec![0.0; n],
            cur: vec![0.0; n],
            l: vec![0.0; n],
            zbar_in: vec![0.0; n_in],
            zbar_rec: vec![0.0; n],
            y: vec![0.0; n_out],
            zo: vec![0.0; n],
            spikes: 0,
        }
    }

    /// One step: input spikes `x` (channel indices), MSE target `target` [n_out], learning rate `lr`
    /// (plain online gradient descent on the input, recurrent and readout weights). Returns the step's
    /// squared error.
    pub fn step(&mut self, x: &[u32], target: &[f32], lr: f32) -> f32 {
        let n = self.n;
        self.cur.iter_mut().for_each(|c| *c = 0.0);
        for &c in x {
            let c = c as usize;
            let r = self.w_in.ptr[c]..self.w_in.ptr[c + 1];
            for (&j, &w) in self.w_in.col[r.clone()].iter().zip(&self.w_in.val[r]) {
                self.cur[j as usize] += w;
            }
        }
        for i in 0..n {
            if self.zprev[i] != 0.0 {
                let r = self.w_rec.ptr[i]..self.w_rec.ptr[i + 1];
                for (&j, &w) in self.w_rec.col[r.clone()].iter().zip(&self.w_rec.val[r]) {
                    self.cur[j as usize] += w;
                }
            }
        }
        for k in 0..n {
            let zp = self.zprev[k];
            let u = self.alpha * self.u[k] + self.cur[k] - self.theta0 * zp;
            self.u[k] = u;
            let v = u - self.theta0;
            self.z[k] = self.spike.spike(v);
            self.psi[k] = self.spike.grad(v);
        }
        self.spikes += self.z.iter().filter(|z| **z != 0.0).count() as u64;
        // Readout, error, learning signal (symmetric feedback) and the exact readout update.
        let no = self.n_out;
        let mut err2 = 0.0;
        let mut dy = vec![0.0f32; no];
        for k in 0..no {
            let mut q = 0.0;
            for j in 0..n {
                if self.z[j] != 0.0 {
                    q += self.w_out[j * no + k];
                }
            }
            self.y[k] = self.kappa * self.y[k] + q;
            let e = self.y[k] - target[k];
            err2 += e * e;
            dy[k] = 2.0 * e / no as f32;
        }
        for j in 0..n {
            self.zo[j] = self.kappa * self.zo[j] + self.z[j];
            let mut s = 0.0;
            for k in 0..no {
                s += self.w_out[j * no + k] * dy[k];
            }
            self.l[j] = lr * s;
        }
        for j in 0..n {
            for k in 0..no {
                self.w_out[j * no + k] -= lr * dy[k] * self.zo[j];
            }
        }
        // Traces and the fused update of the input and recurrent weights.
        let (alpha, kappa) = (self.alpha, self.kappa);
        let (psi, l) = (&self.psi, &self.l);
        for (m, zbar, pre) in [
            (&mut self.w_in, &mut self.zbar_in, None),
            (&mut self.w_rec, &mut self.zbar_rec, Some(&self.zprev)),
        ] {
            for i in 0..zbar.len() {
                let p = match pre {
                    Some(z) => z[i],
                    None => 0.0,
                };
                let zb = alpha * zbar[i] + p;
                zbar[i] = zb;
                if zb == 0.0 {
                    continue;
                }
                let r = m.ptr[i]..m.ptr[i + 1];
                let (col, val, ebar) = (&m.col[r.clone()], &mut m.val[r.clone()], &mut m.ebar[r]);
                for ((&j, w), e) in col.iter().zip(val.iter_mut()).zip(ebar.iter_mut()) {
                    let j = j as usize;
                    let v = kappa * *e + psi[j] * zb;
                    *e = v;
                    *w -= l[j] * v;
                }
            }
        }
        for &c in x {
            self.zbar_in[c as usize] += 1.0;
        }
        std::mem::swap(&mut self.z, &mut self.zprev);
        err2
    }

    /// Bytes of the weights, traces and state.
    pub fn bytes(&self) -> usize {
        let csr = |m: &Csr| m.ptr.len() * 8 + m.col.len() * 4 + m.val.len() * 4 + m.ebar.len() * 4;
        csr(&self.w_in) + csr(&self.w_rec) + 4 * (self.w_out.len() + 12 * self.n + self.n_in)
    }
}

/// Result of [`benchmark`].
#[derive(Clone, Debug)]
pub struct SparseBenchmark {
    pub seconds_per_step: f64,
    pub build_seconds: f64,
    pub synapses: usize,
    pub rate_hz: f64,
    pub bytes: usize,
}

/// Build a sparse network of `n_rec` LIF neurons (tau_m = tau_out = 20 ms), drive it with Poisson
/// inputs at `rate_hz` and train it online towards a 5-Hz sine for `steps` steps of `dt` (one thread);
/// report the wall time per step.
#[allow(clippy::too_many_arguments)]
pub fn benchmark(
    n_in: usize,
    n_rec: usize,
    p_in: f64,
    p_rec: f64,
    steps: usize,
    rate_hz: f64,
    gain: f64,
    lr: f32,
    dt: f64,
    seed: u64,
) -> crate::error::Result<SparseBenchmark> {
    use crate::error::Error;
    for (name, p) in [("p_in", p_in), ("p_rec", p_rec)] {
        if !(p > 0.0 && p <= 1.0) {
            return Err(Error::param(name, "a probability in (0, 1]", p));
        }
    }
    if n_in == 0
        || n_rec == 0
        || steps == 0
        || dt.is_nan()
        || dt <= 0.0
        || rate_hz.is_nan()
        || rate_hz * dt > 1.0
    {
        return Err(Error::param(
            "n_in, n_rec, steps, dt, rate_hz",
            "n_in, n_rec, steps >= 1, dt > 0, rate_hz * dt <= 1",
            format!("{n_in}, {n_rec}, {steps}, {dt}, {rate_hz}"),
        ));
    }
    let t0 = std::time::Instant::now();
    let mut net = SparseEprop::random(n_in, n_rec, 1, p_in, p_rec, 0.02, 0.02, dt, gain, seed);
    let build_seconds = t0.elapsed().as_secs_f64();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let p = rate_hz * dt;
    let inputs: Vec<Vec<u32>> = (0..steps)
        .map(|_| {
            (0..n_in as u32)
                .filter(|_| rng.random::<f64>() < p)
                .collect()
        })
        .collect();
    let t1 = std::time::Instant::now();
    for (t, x) in inputs.iter().enumerate() {
        let target = [(2.0 * std::f64::consts::PI * 5.0 * t as f64 * dt).sin() as f32];
        net.step(x, &target, lr);
    }
    Ok(SparseBenchmark {
        seconds_per_step: t1.elapsed().as_secs_f64() / steps as f64,
        build_seconds,
        synapses: net.w_in.nnz() + net.w_rec.nnz(),
        rate_hz: net.spikes as f64 / (n_rec as f64 * steps as f64 * dt),
        bytes: net.bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With lr = 0 the sparse network's simulation is a plain LIF network: check the membrane against
    /// a dense recomputation from the CSR weights.
    #[test]
    fn sparse_forward_matches_dense_recomputation() {
        let mut s = SparseEprop::random(8, 30, 2, 0.5, 0.3, 0.02, 0.02, 1e-3, 3.0, 1);
        let mut dense_in = vec![0.0f32; 8 * 30];
        for i in 0..8 {
            for e in s.w_in.ptr[i]..s.w_in.ptr[i + 1] {
                dense_in[i * 30 + s.w_in.col[e] as usize] = s.w_in.val[e];
            }
        }
        let mut dense_rec = vec![0.0f32; 30 * 30];
        for i in 0..30 {
            for e in s.w_rec.ptr[i]..s.w_rec.ptr[i + 1] {
                dense_rec[i * 30 + s.w_rec.col[e] as usize] = s.w_rec.val[e];
            }
        }
        let alpha = (-1e-3f64 / 0.02).exp() as f32;
        let (mut u, mut z) = (vec![0.0f32; 30], vec![0.0f32; 30]);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut total = 0;
        for _ in 0..200 {
            let x: Vec<u32> = (0..8).filter(|_| rng.random::<f64>() < 0.3).collect();
            s.step(&x, &[0.0, 0.0], 0.0);
            let mut znew = vec![0.0f32; 30];
            for j in 0..30 {
                let mut c = 0.0;
                for &i in &x {
                    c += dense_in[i as usize * 30 + j];
                }
                for i in 0..30 {
                    c += z[i] * dense_rec[i * 30 + j];
                }
                u[j] = alpha * u[j] + c - z[j];
                znew[j] = if u[j] > 1.0 { 1.0 } else { 0.0 };
            }
            z = znew;
            total += z.iter().filter(|v| **v > 0.0).count();
            for j in 0..30 {
                assert!((u[j] - s.u[j]).abs() < 1e-4, "{} vs {}", u[j], s.u[j]);
            }
        }
        assert!(total > 10, "{total} spikes");
    }
}
