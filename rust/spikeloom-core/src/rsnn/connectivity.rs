//! Sparse random connectivity of a layer's input or recurrent projection.
//!
//! A projection with connection probability `p < 1` keeps each synapse `(j, k)` (presynaptic `j`,
//! postsynaptic `k`) independently with probability `p`, drawn once from the network's
//! `connectivity_seed`, so the same description always gives the same synapses (saved files carry the
//! seed, not the mask). The weights stay in the dense `[n_pre x n]` tensor, with zeros where there is no
//! synapse (what `parameters()` shows); the engine walks the kept synapses of each presynaptic unit in
//! compressed-sparse-row form ([`Csr`]), so every event costs its fan-out, and the weight gradient is
//! formed only for kept synapses (absent ones stay exactly zero).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The kept synapses of a `[n_pre x n]` projection: the targets of presynaptic unit `j` are
/// `cols[ptr[j] .. ptr[j + 1]]`, in increasing order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Csr {
    pub n_pre: usize,
    pub n: usize,
    pub ptr: Vec<usize>,
    pub cols: Vec<u32>,
}

impl Csr {
    /// Keep each synapse with probability `p` (never the diagonal when `no_self`), from a stream
    /// seeded by `seed` and the projection's `stream` number.
    pub fn random(n_pre: usize, n: usize, p: f64, no_self: bool, seed: u64, stream: u64) -> Self {
        // One independent stream per projection: the seed mixed with the stream number.
        let mut rng = ChaCha8Rng::seed_from_u64(
            seed ^ stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let mut ptr = Vec::with_capacity(n_pre + 1);
        let mut cols = Vec::new();
        ptr.push(0);
        for j in 0..n_pre {
            for k in 0..n {
                // Draw for every pair (also the diagonal) so that the pattern off the diagonal does
                // not depend on `no_self`.
                let keep = rng.random::<f64>() < p;
                if keep && !(no_self && j == k) {
                    cols.push(k as u32);
                }
            }
            ptr.push(cols.len());
        }
        Csr {
            n_pre,
            n,
            ptr,
            cols,
        }
    }

    /// The targets of presynaptic unit `j`.
    #[inline(always)]
    pub fn targets(&self, j: usize) -> &[u32] {
        &self.cols[self.ptr[j]..self.ptr[j + 1]]
    }

    /// Number of kept synapses.
    pub fn nnz(&self) -> usize {
        self.cols.len()
    }

    /// A dense 0/1 mask `[n_pre x n]` of the kept synapses.
    pub fn mask(&self) -> Vec<bool> {
        let mut m = vec![false; self.n_pre * self.n];
        for j in 0..self.n_pre {
            for &k in self.targets(j) {
                m[j * self.n + k as usize] = true;
            }
        }
        m
    }
}

/// The sparse projections of one layer (`None` = dense).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerConnectivity {
    pub w_in: Option<Csr>,
    pub w_rec: Option<Csr>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_connectivity_has_the_requested_density_and_is_seeded() {
        let c = Csr::random(200, 300, 0.1, true, 7, 3);
        let density = c.nnz() as f64 / (200.0 * 300.0);
        assert!((density - 0.1).abs() < 0.005, "{density}");
        assert_eq!(c, Csr::random(200, 300, 0.1, true, 7, 3));
        assert_ne!(c, Csr::random(200, 300, 0.1, true, 8, 3));
        assert_ne!(c, Csr::random(200, 300, 0.1, true, 7, 4));
        let m = c.mask();
        assert!((0..200).all(|k| !m[k * 300 + k]), "no self-connections");
        for j in 0..200 {
            assert!(c.targets(j).windows(2).all(|w| w[0] < w[1]));
        }
    }
}
