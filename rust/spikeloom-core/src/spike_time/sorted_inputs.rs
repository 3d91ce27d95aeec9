//! The input spikes of one layer for one sample, sorted once and shared by every neuron of the layer.

use super::Kernel;

/// Sorted finite input spikes with the propagators across each gap to the next input.
///
/// Buffers are allocated once ([`SortedInputs::with_capacity`]) and reused for every sample.
#[derive(Clone, Debug, Default)]
pub struct SortedInputs {
    /// Sort keys: (IEEE bits of the time, index). For times >= 0 the bit patterns order like the
    /// values, so the sort compares integers (measured ~2x faster than an indirect f64 comparator).
    keys: Vec<(u64, u32)>,
    /// Input indices in ascending time (ties by index); only finite times.
    pub order: Vec<usize>,
    /// The sorted finite times.
    pub times: Vec<f64>,
    /// Across the gap from input k to k+1 (last: +inf gap): Equal: exp(-gap/tau); Double: exp(-gap/tau_syn).
    pub(crate) f1: Vec<f64>,
    /// Equal: gap/tau; Double: exp(-gap/tau_mem).
    pub(crate) f2: Vec<f64>,
}

impl SortedInputs {
    /// Buffers for up to `n` inputs.
    pub fn with_capacity(n: usize) -> Self {
        SortedInputs {
            keys: Vec::with_capacity(n),
            order: Vec::with_capacity(n),
            times: Vec::with_capacity(n),
            f1: Vec::with_capacity(n),
            f2: Vec::with_capacity(n),
        }
    }

    /// Number of finite input spikes.
    #[inline]
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when no input spiked.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Sort `times` (each >= 0 or +inf = no spike, dropped) and precompute the gap propagators for `kernel`.
    /// Does not allocate when the capacity suffices.
    pub fn prepare(&mut self, times: &[f64], kernel: &Kernel) {
        self.keys.clear();
        // `t + 0.0` maps -0.0 to +0.0 so that its bit pattern sorts first.
        self.keys.extend(
            times
                .iter()
                .enumerate()
                .filter(|(_, t)| t.is_finite())
                .map(|(i, &t)| ((t + 0.0).to_bits(), i as u32)),
        );
        self.keys.sort_unstable();
        self.order.clear();
        self.order
            .extend(self.keys.iter().map(|&(_, i)| i as usize));
        self.times.clear();
        self.times
            .extend(self.keys.iter().map(|&(bits, _)| f64::from_bits(bits)));
        self.f1.clear();
        self.f2.clear();
        let n = self.times.len();
        for k in 0..n {
            let gap = if k + 1 < n {
                self.times[k + 1] - self.times[k]
            } else {
                f64::INFINITY
            };
            match *kernel {
                Kernel::Equal { tau } => {
                    self.f1.push((-gap / tau).exp());
                    self.f2.push(gap / tau);
                }
                Kernel::Double { tau_syn, tau_mem } => {
                    self.f1.push((-gap / tau_syn).exp());
                    self.f2.push((-gap / tau_mem).exp());
                }
            }
        }
    }
}
