//! Spike functions and their surrogate derivatives.
//!
//! A spike is `z = H(v)` with `v = u - theta` the distance to threshold (volts, or the model's voltage
//! unit). BPTT replaces the derivative `dH/dv` (a Dirac delta) by a surrogate. Every parameter is in
//! absolute voltage units (a width in volts, or a slope in 1/volt) so that changing the threshold does
//! not silently rescale the surrogate (the NEST e-prop lesson); `scale` multiplies the whole
//! derivative (Bellec's dampening factor gamma, Yin's gradient scale).
//!
//! | kind              | d z / d v                                                            | source            |
//! |-------------------|----------------------------------------------------------------------|-------------------|
//! | `fast_sigmoid`    | `scale / (slope |v| + 1)^2`                                          | SuperSpike, SpyTorch |
//! | `sigmoid`         | `scale * slope * s (1 - s)`, `s = 1 / (1 + exp(-slope v))`          | Zimmer/Masquelier, DECOLLE |
//! | `piecewise_linear`| `scale * max(0, 1 - |v| / width) / width`                            | Bellec (e-prop)   |
//! | `multi_gaussian`  | `scale [(1+h) N(v;0,s) - h N(v;s,k s) - h N(v;-s,k s)]`              | Yin et al. 2021   |
//! | `arctan`          | `scale * (slope/2) / (1 + (pi/2 slope v)^2)`                        | Fang et al. 2021  |
//! | `exponential`     | `scale * exp(-|v| / width)`                                          | SLAYER            |
//! | `boxcar`          | `scale` if `|v| < width / 2`, else 0                                 | DECOLLE `SmoothStep` |
//!
//! `smooth_sigmoid` is not a surrogate: the forward pass itself emits the graded value
//! `z = 1/(1 + exp(-slope v))` and the backward pass uses its exact derivative. Networks run this way
//! are smooth functions of their parameters, which is what finite-difference gradient checks need.

use super::real::Real;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The spike nonlinearity of a layer: a Heaviside step with a surrogate derivative, or a smooth
/// sigmoid (for gradient checks).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Surrogate {
    FastSigmoid {
        slope: f64,
        #[serde(default = "one")]
        scale: f64,
    },
    Sigmoid {
        slope: f64,
        #[serde(default = "one")]
        scale: f64,
    },
    PiecewiseLinear {
        width: f64,
        #[serde(default = "one")]
        scale: f64,
    },
    MultiGaussian {
        #[serde(default = "half")]
        sigma: f64,
        #[serde(default = "mg_height")]
        height: f64,
        #[serde(default = "mg_spread")]
        spread: f64,
        #[serde(default = "half")]
        scale: f64,
    },
    Arctan {
        slope: f64,
        #[serde(default = "one")]
        scale: f64,
    },
    Exponential {
        width: f64,
        #[serde(default = "one")]
        scale: f64,
    },
    Boxcar {
        width: f64,
        #[serde(default = "one")]
        scale: f64,
    },
    SmoothSigmoid {
        slope: f64,
    },
}

fn one() -> f64 {
    1.0
}
fn half() -> f64 {
    0.5
}
fn mg_height() -> f64 {
    0.15
}
fn mg_spread() -> f64 {
    6.0
}

impl Default for Surrogate {
    /// SuperSpike's fast sigmoid with slope 100 per unit of voltage (SpyTorch's default for theta = 1).
    fn default() -> Self {
        Surrogate::FastSigmoid {
            slope: 100.0,
            scale: 1.0,
        }
    }
}

/// A surrogate with its constants converted to the simulation's float type.
#[derive(Clone, Copy, Debug)]
pub struct SpikeFn<F: Real> {
    kind: Surrogate,
    a: F,
    scale: F,
    /// Multi-Gaussian: `1 / sigma`, `1 / (spread sigma)` and the two bumps' peak factors
    /// `scale (1 + h) / (sqrt(2 pi) sigma)`, `scale h / (sqrt(2 pi) spread sigma)` (computed in f64).
    mg: [F; 4],
}

const SQRT_2PI: f64 = 2.506_628_274_631_000_7;

impl Surrogate {
    /// Check every constant (positive, finite).
    pub fn validate(&self) -> Result<()> {
        let check = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::param(
                    format!("surrogate.{name}"),
                    "a finite value > 0",
                    v,
                ))
            }
        };
        match *self {
            Surrogate::FastSigmoid { slope, scale }
            | Surrogate::Sigmoid { slope, scale }
            | Surrogate::Arctan { slope, scale } => {
                check("slope", slope)?;
                check("scale", scale)
            }
            Surrogate::PiecewiseLinear { width, scale }
            | Surrogate::Exponential { width, scale }
            | Surrogate::Boxcar { width, scale } => {
                check("width", width)?;
                check("scale", scale)
            }
            Surrogate::MultiGaussian {
                sigma,
                height,
                spread,
                scale,
            } => {
                check("sigma", sigma)?;
                check("spread", spread)?;
                check("scale", scale)?;
                if height.is_finite() && height >= 0.0 {
                    Ok(())
                } else {
                    Err(Error::param(
                        "surrogate.height",
                        "a finite value >= 0",
                        height,
                    ))
                }
            }
            Surrogate::SmoothSigmoid { slope } => check("slope", slope),
        }
    }

    /// Whether the forward pass emits graded values (true only for `smooth_sigmoid`).
    pub fn is_smooth(&self) -> bool {
        matches!(self, Surrogate::SmoothSigmoid { .. })
    }

    /// The spike function in float type `F`.
    pub fn to<F: Real>(&self) -> SpikeFn<F> {
        let (a, b, scale) = match *self {
            Surrogate::FastSigmoid { slope, scale }
            | Surrogate::Sigmoid { slope, scale }
            | Surrogate::Arctan { slope, scale } => (slope, 0.0, scale),
            Surrogate::PiecewiseLinear { width, scale }
            | Surrogate::Exponential { width, scale }
            | Surrogate::Boxcar { width, scale } => (width, 0.0, scale),
            Surrogate::MultiGaussian {
                sigma,
                height,
                scale,
                ..
            } => (sigma, height, scale),
            Surrogate::SmoothSigmoid { slope } => (slope, 0.0, 1.0),
        };
        let mg = match *self {
            Surrogate::MultiGaussian { spread, .. } => {
                let ks = a * spread;
                [
                    1.0 / a,
                    1.0 / ks,
                    scale * (1.0 + b) / (SQRT_2PI * a),
                    scale * b / (SQRT_2PI * ks),
                ]
            }
            _ => [0.0; 4],
        };
        SpikeFn {
            kind: *self,
            a: F::of(a),
            scale: F::of(scale),
            mg: mg.map(F::of),
        }
    }
}

impl<F: Real> SpikeFn<F> {
    /// Forward: the spike emitted at distance to threshold `v` (1 or 0; graded for `smooth_sigmoid`).
    #[inline(always)]
    pub fn spike(&self, v: F) -> F {
        match self.kind {
            Surrogate::SmoothSigmoid { .. } => F::one() / (F::one() + (-self.a * v).exp()),
            _ => {
                if v > F::zero() {
                    F::one()
                } else {
                    F::zero()
                }
            }
        }
    }

    /// [`Self::spike`] applied to every element of `v` in place (the surrogate is matched once, so
    /// the loop vectorises).
    ///
    /// The loops here are plain `for` loops, not `for_each` closures: these functions are inlined
    /// into passes compiled for the CPU's widest vector unit (pulp's run-time dispatch), and a
    /// `for_each` with a large body is kept as a separate function, compiled for the baseline CPU
    /// (SSE2: half the lanes, no AVX2). Same arithmetic either way.
    #[inline(always)]
    pub fn spike_in_place(&self, v: &mut [F]) {
        match self.kind {
            Surrogate::SmoothSigmoid { .. } => {
                for x in v.iter_mut() {
                    *x = self.spike(*x);
                }
            }
            _ => {
                for x in v.iter_mut() {
                    *x = if *x > F::zero() { F::one() } else { F::zero() };
                }
            }
        }
    }

    /// [`Self::grad`] applied to every element of `v` in place, the surrogate matched once (plain
    /// loops, see [`Self::spike_in_place`], each over one kind's formula so that it vectorises).
    #[inline(always)]
    pub fn grad_in_place(&self, v: &mut [F]) {
        macro_rules! each {
            ($f:ident) => {
                for x in v.iter_mut() {
                    *x = self.$f(*x);
                }
            };
        }
        match self.kind {
            Surrogate::FastSigmoid { .. } => each!(fast_sigmoid),
            Surrogate::Sigmoid { .. } => each!(sigmoid),
            Surrogate::SmoothSigmoid { .. } => each!(smooth_sigmoid),
            Surrogate::PiecewiseLinear { .. } => each!(piecewise_linear),
            Surrogate::MultiGaussian { .. } => each!(multi_gaussian),
            Surrogate::Arctan { .. } => each!(arctan),
            Surrogate::Exponential { .. } => each!(exponential),
            Surrogate::Boxcar { .. } => each!(boxcar),
        }
    }

    #[inline(always)]
    fn fast_sigmoid(&self, v: F) -> F {
        let d = self.a * v.abs() + F::one();
        self.scale / (d * d)
    }

    #[inline(always)]
    fn piecewise_linear(&self, v: F) -> F {
        let r = F::one() - v.abs() / self.a;
        if r > F::zero() {
            self.scale * r / self.a
        } else {
            F::zero()
        }
    }

    #[inline(always)]
    fn arctan(&self, v: F) -> F {
        let x = F::of(std::f64::consts::FRAC_PI_2) * self.a * v;
        self.scale * self.a / F::of(2.0) / (F::one() + x * x)
    }

    #[inline(always)]
    fn sigmoid(&self, v: F) -> F {
        let one = F::one();
        let s = one / (one + (-self.a * v).exp_fast());
        self.scale * self.a * s * (one - s)
    }

    #[inline(always)]
    fn smooth_sigmoid(&self, v: F) -> F {
        let one = F::one();
        let s = one / (one + (-self.a * v).exp_fast());
        self.a * s * (one - s)
    }

    /// Yin et al.'s multi-Gaussian: `(1 + h) N(v; 0, s) - h N(v; s, k s) - h N(v; -s, k s)`, times
    /// `scale`, with the constants of [`SpikeFn::mg`] (products, no divisions).
    #[inline(always)]
    fn multi_gaussian(&self, v: F) -> F {
        let [inv_s, inv_ks, c0, c1] = self.mg;
        let (s, half) = (self.a, F::of(0.5));
        let bump = |z: F| (-(half * z * z)).exp_fast();
        c0 * bump(v * inv_s) - c1 * (bump((v - s) * inv_ks) + bump((v + s) * inv_ks))
    }

    #[inline(always)]
    fn exponential(&self, v: F) -> F {
        self.scale * (-v.abs() / self.a).exp_fast()
    }

    #[inline(always)]
    fn boxcar(&self, v: F) -> F {
        if v.abs() < self.a / F::of(2.0) {
            self.scale
        } else {
            F::zero()
        }
    }

    /// Backward: the (surrogate) derivative dz/dv at `v` (exponentials through [`Real::exp_fast`], so
    /// the per-neuron loops vectorise).
    #[inline(always)]
    pub fn grad(&self, v: F) -> F {
        match self.kind {
            Surrogate::FastSigmoid { .. } => self.fast_sigmoid(v),
            Surrogate::Sigmoid { .. } => self.sigmoid(v),
            Surrogate::SmoothSigmoid { .. } => self.smooth_sigmoid(v),
            Surrogate::PiecewiseLinear { .. } => self.piecewise_linear(v),
            Surrogate::MultiGaussian { .. } => self.multi_gaussian(v),
            Surrogate::Arctan { .. } => self.arctan(v),
            Surrogate::Exponential { .. } => self.exponential(v),
            Surrogate::Boxcar { .. } => self.boxcar(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Surrogate> {
        vec![
            Surrogate::FastSigmoid {
                slope: 10.0,
                scale: 1.0,
            },
            Surrogate::Sigmoid {
                slope: 5.0,
                scale: 1.0,
            },
            Surrogate::PiecewiseLinear {
                width: 1.0,
                scale: 0.3,
            },
            Surrogate::MultiGaussian {
                sigma: 0.5,
                height: 0.15,
                spread: 6.0,
                scale: 0.5,
            },
            Surrogate::Arctan {
                slope: 2.0,
                scale: 1.0,
            },
            Surrogate::Exponential {
                width: 0.2,
                scale: 1.0,
            },
            Surrogate::Boxcar {
                width: 1.0,
                scale: 1.0,
            },
        ]
    }

    #[test]
    fn peak_values_and_symmetry() {
        for s in all() {
            let f = s.to::<f64>();
            for v in [0.05, 0.3, 1.7] {
                assert!((f.grad(v) - f.grad(-v)).abs() < 1e-15, "{s:?} symmetric");
            }
            assert_eq!(f.spike(0.0), 0.0);
            assert_eq!(f.spike(1e-9), 1.0);
        }
        // Closed-form peaks.
        assert!((all()[0].to::<f64>().grad(0.0) - 1.0).abs() < 1e-15);
        assert!((all()[1].to::<f64>().grad(0.0) - 1.25).abs() < 1e-15);
        assert!((all()[2].to::<f64>().grad(0.0) - 0.3).abs() < 1e-15);
        assert!((all()[4].to::<f64>().grad(0.0) - 1.0).abs() < 1e-15);
    }

    /// The multi-Gaussian against Yin et al.'s formula written out with divisions (f64 to 1e-14, f32
    /// to 1e-6), and every kind's in-place loop against its scalar `grad`, bit for bit.
    #[test]
    fn multi_gaussian_formula_and_in_place_loops() {
        let (sigma, h, k, scale) = (0.5, 0.15, 6.0, 0.5);
        let normal = |x: f64, mu: f64, sd: f64| {
            (-((x - mu) / sd).powi(2) / 2.0).exp() / ((2.0 * std::f64::consts::PI).sqrt() * sd)
        };
        let f64s = all()[3].to::<f64>();
        let f32s = all()[3].to::<f32>();
        for i in -60..=60 {
            let v = i as f64 * 0.07;
            let want = scale
                * ((1.0 + h) * normal(v, 0.0, sigma)
                    - h * normal(v, sigma, k * sigma)
                    - h * normal(v, -sigma, k * sigma));
            let got = f64s.grad(v);
            assert!(
                (got - want).abs() <= 1e-14 * want.abs().max(1e-3),
                "{v}: {got} vs {want}"
            );
            let got32 = f64::from(f32s.grad(v as f32));
            assert!((got32 - want).abs() <= 1e-6, "{v}: f32 {got32} vs {want}");
        }
        for s in all()
            .into_iter()
            .chain([Surrogate::SmoothSigmoid { slope: 3.0 }])
        {
            let f = s.to::<f32>();
            let mut v: Vec<f32> = (-40..40).map(|i| i as f32 * 0.09).collect();
            let want: Vec<u32> = v.iter().map(|&x| f.grad(x).to_bits()).collect();
            f.grad_in_place(&mut v);
            assert_eq!(
                v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                want,
                "{s:?}"
            );
        }
    }

    #[test]
    fn integrals_of_the_normalised_surrogates() {
        // Sigmoid, piecewise linear (scale 1), arctan integrate to scale over the real line; the
        // multi-Gaussian integrates to scale * (1 + h - 2h) = scale * (1 - h).
        let integral = |s: Surrogate| {
            let f = s.to::<f64>();
            let h = 1e-4;
            (-200_000..200_000)
                .map(|i| f.grad((i as f64 + 0.5) * h))
                .sum::<f64>()
                * h
        };
        let pwl = Surrogate::PiecewiseLinear {
            width: 0.7,
            scale: 1.0,
        };
        assert!((integral(pwl) - 1.0).abs() < 1e-6);
        let sig = Surrogate::Sigmoid {
            slope: 5.0,
            scale: 1.0,
        };
        assert!((integral(sig) - 1.0).abs() < 1e-6);
        let mg = all()[3];
        assert!((integral(mg) - 0.5 * (1.0 - 0.15)).abs() < 1e-4);
        // The smooth sigmoid's derivative is the derivative of its forward pass.
        let sm = Surrogate::SmoothSigmoid { slope: 3.0 }.to::<f64>();
        for v in [-1.0, -0.1, 0.0, 0.4] {
            let fd = (sm.spike(v + 1e-6) - sm.spike(v - 1e-6)) / 2e-6;
            assert!((fd - sm.grad(v)).abs() < 1e-8);
        }
    }

    #[test]
    fn json_round_trip_and_validation() {
        let s: Surrogate =
            serde_json::from_str(r#"{"kind": "fast_sigmoid", "slope": 25}"#).unwrap();
        assert_eq!(
            s,
            Surrogate::FastSigmoid {
                slope: 25.0,
                scale: 1.0
            }
        );
        let bad = Surrogate::Boxcar {
            width: -1.0,
            scale: 1.0,
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("surrogate.width"));
    }
}
