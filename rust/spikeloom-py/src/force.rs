//! FORCE reservoirs (Nicola & Clopath 2017); see `spikeloom.force`.

use crate::callback::EpochCallback;
use crate::errors::{enter_core, to_pyerr};
use crate::rsnn::json;
use numpy::ndarray::{Array1, Array2};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spikeloom_core::force::{ForceConfig, ForceNetwork, RunOptions};
use spikeloom_core::parallel::with_threads;
use spikeloom_core::Error;

/// A FORCE reservoir built from a JSON config (see `spikeloom.force.ForceNetwork`).
#[pyclass(module = "spikeloom._core", name = "ForceNetwork")]
pub struct PyForceNetwork {
    inner: ForceNetwork,
}

crate::persist::file_methods!(PyForceNetwork, spikeloom_core::force::io);

fn array2<'py>(py: Python<'py>, v: Vec<f64>, cols: usize) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let rows = v.len().checked_div(cols).unwrap_or(0);
    Array2::from_shape_vec((rows, cols), v)
        .map(|a| a.into_pyarray(py))
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))
}

/// Transpose: `rows` contiguous blocks of `len / rows` values -> `len / rows` blocks of `rows`
/// (column-major k x n storage <-> row-major n x k arrays, both ways).
fn transpose(v: &[f64], rows: usize) -> Vec<f64> {
    let n = v.len() / rows;
    let mut out = vec![0.0; v.len()];
    for c in 0..rows {
        for i in 0..n {
            out[i * rows + c] = v[c * n + i];
        }
    }
    out
}

#[pymethods]
impl PyForceNetwork {
    #[new]
    fn new(py: Python<'_>, config: &str) -> PyResult<Self> {
        let cfg: ForceConfig = json(py, "config", config)?;
        let inner = enter_core(py, || ForceNetwork::new(cfg))?;
        Ok(PyForceNetwork { inner })
    }

    /// Simulate `steps` steps; returns a dict (readout `z`, spike `counts`, optional spikes and RLS
    /// samples, `steps`, `interrupted`).
    #[pyo3(signature = (steps, target, learn, record_every=1, record_spikes=false, record_updates=false, progress_every=0, threads=0, callback=None))]
    #[allow(clippy::too_many_arguments)]
    fn run<'py>(
        &mut self,
        py: Python<'py>,
        steps: usize,
        target: Option<PyReadonlyArray2<'py, f64>>,
        learn: bool,
        record_every: usize,
        record_spikes: bool,
        record_updates: bool,
        progress_every: usize,
        threads: usize,
        callback: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let k = self.inner.cfg.k;
        let n = self.inner.cfg.n;
        let tg: Option<Vec<f64>> = match &target {
            Some(t) => {
                let a = t.as_array();
                if a.shape() != [steps, k] {
                    return Err(to_pyerr(
                        py,
                        Error::shape(
                            "target",
                            format!("shape ({steps}, {k})"),
                            format!("{:?}", a.shape()),
                        ),
                    ));
                }
                Some(a.iter().copied().collect())
            }
            None => None,
        };
        let opts = RunOptions {
            record_every,
            record_spikes,
            record_updates,
            progress_every,
            parallel: threads != 1,
            segment_blocks: 0,
        };
        let mut cb = EpochCallback::new(callback);
        let inner = &mut self.inner;
        let out = enter_core(py, || {
            with_threads(threads, || {
                inner.run(steps, tg.as_deref(), learn, &opts, &mut |p| {
                    cb.call(|py| {
                        let d = PyDict::new(py);
                        d.set_item("time", p.time)?;
                        d.set_item("steps", p.steps)?;
                        d.set_item("total", p.total)?;
                        d.set_item("rate_hz", p.rate_hz)?;
                        d.set_item("mse", p.mse)?;
                        d.set_item("learning", p.learning)?;
                        d.set_item("rls_updates", p.rls_updates)?;
                        Ok(d)
                    })
                })
            })?
        })?;
        let stopped = cb.finish(py)?;
        let d = PyDict::new(py);
        d.set_item("z", array2(py, out.z, k)?)?;
        d.set_item("counts", Array1::from_vec(out.counts).into_pyarray(py))?;
        d.set_item(
            "spike_steps",
            Array1::from_vec(out.spike_steps).into_pyarray(py),
        )?;
        d.set_item(
            "spike_ids",
            Array1::from_vec(out.spike_ids).into_pyarray(py),
        )?;
        d.set_item("update_rates", array2(py, out.update_rates, n)?)?;
        d.set_item("update_targets", array2(py, out.update_targets, k)?)?;
        d.set_item("steps", out.steps)?;
        d.set_item("interrupted", out.interrupted || stopped)?;
        Ok(d)
    }

    /// Steps simulated so far.
    #[getter]
    fn step(&self) -> u64 {
        self.inner.step
    }

    #[getter]
    fn rls_updates(&self) -> u64 {
        self.inner.rls.updates
    }

    /// Decoders d (n x k).
    fn decoders<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        array2(
            py,
            transpose(&self.inner.rls.d, self.inner.cfg.k),
            self.inner.cfg.k,
        )
    }

    fn set_decoders(&mut self, py: Python<'_>, d: PyReadonlyArray2<'_, f64>) -> PyResult<()> {
        let (n, k) = (self.inner.cfg.n, self.inner.cfg.k);
        let a = d.as_array();
        if a.shape() != [n, k] {
            return Err(to_pyerr(
                py,
                Error::shape(
                    "decoders",
                    format!("shape ({n}, {k})"),
                    format!("{:?}", a.shape()),
                ),
            ));
        }
        let v: Vec<f64> = a.iter().copied().collect();
        spikeloom_core::error::ensure_all_finite("decoders", &v).map_err(|e| to_pyerr(py, e))?;
        self.inner.rls.d = transpose(&v, n);
        Ok(())
    }

    /// Feedback encoders (n x k).
    fn encoders<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        array2(
            py,
            transpose(&self.inner.encoders, self.inner.cfg.k),
            self.inner.cfg.k,
        )
    }

    /// Static weights as (pre, post, weight) arrays: W[post, pre] = weight.
    #[allow(clippy::type_complexity)]
    fn weights<'py>(
        &self,
        py: Python<'py>,
    ) -> (
        Bound<'py, PyArray1<u32>>,
        Bound<'py, PyArray1<u32>>,
        Bound<'py, PyArray1<f64>>,
    ) {
        let (a, b, w) = self.inner.weight_triplets();
        (
            Array1::from_vec(a).into_pyarray(py),
            Array1::from_vec(b).into_pyarray(py),
            Array1::from_vec(w).into_pyarray(py),
        )
    }

    /// The RLS matrix P (n x n).
    fn rls_matrix<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let n = self.inner.cfg.n;
        let m = self.inner.rls.matrix();
        array2(py, m, n)
    }

    /// Reset P to I / lambda (decoders kept).
    fn reset_rls(&mut self) {
        self.inner.rls.reset_matrix();
    }

    /// Neuron and synapse state: v, u, ipsc, h, r, hr, z.
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = &self.inner;
        let d = PyDict::new(py);
        for (name, v) in [
            ("v", &s.neurons.v),
            ("u", &s.neurons.u),
            ("ipsc", &s.ipsc),
            ("h", &s.h),
            ("r", &s.r),
            ("hr", &s.hr),
            ("z", &s.z),
        ] {
            d.set_item(name, Array1::from_vec(v.clone()).into_pyarray(py))?;
        }
        Ok(d)
    }

    /// Set the membrane potentials (and Izhikevich u) of every neuron.
    fn set_potentials(
        &mut self,
        py: Python<'_>,
        v: PyReadonlyArray1<'_, f64>,
        u: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<()> {
        let n = self.inner.cfg.n;
        let (v, u) = (v.as_array().to_vec(), u.as_array().to_vec());
        for (name, x) in [("v", &v), ("u", &u)] {
            if x.len() != n {
                return Err(to_pyerr(
                    py,
                    Error::shape(name, format!("{n} values"), x.len()),
                ));
            }
            spikeloom_core::error::ensure_all_finite(name, x).map_err(|e| to_pyerr(py, e))?;
        }
        self.inner.neurons.v = v;
        self.inner.neurons.u = u;
        Ok(())
    }
    /// The config as JSON (the same fields as the constructor's).
    fn config_json(&self, py: Python<'_>) -> PyResult<String> {
        serde_json::to_string(&self.inner.cfg)
            .map_err(|e| to_pyerr(py, Error::Unsupported(e.to_string())))
    }
}
