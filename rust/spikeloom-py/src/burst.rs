//! Two-compartment burst networks (burst-dependent plasticity): the network class, single-neuron
//! recording, event/burst classification and Tsodyks-Markram efficacies. Descriptions cross the
//! boundary as JSON text validated by the core's serde types.

use crate::errors::{enter_core, to_pyerr};
use crate::rsnn::json;
use numpy::ndarray::Array1;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spikeloom_core::burst::{
    self, Compartment, Network, NetworkSpec, NeuronInputs, TsodyksMarkram, TwoCompartmentParams,
};
use spikeloom_core::Error;

fn compartment(py: Python<'_>, s: &str) -> PyResult<Compartment> {
    match s {
        "soma" => Ok(Compartment::Soma),
        "dendrite" => Ok(Compartment::Dendrite),
        _ => Err(to_pyerr(
            py,
            Error::param("compartment", "'soma' or 'dendrite'", s),
        )),
    }
}

type Pair<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

fn vec_u32<'py>(py: Python<'py>, v: &[u32]) -> Bound<'py, PyArray1<u32>> {
    Array1::from_vec(v.to_vec()).into_pyarray(py)
}

/// A network of two-compartment populations; see `spikeloom.burst.BurstNetwork`.
#[pyclass(module = "spikeloom._core", name = "BurstNetwork")]
pub struct PyBurstNetwork {
    inner: Network,
    threads: usize,
}

#[pymethods]
impl PyBurstNetwork {
    #[new]
    fn new(py: Python<'_>, spec_json: &str, threads: usize) -> PyResult<Self> {
        let spec: NetworkSpec = json(py, "spec", spec_json)?;
        let inner = enter_core(py, || Network::from_spec(&spec))?;
        Ok(PyBurstNetwork { inner, threads })
    }

    /// Simulated time (s).
    #[getter]
    fn time(&self) -> f64 {
        self.inner.time()
    }

    /// Run `steps` steps. Returns per-population event/burst/spike counts and the optional raster.
    fn run<'py>(
        &mut self,
        py: Python<'py>,
        steps: u64,
        plastic: bool,
        record: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let threads = self.threads;
        let net = &mut self.inner;
        let r = enter_core(py, || net.run(steps, plastic, record, threads))?;
        let d = PyDict::new(py);
        let events: Vec<_> = r.events.iter().map(|v| vec_u32(py, v)).collect();
        let bursts: Vec<_> = r.bursts.iter().map(|v| vec_u32(py, v)).collect();
        let spikes: Vec<_> = r.spikes.iter().map(|v| vec_u32(py, v)).collect();
        d.set_item("events", events)?;
        d.set_item("bursts", bursts)?;
        d.set_item("spikes", spikes)?;
        d.set_item("rec_step", Array1::from_vec(r.rec_step).into_pyarray(py))?;
        d.set_item("rec_pop", Array1::from_vec(r.rec_pop).into_pyarray(py))?;
        d.set_item("rec_id", Array1::from_vec(r.rec_id).into_pyarray(py))?;
        d.set_item("rec_kind", Array1::from_vec(r.rec_kind).into_pyarray(py))?;
        d.set_item("synaptic_events", r.synaptic_events)?;
        Ok(d)
    }

    /// Set the external current (A) of every neuron of a population in one compartment.
    fn set_current(
        &mut self,
        py: Python<'_>,
        population: usize,
        compartment_name: &str,
        values: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<()> {
        let c = compartment(py, compartment_name)?;
        let v = values.as_array().to_vec();
        self.inner
            .set_current(population, c, &v)
            .map_err(|e| to_pyerr(py, e))
    }

    /// Moving-average event rates (Hz) and burst probabilities of a population.
    fn estimates<'py>(&self, py: Python<'py>, population: usize) -> PyResult<Pair<'py>> {
        let (e, p) = self
            .inner
            .estimates(population)
            .map_err(|e| to_pyerr(py, e))?;
        Ok((
            Array1::from_vec(e).into_pyarray(py),
            Array1::from_vec(p).into_pyarray(py),
        ))
    }

    /// Somatic and dendritic potentials (V) of a population.
    fn potentials<'py>(&self, py: Python<'py>, population: usize) -> PyResult<Pair<'py>> {
        let (s, d) = self
            .inner
            .potentials(population)
            .map_err(|e| to_pyerr(py, e))?;
        Ok((
            Array1::from_vec(s).into_pyarray(py),
            Array1::from_vec(d).into_pyarray(py),
        ))
    }

    /// (pre, post, weight) arrays of the `index`-th incoming projection of population `post`.
    #[allow(clippy::type_complexity)]
    fn weights<'py>(
        &self,
        py: Python<'py>,
        post: usize,
        index: usize,
    ) -> PyResult<(
        Bound<'py, PyArray1<u32>>,
        Bound<'py, PyArray1<u32>>,
        Bound<'py, PyArray1<f64>>,
    )> {
        let (a, b, w) = self
            .inner
            .weights(post, index)
            .map_err(|e| to_pyerr(py, e))?;
        Ok((
            Array1::from_vec(a).into_pyarray(py),
            Array1::from_vec(b).into_pyarray(py),
            Array1::from_vec(w).into_pyarray(py),
        ))
    }

    fn set_weights(
        &mut self,
        py: Python<'_>,
        post: usize,
        index: usize,
        w: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<()> {
        let w = w.as_array().to_vec();
        self.inner
            .set_weights(post, index, &w)
            .map_err(|e| to_pyerr(py, e))
    }
}

/// Record `n` uncoupled two-compartment neurons for `steps` steps (inputs row-major [steps, n]).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn burst_neuron_trace<'py>(
    py: Python<'py>,
    params_json: &str,
    dt: f64,
    vs0: PyReadonlyArray1<'py, f64>,
    vd0: PyReadonlyArray1<'py, f64>,
    i_s: PyReadonlyArray1<'py, f64>,
    i_d: PyReadonlyArray1<'py, f64>,
    ge_s: PyReadonlyArray1<'py, f64>,
    gi_s: PyReadonlyArray1<'py, f64>,
    ge_d: PyReadonlyArray1<'py, f64>,
    gi_d: PyReadonlyArray1<'py, f64>,
    seed: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let params: TwoCompartmentParams = json(py, "params", params_json)?;
    let n = vs0.len()?;
    let steps = i_s.len()?.checked_div(n).unwrap_or(0);
    let (vs0, vd0) = (vs0.as_array().to_vec(), vd0.as_array().to_vec());
    let arrs: Vec<Vec<f64>> = [i_s, i_d, ge_s, gi_s, ge_d, gi_d]
        .iter()
        .map(|a| a.as_array().to_vec())
        .collect();
    let tr = enter_core(py, || {
        let inputs = NeuronInputs {
            i_s: &arrs[0],
            i_d: &arrs[1],
            ge_s: &arrs[2],
            gi_s: &arrs[3],
            ge_d: &arrs[4],
            gi_d: &arrs[5],
        };
        burst::simulate(&params, dt, n, steps, &vs0, &vd0, &inputs, seed)
    })?;
    let d = PyDict::new(py);
    d.set_item("vs", Array1::from_vec(tr.vs).into_pyarray(py))?;
    d.set_item("vd", Array1::from_vec(tr.vd).into_pyarray(py))?;
    d.set_item("ws", Array1::from_vec(tr.ws).into_pyarray(py))?;
    d.set_item("wd", Array1::from_vec(tr.wd).into_pyarray(py))?;
    d.set_item("thr", Array1::from_vec(tr.thr).into_pyarray(py))?;
    d.set_item(
        "spike_step",
        Array1::from_vec(tr.spike_step).into_pyarray(py),
    )?;
    d.set_item("spike_id", Array1::from_vec(tr.spike_id).into_pyarray(py))?;
    d.set_item(
        "spike_type",
        Array1::from_vec(tr.spike_type).into_pyarray(py),
    )?;
    d.set_item("steps", steps)?;
    Ok(d)
}

/// Classify spikes (times in s, neuron ids) into 0 event / 1 burst / 2 within-burst.
#[pyfunction]
pub fn classify_bursts<'py>(
    py: Python<'py>,
    times: PyReadonlyArray1<'py, f64>,
    ids: PyReadonlyArray1<'py, i64>,
    n: usize,
    window: f64,
) -> PyResult<Bound<'py, PyArray1<u8>>> {
    let t = times.as_array().to_vec();
    let ids = ids.as_array().to_vec();
    if let Some(bad) = ids.iter().find(|&&i| i < 0) {
        return Err(to_pyerr(
            py,
            Error::param("spike_ids", "neuron ids >= 0", bad),
        ));
    }
    let ids: Vec<usize> = ids.iter().map(|&i| i as usize).collect();
    let kinds = enter_core(py, || burst::classify(&t, &ids, n, window))?;
    Ok(Array1::from_vec(kinds.iter().map(|k| k.code()).collect()).into_pyarray(py))
}

/// Efficacies `u R` of a Tsodyks-Markram synapse at each spike of a train (times in s).
#[pyfunction]
pub fn tm_efficacies<'py>(
    py: Python<'py>,
    times: PyReadonlyArray1<'py, f64>,
    u0: f64,
    f: f64,
    tau_d: f64,
    tau_f: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let t = times.as_array().to_vec();
    let p = TsodyksMarkram {
        u0,
        f,
        tau_d,
        tau_f,
    };
    let e = enter_core(py, || burst::efficacies(&t, p))?;
    Ok(Array1::from_vec(e).into_pyarray(py))
}
