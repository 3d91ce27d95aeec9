//! The O(N^2) pass of RLS over rows of the packed upper triangle of `P`: optionally fold pending
//! rank-1 corrections into the stored entries, and accumulate the rows' share of the symmetric
//! product `P r`.
//!
//! Rows are taken four at a time: each column chunk of four entries of the four rows is loaded once
//! and used for both halves of the symmetric product (the rows' dot products with `r`, kept in lane
//! accumulators, and `y_j += P_ij r_i` for the transposed entries, one load and store of `y` per
//! four rows), so a pass does two fused multiply-adds per stored entry and little else. The lanes
//! are AVX2 + FMA registers when the CPU has them and arrays otherwise (see [`super::lanes`]): the
//! same operations in the same order, so the results are identical on every CPU. The order of the
//! additions depends only on the block's row range, not on the thread that runs it.

use super::lanes::{Lanes, Scalar};
use super::rls::FOLD;

/// A stored entry of `P` (f64, or f32: widened when read, rounded when written).
pub(crate) trait Entry: Copy + Send + Sync {
    fn get(self) -> f64;
    fn put(x: f64) -> Self;
    fn load<L: Lanes>(s: L, a: &[Self]) -> L::V;
    fn store<L: Lanes>(s: L, a: &mut [Self], v: L::V);
    /// The value that [`Entry::store`] keeps, widened back.
    fn round<L: Lanes>(s: L, v: L::V) -> L::V;
}

impl Entry for f64 {
    #[inline(always)]
    fn get(self) -> f64 {
        self
    }
    #[inline(always)]
    fn put(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn load<L: Lanes>(s: L, a: &[f64]) -> L::V {
        s.load(a)
    }
    #[inline(always)]
    fn store<L: Lanes>(s: L, a: &mut [f64], v: L::V) {
        s.store(a, v)
    }
    #[inline(always)]
    fn round<L: Lanes>(_: L, v: L::V) -> L::V {
        v
    }
}

impl Entry for f32 {
    #[inline(always)]
    fn get(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn put(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn load<L: Lanes>(s: L, a: &[f32]) -> L::V {
        s.load_f32(a)
    }
    #[inline(always)]
    fn store<L: Lanes>(s: L, a: &mut [f32], v: L::V) {
        s.store_f32(a, v)
    }
    #[inline(always)]
    fn round<L: Lanes>(s: L, v: L::V) -> L::V {
        s.round_f32(v)
    }
}

/// The pending vectors `c_m` of a fold in column tiles: `tiles[(j / 4) * 4 FOLD + 4 m + j % 4] =
/// c_m[j]` (zero past the last column and for absent terms), so a chunk of four columns of all
/// terms is one contiguous slice.
pub(crate) fn pack_tiles(n: usize, terms: &[(&[f64], f64)], tiles: &mut Vec<f64>) {
    tiles.clear();
    tiles.resize(n.div_ceil(4) * 4 * FOLD, 0.0);
    for (m, &(c, _)) in terms.iter().enumerate() {
        for (j, &x) in c.iter().enumerate() {
            tiles[(j / 4) * 4 * FOLD + 4 * m + j % 4] = x;
        }
    }
}

/// Rows `a..b` of the packed triangle (`tri` starts at row a; `a` a multiple of 4): apply
/// `P -= sum s c c^T` over `terms` (exactly [`FOLD`] of them, in order, in f64, one rounding to the
/// storage type per entry; zero terms change nothing; none: read only; `tiles` from [`pack_tiles`])
/// and write the block's share of `P r` (with the new values) into `part` (indices a..n).
#[allow(clippy::too_many_arguments)]
pub(crate) fn block_pass<T: Entry>(
    n: usize,
    a: usize,
    b: usize,
    tri: &mut [T],
    part: &mut [f64],
    terms: &[(&[f64], f64)],
    tiles: &[f64],
    r: &[f64],
) {
    assert!(terms.is_empty() || terms.len() == FOLD);
    assert!(a % 4 == 0);
    struct Op<'a, L, T> {
        s: L,
        n: usize,
        a: usize,
        b: usize,
        tri: &'a mut [T],
        part: &'a mut [f64],
        terms: &'a [(&'a [f64], f64)],
        tiles: &'a [f64],
        r: &'a [f64],
    }
    impl<L: Lanes, T: Entry> pulp::NullaryFnOnce for Op<'_, L, T> {
        type Output = ();
        // Inlined into `V3::vectorize`, so the lanes get its target features.
        #[inline(always)]
        fn call(self) {
            if self.terms.is_empty() {
                rows::<L, T, false>(
                    self.s, self.n, self.a, self.b, self.tri, self.part, self.terms, self.tiles,
                    self.r,
                )
            } else {
                rows::<L, T, true>(
                    self.s, self.n, self.a, self.b, self.tri, self.part, self.terms, self.tiles,
                    self.r,
                )
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(v3) = pulp::x86::V3::try_new() {
        return v3.vectorize(Op {
            s: super::lanes::Avx(v3),
            n,
            a,
            b,
            tri,
            part,
            terms,
            tiles,
            r,
        });
    }
    pulp::NullaryFnOnce::call(Op {
        s: Scalar,
        n,
        a,
        b,
        tri,
        part,
        terms,
        tiles,
        r,
    })
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn rows<L: Lanes, T: Entry, const FOLDING: bool>(
    s: L,
    n: usize,
    a: usize,
    b: usize,
    tri: &mut [T],
    part: &mut [f64],
    terms: &[(&[f64], f64)],
    tiles: &[f64],
    r: &[f64],
) {
    part.iter_mut().for_each(|x| *x = 0.0);
    let mut o = 0;
    let mut i = a;
    while i < b {
        let len = n - i;
        if i + 4 <= b {
            let size = 4 * len - 6;
            // The starts of the next group's rows (the hardware prefetcher picks up each row
            // stream only after a few misses).
            if i + 8 <= b {
                let next = len - 4;
                for q in 0..4 {
                    let at = o + size + q * next - q * q.saturating_sub(1) / 2;
                    for x in [at, at + 64 / std::mem::size_of::<T>()] {
                        if let Some(x) = tri.get(x) {
                            s.prefetch(x);
                        }
                    }
                }
            }
            quad::<L, T, FOLDING>(
                s,
                i,
                &mut tri[o..o + size],
                &mut part[i - a..],
                &r[i..],
                terms,
                if FOLDING {
                    &tiles[(i + 4) * FOLD..]
                } else {
                    &[]
                },
            );
            o += size;
            i += 4;
        } else {
            single::<L, T, FOLDING>(
                s,
                i,
                &mut tri[o..o + len],
                &mut part[i - a..],
                &r[i..],
                terms,
            );
            o += len;
            i += 1;
        }
    }
}

/// Entry (i, j) with the pending terms folded in (stored) and read back.
#[inline(always)]
fn fold_entry<T: Entry, const FOLDING: bool>(
    p: &mut T,
    i: usize,
    j: usize,
    terms: &[(&[f64], f64)],
) -> f64 {
    if !FOLDING {
        return p.get();
    }
    let mut x = p.get();
    for &(c, sc) in terms {
        x = (-(c[i] * sc)).mul_add(c[j], x);
    }
    *p = T::put(x);
    p.get()
}

/// Coefficients `-(c_m[i + q] s_m)` of the rows of a group, as lanes.
#[inline(always)]
fn coefficients<L: Lanes, const G: usize>(
    s: L,
    i: usize,
    terms: &[(&[f64], f64)],
) -> [[L::V; G]; FOLD] {
    let mut coef = [[s.splat(0.0); G]; FOLD];
    for (cm, &(c, sc)) in coef.iter_mut().zip(terms) {
        for (q, x) in cm.iter_mut().enumerate() {
            *x = s.splat(-(c[i + q] * sc));
        }
    }
    coef
}

/// Rows i..i+4 (`g`: the four packed rows, from their diagonals; `y`, `r` from column i; `tiles`
/// from column i + 4, a multiple of 4).
#[inline(always)]
fn quad<L: Lanes, T: Entry, const FOLDING: bool>(
    s: L,
    i: usize,
    g: &mut [T],
    y: &mut [f64],
    r: &[f64],
    terms: &[(&[f64], f64)],
    tiles: &[f64],
) {
    let len = r.len();
    let (p0, rest) = g.split_at_mut(len);
    let (p1, rest) = rest.split_at_mut(len - 1);
    let (p2, p3) = rest.split_at_mut(len - 2);
    // The 4 x 4 diagonal block, entry by entry (row q, column i + t at p_q[t - q]).
    let mut dd = [0.0f64; 4];
    for q in 0..4 {
        for t in q..4 {
            let p = match q {
                0 => &mut p0[t],
                1 => &mut p1[t - 1],
                2 => &mut p2[t - 2],
                _ => &mut p3[t - 3],
            };
            let x = fold_entry::<T, FOLDING>(p, i + q, i + t, terms);
            dd[q] = x.mul_add(r[t], dd[q]);
            if t > q {
                y[t] = x.mul_add(r[q], y[t]);
            }
        }
    }
    // Columns i+4.. in chunks of four.
    let m = (len - 4) / 4 * 4;
    let coef = if FOLDING {
        coefficients::<L, 4>(s, i, terms)
    } else {
        [[s.splat(0.0); 4]; FOLD]
    };
    let ri = [s.splat(r[0]), s.splat(r[1]), s.splat(r[2]), s.splat(r[3])];
    let mut acc = [s.splat(0.0); 4];
    let (y_head, y_tail) = y.split_at_mut(4 + m);
    let (b0, t0) = p0[4..].split_at_mut(m);
    let (b1, t1) = p1[3..].split_at_mut(m);
    let (b2, t2) = p2[2..].split_at_mut(m);
    let (b3, t3) = p3[1..].split_at_mut(m);
    let tiles = if FOLDING { tiles } else { &[] };
    for (((((c0, c1), c2), c3), yc), (rc, ct)) in b0
        .chunks_exact_mut(4)
        .zip(b1.chunks_exact_mut(4))
        .zip(b2.chunks_exact_mut(4))
        .zip(b3.chunks_exact_mut(4))
        .zip(y_head[4..].chunks_exact_mut(4))
        .zip(r[4..4 + m].chunks_exact(4).zip(ChunksOrEmpty::new(tiles)))
    {
        let mut p = [
            T::load(s, c0),
            T::load(s, c1),
            T::load(s, c2),
            T::load(s, c3),
        ];
        if FOLDING {
            let ct: &[f64; 4 * FOLD] = ct.try_into().unwrap();
            for (mm, cm) in coef.iter().enumerate() {
                let cv = s.load(&ct[4 * mm..4 * mm + 4]);
                for q in 0..4 {
                    p[q] = s.fma(cm[q], cv, p[q]);
                }
            }
            T::store(s, c0, p[0]);
            T::store(s, c1, p[1]);
            T::store(s, c2, p[2]);
            T::store(s, c3, p[3]);
            for x in p.iter_mut() {
                *x = T::round(s, *x);
            }
        }
        let rv = s.load(rc);
        let mut yv = s.load(yc);
        for q in 0..4 {
            acc[q] = s.fma(p[q], rv, acc[q]);
            yv = s.fma(p[q], ri[q], yv);
        }
        s.store(yc, yv);
    }
    // The last (len - 4) % 4 columns.
    let mut tl = [0.0f64; 4];
    for (u, ((((e0, e1), e2), e3), yt)) in t0
        .iter_mut()
        .zip(t1.iter_mut())
        .zip(t2.iter_mut())
        .zip(t3.iter_mut())
        .zip(y_tail.iter_mut())
        .enumerate()
    {
        let t = 4 + m + u;
        for (q, e) in [e0, e1, e2, e3].into_iter().enumerate() {
            let x = fold_entry::<T, FOLDING>(e, i + q, i + t, terms);
            tl[q] = x.mul_add(r[t], tl[q]);
            *yt = x.mul_add(r[q], *yt);
        }
    }
    for q in 0..4 {
        let a = s.to_array(acc[q]);
        y[q] += dd[q] + ((a[0] + a[1]) + (a[2] + a[3])) + tl[q];
    }
}

/// Chunks of `4 FOLD` of the tiles, or (for the read-only pass, which has none) an endless run of
/// empty slices.
struct ChunksOrEmpty<'a> {
    rest: &'a [f64],
    empty: bool,
}

impl<'a> ChunksOrEmpty<'a> {
    #[inline(always)]
    fn new(tiles: &'a [f64]) -> Self {
        ChunksOrEmpty {
            rest: tiles,
            empty: tiles.is_empty(),
        }
    }
}

impl<'a> Iterator for ChunksOrEmpty<'a> {
    type Item = &'a [f64];
    #[inline(always)]
    fn next(&mut self) -> Option<&'a [f64]> {
        if self.empty {
            return Some(&[]);
        }
        let (head, tail) = self.rest.split_at_checked(4 * FOLD)?;
        self.rest = tail;
        Some(head)
    }
}

/// Row i alone (`row` from its diagonal; `y`, `r` from column i).
#[inline(always)]
fn single<L: Lanes, T: Entry, const FOLDING: bool>(
    s: L,
    i: usize,
    row: &mut [T],
    y: &mut [f64],
    r: &[f64],
    terms: &[(&[f64], f64)],
) {
    let len = r.len();
    let x = fold_entry::<T, FOLDING>(&mut row[0], i, i, terms);
    let dd = x * r[0];
    let m = (len - 1) / 4 * 4;
    let coef = if FOLDING {
        coefficients::<L, 1>(s, i, terms)
    } else {
        [[s.splat(0.0); 1]; FOLD]
    };
    let ri = s.splat(r[0]);
    let mut acc = s.splat(0.0);
    let (y_head, y_tail) = y.split_at_mut(1 + m);
    let (body, tail) = row[1..].split_at_mut(m);
    for (j, ((c0, yc), rc)) in body
        .chunks_exact_mut(4)
        .zip(y_head[1..].chunks_exact_mut(4))
        .zip(r[1..1 + m].chunks_exact(4))
        .enumerate()
    {
        let mut p = T::load(s, c0);
        if FOLDING {
            let col = i + 1 + 4 * j;
            for (cm, &(c, _)) in coef.iter().zip(terms) {
                p = s.fma(cm[0], s.load(&c[col..]), p);
            }
            T::store(s, c0, p);
            p = T::round(s, p);
        }
        acc = s.fma(p, s.load(rc), acc);
        s.store(yc, s.fma(p, ri, s.load(yc)));
    }
    let mut tl = 0.0f64;
    for (u, (e, yt)) in tail.iter_mut().zip(y_tail.iter_mut()).enumerate() {
        let t = 1 + m + u;
        let x = fold_entry::<T, FOLDING>(e, i, i + t, terms);
        tl = x.mul_add(r[t], tl);
        *yt = x.mul_add(r[0], *yt);
    }
    let a = s.to_array(acc);
    y[0] += dd + ((a[0] + a[1]) + (a[2] + a[3])) + tl;
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Packed upper triangle of a random symmetric matrix (entries rounded to T).
    fn triangle<T: Entry>(n: usize, rng: &mut ChaCha8Rng) -> Vec<T> {
        (0..n * (n + 1) / 2)
            .map(|_| T::put(rng.random::<f64>() - 0.5))
            .collect()
    }

    fn offset(n: usize, i: usize) -> usize {
        i * n - i * i.saturating_sub(1) / 2
    }

    /// Rows a..b folded and multiplied: the dispatched pass (AVX2 on CPUs that have it) and the
    /// portable lanes give identical bits, and both equal a dense computation entry by entry.
    fn check<T: Entry + PartialEq + std::fmt::Debug>(n: usize, a: usize, b: usize, fold: bool) {
        let mut rng = ChaCha8Rng::seed_from_u64((n * 1000 + a * 10 + b) as u64);
        let tri0: Vec<T> = triangle(n, &mut rng);
        let r: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
        let cs: Vec<Vec<f64>> = (0..FOLD)
            .map(|_| (0..n).map(|_| rng.random::<f64>() - 0.5).collect())
            .collect();
        let ss: Vec<f64> = (0..FOLD).map(|_| rng.random::<f64>()).collect();
        let terms: Vec<(&[f64], f64)> = if fold {
            cs.iter()
                .zip(&ss)
                .map(|(c, &s)| (c.as_slice(), s))
                .collect()
        } else {
            Vec::new()
        };
        let mut tiles = Vec::new();
        pack_tiles(n, &terms, &mut tiles);
        let (lo, hi) = (offset(n, a), offset(n, b));
        let mut tri1 = tri0.clone();
        let mut part1 = vec![f64::NAN; n - a];
        block_pass(n, a, b, &mut tri1[lo..hi], &mut part1, &terms, &tiles, &r);
        let mut tri2 = tri0.clone();
        let mut part2 = vec![f64::NAN; n - a];
        if fold {
            rows::<Scalar, T, true>(
                Scalar,
                n,
                a,
                b,
                &mut tri2[lo..hi],
                &mut part2,
                &terms,
                &tiles,
                &r,
            );
        } else {
            rows::<Scalar, T, false>(
                Scalar,
                n,
                a,
                b,
                &mut tri2[lo..hi],
                &mut part2,
                &terms,
                &tiles,
                &r,
            );
        }
        assert_eq!(tri1, tri2);
        assert_eq!(
            part1.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            part2.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        // Dense: every stored entry of rows a..b is the fold of the old one; the product uses them.
        let mut want = vec![0.0; n - a];
        for i in a..b {
            for j in i..n {
                let o = offset(n, i) + j - i;
                let mut x = tri0[o].get();
                for (c, s) in &terms {
                    x = (-(c[i] * s)).mul_add(c[j], x);
                }
                assert_eq!(tri1[o], T::put(x), "entry ({i}, {j})");
                let x = T::put(x).get();
                want[i - a] += x * r[j];
                if j > i {
                    want[j - a] += x * r[i];
                }
            }
        }
        for (g, w) in part1.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "{g} vs {w}");
        }
        // Rows outside the block are untouched.
        assert_eq!(tri1[..lo], tri0[..lo]);
        assert_eq!(tri1[hi..], tri0[hi..]);
    }

    #[test]
    fn quads_singles_fold_and_product() {
        for (n, a, b) in [
            (1, 0, 1),
            (7, 0, 7),
            (75, 0, 75),
            (75, 8, 37),
            (64, 60, 64),
            (33, 4, 33),
        ] {
            for fold in [false, true] {
                check::<f64>(n, a, b, fold);
                check::<f32>(n, a, b, fold);
            }
        }
    }
}
