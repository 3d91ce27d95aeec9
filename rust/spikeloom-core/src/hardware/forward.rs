//! Running a network on a chip instance: one sample ([`chip_forward`]) and Monte Carlo evaluation
//! over many instances ([`evaluate_chips`]).

use super::{Chip, HardwareSpec};
use crate::engine::{Network, Workspace};
use crate::error::Result;
use crate::parallel::{with_threads, CHUNK};
use crate::spike_time::{first_spike, Kernel, SortedInputs};
use crate::train::{first_to_spike, LabelledTimes, Objective};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal, StandardUniform};
use rayon::prelude::*;

/// A chip instance ready to run the current weights of a network: its effective network and, when
/// time constants are mismatched, the kernel of every neuron.
#[derive(Clone, Debug)]
pub struct ChipNetwork {
    pub effective: Network,
    /// Per layer, per neuron kernel (None: every neuron has the nominal kernel).
    pub kernels: Option<Vec<Vec<Kernel>>>,
    pub spec: HardwareSpec,
}

impl Chip {
    /// The network this chip runs for `net`'s current (shadow) weights.
    pub fn network(&self, net: &Network) -> Result<ChipNetwork> {
        let effective = self.effective(net)?;
        let kernels = if self.has_tau_mismatch() {
            let mut all = Vec::with_capacity(self.layers.len());
            for (l, m) in self.layers.iter().enumerate() {
                all.push(
                    (0..m.tau_gain.len())
                        .map(|k| self.neuron_kernel(net.neuron(), l, k))
                        .collect::<Result<Vec<_>>>()?,
                );
            }
            Some(all)
        } else {
            None
        };
        Ok(ChipNetwork {
            effective,
            kernels,
            spec: self.spec.clone(),
        })
    }
}

/// Per-thread buffer of the neuron-by-neuron path (inputs re-tuned to one neuron's kernel).
#[derive(Clone, Debug, Default)]
pub struct ChipScratch {
    sorted: SortedInputs,
}

/// `dst` = `src`'s sorted inputs with the gap propagators of `kernel`.
fn retune(src: &SortedInputs, dst: &mut SortedInputs, kernel: &Kernel) {
    dst.order.clear();
    dst.order.extend_from_slice(&src.order);
    dst.times.clear();
    dst.times.extend_from_slice(&src.times);
    dst.f1.clear();
    dst.f2.clear();
    let n = src.times.len();
    for k in 0..n {
        let gap = if k + 1 < n {
            src.times[k + 1] - src.times[k]
        } else {
            f64::INFINITY
        };
        match *kernel {
            Kernel::Equal { tau } => {
                dst.f1.push((-gap / tau).exp());
                dst.f2.push(gap / tau);
            }
            Kernel::Double { tau_syn, tau_mem } => {
                dst.f1.push((-gap / tau_syn).exp());
                dst.f2.push((-gap / tau_mem).exp());
            }
        }
    }
}

/// SplitMix64 of two words: independent streams per (run, epoch, batch, sample, chip ...).
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Lost spikes (and with `jitter`, Gaussian jitter) on the finite times of `times`; jittered times
/// are reflected at 0.
fn perturb(times: &mut [f64], spec: &HardwareSpec, jitter: bool, rng: &mut ChaCha8Rng) {
    for t in times.iter_mut().filter(|t| t.is_finite()) {
        if spec.spike_loss > 0.0
            && Distribution::<f64>::sample(&StandardUniform, rng) < spec.spike_loss
        {
            *t = f64::INFINITY;
            continue;
        }
        if jitter && spec.jitter > 0.0 {
            let z: f64 = StandardNormal.sample(rng);
            *t = (*t + spec.jitter * z).abs();
        }
    }
}

/// One trial of sample `x` on the chip: spike times of every layer as observed (with jitter) in
/// `ws.outputs`, and everything the engine's backward pass needs in `ws`. `rng` draws the trial noise
/// (unused when the spec has none). Does not allocate once the buffers have grown.
pub fn chip_forward(
    cn: &ChipNetwork,
    x: &[f64],
    ws: &mut Workspace,
    scratch: &mut ChipScratch,
    rng: &mut ChaCha8Rng,
) {
    let net = &cn.effective;
    let noisy = cn.spec.has_trial_noise();
    for (l, layer) in net.layers().iter().enumerate() {
        let n_in = layer.n_in;
        {
            let (before, after) = ws.inputs.split_at_mut(l);
            let _ = before;
            let input = &mut after[0][..n_in];
            if l == 0 {
                input.copy_from_slice(x);
            } else {
                input.copy_from_slice(&ws.outputs[l - 1]);
            }
            if noisy {
                // Emitted spikes were jittered where they were produced.
                perturb(input, &cn.spec, l == 0, rng);
            }
        }
        match &cn.kernels {
            None => net.forward_layer(l, ws),
            Some(kernels) => {
                let width = layer.width();
                let input = &mut ws.inputs[l];
                input[n_in..].copy_from_slice(&layer.bias_times);
                ws.sorted[l].prepare(input, &net.kernel());
                let theta = net.neuron().threshold;
                for (k, kernel) in kernels[l].iter().enumerate() {
                    retune(&ws.sorted[l], &mut scratch.sorted, kernel);
                    let row = &layer.weights[k * width..(k + 1) * width];
                    let (t, n_causal) = first_spike(kernel, theta, &scratch.sorted, row);
                    ws.outputs[l][k] = t;
                    ws.causal[l][k] = n_causal;
                    ws.slopes[l][k] = f64::NAN;
                }
            }
        }
        if noisy && cn.spec.jitter > 0.0 {
            for t in ws.outputs[l].iter_mut().filter(|t| t.is_finite()) {
                let z: f64 = StandardNormal.sample(rng);
                *t = (*t + cn.spec.jitter * z).abs();
            }
        }
    }
}

/// Result of one chip instance in [`evaluate_chips`].
#[derive(Clone, Debug, PartialEq)]
pub struct ChipEvaluation {
    pub seed: u64,
    pub loss: f64,
    pub accuracy: f64,
    /// Per layer: mean number of spikes per sample.
    pub spikes: Vec<f64>,
}

/// Loss, accuracy and spike counts of `net` deployed on the chips `chip_seeds` of `spec` (one trial
/// per sample; trial noise from `trial_seed`, the chip seed and the sample index). Samples run in
/// parallel in fixed chunks: results do not depend on `threads`.
pub fn evaluate_chips(
    net: &Network,
    spec: &HardwareSpec,
    chip_seeds: &[u64],
    trial_seed: u64,
    data: LabelledTimes,
    objective: &Objective,
    threads: usize,
) -> Result<Vec<ChipEvaluation>> {
    spec.validate()?;
    net.check_inputs("times", data.times, data.len())?;
    let chips = chip_seeds
        .iter()
        .map(|&s| Chip::sample(spec, net, s).and_then(|c| c.network(net)))
        .collect::<Result<Vec<_>>>()?;
    with_threads(threads, || {
        chips
            .iter()
            .zip(chip_seeds)
            .map(|(cn, &seed)| evaluate_one(cn, seed, mix(trial_seed, seed), data, objective))
            .collect()
    })
}

/// [`evaluate_chips`] for one prepared chip (inside the caller's rayon pool).
pub(crate) fn evaluate_one(
    cn: &ChipNetwork,
    seed: u64,
    trial_seed: u64,
    data: LabelledTimes,
    objective: &Objective,
) -> ChipEvaluation {
    let net = &cn.effective;
    let n = data.len();
    let n_in = net.n_inputs();
    let n_layers = net.layers().len();
    let per_chunk: Vec<(f64, usize, Vec<usize>)> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map_init(
            || {
                (
                    net.workspace(),
                    ChipScratch::default(),
                    vec![0.0; net.n_outputs()],
                )
            },
            |(ws, scratch, g), c| {
                let (mut loss, mut correct, mut spikes) = (0.0, 0usize, vec![0usize; n_layers]);
                for i in c * CHUNK..((c + 1) * CHUNK).min(n) {
                    let x = &data.times[i * n_in..(i + 1) * n_in];
                    let y = data.labels[i] as usize;
                    let mut rng = ChaCha8Rng::seed_from_u64(mix(trial_seed, i as u64));
                    chip_forward(cn, x, ws, scratch, &mut rng);
                    for (s, out) in spikes.iter_mut().zip(&ws.outputs) {
                        *s += out.iter().filter(|t| t.is_finite()).count();
                    }
                    let out = ws.outputs.last().expect("a network has layers");
                    loss += objective.loss_and_grad(out, y, g);
                    correct += usize::from(first_to_spike(out) == Some(y));
                }
                (loss, correct, spikes)
            },
        )
        .collect();
    let (mut loss, mut correct, mut spikes) = (0.0, 0usize, vec![0usize; n_layers]);
    for (l, c, s) in per_chunk {
        loss += l;
        correct += c;
        spikes.iter_mut().zip(s).for_each(|(a, b)| *a += b);
    }
    let nf = n.max(1) as f64;
    ChipEvaluation {
        seed,
        loss: if n > 0 { loss / nf } else { f64::NAN },
        accuracy: if n > 0 { correct as f64 / nf } else { f64::NAN },
        spikes: spikes.into_iter().map(|s| s as f64 / nf).collect(),
    }
}

/// Spike times of every layer of `net` run on chip `chip_seed` of `spec` for `n` samples (`x`:
/// `[n, n_inputs]`), as observed (jitter included); trial noise of sample `i` from
/// `(trial_seed, i)`. Returns one `[n, n_l]` row-major vector per layer; +inf = no spike.
pub fn run_chip(
    net: &Network,
    spec: &HardwareSpec,
    chip_seed: u64,
    trial_seed: u64,
    x: &[f64],
    n: usize,
    threads: usize,
) -> Result<Vec<Vec<f64>>> {
    net.check_inputs("times", x, n)?;
    let cn = Chip::sample(spec, net, chip_seed)?.network(net)?;
    let n_in = net.n_inputs();
    let sizes: Vec<usize> = net.layers().iter().map(|l| l.n_out).collect();
    let total: usize = sizes.iter().sum();
    let mut flat = vec![0.0; n * total];
    with_threads(threads, || {
        flat.par_chunks_mut(total * CHUNK)
            .enumerate()
            .for_each_init(
                || (cn.effective.workspace(), ChipScratch::default()),
                |(ws, scratch), (c, out)| {
                    for (r, o) in out.chunks_mut(total).enumerate() {
                        let i = c * CHUNK + r;
                        let mut rng = ChaCha8Rng::seed_from_u64(mix(trial_seed, i as u64));
                        chip_forward(&cn, &x[i * n_in..(i + 1) * n_in], ws, scratch, &mut rng);
                        let mut at = 0;
                        for layer_out in &ws.outputs {
                            o[at..at + layer_out.len()].copy_from_slice(layer_out);
                            at += layer_out.len();
                        }
                    }
                },
            );
    })?;
    let mut per_layer: Vec<Vec<f64>> = sizes.iter().map(|&s| Vec::with_capacity(n * s)).collect();
    for sample in flat.chunks(total.max(1)) {
        let mut at = 0;
        for (l, &s) in sizes.iter().enumerate() {
            per_layer[l].extend_from_slice(&sample[at..at + s]);
            at += s;
        }
    }
    Ok(per_layer)
}
