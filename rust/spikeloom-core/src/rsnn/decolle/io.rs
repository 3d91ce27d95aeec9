//! Saving and loading DECOLLE networks with the shared flat-network file format of
//! [`crate::rsnn::io`]: one F64 tensor per tensor of [`super::network::Layout::tensors`] (the fixed
//! readouts included) and the description as JSON metadata, written atomically.

use super::network::{DecolleNetwork, DecolleSpec};
use crate::error::Result;
use crate::rsnn::io::FlatNetwork;
pub use crate::rsnn::io::{from_bytes, load, save, to_bytes};
use std::ops::Range;

/// The `format` metadata value of a DECOLLE network file.
pub const FORMAT: &str = "spikeloom.decolle-network";

impl FlatNetwork for DecolleNetwork {
    type Spec = DecolleSpec;
    const FORMAT: &'static str = FORMAT;
    fn spec(&self) -> &DecolleSpec {
        &self.spec
    }
    fn tensors(&self) -> Vec<(String, Vec<usize>, Range<usize>)> {
        self.layout.tensors()
    }
    fn params(&self) -> &[f64] {
        &self.params
    }
    fn from_spec(spec: DecolleSpec) -> Result<Self> {
        DecolleNetwork::new(spec, 0)
    }
    fn replace_params(&mut self, params: Vec<f64>) -> Result<()> {
        self.set_params(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn round_trip_is_bit_exact() {
        let spec: DecolleSpec = serde_json::from_str(
            r#"{"n_inputs": 3, "sizes": [4, 5], "n_outputs": 2, "dt": 0.001, "tau_ref": [0.004, 0.002]}"#,
        )
        .unwrap();
        let net = DecolleNetwork::new(spec, 5).unwrap();
        let bytes = to_bytes(&net, "{\"a\": 1}").unwrap();
        let (back, extra): (DecolleNetwork, String) = from_bytes(&bytes, Path::new("x")).unwrap();
        assert_eq!(back, net);
        assert_eq!(extra, "{\"a\": 1}");
        let mut bad = bytes.clone();
        bad.truncate(bytes.len() - 3);
        assert!(from_bytes::<DecolleNetwork>(&bad, Path::new("x")).is_err());
        let rsnn_file = crate::rsnn::io::FORMAT;
        assert_ne!(rsnn_file, FORMAT);
    }
}
