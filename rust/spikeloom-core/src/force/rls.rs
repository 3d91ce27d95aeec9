//! Recursive least squares for the rank-k FORCE decoders (Sherman-Morrison form).
//!
//! With `P(0) = I / lambda` and one update per sample `(r, y)` (a priori error `e = d^T r - y`):
//!
//! ```text
//! c = P r ;  gamma = 1 + r^T c ;  d <- d - c e^T / gamma ;  P <- P - c c^T / gamma
//! ```
//! After the samples `r_1..r_m` (rows of `R`) with targets `Y`, `P = (lambda I + R^T R)^{-1}` and
//! `d = (R^T R + lambda I)^{-1} R^T Y` exactly: the minimiser of `|R d - Y|^2 + lambda |d|^2`.
//! (Nicola & Clopath's scripts drop the `1 / gamma` of the decoder step, `d <- d - c e^T`;
//! [`Gain::Reference`] reproduces that.)
//!
//! `P` is symmetric: only its upper triangle is stored (packed by rows), so it stays exactly
//! symmetric and a pass touches N(N+1)/2 numbers. The O(N^2) pass is memory-bound, so the rank-1
//! corrections are applied lazily: `P = P_s - sum_m s_m c_m c_m^T` with up to [`FOLD`] pending terms
//! `(c_m, s_m)`, so `P r = P_s r - sum_m c_m s_m (c_m . r)` costs one read-only pass over the stored
//! `P_s` plus O(N * FOLD). Every [`FOLD`] updates one pass folds the pending terms into the stored
//! matrix (read and write) while computing the product. Rows are split into a fixed number of blocks
//! of equal work (not depending on the thread count), each block accumulates its own partial product,
//! and the partials are added in block order: results are bit-identical for any number of threads.
//! The passes are compiled for the widest vector unit of the CPU (AVX2 + FMA on x86-64, chosen at run
//! time); fused multiply-adds give the same results on every CPU (without FMA hardware they are
//! computed in software).

use super::rls_pass::{block_pass, pack_tiles, Entry};
use crate::error::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How the decoder step is scaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gain {
    /// `d <- d - c e^T / (1 + r^T c)`: exact recursive least squares.
    Exact,
    /// `d <- d - c e^T`: the reference MATLAB scripts.
    Reference,
}

/// How the entries of `P` are stored. The arithmetic is float64 either way; `F32` rounds each entry
/// to float32 when it is written back, which halves the memory traffic of the O(N^2) pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    #[default]
    F64,
    F32,
}

/// Row blocks of the packed triangle (fixed: results do not depend on the thread count).
const BLOCKS: usize = 16;

/// Rank-1 corrections kept pending before they are folded into the stored matrix.
pub const FOLD: usize = 8;

/// The packed upper triangle of `P` (by rows), in the chosen precision.
#[derive(Clone, Debug)]
enum Packed {
    F64(Vec<f64>),
    F32(Vec<f32>),
}

/// The state of an [`Rls`] as plain vectors (see [`Rls::export`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RlsState {
    /// Packed upper triangle of the stored `P` (by rows).
    pub packed: Vec<f64>,
    /// Decoders, column-major (`d[c * n + i]`).
    pub d: Vec<f64>,
    /// Pending rank-1 corrections `(c, s)`: `P = P_stored - sum s c c^T`.
    pub pending: Vec<(Vec<f64>, f64)>,
    pub updates: u64,
}

/// RLS state: packed upper triangle of `P`, decoders `d` (n x k, row-major), a pending update.
#[derive(Clone, Debug)]
pub struct Rls {
    pub n: usize,
    pub k: usize,
    pub lambda: f64,
    pub gain: Gain,
    packed: Packed,
    /// Decoders, column-major: `d[c * n + i]` (output c, neuron i).
    pub d: Vec<f64>,
    /// `P = P_stored - sum s c c^T` over these (c, s), in order.
    pending: Vec<(Vec<f64>, f64)>,
    /// The pending vectors in column tiles, for a fold.
    tiles: Vec<f64>,
    /// Row ranges of the blocks.
    blocks: Vec<(usize, usize)>,
    partial: Vec<Vec<f64>>,
    pub updates: u64,
}

impl Rls {
    pub fn new(n: usize, k: usize, lambda: f64, gain: Gain) -> Result<Self> {
        Self::with_precision(n, k, lambda, gain, Precision::F64)
    }

    pub fn with_precision(
        n: usize,
        k: usize,
        lambda: f64,
        gain: Gain,
        precision: Precision,
    ) -> Result<Self> {
        if !(lambda.is_finite() && lambda > 0.0) {
            return Err(Error::param(
                "lambda",
                "a regulariser > 0 (P(0) = I / lambda)",
                lambda,
            ));
        }
        if n == 0 || k == 0 {
            return Err(Error::param(
                "n, k",
                "at least one neuron and one output",
                format!("{n}, {k}"),
            ));
        }
        let len = n * (n + 1) / 2;
        let packed = match precision {
            Precision::F64 => Packed::F64(vec![0.0; len]),
            Precision::F32 => Packed::F32(vec![0.0; len]),
        };
        // Blocks of (about) equal area (row i holds n - i entries), starting at multiples of 4.
        let total = len as f64;
        let nb = BLOCKS.min(n);
        let mut blocks = Vec::with_capacity(nb);
        let (mut start, mut acc, mut cuts) = (0usize, 0.0f64, 0usize);
        for i in 0..n {
            acc += (n - i) as f64;
            if acc >= total * (cuts + 1) as f64 / nb as f64 || i + 1 == n {
                cuts += 1;
                let end = if i + 1 == n { n } else { (i + 1) / 4 * 4 };
                if end > start {
                    blocks.push((start, end));
                    start = end;
                }
            }
        }
        let partial = blocks.iter().map(|&(a, _)| vec![0.0; n - a]).collect();
        let mut rls = Rls {
            n,
            k,
            lambda,
            gain,
            packed,
            d: vec![0.0; n * k],
            pending: Vec::with_capacity(FOLD),
            tiles: Vec::new(),
            blocks,
            partial,
            updates: 0,
        };
        rls.reset_matrix();
        Ok(rls)
    }

    /// How `P` is stored.
    pub fn precision(&self) -> Precision {
        match self.packed {
            Packed::F64(_) => Precision::F64,
            Packed::F32(_) => Precision::F32,
        }
    }

    /// Offset of the diagonal entry (i, i) in the packed triangle: sum_{r < i} (n - r).
    #[inline]
    fn offset(n: usize, i: usize) -> usize {
        i * n - i * i.saturating_sub(1) / 2
    }

    /// Readout `z = d^T r` into `z` (length k).
    #[inline]
    pub fn readout(&self, r: &[f64], z: &mut [f64]) {
        for (zc, dc) in z.iter_mut().zip(self.d.chunks_exact(self.n)) {
            *zc = dot(dc, r);
        }
    }

    /// One RLS step with filtered rates `r` and a priori error `e = d^T r - y` (length k).
    pub fn update(&mut self, r: &[f64], e: &[f64], parallel: bool) {
        let n = self.n;
        let c = self.product(r, parallel);
        let rc = dot(r, &c);
        let gamma = 1.0 + rc;
        let scale = match self.gain {
            Gain::Exact => 1.0 / gamma,
            Gain::Reference => 1.0,
        };
        for (dc, ec) in self.d.chunks_exact_mut(n).zip(e) {
            let f = ec * scale;
            for (di, ci) in dc.iter_mut().zip(&c) {
                *di -= ci * f;
            }
        }
        debug_assert_eq!(c.len(), n);
        self.pending.push((c, 1.0 / gamma));
        self.updates += 1;
    }

    /// `P r` with the current `P`: a read-only pass over the stored matrix and the pending terms, or,
    /// when [`FOLD`] terms are pending, a pass that folds them into the stored matrix first.
    fn product(&mut self, r: &[f64], parallel: bool) -> Vec<f64> {
        let n = self.n;
        let fold = self.pending.len() >= FOLD;
        if fold {
            self.fold_pass(r, parallel);
        } else {
            match &mut self.packed {
                Packed::F64(p) => {
                    blocks_pass(n, &self.blocks, p, &mut self.partial, &[], &[], r, parallel)
                }
                Packed::F32(p) => {
                    blocks_pass(n, &self.blocks, p, &mut self.partial, &[], &[], r, parallel)
                }
            }
        }
        let mut y = vec![0.0; n];
        for (&(a, _), part) in self.blocks.iter().zip(&self.partial) {
            for (yj, pj) in y[a..].iter_mut().zip(part) {
                *yj += pj;
            }
        }
        if fold {
            self.pending.clear();
        } else {
            for (c, s) in &self.pending {
                let f = s * dot(c, r);
                for (yj, cj) in y.iter_mut().zip(c) {
                    *yj -= cj * f;
                }
            }
        }
        y
    }

    /// Fold the pending corrections into the stored matrix (padded with zero terms, which change
    /// nothing, to [`FOLD`]) and compute the stored blocks' shares of `P r` with the new values.
    fn fold_pass(&mut self, r: &[f64], parallel: bool) {
        let n = self.n;
        let zero = vec![0.0; n];
        let mut terms: Vec<(&[f64], f64)> = self
            .pending
            .iter()
            .map(|(c, s)| (c.as_slice(), *s))
            .collect();
        terms.resize(FOLD, (&zero, 0.0));
        pack_tiles(n, &terms, &mut self.tiles);
        let tiles = &self.tiles;
        match &mut self.packed {
            Packed::F64(p) => blocks_pass(
                n,
                &self.blocks,
                p,
                &mut self.partial,
                &terms,
                tiles,
                r,
                parallel,
            ),
            Packed::F32(p) => blocks_pass(
                n,
                &self.blocks,
                p,
                &mut self.partial,
                &terms,
                tiles,
                r,
                parallel,
            ),
        }
    }

    /// Fold any pending corrections into the stored matrix.
    pub fn flush(&mut self, parallel: bool) {
        if !self.pending.is_empty() {
            let zero = vec![0.0; self.n];
            self.fold_pass(&zero, parallel);
            self.pending.clear();
        }
    }

    /// The full symmetric `P` (n x n, row-major).
    pub fn matrix(&mut self) -> Vec<f64> {
        self.flush(false);
        let n = self.n;
        let mut m = vec![0.0; n * n];
        let mut o = 0;
        for i in 0..n {
            for j in i..n {
                let x = match &self.packed {
                    Packed::F64(p) => p[o],
                    Packed::F32(p) => p[o] as f64,
                };
                m[i * n + j] = x;
                m[j * n + i] = x;
                o += 1;
            }
        }
        m
    }

    /// Everything that determines this RLS's future results: the stored triangle (as float64, exact
    /// for both storage precisions), the decoders, the pending corrections and the update count. With
    /// [`Rls::restore`] a run continues bit for bit as if it had not been saved.
    pub fn export(&self) -> RlsState {
        RlsState {
            packed: match &self.packed {
                Packed::F64(p) => p.clone(),
                Packed::F32(p) => p.iter().map(|&x| f64::from(x)).collect(),
            },
            d: self.d.clone(),
            pending: self.pending.clone(),
            updates: self.updates,
        }
    }

    /// Replace the state with `st` (from [`Rls::export`] of an RLS of the same size and precision).
    /// Checked: lengths, finite values, at most [`FOLD`] pending terms, and for float32 storage
    /// entries that are float32 numbers.
    pub fn restore(&mut self, st: RlsState) -> Result<()> {
        let (n, k) = (self.n, self.k);
        let len = n * (n + 1) / 2;
        if st.packed.len() != len {
            return Err(Error::shape(
                "rls_matrix",
                format!("{len} values (the packed upper triangle of {n} x {n})"),
                st.packed.len(),
            ));
        }
        if st.d.len() != n * k {
            return Err(Error::shape(
                "decoders",
                format!("{n} x {k} values"),
                st.d.len(),
            ));
        }
        if st.pending.len() > FOLD || st.pending.iter().any(|(c, _)| c.len() != n) {
            return Err(Error::shape(
                "rls_pending",
                format!("at most {FOLD} vectors of {n} values"),
                st.pending.len(),
            ));
        }
        crate::error::ensure_all_finite("rls_matrix", &st.packed)?;
        crate::error::ensure_all_finite("decoders", &st.d)?;
        for (c, s) in &st.pending {
            crate::error::ensure_all_finite("rls_pending", c)?;
            crate::error::ensure_all_finite("rls_pending", &[*s])?;
        }
        match &mut self.packed {
            Packed::F64(p) => p.copy_from_slice(&st.packed),
            Packed::F32(p) => {
                if let Some(x) = st.packed.iter().find(|&&x| f64::from(x as f32) != x) {
                    return Err(Error::param(
                        "rls_matrix",
                        "float32 values (P is stored in float32)",
                        x,
                    ));
                }
                p.iter_mut()
                    .zip(&st.packed)
                    .for_each(|(a, &x)| *a = x as f32);
            }
        }
        self.d = st.d;
        self.pending = st.pending;
        self.updates = st.updates;
        Ok(())
    }

    /// Reset `P` to `I / lambda` (decoders kept).
    pub fn reset_matrix(&mut self) {
        self.pending.clear();
        let (n, diag) = (self.n, 1.0 / self.lambda);
        match &mut self.packed {
            Packed::F64(p) => {
                p.iter_mut().for_each(|x| *x = 0.0);
                (0..n).for_each(|i| p[Self::offset(n, i)] = diag);
            }
            Packed::F32(p) => {
                p.iter_mut().for_each(|x| *x = 0.0);
                (0..n).for_each(|i| p[Self::offset(n, i)] = diag as f32);
            }
        }
    }
}

/// `a . b` with four interleaved partial sums (vectorises; fixed order).
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let m = a.len().min(b.len()) / 4 * 4;
    let mut acc = [0.0f64; 4];
    for (x, y) in a[..m].chunks_exact(4).zip(b[..m].chunks_exact(4)) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, y) in a[m..].iter().zip(&b[m..]) {
        s += x * y;
    }
    s
}

/// Split the packed triangle into the blocks' disjoint slices and run [`block_pass`] on each
/// (on the thread pool when `parallel`); each block writes its own partial product.
#[allow(clippy::too_many_arguments)]
fn blocks_pass<T: Entry>(
    n: usize,
    blocks: &[(usize, usize)],
    packed: &mut [T],
    partial: &mut [Vec<f64>],
    terms: &[(&[f64], f64)],
    tiles: &[f64],
    r: &[f64],
    parallel: bool,
) {
    let mut slices: Vec<(usize, usize, &mut [T], &mut Vec<f64>)> = Vec::new();
    let mut rest: &mut [T] = packed;
    for (&(a, b), part) in blocks.iter().zip(partial.iter_mut()) {
        let len: usize = (a..b).map(|i| n - i).sum();
        let (head, tail) = rest.split_at_mut(len);
        slices.push((a, b, head, part));
        rest = tail;
    }
    let work = |(a, b, tri, part): (usize, usize, &mut [T], &mut Vec<f64>)| {
        block_pass(n, a, b, tri, part, terms, tiles, r);
    };
    if parallel {
        slices.into_par_iter().for_each(work);
    } else {
        slices.into_iter().for_each(work);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Solve the SPD system `a x = b` (n x n, k right-hand sides) by Gaussian elimination.
    fn solve(n: usize, mut a: Vec<f64>, mut b: Vec<f64>, k: usize) -> Vec<f64> {
        for c in 0..n {
            let piv = a[c * n + c];
            for r in c + 1..n {
                let f = a[r * n + c] / piv;
                for j in c..n {
                    a[r * n + j] -= f * a[c * n + j];
                }
                for j in 0..k {
                    b[r * k + j] -= f * b[c * k + j];
                }
            }
        }
        for c in (0..n).rev() {
            for j in 0..k {
                let mut s = b[c * k + j];
                for r in c + 1..n {
                    s -= a[c * n + r] * b[r * k + j];
                }
                b[c * k + j] = s / a[c * n + c];
            }
        }
        b
    }

    /// RLS over m samples equals the regularised least-squares solution, and P its inverse Gram
    /// matrix, for serial and parallel passes alike (bit-identical).
    #[test]
    fn rls_equals_ridge_regression() {
        let (n, k, m, lambda) = (37, 3, 120, 0.7);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let rs: Vec<f64> = (0..m * n).map(|_| rng.random::<f64>() * 2.0).collect();
        let ys: Vec<f64> = (0..m * k).map(|_| rng.random::<f64>() - 0.5).collect();
        let mut outs = Vec::new();
        for parallel in [false, true] {
            let mut rls = Rls::new(n, k, lambda, Gain::Exact).unwrap();
            let mut z = vec![0.0; k];
            for t in 0..m {
                let r = &rs[t * n..(t + 1) * n];
                rls.readout(r, &mut z);
                let e: Vec<f64> = z.iter().zip(&ys[t * k..]).map(|(a, b)| a - b).collect();
                rls.update(r, &e, parallel);
            }
            outs.push((rls.d.clone(), rls.matrix()));
        }
        assert_eq!(outs[0], outs[1]);
        let mut gram = vec![0.0; n * n];
        let mut rty = vec![0.0; n * k];
        for t in 0..m {
            let r = &rs[t * n..(t + 1) * n];
            for i in 0..n {
                for j in 0..n {
                    gram[i * n + j] += r[i] * r[j];
                }
                for c in 0..k {
                    rty[i * k + c] += r[i] * ys[t * k + c];
                }
            }
        }
        for i in 0..n {
            gram[i * n + i] += lambda;
        }
        let d = solve(n, gram.clone(), rty, k);
        let norm = d.iter().map(|x| x * x).sum::<f64>().sqrt();
        let got = &outs[0].0;
        let diff = (0..n * k)
            .map(|x| (d[x] - got[(x % k) * n + x / k]).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(diff < 1e-9 * norm, "decoders differ: {diff} vs norm {norm}");
        // P * (lambda I + R^T R) = I.
        let p = &outs[0].1;
        for i in 0..n {
            for j in 0..n {
                let s: f64 = (0..n).map(|l| p[i * n + l] * gram[l * n + j]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((s - want).abs() < 1e-8, "P G [{i},{j}] = {s}");
            }
        }
    }

    /// float32 storage: the same recursion with each entry of P rounded to float32 when written;
    /// decoders close to float64 (the rounding is 2^-24 relative per entry), P exactly symmetric,
    /// and serial and parallel passes bit-identical.
    #[test]
    fn float32_storage_close_to_float64() {
        let (n, k, m, lambda) = (40, 2, 100, 0.5);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let rs: Vec<f64> = (0..m * n).map(|_| rng.random::<f64>()).collect();
        let ys: Vec<f64> = (0..m * k).map(|_| rng.random::<f64>() - 0.5).collect();
        let run = |precision: Precision, parallel: bool| {
            let mut rls = Rls::with_precision(n, k, lambda, Gain::Exact, precision).unwrap();
            let mut z = vec![0.0; k];
            for t in 0..m {
                let r = &rs[t * n..(t + 1) * n];
                rls.readout(r, &mut z);
                let e: Vec<f64> = z.iter().zip(&ys[t * k..]).map(|(a, b)| a - b).collect();
                rls.update(r, &e, parallel);
            }
            (rls.d.clone(), rls.matrix())
        };
        let (d64, _) = run(Precision::F64, false);
        let (d32, p32) = run(Precision::F32, false);
        assert_eq!((d32.clone(), p32.clone()), run(Precision::F32, true));
        let norm = d64.iter().map(|x| x * x).sum::<f64>().sqrt();
        let diff = d64
            .iter()
            .zip(&d32)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(
            diff < 1e-4 * norm,
            "float32 decoders differ: {diff} vs norm {norm}"
        );
        assert!(diff > 0.0, "float32 storage should round");
        for i in 0..n {
            for j in 0..n {
                assert_eq!(p32[i * n + j], p32[j * n + i]);
                assert_eq!(p32[i * n + j], p32[i * n + j] as f32 as f64);
            }
        }
    }
}
