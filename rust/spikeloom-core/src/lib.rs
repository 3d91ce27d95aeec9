//! # spikeloom-core
//!
//! A pure-Rust engine for spiking neural networks and their exact learning rules. No Python here:
//! slices in, `Result<_, Error>` out; the `spikeloom-py` crate wraps it for Python.
//!
//! Pipeline of the exact time-to-first-spike method (Göltz et al. 2021):
//! 1. [`spike_time`]: closed-form first-spike solvers (Lambert W for tau_mem = tau_syn, a quadratic for
//!    tau_mem = 2 tau_syn), the causal-set walk, exact derivatives.
//! 2. [`engine::ttfs`]: feed-forward networks of single-spike neurons, event-driven and exact,
//!    batch-parallel with rayon.
//! 3. [`train`]: the paper's loss, Adam, clipping, weight bumping and the training loop.
//! 4. [`io`]: safetensors files with JSON metadata, written atomically.

pub mod burst;
pub mod engine;
pub mod error;
pub mod force;
pub mod hardware;
pub mod io;
pub mod parallel;
pub mod rsnn;
pub mod s4nn;
pub mod sim;
pub mod spike_time;
pub mod train;

pub use error::{Error, Result};
