//! The training state of a BPTT, DECOLLE or e-prop run as a Python object (kept in Rust: it is
//! serialised only when saved or pickled, so a `fit` that nobody resumes pays nothing for it).

use crate::errors::to_pyerr;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use spikeloom_core::rsnn::checkpoint::TrainState;
use std::path::Path;

/// Where a training run stands (see `spikeloom.TrainingState`).
#[pyclass(module = "spikeloom._core", name = "TrainState", frozen)]
pub struct PyTrainState {
    pub inner: TrainState,
}

#[pymethods]
impl PyTrainState {
    /// Parse safetensors bytes written by `to_bytes` (`source` names them in errors).
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8], source: &str) -> PyResult<Self> {
        let inner = TrainState::from_bytes(data, Path::new(source)).map_err(|e| to_pyerr(py, e))?;
        Ok(PyTrainState { inner })
    }

    /// The state as safetensors bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = self.inner.to_bytes().map_err(|e| to_pyerr(py, e))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Write to `path` atomically.
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        self.inner.save(&path).map_err(|e| to_pyerr(py, e))
    }

    #[getter]
    fn method(&self) -> &str {
        &self.inner.method
    }

    #[getter]
    fn epochs_done(&self) -> usize {
        self.inner.progress.epochs_done
    }

    #[getter]
    fn n_params(&self) -> usize {
        self.inner.params.len()
    }

    /// What identifies the config and data of the run that wrote the state (JSON), if recorded.
    #[getter]
    fn fingerprint(&self) -> Option<&str> {
        self.inner.fingerprint.as_deref()
    }

    /// The metrics of every completed epoch of the run, across all its calls, as a JSON array of
    /// objects (empty in states written before they were recorded).
    #[getter]
    fn history(&self) -> String {
        serde_json::Value::from(self.inner.progress.history.clone()).to_string()
    }

    #[getter]
    fn best_score(&self) -> Option<f64> {
        self.inner.progress.best.as_ref().map(|(s, _)| *s)
    }
}
