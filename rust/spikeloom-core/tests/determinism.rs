//! Training is bit-identical for any thread count, depends on the seed, and networks survive a
//! byte round trip; truncated files are refused with `Error::FileFormat`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spikeloom_core::engine::Network;
use spikeloom_core::io;
use spikeloom_core::spike_time::LifParams;
use spikeloom_core::train::{fit, EpochMetrics, FitConfig, LabelledTimes};
use spikeloom_core::Error;
use std::ops::ControlFlow;
use std::path::Path;

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    lo + (hi - lo) * u
}

/// ~300 samples, 4 input times in [0.15, 2.0], 3 classes.
fn dataset() -> (Vec<f64>, Vec<i64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let n = 300;
    let times = (0..n * 4).map(|_| uniform(&mut rng, 0.15, 2.0)).collect();
    let labels = (0..n).map(|_| (rng.next_u64() % 3) as i64).collect();
    (times, labels)
}

fn initial_net() -> Network {
    Network::new(
        LifParams::new(1.0, 1.0, 1.0).unwrap(),
        &[4, 20, 3],
        &[vec![0.9], vec![0.9]],
        &[(1.5, 0.8), (0.5, 0.8)],
        7,
    )
    .unwrap()
}

fn config(threads: usize, seed: u64, input_noise: f64) -> FitConfig {
    let mut cfg = FitConfig::yin_yang(1.0, 2);
    cfg.epochs = 3;
    cfg.batch_size = 37;
    cfg.threads = threads;
    cfg.seed = seed;
    cfg.input_noise = input_noise;
    cfg
}

fn train(threads: usize, seed: u64, input_noise: f64) -> (Network, Vec<EpochMetrics>) {
    let (times, labels) = dataset();
    let mut net = initial_net();
    let history = fit(
        &mut net,
        LabelledTimes {
            times: &times,
            labels: &labels,
        },
        Some(LabelledTimes {
            times: &times[..400],
            labels: &labels[..100],
        }),
        &config(threads, seed, input_noise),
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap();
    (net, history)
}

fn weight_bits(net: &Network) -> Vec<Vec<u64>> {
    net.layers()
        .iter()
        .map(|l| l.weights.iter().map(|w| w.to_bits()).collect())
        .collect()
}

/// Metrics without the wall time.
fn metric_bits(h: &[EpochMetrics]) -> Vec<Vec<u64>> {
    h.iter()
        .map(|m| {
            vec![
                m.epoch as u64,
                m.train_loss.to_bits(),
                m.train_accuracy.to_bits(),
                m.val_loss.unwrap().to_bits(),
                m.val_accuracy.unwrap().to_bits(),
                m.lr.to_bits(),
                m.bumps as u64,
                m.chopped as u64,
            ]
        })
        .collect()
}

fn check_thread_independence(input_noise: f64) {
    let (net1, h1) = train(1, 0, input_noise);
    assert_eq!(h1.len(), 3);
    // Training did take gradient steps (not only bumps), so the comparison means something.
    let init = initial_net();
    let changed = net1
        .layers()
        .iter()
        .zip(init.layers())
        .map(|(a, b)| {
            a.weights
                .iter()
                .zip(&b.weights)
                .filter(|(x, y)| x != y)
                .count()
        })
        .sum::<usize>();
    assert!(
        changed > net1.n_weights() / 2,
        "only {changed} weights changed"
    );
    let batches_per_epoch = 300usize.div_ceil(37);
    assert!(
        h1.iter().map(|m| m.bumps).sum::<usize>() < 3 * batches_per_epoch,
        "{h1:?}"
    );
    for threads in [2, 3] {
        let (net, h) = train(threads, 0, input_noise);
        assert_eq!(
            weight_bits(&net),
            weight_bits(&net1),
            "threads = {threads} changed the weights (noise {input_noise})"
        );
        assert_eq!(
            metric_bits(&h),
            metric_bits(&h1),
            "threads = {threads} changed the metrics"
        );
        assert_eq!(net, net1);
    }
    // A different seed (another shuffle / noise) gives different weights.
    let (other, _) = train(2, 1, input_noise);
    assert_ne!(
        weight_bits(&other),
        weight_bits(&net1),
        "the seed has no effect"
    );
}

#[test]
fn training_is_bit_identical_across_thread_counts() {
    check_thread_independence(0.0);
}

#[test]
fn training_with_input_noise_is_bit_identical_across_thread_counts() {
    check_thread_independence(0.05);
}

#[test]
fn run_is_bit_identical_across_thread_counts() {
    let (times, _) = dataset();
    let net = initial_net();
    let r1 = net.run(&times, 300, 1).unwrap();
    for threads in [2, 3] {
        let r = net.run(&times, 300, threads).unwrap();
        let bits = |v: &Vec<Vec<f64>>| {
            v.iter()
                .map(|l| l.iter().map(|t| t.to_bits()).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&r), bits(&r1));
    }
    // And equal to one-sample forward passes.
    let mut ws = net.workspace();
    for i in [0, 7, 8, 150, 299] {
        net.forward(&times[i * 4..(i + 1) * 4], &mut ws);
        assert_eq!(&ws.outputs[0][..], &r1[0][i * 20..(i + 1) * 20]);
        assert_eq!(&ws.outputs[1][..], &r1[1][i * 3..(i + 1) * 3]);
    }
}

#[test]
fn bytes_round_trip_and_truncation() {
    let (net, _) = train(2, 0, 0.0);
    let extra = r#"{"encoder": {"t_early": 0.15, "t_late": 2.0}, "note": "unit test"}"#;
    let bytes = io::to_bytes(&net, extra).unwrap();
    let (back, extra_back) = io::from_bytes(&bytes, Path::new("memory")).unwrap();
    assert_eq!(back, net);
    assert_eq!(weight_bits(&back), weight_bits(&net));
    assert_eq!(back.neuron(), net.neuron());
    assert_eq!(back.sizes(), net.sizes());
    for (a, b) in back.layers().iter().zip(net.layers()) {
        assert_eq!(a.bias_times, b.bias_times);
    }
    let v_back: serde_json::Value = serde_json::from_str(&extra_back).unwrap();
    let v: serde_json::Value = serde_json::from_str(extra).unwrap();
    assert_eq!(v_back, v);
    // Re-serialising the loaded network loads back to the same network.
    let again = io::to_bytes(&back, extra).unwrap();
    assert_eq!(again.len(), bytes.len());
    assert_eq!(io::from_bytes(&again, Path::new("again")).unwrap().0, net);

    // Every truncation is refused with a FileFormat error naming the source.
    let mut cuts: Vec<usize> = vec![
        0,
        1,
        7,
        8,
        9,
        16,
        bytes.len() / 3,
        bytes.len() / 2,
        bytes.len() - 8,
        bytes.len() - 1,
    ];
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    cuts.extend([header_len, header_len + 7, header_len + 8, header_len + 9]);
    for cut in cuts {
        match io::from_bytes(&bytes[..cut], Path::new("truncated.safetensors")) {
            Err(Error::FileFormat { path, .. }) => assert_eq!(path, "truncated.safetensors"),
            Err(e) => panic!(
                "truncated at {cut}/{}: expected FileFormat, got {e:?}",
                bytes.len()
            ),
            Ok(_) => panic!("truncated at {cut}/{}: loaded", bytes.len()),
        }
    }
    // Not JSON metadata.
    assert!(io::to_bytes(&net, "not json").is_err());
}

/// Saving the same network twice should give the same bytes (reproducible artefacts, content
/// hashes). It does not: `to_bytes` collects the metadata in a `std::collections::HashMap`, whose
/// iteration order is randomised per map, so the safetensors JSON header lists the metadata keys
/// in a different order from call to call (the tensors and the data are identical).
#[test]
fn to_bytes_is_deterministic() {
    let net = initial_net();
    let first = io::to_bytes(&net, "{}").unwrap();
    for attempt in 0..20 {
        let again = io::to_bytes(&net, "{}").unwrap();
        assert!(
            again == first,
            "to_bytes call {attempt} differs from the first:\n{}\nvs\n{}",
            header(&again),
            header(&first)
        );
    }
}

fn header(bytes: &[u8]) -> String {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    String::from_utf8_lossy(&bytes[8..8 + n]).into_owned()
}
