//! The hardware model of parameter-based networks (recurrent and DECOLLE networks, S4NN layers): a
//! chip instance as a transform of a flat parameter vector described by named tensors.
//!
//! Clock-driven networks have no closed-form spike times to perturb, so the chip enters them
//! through their parameters alone. Tensors are recognised by the last part of their name:
//! - weights (`w`, `w_in`, `w_rec`, `readout.w`, ...: names starting with `w`): quantised (over the
//!   spec's range, or without one over the tensor's own largest magnitude), times a frozen gain per
//!   synapse;
//! - time constants (`tau_*`): times a frozen gain per element;
//! - the threshold of every neuron of a spiking layer (tensors `layers.K.*`): a gain `g` applied as
//!   the neuron's incoming weights and bias divided by `g`. The membrane is linear in them (rest 0),
//!   so `u >= theta g` and `u / g >= theta` cross on the same step; with threshold adaptation the
//!   adaptation is scaled along (`theta_0 g + beta g a`). The neuron is the last axis of a weight
//!   matrix (`[n_pre, n_post]`) and the element of a bias;
//! - everything else (readout biases, DECOLLE's fixed local readouts) is left alone.
//!
//! The gains come from one ChaCha8 stream of the chip's seed: for every tensor in name order, one
//! normal draw per element of a weight or time-constant tensor, then for every spiking layer in name
//! order one per neuron (drawn even for zero spreads, so changing one spread leaves the others' draws
//! alone). Gains `1 + sd z` are truncated at [`MIN_GAIN`]. The same `(spec, tensors, seed)` always
//! gives the same chip.

use super::chip::{HardwareSpec, MIN_GAIN};
use crate::error::{Error, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::collections::BTreeMap;
use std::ops::Range;

/// A named tensor of a flat parameter vector: name, shape and the range it occupies.
pub type TensorInfo = (String, Vec<usize>, Range<usize>);

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    /// Quantised; `gain` holds synapse gain / threshold gain.
    Weight,
    /// Divided by the threshold gain (`gain` holds its inverse).
    Bias,
    /// Times `gain`.
    Tau,
}

/// One chip instance for a parameter vector (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct ParamChip {
    pub spec: HardwareSpec,
    pub seed: u64,
    /// Tensors the chip changes, with their kind.
    tensors: Vec<(Range<usize>, Kind)>,
    /// Per element: the multiplier of the (quantised) parameter (1 where nothing applies).
    gain: Vec<f64>,
    len: usize,
}

fn draw(rng: &mut ChaCha8Rng, sd: f64) -> f64 {
    let z: f64 = StandardNormal.sample(rng);
    if sd == 0.0 {
        1.0
    } else {
        (1.0 + sd * z).max(MIN_GAIN)
    }
}

/// `("layers.3", "w_in")` for `"layers.3.w_in"`; the prefix is empty for a bare name.
fn split(name: &str) -> (&str, &str) {
    name.rsplit_once('.').unwrap_or(("", name))
}

impl ParamChip {
    /// Draw chip `seed` for a parameter vector of length `len` made of `tensors`.
    pub fn sample(
        spec: &HardwareSpec,
        tensors: &[TensorInfo],
        len: usize,
        seed: u64,
    ) -> Result<Self> {
        spec.validate_for_params()?;
        let mut sorted: Vec<&TensorInfo> = tensors.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, shape, r) in &sorted {
            if r.end > len || shape.iter().product::<usize>() != r.len() {
                return Err(Error::shape(
                    "tensors",
                    format!("tensors inside a vector of {len} parameters whose shapes match their ranges"),
                    format!("{name}: shape {shape:?} at {}..{}", r.start, r.end),
                ));
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut gain = vec![1.0; len];
        let mut out = Vec::new();
        for (name, _, r) in &sorted {
            let (_, leaf) = split(name);
            let (kind, sd) = if leaf.starts_with('w') {
                (Kind::Weight, spec.weight_mismatch)
            } else if leaf.starts_with("tau") {
                (Kind::Tau, spec.tau_mismatch)
            } else {
                continue;
            };
            for g in &mut gain[r.clone()] {
                *g = draw(&mut rng, sd);
            }
            out.push((r.clone(), kind));
        }
        // Threshold gains of the spiking layers, applied to their incoming weights and biases.
        let mut layers: BTreeMap<&str, Vec<&TensorInfo>> = BTreeMap::new();
        for t in &sorted {
            let (prefix, leaf) = split(&t.0);
            if prefix.starts_with("layers") && (leaf.starts_with('w') || leaf == "bias") {
                layers.entry(prefix).or_default().push(t);
            }
        }
        for (prefix, members) in layers {
            let n = members[0].1.last().copied().unwrap_or(0);
            if let Some(bad) = members.iter().find(|t| t.1.last().copied() != Some(n)) {
                return Err(Error::shape(
                    "tensors",
                    format!("the tensors of {prefix} all ending in its {n} neurons"),
                    format!("{}: shape {:?}", bad.0, bad.1),
                ));
            }
            let thr: Vec<f64> = (0..n)
                .map(|_| draw(&mut rng, spec.threshold_mismatch))
                .collect();
            for (name, _, r) in members {
                // Row by row (the neuron is the last axis): no integer division per element.
                for row in gain[r.clone()].chunks_mut(n.max(1)) {
                    for (g, t) in row.iter_mut().zip(&thr) {
                        *g /= t;
                    }
                }
                if split(name).1 == "bias" {
                    out.push((r.clone(), Kind::Bias));
                }
            }
        }
        Ok(ParamChip {
            spec: spec.clone(),
            seed,
            tensors: out,
            gain,
            len,
        })
    }

    fn check(&self, params: &[f64]) -> Result<()> {
        if params.len() == self.len {
            Ok(())
        } else {
            Err(Error::shape(
                "params",
                format!("the {} parameters the chip was drawn for", self.len),
                params.len(),
            ))
        }
    }

    /// Clip every weight to the spec's range (no-op without one): the shadow weights of hardware
    /// training stay where the chip can follow them (beyond the range a weight has no effect and no
    /// straight-through gradient, so it could only drift).
    pub fn clamp_weights(&self, params: &mut [f64]) {
        let Some(r) = self.spec.weight_range.filter(|r| r.is_finite()) else {
            return;
        };
        for (range, kind) in &self.tensors {
            if *kind == Kind::Weight {
                params[range.clone()]
                    .iter_mut()
                    .for_each(|w| *w = w.clamp(-r, r));
            }
        }
    }

    /// The range a weight tensor is quantised over: the spec's, or (bits without a range) the
    /// tensor's largest magnitude (1 for an all-zero tensor).
    fn range_of(&self, w: &[f64]) -> f64 {
        match (self.spec.weight_range, self.spec.bits) {
            (Some(r), _) => r,
            (None, Some(_)) => {
                let m = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                if m > 0.0 {
                    m
                } else {
                    1.0
                }
            }
            (None, None) => f64::INFINITY,
        }
    }

    /// The parameters the chip runs for `params` (written to `out`) and, with `chain`, the
    /// derivative of each effective parameter with respect to its own parameter (straight through
    /// the quantiser: zero where a weight is clipped).
    pub fn effective(
        &self,
        params: &[f64],
        out: &mut Vec<f64>,
        chain: Option<&mut Vec<f64>>,
    ) -> Result<()> {
        self.check(params)?;
        out.clear();
        out.extend_from_slice(params);
        let mut chain = chain;
        if let Some(c) = chain.as_deref_mut() {
            c.clear();
            c.resize(self.len, 1.0);
        }
        for (r, kind) in &self.tensors {
            let g = &self.gain[r.clone()];
            match kind {
                Kind::Weight => {
                    let q =
                        super::Quantizer::new(self.spec.bits, self.range_of(&params[r.clone()]))?;
                    for ((o, &w), &gi) in out[r.clone()].iter_mut().zip(&params[r.clone()]).zip(g) {
                        *o = q.apply(w) * gi;
                    }
                    if let Some(c) = chain.as_deref_mut() {
                        for ((c, &w), &gi) in c[r.clone()].iter_mut().zip(&params[r.clone()]).zip(g)
                        {
                            *c = q.straight_through(w) * gi;
                        }
                    }
                }
                Kind::Bias | Kind::Tau => {
                    for (o, &gi) in out[r.clone()].iter_mut().zip(g) {
                        *o *= gi;
                    }
                    if let Some(c) = chain.as_deref_mut() {
                        c[r.clone()].copy_from_slice(g);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensors() -> Vec<TensorInfo> {
        vec![
            ("layers.0.w_in".into(), vec![3, 2], 0..6),
            ("layers.0.w_rec".into(), vec![2, 2], 6..10),
            ("layers.0.bias".into(), vec![2], 10..12),
            ("readout.w".into(), vec![2, 1], 12..14),
            ("readout.bias".into(), vec![1], 14..15),
            ("layers.0.tau_mem".into(), vec![2], 15..17),
            ("readout.tau".into(), vec![1], 17..18),
        ]
    }

    fn params() -> Vec<f64> {
        (0..18).map(|i| 0.37 * (i as f64 - 8.3)).collect()
    }

    #[test]
    fn an_ideal_chip_changes_nothing() {
        let chip = ParamChip::sample(&HardwareSpec::default(), &tensors(), 18, 3).unwrap();
        let (mut out, mut chain) = (Vec::new(), Vec::new());
        chip.effective(&params(), &mut out, Some(&mut chain))
            .unwrap();
        assert_eq!(out, params());
        assert!(chain.iter().all(|&c| c == 1.0));
    }

    #[test]
    fn thresholds_divide_the_incoming_weights_and_bias_of_their_neuron() {
        let spec = HardwareSpec {
            threshold_mismatch: 0.2,
            ..Default::default()
        };
        let chip = ParamChip::sample(&spec, &tensors(), 18, 5).unwrap();
        let p = params();
        let mut out = Vec::new();
        chip.effective(&p, &mut out, None).unwrap();
        // One factor per neuron (the last axis), shared by w_in, w_rec and bias.
        let f: Vec<f64> = (0..18).map(|i| out[i] / p[i]).collect();
        for j in 0..2 {
            let g = f[10 + j];
            assert!((g - 1.0).abs() > 1e-6);
            for i in (j..10).step_by(2) {
                assert!((f[i] - g).abs() < 1e-12, "element {i}");
            }
        }
        // Readout and time constants untouched.
        assert_eq!(&out[12..], &p[12..]);
    }

    #[test]
    fn quantised_weights_sit_on_the_grid_and_the_chain_is_a_straight_through_derivative() {
        let spec = HardwareSpec {
            bits: Some(3),
            weight_range: Some(1.5),
            weight_mismatch: 0.1,
            tau_mismatch: 0.1,
            ..Default::default()
        };
        let chip = ParamChip::sample(&spec, &tensors(), 18, 9).unwrap();
        let p = params();
        let (mut out, mut chain) = (Vec::new(), Vec::new());
        chip.effective(&p, &mut out, Some(&mut chain)).unwrap();
        // With no threshold spread, effective / gain is a level k * 1.5 / 7, |k| <= 7.
        let bare = ParamChip::sample(
            &HardwareSpec {
                bits: Some(3),
                weight_range: Some(1.5),
                ..spec.clone()
            },
            &tensors(),
            18,
            9,
        )
        .unwrap();
        for i in (0..10).chain(12..14) {
            let k = out[i] / bare.gain[i] / 1.5 * 7.0;
            assert!((k - k.round()).abs() < 1e-9 && k.abs() <= 7.0 + 1e-9);
            // Straight through: the gain inside the range, zero where clipped.
            let expect = if p[i].abs() <= 1.5 { bare.gain[i] } else { 0.0 };
            assert_eq!(chain[i], expect);
        }
        // Time constants: times their gain, chain = gain (an exact derivative).
        for i in 15..18 {
            assert!((out[i] - p[i] * chain[i]).abs() < 1e-15);
        }
        // Away from the levels' rounding boundaries the chain is the derivative of the unquantised
        // transform (central differences with the quantiser off).
        let smooth = ParamChip::sample(
            &HardwareSpec {
                bits: None,
                weight_range: None,
                ..spec
            },
            &tensors(),
            18,
            9,
        )
        .unwrap();
        let mut c2 = Vec::new();
        smooth.effective(&p, &mut out, Some(&mut c2)).unwrap();
        for i in 0..18 {
            let h = 1e-6;
            let (mut a, mut b) = (p.clone(), p.clone());
            a[i] += h;
            b[i] -= h;
            let (mut oa, mut ob) = (Vec::new(), Vec::new());
            smooth.effective(&a, &mut oa, None).unwrap();
            smooth.effective(&b, &mut ob, None).unwrap();
            let fd = (oa[i] - ob[i]) / (2.0 * h);
            assert!((fd - c2[i]).abs() < 1e-8, "element {i}: {fd} vs {}", c2[i]);
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_chip_and_tensor_order_does_not_matter() {
        let spec = HardwareSpec {
            weight_mismatch: 0.1,
            threshold_mismatch: 0.1,
            tau_mismatch: 0.1,
            ..Default::default()
        };
        let a = ParamChip::sample(&spec, &tensors(), 18, 1).unwrap();
        let mut rev = tensors();
        rev.reverse();
        let b = ParamChip::sample(&spec, &rev, 18, 1).unwrap();
        assert_eq!(a.gain, b.gain);
        let c = ParamChip::sample(&spec, &tensors(), 18, 2).unwrap();
        assert_ne!(a.gain, c.gain);
    }

    #[test]
    fn bits_without_a_range_quantise_over_each_tensors_largest_magnitude() {
        let spec = HardwareSpec {
            bits: Some(2),
            ..Default::default()
        };
        let chip = ParamChip::sample(&spec, &tensors(), 18, 0).unwrap();
        let p = params();
        let mut out = Vec::new();
        chip.effective(&p, &mut out, None).unwrap();
        let m = p[0..6].iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for o in &out[..6] {
            let k = o / m * 3.0;
            assert!((k - k.round()).abs() < 1e-9);
        }
    }

    #[test]
    fn bad_tensors_and_lengths_are_refused() {
        let spec = HardwareSpec::default();
        let mut t = tensors();
        t[0].1 = vec![4, 2];
        assert!(ParamChip::sample(&spec, &t, 18, 0).is_err());
        assert!(ParamChip::sample(&spec, &tensors(), 10, 0).is_err());
        let chip = ParamChip::sample(&spec, &tensors(), 18, 0).unwrap();
        assert!(chip.effective(&[0.0; 5], &mut Vec::new(), None).is_err());
    }
}
