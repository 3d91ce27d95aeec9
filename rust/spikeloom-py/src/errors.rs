//! Core errors become the exception classes of `spikeloom.errors` (defined in Python so they can
//! inherit from both `SpikeloomError` and the matching builtin, e.g. `ValueError`).

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use spikeloom_core::Error;

/// Convert a core error into the matching `spikeloom.errors` exception.
pub fn to_pyerr(py: Python<'_>, err: Error) -> PyErr {
    let class = match &err {
        Error::Shape { .. } => "ShapeError",
        Error::InvalidParameter { .. } => "InvalidParameterError",
        Error::NonFinite { .. } => "NonFiniteError",
        Error::Unsupported(_) => "UnsupportedError",
        Error::FileFormat { .. } => "FileFormatError",
        Error::Io { .. } => "SpikeloomIOError",
    };
    let msg = err.to_string();
    match py.import("spikeloom.errors").and_then(|m| m.getattr(class)) {
        Ok(cls) => match cls.call1((msg.clone(),)) {
            Ok(exc) => PyErr::from_value(exc),
            Err(e) => e,
        },
        Err(_) => PyValueError::new_err(msg),
    }
}

/// Run `f` with the GIL released, turning core errors into Python exceptions and a panic (a bug in
/// spikeloom, never expected) into a RuntimeError instead of aborting the interpreter.
pub fn enter_core<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> spikeloom_core::Result<T> + Send,
) -> PyResult<T> {
    let result = py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(to_pyerr(py, e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(PyRuntimeError::new_err(format!(
                "internal error in spikeloom (please report): {what}"
            )))
        }
    }
}
