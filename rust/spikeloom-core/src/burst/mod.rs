//! Burst-dependent synaptic plasticity in networks of two-compartment neurons (Payeur, Guerguiev,
//! Zenke, Richards & Naud 2021, Nat Neurosci 24:1010).
//!
//! - [`neuron`]: the two-compartment pyramidal neuron (soma + apical dendrite, dendritic Ca2+
//!   nonlinearity, back-propagating spike, adaptation, moving threshold) and the stochastic-burst
//!   variant used in the XOR network;
//! - [`detect`]: event / burst classification (16 ms window) and online rate / burst-probability
//!   averages;
//! - [`stp`]: idealised (events-only / bursts-only) and Tsodyks-Markram short-term plasticity;
//! - [`rule`]: the burst-dependent rule `dW = eta (B - P_bar E) E~_pre` with homeostasis and bounds;
//! - [`network`]: populations, background Poisson drive, projections and the clock-driven step loop;
//! - [`poisson`]: the background generator (xoshiro256++ and an alias-table Poisson sampler);
//! - [`trace`]: step-by-step recording of uncoupled neurons.

pub mod detect;
pub mod network;
pub mod neuron;
pub mod poisson;
pub mod rule;
pub mod stp;
pub mod trace;

pub use detect::{classify, Detector, RateEstimate, SpikeKind};
pub use network::{
    Background, Compartment, Network, NetworkSpec, PopulationSpec, ProjectionSpec, Receptor,
    RunResult,
};
pub use neuron::{BurstMechanism, StepSpike, Stepper, TwoCompartmentParams, TwoCompartmentState};
pub use rule::RuleParams;
pub use stp::{efficacies, TmState, Transmit, TsodyksMarkram};
pub use trace::{simulate, NeuronInputs, NeuronTrace};
