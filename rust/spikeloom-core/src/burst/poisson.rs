//! Cheap random numbers for the network's background drive: a xoshiro256++ generator (Blackman &
//! Vigna 2019; seeded through SplitMix64) and an alias-table sampler of Poisson counts.
//!
//! The background of a population is `n` independent Poisson processes of rate `r` per source. Their
//! superposition over one step is a single Poisson count `C ~ Poisson(n r dt)` whose events land on
//! uniformly drawn neurons, so a step costs one table draw plus one 32-bit index per event (two
//! indices per 64-bit draw) instead of one random number per neuron and step.

use crate::error::{Error, Result};

/// xoshiro256++ pseudo-random generator (period 2^256 - 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Xoshiro256pp {
    s: [u64; 4],
}

#[inline]
fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Xoshiro256pp {
    /// Generator for `seed` and stream number `stream` (distinct streams are decorrelated by
    /// SplitMix64 seeding, as recommended by the generator's authors).
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut x = seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut s = [0u64; 4];
        for v in &mut s {
            *v = splitmix64(&mut x);
        }
        if s == [0; 4] {
            s[0] = 1;
        }
        Xoshiro256pp { s }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform draw in [0, 1) with 53 random bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Index in `0..n` from 32 random bits by multiply-shift (bias below `n / 2^32`, about 1e-7 for the
/// population sizes used here).
#[inline]
pub fn index32(bits: u32, n: u32) -> u32 {
    ((bits as u64 * n as u64) >> 32) as u32
}

/// Alias table (Walker / Vose) of the Poisson(mean) distribution truncated where the tail mass
/// falls below 2e-19.
#[derive(Clone, Debug, PartialEq)]
pub struct PoissonAlias {
    pub mean: f64,
    prob: Vec<f64>,
    alias: Vec<u32>,
}

impl PoissonAlias {
    pub fn new(mean: f64) -> Result<Self> {
        if !(mean.is_finite() && (0.0..=1e4).contains(&mean)) {
            return Err(Error::param(
                "background mean count per step",
                "a finite value in [0, 1e4] (population size x rate x dt)",
                mean,
            ));
        }
        // pmf in log space, up to the first k > 2 mean + 10 with p_k < 1e-19: the remaining tail is
        // below p_k / (1 - mean / k) < 2e-19.
        let mut pmf = Vec::new();
        let mut log_p = -mean;
        let mut k = 0u32;
        loop {
            let p = log_p.exp();
            pmf.push(p);
            k += 1;
            if mean == 0.0 || (k as f64 > 2.0 * mean + 10.0 && p < 1e-19) {
                break;
            }
            log_p += mean.ln() - (k as f64).ln();
        }
        let total: f64 = pmf.iter().sum();
        let m = pmf.len();
        let mut scaled: Vec<f64> = pmf.iter().map(|p| p / total * m as f64).collect();
        let mut prob = vec![1.0; m];
        let mut alias: Vec<u32> = (0..m as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..m).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            prob[s] = scaled[s];
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        Ok(PoissonAlias { mean, prob, alias })
    }

    /// Number of table entries (largest count + 1).
    pub fn len(&self) -> usize {
        self.prob.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prob.is_empty()
    }

    /// One Poisson count from one 64-bit draw.
    #[inline]
    pub fn sample(&self, rng: &mut Xoshiro256pp) -> u32 {
        let m = self.prob.len();
        let x = (rng.next_u64() >> 11) as f64 * (m as f64 / (1u64 << 53) as f64);
        let k = (x as usize).min(m - 1);
        if x - (k as f64) < self.prob[k] {
            k as u32
        } else {
            self.alias[k]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_deterministic_and_distinct() {
        let mut a = Xoshiro256pp::new(7, 1);
        let mut b = Xoshiro256pp::new(7, 1);
        let mut c = Xoshiro256pp::new(7, 2);
        let va: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let vb: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let vc: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(va, vb);
        assert_ne!(va, vc);
    }

    #[test]
    fn alias_poisson_matches_pmf() {
        for mean in [0.0, 0.05, 3.0, 25.0, 180.0] {
            let tab = PoissonAlias::new(mean).unwrap();
            let mut rng = Xoshiro256pp::new(11, 0);
            let n = 400_000;
            let mut hist = vec![0u64; 600];
            let (mut s1, mut s2) = (0.0, 0.0);
            for _ in 0..n {
                let k = tab.sample(&mut rng) as usize;
                hist[k] += 1;
                s1 += k as f64;
                s2 += (k * k) as f64;
            }
            let m = s1 / n as f64;
            let var = s2 / n as f64 - m * m;
            let se = (mean.max(1e-9) / n as f64).sqrt();
            assert!((m - mean).abs() < 5.0 * se + 1e-12, "mean {mean}: {m}");
            if mean > 0.0 {
                assert!((var / mean - 1.0).abs() < 0.02, "variance {mean}: {var}");
            }
            // chi-square over cells with expected count >= 20
            let mut chi2 = 0.0;
            let mut cells = 0;
            let mut logp = -mean;
            for (k, &h) in hist.iter().enumerate() {
                if k > 0 {
                    logp += mean.ln() - (k as f64).ln();
                }
                let e = n as f64 * logp.exp();
                if e >= 20.0 {
                    chi2 += (h as f64 - e).powi(2) / e;
                    cells += 1;
                }
            }
            if cells > 1 {
                let dof = (cells - 1) as f64;
                assert!(
                    chi2 < dof + 6.0 * (2.0 * dof).sqrt(),
                    "chi2 {chi2} dof {dof} mean {mean}"
                );
            }
        }
        assert!(PoissonAlias::new(-1.0).is_err());
        // the table stays small (cache-resident): ~ mean + 10 sqrt(mean) + 10 entries
        assert!(PoissonAlias::new(25.0).unwrap().len() < 90);
        assert_eq!(PoissonAlias::new(0.0).unwrap().len(), 1);
    }

    #[test]
    fn index32_is_uniform() {
        let mut rng = Xoshiro256pp::new(3, 0);
        let n = 7u32;
        let mut hist = [0u64; 7];
        let draws = 700_000;
        for _ in 0..draws / 2 {
            let u = rng.next_u64();
            hist[index32(u as u32, n) as usize] += 1;
            hist[index32((u >> 32) as u32, n) as usize] += 1;
        }
        let e = draws as f64 / 7.0;
        let chi2: f64 = hist.iter().map(|&h| (h as f64 - e).powi(2) / e).sum();
        assert!(chi2 < 6.0 + 6.0 * 12f64.sqrt(), "{chi2}");
    }
}
