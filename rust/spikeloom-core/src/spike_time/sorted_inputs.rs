//! The input spikes of one layer for one sample, sorted once and shared by every neuron of the layer.

use super::Kernel;

/// Sorted finite input spikes with the propagators across each gap to the next input.
///
/// Buffers are allocated once ([`SortedInputs::with_capacity`]) and reused for every sample.
#[derive(Clone, Debug, Default)]
pub struct SortedInputs {
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

    /// Sort `times` (+inf = no spike, dropped) and precompute the gap propagators for `kernel`.
    /// Does not allocate when the capacity suffices.
    pub fn prepare(&mut self, times: &[f64], kernel: &Kernel) {
        self.order.clear();
        self.order
            .extend((0..times.len()).filter(|&i| times[i].is_finite()));
        // Unstable sort with an index tie-break is deterministic and does not allocate.
        self.order
            .sort_unstable_by(|&a, &b| times[a].total_cmp(&times[b]).then(a.cmp(&b)));
        self.times.clear();
        self.times.extend(self.order.iter().map(|&i| times[i]));
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
