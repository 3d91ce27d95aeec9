//! The recurrent network class: description and parameters in, BPTT training, evaluation, recording.
//! Configurations cross the boundary as JSON text (validated by the core's serde types); metrics come
//! back as Python dicts.

use crate::callback::EpochCallback;
use crate::checkpoint::PyTrainState;
use crate::errors::{enter_core, to_pyerr};
use numpy::ndarray::Dimension;
use numpy::ndarray::{Array1, Array3};
use numpy::{
    Element, IntoPyArray, PyArray1, PyArray3, PyArrayDescrMethods, PyReadonlyArray,
    PyReadonlyArray1, PyReadonlyArray3, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spikeloom_core::rsnn::checkpoint::{Continuation, TrainState};
use spikeloom_core::rsnn::forward::Trace;
use spikeloom_core::rsnn::real::Real;
use spikeloom_core::rsnn::train::{self, BatchStats, Data};
use spikeloom_core::rsnn::{
    BpttConfig, LossSpec, NetworkSpec, Precision, RsnnNetwork, Sequences, Surrogate, Targets,
};
use spikeloom_core::Error;
use std::ops::ControlFlow;
use std::path::PathBuf;

/// Recurrent spiking network trained with surrogate-gradient BPTT.
#[pyclass(module = "spikeloom._core", name = "RsnnNetwork")]
pub struct PyRsnnNetwork {
    pub inner: RsnnNetwork,
}

crate::persist::file_methods!(PyRsnnNetwork, spikeloom_core::rsnn::io);

pub(crate) fn json<T: serde::de::DeserializeOwned>(
    py: Python<'_>,
    arg: &str,
    text: &str,
) -> PyResult<T> {
    serde_json::from_str(text)
        .map_err(|e| to_pyerr(py, Error::param(arg, "a valid description", e)))
}

pub(crate) fn to_dict<'py, T: serde::Serialize>(
    py: Python<'py>,
    v: &T,
) -> PyResult<Bound<'py, PyDict>> {
    let text = serde_json::to_string(v)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    py.import("json")?
        .call_method1("loads", (text,))?
        .cast_into::<PyDict>()
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))
}

/// `x` as a read-only `T` array of `D`'s rank when it is one, else `None`. The test is on the dtype
/// and rank (C-level checks that run no Python code); only then is `x` extracted, and any error of
/// that extraction (a conflicting borrow, or a Ctrl-C raised while it ran) propagates: trying dtypes
/// one after the other with `extract().ok()` would swallow such an error.
pub(crate) fn array_of<'py, T: Element, D: Dimension>(
    x: &Bound<'py, PyAny>,
) -> PyResult<Option<PyReadonlyArray<'py, T, D>>> {
    let Ok(a) = x.cast::<PyUntypedArray>() else {
        return Ok(None);
    };
    let rank_ok = D::NDIM.map_or(true, |n| n == a.ndim());
    if !rank_ok || !a.dtype().is_equiv_to(&numpy::dtype::<T>(x.py())) {
        return Ok(None);
    }
    x.extract().map(Some)
}

/// Input sequences from a C-contiguous [n, steps, channels] array of bool, uint8, float32 or float64.
pub(crate) fn sequences(py: Python<'_>, arg: &str, x: &Bound<'_, PyAny>) -> PyResult<Sequences> {
    fn build<T: numpy::Element + Copy + Sync>(
        py: Python<'_>,
        arg: &str,
        a: PyReadonlyArray3<'_, T>,
        f: impl Fn(T) -> f64 + Send + Sync,
    ) -> PyResult<Sequences> {
        let (n, t, c) = a.as_array().dim();
        match a.as_slice() {
            // C-contiguous (the Python layer guarantees it): read the numpy buffer directly.
            Ok(data) => enter_core(py, || Sequences::from_dense_with(arg, data, n, t, c, f)),
            Err(_) => {
                let data: Vec<T> = a.as_array().iter().copied().collect();
                enter_core(py, || Sequences::from_dense_with(arg, &data, n, t, c, f))
            }
        }
    }
    if let Some(a) = array_of::<bool, numpy::Ix3>(x)? {
        let (n, t, c) = a.as_array().dim();
        if let Ok(data) = a.as_slice() {
            let bytes: &[u8] = bytemuck::cast_slice(data);
            return enter_core(py, || Sequences::from_bytes(arg, bytes, n, t, c));
        }
        return build(py, arg, a, |v| if v { 1.0 } else { 0.0 });
    }
    if let Some(a) = array_of::<u8, numpy::Ix3>(x)? {
        let (n, t, c) = a.as_array().dim();
        if let Ok(data) = a.as_slice() {
            return enter_core(py, || Sequences::from_bytes(arg, data, n, t, c));
        }
        return build(py, arg, a, |v| v as f64);
    }
    if let Some(a) = array_of::<f32, numpy::Ix3>(x)? {
        return build(py, arg, a, |v| v as f64);
    }
    if let Some(a) = array_of::<f64, numpy::Ix3>(x)? {
        return build(py, arg, a, |v| v);
    }
    Err(to_pyerr(
        py,
        Error::param(
            arg,
            "a 3-D array [samples, steps, channels] of bool, uint8, float32 or float64",
            x.get_type().name()?,
        ),
    ))
}

/// Targets: int64 labels [n], or float32 series [n, steps, n_out].
pub(crate) fn targets(
    py: Python<'_>,
    arg: &str,
    y: &Bound<'_, PyAny>,
    n_out: usize,
) -> PyResult<Targets> {
    if let Some(a) = array_of::<i64, numpy::Ix1>(y)? {
        let labels = a.as_array().to_vec();
        return Targets::labels(arg, &labels, n_out).map_err(|e| to_pyerr(py, e));
    }
    if let Some(a) = array_of::<f32, numpy::Ix3>(y)? {
        let k = a.as_array().dim().2;
        return Ok(Targets::Series {
            data: a.as_array().iter().copied().collect(),
            n_out: k,
        });
    }
    Err(to_pyerr(
        py,
        Error::param(
            arg,
            "int64 labels [samples] or float32 targets [samples, steps, outputs]",
            y.get_type().name()?,
        ),
    ))
}

fn stats_dict<'py>(
    py: Python<'py>,
    net: &RsnnNetwork,
    st: &BatchStats,
    steps: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let n = st.samples.max(1) as f64;
    d.set_item("loss", st.loss / n)?;
    d.set_item("accuracy", st.correct as f64 / n)?;
    let rates: Vec<f64> = net
        .spec
        .layers
        .iter()
        .zip(&st.spikes)
        .map(|(l, s)| s / (n * l.size as f64) / (steps as f64 * net.spec.dt))
        .collect();
    d.set_item("rates_hz", rates)?;
    d.set_item("samples", st.samples)?;
    Ok(d)
}

type LayerArrays<'py> = Vec<Bound<'py, PyDict>>;

fn trace_arrays<'py, F: Real + numpy::Element>(
    py: Python<'py>,
    traces: &[Trace<F>],
    steps: usize,
) -> PyResult<(LayerArrays<'py>, Option<Bound<'py, PyArray3<F>>>)> {
    let b = traces.len();
    let mut layers = Vec::new();
    let n_layers = traces.first().map_or(0, |t| t.layers.len());
    for l in 0..n_layers {
        let n = traces[0].layers[l].n;
        let mut spikes = Array3::<F>::zeros((b, steps, n));
        let mut u = Vec::with_capacity(b * steps * n);
        let mut a = Vec::new();
        for (s, tr) in traces.iter().enumerate() {
            let lt = &tr.layers[l];
            for t in 0..steps {
                let (idx, val) = lt.spikes(t);
                for (&j, &v) in idx.iter().zip(val) {
                    spikes[[s, t, j as usize]] = v;
                }
            }
            u.extend_from_slice(&lt.u);
            a.extend_from_slice(&lt.a);
        }
        let d = PyDict::new(py);
        d.set_item("spikes", spikes.into_pyarray(py))?;
        let shape = (b, steps, n);
        let arr = |v: Vec<F>| Array3::from_shape_vec(shape, v).expect("trace shape");
        d.set_item("u", arr(u).into_pyarray(py))?;
        if !a.is_empty() {
            d.set_item("a", arr(a).into_pyarray(py))?;
        }
        layers.push(d);
    }
    let no = if steps > 0 {
        traces.first().map_or(0, |t| t.y.len() / steps)
    } else {
        0
    };
    let y = (no > 0).then(|| {
        let v: Vec<F> = traces.iter().flat_map(|t| t.y.iter().copied()).collect();
        Array3::from_shape_vec((b, steps, no), v)
            .expect("readout shape")
            .into_pyarray(py)
    });
    Ok((layers, y))
}

#[pymethods]
impl PyRsnnNetwork {
    /// A network from its JSON description (the core's NetworkSpec) with seeded initial parameters.
    #[new]
    fn new(py: Python<'_>, spec: &str, seed: u64) -> PyResult<Self> {
        let spec: NetworkSpec = json(py, "spec", spec)?;
        let inner = enter_core(py, || RsnnNetwork::new(spec, seed))?;
        Ok(PyRsnnNetwork { inner })
    }

    /// The description as JSON text.
    fn spec_json(&self) -> String {
        serde_json::to_string(&self.inner.spec).unwrap_or_default()
    }

    /// All parameters as one flat float64 vector (see `tensors`).
    fn params<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        Array1::from_vec(self.inner.params.clone()).into_pyarray(py)
    }

    /// Replace all parameters (flat vector; recurrent diagonals are zeroed).
    fn set_params(&mut self, py: Python<'_>, params: PyReadonlyArray1<'_, f64>) -> PyResult<()> {
        let p = params.as_array().to_vec();
        let inner = &mut self.inner;
        enter_core(py, || inner.set_params(p))
    }

    /// [(name, shape, start, stop)] of every tensor in the flat parameter vector.
    fn tensors(&self) -> Vec<(String, Vec<usize>, usize, usize)> {
        self.inner
            .layout
            .tensors()
            .into_iter()
            .map(|(n, s, r)| (n, s, r.start, r.end))
            .collect()
    }

    /// Train in place with BPTT. `config` is the core's BpttConfig as JSON. Returns (history,
    /// interrupted); Ctrl-C stops after the current epoch.
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
        let cfg: BpttConfig = json(py, "config", config)?;
        let n_out = self.inner.n_outputs();
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

    /// Mean loss, accuracy and firing rates (Hz) over a data set; with `membrane_noise > 0` as one
    /// trial of that membrane noise (relative sd, see `Model::with_membrane_noise`) drawn from
    /// streams seeded by `noise_seed`.
    #[pyo3(signature = (x, y, loss, surrogate, precision, threads=0, membrane_noise=0.0, noise_seed=0))]
    #[allow(clippy::too_many_arguments)]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        loss: &str,
        surrogate: &str,
        precision: &str,
        threads: usize,
        membrane_noise: f64,
        noise_seed: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let loss: LossSpec = json(py, "loss", loss)?;
        let sur: Surrogate = json(py, "surrogate", surrogate)?;
        let prec: Precision = json(py, "precision", &format!("\"{precision}\""))?;
        let xs = sequences(py, "x", x)?;
        let ys = targets(py, "y", y, self.inner.n_outputs())?;
        let net = &self.inner;
        let data = Data { x: &xs, y: &ys };
        let noise = (membrane_noise != 0.0).then_some(train::TrialNoise {
            membrane: membrane_noise,
            seed: noise_seed,
        });
        let st = enter_core(py, || match prec {
            Precision::F32 => train::evaluate_trial::<f32>(net, data, &loss, &sur, threads, noise),
            Precision::F64 => train::evaluate_trial::<f64>(net, data, &loss, &sur, threads, noise),
        })?;
        stats_dict(py, net, &st, xs.n_steps)
    }

    /// (mean loss, gradient as a flat float64 vector) over all samples, with the config's loss,
    /// surrogate, regulariser and precision. Time-constant entries are d loss / d tau (per second).
    fn gradient<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        config: &str,
    ) -> PyResult<(f64, Bound<'py, PyArray1<f64>>)> {
        let cfg: BpttConfig = json(py, "config", config)?;
        let xs = sequences(py, "x", x)?;
        let ys = targets(py, "y", y, self.inner.n_outputs())?;
        let net = &self.inner;
        let data = Data { x: &xs, y: &ys };
        let idx: Vec<usize> = (0..xs.n_samples).collect();
        let (g, st) = enter_core(py, || {
            cfg.validate(net)?;
            data.check("data", net, &cfg.loss)?;
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

    /// Run and record: (per layer {"spikes", "u", ["a"]} arrays [n, steps, size], readout [n, steps,
    /// n_out] or None), float32 or float64 per `precision`.
    /// With `membrane_noise > 0` the runs are one trial of that membrane noise (as `evaluate`).
    #[pyo3(signature = (x, surrogate, precision, threads=0, membrane_noise=0.0, noise_seed=0))]
    #[allow(clippy::too_many_arguments)]
    fn run<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        surrogate: &str,
        precision: &str,
        threads: usize,
        membrane_noise: f64,
        noise_seed: u64,
    ) -> PyResult<(LayerArrays<'py>, Option<Bound<'py, PyAny>>)> {
        let sur: Surrogate = json(py, "surrogate", surrogate)?;
        let prec: Precision = json(py, "precision", &format!("\"{precision}\""))?;
        let xs = sequences(py, "x", x)?;
        let net = &self.inner;
        let steps = xs.n_steps;
        let noise = (membrane_noise != 0.0).then_some(train::TrialNoise {
            membrane: membrane_noise,
            seed: noise_seed,
        });
        match prec {
            Precision::F32 => {
                let tr = enter_core(py, || {
                    train::record_trial::<f32>(net, &xs, &sur, threads, noise)
                })?;
                let (l, y) = trace_arrays(py, &tr, steps)?;
                Ok((l, y.map(|a| a.into_any())))
            }
            Precision::F64 => {
                let tr = enter_core(py, || {
                    train::record_trial::<f64>(net, &xs, &sur, threads, noise)
                })?;
                let (l, y) = trace_arrays(py, &tr, steps)?;
                Ok((l, y.map(|a| a.into_any())))
            }
        }
    }
}

/// The training and validation arrays of a `fit` binding: (x, y, validation x, validation y).
pub(crate) type FitArrays<'a, 'py> = (
    &'a Bound<'py, PyAny>,
    &'a Bound<'py, PyAny>,
    Option<&'a Bound<'py, PyAny>>,
    Option<&'a Bound<'py, PyAny>>,
);

/// [`sequence_fit`] for a trainer with a resumable state (BPTT, DECOLLE, e-prop): run `fit` from the
/// `resume` state with the `checkpoint` file, and return the history, whether training was stopped
/// early, and the run's state.
#[allow(clippy::type_complexity)]
pub(crate) fn resumable_fit<'py, M: serde::Serialize + Send>(
    py: Python<'py>,
    (x, y, val_x, val_y): FitArrays<'_, 'py>,
    n_out: usize,
    callback: Option<Py<PyAny>>,
    (resume, checkpoint, fingerprint): (
        Option<PyRef<'_, PyTrainState>>,
        Option<PathBuf>,
        Option<String>,
    ),
    fit: impl FnOnce(
            Data<'_>,
            Option<Data<'_>>,
            Continuation<'_>,
            &mut dyn FnMut(&M) -> ControlFlow<()>,
            &dyn Fn() -> bool,
        ) -> spikeloom_core::Result<(Vec<M>, TrainState)>
        + Send,
) -> PyResult<(Vec<Bound<'py, PyDict>>, bool, Bound<'py, PyTrainState>)> {
    let resume = resume.as_ref().map(|r| &r.inner);
    let mut state = None;
    let slot = &mut state;
    let (rows, interrupted) =
        sequence_fit(py, x, y, val_x, val_y, n_out, callback, |t, v, cb, stop| {
            let run = Continuation {
                resume,
                checkpoint: checkpoint.as_deref(),
                fingerprint: fingerprint.as_deref(),
            };
            let (history, st) = fit(t, v, run, cb, stop)?;
            *slot = Some(st);
            Ok(history)
        })?;
    let inner = state.ok_or_else(|| {
        pyo3::exceptions::PyRuntimeError::new_err(
            "internal error in spikeloom: fit returned no state",
        )
    })?;
    Ok((rows, interrupted, Bound::new(py, PyTrainState { inner })?))
}

/// The whole binding of a `fit` on sequence data, shared by BPTT, DECOLLE and e-prop: convert the
/// training and (both or neither) validation arrays, run `fit` with the GIL released and the user's
/// epoch callback, and return the history as dicts with whether Ctrl-C stopped training (checked after
/// every batch, so long epochs stop promptly).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sequence_fit<'py, M: serde::Serialize + Send>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    val_x: Option<&Bound<'py, PyAny>>,
    val_y: Option<&Bound<'py, PyAny>>,
    n_out: usize,
    callback: Option<Py<PyAny>>,
    fit: impl FnOnce(
            Data<'_>,
            Option<Data<'_>>,
            &mut dyn FnMut(&M) -> ControlFlow<()>,
            &dyn Fn() -> bool,
        ) -> spikeloom_core::Result<Vec<M>>
        + Send,
) -> PyResult<(Vec<Bound<'py, PyDict>>, bool)> {
    let xs = sequences(py, "train.x", x)?;
    let ys = targets(py, "train.y", y, n_out)?;
    let val = match (val_x, val_y) {
        (Some(a), Some(b)) => Some((
            sequences(py, "validation.x", a)?,
            targets(py, "validation.y", b, n_out)?,
        )),
        (None, None) => None,
        _ => {
            return Err(to_pyerr(
                py,
                Error::param("validation", "both x and y, or neither", "only one"),
            ))
        }
    };
    let mut cb = EpochCallback::new(callback);
    let ctrl_c = std::sync::atomic::AtomicBool::new(false);
    let history = enter_core(py, || {
        fit(
            Data { x: &xs, y: &ys },
            val.as_ref().map(|(x, y)| Data { x, y }),
            &mut |m| cb.call(|py| to_dict(py, m)),
            &|| {
                let hit = Python::attach(|py| py.check_signals().is_err());
                if hit {
                    ctrl_c.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                hit
            },
        )
    })?;
    let interrupted = cb.finish(py)? || ctrl_c.load(std::sync::atomic::Ordering::Relaxed);
    let dicts = history
        .iter()
        .map(|m| to_dict(py, m))
        .collect::<PyResult<Vec<_>>>()?;
    Ok((dicts, interrupted))
}
