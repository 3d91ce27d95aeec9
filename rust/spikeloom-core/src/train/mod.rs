//! Training: losses, optimisers and the training loop (all in Rust; Python calls `fit` once per run).

pub mod adam;
pub mod comsa;
pub mod loss;
pub mod ttfs;
pub mod ttfs_state;

pub use adam::{Adam, Adamax, EpsPlacement, Optimizer, OptimizerKind};
pub use comsa::{ComsaLoss, ComsaSettings};
pub use loss::{first_to_spike, TtfsLoss, MISSING_LABEL_LOSS};
pub use ttfs::{
    comsa_gradients, evaluate, evaluate_objective, fit, ComsaGradients, EpochMetrics, Evaluation,
    FitConfig, LabelledTimes, Method, Objective,
};
