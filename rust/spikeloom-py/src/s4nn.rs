//! The S4NN network class (Kheradpisheh & Masquelier 2020). Times are integer grid steps.

use crate::callback::EpochCallback;
use crate::checkpoint::PyTrainState;
use crate::errors::{enter_core, to_pyerr};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spikeloom_core::rsnn::checkpoint::Continuation;
use spikeloom_core::s4nn::{
    self, LabelledSteps, Protocol, S4nnEpochMetrics, S4nnFitConfig, S4nnNetwork, TieRule,
};
use spikeloom_core::Error;
use std::path::PathBuf;

/// Feed-forward S4NN network (non-leaky IF, step synapses, one spike per neuron, integer time grid).
#[pyclass(module = "spikeloom._core", name = "S4nnNetwork")]
pub struct PyS4nnNetwork {
    pub inner: S4nnNetwork,
}

crate::persist::file_methods!(PyS4nnNetwork, spikeloom_core::s4nn::io);

/// Integer time steps as u32 (values outside 0..=u32::MAX are refused; the core checks t_max).
fn steps(py: Python<'_>, arg: &str, a: &PyReadonlyArray2<'_, i64>) -> PyResult<Vec<u32>> {
    a.as_array()
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            u32::try_from(t).map_err(|_| {
                to_pyerr(
                    py,
                    Error::param(
                        arg,
                        "integer time steps in 0..=t_max",
                        format!("{t} at flat index {i}"),
                    ),
                )
            })
        })
        .collect()
}

fn tie_rule(py: Python<'_>, tie: &str) -> PyResult<TieRule> {
    TieRule::parse("tie", tie).map_err(|e| to_pyerr(py, e))
}

fn layer_err(py: Python<'_>, n: usize, layer: usize) -> PyErr {
    to_pyerr(
        py,
        Error::param("layer", format!("an index in 0..{n}"), layer),
    )
}

fn metrics_dict<'py>(py: Python<'py>, m: &S4nnEpochMetrics) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("epoch", m.epoch)?;
    d.set_item("train_accuracy", m.train_accuracy)?;
    d.set_item("train_error_fraction", m.train_error_fraction)?;
    d.set_item("hidden_spike_fraction", m.hidden_spike_fraction)?;
    d.set_item("output_silent_fraction", m.output_silent_fraction)?;
    d.set_item("reinitialised", m.reinitialised)?;
    d.set_item("val_accuracy", m.val_accuracy)?;
    d.set_item("val_accuracy_paper", m.val_accuracy_paper)?;
    d.set_item("test_accuracy", m.test_accuracy)?;
    d.set_item("test_accuracy_paper", m.test_accuracy_paper)?;
    d.set_item("seconds", m.seconds)?;
    Ok(d)
}

fn as_set(s: &Option<(Vec<u32>, Vec<i64>)>) -> Option<LabelledSteps<'_>> {
    s.as_ref().map(|(t, l)| LabelledSteps {
        times: t,
        labels: l,
    })
}

type OptionalSet<'py> = (
    Option<PyReadonlyArray2<'py, i64>>,
    Option<PyReadonlyArray1<'py, i64>>,
);

fn optional_set(
    py: Python<'_>,
    name: &str,
    set: &OptionalSet<'_>,
) -> PyResult<Option<(Vec<u32>, Vec<i64>)>> {
    match set {
        (Some(t), Some(l)) => Ok(Some((
            steps(py, &format!("{name}.times"), t)?,
            l.as_array().to_vec(),
        ))),
        (None, None) => Ok(None),
        _ => Err(to_pyerr(
            py,
            Error::param(
                name,
                "both times and labels, or neither",
                "only one of them",
            ),
        )),
    }
}

#[pymethods]
impl PyS4nnNetwork {
    #[new]
    #[pyo3(signature = (sizes, thresholds, init, t_max, delay, seed))]
    fn new(
        py: Python<'_>,
        sizes: Vec<usize>,
        thresholds: Vec<f64>,
        init: Vec<(f64, f64)>,
        t_max: u32,
        delay: u32,
        seed: u64,
    ) -> PyResult<Self> {
        let inner = enter_core(py, || {
            S4nnNetwork::new(&sizes, &thresholds, &init, t_max, delay, seed)
        })?;
        Ok(PyS4nnNetwork { inner })
    }

    #[getter]
    fn sizes(&self) -> Vec<usize> {
        self.inner.sizes()
    }
    #[getter]
    fn thresholds(&self) -> Vec<f64> {
        self.inner.thresholds()
    }
    #[getter]
    fn t_max(&self) -> u32 {
        self.inner.t_max()
    }
    #[getter]
    fn delay(&self) -> u32 {
        self.inner.delay()
    }

    /// A copy of layer `layer`'s weights, shape (n_out, n_in).
    fn weights<'py>(&self, py: Python<'py>, layer: usize) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let layers = self.inner.layers();
        let l = layers
            .get(layer)
            .ok_or_else(|| layer_err(py, layers.len(), layer))?;
        Ok(Array2::from_shape_vec((l.n_out(), l.n_in()), l.weights())
            .expect("layer invariant")
            .into_pyarray(py))
    }

    fn set_weights(
        &mut self,
        py: Python<'_>,
        layer: usize,
        weights: PyReadonlyArray2<'_, f64>,
    ) -> PyResult<()> {
        let w: Vec<f64> = weights.as_array().iter().copied().collect();
        let inner = &mut self.inner;
        enter_core(py, || inner.set_weights(layer, &w))
    }

    /// Spike times of every layer, each (n_samples, n_neurons), int64 (t_max = no real spike), and
    /// the last layer's potentials at the crossing step (n_samples, n_outputs), 0 where none.
    #[pyo3(signature = (times, threads=0))]
    #[allow(clippy::type_complexity)]
    fn run<'py>(
        &self,
        py: Python<'py>,
        times: PyReadonlyArray2<'py, i64>,
        threads: usize,
    ) -> PyResult<(Vec<Bound<'py, PyArray2<i64>>>, Bound<'py, PyArray2<f64>>)> {
        let n = times.as_array().nrows();
        let x = steps(py, "times", &times)?;
        let inner = &self.inner;
        let (per_layer, volts) = enter_core(py, || inner.run(&x, n, threads))?;
        let layers = per_layer
            .into_iter()
            .zip(self.inner.layers())
            .map(|(v, l)| {
                Array2::from_shape_vec((n, l.n_out()), v.into_iter().map(i64::from).collect())
                    .expect("core shape")
                    .into_pyarray(py)
            })
            .collect();
        let volts = Array2::from_shape_vec((n, self.inner.n_outputs()), volts)
            .expect("core shape")
            .into_pyarray(py);
        Ok((layers, volts))
    }

    /// Predicted classes (-1 = no output spike under the clean protocol).
    #[pyo3(signature = (times, tie, protocol, threads=0))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        times: PyReadonlyArray2<'py, i64>,
        tie: &str,
        protocol: &str,
        threads: usize,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let n = times.as_array().nrows();
        let x = steps(py, "times", &times)?;
        let tie = tie_rule(py, tie)?;
        let protocol = Protocol::parse("protocol", protocol).map_err(|e| to_pyerr(py, e))?;
        let inner = &self.inner;
        let pred = enter_core(py, || inner.predict(&x, n, tie, protocol, threads))?;
        Ok(pred.into_pyarray(py))
    }

    /// Accuracy with both protocols and spike statistics, as a dict.
    #[pyo3(signature = (times, labels, tie, threads=0))]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        times: PyReadonlyArray2<'py, i64>,
        labels: PyReadonlyArray1<'py, i64>,
        tie: &str,
        threads: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let x = steps(py, "times", &times)?;
        let y = labels.as_array().to_vec();
        let tie = tie_rule(py, tie)?;
        let inner = &self.inner;
        let e = enter_core(py, || {
            inner.evaluate(
                LabelledSteps {
                    times: &x,
                    labels: &y,
                },
                tie,
                threads,
            )
        })?;
        let d = PyDict::new(py);
        d.set_item("n", e.n)?;
        d.set_item("accuracy", e.accuracy)?;
        d.set_item("accuracy_paper", e.accuracy_paper)?;
        d.set_item("no_output_spike", e.no_output_spike)?;
        d.set_item("ties", e.ties)?;
        d.set_item("mean_first_spike", e.mean_first_spike)?;
        Ok(d)
    }

    /// Train in place. `config` is a JSON object with every field of the core's S4nnFitConfig.
    /// `callback(metrics: dict) -> bool | None` runs after each epoch; returning False stops.
    /// `resume`: a state of an earlier run to continue; `checkpoint`: a file the state is written to
    /// after every epoch; `fingerprint`: stamped on the states. Returns (history: list[dict],
    /// interrupted: bool, best_epoch: int | None, state); Ctrl-C stops after the current epoch.
    #[pyo3(signature = (train_times, train_labels, val_times, val_labels, test_times, test_labels, config, callback=None, resume=None, checkpoint=None, fingerprint=None))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn fit<'py>(
        &mut self,
        py: Python<'py>,
        train_times: PyReadonlyArray2<'py, i64>,
        train_labels: PyReadonlyArray1<'py, i64>,
        val_times: Option<PyReadonlyArray2<'py, i64>>,
        val_labels: Option<PyReadonlyArray1<'py, i64>>,
        test_times: Option<PyReadonlyArray2<'py, i64>>,
        test_labels: Option<PyReadonlyArray1<'py, i64>>,
        config: &str,
        callback: Option<Py<PyAny>>,
        resume: Option<PyRef<'py, PyTrainState>>,
        checkpoint: Option<PathBuf>,
        fingerprint: Option<String>,
    ) -> PyResult<(
        Vec<Bound<'py, PyDict>>,
        bool,
        Option<usize>,
        Bound<'py, PyTrainState>,
    )> {
        let cfg: S4nnFitConfig = serde_json::from_str(config).map_err(|e| {
            to_pyerr(
                py,
                Error::param("config", "a complete S4NN training configuration", e),
            )
        })?;
        let x = steps(py, "train.times", &train_times)?;
        let y = train_labels.as_array().to_vec();
        let val = optional_set(py, "validation", &(val_times, val_labels))?;
        let test = optional_set(py, "test", &(test_times, test_labels))?;
        let mut cb = EpochCallback::new(callback);
        let inner = &mut self.inner;
        let (val_ref, test_ref) = (as_set(&val), as_set(&test));
        let run = Continuation {
            resume: resume.as_ref().map(|r| &r.inner),
            checkpoint: checkpoint.as_deref(),
            fingerprint: fingerprint.as_deref(),
        };
        let (outcome, state) = enter_core(py, || {
            s4nn::fit_from(
                inner,
                LabelledSteps {
                    times: &x,
                    labels: &y,
                },
                val_ref,
                test_ref,
                &cfg,
                run,
                &mut |m: &S4nnEpochMetrics| cb.call(|py| metrics_dict(py, m)),
            )
        })?;
        let interrupted = cb.finish(py)?;
        let dicts = outcome
            .history
            .iter()
            .map(|m| metrics_dict(py, m))
            .collect::<PyResult<Vec<_>>>()?;
        Ok((
            dicts,
            interrupted,
            outcome.best_epoch,
            Bound::new(py, PyTrainState { inner: state })?,
        ))
    }

    /// The relative targets of the S4NN rule for output times (n, n_out) and labels (n,).
    #[staticmethod]
    fn relative_targets<'py>(
        py: Python<'py>,
        times: PyReadonlyArray2<'py, i64>,
        labels: PyReadonlyArray1<'py, i64>,
        t_max: u32,
        gamma: u32,
    ) -> PyResult<Bound<'py, PyArray2<i64>>> {
        let (n, n_out) = times.as_array().dim();
        let t = steps(py, "times", &times)?;
        let y = labels.as_array().to_vec();
        if let Some(i) = t.iter().position(|&v| v > t_max) {
            return Err(to_pyerr(
                py,
                Error::param(
                    "times",
                    format!("integer time steps in 0..={t_max} (t_max)"),
                    format!("{} at flat index {i}", t[i]),
                ),
            ));
        }
        if y.len() != n {
            return Err(to_pyerr(
                py,
                Error::shape("labels", format!("{n} labels"), y.len()),
            ));
        }
        if let Some(i) = y.iter().position(|&l| l < 0 || l as usize >= n_out) {
            return Err(to_pyerr(
                py,
                Error::param(
                    "labels",
                    format!("integers in 0..{n_out}"),
                    format!("{} at index {i}", y[i]),
                ),
            ));
        }
        let mut out = vec![0u32; n * n_out];
        for ((row, tg), &label) in t
            .chunks(n_out.max(1))
            .zip(out.chunks_mut(n_out.max(1)))
            .zip(&y)
        {
            s4nn::relative_targets(row, label as usize, t_max, gamma, tg);
        }
        Ok(
            Array2::from_shape_vec((n, n_out), out.into_iter().map(i64::from).collect())
                .expect("shape")
                .into_pyarray(py),
        )
    }
}
