//! The DECOLLE network class: description and parameters in, local-learning training, evaluation,
//! recording. Configurations cross the boundary as JSON text (validated by the core's serde types);
//! metrics come back as Python dicts.

use crate::checkpoint::PyTrainState;
use crate::errors::enter_core;
use crate::rsnn::{json, resumable_fit, sequences, targets};
use numpy::ndarray::{Array1, Array3};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spikeloom_core::rsnn::decolle::forward::LayerRecord;
use spikeloom_core::rsnn::decolle::train::{self, Stats};
use spikeloom_core::rsnn::decolle::{DecolleConfig, DecolleNetwork, DecolleSpec, LocalLoss};
use spikeloom_core::rsnn::real::Real;
use spikeloom_core::rsnn::train::Data;
use spikeloom_core::rsnn::{Precision, Surrogate};
use std::path::PathBuf;

/// A stack of LIF layers trained with DECOLLE's local losses.
#[pyclass(module = "spikeloom._core", name = "DecolleNetwork")]
pub struct PyDecolleNetwork {
    pub inner: DecolleNetwork,
}

crate::persist::file_methods!(PyDecolleNetwork, spikeloom_core::rsnn::decolle::io);

fn stats_dict<'py>(
    py: Python<'py>,
    net: &DecolleNetwork,
    st: &Stats,
    steps: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("loss", st.loss / st.samples.max(1) as f64)?;
    d.set_item("accuracy", st.accuracy())?;
    d.set_item("layer_accuracy", st.layer_accuracy())?;
    d.set_item("rates_hz", st.rates_hz(net, steps))?;
    d.set_item("samples", st.samples)?;
    Ok(d)
}

fn precision(py: Python<'_>, p: &str) -> PyResult<Precision> {
    json(py, "precision", &format!("\"{p}\""))
}

fn record_arrays<'py, F: Real + numpy::Element>(
    py: Python<'py>,
    recs: &[Vec<LayerRecord<F>>],
    steps: usize,
    sizes: &[usize],
    n_out: usize,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let b = recs.len();
    let mut out = Vec::new();
    for (l, &n) in sizes.iter().enumerate() {
        let cat = |f: &dyn Fn(&LayerRecord<F>) -> &Vec<F>| -> Vec<F> {
            recs.iter().flat_map(|r| f(&r[l]).iter().copied()).collect()
        };
        let arr = |v: Vec<F>, k: usize| Array3::from_shape_vec((b, steps, k), v).expect("shape");
        let d = PyDict::new(py);
        d.set_item("spikes", arr(cat(&|r| &r.spikes), n).into_pyarray(py))?;
        d.set_item("u", arr(cat(&|r| &r.u), n).into_pyarray(py))?;
        d.set_item("readout", arr(cat(&|r| &r.y), n_out).into_pyarray(py))?;
        out.push(d);
    }
    Ok(out)
}

#[pymethods]
impl PyDecolleNetwork {
    /// A network from its JSON description (the core's DecolleSpec) with seeded initial values.
    #[new]
    fn new(py: Python<'_>, spec: &str, seed: u64) -> PyResult<Self> {
        let spec: DecolleSpec = json(py, "spec", spec)?;
        let inner = enter_core(py, || DecolleNetwork::new(spec, seed))?;
        Ok(PyDecolleNetwork { inner })
    }

    /// The description as JSON text.
    fn spec_json(&self) -> String {
        serde_json::to_string(&self.inner.spec).unwrap_or_default()
    }

    /// All values (trainable, then the fixed readouts) as one flat float64 vector.
    fn params<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        Array1::from_vec(self.inner.params.clone()).into_pyarray(py)
    }

    /// Replace all values (flat vector, as `params`).
    fn set_params(&mut self, py: Python<'_>, params: PyReadonlyArray1<'_, f64>) -> PyResult<()> {
        let p = params.as_array().to_vec();
        let inner = &mut self.inner;
        enter_core(py, || inner.set_params(p))
    }

    /// [(name, shape, start, stop)] of every tensor in the flat vector.
    fn tensors(&self) -> Vec<(String, Vec<usize>, usize, usize)> {
        self.inner
            .layout
            .tensors()
            .into_iter()
            .map(|(n, s, r)| (n, s, r.start, r.end))
            .collect()
    }

    /// Number of trainable values (the flat vector's prefix; the readouts follow).
    fn n_trainable(&self) -> usize {
        self.inner.layout.n_trainable
    }

    /// Train in place. `config` is the core's DecolleConfig as JSON; `resume`: training-state bytes
    /// to continue from; `checkpoint`: file the state is written to after every epoch. Returns
    /// (history, interrupted, state bytes); Ctrl-C stops after the current batch.
    #[pyo3(signature = (x, y, val_x, val_y, config, callback=None, resume=None, checkpoint=None, fingerprint=None))]
    #[allow(clippy::too_many_arguments)]
    fn fit<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        val_x: Option<&Bound<'py, PyAny>>,
        val_y: Option<&Bound<'py, PyAny>>,
        config: &str,
        callback: Option<Py<PyAny>>,
        resume: Option<PyRef<'py, PyTrainState>>,
        checkpoint: Option<PathBuf>,
        fingerprint: Option<String>,
    ) -> PyResult<(Vec<Bound<'py, PyDict>>, bool, Bound<'py, PyTrainState>)> {
        let cfg: DecolleConfig = json(py, "config", config)?;
        let n_out = self.inner.spec.n_outputs;
        let inner = &mut self.inner;
        let data = (x, y, val_x, val_y);
        resumable_fit(
            py,
            data,
            n_out,
            callback,
            (resume, checkpoint, fingerprint),
            |t, v, run, cb, stop| train::fit_from(inner, t, v, &cfg, run, cb, stop),
        )
    }

    /// Mean objective, accuracy (last layer), per-layer accuracies and firing rates (Hz).
    #[pyo3(signature = (x, y, loss, burn_in, surrogate, precision, threads=0))]
    #[allow(clippy::too_many_arguments)]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        loss: &str,
        burn_in: usize,
        surrogate: &str,
        precision: &str,
        threads: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let loss: LocalLoss = json(py, "loss", &format!("\"{loss}\""))?;
        let sur: Surrogate = json(py, "surrogate", surrogate)?;
        let prec = self::precision(py, precision)?;
        let xs = sequences(py, "x", x)?;
        let ys = targets(py, "y", y, self.inner.spec.n_outputs)?;
        let net = &self.inner;
        let data = Data { x: &xs, y: &ys };
        let st = enter_core(py, || match prec {
            Precision::F32 => train::evaluate::<f32>(net, data, loss, burn_in, &sur, threads),
            Precision::F64 => train::evaluate::<f64>(net, data, loss, burn_in, &sur, threads),
        })?;
        stats_dict(py, net, &st, xs.n_steps)
    }

    /// (mean objective, gradient of the trainable values as a flat float64 vector) over all samples,
    /// with the weights fixed over each sequence, using the config's loss, burn-in, surrogate and
    /// precision.
    fn gradient<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        config: &str,
    ) -> PyResult<(f64, Bound<'py, PyArray1<f64>>)> {
        let cfg: DecolleConfig = json(py, "config", config)?;
        let xs = sequences(py, "x", x)?;
        let ys = targets(py, "y", y, self.inner.spec.n_outputs)?;
        let net = &self.inner;
        let data = Data { x: &xs, y: &ys };
        let idx: Vec<usize> = (0..xs.n_samples).collect();
        let (g, st) = enter_core(py, || {
            cfg.validate()?;
            train::check_data("data", net, data, cfg.burn_in)?;
            match cfg.precision {
                Precision::F32 => train::gradient::<f32>(net, data, &idx, &cfg),
                Precision::F64 => train::gradient::<f64>(net, data, &idx, &cfg),
            }
        })?;
        Ok((
            st.loss / st.samples.max(1) as f64,
            Array1::from_vec(g).into_pyarray(py),
        ))
    }

    /// Run with fixed weights and record, per layer, {"spikes", "u", "readout"} arrays [n, steps, k]
    /// (float32 or float64 per `precision`).
    #[pyo3(signature = (x, surrogate, precision, threads=0))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        surrogate: &str,
        precision: &str,
        threads: usize,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let sur: Surrogate = json(py, "surrogate", surrogate)?;
        let prec = self::precision(py, precision)?;
        let xs = sequences(py, "x", x)?;
        let net = &self.inner;
        let (steps, sizes, no) = (xs.n_steps, &net.spec.sizes, net.spec.n_outputs);
        match prec {
            Precision::F32 => {
                let r = enter_core(py, || train::record::<f32>(net, &xs, &sur, threads))?;
                record_arrays(py, &r, steps, sizes, no)
            }
            Precision::F64 => {
                let r = enter_core(py, || train::record::<f64>(net, &xs, &sur, threads))?;
                record_arrays(py, &r, steps, sizes, no)
            }
        }
    }
}
