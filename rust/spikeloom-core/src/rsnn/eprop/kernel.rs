//! One sample's e-prop state and its step: the recurrent layer and readout advance by one step, the
//! eligibility traces of every weight advance forward in time, and the step's weight update is
//! accumulated. Nothing is stored per step, so memory does not depend on the sequence length.
//!
//! With `p_i[t]` the presynaptic value of a weight (`x_i[t]` for `W_in`, `z_i[t-1]` for `W_rec`, 1 for
//! the bias), `psi_j[t]` the pseudo-derivative at `v = u_j[t] - theta_j[t]` and `L_j[t]` the learning
//! signal:
//!
//! ```text
//! zbar_i[t]   = alpha zbar_i[t-1] + zeta p_i[t]                         (= du_j[t]/dW_ji, eps_v)
//! eps_a_ji[t] = rho_j eps_a_ji[t-1] + psi_j[t-1] (zbar_i[t-1] - beta eps_a_ji[t-1])   (= da_j[t]/dW_ji)
//! e_ji[t]     = psi_j[t] (zbar_i[t] - beta eps_a_ji[t])                 (= dz_j[t]/dW_ji)
//! ebar_ji[t]  = kappa ebar_ji[t-1] + e_ji[t]                            (readout-filtered)
//! g_ji       += L_j[t] ebar_ji[t]     with  L_j[t] = sum_k B_jk zeta_o dE/dy_k[t]
//! ```
//! (LIF: `beta = 0`, no `eps_a`.) The readout's own gradient is exact: `g_out_jk += zeta_o dE/dy_k[t]
//! zo_j[t]`, `zo_j[t] = kappa zo_j[t-1] + z_j[t]`. Rows of a presynaptic unit whose trace has never
//! been non-zero are skipped (their traces are exactly zero), so silent inputs and neurons cost
//! nothing, and the accumulation `g += L ebar` is skipped at steps without error (outside the loss
//! window).

// Index loops walk several per-neuron arrays in step; iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use crate::rsnn::input::SampleInput;
use crate::rsnn::loss::{cross_entropy, LossKind, LossSpec, Target};
use crate::rsnn::network::{Adaptation, InputScale, RsnnNetwork};
use crate::rsnn::real::{axpy, Real};
use crate::rsnn::surrogate::{SpikeFn, Surrogate};

/// The network's weights and constants in float type `F` (refreshed after every optimiser step).
#[derive(Clone, Debug)]
pub struct Weights<F: Real> {
    pub n_in: usize,
    pub n: usize,
    pub n_out: usize,
    pub recurrent: bool,
    pub adaptive: bool,
    pub w_in: Vec<F>,
    pub w_rec: Vec<F>,
    pub bias: Vec<F>,
    pub w_out: Vec<F>,
    pub b_out: Vec<F>,
    /// Feedback matrix `B` `[n x n_out]` (a copy of `W_out` for symmetric feedback).
    pub fb: Vec<F>,
    pub alpha: F,
    pub zeta: F,
    pub rho: Vec<F>,
    pub theta0: F,
    pub beta: F,
    pub kappa: F,
    pub zeta_o: F,
    pub spike: SpikeFn<F>,
    pub dt: f64,
    /// Sd of the membrane noise added at every step (0 = none; see
    /// [`Weights::with_membrane_noise`]).
    pub noise_sd: F,
}

impl<F: Real> Weights<F> {
    /// From a network accepted by [`super::config::check_network`]; `fb = None` means symmetric.
    pub fn new(net: &RsnnNetwork, surrogate: &Surrogate, fb: Option<&[f64]>) -> Self {
        let (s, o) = (&net.spec.layers[0], &net.layout.layers[0]);
        let (rs, ro) = (
            net.spec.readout.as_ref().expect("checked"),
            net.layout.readout.as_ref().expect("checked"),
        );
        let p = &net.params;
        let dt = net.spec.dt;
        let alpha = (-dt / p[o.tau_mem.start]).exp();
        let kappa = (-dt / p[ro.tau.start]).exp();
        let adaptive = s.adaptation == Adaptation::Bellec;
        let mut w = Weights {
            n_in: o.n_pre,
            n: o.n,
            n_out: ro.n,
            recurrent: s.recurrent,
            adaptive,
            w_in: Vec::new(),
            w_rec: Vec::new(),
            bias: Vec::new(),
            w_out: Vec::new(),
            b_out: Vec::new(),
            fb: Vec::new(),
            alpha: F::of(alpha),
            zeta: F::of(if s.input_scale == InputScale::OneMinusAlpha {
                1.0 - alpha
            } else {
                1.0
            }),
            rho: p[o.tau_adapt.clone()]
                .iter()
                .map(|t| F::of((-dt / t).exp()))
                .collect(),
            theta0: F::of(s.threshold),
            beta: F::of(if adaptive { s.beta } else { 0.0 }),
            kappa: F::of(kappa),
            zeta_o: F::of(if rs.input_scale == InputScale::OneMinusAlpha {
                1.0 - kappa
            } else {
                1.0
            }),
            spike: surrogate.to(),
            dt,
            noise_sd: F::zero(),
        };
        w.refresh(net, fb);
        w
    }

    /// Membrane noise of relative size `rel` (the stationary sd of a free membrane in thresholds,
    /// as [`crate::rsnn::forward::Model::with_membrane_noise`]): every step adds a Gaussian of sd
    /// `rel * theta_0 * sqrt(1 - alpha^2)` to each membrane, drawn from the workspace's stream.
    pub fn with_membrane_noise(mut self, rel: f64) -> Self {
        let a = self.alpha.f64();
        self.noise_sd = F::of(rel * self.theta0.f64() * (1.0 - a * a).max(0.0).sqrt());
        self
    }

    /// Copy the current parameters (and feedback matrix) in.
    pub fn refresh(&mut self, net: &RsnnNetwork, fb: Option<&[f64]>) {
        let (o, ro) = (
            &net.layout.layers[0],
            net.layout.readout.as_ref().expect("checked"),
        );
        let p = &net.params;
        let cast = |dst: &mut Vec<F>, src: &[f64]| {
            dst.clear();
            dst.extend(src.iter().map(|v| F::of(*v)));
        };
        cast(&mut self.w_in, &p[o.w_in.clone()]);
        cast(&mut self.w_rec, &p[o.w_rec.clone()]);
        cast(&mut self.bias, &p[o.bias.clone()]);
        cast(&mut self.w_out, &p[ro.w.clone()]);
        cast(&mut self.b_out, &p[ro.bias.clone()]);
        match fb {
            Some(b) => cast(&mut self.fb, b),
            None => cast(&mut self.fb, &p[ro.w.clone()]),
        }
    }
}

/// Eligibility state and accumulated update of one weight tensor `[rows x n]`.
#[derive(Clone, Debug, Default)]
pub struct Block<F: Real> {
    pub rows: usize,
    pub zbar: Vec<F>,
    active: Vec<bool>,
    ebar: Vec<F>,
    eps_a: Vec<F>,
    /// Accumulated `sum_t L ebar` (plus the running-average regulariser's `sum_t L_reg e`).
    pub g: Vec<F>,
    /// `sum_t e` (for the batch-average rate regulariser; empty when not needed).
    pub esum: Vec<F>,
    scratch: Vec<F>,
}

impl<F: Real> Block<F> {
    fn prepare(&mut self, rows: usize, n: usize, adaptive: bool, esum: bool) {
        self.rows = rows;
        for (v, len) in [
            (&mut self.zbar, rows),
            (&mut self.ebar, rows * n),
            (&mut self.g, rows * n),
            (&mut self.eps_a, if adaptive { rows * n } else { 0 }),
            (&mut self.esum, if esum { rows * n } else { 0 }),
        ] {
            v.clear();
            v.resize(len, F::zero());
        }
        self.active.clear();
        self.active.resize(rows, false);
    }

    fn bytes(&self) -> usize {
        std::mem::size_of::<F>()
            * (self.zbar.len()
                + self.ebar.len()
                + self.eps_a.len()
                + self.g.len()
                + self.esum.len())
            + self.active.len()
            + std::mem::size_of::<F>() * self.scratch.len()
    }

    /// Advance every row by one step with presynaptic values `p` (`p(i)`).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn step(
        &mut self,
        w: &Weights<F>,
        p: impl Fn(usize) -> F,
        psi: &[F],
        psi_prev: &[F],
        l: Option<&[F]>,
        lreg: Option<&[F]>,
    ) {
        let n = psi.len();
        let (alpha, zeta, kappa, beta) = (w.alpha, w.zeta, w.kappa, w.beta);
        for i in 0..self.rows {
            let zb_old = self.zbar[i];
            let zb = alpha * zb_old + zeta * p(i);
            self.zbar[i] = zb;
            if !self.active[i] {
                if zb == F::zero() {
                    continue;
                }
                self.active[i] = true;
            }
            let r = i * n..(i + 1) * n;
            let ebar = &mut self.ebar[r.clone()];
            let g = &mut self.g[r.clone()];
            let slow = lreg.is_some() || !self.esum.is_empty();
            if slow {
                // With a regulariser e is needed on its own: compute it into a scratch row, then
                // one vectorisable pass per use.
                let e = &mut self.scratch;
                e.resize(n, F::zero());
                if w.adaptive {
                    let ea = &mut self.eps_a[r.clone()];
                    for ((((ej, a), &p), &pp), &rho) in e
                        .iter_mut()
                        .zip(ea.iter_mut())
                        .zip(psi)
                        .zip(psi_prev)
                        .zip(&w.rho)
                    {
                        let av = rho * *a + pp * (zb_old - beta * *a);
                        *a = av;
                        *ej = p * (zb - beta * av);
                    }
                } else {
                    for (ej, &p) in e.iter_mut().zip(psi) {
                        *ej = p * zb;
                    }
                }
                for (b, &ej) in ebar.iter_mut().zip(e.iter()) {
                    *b = kappa * *b + ej;
                }
                if let Some(l) = l {
                    for ((gj, &lj), &b) in g.iter_mut().zip(l).zip(ebar.iter()) {
                        *gj += lj * b;
                    }
                }
                if let Some(lr) = lreg {
                    for ((gj, &lj), &ej) in g.iter_mut().zip(lr).zip(e.iter()) {
                        *gj += lj * ej;
                    }
                }
                if !self.esum.is_empty() {
                    for (sj, &ej) in self.esum[r].iter_mut().zip(e.iter()) {
                        *sj += ej;
                    }
                }
                continue;
            }
            // Fused, vectorisable loops.
            match (w.adaptive, l) {
                (false, None) => {
                    for (e, &p) in ebar.iter_mut().zip(psi) {
                        *e = kappa * *e + p * zb;
                    }
                }
                (false, Some(l)) => {
                    for ((e, gj), (&p, &lj)) in
                        ebar.iter_mut().zip(g.iter_mut()).zip(psi.iter().zip(l))
                    {
                        let v = kappa * *e + p * zb;
                        *e = v;
                        *gj += lj * v;
                    }
                }
                (true, l) => {
                    let ea = &mut self.eps_a[r];
                    let it = ebar
                        .iter_mut()
                        .zip(ea.iter_mut())
                        .zip(psi.iter().zip(psi_prev))
                        .zip(&w.rho);
                    match l {
                        None => {
                            for (((e, a), (&p, &pp)), &rho) in it {
                                let av = rho * *a + pp * (zb_old - beta * *a);
                                *a = av;
                                *e = kappa * *e + p * (zb - beta * av);
                            }
                        }
                        Some(l) => {
                            for ((((e, a), (&p, &pp)), &rho), (gj, &lj)) in
                                it.zip(g.iter_mut().zip(l))
                            {
                                let av = rho * *a + pp * (zb_old - beta * *a);
                                *a = av;
                                let v = kappa * *e + p * (zb - beta * av);
                                *e = v;
                                *gj += lj * v;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Zero the accumulated update (online mode, after each step).
    pub fn clear_g(&mut self) {
        self.g.iter_mut().for_each(|v| *v = F::zero());
    }
}

/// Regulariser settings of one run, as the kernel needs them.
#[derive(Clone, Copy, Debug, Default)]
pub struct RegSpec {
    /// `c_reg` times the sample's weight in the batch average (0 = off).
    pub c: f64,
    pub target_hz: f64,
    /// Running-average variant (else batch average: only `esum` and spike counts are collected).
    pub running: bool,
}

/// The whole e-prop state of one sample (buffers reused across samples).
#[derive(Clone, Debug, Default)]
pub struct Workspace<F: Real> {
    pub u: Vec<F>,
    pub a: Vec<F>,
    z: Vec<F>,
    zprev: Vec<F>,
    psi: Vec<F>,
    psi_prev: Vec<F>,
    cur: Vec<F>,
    xin: Vec<F>,
    l: Vec<F>,
    lreg: Vec<F>,
    pub counts: Vec<F>,
    pub y: Vec<F>,
    zo: Vec<F>,
    ob: F,
    dy: Vec<F>,
    ymean: Vec<f64>,
    logits: Vec<f64>,
    gce: Vec<f64>,
    pub input: Block<F>,
    pub rec: Block<F>,
    pub bias: Block<F>,
    pub g_out: Vec<F>,
    pub g_bout: Vec<F>,
    /// Loss accumulated over the steps run so far (already weighted by the sample's scale).
    pub loss: f64,
    /// The stream of this sample's membrane noise (None: no noise), and the step's draws.
    pub noise: Option<rand_chacha::ChaCha8Rng>,
    nbuf: Vec<F>,
}

impl<F: Real> Workspace<F> {
    /// Reset to the zero state before a sample.
    pub fn reset(&mut self, w: &Weights<F>, batch_reg: bool) {
        let (n, no) = (w.n, w.n_out);
        for (v, len) in [
            (&mut self.u, n),
            (&mut self.a, if w.adaptive { n } else { 0 }),
            (&mut self.z, n),
            (&mut self.zprev, n),
            (&mut self.psi, n),
            (&mut self.psi_prev, n),
            (&mut self.cur, n),
            (&mut self.xin, w.n_in),
            (&mut self.l, n),
            (&mut self.lreg, n),
            (&mut self.counts, n),
            (&mut self.y, no),
            (&mut self.zo, n),
            (&mut self.dy, no),
            (&mut self.g_out, n * no),
            (&mut self.g_bout, no),
        ] {
            v.clear();
            v.resize(len, F::zero());
        }
        self.ob = F::zero();
        self.ymean.clear();
        self.ymean.resize(no, 0.0);
        self.loss = 0.0;
        self.input.prepare(w.n_in, n, w.adaptive, batch_reg);
        self.rec
            .prepare(if w.recurrent { n } else { 0 }, n, w.adaptive, batch_reg);
        self.bias.prepare(1, n, w.adaptive, batch_reg);
    }

    /// Bytes held by this workspace (it does not depend on the number of steps).
    pub fn bytes(&self) -> usize {
        let f = std::mem::size_of::<F>();
        let vecs = [
            &self.u,
            &self.a,
            &self.z,
            &self.zprev,
            &self.psi,
            &self.psi_prev,
            &self.cur,
            &self.xin,
            &self.l,
            &self.lreg,
            &self.counts,
            &self.y,
            &self.zo,
            &self.dy,
            &self.g_out,
            &self.g_bout,
        ];
        f * vecs.iter().map(|v| v.len()).sum::<usize>()
            + 8 * (self.ymean.len() + self.logits.len() + self.gce.len())
            + self.input.bytes()
            + self.rec.bytes()
            + self.bias.bytes()
    }

    /// Prediction of a classification sample: argmax of the readout's mean over the loss window.
    pub fn prediction(&self) -> usize {
        crate::rsnn::loss::argmax(&self.ymean)
    }

    /// Zero every accumulated update (online mode, after each step).
    pub fn clear_updates(&mut self) {
        self.input.clear_g();
        self.rec.clear_g();
        self.bias.clear_g();
        self.g_out.iter_mut().for_each(|v| *v = F::zero());
        self.g_bout.iter_mut().for_each(|v| *v = F::zero());
    }

    /// Advance by step `t` of a sequence of `steps` steps. `scale` weights this sample's loss (1 /
    /// batch size); `window` is the loss window. Inlined into [`run_steps`], which is compiled for the
    /// CPU's widest vector unit.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn step(
        &mut self,
        w: &Weights<F>,
        x: SampleInput<'_>,
        t: usize,
        steps: usize,
        loss: &LossSpec,
        window: (usize, usize),
        target: Target<'_>,
        scale: f64,
        reg: &RegSpec,
    ) {
        let (n, no) = (w.n, w.n_out);
        // 1. Input current (one weight row per input event and per recurrent spike).
        self.cur.copy_from_slice(&w.bias);
        for (c, v) in x.at(t) {
            let v = F::of(v as f64);
            self.xin[c] = v;
            axpy(&mut self.cur, v, &w.w_in[c * n..(c + 1) * n]);
        }
        if w.recurrent {
            for j in 0..n {
                let zj = self.zprev[j];
                if zj != F::zero() {
                    axpy(&mut self.cur, zj, &w.w_rec[j * n..(j + 1) * n]);
                }
            }
        }
        // 2. Neurons (with the membrane noise of a chip's trial: one standard normal per neuron, in
        //    neuron order).
        let noisy = w.noise_sd != F::zero() && self.noise.is_some();
        if let (true, Some(rng)) = (noisy, self.noise.as_mut()) {
            use rand_distr::{Distribution, StandardNormal};
            self.nbuf.clear();
            self.nbuf.extend((0..n).map(|_| {
                let z: f64 = StandardNormal.sample(rng);
                w.noise_sd * F::of(z)
            }));
        }
        for k in 0..n {
            let zp = self.zprev[k];
            let theta = if w.adaptive {
                let a = w.rho[k] * self.a[k] + zp;
                self.a[k] = a;
                w.theta0 + w.beta * a
            } else {
                w.theta0
            };
            let mut u = w.alpha * self.u[k] + w.zeta * self.cur[k] - w.theta0 * zp;
            if noisy {
                u += self.nbuf[k];
            }
            self.u[k] = u;
            let z = w.spike.spike(u - theta);
            self.z[k] = z;
            self.counts[k] += z;
            self.psi[k] = w.spike.grad(u - theta);
        }
        // 3. Readout.
        let kappa = w.kappa;
        for k in 0..no {
            let mut q = w.b_out[k];
            for j in 0..n {
                let zj = self.z[j];
                if zj != F::zero() {
                    q += zj * w.w_out[j * no + k];
                }
            }
            self.y[k] = kappa * self.y[k] + w.zeta_o * q;
        }
        for j in 0..n {
            self.zo[j] = kappa * self.zo[j] + self.z[j];
        }
        self.ob = kappa * self.ob + F::one();
        // 4. Error at this step and learning signal.
        let (start, end) = window;
        let has_err = t >= start && t < end;
        if has_err {
            let wl = (end - start) as f64;
            match (loss.kind, target) {
                (LossKind::Mse, Target::Series(tgt)) => {
                    let norm = wl * no as f64;
                    for k in 0..no {
                        let e = self.y[k].f64() - tgt[t * no + k] as f64;
                        self.loss += scale * e * e / norm;
                        self.dy[k] = F::of(scale * 2.0 * e / norm);
                    }
                }
                (_, Target::Label(c)) => {
                    self.logits.clear();
                    self.logits.extend(self.y.iter().map(|v| v.f64()));
                    self.gce.resize(no, 0.0);
                    let l = cross_entropy(&self.logits, c, &mut self.gce);
                    self.loss += scale * l / wl;
                    for k in 0..no {
                        self.dy[k] = F::of(scale * self.gce[k] / wl);
                        self.ymean[k] += self.logits[k] / wl;
                    }
                }
                _ => unreachable!("targets are checked against the loss"),
            }
            for j in 0..n {
                let mut s = F::zero();
                for k in 0..no {
                    s += w.fb[j * no + k] * self.dy[k];
                }
                self.l[j] = w.zeta_o * s;
            }
            for k in 0..no {
                let gk = w.zeta_o * self.dy[k];
                self.g_bout[k] += gk * self.ob;
                axpy_strided(&mut self.g_out, k, no, gk, &self.zo);
            }
        }
        let running = reg.c > 0.0 && reg.running;
        if running {
            let elapsed = (t + 1) as f64 * w.dt;
            let norm = reg.c / (steps as f64 * w.dt);
            for j in 0..n {
                let f = self.counts[j].f64() / elapsed;
                self.lreg[j] = F::of(norm * (f - reg.target_hz));
            }
        }
        // 5. Eligibility traces and the accumulated update.
        let l = has_err.then_some(&self.l[..]);
        let lreg = running.then_some(&self.lreg[..]);
        let (psi, psi_prev) = (&self.psi[..], &self.psi_prev[..]);
        let xin = &self.xin;
        self.input.step(w, |i| xin[i], psi, psi_prev, l, lreg);
        let zprev = &self.zprev;
        self.rec.step(w, |i| zprev[i], psi, psi_prev, l, lreg);
        self.bias.step(w, |_| F::one(), psi, psi_prev, l, lreg);
        // 6. Shift.
        for (c, _) in x.at(t) {
            self.xin[c] = F::zero();
        }
        std::mem::swap(&mut self.psi, &mut self.psi_prev);
        std::mem::swap(&mut self.z, &mut self.zprev);
    }
}

/// `g[j * stride + k] += a * z[j]` for every j.
#[inline(always)]
fn axpy_strided<F: Real>(g: &mut [F], k: usize, stride: usize, a: F, z: &[F]) {
    for (j, zj) in z.iter().enumerate() {
        g[j * stride + k] += a * *zj;
    }
}

/// [`Workspace::step`] for the steps `ts` of one sample, compiled for the widest vector unit of the
/// CPU (chosen at run time: the trace loops then run 8 float32 lanes wide on AVX2 instead of SSE2's 4).
/// No fused multiply-adds and no reordering, so the results are the same on every CPU.
#[allow(clippy::too_many_arguments)]
pub fn run_steps<F: Real>(
    ws: &mut Workspace<F>,
    w: &Weights<F>,
    x: SampleInput<'_>,
    ts: std::ops::Range<usize>,
    steps: usize,
    loss: &LossSpec,
    window: (usize, usize),
    target: Target<'_>,
    scale: f64,
    reg: &RegSpec,
) {
    struct Op<'a, 'b, F: Real> {
        ws: &'a mut Workspace<F>,
        w: &'a Weights<F>,
        x: SampleInput<'b>,
        ts: std::ops::Range<usize>,
        steps: usize,
        loss: &'a LossSpec,
        window: (usize, usize),
        target: Target<'b>,
        scale: f64,
        reg: &'a RegSpec,
    }
    impl<F: Real> pulp::WithSimd for Op<'_, '_, F> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) {
            for t in self.ts {
                self.ws.step(
                    self.w,
                    self.x,
                    t,
                    self.steps,
                    self.loss,
                    self.window,
                    self.target,
                    self.scale,
                    self.reg,
                );
            }
        }
    }
    pulp::Arch::new().dispatch(Op {
        ws,
        w,
        x,
        ts,
        steps,
        loss,
        window,
        target,
        scale,
        reg,
    });
}
