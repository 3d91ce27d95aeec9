//! Engines. `ttfs` is the exact event-driven engine for feed-forward networks of single-spike neurons.

pub mod ttfs;

pub use ttfs::{BackwardOptions, Layer, LayerInit, Network, Workspace};
