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

fn format_err(path: &Path, reason: impl Into<String>) -> Error {
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

/// Serialise `net` with user metadata `extra` (a JSON string, e.g. the encoder) to bytes.
pub fn to_bytes(net: &Network, extra: &str) -> Result<Vec<u8>> {
    serde_json::from_str::<serde_json::Value>(extra)
        .map_err(|e| Error::param("metadata", "a JSON document", e))?;
    let buffers: Vec<(String, Vec<usize>, Vec<u8>)> = net
        .layers()
        .iter()
        .enumerate()
        .flat_map(|(l, layer)| {
            [
                (
                    format!("layers.{l}.weight"),
                    vec![layer.n_out, layer.width()],
                    f64_bytes(&layer.weights),
                ),
                (
                    format!("layers.{l}.bias_times"),
                    vec![layer.bias_times.len()],
                    f64_bytes(&layer.bias_times),
                ),
            ]
        })
        .collect();
    let views = buffers
        .iter()
        .map(|(name, shape, data)| {
            TensorView::new(Dtype::F64, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::Unsupported(format!("cannot build tensor {name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    // One metadata key holding a JSON object: a HashMap with several keys would serialise in a
    // random order, and the same network must always give the same bytes.
    let header = serde_json::json!({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spikeloom_version": env!("CARGO_PKG_VERSION"),
        "neuron": net.neuron(),
        "sizes": net.sizes(),
        "extra": extra,
    });
    let mut meta = HashMap::new();
    meta.insert(METADATA_KEY.to_string(), header.to_string());
    safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::Unsupported(format!("serialisation failed: {e}")))
}

/// Save atomically to `path`.
pub fn save(net: &Network, path: &Path, extra: &str) -> Result<()> {
    write_atomic(path, &to_bytes(net, extra)?)
}

/// Load a network saved by [`save`]; returns it with the user metadata JSON.
pub fn load(path: &Path) -> Result<(Network, String)> {
    let bytes = std::fs::read(path).map_err(|e| io_err(path, e))?;
    from_bytes(&bytes, path)
}

/// Parse a network from file bytes (`path` only names the source in errors).
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<(Network, String)> {
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
    let get = |k: &str| {
        header
            .get(k)
            .ok_or_else(|| format_err(path, format!("metadata field '{k}' missing")))
    };
    let format = get("format")?.as_str().unwrap_or_default();
    if format != FORMAT {
        return Err(format_err(
            path,
            format!("format is '{format}', expected '{FORMAT}'"),
        ));
    }
    let version = get("format_version")?
        .as_u64()
        .ok_or_else(|| format_err(path, "format_version is not an integer"))?;
    if version > u64::from(FORMAT_VERSION) {
        return Err(format_err(
            path,
            format!("format_version {version} is newer than this spikeloom ({FORMAT_VERSION})"),
        ));
    }
    let neuron: LifParams = serde_json::from_value(get("neuron")?.clone())
        .map_err(|e| format_err(path, format!("bad 'neuron' metadata: {e}")))?;
    let sizes: Vec<usize> = serde_json::from_value(get("sizes")?.clone())
        .map_err(|e| format_err(path, format!("bad 'sizes' metadata: {e}")))?;
    let extra = get("extra")?
        .as_str()
        .ok_or_else(|| format_err(path, "'extra' metadata is not a string"))?
        .to_string();
    if sizes.len() < 2 {
        return Err(format_err(path, "fewer than 2 layer sizes"));
    }
    let read = |name: &str, shape: &[usize]| -> Result<Vec<f64>> {
        let t = st
            .tensor(name)
            .map_err(|_| format_err(path, format!("tensor '{name}' missing")))?;
        if t.dtype() != Dtype::F64 || t.shape() != shape {
            return Err(format_err(
                path,
                format!(
                    "tensor '{name}': expected F64 {shape:?}, got {:?} {:?}",
                    t.dtype(),
                    t.shape()
                ),
            ));
        }
        Ok(t.data()
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    };
    let mut layers = Vec::with_capacity(sizes.len() - 1);
    for l in 0..sizes.len() - 1 {
        let bias_name = format!("layers.{l}.bias_times");
        let n_bias = st
            .tensor(&bias_name)
            .map_err(|_| format_err(path, format!("tensor '{bias_name}' missing")))?
            .shape()
            .first()
            .copied()
            .unwrap_or(0);
        let bias_times = read(&bias_name, &[n_bias])?;
        let weights = read(
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
    let net = Network::from_layers(neuron, layers).map_err(|e| format_err(path, e.to_string()))?;
    Ok((net, extra))
}
