//! The state of a training run between calls (the recurrent trainers BPTT, DECOLLE and e-prop here;
//! the spike-time trainers map theirs onto it in `train/ttfs_state.rs`), so
//! that a long run can be stopped and resumed: the parameters reached, the optimiser moments and step
//! counts, the epochs completed, the best validation epoch so far, and what else the method carries
//! from batch to batch (e-prop's adaptive feedback matrix and update count). Stored as safetensors
//! (one F64 tensor per vector, the counters as JSON metadata), written atomically. Resuming from the
//! state of a run stopped after an epoch repeats the uninterrupted run bit for bit (same shuffles,
//! learning-rate schedule and optimiser steps).

use super::epochs::{run_epochs_from, EpochSpec, EpochWork, FlatParams, Progress};
use super::io::FlatNetwork;
use crate::error::{Error, Result};
use crate::io::{read_file, serialize_f64, write_atomic, FileReader};
use crate::train::adam::{OptimizerKind, OptimizerState};
use std::ops::ControlFlow;
use std::path::Path;

/// The `format` metadata value of a training-state file.
pub const FORMAT: &str = "spikeloom.training-state";
/// File format version written by this build.
pub const FORMAT_VERSION: u32 = 1;
/// The format of the first, BPTT-only states (written by development builds of stop 14, e.g. the
/// S-MNIST run's checkpoint): read as a "bptt" state without extra vectors or counters.
const LEGACY_FORMAT: &str = "spikeloom.bptt-state";

/// How a `fit_from` call relates to other calls of the same run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Continuation<'a> {
    /// Continue from this state (its parameters replace the network's).
    pub resume: Option<&'a TrainState>,
    /// Write the state to this file (atomically) after every completed epoch.
    pub checkpoint: Option<&'a Path>,
    /// What identifies the run's config and data (opaque to the core; see
    /// [`TrainState::fingerprint`]), stamped on every state the run produces.
    pub fingerprint: Option<&'a str>,
}

impl Continuation<'_> {
    /// `st` with this run's fingerprint.
    pub fn stamp(&self, mut st: TrainState) -> TrainState {
        st.fingerprint = self.fingerprint.map(str::to_string);
        st
    }
}

/// Where a run stands (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainState {
    /// The training method ("bptt", "decolle", "eprop"): a state resumes only its own method.
    pub method: String,
    /// Epochs completed, the best epoch so far (under `restore_best`).
    pub progress: Progress,
    /// The parameters training continues from (the last ones, also when the network was given the
    /// best epoch's at the end).
    pub params: Vec<f64>,
    /// Optimiser of the weights.
    pub opt_w: OptimizerState,
    /// Optimiser of the time constants (an empty SGD state where there is none).
    pub opt_tau: OptimizerState,
    /// Other vectors the method carries from batch to batch, by name.
    pub extra: Vec<(String, Vec<f64>)>,
    /// Counters the method carries, by name.
    pub counters: Vec<(String, u64)>,
    /// What identifies the config and data of the run that wrote the state (set by the caller,
    /// e.g. hashes; not interpreted here): a resume with another one is not an exact continuation.
    /// `None` in states written before it was recorded.
    pub fingerprint: Option<String>,
}

impl OptimizerState {
    /// The state of no optimiser (nothing to carry).
    pub fn none() -> Self {
        OptimizerState {
            kind: OptimizerKind::Sgd,
            step: 0,
            first: Vec::new(),
            second: Vec::new(),
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct OptMeta {
    kind: OptimizerKind,
    step: i32,
    len: usize,
}

impl TrainState {
    /// Serialise to safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let meta = |o: &OptimizerState| OptMeta {
            kind: o.kind,
            step: o.step,
            len: o.first.len(),
        };
        let header = serde_json::json!({
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "spikeloom_version": env!("CARGO_PKG_VERSION"),
            "method": self.method,
            "epochs_done": self.progress.epochs_done,
            "n_params": self.params.len(),
            "best_score": self.progress.best.as_ref().map(|(s, _)| *s),
            "opt_w": meta(&self.opt_w),
            "opt_tau": meta(&self.opt_tau),
            "extra": self.extra.iter().map(|(k, v)| (k.clone(), v.len())).collect::<Vec<_>>(),
            "counters": self.counters,
            "fingerprint": self.fingerprint,
            "history": self.progress.history,
        });
        let mut tensors: Vec<(String, Vec<usize>, &[f64])> =
            vec![("params".into(), vec![self.params.len()], &self.params)];
        if let Some((_, p)) = &self.progress.best {
            tensors.push(("best_params".into(), vec![p.len()], p));
        }
        for (name, o) in [("opt_w", &self.opt_w), ("opt_tau", &self.opt_tau)] {
            // Empty vectors (SGD, no trainable time constants) are not stored.
            if !o.first.is_empty() {
                tensors.push((format!("{name}.first"), vec![o.first.len()], &o.first));
                tensors.push((format!("{name}.second"), vec![o.second.len()], &o.second));
            }
        }
        for (name, v) in &self.extra {
            tensors.push((format!("extra.{name}"), vec![v.len()], v));
        }
        serialize_f64(&tensors, &header)
    }

    /// Parse bytes written by [`TrainState::to_bytes`] (`path` only names the source in errors).
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let (file, legacy) = match FileReader::open(bytes, path, FORMAT, FORMAT_VERSION) {
            Ok(f) => (f, false),
            Err(e) => match FileReader::open(bytes, path, LEGACY_FORMAT, 1) {
                Ok(f) => (f, true),
                Err(_) => return Err(e),
            },
        };
        let method: String = if legacy {
            "bptt".into()
        } else {
            file.parse("method")?
        };
        let epochs_done: usize = file.parse("epochs_done")?;
        let n: usize = file.parse("n_params")?;
        let best_score: Option<f64> = file.parse("best_score")?;
        let params = file.f64("params", &[n])?;
        let best = match best_score {
            Some(s) => Some((s, file.f64("best_params", &[n])?)),
            None => None,
        };
        let opt = |name: &str| -> Result<OptimizerState> {
            let m: OptMeta = file.parse(name)?;
            let (first, second) = if m.len == 0 {
                (Vec::new(), Vec::new())
            } else {
                (
                    file.f64(&format!("{name}.first"), &[m.len])?,
                    file.f64(&format!("{name}.second"), &[m.len])?,
                )
            };
            Ok(OptimizerState {
                kind: m.kind,
                step: m.step,
                first,
                second,
            })
        };
        let extra_meta: Vec<(String, usize)> = if legacy {
            Vec::new()
        } else {
            file.parse("extra")?
        };
        let extra = extra_meta
            .into_iter()
            .map(|(k, len)| Ok((k.clone(), file.f64(&format!("extra.{k}"), &[len])?)))
            .collect::<Result<Vec<_>>>()?;
        let fingerprint = if legacy {
            None
        } else {
            file.optional("fingerprint")?.flatten()
        };
        let history = file.optional("history")?.unwrap_or_default();
        Ok(TrainState {
            method,
            fingerprint,
            extra,
            counters: if legacy {
                Vec::new()
            } else {
                file.parse("counters")?
            },
            progress: Progress {
                epochs_done,
                best,
                last_params: None,
                history,
            },
            params,
            opt_w: opt("opt_w")?,
            opt_tau: opt("opt_tau")?,
        })
    }

    /// Save atomically to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes()?)
    }

    /// Extra vector `name` (see [`TrainState::extra`]).
    pub fn extra(&self, name: &str) -> Option<&[f64]> {
        self.extra
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Counter `name` (see [`TrainState::counters`]).
    pub fn counter(&self, name: &str) -> Option<u64> {
        self.counters
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
    }

    /// Load a state saved by [`TrainState::save`].
    pub fn load(path: &Path) -> Result<Self> {
        Self::from_bytes(&read_file(path)?, path)
    }

    /// Check that this state belongs to a `method` run of a network of `n_params` parameters trained
    /// for at most `epochs` epochs (`arg` names the source in errors).
    pub fn check(&self, arg: &str, method: &str, n_params: usize, epochs: usize) -> Result<()> {
        if self.method != method {
            return Err(Error::param(
                arg,
                format!("the state of a {method} run"),
                format!("that of a {} run", self.method),
            ));
        }
        if self.params.len() != n_params {
            return Err(Error::param(
                arg,
                format!("the state of a network with {n_params} parameters"),
                format!("{} parameters", self.params.len()),
            ));
        }
        if self.progress.epochs_done > epochs {
            return Err(Error::param(
                arg,
                format!("a run of at most the config's {epochs} epochs"),
                format!("{} epochs done", self.progress.epochs_done),
            ));
        }
        Ok(())
    }
}

/// A trainer whose runs can be resumed: it builds its [`TrainState`] and continues from one.
pub trait Resume<N>: EpochWork<N> {
    /// The run's state with `progress` and the parameters `params`.
    fn state(&self, progress: Progress, params: Vec<f64>) -> TrainState;
    /// Continue from `st` (checked to be this method's, for this network): the optimiser and
    /// whatever else the trainer carries. The parameters and progress are restored by the caller.
    fn restore(&mut self, st: &TrainState) -> Result<()>;
}

/// Write the state built by `state`, stamped with the run's fingerprint, to the run's checkpoint
/// file (atomically), if it has one.
pub fn write_checkpoint(run: &Continuation<'_>, state: impl FnOnce() -> TrainState) -> Result<()> {
    run.checkpoint
        .map_or(Ok(()), |p| run.stamp(state()).save(p))
}

/// [`run_epochs_from`] for a resumable trainer: continue from `run.resume` (its parameters replace
/// the network's) and return the epochs' metrics with the state to resume from. (Writing
/// `run.checkpoint` after each epoch is the trainer's [`EpochWork::epoch_done`], with
/// [`write_checkpoint`].)
pub fn run_resumable<N: FlatParams + FlatNetwork, W: Resume<N>>(
    net: &mut N,
    spec: EpochSpec,
    n_samples: usize,
    work: &mut W,
    run: Continuation<'_>,
    callback: &mut dyn FnMut(&W::Metrics) -> ControlFlow<()>,
    interrupt: &dyn Fn() -> bool,
) -> Result<(Vec<W::Metrics>, TrainState)> {
    let mut progress = Progress::default();
    if let Some(st) = run.resume {
        net.replace_params(st.params.clone())
            .map_err(|e| Error::param("resume", "valid parameters", e))?;
        work.restore(st)?;
        progress = st.progress.clone();
    }
    let history = run_epochs_from(
        net,
        spec,
        n_samples,
        work,
        &mut progress,
        callback,
        interrupt,
    )?;
    let params = match progress.last_params.take() {
        Some(p) => p,
        None => net.flat_params().clone(),
    };
    Ok((history, run.stamp(work.state(progress, params))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_exact_and_bad_bytes_are_refused() {
        let st = TrainState {
            method: "eprop".into(),
            fingerprint: Some("{\"config\": \"ab\"}".into()),
            extra: vec![("feedback".into(), vec![0.5, -0.25])],
            counters: vec![("updates".into(), 7)],
            progress: Progress {
                epochs_done: 3,
                // 7 / 30: its shortest decimal form needs 17 digits, which serde_json's default
                // (not correctly rounded) parser read back one ulp off.
                best: Some((7.0 / 30.0, vec![1.0, -2.5, 0.1 + 0.2])),
                last_params: None,
                history: vec![
                    serde_json::json!({"epoch": 1, "val_accuracy": 7.0 / 30.0, "rates_hz": [1.5]}),
                    serde_json::json!({"epoch": 2, "val_accuracy": null, "rates_hz": []}),
                ],
            },
            params: vec![0.1, 0.2, f64::MIN_POSITIVE],
            opt_w: OptimizerState {
                kind: OptimizerKind::Adamax,
                step: 42,
                first: vec![1e-300, 2.0, -3.0],
                second: vec![4.0, 5.0, 6.0],
            },
            opt_tau: OptimizerState::none(),
        };
        let bytes = st.to_bytes().unwrap();
        let back = TrainState::from_bytes(&bytes, Path::new("mem")).unwrap();
        assert_eq!(back, st);
        assert!(TrainState::from_bytes(&bytes[..bytes.len() - 8], Path::new("mem")).is_err());
        assert_eq!(back.extra("feedback"), Some(&[0.5, -0.25][..]));
        assert_eq!(back.counter("updates"), Some(7));
        assert!(st.check("resume", "eprop", 4, 10).is_err());
        assert!(st.check("resume", "eprop", 3, 2).is_err());
        assert!(st.check("resume", "bptt", 3, 3).is_err());
        assert!(st.check("resume", "eprop", 3, 3).is_ok());
    }

    #[test]
    fn legacy_bptt_states_are_read() {
        let params = [1.0, 2.0];
        let first = [0.5, 0.25];
        let header = serde_json::json!({
            "format": LEGACY_FORMAT, "format_version": 1, "spikeloom_version": "0.1.0",
            "epochs_done": 4, "n_params": 2, "best_score": null,
            "opt_w": {"kind": "adam", "step": 9, "len": 2},
            "opt_tau": {"kind": "adam", "step": 9, "len": 0},
        });
        let tensors: Vec<(String, Vec<usize>, &[f64])> = vec![
            ("params".into(), vec![2], &params),
            ("opt_w.first".into(), vec![2], &first),
            ("opt_w.second".into(), vec![2], &first),
        ];
        let bytes = serialize_f64(&tensors, &header).unwrap();
        let st = TrainState::from_bytes(&bytes, Path::new("old")).unwrap();
        assert_eq!(st.method, "bptt");
        assert_eq!(st.progress.epochs_done, 4);
        assert_eq!(st.params, params);
        assert_eq!((st.opt_w.step, st.opt_w.first.as_slice()), (9, &first[..]));
        assert!(st.extra.is_empty() && st.counters.is_empty() && st.opt_tau.first.is_empty());
        assert!(st.fingerprint.is_none());
        assert!(st.progress.history.is_empty());
    }
}
