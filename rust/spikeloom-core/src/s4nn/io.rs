//! Saving and loading S4NN networks: safetensors (one F64 tensor `layers.{l}.weight` of shape
//! `[n_out, n_in]` per layer, and `thresholds` `[n_layers]`) with one JSON metadata key (format,
//! versions, sizes, t_max, delay, user metadata), written atomically with
//! [`crate::io::write_atomic`]. Every float lives in a tensor, so a round trip is bit-exact (JSON
//! float parsing need not be). Loading validates everything and executes nothing from the file.

use super::network::S4nnNetwork;
use crate::error::{Error, Result};
use crate::io::{write_atomic, METADATA_KEY};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::path::Path;

/// The `format` metadata value of an S4NN network file.
pub const FORMAT: &str = "spikeloom.s4nn-network";
/// File format version written by this build.
pub const FORMAT_VERSION: u32 = 1;

fn format_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::FileFormat {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Serialise `net` with user metadata `extra` (a JSON document) to bytes. The same network and
/// metadata always give the same bytes.
pub fn to_bytes(net: &S4nnNetwork, extra: &str) -> Result<Vec<u8>> {
    serde_json::from_str::<serde_json::Value>(extra)
        .map_err(|e| Error::param("metadata", "a JSON document", e))?;
    let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = net
        .layers()
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            (
                format!("layers.{l}.weight"),
                vec![layer.n_out(), layer.n_in()],
                layer
                    .weights()
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect(),
            )
        })
        .collect();
    let thresholds = net.thresholds();
    buffers.push((
        "thresholds".to_string(),
        vec![thresholds.len()],
        thresholds.iter().flat_map(|x| x.to_le_bytes()).collect(),
    ));
    let views = buffers
        .iter()
        .map(|(name, shape, data)| {
            TensorView::new(Dtype::F64, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::Unsupported(format!("cannot build tensor {name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let header = serde_json::json!({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spikeloom_version": env!("CARGO_PKG_VERSION"),
        "sizes": net.sizes(),
        "t_max": net.t_max(),
        "delay": net.delay(),
        "extra": extra,
    });
    let mut meta = HashMap::new();
    meta.insert(METADATA_KEY.to_string(), header.to_string());
    safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::Unsupported(format!("serialisation failed: {e}")))
}

/// Save atomically to `path`.
pub fn save(net: &S4nnNetwork, path: &Path, extra: &str) -> Result<()> {
    write_atomic(path, &to_bytes(net, extra)?)
}

/// Load a network saved by [`save`]; returns it with the user metadata JSON.
pub fn load(path: &Path) -> Result<(S4nnNetwork, String)> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    from_bytes(&bytes, path)
}

/// Parse a network from file bytes (`path` only names the source in errors).
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<(S4nnNetwork, String)> {
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
    let field = |k: &str| -> Result<serde_json::Value> { get(k).cloned() };
    let sizes: Vec<usize> = serde_json::from_value(field("sizes")?)
        .map_err(|e| format_err(path, format!("bad 'sizes' metadata: {e}")))?;
    let t_max: u32 = serde_json::from_value(field("t_max")?)
        .map_err(|e| format_err(path, format!("bad 't_max' metadata: {e}")))?;
    let delay: u32 = serde_json::from_value(field("delay")?)
        .map_err(|e| format_err(path, format!("bad 'delay' metadata: {e}")))?;
    let extra = get("extra")?
        .as_str()
        .ok_or_else(|| format_err(path, "'extra' metadata is not a string"))?
        .to_string();
    if sizes.len() < 2 {
        return Err(format_err(path, "fewer than 2 layer sizes"));
    }
    let n_layers = sizes.len() - 1;
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
    let mut weights = Vec::with_capacity(n_layers);
    for l in 0..n_layers {
        weights.push(read(
            &format!("layers.{l}.weight"),
            &[sizes[l + 1], sizes[l]],
        )?);
    }
    let thresholds = read("thresholds", &[n_layers])?;
    if st.len() != n_layers + 1 {
        return Err(format_err(
            path,
            format!(
                "expected {} tensors (one weight matrix per layer and the thresholds), got {}",
                n_layers + 1,
                st.len()
            ),
        ));
    }
    let net = S4nnNetwork::from_weights(&sizes, &thresholds, &weights, t_max, delay)
        .map_err(|e| format_err(path, e.to_string()))?;
    Ok((net, extra))
}
