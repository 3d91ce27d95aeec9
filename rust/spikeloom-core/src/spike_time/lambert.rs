//! Principal branch of the Lambert W function in f64.
//!
//! The evaluation is delegated to the `lambert_w` crate (Fukushima's piecewise minimax rational
//! approximation, 50 bits). This wrapper only handles the branch point explicitly: arguments that
//! are below -1/e by a few ulps because of rounding in the caller map to W = -1, the branch point
//! itself, instead of NaN.

/// -1/e, the branch point of W.
pub const BRANCH_POINT: f64 = -1.0 / std::f64::consts::E;

/// Relative tolerance below -1/e that is still treated as the branch point (rounding of the caller).
const BRANCH_TOLERANCE: f64 = 1e-12;

/// W0(z) for z >= -1/e; `None` for z < -1/e (no real solution) or NaN.
///
/// z within 1e-12 (relative) below -1/e is treated as the branch point and gives -1 exactly.
pub fn w0(z: f64) -> Option<f64> {
    if z.is_nan() {
        return None;
    }
    if z <= BRANCH_POINT {
        return if z >= BRANCH_POINT * (1.0 + BRANCH_TOLERANCE) {
            Some(-1.0)
        } else {
            None
        };
    }
    let w = lambert_w::lambert_w0(z);
    if w.is_nan() {
        // Only possible in the last ulp above the branch point.
        Some(-1.0)
    } else {
        Some(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn satisfies_defining_equation() {
        for &z in &[
            -0.36787944,
            -0.3,
            -0.1,
            -1e-8,
            0.0,
            1e-8,
            0.5,
            1.0,
            10.0,
            1e3,
            1e10,
            1e300,
        ] {
            let w = w0(z).unwrap();
            let back = w * w.exp();
            // relative error of w e^w is (1 + w) times that of w (condition number of the inverse)
            assert!(
                (back - z).abs() <= 1e-14 * (1.0 + w.abs()) * z.abs(),
                "z={z} w={w}"
            );
            assert!(w >= -1.0);
        }
    }

    #[test]
    fn branch_point_handling() {
        assert_eq!(w0(BRANCH_POINT), Some(-1.0));
        assert_eq!(w0(BRANCH_POINT * (1.0 + 1e-14)), Some(-1.0));
        assert_eq!(w0(-0.4), None);
        assert_eq!(w0(f64::NAN), None);
        assert_eq!(w0(f64::NEG_INFINITY), None);
        assert_eq!(w0(f64::INFINITY), Some(f64::INFINITY));
    }
}
