//! Saving and loading FORCE reservoirs with their whole simulation state: safetensors (one F64
//! tensor per vector; indices and step counts are integers below 2^53, so exact) with the config, the
//! step count and user metadata in the JSON header; written atomically. A loaded reservoir continues
//! bit for bit as the saved one would have: the RLS's pending (not yet folded) corrections are saved
//! as they are, not folded, because folding changes the rounding of later products.

use super::network::{ForceConfig, ForceNetwork};
use super::neuron::NeuronState;
use super::rls::RlsState;
use super::weights::StaticWeights;
use crate::error::Result;
use crate::io::{check_extra, read_file, serialize_f64, write_atomic, FileReader};
use std::path::Path;

/// The `format` metadata value of a FORCE reservoir file.
pub const FORMAT: &str = "spikeloom.force-network";
/// File format version written by this build.
pub const FORMAT_VERSION: u32 = 1;

/// Serialise `net` (weights, encoders, neuron and synapse state, readout, RLS) with user metadata
/// `extra` (a JSON document).
pub fn to_bytes(net: &ForceNetwork, extra: &str) -> Result<Vec<u8>> {
    check_extra(extra)?;
    let (n, k) = (net.cfg.n, net.cfg.k);
    let rls = net.rls.export();
    let m = rls.pending.len();
    let as_f64 = |v: &[usize]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let ptr = as_f64(&net.weights.ptr);
    let post: Vec<f64> = net.weights.post.iter().map(|&x| f64::from(x)).collect();
    let last: Vec<f64> = net.neurons.last_spike.iter().map(|&x| x as f64).collect();
    let pending_c: Vec<f64> = rls.pending.iter().flat_map(|(c, _)| c.clone()).collect();
    let pending_s: Vec<f64> = rls.pending.iter().map(|&(_, s)| s).collect();
    let nnz = net.weights.post.len();
    let tensors: Vec<(String, Vec<usize>, &[f64])> = vec![
        ("weights_ptr".into(), vec![n + 1], &ptr),
        ("weights_post".into(), vec![nnz], &post),
        ("weights".into(), vec![nnz], &net.weights.weight),
        ("encoders".into(), vec![k, n], &net.encoders),
        ("v".into(), vec![n], &net.neurons.v),
        ("u".into(), vec![n], &net.neurons.u),
        ("last_spike".into(), vec![n], &last),
        ("ipsc".into(), vec![n], &net.ipsc),
        ("h".into(), vec![n], &net.h),
        ("r".into(), vec![n], &net.r),
        ("hr".into(), vec![n], &net.hr),
        ("z".into(), vec![k], &net.z),
        ("decoders".into(), vec![k, n], &rls.d),
        ("rls_matrix".into(), vec![rls.packed.len()], &rls.packed),
        ("rls_pending_c".into(), vec![m, n], &pending_c),
        ("rls_pending_s".into(), vec![m], &pending_s),
    ];
    let header = serde_json::json!({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spikeloom_version": env!("CARGO_PKG_VERSION"),
        "config": net.cfg,
        "step": net.step,
        "rls_updates": rls.updates,
        "extra": extra,
    });
    serialize_f64(&tensors, &header)
}

/// Save atomically to `path`.
pub fn save(net: &ForceNetwork, path: &Path, extra: &str) -> Result<()> {
    write_atomic(path, &to_bytes(net, extra)?)
}

/// Load a reservoir saved by [`save`]; returns it with the user metadata JSON.
pub fn load(path: &Path) -> Result<(ForceNetwork, String)> {
    from_bytes(&read_file(path)?, path)
}

/// Integers stored as F64 (indices, step numbers): each must be a whole number in `0..=max`.
fn whole(file: &FileReader<'_>, name: &str, v: Vec<f64>, max: f64) -> Result<Vec<u64>> {
    v.into_iter()
        .map(|x| {
            if x.fract() == 0.0 && (0.0..=max).contains(&x) {
                Ok(x as u64)
            } else {
                Err(file.err(format!(
                    "tensor '{name}': expected whole numbers in 0..={max}, got {x}"
                )))
            }
        })
        .collect()
}

/// Parse a reservoir from file bytes (`path` only names the source in errors). Everything is
/// validated: the config, every shape, the weights' CSR structure and finite values throughout.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<(ForceNetwork, String)> {
    let file = FileReader::open(bytes, path, FORMAT, FORMAT_VERSION)?;
    let cfg: ForceConfig = file.parse("config")?;
    cfg.validate().map_err(|e| file.err(e.to_string()))?;
    let step: u64 = file.parse("step")?;
    let extra = file.extra()?;
    let (n, k) = (cfg.n, cfg.k);
    let nnz = file.shape("weights")?.first().copied().unwrap_or(0);
    let ptr = whole(
        &file,
        "weights_ptr",
        file.f64("weights_ptr", &[n + 1])?,
        nnz as f64,
    )?;
    let post = whole(
        &file,
        "weights_post",
        file.f64("weights_post", &[nnz])?,
        (n - 1) as f64,
    )?;
    let weights = StaticWeights {
        n,
        ptr: ptr.into_iter().map(|x| x as usize).collect(),
        post: post.into_iter().map(|x| x as u32).collect(),
        weight: file.f64("weights", &[nnz])?,
    };
    let last_spike = whole(
        &file,
        "last_spike",
        file.f64("last_spike", &[n])?,
        step as f64,
    )?;
    let neurons = NeuronState {
        v: file.f64("v", &[n])?,
        u: file.f64("u", &[n])?,
        last_spike,
    };
    let encoders = file.f64("encoders", &[k, n])?;
    let mut net = ForceNetwork::with_parts(cfg, weights, encoders, neurons)
        .map_err(|e| file.err(e.to_string()))?;
    for (name, dst, len) in [
        ("ipsc", &mut net.ipsc, n),
        ("h", &mut net.h, n),
        ("r", &mut net.r, n),
        ("hr", &mut net.hr, n),
        ("z", &mut net.z, k),
    ] {
        let v = file.f64(name, &[len])?;
        crate::error::ensure_all_finite(name, &v).map_err(|e| file.err(e.to_string()))?;
        *dst = v;
    }
    let m = file.shape("rls_pending_s")?.first().copied().unwrap_or(0);
    let pending_c = file.f64("rls_pending_c", &[m, n])?;
    let pending_s = file.f64("rls_pending_s", &[m])?;
    let pending = if n > 0 {
        pending_c
            .chunks_exact(n)
            .map(<[f64]>::to_vec)
            .zip(pending_s)
            .collect()
    } else {
        Vec::new()
    };
    let st = RlsState {
        packed: file.f64("rls_matrix", &[n * (n + 1) / 2])?,
        d: file.f64("decoders", &[k, n])?,
        pending,
        updates: file.parse("rls_updates")?,
    };
    net.rls.restore(st).map_err(|e| file.err(e.to_string()))?;
    net.step = step;
    Ok((net, extra))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::force::network::{Progress, RunOptions};
    use crate::force::Precision;
    use std::ops::ControlFlow;

    fn cfg(precision: Precision) -> ForceConfig {
        crate::force::network::lif_config(300, 3, precision)
    }

    /// A reservoir saved in the middle of learning (with pending RLS corrections) and loaded again
    /// continues with the same spikes, readout, decoders and `P` bits as the one never saved.
    #[test]
    fn saved_reservoir_continues_bit_for_bit() {
        for precision in [Precision::F64, Precision::F32] {
            let steps = 1500;
            let target: Vec<f64> = (0..4 * steps * 2)
                .map(|i| ((i / 2) as f64 * 5e-5 * 31.4).sin())
                .collect();
            let part = |j: usize| &target[j * steps * 2..(j + 1) * steps * 2];
            let opts = RunOptions {
                record_every: 1,
                record_spikes: true,
                ..Default::default()
            };
            let mut cb = |_: &Progress| ControlFlow::Continue(());
            let mut net = ForceNetwork::new(cfg(precision)).unwrap();
            net.run(steps, Some(part(0)), false, &opts, &mut cb)
                .unwrap();
            net.run(steps, Some(part(1)), true, &opts, &mut cb).unwrap();
            // 75 updates: 3 corrections pending.
            assert_eq!(net.rls.updates % crate::force::rls::FOLD as u64, 3);
            let bytes = to_bytes(&net, "{\"note\": 1}").unwrap();
            let (mut back, extra) = from_bytes(&bytes, Path::new("x")).unwrap();
            assert_eq!(extra, "{\"note\": 1}");
            assert_eq!(to_bytes(&back, "{\"note\": 1}").unwrap(), bytes);
            let go = |net: &mut ForceNetwork| {
                let mut cb = |_: &Progress| ControlFlow::Continue(());
                let a = net.run(steps, Some(part(2)), true, &opts, &mut cb).unwrap();
                let b = net
                    .run(steps, Some(part(3)), false, &opts, &mut cb)
                    .unwrap();
                let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                (
                    bits(&[a.z, b.z].concat()),
                    [a.spike_ids, b.spike_ids].concat(),
                    bits(&net.rls.d),
                    bits(&net.rls.matrix()),
                )
            };
            let (want, got) = (go(&mut net), go(&mut back));
            assert!(want.1.len() > 500, "spikes {}", want.1.len());
            assert!(want == got, "continuation differs ({precision:?})");
            // Folding the pending corrections before saving changes later results: the check has power.
            let mut folded = ForceNetwork::new(cfg(precision)).unwrap();
            folded
                .run(steps, Some(part(0)), false, &opts, &mut cb)
                .unwrap();
            folded
                .run(steps, Some(part(1)), true, &opts, &mut cb)
                .unwrap();
            folded.rls.flush(false);
            assert!(go(&mut folded).3 != want.3);
        }
    }

    #[test]
    fn damaged_files_are_rejected() {
        let net = ForceNetwork::new(cfg(Precision::F64)).unwrap();
        let bytes = to_bytes(&net, "{}").unwrap();
        let mut short = bytes.clone();
        short.truncate(bytes.len() - 5);
        let e = from_bytes(&short, Path::new("res.safetensors")).unwrap_err();
        assert!(e.to_string().contains("res.safetensors"), "{e}");
        // A file of another kind (same header length).
        let other = "spikeloom.burst-network";
        assert_eq!(other.len(), FORMAT.len());
        let at = bytes
            .windows(FORMAT.len())
            .position(|w| w == FORMAT.as_bytes())
            .unwrap();
        let mut renamed = bytes.clone();
        renamed[at..at + other.len()].copy_from_slice(other.as_bytes());
        let e = from_bytes(&renamed, Path::new("x")).unwrap_err();
        assert!(e.to_string().contains(other), "{e}");
    }
}
