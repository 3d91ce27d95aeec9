//! Adam (Kingma & Ba 2015). Where eps goes is an option ([`EpsPlacement`]): PyTorch adds it to the
//! square root (`m / (sqrt(v) + eps)`, the default, used by the Göltz method); Comsa et al.'s reference
//! code adds it under the square root (`m / sqrt(v + eps)`).
//!
//! [`Adamax`] is Adam's infinity-norm variant from the same paper (DECOLLE's optimiser).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Where Adam adds eps to the second-moment estimate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpsPlacement {
    /// `m_hat / (sqrt(v_hat) + eps)` (PyTorch, Kingma & Ba).
    #[default]
    Outside,
    /// `m_hat / sqrt(v_hat + eps)` (google/ihmehimmeli).
    Inside,
}

/// Adam state for one flat parameter vector.
#[derive(Clone, Debug)]
pub struct Adam {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub eps_placement: EpsPlacement,
    m: Vec<f64>,
    v: Vec<f64>,
    step: i32,
}

impl Adam {
    /// Adam with PyTorch's eps placement.
    pub fn new(n: usize, beta1: f64, beta2: f64, eps: f64) -> Self {
        Self::with_placement(n, beta1, beta2, eps, EpsPlacement::Outside)
    }

    pub fn with_placement(
        n: usize,
        beta1: f64,
        beta2: f64,
        eps: f64,
        eps_placement: EpsPlacement,
    ) -> Self {
        Adam {
            beta1,
            beta2,
            eps,
            eps_placement,
            m: vec![0.0; n],
            v: vec![0.0; n],
            step: 0,
        }
    }

    /// Number of steps taken.
    pub fn steps(&self) -> i32 {
        self.step
    }

    /// One update of `params` (any number of slices, concatenated in order) with gradient `grad`.
    pub fn step<'a>(
        &mut self,
        lr: f64,
        grad: &[f64],
        params: impl IntoIterator<Item = &'a mut [f64]>,
    ) {
        self.step += 1;
        let k = self.constants(lr);
        walk(&mut self.m, &mut self.v, grad, params, |p, m, v, g| {
            k.update(p, m, v, g)
        });
    }

    /// [`Adam::step`] with the element updates spread over the current rayon pool in blocks of `block`
    /// elements. The updates are element-wise, so the result is bit-identical to [`Adam::step`] for
    /// any number of threads.
    pub fn step_par<'a>(
        &mut self,
        lr: f64,
        grad: &[f64],
        params: impl IntoIterator<Item = &'a mut [f64]>,
        block: usize,
    ) {
        self.step += 1;
        let k = self.constants(lr);
        walk_par(
            &mut self.m,
            &mut self.v,
            grad,
            params,
            block,
            |p, m, v, g| k.update(p, m, v, g),
        );
    }

    fn constants(&self, lr: f64) -> StepConstants {
        StepConstants {
            lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            c1: 1.0 - self.beta1.powi(self.step),
            c2: 1.0 - self.beta2.powi(self.step),
            inside: self.eps_placement == EpsPlacement::Inside,
        }
    }
}

/// The constants of one Adam step.
#[derive(Clone, Copy)]
struct StepConstants {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    c1: f64,
    c2: f64,
    inside: bool,
}

impl StepConstants {
    #[inline(always)]
    fn update(&self, p: &mut f64, m: &mut f64, v: &mut f64, g: f64) {
        *m = self.beta1 * *m + (1.0 - self.beta1) * g;
        *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
        *p -= if self.inside {
            self.lr * (*m / self.c1) / ((*v / self.c2) + self.eps).sqrt()
        } else {
            self.lr * (*m / self.c1) / ((*v / self.c2).sqrt() + self.eps)
        };
    }
}

/// Adamax (Kingma & Ba 2015, section 7.1), with PyTorch's update:
///
/// ```text
/// m = beta1 m + (1 - beta1) g
/// u = max(beta2 u, |g| + eps)
/// p -= lr / (1 - beta1^step) * m / u
/// ```
/// DECOLLE (Kaiser et al. 2020) uses lr 1e-3 and betas (0, 0.95): with beta1 = 0 the step is
/// `lr g / max(0.95 u, |g| + eps)`, at most `lr` per element.
#[derive(Clone, Debug)]
pub struct Adamax {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    m: Vec<f64>,
    u: Vec<f64>,
    step: i32,
}

impl Adamax {
    pub fn new(n: usize, beta1: f64, beta2: f64, eps: f64) -> Self {
        Adamax {
            beta1,
            beta2,
            eps,
            m: vec![0.0; n],
            u: vec![0.0; n],
            step: 0,
        }
    }

    /// Number of steps taken.
    pub fn steps(&self) -> i32 {
        self.step
    }

    /// One update of `params` (slices concatenated in order) with gradient `grad`.
    pub fn step<'a>(
        &mut self,
        lr: f64,
        grad: &[f64],
        params: impl IntoIterator<Item = &'a mut [f64]>,
    ) {
        let k = self.constants(lr);
        walk(&mut self.m, &mut self.u, grad, params, |p, m, u, g| {
            k.update(p, m, u, g)
        });
    }

    /// [`Adamax::step`] spread over the current rayon pool in blocks of `block` elements
    /// (element-wise: bit-identical for any number of threads).
    pub fn step_par<'a>(
        &mut self,
        lr: f64,
        grad: &[f64],
        params: impl IntoIterator<Item = &'a mut [f64]>,
        block: usize,
    ) {
        let k = self.constants(lr);
        walk_par(
            &mut self.m,
            &mut self.u,
            grad,
            params,
            block,
            |p, m, u, g| k.update(p, m, u, g),
        );
    }

    /// Count the step and return its constants.
    fn constants(&mut self, lr: f64) -> AdamaxConstants {
        self.step += 1;
        AdamaxConstants {
            clr: lr / (1.0 - self.beta1.powi(self.step)),
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
        }
    }
}

/// The constants of one Adamax step.
#[derive(Clone, Copy)]
struct AdamaxConstants {
    clr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
}

impl AdamaxConstants {
    #[inline(always)]
    fn update(&self, p: &mut f64, m: &mut f64, u: &mut f64, g: f64) {
        *m = self.beta1 * *m + (1.0 - self.beta1) * g;
        *u = (self.beta2 * *u).max(g.abs() + self.eps);
        *p -= self.clr * *m / *u;
    }
}

/// Apply `update(p, s1, s2, g)` to every element of `params` (slices concatenated in order) with
/// its two optimiser-state entries and its gradient.
fn walk<'a>(
    s1: &mut [f64],
    s2: &mut [f64],
    grad: &[f64],
    params: impl IntoIterator<Item = &'a mut [f64]>,
    update: impl Fn(&mut f64, &mut f64, &mut f64, f64),
) {
    let (mut s1, mut s2, mut g) = (s1, s2, grad);
    for slice in params {
        let n = slice.len();
        let (a, a_rest) = s1.split_at_mut(n);
        let (b, b_rest) = s2.split_at_mut(n);
        let (gl, g_rest) = g.split_at(n);
        each(slice, a, b, gl, &update);
        (s1, s2, g) = (a_rest, b_rest, g_rest);
    }
}

/// `update` on the elements of four equal-length slices, compiled for the widest vector unit of the
/// CPU (chosen at run time; the divisions and square roots then run 4 doubles wide on AVX2). The
/// updates are element-wise and use no fused multiply-adds, so the results are the same on every CPU.
fn each<U: Fn(&mut f64, &mut f64, &mut f64, f64)>(
    p: &mut [f64],
    a: &mut [f64],
    b: &mut [f64],
    g: &[f64],
    update: &U,
) {
    struct Op<'a, U> {
        p: &'a mut [f64],
        a: &'a mut [f64],
        b: &'a mut [f64],
        g: &'a [f64],
        update: &'a U,
    }
    impl<U: Fn(&mut f64, &mut f64, &mut f64, f64)> pulp::WithSimd for Op<'_, U> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) {
            let it = self.p.iter_mut().zip(self.a.iter_mut());
            for ((p, a), (b, &g)) in it.zip(self.b.iter_mut().zip(self.g)) {
                (self.update)(p, a, b, g);
            }
        }
    }
    pulp::Arch::new().dispatch(Op { p, a, b, g, update });
}

/// [`walk`] over the current rayon pool in blocks of `block` elements of each slice.
fn walk_par<'a>(
    s1: &mut [f64],
    s2: &mut [f64],
    grad: &[f64],
    params: impl IntoIterator<Item = &'a mut [f64]>,
    block: usize,
    update: impl Fn(&mut f64, &mut f64, &mut f64, f64) + Sync,
) {
    use rayon::prelude::*;
    let (mut s1, mut s2, mut g) = (s1, s2, grad);
    for slice in params {
        let n = slice.len();
        let (a_l, a_rest) = s1.split_at_mut(n);
        let (b_l, b_rest) = s2.split_at_mut(n);
        let (g_l, g_rest) = g.split_at(n);
        slice
            .par_chunks_mut(block)
            .zip(a_l.par_chunks_mut(block))
            .zip(b_l.par_chunks_mut(block).zip(g_l.par_chunks(block)))
            .for_each(|((p, a), (b, g))| each(p, a, b, g, &update));
        (s1, s2, g) = (a_rest, b_rest, g_rest);
    }
}

/// Which optimiser updates a parameter vector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Adamax (DECOLLE's choice and the default of its config; Yin et al.'s S-MNIST script).
    #[default]
    Adamax,
    /// Adam.
    Adam,
    /// Plain gradient descent `p -= lr g`.
    Sgd,
}

/// An optimiser's state for one flat parameter vector.
#[derive(Clone, Debug)]
pub enum Optimizer {
    Adam(Adam),
    Adamax(Adamax),
    Sgd,
}

impl Optimizer {
    /// A fresh optimiser of `kind` for `n` parameters (betas and eps unused by SGD).
    pub fn new(kind: OptimizerKind, n: usize, betas: (f64, f64), eps: f64) -> Self {
        let (b1, b2) = betas;
        match kind {
            OptimizerKind::Adam => Optimizer::Adam(Adam::new(n, b1, b2, eps)),
            OptimizerKind::Adamax => Optimizer::Adamax(Adamax::new(n, b1, b2, eps)),
            OptimizerKind::Sgd => Optimizer::Sgd,
        }
    }

    /// One update of `params` (slices concatenated in order) with gradient `grad`.
    pub fn step<'a>(
        &mut self,
        lr: f64,
        grad: &[f64],
        params: impl IntoIterator<Item = &'a mut [f64]>,
    ) {
        match self {
            Optimizer::Adam(a) => a.step(lr, grad, params),
            Optimizer::Adamax(a) => a.step(lr, grad, params),
            Optimizer::Sgd => sgd(lr, grad, params),
        }
    }

    /// [`Optimizer::step`] over the current rayon pool in blocks of `block` elements (bit-identical
    /// for any number of threads).
    pub fn step_par<'a>(
        &mut self,
        lr: f64,
        grad: &[f64],
        params: impl IntoIterator<Item = &'a mut [f64]>,
        block: usize,
    ) {
        match self {
            Optimizer::Adam(a) => a.step_par(lr, grad, params, block),
            Optimizer::Adamax(a) => a.step_par(lr, grad, params, block),
            Optimizer::Sgd => sgd(lr, grad, params),
        }
    }
}

/// The mutable part of an [`Optimizer`] (what a resumed run needs besides its config): the step
/// count and the two moment vectors (Adam: `m`, `v`; Adamax: `m`, `u`; SGD: none).
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState {
    pub kind: OptimizerKind,
    pub step: i32,
    pub first: Vec<f64>,
    pub second: Vec<f64>,
}

impl Optimizer {
    /// Its kind.
    pub fn kind(&self) -> OptimizerKind {
        match self {
            Optimizer::Adam(_) => OptimizerKind::Adam,
            Optimizer::Adamax(_) => OptimizerKind::Adamax,
            Optimizer::Sgd => OptimizerKind::Sgd,
        }
    }

    /// A copy of its state.
    pub fn state(&self) -> OptimizerState {
        let (step, first, second) = match self {
            Optimizer::Adam(a) => (a.step, a.m.clone(), a.v.clone()),
            Optimizer::Adamax(a) => (a.step, a.m.clone(), a.u.clone()),
            Optimizer::Sgd => (0, Vec::new(), Vec::new()),
        };
        OptimizerState {
            kind: self.kind(),
            step,
            first,
            second,
        }
    }

    /// Continue from `state` (same kind, moments for the same number of parameters as `self`); `arg`
    /// names the source in errors.
    pub fn restore(&mut self, state: &OptimizerState, arg: &str) -> Result<()> {
        if state.kind != self.kind() {
            let name = |k: OptimizerKind| serde_json::to_string(&k).unwrap_or_default();
            return Err(Error::param(
                arg,
                format!(
                    "the state of an {} optimiser (the config's)",
                    name(self.kind())
                ),
                format!("the state of an {} optimiser", name(state.kind)),
            ));
        }
        let n = self.state().first.len();
        if state.first.len() != n || state.second.len() != n || state.step < 0 {
            return Err(Error::param(
                arg,
                format!("optimiser moments for {n} parameters"),
                format!("{} and {}", state.first.len(), state.second.len()),
            ));
        }
        match self {
            Optimizer::Adam(a) => {
                a.step = state.step;
                a.m.clone_from(&state.first);
                a.v.clone_from(&state.second);
            }
            Optimizer::Adamax(a) => {
                a.step = state.step;
                a.m.clone_from(&state.first);
                a.u.clone_from(&state.second);
            }
            Optimizer::Sgd => {}
        }
        Ok(())
    }
}

fn sgd<'a>(lr: f64, grad: &[f64], params: impl IntoIterator<Item = &'a mut [f64]>) {
    let mut i = 0;
    for slice in params {
        for p in slice.iter_mut() {
            *p -= lr * grad[i];
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_and_placements() {
        // First step: m_hat = g, v_hat = g^2.
        let g = [0.5, -2e-4];
        for placement in [EpsPlacement::Outside, EpsPlacement::Inside] {
            let mut a = Adam::with_placement(2, 0.9, 0.999, 1e-8, placement);
            let mut p = [1.0, 1.0];
            a.step(0.1, &g, [&mut p[..]]);
            for k in 0..2 {
                let denom = match placement {
                    EpsPlacement::Outside => g[k].abs() + 1e-8,
                    EpsPlacement::Inside => (g[k] * g[k] + 1e-8).sqrt(),
                };
                let want = 1.0 - 0.1 * g[k] / denom;
                assert!(
                    (p[k] - want).abs() < 1e-15,
                    "{placement:?} {k}: {} vs {want}",
                    p[k]
                );
            }
            assert_eq!(a.steps(), 1);
        }
        // eps inside the root damps small gradients much more: sqrt(1e-8) = 1e-4.
        let mut inside = [0.0];
        let mut outside = [0.0];
        Adam::with_placement(1, 0.9, 0.999, 1e-8, EpsPlacement::Inside).step(
            1.0,
            &[1e-4],
            [&mut inside[..]],
        );
        Adam::new(1, 0.9, 0.999, 1e-8).step(1.0, &[1e-4], [&mut outside[..]]);
        assert!((inside[0] + 1.0 / 2f64.sqrt()).abs() < 1e-12);
        // The parallel step is bit-identical to the serial one.
        let grad: Vec<f64> = (0..1000)
            .map(|i| ((i * 37 % 101) as f64 - 50.0) * 1e-3)
            .collect();
        for placement in [EpsPlacement::Outside, EpsPlacement::Inside] {
            let (mut a, mut b) = (
                Adam::with_placement(1000, 0.9, 0.999, 1e-8, placement),
                Adam::with_placement(1000, 0.9, 0.999, 1e-8, placement),
            );
            let (mut p1, mut p2) = (vec![0.5; 1000], vec![0.5; 1000]);
            for _ in 0..3 {
                let (x, y) = p1.split_at_mut(300);
                a.step(0.01, &grad, [x, y]);
                let (x, y) = p2.split_at_mut(300);
                b.step_par(0.01, &grad, [x, y], 64);
            }
            assert_eq!(p1, p2);
        }
        // So is Adamax's, through the shared optimiser enum.
        let (mut a, mut b) = (
            Optimizer::new(OptimizerKind::Adamax, 1000, (0.9, 0.999), 1e-8),
            Optimizer::new(OptimizerKind::Adamax, 1000, (0.9, 0.999), 1e-8),
        );
        let (mut p1, mut p2) = (vec![0.5; 1000], vec![0.5; 1000]);
        for _ in 0..3 {
            let (x, y) = p1.split_at_mut(300);
            a.step(0.01, &grad, [x, y]);
            let (x, y) = p2.split_at_mut(300);
            b.step_par(0.01, &grad, [x, y], 64);
        }
        assert_eq!(p1, p2);
        assert!(p1
            .iter()
            .zip(&grad)
            .all(|(p, g)| *g == 0.0 || (*p < 0.5) == (*g > 0.0)));
        assert!((outside[0] + 1.0).abs() < 1e-3);
    }

    #[test]
    fn adamax_matches_its_definition() {
        // Two steps by hand, beta1 = 0.9 (bias-corrected) and DECOLLE's beta1 = 0.
        let g1 = [0.5, -2e-3, 0.0];
        let g2 = [0.1, 4e-3, -1.0];
        for (b1, b2) in [(0.9, 0.999), (0.0, 0.95)] {
            let mut opt = Adamax::new(3, b1, b2, 1e-8);
            let mut p = [1.0, -1.0, 0.5];
            opt.step(0.01, &g1, [&mut p[..]]);
            let (a, b) = p.split_at_mut(1);
            opt.step(0.01, &g2, [a, b]);
            for k in 0..3 {
                let (mut m, mut u, mut want) = (0.0, 0.0, [1.0, -1.0, 0.5][k]);
                for (step, g) in [(1, g1[k]), (2, g2[k])] {
                    m = b1 * m + (1.0 - b1) * g;
                    u = f64::max(b2 * u, f64::abs(g) + 1e-8);
                    want -= 0.01 / (1.0 - f64::powi(b1, step)) * m / u;
                }
                assert!((p[k] - want).abs() < 1e-15, "{b1} {k}: {} vs {want}", p[k]);
            }
            assert_eq!(opt.steps(), 2);
        }
        // beta1 = 0: the first step moves each element by lr |g| / (|g| + eps), just under lr.
        let mut opt = Adamax::new(2, 0.0, 0.95, 1e-8);
        let mut p = [0.0, 0.0];
        opt.step(1e-3, &[3.0, -1e-4], [&mut p[..]]);
        assert!(
            p[0] < 0.0 && p[0].abs() <= 1e-3 && (p[0] + 1e-3).abs() < 1e-11,
            "{p:?}"
        );
        assert!(
            p[1] > 0.0 && p[1] <= 1e-3 && (p[1] - 1e-3).abs() < 1e-6,
            "{p:?}"
        );
    }
}
