//! Input sequences stored as events: for each sample and step, the channels that are non-zero and their
//! values. Spike rasters are mostly zeros, so the engine's input work is (input events x fan-out), not
//! (channels x steps x fan-out). Real-valued inputs (currents) are events too, just dense ones.

use crate::error::{Error, Result};

/// `n_samples` sequences of `n_steps` steps over `n_channels` input channels, as events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sequences {
    pub n_samples: usize,
    pub n_steps: usize,
    pub n_channels: usize,
    /// Events of (sample s, step t) are `ptr[s * n_steps + t] .. ptr[s * n_steps + t + 1]`.
    ptr: Vec<usize>,
    channel: Vec<u32>,
    value: Vec<f32>,
}

/// The events of one sample.
#[derive(Clone, Copy, Debug)]
pub struct SampleInput<'a> {
    ptr: &'a [usize],
    channel: &'a [u32],
    value: &'a [f32],
}

impl<'a> SampleInput<'a> {
    /// The (channel, value) events of step `t`.
    #[inline(always)]
    pub fn at(&self, t: usize) -> impl Iterator<Item = (usize, f32)> + 'a {
        let (lo, hi) = (self.ptr[t], self.ptr[t + 1]);
        let (c, v) = (self.channel, self.value);
        (lo..hi).map(move |e| (c[e] as usize, v[e]))
    }

    pub fn n_steps(&self) -> usize {
        self.ptr.len() - 1
    }
}

impl Sequences {
    /// From a dense row-major array `[n_samples, n_steps, n_channels]` of any numeric type; zeros are
    /// dropped, NaN and infinities are refused (naming the flat index).
    pub fn from_dense<T: Copy + Into<f64>>(
        arg: &str,
        data: &[T],
        n_samples: usize,
        n_steps: usize,
        n_channels: usize,
    ) -> Result<Self> {
        Self::from_dense_with(arg, data, n_samples, n_steps, n_channels, |x| x.into())
    }

    /// [`Sequences::from_dense`] with an explicit conversion of each element to `f64` (e.g. for
    /// `bool`), without an intermediate copy of the dense array.
    pub fn from_dense_with<T: Copy>(
        arg: &str,
        data: &[T],
        n_samples: usize,
        n_steps: usize,
        n_channels: usize,
        to_f64: impl Fn(T) -> f64,
    ) -> Result<Self> {
        check_shape(arg, data.len(), n_samples, n_steps, n_channels)?;
        Self::from_rows(
            data,
            n_samples,
            n_steps,
            n_channels,
            |row, chunk, channel, value| {
                // A bit mask of the non-zero entries per 32 channels (a vectorisable comparison; inputs
                // are mostly zeros), then only its set bits are visited.
                for (b, block) in chunk.chunks(32).enumerate() {
                    let mut mask = 0u32;
                    for (i, &x) in block.iter().enumerate() {
                        mask |= u32::from(to_f64(x) != 0.0) << i;
                    }
                    while mask != 0 {
                        let i = mask.trailing_zeros() as usize;
                        mask &= mask - 1;
                        let (c, x) = (b * 32 + i, to_f64(block[i]));
                        if !x.is_finite() {
                            return Err(Error::NonFinite {
                                arg: arg.to_string(),
                                expected: "finite input values".into(),
                                got: format!("{x} at flat index {}", row * n_channels + c),
                            });
                        }
                        channel.push(c as u32);
                        value.push(x as f32);
                    }
                }
                Ok(())
            },
        )
    }

    /// [`Sequences::from_dense`] for one-byte elements (`bool` or `u8` rasters, value = the byte):
    /// eight channels are tested at once, so the mostly-zero rasters of spiking inputs convert at
    /// a fraction of a nanosecond per entry. Same result as `from_dense`.
    pub fn from_bytes(
        arg: &str,
        data: &[u8],
        n_samples: usize,
        n_steps: usize,
        n_channels: usize,
    ) -> Result<Self> {
        check_shape(arg, data.len(), n_samples, n_steps, n_channels)?;
        Self::from_rows(
            data,
            n_samples,
            n_steps,
            n_channels,
            |_, row, channel, value| {
                let words = row.chunks_exact(8);
                let tail = words.remainder();
                for (w, bytes) in words.enumerate() {
                    if u64::from_le_bytes(bytes.try_into().expect("8 bytes")) != 0 {
                        for (i, &b) in bytes.iter().enumerate() {
                            if b != 0 {
                                channel.push((8 * w + i) as u32);
                                value.push(f32::from(b));
                            }
                        }
                    }
                }
                let base = n_channels - tail.len();
                for (i, &b) in tail.iter().enumerate() {
                    if b != 0 {
                        channel.push((base + i) as u32);
                        value.push(f32::from(b));
                    }
                }
                Ok(())
            },
        )
    }

    /// The events of every (sample, step) row of a checked dense array: `scan(row index, row,
    /// channels, values)` appends one row's non-zero entries in channel order.
    fn from_rows<T>(
        data: &[T],
        n_samples: usize,
        n_steps: usize,
        n_channels: usize,
        mut scan: impl FnMut(usize, &[T], &mut Vec<u32>, &mut Vec<f32>) -> Result<()>,
    ) -> Result<Self> {
        let mut ptr = Vec::with_capacity(n_samples * n_steps + 1);
        let (mut channel, mut value) = (Vec::new(), Vec::new());
        ptr.push(0);
        for (i, row) in data.chunks_exact(n_channels).enumerate() {
            scan(i, row, &mut channel, &mut value)?;
            ptr.push(channel.len());
        }
        Ok(Sequences {
            n_samples,
            n_steps,
            n_channels,
            ptr,
            channel,
            value,
        })
    }

    /// The events of sample `s`.
    pub fn sample(&self, s: usize) -> SampleInput<'_> {
        let base = s * self.n_steps;
        SampleInput {
            ptr: &self.ptr[base..base + self.n_steps + 1],
            channel: &self.channel,
            value: &self.value,
        }
    }

    /// The events of `samples` (in that order) as one trial on a chip sees them: each event is lost
    /// with probability `p_loss`; a kept event moves by `round(jitter_steps * z)` steps, `z` standard
    /// normal (events moved outside the sequence are lost; events that land on the same step and
    /// channel add). The draws, per event in order: one uniform, then (with `jitter_steps > 0`) one
    /// normal if it was kept.
    pub fn subset_with_trial_noise(
        &self,
        samples: &[usize],
        p_loss: f64,
        jitter_steps: f64,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Sequences {
        use rand::RngExt;
        use rand_distr::{Distribution, StandardNormal};
        let mut out = Sequences {
            n_samples: samples.len(),
            n_steps: self.n_steps,
            n_channels: self.n_channels,
            ptr: Vec::with_capacity(samples.len() * self.n_steps + 1),
            channel: Vec::new(),
            value: Vec::new(),
        };
        out.ptr.push(0);
        // With jitter: (step, channel, value) of one sample's kept events, then sorted and merged.
        let mut moved: Vec<(usize, u32, f32)> = Vec::new();
        for &s in samples {
            let base = s * self.n_steps;
            if jitter_steps == 0.0 {
                for t in 0..self.n_steps {
                    for e in self.ptr[base + t]..self.ptr[base + t + 1] {
                        if rng.random::<f64>() >= p_loss {
                            out.channel.push(self.channel[e]);
                            out.value.push(self.value[e]);
                        }
                    }
                    out.ptr.push(out.channel.len());
                }
                continue;
            }
            moved.clear();
            for t in 0..self.n_steps {
                for e in self.ptr[base + t]..self.ptr[base + t + 1] {
                    if rng.random::<f64>() < p_loss {
                        continue;
                    }
                    let z: f64 = StandardNormal.sample(rng);
                    let to = t as f64 + (jitter_steps * z).round();
                    if to >= 0.0 && to < self.n_steps as f64 {
                        moved.push((to as usize, self.channel[e], self.value[e]));
                    }
                }
            }
            // Stable: events merged at one (step, channel) add in their original order.
            moved.sort_by_key(|&(t, c, _)| (t, c));
            let mut i = 0;
            for t in 0..self.n_steps {
                while i < moved.len() && moved[i].0 == t {
                    let (c, mut v) = (moved[i].1, moved[i].2);
                    i += 1;
                    while i < moved.len() && moved[i].0 == t && moved[i].1 == c {
                        v += moved[i].2;
                        i += 1;
                    }
                    out.channel.push(c);
                    out.value.push(v);
                }
                out.ptr.push(out.channel.len());
            }
        }
        out
    }

    /// All samples with the trial noise of [`Sequences::subset_with_trial_noise`], drawn from a
    /// ChaCha8 stream seeded with `seed` (what a hardware trial delivers in deployment).
    pub fn with_trial_noise(&self, p_loss: f64, jitter_steps: f64, seed: u64) -> Sequences {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let all: Vec<usize> = (0..self.n_samples).collect();
        self.subset_with_trial_noise(&all, p_loss, jitter_steps, &mut rng)
    }

    /// The dense row-major array `[n_samples, n_steps, n_channels]` of the events' values.
    pub fn to_dense(&self) -> Vec<f32> {
        let mut out = vec![0.0f32; self.n_samples * self.n_steps * self.n_channels];
        for (st, row) in out.chunks_mut(self.n_channels.max(1)).enumerate() {
            for e in self.ptr[st]..self.ptr[st + 1] {
                row[self.channel[e] as usize] = self.value[e];
            }
        }
        out
    }

    /// Total number of non-zero input entries.
    pub fn n_events(&self) -> usize {
        self.channel.len()
    }

    /// Check the channel count against a network's inputs.
    pub fn check_channels(&self, arg: &str, n_inputs: usize) -> Result<()> {
        if self.n_channels != n_inputs {
            return Err(Error::shape(
                arg,
                format!("{n_inputs} input channels (the network's n_inputs)"),
                format!("{} channels", self.n_channels),
            ));
        }
        Ok(())
    }
}

fn check_shape(
    arg: &str,
    len: usize,
    n_samples: usize,
    n_steps: usize,
    n_channels: usize,
) -> Result<()> {
    if len != n_samples * n_steps * n_channels {
        return Err(Error::shape(
            arg,
            format!("{n_samples} x {n_steps} x {n_channels} values"),
            len,
        ));
    }
    if n_steps == 0 || n_channels == 0 {
        return Err(Error::shape(
            arg,
            "sequences with at least one step and one channel",
            format!("{n_steps} steps x {n_channels} channels"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_to_events_and_back() {
        // 2 samples, 3 steps, 2 channels.
        let x = [0u8, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1];
        let s = Sequences::from_dense("x", &x, 2, 3, 2).unwrap();
        assert_eq!(s.n_events(), 5);
        let a = s.sample(0);
        assert_eq!(a.at(0).collect::<Vec<_>>(), vec![(1, 1.0)]);
        assert_eq!(a.at(1).count(), 0);
        assert_eq!(a.at(2).collect::<Vec<_>>(), vec![(0, 1.0), (1, 1.0)]);
        let b = s.sample(1);
        assert_eq!(b.at(0).collect::<Vec<_>>(), vec![(0, 1.0)]);
        assert_eq!(b.at(2).collect::<Vec<_>>(), vec![(1, 1.0)]);
        let bad = [0.0f32, f32::NAN];
        let e = Sequences::from_dense("x", &bad, 1, 1, 2).unwrap_err();
        assert!(e.to_string().contains("flat index 1"));
        assert!(Sequences::from_dense("x", &x, 2, 2, 2).is_err());
    }

    #[test]
    fn trial_noise_loses_and_moves_events_with_the_requested_statistics() {
        use rand::SeedableRng;
        // 4000 samples, one event of value 1 on channel 1 at step 40 of 81 (none can leave).
        let (n, t, c) = (4000usize, 81usize, 3usize);
        let mut x = vec![0.0f32; n * t * c];
        for s in 0..n {
            x[(s * t + 40) * c + 1] = 1.0;
        }
        let seqs = Sequences::from_dense("x", &x, n, t, c).unwrap();
        let all: Vec<usize> = (0..n).collect();
        // No noise: the subset itself (and no draws change that).
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        assert_eq!(seqs.subset_with_trial_noise(&all, 0.0, 0.0, &mut rng), seqs);
        let noisy = seqs.with_trial_noise(0.25, 3.0, 7);
        assert_eq!(noisy, seqs.with_trial_noise(0.25, 3.0, 7), "seeded");
        let kept = noisy.n_events() as f64 / n as f64;
        assert!(
            (kept - 0.75).abs() < 4.0 * (0.75f64 * 0.25 / n as f64).sqrt(),
            "kept {kept}"
        );
        let mut shifts = Vec::new();
        for s in 0..n {
            let a = noisy.sample(s);
            for step in 0..t {
                for (ch, v) in a.at(step) {
                    assert_eq!((ch, v), (1, 1.0));
                    shifts.push(step as f64 - 40.0);
                }
            }
        }
        let m = shifts.len() as f64;
        let mean = shifts.iter().sum::<f64>() / m;
        let var = shifts.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (m - 1.0);
        // round(3 z): variance 9 + 1/12 (rounding); sd of the variance estimate ~ 9 sqrt(2 / m).
        assert!(mean.abs() < 4.0 * 3.0 / m.sqrt(), "mean shift {mean}");
        assert!(
            (var - 9.0 - 1.0 / 12.0).abs() < 5.0 * 9.0 * (2.0 / m).sqrt(),
            "variance {var}"
        );
        // Long trains with a wide jitter: events collide (and add) or leave the sequence, never more
        // than one entry per step and channel, and the total value inside is what stayed inside.
        let (t2, c2) = (12usize, 2usize);
        let x2: Vec<f32> = (0..50 * t2 * c2)
            .map(|i| (1 + i % 3) as f32 * ((i % 2) as f32))
            .collect();
        let s2 = Sequences::from_dense("x", &x2, 50, t2, c2).unwrap();
        let n2 = s2.with_trial_noise(0.0, 4.0, 3);
        let d2 = n2.to_dense();
        assert!(
            d2.iter().sum::<f32>() < x2.iter().sum::<f32>(),
            "some events leave"
        );
        assert!(d2.iter().any(|&v| v > 3.0), "some events collide and add");
        for st in 0..50 * t2 {
            let ch: Vec<u32> = n2.channel[n2.ptr[st]..n2.ptr[st + 1]].to_vec();
            assert!(
                ch.windows(2).all(|w| w[0] < w[1]),
                "sorted, one entry per channel"
            );
        }
        assert_eq!(Sequences::from_dense("x", &d2, 50, t2, c2).unwrap(), n2);
    }

    #[test]
    fn bytes_convert_like_dense() {
        // Widths around the 8-byte word, values 0..3, about a third non-zero.
        for c in [1usize, 7, 8, 9, 17, 700] {
            let x: Vec<u8> = (0..3 * 4 * c)
                .map(|i| ((i * 7919 % 13) % 9).min(3) as u8 * ((i % 3 == 0) as u8))
                .collect();
            let a = Sequences::from_bytes("x", &x, 3, 4, c).unwrap();
            let b = Sequences::from_dense("x", &x, 3, 4, c).unwrap();
            assert_eq!(a, b, "c = {c}");
        }
        assert!(Sequences::from_bytes("x", &[0u8; 5], 1, 2, 2).is_err());
    }
}
