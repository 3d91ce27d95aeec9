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
}

/// `y += a * x` over equal-length slices (auto-vectorised: no reduction, so no reordering issue).
#[inline(always)]
pub fn axpy<F: Real>(y: &mut [F], a: F, x: &[F]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

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
    fn dot_matches_plain_sum() {
        for n in [0usize, 1, 7, 8, 9, 31, 100] {
            let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos()).collect();
            let want: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - want).abs() < 1e-12, "n = {n}");
        }
    }
}
