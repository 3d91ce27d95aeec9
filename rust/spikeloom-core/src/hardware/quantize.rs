//! Weight quantisation: `bits` of magnitude plus a sign over a symmetric range, as on chips that hold
//! an unsigned magnitude per synapse and route the sign through excitatory or inhibitory inputs.

use crate::error::{Error, Result};

/// Largest supported magnitude resolution.
pub const MAX_BITS: u32 = 24;

/// Quantises weights to the `2 (2^bits - 1) + 1` values `k * step`, `|k| <= 2^bits - 1`,
/// `step = range / (2^bits - 1)`, after clipping to `[-range, range]` (`bits = None`: clipping only).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantizer {
    pub bits: Option<u32>,
    /// Largest representable magnitude (`inf` = no clipping; then `bits` must be `None`).
    pub range: f64,
}

impl Quantizer {
    /// A validated quantiser.
    pub fn new(bits: Option<u32>, range: f64) -> Result<Self> {
        if let Some(b) = bits {
            if !(1..=MAX_BITS).contains(&b) {
                return Err(Error::param(
                    "bits",
                    format!("an integer in 1..={MAX_BITS}"),
                    b,
                ));
            }
            if !(range.is_finite() && range > 0.0) {
                return Err(Error::param(
                    "weight_range",
                    "a finite range > 0 when bits is set (the levels are range * k / (2^bits - 1))",
                    range,
                ));
            }
        }
        if range.is_nan() || range <= 0.0 {
            return Err(Error::param(
                "weight_range",
                "a value > 0 (inf = no clipping)",
                range,
            ));
        }
        Ok(Quantizer { bits, range })
    }

    /// Largest magnitude level `2^bits - 1` (None without quantisation).
    pub fn levels(&self) -> Option<u64> {
        self.bits.map(|b| (1u64 << b) - 1)
    }

    /// Distance between neighbouring levels (None without quantisation).
    pub fn step(&self) -> Option<f64> {
        self.levels().map(|n| self.range / n as f64)
    }

    /// The weight the chip holds for the float weight `w`: clipped, then rounded to the nearest level
    /// (halves away from zero, so the grid is symmetric in the sign).
    #[inline]
    pub fn apply(&self, w: f64) -> f64 {
        let c = w.clamp(-self.range, self.range);
        match self.levels() {
            None => c,
            Some(n) => {
                let n = n as f64;
                let k = (c / self.range * n).round().clamp(-n, n);
                k * self.range / n
            }
        }
    }

    /// Straight-through derivative of [`Quantizer::apply`]: 1 inside the range, 0 where clipped.
    #[inline]
    pub fn straight_through(&self, w: f64) -> f64 {
        if w.abs() <= self.range {
            1.0
        } else {
            0.0
        }
    }
}
