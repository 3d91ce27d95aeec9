//! Saving and loading S4NN networks: safetensors (one F64 tensor `layers.{l}.weight` of shape
//! `[n_out, n_in]` per layer, and `thresholds` `[n_layers]`) with one JSON metadata key (format,
//! versions, sizes, t_max, delay, user metadata), written atomically with
//! [`crate::io::write_atomic`]. Every float lives in a tensor, so a round trip is bit-exact (JSON
//! float parsing need not be). Loading validates everything and executes nothing from the file.

use super::network::S4nnNetwork;
use crate::error::Result;
use crate::io::{check_extra, read_file, serialize_f64, write_atomic, FileReader};
use std::path::Path;

/// The `format` metadata value of an S4NN network file.
pub const FORMAT: &str = "spikeloom.s4nn-network";
/// File format version written by this build.
pub const FORMAT_VERSION: u32 = 1;

/// Serialise `net` with user metadata `extra` (a JSON document) to bytes. The same network and
/// metadata always give the same bytes.
pub fn to_bytes(net: &S4nnNetwork, extra: &str) -> Result<Vec<u8>> {
    check_extra(extra)?;
    // Row-major copies (the network stores weights input-major) and the thresholds.
    let mut owned: Vec<(String, Vec<usize>, Vec<f64>)> = net
        .layers()
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            (
                format!("layers.{l}.weight"),
                vec![layer.n_out(), layer.n_in()],
                layer.weights(),
            )
        })
        .collect();
    let thresholds = net.thresholds();
    owned.push(("thresholds".to_string(), vec![thresholds.len()], thresholds));
    let tensors: Vec<(String, Vec<usize>, &[f64])> = owned
        .iter()
        .map(|(n, s, v)| (n.clone(), s.clone(), v.as_slice()))
        .collect();
    let header = serde_json::json!({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spikeloom_version": env!("CARGO_PKG_VERSION"),
        "sizes": net.sizes(),
        "t_max": net.t_max(),
        "delay": net.delay(),
        "extra": extra,
    });
    serialize_f64(&tensors, &header)
}

/// Save atomically to `path`.
pub fn save(net: &S4nnNetwork, path: &Path, extra: &str) -> Result<()> {
    write_atomic(path, &to_bytes(net, extra)?)
}

/// Load a network saved by [`save`]; returns it with the user metadata JSON.
pub fn load(path: &Path) -> Result<(S4nnNetwork, String)> {
    from_bytes(&read_file(path)?, path)
}

/// Parse a network from file bytes (`path` only names the source in errors).
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<(S4nnNetwork, String)> {
    let file = FileReader::open(bytes, path, FORMAT, FORMAT_VERSION)?;
    let sizes: Vec<usize> = file.parse("sizes")?;
    let t_max: u32 = file.parse("t_max")?;
    let delay: u32 = file.parse("delay")?;
    let extra = file.extra()?;
    if sizes.len() < 2 {
        return Err(file.err("fewer than 2 layer sizes"));
    }
    let n_layers = sizes.len() - 1;
    let mut weights = Vec::with_capacity(n_layers);
    for l in 0..n_layers {
        weights.push(file.f64(&format!("layers.{l}.weight"), &[sizes[l + 1], sizes[l]])?);
    }
    let thresholds = file.f64("thresholds", &[n_layers])?;
    if file.n_tensors() != n_layers + 1 {
        return Err(file.err(format!(
            "expected {} tensors (one weight matrix per layer and the thresholds), got {}",
            n_layers + 1,
            file.n_tensors()
        )));
    }
    let net = S4nnNetwork::from_weights(&sizes, &thresholds, &weights, t_max, delay)
        .map_err(|e| file.err(e.to_string()))?;
    Ok((net, extra))
}
