//! Burst module: detector, Tsodyks-Markram closed form, rule factors, network determinism.

use spikeloom_core::burst::{
    classify, efficacies, Background, Compartment, Network, PopulationSpec, ProjectionSpec,
    Receptor, RuleParams, SpikeKind, Transmit, TsodyksMarkram, TwoCompartmentParams,
};

#[test]
fn detector_classifies_hand_made_train() {
    let t = [0.0, 0.005, 0.010, 0.100, 0.200, 0.210];
    let k = classify(&t, &[0; 6], 1, 16e-3).unwrap();
    use SpikeKind::*;
    assert_eq!(k, vec![Event, Burst, Within, Event, Event, Burst]);
    assert!(classify(&[0.2, 0.1], &[0, 0], 1, 16e-3).is_err());
    assert!(classify(&[0.1], &[3], 1, 16e-3).is_err());
}

#[test]
fn tsodyks_markram_first_spikes_closed_form() {
    let p = TsodyksMarkram::depressing();
    let e = efficacies(&[0.0, 0.01], p).unwrap();
    let u1 = p.u0 + p.f * (1.0 - p.u0);
    assert!((e[0] - u1).abs() < 1e-15);
    let r = 1.0 - (u1 * 1.0) * (-0.01 / p.tau_d).exp(); // R after spike 1 = 1 - u1, recovering
    let u2 = p.u0 + (u1 - p.u0) * (-0.01 / p.tau_f).exp();
    let u2 = u2 + p.f * (1.0 - u2);
    assert!((e[1] - u2 * r).abs() < 1e-12);
}

#[test]
fn rule_factors_have_the_paper_signs() {
    let r = RuleParams {
        eta: 1e-3,
        tau_pre: 0.1,
        w_min: 0.0,
        w_max: 1.0,
        max_rate: 10.0,
        min_rate: 2.0,
        rate_valence: false,
        hom_tau: None,
        hom_rate0: 0.1,
    };
    assert!(r.burst_factor(5.0) > 0.0 && r.event_factor(0.3, 5.0) < 0.0);
    assert_eq!(r.event_factor(1.7, 5.0), -1.0); // P_bar capped at 1
    assert!(r.burst_factor(20.0) < 1.0); // homeostasis above max_rate
    assert!(r.pre_event_change(1.0) > 0.0 && r.pre_event_change(3.0) == 0.0);
    // the rate-valence variant: -B_bar at events, +E_bar at bursts, absolute homeostasis
    assert_eq!(r.factors(5.0, 2.0, 0.4), (r.event_factor(0.4, 5.0), 1.0));
    let v = RuleParams {
        rate_valence: true,
        ..r
    };
    assert_eq!(v.factors(5.0, 2.0, 0.4), (-2.0, 5.0));
    assert_eq!(v.factors(12.0, 3.0, 0.25), (-5.0, 10.0));
}

fn small_network(threads: usize) -> Vec<Vec<u32>> {
    let nrn = TwoCompartmentParams::burst_poisson();
    let pop = |n| PopulationSpec {
        n,
        params: nrn.clone(),
        backgrounds: vec![Background {
            compartment: Compartment::Soma,
            receptor: Receptor::Exc,
            rate: 600.0,
            weight: 0.35,
        }],
        tau_avg: 1.0,
        burst_window: 16e-3,
        v_init_sd: 5e-3,
        event_rate0: 5.0,
        burst_rate0: 1.0,
    };
    let proj = ProjectionSpec {
        pre: 0,
        post: 1,
        p: 0.3,
        weight: 0.2,
        compartment: Compartment::Soma,
        receptor: Receptor::Exc,
        transmit: Transmit::Events,
        rule: Some(RuleParams {
            eta: 1e-2,
            tau_pre: 0.1,
            w_min: 0.0,
            w_max: 1.0,
            max_rate: 10.0,
            min_rate: 2.0,
            rate_valence: false,
            hom_tau: Some(30.0),
            hom_rate0: 0.1,
        }),
        seed: 3,
        event_window: Some(0.1),
    };
    let fb = ProjectionSpec {
        pre: 1,
        post: 0,
        compartment: Compartment::Dendrite,
        transmit: Transmit::Bursts,
        rule: None,
        event_window: None,
        ..proj.clone()
    };
    let mut net = Network::new(2.5e-4, &[pop(60), pop(40)], &[proj, fb], 9).unwrap();
    let r = net.run(2000, true, false, threads).unwrap();
    let mut out = r.spikes.clone();
    out.push(
        net.weights(1, 0)
            .unwrap()
            .2
            .iter()
            .map(|w| (w * 1e9) as u32)
            .collect(),
    );
    out
}

#[test]
fn network_results_do_not_depend_on_threads() {
    let a = small_network(1);
    assert!(a[0].iter().sum::<u32>() > 0);
    assert_eq!(a, small_network(2));
}

fn background_only(seed: u64, rate: f64, weight: f64) -> Network {
    let mut nrn = TwoCompartmentParams::burst_poisson();
    nrn.thr0 = 1.0; // never fires: the conductance is pure shot noise
    let pop = PopulationSpec {
        n: 200,
        params: nrn,
        backgrounds: vec![Background {
            compartment: Compartment::Soma,
            receptor: Receptor::Exc,
            rate,
            weight,
        }],
        tau_avg: 1.0,
        burst_window: 16e-3,
        v_init_sd: 0.0,
        event_rate0: 0.0,
        burst_rate0: 0.0,
    };
    Network::new(1e-4, &[pop], &[], seed).unwrap()
}

#[test]
fn background_conductance_has_the_shot_noise_mean_and_is_seeded() {
    // Each neuron receives Poisson(rate dt) jumps of `weight` per step, and the conductance decays by
    // a = exp(-dt / tau_ampa) per step after use: the stationary mean after the decay is
    // a * rate * dt * weight / (1 - a).
    let (rate, weight, dt) = (500.0, 0.35, 1e-4);
    let a = (-dt / TwoCompartmentParams::burst_poisson().tau_ampa).exp();
    let expected = a * rate * dt * weight / (1.0 - a);
    let mut net = background_only(5, rate, weight);
    net.run(2000, false, false, 1).unwrap();
    let (mut sum, mut count) = (0.0, 0usize);
    for _ in 0..4000 {
        net.run(5, false, false, 1).unwrap();
        let g = net.conductances(0).unwrap();
        sum += g[0].iter().sum::<f64>();
        count += g[0].len();
        assert!(g[1].iter().chain(&g[2]).chain(&g[3]).all(|&x| x == 0.0));
    }
    let mean = sum / count as f64;
    // 800k correlated samples (correlation time 50 steps, sampled every 5): relative s.e. ~ 0.3 %
    assert!((mean / expected - 1.0).abs() < 0.02, "{mean} vs {expected}");
    // seeded: same seed same conductances, another seed different ones
    let run = |seed| {
        let mut n = background_only(seed, rate, weight);
        n.run(300, false, false, 1).unwrap();
        n.conductances(0).unwrap()[0].clone()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}
