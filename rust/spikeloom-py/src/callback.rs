//! The per-epoch callback glue shared by every `fit`: re-acquire the GIL, check for Ctrl-C, call the
//! user's function with the epoch's metrics, and stop training when it returns `False` or raises.
//! A KeyboardInterrupt ends training cleanly (the weights are kept); any other exception propagates.

use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict};
use std::ops::ControlFlow;

/// Holds the user's callback and the first error it raised.
pub struct EpochCallback {
    callback: Option<Py<PyAny>>,
    error: Option<PyErr>,
}

impl EpochCallback {
    pub fn new(callback: Option<Py<PyAny>>) -> Self {
        EpochCallback {
            callback,
            error: None,
        }
    }

    /// Call from inside the core (GIL released): builds the metrics dict with `make` and calls the
    /// user's function. `Break` stops training.
    pub fn call(
        &mut self,
        make: impl for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyDict>>,
    ) -> ControlFlow<()> {
        Python::attach(|py| {
            let result = (|| -> PyResult<bool> {
                py.check_signals()?;
                if let Some(f) = &self.callback {
                    let r = f.call1(py, (make(py)?,))?;
                    return Ok(!r.bind(py).is_instance_of::<PyBool>() || r.extract::<bool>(py)?);
                }
                Ok(true)
            })();
            match result {
                Ok(true) => ControlFlow::Continue(()),
                Ok(false) => ControlFlow::Break(()),
                Err(e) => {
                    self.error = Some(e);
                    ControlFlow::Break(())
                }
            }
        })
    }

    /// After training: `Ok(true)` when Ctrl-C stopped it, the callback's exception if it raised one.
    pub fn finish(self, py: Python<'_>) -> PyResult<bool> {
        match self.error {
            None => Ok(false),
            Some(e) if e.is_instance_of::<PyKeyboardInterrupt>(py) => Ok(true),
            Some(e) => Err(e),
        }
    }
}
