//! Event / burst classification of spike trains and the online burst-probability estimate.
//!
//! Each neuron keeps a trace `x` with time constant `tau` (16 ms), incremented by 1 after each spike.
//! At a spike, with `x` decayed to the spike time (before the increment):
//! - `x < e^{-1}` (no recent spike; for an isolated previous spike: ISI > tau): the spike is an
//!   **event** (an isolated spike or the first spike of a burst); the neuron leaves any burst;
//! - otherwise, if the neuron is not already in a burst: the spike marks a **burst** (its second
//!   spike) and the neuron enters the burst state;
//! - otherwise (third and later spikes of a burst): neither.
//!
//! The burst probability is `P = B / E`. Online, `E` and `B` are estimated with exponential moving
//! averages of time constant `tau_avg` (seconds): traces incremented by 1 per event / burst and
//! divided by `tau_avg` (Hz); `P_bar = B_trace / E_trace`.

use crate::error::{Error, Result};

/// Kind of a classified spike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpikeKind {
    /// First spike of a burst or an isolated spike.
    Event,
    /// Second spike of a burst (marks the burst).
    Burst,
    /// Third or later spike of a burst.
    Within,
}

impl SpikeKind {
    /// Integer code used in recordings: 0 event, 1 burst, 2 within-burst.
    pub fn code(self) -> u8 {
        match self {
            SpikeKind::Event => 0,
            SpikeKind::Burst => 1,
            SpikeKind::Within => 2,
        }
    }
}

/// Online event/burst detector for `n` neurons.
#[derive(Clone, Debug, PartialEq)]
pub struct Detector {
    pub tau: f64,
    trace: Vec<f64>,
    last: Vec<f64>,
    in_burst: Vec<bool>,
}

impl Detector {
    pub fn new(n: usize, tau: f64) -> Result<Self> {
        if !(tau.is_finite() && tau > 0.0) {
            return Err(Error::param("burst_window", "a finite window > 0 (s)", tau));
        }
        Ok(Detector {
            tau,
            trace: vec![0.0; n],
            last: vec![f64::NEG_INFINITY; n],
            in_burst: vec![false; n],
        })
    }

    /// Classify a spike of neuron `i` at time `t` (s; non-decreasing per neuron).
    #[inline]
    pub fn spike(&mut self, i: usize, t: f64) -> SpikeKind {
        let x = if self.last[i].is_finite() {
            self.trace[i] * (-(t - self.last[i]) / self.tau).exp()
        } else {
            0.0
        };
        let kind = if x < (-1.0f64).exp() {
            self.in_burst[i] = false;
            SpikeKind::Event
        } else if !self.in_burst[i] {
            self.in_burst[i] = true;
            SpikeKind::Burst
        } else {
            SpikeKind::Within
        };
        self.trace[i] = x + 1.0;
        self.last[i] = t;
        kind
    }
}

/// Classify a spike train given as (times, neuron ids) in time order; `n` neurons.
pub fn classify(times: &[f64], ids: &[usize], n: usize, tau: f64) -> Result<Vec<SpikeKind>> {
    if times.len() != ids.len() {
        return Err(Error::shape(
            "spike_ids",
            format!("{} ids (one per spike time)", times.len()),
            ids.len(),
        ));
    }
    let mut d = Detector::new(n, tau)?;
    let mut prev = f64::NEG_INFINITY;
    let mut out = Vec::with_capacity(times.len());
    for (&t, &i) in times.iter().zip(ids) {
        if !t.is_finite() || t < prev {
            return Err(Error::param(
                "spike_times",
                "finite times in non-decreasing order (s)",
                t,
            ));
        }
        if i >= n {
            return Err(Error::param("spike_ids", format!("ids in 0..{n}"), i));
        }
        prev = t;
        out.push(d.spike(i, t));
    }
    Ok(out)
}

/// Exponential moving averages of event and burst rates, per neuron (Hz), and `P_bar`.
///
/// Stored in a running scale so a step costs O(1): the true traces are `stored / scale`, the scale
/// grows by `exp(dt / tau_avg)` per step (renormalised before it can overflow) and a spike adds
/// `scale / tau_avg` to its neuron.
#[derive(Clone, Debug, PartialEq)]
pub struct RateEstimate {
    pub tau_avg: f64,
    grow: f64,
    scale: f64,
    event: Vec<f64>,
    burst: Vec<f64>,
}

impl RateEstimate {
    /// Traces start at `event0` / `burst0` (Hz) so `P_bar` is defined from the start.
    pub fn new(n: usize, tau_avg: f64, dt: f64, event0: f64, burst0: f64) -> Result<Self> {
        if !(tau_avg.is_finite() && tau_avg > 0.0) {
            return Err(Error::param(
                "tau_avg",
                "a finite time constant > 0 (s)",
                tau_avg,
            ));
        }
        Ok(RateEstimate {
            tau_avg,
            grow: 1.0 / (-dt / tau_avg).exp(),
            scale: 1.0,
            event: vec![event0; n],
            burst: vec![burst0; n],
        })
    }

    /// Decay every trace by one step.
    #[inline]
    pub fn decay(&mut self) {
        self.scale *= self.grow;
        if self.scale > 1e150 {
            let inv = 1.0 / self.scale;
            self.event.iter_mut().for_each(|e| *e *= inv);
            self.burst.iter_mut().for_each(|b| *b *= inv);
            self.scale = 1.0;
        }
    }

    #[inline]
    pub fn add(&mut self, i: usize, kind: SpikeKind) {
        let x = self.scale / self.tau_avg;
        match kind {
            SpikeKind::Event => self.event[i] += x,
            SpikeKind::Burst => self.burst[i] += x,
            SpikeKind::Within => {}
        }
    }

    /// Event-rate estimate of neuron `i` (Hz).
    #[inline]
    pub fn event(&self, i: usize) -> f64 {
        self.event[i] / self.scale
    }

    /// Burst-rate estimate of neuron `i` (Hz).
    #[inline]
    pub fn burst(&self, i: usize) -> f64 {
        self.burst[i] / self.scale
    }

    /// All event-rate estimates (Hz).
    pub fn events(&self) -> Vec<f64> {
        self.event.iter().map(|e| e / self.scale).collect()
    }

    /// Moving-average burst probability of neuron `i` (0 when no event yet).
    #[inline]
    pub fn p_bar(&self, i: usize) -> f64 {
        if self.event[i] > 0.0 {
            self.burst[i] / self.event[i]
        } else {
            0.0
        }
    }
}
