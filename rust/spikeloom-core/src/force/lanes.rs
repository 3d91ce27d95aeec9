//! Four f64 lanes for the FORCE passes: AVX2 + FMA registers on x86-64 CPUs that have them (through
//! `pulp`'s safe intrinsics), otherwise the same lane-wise operations on arrays. Both perform the
//! same IEEE operations (a fused multiply-add is one correctly rounded operation either way), so a
//! pass written against [`Lanes`] gives bit-identical results on every CPU.

/// Lane-wise operations on four f64 (and masks: all bits set in a lane where a comparison holds).
pub trait Lanes: Copy {
    type V: Copy;
    fn splat(self, x: f64) -> Self::V;
    /// `a[..4]`.
    fn load(self, a: &[f64]) -> Self::V;
    /// `a[..4]` widened from f32.
    fn load_f32(self, a: &[f32]) -> Self::V;
    fn store(self, a: &mut [f64], v: Self::V);
    /// Rounded to the nearest f32 (as `x as f32`).
    fn store_f32(self, a: &mut [f32], v: Self::V);
    /// Each lane rounded to the nearest f32 and widened back.
    fn round_f32(self, v: Self::V) -> Self::V;
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b + c` with one rounding.
    fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `max(a, b)` for non-NaN values.
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    /// Mask of `a >= b`.
    fn ge(self, a: Self::V, b: Self::V) -> Self::V;
    /// Mask of `a > b`.
    fn gt(self, a: Self::V, b: Self::V) -> Self::V;
    /// `m ? a : b` per lane.
    fn select(self, m: Self::V, a: Self::V, b: Self::V) -> Self::V;
    /// `m ? a : 0` per lane.
    fn and(self, m: Self::V, a: Self::V) -> Self::V;
    /// Bit l set where lane l of the mask is set.
    fn bits(self, m: Self::V) -> u32;
    fn to_array(self, v: Self::V) -> [f64; 4];
    fn lanes_of(self, a: [f64; 4]) -> Self::V;
    /// A hint to bring the cache line of `x` into the cache (no effect on results).
    fn prefetch<T>(self, x: &T);
}

/// The portable lanes.
#[derive(Clone, Copy, Debug)]
pub struct Scalar;

#[inline(always)]
fn map2(a: [f64; 4], b: [f64; 4], f: impl Fn(f64, f64) -> f64) -> [f64; 4] {
    [f(a[0], b[0]), f(a[1], b[1]), f(a[2], b[2]), f(a[3], b[3])]
}

#[inline(always)]
fn mask(m: bool) -> f64 {
    f64::from_bits((m as u64).wrapping_neg())
}

impl Lanes for Scalar {
    type V = [f64; 4];
    #[inline(always)]
    fn splat(self, x: f64) -> [f64; 4] {
        [x; 4]
    }
    #[inline(always)]
    fn load(self, a: &[f64]) -> [f64; 4] {
        a[..4].try_into().unwrap()
    }
    #[inline(always)]
    fn load_f32(self, a: &[f32]) -> [f64; 4] {
        [a[0] as f64, a[1] as f64, a[2] as f64, a[3] as f64]
    }
    #[inline(always)]
    fn store(self, a: &mut [f64], v: [f64; 4]) {
        a[..4].copy_from_slice(&v);
    }
    #[inline(always)]
    fn store_f32(self, a: &mut [f32], v: [f64; 4]) {
        for (x, y) in a[..4].iter_mut().zip(v) {
            *x = y as f32;
        }
    }
    #[inline(always)]
    fn round_f32(self, v: [f64; 4]) -> [f64; 4] {
        v.map(|x| x as f32 as f64)
    }
    #[inline(always)]
    fn add(self, a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
        map2(a, b, |x, y| x + y)
    }
    #[inline(always)]
    fn sub(self, a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
        map2(a, b, |x, y| x - y)
    }
    #[inline(always)]
    fn mul(self, a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
        map2(a, b, |x, y| x * y)
    }
    #[inline(always)]
    fn fma(self, a: [f64; 4], b: [f64; 4], c: [f64; 4]) -> [f64; 4] {
        [
            a[0].mul_add(b[0], c[0]),
            a[1].mul_add(b[1], c[1]),
            a[2].mul_add(b[2], c[2]),
            a[3].mul_add(b[3], c[3]),
        ]
    }
    #[inline(always)]
    fn max(self, a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
        map2(a, b, |x, y| if x > y { x } else { y })
    }
    #[inline(always)]
    fn ge(self, a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
        map2(a, b, |x, y| mask(x >= y))
    }
    #[inline(always)]
    fn gt(self, a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
        map2(a, b, |x, y| mask(x > y))
    }
    #[inline(always)]
    fn select(self, m: [f64; 4], a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
        let mut out = b;
        for l in 0..4 {
            if m[l].to_bits() >> 63 != 0 {
                out[l] = a[l];
            }
        }
        out
    }
    #[inline(always)]
    fn and(self, m: [f64; 4], a: [f64; 4]) -> [f64; 4] {
        map2(m, a, |x, y| f64::from_bits(x.to_bits() & y.to_bits()))
    }
    #[inline(always)]
    fn bits(self, m: [f64; 4]) -> u32 {
        (0..4).map(|l| ((m[l].to_bits() >> 63) as u32) << l).sum()
    }
    #[inline(always)]
    fn to_array(self, v: [f64; 4]) -> [f64; 4] {
        v
    }
    #[inline(always)]
    fn lanes_of(self, a: [f64; 4]) -> [f64; 4] {
        a
    }
    #[inline(always)]
    fn prefetch<T>(self, _: &T) {}
}

#[cfg(target_arch = "x86_64")]
pub use avx::Avx;

#[cfg(target_arch = "x86_64")]
mod avx {
    use super::Lanes;
    use core::arch::x86_64::{__m128, __m256d, _CMP_GE_OQ, _CMP_GT_OQ, _MM_HINT_T0};
    use pulp::x86::V3;

    /// AVX2 + FMA lanes (only constructed when the CPU has them: `V3::try_new`). The methods must
    /// be inlined into a `V3::vectorize` call to get the target features.
    #[derive(Clone, Copy, Debug)]
    pub struct Avx(pub V3);

    impl Lanes for Avx {
        type V = __m256d;
        #[inline(always)]
        fn splat(self, x: f64) -> __m256d {
            self.0.avx._mm256_set1_pd(x)
        }
        #[inline(always)]
        fn load(self, a: &[f64]) -> __m256d {
            let a: [f64; 4] = a[..4].try_into().unwrap();
            pulp::cast(a)
        }
        #[inline(always)]
        fn load_f32(self, a: &[f32]) -> __m256d {
            let a: [f32; 4] = a[..4].try_into().unwrap();
            self.0
                .avx
                ._mm256_cvtps_pd(pulp::cast::<[f32; 4], __m128>(a))
        }
        #[inline(always)]
        fn store(self, a: &mut [f64], v: __m256d) {
            a[..4].copy_from_slice(&pulp::cast::<__m256d, [f64; 4]>(v));
        }
        #[inline(always)]
        fn store_f32(self, a: &mut [f32], v: __m256d) {
            let h = self.0.avx._mm256_cvtpd_ps(v);
            a[..4].copy_from_slice(&pulp::cast::<__m128, [f32; 4]>(h));
        }
        #[inline(always)]
        fn round_f32(self, v: __m256d) -> __m256d {
            self.0.avx._mm256_cvtps_pd(self.0.avx._mm256_cvtpd_ps(v))
        }
        #[inline(always)]
        fn add(self, a: __m256d, b: __m256d) -> __m256d {
            self.0.avx._mm256_add_pd(a, b)
        }
        #[inline(always)]
        fn sub(self, a: __m256d, b: __m256d) -> __m256d {
            self.0.avx._mm256_sub_pd(a, b)
        }
        #[inline(always)]
        fn mul(self, a: __m256d, b: __m256d) -> __m256d {
            self.0.avx._mm256_mul_pd(a, b)
        }
        #[inline(always)]
        fn fma(self, a: __m256d, b: __m256d, c: __m256d) -> __m256d {
            self.0.fma._mm256_fmadd_pd(a, b, c)
        }
        #[inline(always)]
        fn max(self, a: __m256d, b: __m256d) -> __m256d {
            // vmaxpd returns the second operand when the first is not greater: as the portable form.
            self.0.avx._mm256_max_pd(a, b)
        }
        #[inline(always)]
        fn ge(self, a: __m256d, b: __m256d) -> __m256d {
            self.0.avx._mm256_cmp_pd::<_CMP_GE_OQ>(a, b)
        }
        #[inline(always)]
        fn gt(self, a: __m256d, b: __m256d) -> __m256d {
            self.0.avx._mm256_cmp_pd::<_CMP_GT_OQ>(a, b)
        }
        #[inline(always)]
        fn select(self, m: __m256d, a: __m256d, b: __m256d) -> __m256d {
            self.0.avx._mm256_blendv_pd(b, a, m)
        }
        #[inline(always)]
        fn and(self, m: __m256d, a: __m256d) -> __m256d {
            self.0.avx._mm256_and_pd(m, a)
        }
        #[inline(always)]
        fn bits(self, m: __m256d) -> u32 {
            self.0.avx._mm256_movemask_pd(m) as u32
        }
        #[inline(always)]
        fn to_array(self, v: __m256d) -> [f64; 4] {
            pulp::cast(v)
        }
        #[inline(always)]
        fn lanes_of(self, a: [f64; 4]) -> __m256d {
            pulp::cast(a)
        }
        #[inline(always)]
        fn prefetch<T>(self, x: &T) {
            self.0
                .sse
                ._mm_prefetch::<_MM_HINT_T0>((x as *const T).cast::<i8>())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 lanes and the portable lanes agree bit for bit (on CPUs with AVX2).
    #[test]
    fn avx_matches_scalar() {
        #[cfg(target_arch = "x86_64")]
        if let Some(v3) = pulp::x86::V3::try_new() {
            let a = [1.5, -2.25, 1e-300, 3.0e10];
            let b = [0.1, 7.0, -1e-300, 3.0e10];
            let c = [1.0 / 3.0, -0.0, 2.0, -5.5];
            let check = |s: Scalar, x: Avx| {
                let (va, vb, vc) = (x.load(&a), x.load(&b), x.load(&c));
                let got = [
                    x.to_array(x.fma(va, vb, vc)),
                    x.to_array(x.add(va, vb)),
                    x.to_array(x.sub(va, vb)),
                    x.to_array(x.mul(va, vb)),
                    x.to_array(x.max(va, vb)),
                    x.to_array(x.select(x.ge(va, vb), va, vc)),
                    x.to_array(x.and(x.gt(va, vb), vc)),
                    x.to_array(x.load_f32(&[0.1f32, 2.0, -3.5, 1e-30])),
                    x.to_array(x.round_f32(vc)),
                ];
                let want = [
                    s.fma(a, b, c),
                    s.add(a, b),
                    s.sub(a, b),
                    s.mul(a, b),
                    s.max(a, b),
                    s.select(s.ge(a, b), a, c),
                    s.and(s.gt(a, b), c),
                    s.load_f32(&[0.1f32, 2.0, -3.5, 1e-30]),
                    s.round_f32(c),
                ];
                for (g, w) in got.iter().zip(&want) {
                    for l in 0..4 {
                        assert_eq!(g[l].to_bits(), w[l].to_bits());
                    }
                }
                assert_eq!(x.bits(x.ge(va, vb)), s.bits(s.ge(a, b)));
                let mut f1 = [0.0f32; 4];
                let mut f2 = [0.0f32; 4];
                x.store_f32(&mut f1, va);
                s.store_f32(&mut f2, a);
                assert_eq!(f1, f2);
            };
            v3.vectorize(|| check(Scalar, Avx(v3)));
        }
    }
}
