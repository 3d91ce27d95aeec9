//! A simulated group of LIF neurons with receptor currents and sparse random connections.

use crate::errors::{enter_core, to_pyerr};
use numpy::ndarray::Array1;
use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spikeloom_core::sim::{run, Connection, Group};
use spikeloom_core::Error;

/// LIF group (volts, seconds); see `spikeloom.sim.LIFGroup`.
#[pyclass(module = "spikeloom._core", name = "SimGroup")]
pub struct PySimGroup {
    inner: Group,
}

#[pymethods]
impl PySimGroup {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        n: usize,
        dt: f64,
        tau_mem: f64,
        v_rest: f64,
        threshold: f64,
        v_reset: f64,
        refractory: f64,
        receptor_taus: Vec<f64>,
    ) -> PyResult<Self> {
        let inner = Group {
            n,
            dt,
            tau_mem,
            v_rest,
            threshold,
            v_reset,
            refractory,
            receptor_taus,
            connections: Vec::new(),
        };
        inner.validate().map_err(|e| to_pyerr(py, e))?;
        Ok(PySimGroup { inner })
    }

    /// Add Bernoulli(p) connections from neurons pre_start..pre_end to post_start..post_end onto
    /// `receptor` with `weight` (V). Returns the number of synapses made.
    #[allow(clippy::too_many_arguments)]
    fn connect(
        &mut self,
        py: Python<'_>,
        pre_start: usize,
        pre_end: usize,
        post_start: usize,
        post_end: usize,
        p: f64,
        weight: f64,
        receptor: usize,
        seed: u64,
    ) -> PyResult<usize> {
        let n = self.inner.n;
        if receptor >= self.inner.receptor_taus.len() {
            return Err(to_pyerr(
                py,
                Error::param(
                    "receptor",
                    format!("a receptor index in 0..{}", self.inner.receptor_taus.len()),
                    receptor,
                ),
            ));
        }
        let c = enter_core(py, || {
            Connection::random(
                n,
                pre_start..pre_end,
                post_start..post_end,
                p,
                weight,
                receptor,
                seed,
            )
        })?;
        let made = c.n_synapses();
        self.inner.connections.push(c);
        Ok(made)
    }

    /// Run `steps` steps from potentials `v0` (V). Returns a dict with spike steps/ids (if recorded),
    /// counts, synaptic_events and the final potentials.
    fn run<'py>(
        &self,
        py: Python<'py>,
        v0: PyReadonlyArray1<'py, f64>,
        steps: usize,
        record: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let v0 = v0.as_array().to_vec();
        let g = &self.inner;
        let r = enter_core(py, || run(g, &v0, steps, record))?;
        let d = PyDict::new(py);
        d.set_item(
            "spike_steps",
            Array1::from_vec(r.spike_steps).into_pyarray(py),
        )?;
        d.set_item("spike_ids", Array1::from_vec(r.spike_ids).into_pyarray(py))?;
        d.set_item("counts", Array1::from_vec(r.counts).into_pyarray(py))?;
        d.set_item("synaptic_events", r.synaptic_events)?;
        d.set_item("v", Array1::from_vec(r.v).into_pyarray(py))?;
        d.set_item("steps", r.steps)?;
        Ok(d)
    }
}
