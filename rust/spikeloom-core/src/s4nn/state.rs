//! The resumable state of an S4NN training run, in the [`TrainState`] format of the other trainers:
//! the weights as one flat vector (every layer's, in the internal input-major layout), the epochs
//! done, and the best validation epoch so far (`keep_best`: its accuracy and weights, and its number
//! in `counters.best_epoch`). S4NN uses plain SGD, so there are no optimiser moments; the learning
//! rates and the dead-neuron re-draws follow from the absolute epoch. The shuffle stream is not
//! stored: a resumed run replays the shuffles of the epochs done.

use super::network::S4nnNetwork;
use crate::error::{ensure_all_finite, Error, Result};
use crate::rsnn::checkpoint::TrainState;
use crate::rsnn::epochs::Progress;
use crate::train::adam::OptimizerState;

/// The `method` of an S4NN state.
pub const METHOD: &str = "s4nn";

/// The best epoch so far: clean validation accuracy, epoch (1-based), every layer's weights.
pub type Best = (f64, usize, Vec<Vec<f64>>);

/// Number of weights of `net`.
pub fn n_flat(net: &S4nnNetwork) -> usize {
    net.layers.iter().map(|l| l.w.len()).sum()
}

/// Every layer's weights (internal layout), concatenated.
pub fn flat_weights(layers: impl IntoIterator<Item = impl AsRef<[f64]>>) -> Vec<f64> {
    layers
        .into_iter()
        .flat_map(|w| w.as_ref().to_vec())
        .collect()
}

/// Split a flat vector of [`flat_weights`]' layout into `net`'s layers (validated: length, finite);
/// `arg` names the source in errors.
fn split_layers(net: &S4nnNetwork, p: &[f64], arg: &str) -> Result<Vec<Vec<f64>>> {
    if p.len() != n_flat(net) {
        return Err(Error::shape(
            arg,
            format!("{} weights (the network's)", n_flat(net)),
            p.len(),
        ));
    }
    ensure_all_finite(arg, p)?;
    let mut at = 0;
    Ok(net
        .layers
        .iter()
        .map(|l| {
            at += l.w.len();
            p[at - l.w.len()..at].to_vec()
        })
        .collect())
}

/// The state after `epochs_done` epochs whose weights training continues from are `params`;
/// `history` holds the metrics of the run's epochs (see [`Progress::history`]).
pub fn state(
    epochs_done: usize,
    best: Option<&Best>,
    params: Vec<f64>,
    history: &[serde_json::Value],
) -> TrainState {
    TrainState {
        method: METHOD.into(),
        progress: Progress {
            epochs_done,
            best: best.map(|(acc, _, w)| (*acc, flat_weights(w))),
            last_params: None,
            history: history.to_vec(),
        },
        params,
        opt_w: OptimizerState::none(),
        opt_tau: OptimizerState::none(),
        extra: Vec::new(),
        counters: best
            .map(|(_, e, _)| vec![("best_epoch".into(), *e as u64)])
            .unwrap_or_default(),
        fingerprint: None,
    }
}

/// Continue from `st` (checked against the method, `net`'s size and `epochs`): its weights replace
/// `net`'s only once everything is checked. Returns (epochs done, best epoch, the run's history);
/// errors name `resume`.
pub fn restore(
    st: &TrainState,
    net: &mut S4nnNetwork,
    epochs: usize,
) -> Result<(usize, Option<Best>, Vec<serde_json::Value>)> {
    st.check("resume", METHOD, n_flat(net), epochs)?;
    let done = st.progress.epochs_done;
    let best = match &st.progress.best {
        Some((acc, p)) => {
            let epoch = match st.counter("best_epoch") {
                Some(e) if (1..=done as u64).contains(&e) => e as usize,
                other => {
                    return Err(Error::param(
                        "resume",
                        format!("a best epoch in 1..={done}"),
                        format!("{other:?}"),
                    ))
                }
            };
            Some((*acc, epoch, split_layers(net, p, "resume")?))
        }
        None => None,
    };
    let weights = split_layers(net, &st.params, "resume")?;
    for (layer, w) in net.layers.iter_mut().zip(weights) {
        layer.w = w;
    }
    Ok((done, best, st.progress.history.clone()))
}
