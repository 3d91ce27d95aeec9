//! Saving and loading networks: safetensors (tensors, readable by numpy/torch/safetensors tools)
//! with JSON metadata. Writes are atomic (temporary file in the same folder, fsync, rename);
//! loading validates everything and never executes anything from the file.

use crate::engine::{Layer, Network};
use crate::error::{Error, Result};
use crate::spike_time::LifParams;
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// The `format` metadata value of a spikeloom TTFS network file.
pub const FORMAT: &str = "spikeloom.ttfs-network";
/// The safetensors metadata key holding spikeloom's JSON header.
pub const METADATA_KEY: &str = "spikeloom";
/// File format version written by this build.
pub const FORMAT_VERSION: u32 = 1;

fn io_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

pub(crate) fn format_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::FileFormat {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Write `bytes` to `path` atomically: readers see the old file or the complete new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io_err(path, "not a file path"))?;
    // Unique per process *and* call: concurrent saves to the same path never share a temporary file.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{n}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(path, e));
    }
    Ok(())
}

fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Check that `extra` (user metadata) is a JSON document.
pub(crate) fn check_extra(extra: &str) -> Result<()> {
    serde_json::from_str::<serde_json::Value>(extra)
        .map(|_| ())
        .map_err(|e| Error::param("metadata", "a JSON document", e))
}

/// Serialise named F64 tensors `(name, shape, values)` with a JSON `header` stored under the one
/// metadata key [`METADATA_KEY`]. One key holding a JSON object: a HashMap with several keys would
/// serialise in a random order, and the same network must always give the same bytes.
pub(crate) fn serialize_f64(
    tensors: &[(String, Vec<usize>, &[f64])],
    header: &serde_json::Value,
) -> Result<Vec<u8>> {
    let buffers: Vec<Vec<u8>> = tensors.iter().map(|(_, _, v)| f64_bytes(v)).collect();
    let views = tensors
        .iter()
        .zip(&buffers)
        .map(|((name, shape, _), data)| {
            TensorView::new(Dtype::F64, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::Unsupported(format!("cannot build tensor {name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut meta = HashMap::new();
    meta.insert(METADATA_KEY.to_string(), header.to_string());
    safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::Unsupported(format!("serialisation failed: {e}")))
}

/// Read the file bytes at `path` (errors name the path).
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| io_err(path, e))
}

/// A parsed spikeloom safetensors file: its tensors and its validated JSON header.
pub(crate) struct FileReader<'a> {
    st: SafeTensors<'a>,
    header: serde_json::Value,
    path: &'a Path,
}

impl<'a> FileReader<'a> {
    /// Parse `bytes` and check the header's `format` (must equal `format`) and `format_version`
    /// (at most `version`). `path` only names the source in errors.
    pub(crate) fn open(
        bytes: &'a [u8],
        path: &'a Path,
        format: &str,
        version: u32,
    ) -> Result<Self> {
        let (_, metadata) = SafeTensors::read_metadata(bytes)
            .map_err(|e| format_err(path, format!("not a complete safetensors file ({e})")))?;
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| format_err(path, format!("not a complete safetensors file ({e})")))?;
        let meta = metadata.metadata().clone().unwrap_or_default();
        let header: serde_json::Value = meta
            .get(METADATA_KEY)
            .ok_or_else(|| {
                format_err(
                    path,
                    format!("metadata key '{METADATA_KEY}' missing (not written by spikeloom)"),
                )
            })
            .and_then(|h| {
                serde_json::from_str(h)
                    .map_err(|e| format_err(path, format!("bad '{METADATA_KEY}' metadata: {e}")))
            })?;
        let reader = FileReader { st, header, path };
        let found = reader.field("format")?.as_str().unwrap_or_default();
        if found != format {
            return Err(reader.err(format!("format is '{found}', expected '{format}'")));
        }
        let found = reader
            .field("format_version")?
            .as_u64()
            .ok_or_else(|| reader.err("format_version is not an integer"))?;
        if found > u64::from(version) {
            return Err(reader.err(format!(
                "format_version {found} is newer than this spikeloom ({version})"
            )));
        }
        Ok(reader)
    }

    /// A `FileFormat` error naming this file.
    pub(crate) fn err(&self, reason: impl Into<String>) -> Error {
        format_err(self.path, reason)
    }

    /// A header field.
    pub(crate) fn field(&self, k: &str) -> Result<&serde_json::Value> {
        self.header
            .get(k)
            .ok_or_else(|| self.err(format!("metadata field '{k}' missing")))
    }

    /// An optional header field deserialised into `T` (`None` when absent).
    pub(crate) fn optional<T: serde::de::DeserializeOwned>(&self, k: &str) -> Result<Option<T>> {
        match self.header.get(k) {
            None => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| self.err(format!("bad '{k}' metadata: {e}"))),
        }
    }

    /// A header field deserialised into `T`.
    pub(crate) fn parse<T: serde::de::DeserializeOwned>(&self, k: &str) -> Result<T> {
        serde_json::from_value(self.field(k)?.clone())
            .map_err(|e| self.err(format!("bad '{k}' metadata: {e}")))
    }

    /// The user metadata string (`extra`).
    pub(crate) fn extra(&self) -> Result<String> {
        Ok(self
            .field("extra")?
            .as_str()
            .ok_or_else(|| self.err("'extra' metadata is not a string"))?
            .to_string())
    }

    /// Number of tensors in the file.
    pub(crate) fn n_tensors(&self) -> usize {
        self.st.len()
    }

    /// The shape of tensor `name`.
    pub(crate) fn shape(&self, name: &str) -> Result<Vec<usize>> {
        Ok(self
            .st
            .tensor(name)
            .map_err(|_| self.err(format!("tensor '{name}' missing")))?
            .shape()
            .to_vec())
    }

    /// Tensor `name`, which must be F64 of exactly `shape`.
    pub(crate) fn f64(&self, name: &str, shape: &[usize]) -> Result<Vec<f64>> {
        let t = self
            .st
            .tensor(name)
            .map_err(|_| self.err(format!("tensor '{name}' missing")))?;
        if t.dtype() != Dtype::F64 || t.shape() != shape {
            return Err(self.err(format!(
                "tensor '{name}': expected F64 {shape:?}, got {:?} {:?}",
                t.dtype(),
                t.shape()
            )));
        }
        Ok(t.data()
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }
}

/// Serialise `net` with user metadata `extra` (a JSON string, e.g. the encoder) to bytes.
pub fn to_bytes(net: &Network, extra: &str) -> Result<Vec<u8>> {
    check_extra(extra)?;
    let tensors: Vec<(String, Vec<usize>, &[f64])> = net
        .layers()
        .iter()
        .enumerate()
        .flat_map(|(l, layer)| {
            [
                (
                    format!("layers.{l}.weight"),
                    vec![layer.n_out, layer.width()],
                    layer.weights.as_slice(),
                ),
                (
                    format!("layers.{l}.bias_times"),
                    vec![layer.bias_times.len()],
                    layer.bias_times.as_slice(),
                ),
            ]
        })
        .collect();
    let header = serde_json::json!({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spikeloom_version": env!("CARGO_PKG_VERSION"),
        "neuron": net.neuron(),
        "sizes": net.sizes(),
        "extra": extra,
    });
    serialize_f64(&tensors, &header)
}

/// Save atomically to `path`.
pub fn save(net: &Network, path: &Path, extra: &str) -> Result<()> {
    write_atomic(path, &to_bytes(net, extra)?)
}

/// Load a network saved by [`save`]; returns it with the user metadata JSON.
pub fn load(path: &Path) -> Result<(Network, String)> {
    from_bytes(&read_file(path)?, path)
}

/// Parse a network from file bytes (`path` only names the source in errors).
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<(Network, String)> {
    let file = FileReader::open(bytes, path, FORMAT, FORMAT_VERSION)?;
    let neuron: LifParams = file.parse("neuron")?;
    let sizes: Vec<usize> = file.parse("sizes")?;
    let extra = file.extra()?;
    if sizes.len() < 2 {
        return Err(file.err("fewer than 2 layer sizes"));
    }
    let mut layers = Vec::with_capacity(sizes.len() - 1);
    for l in 0..sizes.len() - 1 {
        let bias_name = format!("layers.{l}.bias_times");
        let n_bias = file.shape(&bias_name)?.first().copied().unwrap_or(0);
        let bias_times = file.f64(&bias_name, &[n_bias])?;
        let weights = file.f64(
            &format!("layers.{l}.weight"),
            &[sizes[l + 1], sizes[l] + n_bias],
        )?;
        layers.push(Layer {
            n_in: sizes[l],
            n_out: sizes[l + 1],
            bias_times,
            weights,
        });
    }
    let net = Network::from_layers(neuron, layers).map_err(|e| file.err(e.to_string()))?;
    Ok((net, extra))
}
