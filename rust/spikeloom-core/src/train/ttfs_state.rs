//! The resumable state of a time-to-first-spike training run (Göltz et al. or Comsa et al.), in the
//! [`TrainState`] format the recurrent trainers use: the parameters as one flat vector (every
//! layer's weights, then every layer's bias spike times), both Adam states (weights, and pulse times
//! in `opt_tau`), the epochs done, the best validation epoch, and the weight-bumping state that
//! carries from batch to batch (`extra.bump_value`, `counters.last_bumped` = layer + 1, 0 for none).
//! The shuffle stream is not stored: a resumed run replays the shuffles of the epochs done.

use super::adam::{Adam, Optimizer};
use super::ttfs::{FitConfig, Method};
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

/// What a run carries from epoch to epoch besides the network and the shuffle (see the module docs).
pub struct Carried {
    pub comsa: bool,
    pub epochs_done: usize,
    /// Best validation accuracy so far and its network (under `restore_best`).
    pub best: Option<(f64, Network)>,
    /// Adam of the weights.
    pub adam: Optimizer,
    /// Adam of the pulse (bias spike) times.
    pub pulse_adam: Optimizer,
    pub bump_value: f64,
    pub last_bumped: Option<usize>,
    /// The metrics of every completed epoch of the run (see [`Progress::history`]).
    pub history: Vec<serde_json::Value>,
}

impl Carried {
    /// The start of a run of `cfg` on `net`.
    pub fn new(net: &Network, cfg: &FitConfig) -> Self {
        let adam = |n| {
            Optimizer::Adam(Adam::with_placement(
                n,
                cfg.adam_beta1,
                cfg.adam_beta2,
                cfg.adam_eps,
                cfg.adam_eps_placement,
            ))
        };
        Carried {
            comsa: matches!(cfg.method, Method::Comsa(_)),
            epochs_done: 0,
            best: None,
            adam: adam(net.n_weights()),
            pulse_adam: adam(net.n_bias()),
            bump_value: cfg.bump,
            last_bumped: None,
            history: Vec::new(),
        }
    }

    /// Continue from `st` (checked against the method, network size and `cfg.epochs`): its
    /// parameters replace `net`'s; errors name `resume`.
    pub fn restore(&mut self, st: &TrainState, net: &mut Network, cfg: &FitConfig) -> Result<()> {
        st.check("resume", method_name(self.comsa), n_flat(net), cfg.epochs)?;
        let n_layers = net.layers().len() as u64;
        let last_bumped = match st.counter("last_bumped").unwrap_or(0) {
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
        let best = match &st.progress.best {
            Some((score, p)) => {
                let mut b = net.clone();
                set_flat_params(&mut b, p, "resume")?;
                Some((*score, b))
            }
            None => None,
        };
        let mut adam = self.adam.clone();
        adam.restore(&st.opt_w, "resume")?;
        let mut pulse_adam = self.pulse_adam.clone();
        pulse_adam.restore(&st.opt_tau, "resume")?;
        // Everything checked: only now change the network and the run.
        set_flat_params(net, &st.params, "resume")?;
        *self = Carried {
            comsa: self.comsa,
            epochs_done: st.progress.epochs_done,
            best,
            adam,
            pulse_adam,
            bump_value: st
                .extra("bump_value")
                .and_then(|v| v.first().copied())
                .unwrap_or(cfg.bump),
            last_bumped,
            history: st.progress.history.clone(),
        };
        Ok(())
    }

    /// The state with `net`'s parameters as the ones training continues from (`last`: those, if the
    /// network now holds the best epoch's instead).
    pub fn state(&self, net: &Network, last: Option<Vec<f64>>) -> TrainState {
        let params = last.unwrap_or_else(|| flat_params(net));
        TrainState {
            method: method_name(self.comsa).into(),
            progress: Progress {
                epochs_done: self.epochs_done,
                best: self.best.as_ref().map(|(s, b)| (*s, flat_params(b))),
                last_params: None,
                history: self.history.clone(),
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
