//! e-prop on the recurrent network class: training, the update direction of one batch, and the
//! per-sample workspace size. Configurations cross the boundary as JSON text (the core's EpropConfig).

use crate::checkpoint::PyTrainState;
use crate::errors::enter_core;
use crate::rsnn::{json, resumable_fit, sequences, targets, PyRsnnNetwork};
use numpy::ndarray::Array1;
use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spikeloom_core::rsnn::eprop::{self, EpropConfig};
use spikeloom_core::rsnn::train::Data;
use spikeloom_core::rsnn::Precision;
use std::path::PathBuf;

/// Train `net` in place with e-prop. Returns (history, interrupted); Ctrl-C stops after the current
/// epoch.
#[pyfunction]
#[pyo3(signature = (net, x, y, val_x, val_y, config, callback=None, resume=None, checkpoint=None, fingerprint=None))]
#[allow(clippy::too_many_arguments)]
pub fn eprop_fit<'py>(
    py: Python<'py>,
    mut net: PyRefMut<'py, PyRsnnNetwork>,
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
    let cfg: EpropConfig = json(py, "config", config)?;
    let n_out = net.inner.n_outputs();
    let inner = &mut net.inner;
    let data = (x, y, val_x, val_y);
    resumable_fit(
        py,
        data,
        n_out,
        callback,
        (resume, checkpoint, fingerprint),
        |t, v, run, cb, stop| eprop::fit_from(inner, t, v, &cfg, run, cb, stop),
    )
}

/// (mean loss, e-prop update direction as a flat float64 vector) of one batch holding every sample,
/// per trial (or, with `online_sum`, the sum of the online per-step updates with frozen weights).
/// `feedback` is the [n_rec * n_out] feedback matrix (None: symmetric, or the config's seeded one).
#[pyfunction]
#[pyo3(signature = (net, x, y, config, online_sum=false))]
pub fn eprop_gradient<'py>(
    py: Python<'py>,
    net: PyRef<'py, PyRsnnNetwork>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    config: &str,
    online_sum: bool,
) -> PyResult<(f64, Bound<'py, PyArray1<f64>>)> {
    let cfg: EpropConfig = json(py, "config", config)?;
    let xs = sequences(py, "x", x)?;
    let ys = targets(py, "y", y, net.inner.n_outputs())?;
    let inner = &net.inner;
    let data = Data { x: &xs, y: &ys };
    let idx: Vec<usize> = (0..xs.n_samples).collect();
    let (g, st) = enter_core(py, || {
        cfg.validate(inner)?;
        data.check("data", inner, &cfg.loss)?;
        let fb = eprop::initial_feedback(inner, &cfg);
        match (cfg.precision, online_sum) {
            (Precision::F32, false) => {
                eprop::gradient::<f32>(inner, data, &idx, &cfg, fb.as_deref())
            }
            (Precision::F64, false) => {
                eprop::gradient::<f64>(inner, data, &idx, &cfg, fb.as_deref())
            }
            (Precision::F32, true) => {
                eprop::train::online_update_sum::<f32>(inner, data, &idx, &cfg)
            }
            (Precision::F64, true) => {
                eprop::train::online_update_sum::<f64>(inner, data, &idx, &cfg)
            }
        }
    })?;
    Ok((
        st.loss / st.samples.max(1) as f64,
        Array1::from_vec(g).into_pyarray(py),
    ))
}

/// Bytes of one sample's e-prop workspace after running the first sample of `x` (independent of the
/// number of steps).
#[pyfunction]
pub fn eprop_workspace_bytes<'py>(
    py: Python<'py>,
    net: PyRef<'py, PyRsnnNetwork>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    config: &str,
) -> PyResult<usize> {
    let cfg: EpropConfig = json(py, "config", config)?;
    let xs = sequences(py, "x", x)?;
    let ys = targets(py, "y", y, net.inner.n_outputs())?;
    let inner = &net.inner;
    let data = Data { x: &xs, y: &ys };
    enter_core(py, || match cfg.precision {
        Precision::F32 => eprop::workspace_bytes::<f32>(inner, data, &cfg),
        Precision::F64 => eprop::workspace_bytes::<f64>(inner, data, &cfg),
    })
}

/// Scaling measurement of online e-prop on a sparse LIF network (one thread): build a network of
/// `n_rec` neurons with connection probabilities `p_in` / `p_rec`, drive it with Poisson inputs at
/// `rate_hz` and train it online towards a 1-output sine for `steps` steps of `dt`. Returns a dict with
/// seconds_per_step, synapses, rate_hz (recurrent), bytes and build_seconds.
#[pyfunction]
#[pyo3(signature = (n_in, n_rec, p_in, p_rec, steps, rate_hz=20.0, gain=1.2, lr=1e-4, dt=1e-3, seed=0))]
#[allow(clippy::too_many_arguments)]
pub fn eprop_sparse_benchmark<'py>(
    py: Python<'py>,
    n_in: usize,
    n_rec: usize,
    p_in: f64,
    p_rec: f64,
    steps: usize,
    rate_hz: f64,
    gain: f64,
    lr: f32,
    dt: f64,
    seed: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let r = enter_core(py, || {
        eprop::sparse::benchmark(n_in, n_rec, p_in, p_rec, steps, rate_hz, gain, lr, dt, seed)
    })?;
    let d = PyDict::new(py);
    d.set_item("seconds_per_step", r.seconds_per_step)?;
    d.set_item("build_seconds", r.build_seconds)?;
    d.set_item("synapses", r.synapses)?;
    d.set_item("rate_hz", r.rate_hz)?;
    d.set_item("bytes", r.bytes)?;
    Ok(d)
}
