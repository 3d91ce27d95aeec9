//! The resumable state of a time-to-first-spike training run (Göltz et al. or Comsa et al.), in the
//! [`TrainState`] format the recurrent trainers use: the parameters as one flat vector (every
//! layer's weights, then every layer's bias spike times), both Adam states (weights, and pulse times
//! in `opt_tau`), the epochs done, the best validation epoch, and the weight-bumping state that
//! carries from batch to batch (`extra.bump_value`, `counters.last_bumped` = layer + 1, 0 for none).
//! The shuffle stream is not stored: a resumed run replays the shuffles of the epochs done.

use super::adam::Optimizer;
use crate::engine::Network;
use crate::error::{Error, Result};
use crate::rsnn::checkpoint::TrainState;
use crate::rsnn::epochs::Progress;

/// The `method` of a state: "alpha" for Comsa et al.'s method, "ttfs" for Göltz et al.'s.
pub fn method_name(comsa: bool) -> &'static str {
    if comsa {
        "alpha"
    } else {
        "ttfs"
    }
}

/// Number of flat parameters: weights and bias spike times.
pub fn n_flat(net: &Network) -> usize {
    net.n_weights() + net.n_bias()
}

/// Every layer's weights, then every layer's bias spike times.
pub fn flat_params(net: &Network) -> Vec<f64> {
    let layers = net.layers();
    let mut p = Vec::with_capacity(n_flat(net));
    for l in layers {
        p.extend_from_slice(&l.weights);
    }
    for l in layers {
        p.extend_from_slice(&l.bias_times);
    }
    p
}

/// Replace the parameters by a flat vector of [`flat_params`]' layout (validated: length, finite
/// weights, finite non-negative bias times); `arg` names the source in errors.
pub fn set_flat_params(net: &mut Network, p: &[f64], arg: &str) -> Result<()> {
    if p.len() != n_flat(net) {
        return Err(Error::shape(
            arg,
            format!("{} parameters (the network's)", n_flat(net)),
            p.len(),
        ));
    }
    let shapes: Vec<(usize, usize)> = net
        .layers()
        .iter()
        .map(|l| (l.weights.len(), l.bias_times.len()))
        .collect();
    let mut at = 0;
    for (l, &(nw, _)) in shapes.iter().enumerate() {
        net.set_weights(l, &p[at..at + nw])
            .map_err(|e| Error::param(arg, "valid weights", e))?;
        at += nw;
    }
    for (l, &(_, nb)) in shapes.iter().enumerate() {
        net.set_bias_times(l, &p[at..at + nb])
            .map_err(|e| Error::param(arg, "valid bias spike times", e))?;
        at += nb;
    }
    Ok(())
}

/// What a run carries from epoch to epoch besides the network (see the module docs).
pub struct Carried<'a> {
    pub comsa: bool,
    pub epochs_done: usize,
    pub best: Option<&'a (f64, Network)>,
    pub adam: &'a Optimizer,
    pub pulse_adam: &'a Optimizer,
    pub bump_value: f64,
    pub last_bumped: Option<usize>,
}

impl Carried<'_> {
    /// The state with `net`'s parameters as the ones training continues from (`last`: those, if the
    /// network now holds the best epoch's instead).
    pub fn state(&self, net: &Network, last: Option<Vec<f64>>) -> TrainState {
        let params = last.unwrap_or_else(|| flat_params(net));
        TrainState {
            method: method_name(self.comsa).into(),
            progress: Progress {
                epochs_done: self.epochs_done,
                best: self.best.map(|(s, b)| (*s, flat_params(b))),
                last_params: None,
            },
            params,
            opt_w: self.adam.state(),
            opt_tau: self.pulse_adam.state(),
            extra: vec![("bump_value".into(), vec![self.bump_value])],
            counters: vec![(
                "last_bumped".into(),
                self.last_bumped.map_or(0, |l| l as u64 + 1),
            )],
            fingerprint: None,
        }
    }
}

/// What [`restore_carried`] returns: the best epoch (score, network), the bump value and the last
/// bumped layer.
pub type Restored = (Option<(f64, Network)>, f64, Option<usize>);

/// The carried values of `st` (already checked against the run's method and size): best epoch as a
/// network, bump value and last bumped layer.
pub fn restore_carried(st: &TrainState, net: &Network, default_bump: f64) -> Result<Restored> {
    let best = match &st.progress.best {
        Some((score, p)) => {
            let mut b = net.clone();
            set_flat_params(&mut b, p, "resume")?;
            Some((*score, b))
        }
        None => None,
    };
    let bump = st
        .extra("bump_value")
        .and_then(|v| v.first().copied())
        .unwrap_or(default_bump);
    let n_layers = net.layers().len() as u64;
    let last = match st.counter("last_bumped").unwrap_or(0) {
        0 => None,
        c if c <= n_layers => Some((c - 1) as usize),
        c => {
            return Err(Error::param(
                "resume",
                format!("a last bumped layer in 1..={n_layers} (or 0)"),
                c,
            ))
        }
    };
    Ok((best, bump, last))
}
