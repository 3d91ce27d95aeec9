//! Saving and loading DECOLLE networks: safetensors with one F64 tensor per tensor of
//! [`super::network::Layout::tensors`] (the fixed readouts included) and the description as JSON
//! metadata, written atomically.

use super::network::{DecolleNetwork, DecolleSpec};
use crate::error::Result;
use crate::io::{check_extra, read_file, serialize_f64, write_atomic, FileReader};
use std::path::Path;

/// The `format` metadata value of a DECOLLE network file.
pub const FORMAT: &str = "spikeloom.decolle-network";
/// File format version written by this build.
pub const FORMAT_VERSION: u32 = 1;

/// Serialise `net` with user metadata `extra` (a JSON document).
pub fn to_bytes(net: &DecolleNetwork, extra: &str) -> Result<Vec<u8>> {
    check_extra(extra)?;
    let tensors: Vec<(String, Vec<usize>, &[f64])> = net
        .layout
        .tensors()
        .into_iter()
        .map(|(name, shape, r)| (name, shape, &net.params[r]))
        .collect();
    let header = serde_json::json!({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spikeloom_version": env!("CARGO_PKG_VERSION"),
        "spec": net.spec,
        "extra": extra,
    });
    serialize_f64(&tensors, &header)
}

/// Save atomically to `path`.
pub fn save(net: &DecolleNetwork, path: &Path, extra: &str) -> Result<()> {
    write_atomic(path, &to_bytes(net, extra)?)
}

/// Load a network saved by [`save`]; returns it with the user metadata JSON.
pub fn load(path: &Path) -> Result<(DecolleNetwork, String)> {
    from_bytes(&read_file(path)?, path)
}

/// Parse a network from file bytes (`path` only names the source in errors).
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<(DecolleNetwork, String)> {
    let file = FileReader::open(bytes, path, FORMAT, FORMAT_VERSION)?;
    let spec: DecolleSpec = file.parse("spec")?;
    let extra = file.extra()?;
    let mut net = DecolleNetwork::new(spec, 0).map_err(|e| file.err(e.to_string()))?;
    let tensors = net.layout.tensors();
    if file.n_tensors() != tensors.len() {
        return Err(file.err(format!(
            "expected {} tensors, got {}",
            tensors.len(),
            file.n_tensors()
        )));
    }
    let mut params = vec![0.0; net.layout.len];
    for (name, shape, r) in tensors {
        params[r].copy_from_slice(&file.f64(&name, &shape)?);
    }
    net.set_params(params)
        .map_err(|e| file.err(e.to_string()))?;
    Ok((net, extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_bit_exact() {
        let spec: DecolleSpec = serde_json::from_str(
            r#"{"n_inputs": 3, "sizes": [4, 5], "n_outputs": 2, "dt": 0.001, "tau_ref": [0.004, 0.002]}"#,
        )
        .unwrap();
        let net = DecolleNetwork::new(spec, 5).unwrap();
        let bytes = to_bytes(&net, "{\"a\": 1}").unwrap();
        let (back, extra) = from_bytes(&bytes, Path::new("x")).unwrap();
        assert_eq!(back, net);
        assert_eq!(extra, "{\"a\": 1}");
        let mut bad = bytes.clone();
        bad.truncate(bytes.len() - 3);
        assert!(from_bytes(&bad, Path::new("x")).is_err());
        let rsnn_file = crate::rsnn::io::FORMAT;
        assert_ne!(rsnn_file, FORMAT);
    }
}
