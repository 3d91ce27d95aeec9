//! Training: losses, optimisers and the training loop (all in Rust; Python calls `fit` once per run).

pub mod adam;
pub mod loss;
pub mod ttfs;

pub use adam::Adam;
pub use loss::{first_to_spike, TtfsLoss, MISSING_LABEL_LOSS};
pub use ttfs::{evaluate, fit, EpochMetrics, Evaluation, FitConfig, LabelledTimes};
