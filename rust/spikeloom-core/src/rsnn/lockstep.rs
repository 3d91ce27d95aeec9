//! The dense products of the lockstep reverse pass: `y_s += W g_s` for the samples `s` of a chunk at
//! one step, a small matrix product.
//!
//! The matrix is packed once per batch into column panels ([`Panels`]): panel `p` holds columns
//! `16p .. 16p + 16` of every row contiguously (zero-padded past the last column), so the kernel
//! streams each panel front to back without index arithmetic or bounds checks. The factors of four
//! samples are interleaved (`g4[4k + s]`), and only the rows where some factor is non-zero are visited
//! (after the loss's last contributing step, or with a surrogate of compact support, most are zero).
//! For every block of 16 outputs of the four samples, the accumulators stay in registers over all the
//! rows: each weight is loaded once per four samples and each output is stored once. Each term is
//! one fused multiply-add (`mul_add`, rounded once), which halves the kernel's arithmetic
//! instructions: the run-time dispatch only takes the AVX2 and AVX-512 paths on CPUs with FMA, and
//! elsewhere `mul_add` is the correctly rounded library function, so every CPU gets the same bits
//! (only slower without FMA hardware). The summation order is fixed by the shapes alone (rows in
//! increasing order), so results do not depend on the thread count or the CPU.

use super::real::Real;

/// Output columns per panel (two AVX registers of `f32`).
pub const COLS: usize = 16;

/// A `[rows x cols]` matrix in column panels of [`COLS`] columns (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct Panels<F: Real> {
    pub rows: usize,
    pub cols: usize,
    data: Vec<F>,
}

impl<F: Real> Panels<F> {
    /// Pack the matrix whose element `(k, j)` is `at(k, j)`.
    pub fn pack(rows: usize, cols: usize, at: impl Fn(usize, usize) -> F) -> Self {
        let n_panels = cols.div_ceil(COLS);
        let mut data = vec![F::zero(); n_panels * rows * COLS];
        for (p, panel) in data.chunks_exact_mut(rows * COLS.max(1)).enumerate() {
            for (k, row) in panel.chunks_exact_mut(COLS).enumerate() {
                for (c, v) in row.iter_mut().enumerate() {
                    let j = p * COLS + c;
                    if j < cols {
                        *v = at(k, j);
                    }
                }
            }
        }
        Panels { rows, cols, data }
    }

    /// The transpose of a row-major `[cols x rows]` block `w` (element `(k, j)` is `w[j * rows + k]`):
    /// the product `y += W^T g` of a weight matrix stored input-major.
    pub fn transpose_of(w: &[F], cols: usize, rows: usize) -> Self {
        debug_assert_eq!(w.len(), rows * cols);
        Self::pack(rows, cols, |k, j| w[j * rows + k])
    }
}

/// Work buffers of [`Lockstep`]: the interleaved factors and the non-zero rows.
#[derive(Clone, Debug, Default)]
pub struct Lockstep<F: Real> {
    g4: Vec<F>,
    nz: Vec<u32>,
}

impl<F: Real> Lockstep<F> {
    /// Interleave the factors of up to four samples: `g4[4 k + s] = gs[s][k]`, zero for missing
    /// samples.
    #[inline(always)]
    pub fn interleave(&mut self, gs: &[&[F]]) -> &[F] {
        let rows = gs.first().map_or(0, |g| g.len());
        self.g4.clear();
        self.g4.resize(4 * rows, F::zero());
        for (s, g) in gs.iter().enumerate() {
            for (k, &v) in g.iter().enumerate() {
                self.g4[4 * k + s] = v;
            }
        }
        &self.g4
    }

    /// `ys[s] += W gs[s]` for up to four samples (`ys.len() == gs.len() <= 4`), with `W` packed in `w`
    /// (`gs[s].len() == w.rows`, `ys[s].len() == w.cols`).
    #[inline(always)]
    pub fn product(&mut self, ys: &mut [&mut [F]], gs: &[&[F]], w: &Panels<F>) {
        let (rows, ns) = (w.rows, gs.len());
        debug_assert!(ns <= 4 && ys.len() == ns);
        debug_assert!(gs.iter().all(|g| g.len() == rows) && ys.iter().all(|y| y.len() == w.cols));
        let zero = F::zero();
        self.interleave(gs);
        self.nz.clear();
        for (k, g) in self.g4.chunks_exact(4).enumerate() {
            if g.iter().any(|&v| v != zero) {
                self.nz.push(k as u32);
            }
        }
        if self.nz.is_empty() {
            return;
        }
        let dense = self.nz.len() == rows;
        for (p, panel) in w.data.chunks_exact(rows * COLS).enumerate() {
            let acc = if dense {
                panel_dense(panel, &self.g4)
            } else {
                panel_sparse(panel, &self.g4, &self.nz)
            };
            let j0 = p * COLS;
            let width = COLS.min(w.cols - j0);
            for (y, a) in ys.iter_mut().zip(&acc) {
                for (yv, av) in y[j0..j0 + width].iter_mut().zip(a) {
                    *yv += *av;
                }
            }
        }
    }
}

type Acc<F> = [[F; COLS]; 4];

/// Accumulate `a[s][c] += g4[4k + s] panel[k][c]` for a block of rows given as (factors, panel row).
#[inline(always)]
fn accumulate<'a, F: Real>(rows: impl Iterator<Item = (&'a [F], &'a [F])>) -> Acc<F> {
    let zero = F::zero();
    // Four named accumulator blocks (not an indexed array) so that they stay in registers.
    let (mut a0, mut a1, mut a2, mut a3) = ([zero; COLS], [zero; COLS], [zero; COLS], [zero; COLS]);
    for (g, w) in rows {
        let (g0, g1, g2, g3) = (g[0], g[1], g[2], g[3]);
        for c in 0..COLS {
            let x = w[c];
            a0[c] = g0.mul_add(x, a0[c]);
            a1[c] = g1.mul_add(x, a1[c]);
            a2[c] = g2.mul_add(x, a2[c]);
            a3[c] = g3.mul_add(x, a3[c]);
        }
    }
    [a0, a1, a2, a3]
}

#[inline(always)]
fn panel_dense<F: Real>(panel: &[F], g4: &[F]) -> Acc<F> {
    accumulate(g4.chunks_exact(4).zip(panel.chunks_exact(COLS)))
}

#[inline(always)]
fn panel_sparse<F: Real>(panel: &[F], g4: &[F], nz: &[u32]) -> Acc<F> {
    accumulate(nz.iter().map(|&k| {
        let k = k as usize;
        (&g4[4 * k..4 * k + 4], &panel[k * COLS..(k + 1) * COLS])
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How the test compiles the product.
    #[derive(Clone, Copy, PartialEq)]
    enum Build {
        /// For the baseline CPU (no FMA: `mul_add` is the library function).
        Baseline,
        /// For the widest vector unit of this CPU, chosen at run time (AVX-512 or AVX2 + FMA).
        Widest,
        /// For AVX2 + FMA (x86-64 CPUs that have them; else the baseline).
        Avx2,
    }

    /// The product computed in code compiled for the widest vector unit (AVX-512 or AVX2 + FMA:
    /// hardware fused multiply-adds), and for AVX2 + FMA, equals, bit for bit, the same code compiled
    /// for the baseline CPU, where each `mul_add` is the correctly rounded library function: the
    /// results do not depend on the CPU. Also true in f32, with factors and weights whose products
    /// are not exact.
    #[test]
    fn product_is_the_same_with_and_without_fma_hardware() {
        fn run<F: Real>(build: Build) -> Vec<Vec<F>> {
            struct Op<'a, F: Real> {
                ls: &'a mut Lockstep<F>,
                ys: &'a mut [&'a mut [F]],
                gs: &'a [&'a [F]],
                w: &'a Panels<F>,
            }
            impl<F: Real> pulp::WithSimd for Op<'_, F> {
                type Output = ();
                #[inline(always)]
                fn with_simd<S: pulp::Simd>(self, _: S) {
                    self.ls.product(self.ys, self.gs, self.w)
                }
            }
            let (rows, cols) = (37usize, 29usize);
            let w: Vec<F> = (0..rows * cols)
                .map(|i| F::of(((i * 7919 % 1013) as f64 - 506.0) / 97.3))
                .collect();
            let packed = Panels::transpose_of(&w, cols, rows);
            let gs: Vec<Vec<F>> = (0..4)
                .map(|s| {
                    (0..rows)
                        .map(|k| F::of(((k * 31 + s * 17) % 23) as f64 / 3.7 - 2.9))
                        .collect()
                })
                .collect();
            let mut ys: Vec<Vec<F>> = (0..4).map(|s| vec![F::of(0.1 * s as f64); cols]).collect();
            let g_refs: Vec<&[F]> = gs.iter().map(|g| g.as_slice()).collect();
            let mut y_refs: Vec<&mut [F]> = ys.iter_mut().map(|y| y.as_mut_slice()).collect();
            let mut ls = Lockstep::<F>::default();
            let op = Op {
                ls: &mut ls,
                ys: &mut y_refs,
                gs: &g_refs,
                w: &packed,
            };
            match build {
                Build::Widest => pulp::Arch::new().dispatch(op),
                #[cfg(target_arch = "x86_64")]
                Build::Avx2 if pulp::x86::V3::try_new().is_some() => {
                    let v3 = pulp::x86::V3::try_new().unwrap();
                    v3.vectorize(move || pulp::WithSimd::with_simd(op, v3))
                }
                _ => op.ls.product(op.ys, op.gs, op.w),
            }
            ys
        }
        let bits32 =
            |v: Vec<Vec<f32>>| -> Vec<u32> { v.concat().iter().map(|x| x.to_bits()).collect() };
        let bits64 =
            |v: Vec<Vec<f64>>| -> Vec<u64> { v.concat().iter().map(|x| x.to_bits()).collect() };
        for build in [Build::Widest, Build::Avx2] {
            assert_eq!(
                bits32(run::<f32>(build)),
                bits32(run::<f32>(Build::Baseline))
            );
            assert_eq!(
                bits64(run::<f64>(build)),
                bits64(run::<f64>(Build::Baseline))
            );
        }
        // Fused: one rounding per term, which differs from a separate multiply and add somewhere here.
        let y = run::<f32>(Build::Baseline);
        let mut differs = false;
        let (rows, cols) = (37usize, 29usize);
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919 % 1013) as f64 - 506.0) as f32 / 97.3)
            .collect();
        for (s, ys) in y.iter().enumerate() {
            for (j, &got) in ys.iter().enumerate() {
                // Unfused: each product rounded, then added (the kernel's order: rows, then y).
                let mut sum = 0.0f32;
                for k in 0..rows {
                    let g = (((k * 31 + s * 17) % 23) as f64 / 3.7 - 2.9) as f32;
                    sum += g * w[j * rows + k];
                }
                let acc = (0.1 * s as f64) as f32 + sum;
                differs |= acc.to_bits() != got.to_bits();
            }
        }
        assert!(
            differs,
            "no term rounded differently: the test would not see a lost fused multiply-add"
        );
    }

    /// The lockstep product equals a plain triple loop, for dense and sparse factors, 1 to 4 samples,
    /// and column counts that are and are not multiples of the panel width.
    #[test]
    fn product_matches_a_plain_matrix_product() {
        let mut ls = Lockstep::<f64>::default();
        for (rows, cols) in [(7usize, 16usize), (5, 37), (33, 3)] {
            let w: Vec<f64> = (0..rows * cols)
                .map(|i| ((i * 37 % 101) as f64 - 50.0) / 7.0)
                .collect();
            // `w` row-major [cols x rows]; the product uses its transpose.
            let packed = Panels::transpose_of(&w, cols, rows);
            for ns in 1..=4 {
                for sparse in [false, true] {
                    let gs: Vec<Vec<f64>> = (0..ns)
                        .map(|s| {
                            (0..rows)
                                .map(|k| {
                                    if sparse && (k + s) % 3 != 0 {
                                        0.0
                                    } else {
                                        (k + 2 * s) as f64 - 3.5
                                    }
                                })
                                .collect()
                        })
                        .collect();
                    let mut ys: Vec<Vec<f64>> = (0..ns).map(|s| vec![s as f64; cols]).collect();
                    let mut want = ys.clone();
                    for s in 0..ns {
                        for j in 0..cols {
                            for k in 0..rows {
                                want[s][j] += gs[s][k] * w[j * rows + k];
                            }
                        }
                    }
                    let g_refs: Vec<&[f64]> = gs.iter().map(|g| g.as_slice()).collect();
                    let mut y_refs: Vec<&mut [f64]> =
                        ys.iter_mut().map(|y| y.as_mut_slice()).collect();
                    ls.product(&mut y_refs, &g_refs, &packed);
                    for s in 0..ns {
                        for j in 0..cols {
                            assert!(
                                (ys[s][j] - want[s][j]).abs() < 1e-9,
                                "{rows}x{cols} s{s} j{j}"
                            );
                        }
                    }
                }
            }
        }
    }
}
