//! The floating-point type of a simulation: `f32` for speed (the default), `f64` for gradient checks
//! against finite differences. Parameters are always kept and optimised in `f64`; a run casts them to
//! its [`Real`] once per batch.

use num_traits::Float;
use std::fmt::Debug;
use std::iter::Sum;
use std::ops::{AddAssign, MulAssign, SubAssign};

/// `f32` or `f64`.
pub trait Real:
    Float + AddAssign + SubAssign + MulAssign + Sum + Default + Debug + Send + Sync + 'static
{
    fn of(x: f64) -> Self;
    fn f64(self) -> f64;
    /// `e^self` without a library call, so loops over it vectorise: `x = n ln 2 + r` with `n` the
    /// nearest integer to `x / ln 2` (found by adding 1.5 2^m, m the mantissa width), `ln 2` split in
    /// two parts so `r` is exact, `|r| <= ln 2 / 2`, then a polynomial for `e^r` and `2^n` assembled in
    /// the exponent bits. Within 2 ulp of `exp` (f32: Cephes' minimax polynomial; f64: Taylor to
    /// degree 13, truncation < 1e-17) on `[-87.3, 88]` (f32) and `[-708, 709]` (f64); 0 below, `+inf`
    /// above those ranges.
    fn exp_fast(self) -> Self;
}

impl Real for f32 {
    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn exp_fast(self) -> Self {
        const SHIFT: f32 = 12_582_912.0; // 1.5 * 2^23
        let x = self.clamp(-87.3, 88.0);
        let t = x * std::f32::consts::LOG2_E + SHIFT;
        let n = t - SHIFT;
        let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
        let p = 1.987_569_1e-4_f32;
        let p = p * r + 1.398_2e-3;
        let p = p * r + 8.333_452e-3;
        let p = p * r + 4.166_579_6e-2;
        let p = p * r + 1.666_666_5e-1;
        let p = p * r + 0.5;
        let er = p * (r * r) + r + 1.0;
        let scale = f32::from_bits(t.to_bits().wrapping_add(127) << 23);
        let y = er * scale;
        if self < -87.3 {
            0.0
        } else if self > 88.0 {
            f32::INFINITY
        } else {
            y
        }
    }
}

impl Real for f64 {
    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn exp_fast(self) -> Self {
        const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52
        let x = self.clamp(-708.0, 709.0);
        let t = x * std::f64::consts::LOG2_E + SHIFT;
        let n = t - SHIFT;
        // ln 2 = hi + lo (fdlibm's split): hi's low 32 mantissa bits are zero, so n hi is exact.
        let (hi, lo) = (
            f64::from_bits(0x3fe6_2e42_fee0_0000),
            f64::from_bits(0x3dea_39ef_3579_3c76),
        );
        let r = x - n * hi - n * lo;
        let mut p = 1.0 / 6_227_020_800.0; // 1 / 13!
        for k in (1..13).rev() {
            p = p * r + INV_FACT[k];
        }
        let er = p * r + 1.0;
        let scale = f64::from_bits(t.to_bits().wrapping_add(1023) << 52);
        let y = er * scale;
        if self < -708.0 {
            0.0
        } else if self > 709.0 {
            f64::INFINITY
        } else {
            y
        }
    }
}

/// `1 / k!` for `k < 13`.
const INV_FACT: [f64; 13] = [
    1.0,
    1.0,
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5_040.0,
    1.0 / 40_320.0,
    1.0 / 362_880.0,
    1.0 / 3_628_800.0,
    1.0 / 39_916_800.0,
    1.0 / 479_001_600.0,
];

/// `y += a * x` over equal-length slices (auto-vectorised: no reduction, so no reordering issue).
#[inline(always)]
pub fn axpy<F: Real>(y: &mut [F], a: F, x: &[F]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// `y += sum_j g[j] * m[j * n .. (j + 1) * n]` with `n = y.len()`: a matrix (rows of length `n`) times
/// a vector, as scaled row sums. Four rows per pass, so each element of `y` is loaded and stored once
/// per four rows (a plain axpy per row is bound by those stores). Rows whose factor is zero are skipped.
#[inline(always)]
pub fn add_scaled_rows<F: Real>(y: &mut [F], g: &[F], m: &[F]) {
    let n = y.len();
    let mut j = 0;
    while j + 4 <= g.len() {
        let (g0, g1, g2, g3) = (g[j], g[j + 1], g[j + 2], g[j + 3]);
        let r0 = &m[j * n..(j + 1) * n];
        let r1 = &m[(j + 1) * n..(j + 2) * n];
        let r2 = &m[(j + 2) * n..(j + 3) * n];
        let r3 = &m[(j + 3) * n..(j + 4) * n];
        for i in 0..n {
            y[i] += (g0 * r0[i] + g1 * r1[i]) + (g2 * r2[i] + g3 * r3[i]);
        }
        j += 4;
    }
    while j < g.len() {
        if g[j] != F::zero() {
            axpy(y, g[j], &m[j * n..(j + 1) * n]);
        }
        j += 1;
    }
}

/// `y += sum_e v_e x_e` over the terms `(v_e, x_e)` (each `x_e` at least as long as `y`), added in
/// the order given, so the result equals a sequence of [`axpy`] calls bit for bit. `y` is walked in
/// blocks of [`ROW_BLOCK`] that stay in registers while every term is added, so the cost is one load
/// per element and term (a plain axpy per term also loads and stores `y`).
#[inline(always)]
pub fn add_scaled_terms<F: Real>(y: &mut [F], terms: &[(F, &[F])]) {
    let n = y.len();
    let mut c0 = 0;
    while c0 + ROW_BLOCK <= n {
        let mut acc = [F::zero(); ROW_BLOCK];
        acc.copy_from_slice(&y[c0..c0 + ROW_BLOCK]);
        for &(v, x) in terms {
            let x = &x[c0..c0 + ROW_BLOCK];
            for c in 0..ROW_BLOCK {
                acc[c] += v * x[c];
            }
        }
        y[c0..c0 + ROW_BLOCK].copy_from_slice(&acc);
        c0 += ROW_BLOCK;
    }
    if c0 < n {
        for &(v, x) in terms {
            axpy(&mut y[c0..], v, &x[c0..n]);
        }
    }
}

/// Block length of [`add_scaled_terms`]: 64 `f32` are eight AVX registers.
pub const ROW_BLOCK: usize = 64;

/// `y += x`.
#[inline(always)]
pub fn add_to<F: Real>(y: &mut [F], x: &[F]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += x;
    }
}

/// Dot product with eight independent partial sums, combined in a fixed order: the compiler can
/// vectorise it (a single running sum would force strict sequential adds), and the result depends
/// only on the inputs, never on threads.
#[inline(always)]
pub fn dot<F: Real>(a: &[F], b: &[F]) -> F {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [F::zero(); 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut tail = F::zero();
    for (x, y) in ra.iter().zip(rb) {
        tail += *x * *y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_fast_is_within_two_ulp_of_exp() {
        let mut worst32 = 0.0f32;
        let mut worst64 = 0.0f64;
        let n = 200_001;
        for i in 0..n {
            let x = -90.0 + 180.0 * i as f64 / (n - 1) as f64;
            let (e32, e64) = ((x as f32).exp(), x.exp());
            let (f32v, f64v) = ((x as f32).exp_fast(), x.exp_fast());
            if (-87.3..=88.0).contains(&(x as f32)) {
                worst32 = worst32.max((f32v - e32).abs() / (f32::EPSILON * e32));
            }
            worst64 = worst64.max((f64v - e64).abs() / (f64::EPSILON * e64));
        }
        assert!(worst32 <= 2.0, "f32: {worst32} ulp");
        assert!(worst64 <= 2.0, "f64: {worst64} ulp");
        // The wide f64 range, and the clamps.
        for i in 0..20_001 {
            let x = -700.0 + 1400.0 * i as f64 / 20_000.0;
            let rel = (x.exp_fast() - x.exp()).abs() / (f64::EPSILON * x.exp());
            assert!(rel <= 2.0, "{x}: {rel} ulp");
        }
        assert_eq!((-100.0f32).exp_fast(), 0.0);
        assert_eq!((-800.0f64).exp_fast(), 0.0);
        assert_eq!(100.0f32.exp_fast(), f32::INFINITY);
        assert_eq!(800.0f64.exp_fast(), f64::INFINITY);
        assert!(f64::NAN.exp_fast().is_nan() && f32::NAN.exp_fast().is_nan());
        assert_eq!(0.0f32.exp_fast(), 1.0);
        assert_eq!(0.0f64.exp_fast(), 1.0);
    }

    #[test]
    fn scaled_rows_match_a_plain_matrix_vector_product() {
        for (rows, n) in [(0usize, 3usize), (3, 5), (4, 8), (9, 17)] {
            let m: Vec<f64> = (0..rows * n).map(|i| (i as f64 * 0.7).sin()).collect();
            let g: Vec<f64> = (0..rows).map(|j| (j as f64 * 0.3).cos()).collect();
            let mut y = vec![0.5; n];
            add_scaled_rows(&mut y, &g, &m);
            for i in 0..n {
                let want = 0.5 + (0..rows).map(|j| g[j] * m[j * n + i]).sum::<f64>();
                assert!((y[i] - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn scaled_terms_equal_a_sequence_of_axpys_bit_for_bit() {
        for n in [0usize, 5, 64, 100, 256] {
            let rows: Vec<Vec<f64>> = (0..7)
                .map(|r| {
                    (0..n + 3)
                        .map(|i| ((i * 7 + r * 13) as f64 * 0.37).sin())
                        .collect()
                })
                .collect();
            let vals = [0.3, -1.7, 2.5, 0.0, 1e-3, -0.9, 4.0];
            let mut want: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos()).collect();
            let mut got = want.clone();
            for (v, r) in vals.iter().zip(&rows) {
                axpy(&mut want, *v, &r[..n]);
            }
            let terms: Vec<(f64, &[f64])> = vals
                .iter()
                .zip(&rows)
                .map(|(v, r)| (*v, r.as_slice()))
                .collect();
            add_scaled_terms(&mut got, &terms);
            assert_eq!(got, want, "n = {n}");
        }
    }

    #[test]
    fn dot_matches_plain_sum() {
        for n in [0usize, 1, 7, 8, 9, 31, 100] {
            let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos()).collect();
            let want: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - want).abs() < 1e-12, "n = {n}");
        }
    }
}
