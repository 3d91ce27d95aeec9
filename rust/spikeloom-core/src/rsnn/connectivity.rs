//! Sparse random connectivity of a layer's input or recurrent projection.
//!
//! A projection with connection probability `p < 1` keeps each synapse `(j, k)` (presynaptic `j`,
//! postsynaptic `k`) independently with probability `p`, drawn once from the network's
//! `connectivity_seed`, so the same description always gives the same synapses (saved files carry the
//! seed, not the mask). The weights stay in the dense `[n_pre x n]` tensor, with zeros where there is no
//! synapse (what `parameters()` shows); the engine walks the kept synapses of each presynaptic unit in
//! compressed-sparse-row form ([`Csr`]), so every event costs its fan-out, and the weight gradient is
//! formed only for kept synapses (absent ones stay exactly zero).

use super::real::Real;
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

    /// A dense 0/1 mask `[n_pre x n]` of the kept synapses (for checks against dense references).
    #[cfg(test)]
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

/// A sparse projection in the simulation's float type: the kept synapses with their weights stored
/// contiguously in row order (gathered once per batch from the dense tensor), so walking a row reads
/// consecutive memory.
#[derive(Clone, Debug)]
pub struct SparseBlock<F: Real> {
    pub csr: Csr,
    pub vals: Vec<F>,
}

impl<F: Real> SparseBlock<F> {
    /// Gather the kept weights of the row-major `[n_pre x n]` tensor `w`.
    pub fn gather(csr: &Csr, w: &[F]) -> Self {
        let mut vals = Vec::with_capacity(csr.nnz());
        for j in 0..csr.n_pre {
            vals.extend(csr.targets(j).iter().map(|&k| w[j * csr.n + k as usize]));
        }
        SparseBlock {
            csr: csr.clone(),
            vals,
        }
    }

    /// Targets and weights of presynaptic unit `j`.
    #[inline(always)]
    pub fn row(&self, j: usize) -> (&[u32], &[F]) {
        let r = self.csr.ptr[j]..self.csr.ptr[j + 1];
        (&self.csr.cols[r.clone()], &self.vals[r])
    }

    /// `cur += v W[j]` over the kept synapses of unit `j`.
    #[inline(always)]
    pub fn add_row(&self, cur: &mut [F], v: F, j: usize) {
        let (cols, vals) = self.row(j);
        for (&k, &w) in cols.iter().zip(vals) {
            cur[k as usize] += v * w;
        }
    }

    /// `ys[s][j] += sum over the kept synapses (j, k) of W[j, k] g[s][k]` for up to four samples,
    /// with the factors interleaved (`g4[4 k + s]`, zero for missing samples): per synapse, one index,
    /// one weight and one 4-wide load of the factors. The synapses of a row are summed in four
    /// independent partial sums (synapse `i` into sum `i mod 4`, added in that order at the end), so
    /// the additions do not wait on each other; the order is fixed by the synapse order.
    #[inline(always)]
    pub fn product(&self, ys: &mut [&mut [F]], g4: &[F]) {
        let zero = F::zero();
        for j in 0..self.csr.n_pre {
            let (cols, vals) = self.row(j);
            let mut a = [[zero; 4]; 4];
            let mut quads = cols.chunks_exact(4).zip(vals.chunks_exact(4));
            for (ks, ws) in &mut quads {
                for p in 0..4 {
                    let (k, w) = (ks[p] as usize, ws[p]);
                    let g = &g4[4 * k..4 * k + 4];
                    for s in 0..4 {
                        a[p][s] += w * g[s];
                    }
                }
            }
            let rest = cols.len() / 4 * 4;
            for (p, (&k, &w)) in cols[rest..].iter().zip(&vals[rest..]).enumerate() {
                let g = &g4[4 * k as usize..4 * k as usize + 4];
                for s in 0..4 {
                    a[p][s] += w * g[s];
                }
            }
            for (s, y) in ys.iter_mut().enumerate() {
                y[j] += ((a[0][s] + a[1][s]) + a[2][s]) + a[3][s];
            }
        }
    }
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

    /// The sparse products equal dense ones on the masked matrix.
    #[test]
    fn sparse_products_match_the_masked_dense_matrix() {
        let (n_pre, n) = (9, 13);
        let c = Csr::random(n_pre, n, 0.4, false, 1, 0);
        let w: Vec<f64> = (0..n_pre * n)
            .map(|i| ((i * 29 % 17) as f64 - 8.0) / 3.0)
            .collect();
        let m = c.mask();
        let b = SparseBlock::gather(&c, &w);
        let gs: Vec<Vec<f64>> = (0..4)
            .map(|s| (0..n).map(|k| (k * (s + 1)) as f64 - 4.0).collect())
            .collect();
        for ns in [1, 3, 4] {
            let mut ys: Vec<Vec<f64>> = vec![vec![0.5; n_pre]; ns];
            let mut g4 = vec![0.0; 4 * n];
            for s in 0..ns {
                for k in 0..n {
                    g4[4 * k + s] = gs[s][k];
                }
            }
            let mut y_refs: Vec<&mut [f64]> = ys.iter_mut().map(|y| y.as_mut_slice()).collect();
            b.product(&mut y_refs, &g4);
            for s in 0..ns {
                for j in 0..n_pre {
                    let want: f64 = 0.5
                        + (0..n)
                            .filter(|&k| m[j * n + k])
                            .map(|k| w[j * n + k] * gs[s][k])
                            .sum::<f64>();
                    assert!((ys[s][j] - want).abs() < 1e-9);
                }
            }
        }
        let mut cur = vec![0.0; n];
        b.add_row(&mut cur, 2.0, 4);
        for k in 0..n {
            assert_eq!(
                cur[k],
                if m[4 * n + k] {
                    2.0 * w[4 * n + k]
                } else {
                    0.0
                }
            );
        }
    }
}
