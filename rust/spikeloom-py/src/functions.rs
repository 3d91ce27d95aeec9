//! Free functions: Lambert W and the low-level one-layer exact solver.

use crate::errors::enter_core;
use numpy::ndarray::{Array2, Array3};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use spikeloom_core::engine::ttfs::layer_spike_times as core_layer;
use spikeloom_core::spike_time::{lambert, LifParams};

/// Principal branch W0 of the Lambert W function, elementwise; NaN below -1/e.
#[pyfunction]
pub fn lambert_w0<'py>(
    py: Python<'py>,
    z: PyReadonlyArray1<'py, f64>,
) -> Bound<'py, PyArray1<f64>> {
    z.as_array()
        .mapv(|v| lambert::w0(v).unwrap_or(f64::NAN))
        .into_pyarray(py)
}

type LayerResult<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray3<f64>>,
    Bound<'py, PyArray3<f64>>,
);

/// Exact spike times of one layer and their Jacobians w.r.t. weights and input times.
#[pyfunction]
#[pyo3(signature = (times, weights, tau_mem, tau_syn, threshold, threads=0))]
#[allow(clippy::too_many_arguments)]
pub fn layer_spike_times<'py>(
    py: Python<'py>,
    times: PyReadonlyArray2<'py, f64>,
    weights: PyReadonlyArray2<'py, f64>,
    tau_mem: f64,
    tau_syn: f64,
    threshold: f64,
    threads: usize,
) -> PyResult<LayerResult<'py>> {
    let (n, n_in) = times.as_array().dim();
    let (n_out, w_in) = weights.as_array().dim();
    let x = times.as_array().iter().copied().collect::<Vec<_>>();
    let w = weights.as_array().iter().copied().collect::<Vec<_>>();
    if w_in != n_in {
        return Err(crate::errors::to_pyerr(
            py,
            spikeloom_core::Error::shape(
                "weights",
                format!("shape (n_out, {n_in}) to match times"),
                format!("(n_out, {w_in})"),
            ),
        ));
    }
    let (t, dw, dx) = enter_core(py, || {
        let neuron = LifParams::new(tau_mem, tau_syn, threshold)?;
        core_layer(neuron, &x, n, n_in, &w, n_out, threads)
    })?;
    let shape3 = (n, n_out, n_in);
    Ok((
        Array2::from_shape_vec((n, n_out), t)
            .expect("core returns n*n_out")
            .into_pyarray(py),
        Array3::from_shape_vec(shape3, dw)
            .expect("core returns n*n_out*n_in")
            .into_pyarray(py),
        Array3::from_shape_vec(shape3, dx)
            .expect("core returns n*n_out*n_in")
            .into_pyarray(py),
    ))
}
