//! The exact TTFS network class.

use crate::callback::EpochCallback;
use crate::checkpoint::PyTrainState;
use crate::errors::{enter_core, to_pyerr};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spikeloom_core::engine::{LayerInit, Network};
use spikeloom_core::rsnn::checkpoint::Continuation;
use spikeloom_core::spike_time::LifParams;
use spikeloom_core::train::{
    self, ComsaLoss, ComsaSettings, FitConfig, LabelledTimes, Objective, TtfsLoss,
};
use spikeloom_core::Error;
use std::path::PathBuf;

/// Feed-forward network of current-based LIF neurons with exact first-spike times.
#[pyclass(module = "spikeloom._core", name = "TtfsNetwork")]
pub struct PyTtfsNetwork {
    pub inner: Network,
}

crate::persist::file_methods!(PyTtfsNetwork, spikeloom_core::io);

fn flat(a: &PyReadonlyArray2<'_, f64>) -> Vec<f64> {
    a.as_array().iter().copied().collect()
}

fn metrics_dict<'py>(py: Python<'py>, m: &train::EpochMetrics) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("epoch", m.epoch)?;
    d.set_item("train_loss", m.train_loss)?;
    d.set_item("train_accuracy", m.train_accuracy)?;
    d.set_item("val_loss", m.val_loss)?;
    d.set_item("val_accuracy", m.val_accuracy)?;
    d.set_item("lr", m.lr)?;
    d.set_item("bumps", m.bumps)?;
    d.set_item("chopped", m.chopped)?;
    d.set_item("seconds", m.seconds)?;
    Ok(d)
}

#[pymethods]
impl PyTtfsNetwork {
    #[new]
    #[pyo3(signature = (sizes, tau_mem, tau_syn, threshold, bias_times, init, seed))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        sizes: Vec<usize>,
        tau_mem: f64,
        tau_syn: f64,
        threshold: f64,
        bias_times: Vec<Vec<f64>>,
        init: Vec<(f64, f64)>,
        seed: u64,
    ) -> PyResult<Self> {
        let inner = enter_core(py, || {
            Network::new(
                LifParams::new(tau_mem, tau_syn, threshold)?,
                &sizes,
                &bias_times,
                &init,
                seed,
            )
        })?;
        Ok(PyTtfsNetwork { inner })
    }

    /// A network whose data and bias columns have their own normal distributions:
    /// `init[l] = (data_mean, data_sd, bias_mean, bias_sd)`.
    #[staticmethod]
    #[pyo3(signature = (sizes, tau_mem, tau_syn, threshold, bias_times, init, seed))]
    #[allow(clippy::too_many_arguments)]
    fn with_init(
        py: Python<'_>,
        sizes: Vec<usize>,
        tau_mem: f64,
        tau_syn: f64,
        threshold: f64,
        bias_times: Vec<Vec<f64>>,
        init: Vec<(f64, f64, f64, f64)>,
        seed: u64,
    ) -> PyResult<Self> {
        let init: Vec<LayerInit> = init
            .into_iter()
            .map(|(data_mean, data_sd, bias_mean, bias_sd)| LayerInit {
                data_mean,
                data_sd,
                bias_mean,
                bias_sd,
            })
            .collect();
        let inner = enter_core(py, || {
            Network::with_init(
                LifParams::new(tau_mem, tau_syn, threshold)?,
                &sizes,
                &bias_times,
                &init,
                seed,
            )
        })?;
        Ok(PyTtfsNetwork { inner })
    }

    /// Replace layer `layer`'s bias spike times (same count, finite, >= 0).
    fn set_bias_times(&mut self, py: Python<'_>, layer: usize, times: Vec<f64>) -> PyResult<()> {
        let inner = &mut self.inner;
        enter_core(py, || inner.set_bias_times(layer, &times))
    }

    #[getter]
    fn sizes(&self) -> Vec<usize> {
        self.inner.sizes()
    }
    #[getter]
    fn tau_mem(&self) -> f64 {
        self.inner.neuron().tau_mem
    }
    #[getter]
    fn tau_syn(&self) -> f64 {
        self.inner.neuron().tau_syn
    }
    #[getter]
    fn threshold(&self) -> f64 {
        self.inner.neuron().threshold
    }

    /// Bias spike times of layer `layer`.
    fn bias_times(&self, py: Python<'_>, layer: usize) -> PyResult<Vec<f64>> {
        let layers = self.inner.layers();
        layers
            .get(layer)
            .map(|l| l.bias_times.clone())
            .ok_or_else(|| {
                to_pyerr(
                    py,
                    Error::param("layer", format!("an index in 0..{}", layers.len()), layer),
                )
            })
    }

    /// A copy of layer `layer`'s weights, shape (n_out, n_in + n_bias).
    fn weights<'py>(&self, py: Python<'py>, layer: usize) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let layers = self.inner.layers();
        let l = layers.get(layer).ok_or_else(|| {
            to_pyerr(
                py,
                Error::param("layer", format!("an index in 0..{}", layers.len()), layer),
            )
        })?;
        Ok(
            Array2::from_shape_vec((l.n_out, l.width()), l.weights.clone())
                .expect("layer invariant")
                .into_pyarray(py),
        )
    }

    fn set_weights(
        &mut self,
        py: Python<'_>,
        layer: usize,
        weights: PyReadonlyArray2<'_, f64>,
    ) -> PyResult<()> {
        let w = flat(&weights);
        let inner = &mut self.inner;
        enter_core(py, || inner.set_weights(layer, &w))
    }

    /// Spike times of every layer, each (n_samples, n_neurons); inf = no spike.
    #[pyo3(signature = (times, threads=0))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        times: PyReadonlyArray2<'py, f64>,
        threads: usize,
    ) -> PyResult<Vec<Bound<'py, PyArray2<f64>>>> {
        let n = times.as_array().nrows();
        let x = flat(&times);
        let inner = &self.inner;
        let per_layer = enter_core(py, || inner.run(&x, n, threads))?;
        Ok(per_layer
            .into_iter()
            .zip(self.inner.layers())
            .map(|(v, l)| {
                Array2::from_shape_vec((n, l.n_out), v)
                    .expect("core shape")
                    .into_pyarray(py)
            })
            .collect())
    }

    /// Mean loss, accuracy and predictions (-1 = no output spike) on a labelled set.
    #[pyo3(signature = (times, labels, xi, alpha, beta, threads=0))]
    #[allow(clippy::too_many_arguments)]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        times: PyReadonlyArray2<'py, f64>,
        labels: PyReadonlyArray1<'py, i64>,
        xi: f64,
        alpha: f64,
        beta: f64,
        threads: usize,
    ) -> PyResult<(f64, f64, Bound<'py, PyArray1<i64>>)> {
        let x = flat(&times);
        let y = labels.as_array().to_vec();
        let inner = &self.inner;
        let loss = TtfsLoss {
            xi,
            alpha,
            beta,
            tau_syn: inner.neuron().tau_syn,
        };
        let e = enter_core(py, || {
            train::evaluate(
                inner,
                LabelledTimes {
                    times: &x,
                    labels: &y,
                },
                &loss,
                threads,
            )
        })?;
        Ok((e.loss, e.accuracy, e.predictions.into_pyarray(py)))
    }

    /// Mean Comsa et al. loss, accuracy and predictions (-1 = no output spike) on a labelled set.
    #[pyo3(signature = (times, labels, time_unit, penalty_output_spike_time, threads=0))]
    fn evaluate_comsa<'py>(
        &self,
        py: Python<'py>,
        times: PyReadonlyArray2<'py, f64>,
        labels: PyReadonlyArray1<'py, i64>,
        time_unit: f64,
        penalty_output_spike_time: f64,
        threads: usize,
    ) -> PyResult<(f64, f64, Bound<'py, PyArray1<i64>>)> {
        let x = flat(&times);
        let y = labels.as_array().to_vec();
        let inner = &self.inner;
        let loss = Objective::Comsa(ComsaLoss {
            time_unit,
            penalty_output_spike_time,
        });
        let e = enter_core(py, || {
            train::evaluate_objective(
                inner,
                LabelledTimes {
                    times: &x,
                    labels: &y,
                },
                &loss,
                threads,
            )
        })?;
        Ok((e.loss, e.accuracy, e.predictions.into_pyarray(py)))
    }

    /// The gradient one Comsa et al. training step would take on these samples. `settings` is a JSON
    /// object with the fields of the core's ComsaSettings. Returns (mean loss, accuracy, contributing
    /// samples, weight gradients per layer, bias-time gradients per layer).
    #[pyo3(signature = (times, labels, settings, threads=0))]
    #[allow(clippy::type_complexity)]
    fn comsa_gradients<'py>(
        &self,
        py: Python<'py>,
        times: PyReadonlyArray2<'py, f64>,
        labels: PyReadonlyArray1<'py, i64>,
        settings: &str,
        threads: usize,
    ) -> PyResult<(
        f64,
        f64,
        usize,
        Vec<Bound<'py, PyArray2<f64>>>,
        Vec<Bound<'py, PyArray1<f64>>>,
    )> {
        let settings: ComsaSettings = serde_json::from_str(settings).map_err(|e| {
            to_pyerr(
                py,
                Error::param("settings", "a complete Comsa configuration", e),
            )
        })?;
        let x = flat(&times);
        let y = labels.as_array().to_vec();
        let inner = &self.inner;
        let g = enter_core(py, || {
            train::comsa_gradients(
                inner,
                LabelledTimes {
                    times: &x,
                    labels: &y,
                },
                &settings,
                threads,
            )
        })?;
        let (mut w_at, mut b_at) = (0, 0);
        let (mut weights, mut bias) = (Vec::new(), Vec::new());
        for l in self.inner.layers() {
            let n = l.weights.len();
            weights.push(
                Array2::from_shape_vec((l.n_out, l.width()), g.weights[w_at..w_at + n].to_vec())
                    .expect("layer shape")
                    .into_pyarray(py),
            );
            w_at += n;
            let nb = l.bias_times.len();
            bias.push(g.bias_times[b_at..b_at + nb].to_vec().into_pyarray(py));
            b_at += nb;
        }
        Ok((g.loss, g.accuracy, g.contributing, weights, bias))
    }

    /// Train in place. `config` is a JSON object with every field of the core's FitConfig.
    /// `callback(metrics: dict) -> bool | None` runs after each epoch; returning False stops.
    /// `resume`: a state of an earlier run to continue; `checkpoint`: a file the state is written to
    /// after every epoch; `fingerprint`: stamped on the states. Returns (history: list[dict],
    /// interrupted: bool, state); Ctrl-C stops after the current epoch.
    #[pyo3(signature = (train_times, train_labels, val_times, val_labels, config, callback=None, resume=None, checkpoint=None, fingerprint=None))]
    #[allow(clippy::too_many_arguments)]
    fn fit<'py>(
        &mut self,
        py: Python<'py>,
        train_times: PyReadonlyArray2<'py, f64>,
        train_labels: PyReadonlyArray1<'py, i64>,
        val_times: Option<PyReadonlyArray2<'py, f64>>,
        val_labels: Option<PyReadonlyArray1<'py, i64>>,
        config: &str,
        callback: Option<Py<PyAny>>,
        resume: Option<PyRef<'py, PyTrainState>>,
        checkpoint: Option<PathBuf>,
        fingerprint: Option<String>,
    ) -> PyResult<(Vec<Bound<'py, PyDict>>, bool, Bound<'py, PyTrainState>)> {
        let cfg: FitConfig = serde_json::from_str(config).map_err(|e| {
            to_pyerr(
                py,
                Error::param("config", "a complete training configuration", e),
            )
        })?;
        let (x, y) = (flat(&train_times), train_labels.as_array().to_vec());
        let val = match (&val_times, &val_labels) {
            (Some(t), Some(l)) => Some((flat(t), l.as_array().to_vec())),
            (None, None) => None,
            _ => {
                return Err(to_pyerr(
                    py,
                    Error::param(
                        "validation",
                        "both times and labels, or neither",
                        "only one of them",
                    ),
                ))
            }
        };
        let mut cb = EpochCallback::new(callback);
        let inner = &mut self.inner;
        let val_ref = val.as_ref().map(|(t, l)| LabelledTimes {
            times: t,
            labels: l,
        });
        let run = Continuation {
            resume: resume.as_ref().map(|r| &r.inner),
            checkpoint: checkpoint.as_deref(),
            fingerprint: fingerprint.as_deref(),
        };
        let (history, state) = enter_core(py, || {
            train::ttfs::fit_from(
                inner,
                LabelledTimes {
                    times: &x,
                    labels: &y,
                },
                val_ref,
                &cfg,
                run,
                &mut |m: &train::EpochMetrics| cb.call(|py| metrics_dict(py, m)),
            )
        })?;
        let interrupted = cb.finish(py)?;
        let dicts = history
            .iter()
            .map(|m| metrics_dict(py, m))
            .collect::<PyResult<Vec<_>>>()?;
        Ok((
            dicts,
            interrupted,
            Bound::new(py, PyTrainState { inner: state })?,
        ))
    }
}
