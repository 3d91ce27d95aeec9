//! The static sparse recurrent weights `G * Omega0` of a FORCE reservoir, stored by presynaptic neuron
//! so that a spike costs its fan-out.

use crate::error::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// `W_ij = g * x_ij * m_ij / (p sqrt(n))` with `x ~ N(0,1)`, `m ~ Bernoulli(p)` (self-connections
/// allowed, as in the reference scripts); with `balance`, each row's mean over its nonzero entries is
/// subtracted, so every neuron's static input weights sum to exactly zero.
#[derive(Clone, Debug, PartialEq)]
pub struct StaticWeights {
    pub n: usize,
    /// CSR by presynaptic neuron `j`: its targets `post[ptr[j]..ptr[j+1]]` and weights.
    pub ptr: Vec<usize>,
    pub post: Vec<u32>,
    pub weight: Vec<f64>,
}

impl StaticWeights {
    pub fn random(n: usize, p: f64, g: f64, balance: bool, seed: u64) -> Result<Self> {
        if !(p > 0.0 && p <= 1.0) {
            return Err(Error::param("p", "a connection probability in (0, 1]", p));
        }
        if !g.is_finite() {
            return Err(Error::param("g", "a finite gain", g));
        }
        if n == 0 || n > u32::MAX as usize {
            return Err(Error::param("n", "between 1 and 2^32 - 1 neurons", n));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let scale = g / (p * (n as f64).sqrt());
        let log_q = (1.0 - p).ln();
        // Rows (postsynaptic), drawn by geometric skipping over the columns.
        let mut rows: Vec<(u32, u32, f64)> = Vec::with_capacity((n as f64 * n as f64 * p) as usize);
        let mut cols: Vec<u32> = Vec::new();
        let mut vals: Vec<f64> = Vec::new();
        for i in 0..n {
            cols.clear();
            vals.clear();
            if p >= 1.0 {
                cols.extend(0..n as u32);
            } else {
                let mut k: f64 = -1.0;
                loop {
                    let u: f64 = 1.0 - rng.random::<f64>();
                    k += 1.0 + (u.ln() / log_q).floor();
                    if k >= n as f64 {
                        break;
                    }
                    cols.push(k as u32);
                }
            }
            for _ in 0..cols.len() {
                let x: f64 = StandardNormal.sample(&mut rng);
                vals.push(scale * x);
            }
            if balance && !vals.is_empty() {
                let mean = vals.iter().sum::<f64>() / vals.len() as f64;
                vals.iter_mut().for_each(|v| *v -= mean);
            }
            rows.extend(cols.iter().zip(&vals).map(|(&j, &w)| (j, i as u32, w)));
        }
        Ok(Self::from_triplets(n, &rows))
    }

    /// From `(pre, post, weight)` triplets (any order; the order within a presynaptic row is kept).
    pub fn from_triplets(n: usize, t: &[(u32, u32, f64)]) -> Self {
        let mut ptr = vec![0usize; n + 1];
        for &(j, _, _) in t {
            ptr[j as usize + 1] += 1;
        }
        for j in 0..n {
            ptr[j + 1] += ptr[j];
        }
        let mut fill = ptr.clone();
        let mut post = vec![0u32; t.len()];
        let mut weight = vec![0.0; t.len()];
        for &(j, i, w) in t {
            let e = fill[j as usize];
            post[e] = i;
            weight[e] = w;
            fill[j as usize] += 1;
        }
        StaticWeights {
            n,
            ptr,
            post,
            weight,
        }
    }

    /// Check user-given CSR arrays.
    pub fn validate(&self) -> Result<()> {
        if self.ptr.len() != self.n + 1
            || self.ptr[0] != 0
            || self.ptr.windows(2).any(|w| w[0] > w[1])
            || self.ptr[self.n] != self.post.len()
            || self.post.len() != self.weight.len()
        {
            return Err(Error::shape(
                "weights",
                format!("CSR arrays of a {0} x {0} matrix", self.n),
                "inconsistent indptr/indices/data",
            ));
        }
        if let Some(&i) = self.post.iter().find(|&&i| i as usize >= self.n) {
            return Err(Error::param(
                "weights",
                format!("neuron indices in 0..{}", self.n),
                i,
            ));
        }
        crate::error::ensure_all_finite("weights", &self.weight)
    }

    /// Add column `j` (the outgoing weights of neuron `j`) times `scale` into `acc`.
    #[inline]
    pub fn add_column(&self, j: usize, scale: f64, acc: &mut [f64]) {
        let (lo, hi) = (self.ptr[j], self.ptr[j + 1]);
        for (&i, &w) in self.post[lo..hi].iter().zip(&self.weight[lo..hi]) {
            acc[i as usize] += w * scale;
        }
    }

    pub fn n_synapses(&self) -> usize {
        self.post.len()
    }
}
