//! Bindings of the hardware model: quantiser, chip instances, Monte Carlo evaluation.

use crate::errors::{enter_core, to_pyerr};
use crate::network::PyTtfsNetwork;
use numpy::ndarray::{Array2, Array3};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spikeloom_core::hardware::{
    evaluate_chips, run_chip, Chip, HardwareSpec, ParamChip, Quantizer, TensorInfo,
};
use spikeloom_core::train::{ComsaLoss, LabelledTimes, Objective, TtfsLoss};
use spikeloom_core::Error;

fn parse_spec(py: Python<'_>, spec: &str) -> PyResult<HardwareSpec> {
    serde_json::from_str(spec).map_err(|e| {
        to_pyerr(
            py,
            Error::param("hardware", "a valid hardware specification", e),
        )
    })
}

fn spec_from_json(py: Python<'_>, spec: &str) -> PyResult<HardwareSpec> {
    let s = parse_spec(py, spec)?;
    s.validate().map_err(|e| to_pyerr(py, e))?;
    Ok(s)
}

/// A spec for parameter-based networks (bits without a range quantise each tensor over its own
/// largest magnitude, see `HardwareSpec::validate_for_params`).
fn param_spec_from_json(py: Python<'_>, spec: &str) -> PyResult<HardwareSpec> {
    let s = parse_spec(py, spec)?;
    s.validate_for_params().map_err(|e| to_pyerr(py, e))?;
    Ok(s)
}

/// `(quantised weights, straight-through derivative)` of `w` for `bits` of magnitude over `range`.
#[pyfunction]
#[pyo3(signature = (w, bits, range))]
#[allow(clippy::type_complexity)]
pub fn hardware_quantize<'py>(
    py: Python<'py>,
    w: PyReadonlyArray1<'py, f64>,
    bits: Option<u32>,
    range: f64,
) -> PyResult<(Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>)> {
    let q = Quantizer::new(bits, range).map_err(|e| to_pyerr(py, e))?;
    let w = w.as_array();
    let values: Vec<f64> = w.iter().map(|&x| q.apply(x)).collect();
    let ste: Vec<f64> = w.iter().map(|&x| q.straight_through(x)).collect();
    Ok((values.into_pyarray(py), ste.into_pyarray(py)))
}

/// The parameters chip `seed` of `spec` runs for a flat parameter vector made of the named tensors
/// `names` with shapes `shapes`, concatenated in that order (see `spikeloom_core::hardware::params`).
#[pyfunction]
#[pyo3(signature = (spec, names, shapes, values, seed))]
pub fn hardware_params<'py>(
    py: Python<'py>,
    spec: &str,
    names: Vec<String>,
    shapes: Vec<Vec<usize>>,
    values: PyReadonlyArray1<'py, f64>,
    seed: u64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let spec = param_spec_from_json(py, spec)?;
    if names.len() != shapes.len() {
        return Err(to_pyerr(
            py,
            Error::shape(
                "shapes",
                format!("one shape per name ({})", names.len()),
                shapes.len(),
            ),
        ));
    }
    let mut at = 0;
    let tensors: Vec<TensorInfo> = names
        .into_iter()
        .zip(shapes)
        .map(|(n, s)| {
            let len: usize = s.iter().product();
            let r = at..at + len;
            at += len;
            (n, s, r)
        })
        .collect();
    let params = values.as_slice()?.to_vec();
    let out = enter_core(py, || {
        let chip = ParamChip::sample(&spec, &tensors, params.len(), seed)?;
        let mut out = Vec::new();
        chip.effective(&params, &mut out, None)?;
        Ok::<_, Error>(out)
    })?;
    Ok(out.into_pyarray(py))
}

/// The inputs `x` (`[samples, steps, channels]`, see `rsnn::sequences`) of a network with time step
/// `dt` (s) as trial `seed` of a chip of `spec` delivers them: lost and jittered input spikes
/// (`Sequences::subset_with_trial_noise`, the rule hardware training uses), as float32.
#[pyfunction]
#[pyo3(signature = (x, spec, dt, seed))]
pub fn hardware_trial_inputs<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    spec: &str,
    dt: f64,
    seed: u64,
) -> PyResult<Bound<'py, PyArray3<f32>>> {
    let spec = param_spec_from_json(py, spec)?;
    if !(dt.is_finite() && dt > 0.0) {
        return Err(to_pyerr(
            py,
            Error::param("dt", "a finite time step > 0 s", dt),
        ));
    }
    let seqs = crate::rsnn::sequences(py, "data", x)?;
    let (n, t, c) = (seqs.n_samples, seqs.n_steps, seqs.n_channels);
    let dense = enter_core(py, || {
        let noisy = seqs.with_trial_noise(spec.spike_loss, spec.jitter / dt, seed);
        Ok::<_, Error>(noisy.to_dense())
    })?;
    Ok(Array3::from_shape_vec((n, t, c), dense)
        .expect("sizes from the sequences")
        .into_pyarray(py))
}

fn matrix<'py>(py: Python<'py>, v: &[f64], rows: usize, cols: usize) -> Bound<'py, PyArray2<f64>> {
    Array2::from_shape_vec((rows, cols), v.to_vec())
        .expect("sizes from the network")
        .into_pyarray(py)
}

/// The chip instance `seed` of `spec` for `net`: a dict of per-layer arrays `weight_gain`
/// `[n_out, width]`, `threshold_gain`, `tau_gain` `[n_out]`, and `effective_weights` (the weights the
/// chip runs for the network's current float weights).
#[pyfunction]
#[pyo3(signature = (net, spec, seed))]
pub fn hardware_chip<'py>(
    py: Python<'py>,
    net: &PyTtfsNetwork,
    spec: &str,
    seed: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let spec = spec_from_json(py, spec)?;
    let inner = &net.inner;
    let (chip, eff) = enter_core(py, || {
        let chip = Chip::sample(&spec, inner, seed)?;
        let eff = chip.effective(inner)?;
        Ok::<_, Error>((chip, eff))
    })?;
    let d = PyDict::new(py);
    let (mut wg, mut tg, mut sg, mut ew) = (vec![], vec![], vec![], vec![]);
    for ((layer, m), e) in inner.layers().iter().zip(&chip.layers).zip(eff.layers()) {
        wg.push(matrix(py, &m.weight_gain, layer.n_out, layer.width()));
        ew.push(matrix(py, &e.weights, layer.n_out, layer.width()));
        tg.push(m.threshold_gain.clone().into_pyarray(py));
        sg.push(m.tau_gain.clone().into_pyarray(py));
    }
    d.set_item("weight_gain", wg)?;
    d.set_item("threshold_gain", tg)?;
    d.set_item("tau_gain", sg)?;
    d.set_item("effective_weights", ew)?;
    Ok(d)
}

/// Monte Carlo deployment: per chip seed, `(seed, loss, accuracy, spikes per layer per sample)`.
/// `loss` is `"goltz"` with `params = [xi, alpha, beta]` or `"comsa"` with
/// `params = [time_unit, penalty_output_spike_time]`.
#[pyfunction]
#[pyo3(signature = (net, spec, chip_seeds, trial_seed, times, labels, loss, params, threads=0))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn hardware_evaluate<'py>(
    py: Python<'py>,
    net: &PyTtfsNetwork,
    spec: &str,
    chip_seeds: Vec<u64>,
    trial_seed: u64,
    times: PyReadonlyArray2<'py, f64>,
    labels: PyReadonlyArray1<'py, i64>,
    loss: &str,
    params: Vec<f64>,
    threads: usize,
) -> PyResult<Vec<(u64, f64, f64, Vec<f64>)>> {
    let spec = spec_from_json(py, spec)?;
    let inner = &net.inner;
    let objective = match (loss, params.as_slice()) {
        ("goltz", &[xi, alpha, beta]) => Objective::Goltz(TtfsLoss {
            xi,
            alpha,
            beta,
            tau_syn: inner.neuron().tau_syn,
        }),
        ("comsa", &[time_unit, penalty_output_spike_time]) => Objective::Comsa(ComsaLoss {
            time_unit,
            penalty_output_spike_time,
        }),
        _ => {
            return Err(to_pyerr(
                py,
                Error::param(
                    "loss",
                    "\"goltz\" with 3 parameters or \"comsa\" with 2",
                    format!("{loss:?} with {} parameters", params.len()),
                ),
            ))
        }
    };
    let x: Vec<f64> = times.as_array().iter().copied().collect();
    let y = labels.as_array().to_vec();
    let out = enter_core(py, || {
        evaluate_chips(
            inner,
            &spec,
            &chip_seeds,
            trial_seed,
            LabelledTimes {
                times: &x,
                labels: &y,
            },
            &objective,
            threads,
        )
    })?;
    Ok(out
        .into_iter()
        .map(|e| (e.seed, e.loss, e.accuracy, e.spikes))
        .collect())
}

/// Spike times of every layer (`[samples, n_l]` arrays, +inf = none) of `net` run on chip `chip_seed`.
#[pyfunction]
#[pyo3(signature = (net, spec, chip_seed, trial_seed, times, threads=0))]
pub fn hardware_run<'py>(
    py: Python<'py>,
    net: &PyTtfsNetwork,
    spec: &str,
    chip_seed: u64,
    trial_seed: u64,
    times: PyReadonlyArray2<'py, f64>,
    threads: usize,
) -> PyResult<Vec<Bound<'py, PyArray2<f64>>>> {
    let spec = spec_from_json(py, spec)?;
    let inner = &net.inner;
    let n = times.as_array().nrows();
    let x: Vec<f64> = times.as_array().iter().copied().collect();
    let out = enter_core(py, || {
        run_chip(inner, &spec, chip_seed, trial_seed, &x, n, threads)
    })?;
    Ok(out
        .iter()
        .zip(inner.layers())
        .map(|(v, l)| matrix(py, v, n, l.n_out))
        .collect())
}
