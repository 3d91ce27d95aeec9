//! `spikeloom._core`: thin PyO3 bindings of spikeloom-core. No numerics here: argument conversion,
//! GIL release, error mapping. The idiomatic API lives in the Python package `spikeloom`.

mod burst;
mod callback;
mod checkpoint;
mod decolle;
mod eprop;
mod errors;
mod force;
mod functions;
mod hardware;
mod network;
mod persist;
mod rsnn;
mod s4nn;
mod sim;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(functions::lambert_w0, m)?)?;
    m.add_function(wrap_pyfunction!(functions::layer_spike_times, m)?)?;
    m.add_class::<network::PyTtfsNetwork>()?;
    m.add_function(wrap_pyfunction!(hardware::hardware_quantize, m)?)?;
    m.add_function(wrap_pyfunction!(hardware::hardware_chip, m)?)?;
    m.add_function(wrap_pyfunction!(hardware::hardware_params, m)?)?;
    m.add_function(wrap_pyfunction!(hardware::hardware_trial_inputs, m)?)?;
    m.add_function(wrap_pyfunction!(hardware::hardware_evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(hardware::hardware_run, m)?)?;
    m.add_class::<s4nn::PyS4nnNetwork>()?;
    m.add_class::<rsnn::PyRsnnNetwork>()?;
    m.add_class::<checkpoint::PyTrainState>()?;
    m.add_class::<sim::PySimGroup>()?;
    m.add_class::<decolle::PyDecolleNetwork>()?;
    m.add_class::<force::PyForceNetwork>()?;
    m.add_function(wrap_pyfunction!(eprop::eprop_fit, m)?)?;
    m.add_function(wrap_pyfunction!(eprop::eprop_gradient, m)?)?;
    m.add_function(wrap_pyfunction!(eprop::eprop_workspace_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(eprop::eprop_sparse_benchmark, m)?)?;
    m.add_class::<burst::PyBurstNetwork>()?;
    m.add_function(wrap_pyfunction!(burst::burst_neuron_trace, m)?)?;
    m.add_function(wrap_pyfunction!(burst::classify_bursts, m)?)?;
    m.add_function(wrap_pyfunction!(burst::tm_efficacies, m)?)?;
    Ok(())
}
