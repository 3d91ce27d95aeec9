//! The file methods shared by the network bindings: one macro instead of a copy per class.

/// Adds `to_bytes`, `from_bytes`, `save` and `load` to the binding class `$class`, whose `inner`
/// is a network of the core module `$io` (with that module's `to_bytes`, `from_bytes`, `save` and
/// `load`: safetensors with the user's JSON metadata, atomic writes). A second `#[pymethods]` block
/// (pyo3's `multiple-pymethods`).
macro_rules! file_methods {
    ($class:ident, $($io:ident)::+) => {
        #[pyo3::pymethods]
        impl $class {
            /// Serialise to safetensors bytes with user metadata `extra` (JSON text).
            fn to_bytes<'py>(
                &self,
                py: pyo3::Python<'py>,
                extra: &str,
            ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::types::PyBytes>> {
                let inner = &self.inner;
                let bytes =
                    $crate::errors::enter_core(py, || $($io)::+::to_bytes(inner, extra))?;
                Ok(pyo3::types::PyBytes::new(py, &bytes))
            }

            /// Parse bytes written by `to_bytes`; returns (network, extra JSON text).
            #[staticmethod]
            fn from_bytes(py: pyo3::Python<'_>, data: &[u8]) -> pyo3::PyResult<(Self, String)> {
                let (inner, extra) = $crate::errors::enter_core(py, || {
                    $($io)::+::from_bytes(data, std::path::Path::new("<bytes>"))
                })?;
                Ok(($class { inner }, extra))
            }

            /// Save atomically to `path` (safetensors + JSON metadata).
            fn save(
                &self,
                py: pyo3::Python<'_>,
                path: std::path::PathBuf,
                extra: &str,
            ) -> pyo3::PyResult<()> {
                let inner = &self.inner;
                $crate::errors::enter_core(py, || $($io)::+::save(inner, &path, extra))
            }

            /// Load a file written by `save`; returns (network, extra JSON text).
            #[staticmethod]
            fn load(
                py: pyo3::Python<'_>,
                path: std::path::PathBuf,
            ) -> pyo3::PyResult<(Self, String)> {
                let (inner, extra) = $crate::errors::enter_core(py, || $($io)::+::load(&path))?;
                Ok(($class { inner }, extra))
            }
        }
    };
}

pub(crate) use file_methods;
