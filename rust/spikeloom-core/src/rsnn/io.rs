//! Saving and loading networks whose parameters are one flat vector split into named tensors
//! (recurrent BPTT networks, DECOLLE networks): safetensors with one F64 tensor per tensor and the
//! network description as JSON metadata, written atomically. Loading validates the description,
//! every shape and every parameter (through the network's own constructor and `set_params`).

use super::network::{NetworkSpec, RsnnNetwork};
use crate::error::Result;
use crate::io::{check_extra, read_file, serialize_f64, write_atomic, FileReader};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::ops::Range;
use std::path::Path;

/// The `format` metadata value of a recurrent network file.
pub const FORMAT: &str = "spikeloom.rsnn-network";
/// File format version written by this build.
pub const FORMAT_VERSION: u32 = 1;

/// A network stored as a JSON description plus a flat parameter vector of named tensors.
pub trait FlatNetwork: Sized {
    type Spec: Serialize + DeserializeOwned;
    /// The file's `format` metadata value.
    const FORMAT: &'static str;
    fn spec(&self) -> &Self::Spec;
    /// (name, shape, range in the flat vector) of every tensor.
    fn tensors(&self) -> Vec<(String, Vec<usize>, Range<usize>)>;
    fn params(&self) -> &[f64];
    /// A network of this description (parameters to be replaced).
    fn from_spec(spec: Self::Spec) -> Result<Self>;
    /// Replace the parameters, validating them.
    fn replace_params(&mut self, params: Vec<f64>) -> Result<()>;
}

impl FlatNetwork for RsnnNetwork {
    type Spec = NetworkSpec;
    const FORMAT: &'static str = FORMAT;
    fn spec(&self) -> &NetworkSpec {
        &self.spec
    }
    fn tensors(&self) -> Vec<(String, Vec<usize>, Range<usize>)> {
        self.layout.tensors()
    }
    fn params(&self) -> &[f64] {
        &self.params
    }
    fn from_spec(spec: NetworkSpec) -> Result<Self> {
        RsnnNetwork::new(spec, 0)
    }
    fn replace_params(&mut self, params: Vec<f64>) -> Result<()> {
        self.set_params(params)
    }
}

/// Serialise `net` with user metadata `extra` (a JSON document).
pub fn to_bytes<N: FlatNetwork>(net: &N, extra: &str) -> Result<Vec<u8>> {
    check_extra(extra)?;
    let params = net.params();
    let tensors: Vec<(String, Vec<usize>, &[f64])> = net
        .tensors()
        .into_iter()
        .map(|(name, shape, r)| (name, shape, &params[r]))
        .collect();
    let header = serde_json::json!({
        "format": N::FORMAT,
        "format_version": FORMAT_VERSION,
        "spikeloom_version": env!("CARGO_PKG_VERSION"),
        "spec": net.spec(),
        "extra": extra,
    });
    serialize_f64(&tensors, &header)
}

/// Save atomically to `path`.
pub fn save<N: FlatNetwork>(net: &N, path: &Path, extra: &str) -> Result<()> {
    write_atomic(path, &to_bytes(net, extra)?)
}

/// Load a network saved by [`save`]; returns it with the user metadata JSON.
pub fn load<N: FlatNetwork>(path: &Path) -> Result<(N, String)> {
    from_bytes(&read_file(path)?, path)
}

/// Parse a network from file bytes (`path` only names the source in errors).
pub fn from_bytes<N: FlatNetwork>(bytes: &[u8], path: &Path) -> Result<(N, String)> {
    let file = FileReader::open(bytes, path, N::FORMAT, FORMAT_VERSION)?;
    let spec: N::Spec = file.parse("spec")?;
    let extra = file.extra()?;
    let mut net = N::from_spec(spec).map_err(|e| file.err(e.to_string()))?;
    let tensors = net.tensors();
    if file.n_tensors() != tensors.len() {
        return Err(file.err(format!(
            "expected {} tensors, got {}",
            tensors.len(),
            file.n_tensors()
        )));
    }
    let len = tensors.iter().map(|(_, _, r)| r.end).max().unwrap_or(0);
    let mut params = vec![0.0; len];
    for (name, shape, r) in tensors {
        params[r].copy_from_slice(&file.f64(&name, &shape)?);
    }
    net.replace_params(params)
        .map_err(|e| file.err(e.to_string()))?;
    Ok((net, extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_bit_exact() {
        let spec: NetworkSpec = serde_json::from_str(
            r#"{"n_inputs": 3, "dt": 0.001, "layers": [{"size": 4, "tau_mem": 0.02,
                "adaptation": "yin", "reset": "subtract_adaptive", "beta": 1.8, "tau_adapt": 0.2}],
                "readout": {"size": 2, "tau": 0.02}}"#,
        )
        .unwrap();
        let net = RsnnNetwork::new(spec, 5).unwrap();
        let bytes = to_bytes(&net, "{\"a\": 1}").unwrap();
        let (back, extra): (RsnnNetwork, String) = from_bytes(&bytes, Path::new("x")).unwrap();
        assert_eq!(back, net);
        assert_eq!(extra, "{\"a\": 1}");
        let mut bad = bytes.clone();
        bad.truncate(bytes.len() - 3);
        assert!(from_bytes::<RsnnNetwork>(&bad, Path::new("x")).is_err());
    }
}
