//! The one error type of the core. Every variant says what was expected and what was got,
//! and names the argument, so the Python bindings can raise a precise exception.

use thiserror::Error;

/// Errors returned by spikeloom-core. The core never panics on input a user can pass.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// An array had the wrong shape or length.
    #[error("{arg}: expected {expected}, got {got}")]
    Shape {
        arg: String,
        expected: String,
        got: String,
    },
    /// A parameter is outside its valid range.
    #[error("{arg}: expected {expected}, got {got}")]
    InvalidParameter {
        arg: String,
        expected: String,
        got: String,
    },
    /// An array contained NaN (or an infinity where only finite values are allowed).
    #[error("{arg}: expected {expected}, got {got}")]
    NonFinite {
        arg: String,
        expected: String,
        got: String,
    },
    /// A configuration the engine does not support.
    #[error("{0}")]
    Unsupported(String),
    /// A file that is not a valid spikeloom file (network or training state).
    #[error("{path}: not a valid spikeloom file: {reason}")]
    FileFormat { path: String, reason: String },
    /// An operating-system I/O error.
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
}

/// Result alias of the core.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::InvalidParameter`].
    pub fn param(arg: impl Into<String>, expected: impl Into<String>, got: impl ToString) -> Self {
        Error::InvalidParameter {
            arg: arg.into(),
            expected: expected.into(),
            got: got.to_string(),
        }
    }
    /// Shorthand for [`Error::Shape`].
    pub fn shape(arg: impl Into<String>, expected: impl Into<String>, got: impl ToString) -> Self {
        Error::Shape {
            arg: arg.into(),
            expected: expected.into(),
            got: got.to_string(),
        }
    }
}

/// Check that a positive time constant (or other positive scalar) is finite and > 0.
pub fn ensure_positive(arg: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::param(arg, "a finite value > 0", value))
    }
}

/// Check that every value of `values` is finite; `arg` names the array.
pub fn ensure_all_finite(arg: &str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::NonFinite {
            arg: arg.to_string(),
            expected: "finite values".into(),
            got: format!("{} at flat index {i}", values[i]),
        }),
    }
}

/// Check that spike times are >= 0 and not NaN (+inf means "no spike" and is allowed).
pub fn ensure_spike_times(arg: &str, values: &[f64]) -> Result<()> {
    if let Some(i) = values.iter().position(|v| v.is_nan()) {
        return Err(Error::NonFinite {
            arg: arg.to_string(),
            expected: "spike times >= 0 or +inf (no spike)".into(),
            got: format!("NaN at flat index {i}"),
        });
    }
    if let Some(i) = values.iter().position(|v| *v < 0.0) {
        return Err(Error::param(
            arg,
            "spike times >= 0 or +inf (no spike)",
            format!("{} at flat index {i}", values[i]),
        ));
    }
    Ok(())
}
