"""Two-compartment neurons, event/burst detection, short-term plasticity and the burst network."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from burst_reference import naud_reference, tm_fine_grid
from spikeloom.burst import (
    Background,
    BurstNetwork,
    BurstRule,
    TsodyksMarkram,
    TwoCompartment,
    XORConfig,
    burst_probability,
    classify_bursts,
    neuron_trace,
    teaching_current,
    tm_efficacies,
    xor_network,
)
from spikeloom.errors import InvalidParameterError, ShapeError, SpikeloomError


@pytest.mark.parametrize("somatic_drive", [False, True])
def test_naud_neuron_matches_numpy_reference(somatic_drive):
    p = TwoCompartment.naud(dendritic_drive_somatic=somatic_drive)
    dt, steps, n = 1e-4, 3000, 4
    rng = np.random.default_rng(1)
    i_s = np.tile(np.array([600e-12, 900e-12, 400e-12, 1200e-12]), (steps, 1))
    i_d = np.zeros((steps, n))
    i_d[1000:1500] = np.array([0.0, 400e-12, 800e-12, 200e-12])
    g = {k: (rng.random((steps, n)) < 0.02) * 0.1 for k in ("ge_s", "gi_s", "ge_d", "gi_d")}
    vs0 = np.full(n, -70e-3) + rng.normal(0, 2e-3, n)
    vd0 = np.full(n, -70e-3)
    out = neuron_trace(p, i_s, i_d, dt=dt, conductances=g, vs0=vs0, vd0=vd0)
    ref_vs, ref_vd, ref_spikes = naud_reference(p, dt, i_s, i_d, g, vs0, vd0)
    np.testing.assert_allclose(out["vs"], ref_vs, atol=1e-12)
    np.testing.assert_allclose(out["vd"], ref_vd, atol=1e-12)
    got = list(zip(out["spike_step"].tolist(), out["spike_id"].tolist(), strict=True))
    assert got == ref_spikes
    assert len(got) > 20
    # dendritic input turns spikes into bursts (ISI < 16 ms) through the active dendrite
    kinds = classify_bursts(out["spike_step"] * dt, out["spike_id"], n=n)
    assert np.sum(kinds == 1) > 0
    # the driving force of the dendritic conductances matters (the reference with the other choice differs)
    other = naud_reference(replace(p, dendritic_drive_somatic=not somatic_drive), dt, i_s, i_d, g, vs0, vd0)[1]
    assert np.max(np.abs(other - ref_vd)) > 1e-4


def test_passive_dendrite_with_somatic_driving_force_matches_numpy_reference():
    # The stochastic-burst neuron of the XOR network (passive dendrite; bursts off: E_d far above any Vd),
    # with the reference code's somatic driving force for the dendritic conductances.
    p = TwoCompartment.burst_poisson(e_d=1.0, dendritic_drive_somatic=True)
    dt, steps, n = 1e-4, 3000, 4
    rng = np.random.default_rng(3)
    i_s = np.tile(np.array([300e-12, 500e-12, 700e-12, 900e-12]), (steps, 1))
    i_d = np.tile(np.array([0.0, 500e-12, -200e-12, 300e-12]), (steps, 1))
    g = {k: (rng.random((steps, n)) < 0.05) * 0.3 for k in ("ge_s", "gi_s", "ge_d", "gi_d")}
    vs0, vd0 = np.full(n, -70e-3), np.full(n, -70e-3)
    out = neuron_trace(p, i_s, i_d, dt=dt, conductances=g, vs0=vs0, vd0=vd0)
    ref = replace(p, g_s=0.0, g_d=0.0, zeta=0.0)  # the passive dendrite as the active model without coupling
    ref_vs, ref_vd, ref_spikes = naud_reference(ref, dt, i_s, i_d, g, vs0, vd0)
    np.testing.assert_allclose(out["vs"], ref_vs, atol=1e-12)
    np.testing.assert_allclose(out["vd"], ref_vd, atol=1e-12)
    assert list(zip(out["spike_step"].tolist(), out["spike_id"].tolist(), strict=True)) == ref_spikes
    assert len(ref_spikes) > 10


def test_stochastic_bursts_follow_dendritic_sigmoid():
    p = TwoCompartment.burst_poisson()
    dt, steps, n = 1e-4, 20000, 20
    i_s = np.full((steps, n), 600e-12)
    # dendritic currents spanning the sigmoid
    i_d = np.tile(np.linspace(-100e-12, 500e-12, n), (steps, 1))
    out = neuron_trace(p, i_s, i_d, dt=dt, seed=3)
    first = out["spike_type"] == 1
    vd_at = out["vd"][out["spike_step"][first], out["spike_id"][first]]
    expected = p.f(vd_at).sum()
    seconds = int(np.sum(out["spike_type"] == 2))
    assert first.sum() > 300
    assert abs(seconds - expected) < 4 * np.sqrt(expected * (1 - expected / first.sum())) + 5
    # second spikes follow their first spike by 5-15 ms and nothing fires within the 20 ms refractory
    for i in range(n):
        t = out["spike_step"][out["spike_id"] == i] * dt
        typ = out["spike_type"][out["spike_id"] == i]
        isi = np.diff(t)
        assert np.all(isi[typ[1:] == 2] >= 5e-3 - 1e-9) and np.all(isi[typ[1:] == 2] <= 15e-3 + 1e-9)
        assert np.all(isi[typ[1:] == 1] >= 20e-3 - 1e-9)
    # same seed, same draws
    again = neuron_trace(p, i_s, i_d, dt=dt, seed=3)
    np.testing.assert_array_equal(again["spike_step"], out["spike_step"])


def _classify_reference(times, ids, n, tau):
    trace, last, inb, out = np.zeros(n), np.full(n, -np.inf), np.zeros(n, bool), []
    for t, i in zip(times, ids, strict=True):
        x = trace[i] * np.exp(-(t - last[i]) / tau) if np.isfinite(last[i]) else 0.0
        if x < np.exp(-1):
            inb[i] = False
            out.append(0)
        elif not inb[i]:
            inb[i] = True
            out.append(1)
        else:
            out.append(2)
        trace[i], last[i] = x + 1, t
    return np.array(out)


def test_event_burst_classifier_on_hand_made_trains():
    t = [0.0, 0.005, 0.010, 0.100, 0.200, 0.210, 0.400, 0.415, 0.5]
    kinds = classify_bursts(t)
    assert kinds.tolist() == [0, 1, 2, 0, 0, 1, 0, 1, 0]
    assert burst_probability(kinds) == pytest.approx(3 / 5)
    # ISI just above / below the 16 ms window
    assert classify_bursts([0.0, 0.0161]).tolist() == [0, 0]
    assert classify_bursts([0.0, 0.0159]).tolist() == [0, 1]
    # interleaved neurons are classified independently; random trains match the numpy reference
    rng = np.random.default_rng(0)
    times = np.sort(rng.uniform(0, 5, 3000))
    ids = rng.integers(0, 7, 3000)
    np.testing.assert_array_equal(classify_bursts(times, ids, n=7), _classify_reference(times, ids, 7, 16e-3))
    with pytest.raises(InvalidParameterError, match="times"):
        classify_bursts([0.2, 0.1])
    with pytest.raises(ShapeError, match="ids"):
        classify_bursts([0.1, 0.2], [0])


def test_online_burst_probability_estimate_matches_raster():
    net = BurstNetwork(dt=1e-4, seed=2)
    net.add_population("a", 30, TwoCompartment.burst_poisson(), tau_avg=0.5, event_rate0=0.0, burst_rate0=0.0)
    net.set_current("a", np.linspace(600e-12, 900e-12, 30))
    net.set_current("a", np.linspace(0, 400e-12, 30), compartment="dendrite")
    st = net.run(3.0, record=True)
    t, _, ids, kind = st.raster
    e_hat, p_hat = net.estimates("a")
    w = np.exp(-(3.0 - t) / 0.5) / 0.5
    e_ref = np.bincount(ids, weights=w * (kind == 0), minlength=30)
    b_ref = np.bincount(ids, weights=w * (kind == 1), minlength=30)
    np.testing.assert_allclose(e_hat, e_ref, rtol=1e-6, atol=1e-9)
    assert np.all(e_ref > 0)
    np.testing.assert_allclose(p_hat, b_ref / e_ref, rtol=1e-6)
    # more dendritic current, more bursts
    assert p_hat[-5:].mean() > p_hat[:5].mean() + 0.2


def test_tsodyks_markram_against_fine_grid_and_closed_form():
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.exponential(0.02, 40))
    for syn in (TsodyksMarkram.depressing(), TsodyksMarkram.facilitating()):
        got = tm_efficacies(times, syn)
        ref = tm_fine_grid(times, syn.u0, syn.f, syn.tau_d, syn.tau_f)
        np.testing.assert_allclose(got, ref, rtol=2e-4, atol=1e-4)
    # regular train at 50 Hz: steady state from the fixed point of the spike-to-spike map
    syn, isi = TsodyksMarkram.facilitating(), 0.02
    eff = tm_efficacies(np.arange(200) * isi, syn)
    ef, ed = np.exp(-isi / syn.tau_f), np.exp(-isi / syn.tau_d)
    u_plus = (syn.u0 * (1 - ef) * (1 - syn.f) + syn.f) / (1 - (1 - syn.f) * ef)
    r_minus = (1 - ed) / (1 - (1 - u_plus) * ed)
    assert eff[-1] == pytest.approx(u_plus * r_minus, rel=1e-9)
    dep = tm_efficacies(np.arange(5) * isi, TsodyksMarkram.depressing())
    fac = tm_efficacies(np.arange(5) * isi, TsodyksMarkram.facilitating())
    assert dep[-1] < 0.8 * dep[0] and fac[-1] > 1.5 * fac[0]


def test_idealised_stp_transmits_events_or_bursts_only():
    net = BurstNetwork(dt=1e-4, seed=5)
    nrn = TwoCompartment.burst_poisson()
    net.add_population("pre", 50, nrn, backgrounds=[Background("soma", "exc", 800.0, 0.35)])
    net.add_population("post", 20, nrn)
    for tr in ("events", "bursts", "all"):
        net.connect("pre", "post", p=1.0, weight=0.01, transmit=tr)
    stp = net.connect("pre", "post", p=1.0, weight=0.01, transmit="stp", stp=TsodyksMarkram.depressing())
    assert stp == ("post", 3)
    net.set_current("pre", 300e-12, compartment="dendrite")
    st = net.run(2.0)
    ev, bu, sp = st.events["pre"].sum(), st.bursts["pre"].sum(), st.spikes["pre"].sum()
    assert bu > 0.1 * ev
    # deliveries: fan-out 20 for each transmitted spike (spikes of the last step are not yet delivered)
    last = 20 * (ev + bu + 2 * sp)
    assert last - 20 * 4 * 50 <= st.synaptic_events <= last


def test_network_is_seeded_and_thread_count_independent():
    cfg = XORConfig(n=40, seed=3)
    results = []
    for threads in (1, 2):
        net, handles = xor_network(XORConfig(**{**cfg.__dict__, "threads": threads}))
        net.run(0.3)
        st = net.run(0.3, plastic=True)
        results.append((st.spikes, net.weights(handles["hidden1->output"])[2]))
    for k in results[0][0]:
        np.testing.assert_array_equal(results[0][0][k], results[1][0][k])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_bad_arguments_raise_named_errors():
    with pytest.raises(InvalidParameterError, match="tau_s"):
        neuron_trace(TwoCompartment(tau_s=-1.0), np.zeros((10, 1)))
    with pytest.raises(ShapeError, match="i_d"):
        neuron_trace(TwoCompartment(), np.zeros((10, 2)), np.zeros((10, 3)))
    net = BurstNetwork()
    net.add_population("a", 3, TwoCompartment.burst_poisson())
    with pytest.raises(SpikeloomError, match="population"):
        net.connect("a", "b", p=0.1, weight=0.1)
    with pytest.raises(InvalidParameterError, match="transmit"):
        net.connect("a", "a", p=0.1, weight=0.1, transmit="sometimes")
    with pytest.raises(InvalidParameterError, match="stp"):
        net.connect("a", "a", p=0.1, weight=0.1, transmit="stp")
    with pytest.raises(InvalidParameterError, match="p"):
        net.connect("a", "a", p=1.5, weight=0.1)
    with pytest.raises(ShapeError, match="current"):
        net.set_current("a", np.zeros(4))
    bad = BurstNetwork()
    bad.add_population("a", 3, TwoCompartment.burst_poisson())
    bad.connect("a", "a", p=0.5, weight=0.1, rule=BurstRule(hom_tau=-1.0))
    with pytest.raises(InvalidParameterError, match="hom_tau"):
        bad.run(1e-3)
    net.run(1e-3)
    with pytest.raises(InvalidParameterError, match="frozen"):
        net.add_population("b", 3, TwoCompartment())


def test_network_neurons_follow_the_single_neuron_reference():
    # The network keeps its state in single precision (as the reference Auryn code does); it follows the
    # double-precision single-neuron recording (itself checked against numpy above) to float rounding,
    # spike steps included. Bursts off (E_d far above any Vd) so no random draws are involved.
    nrn = TwoCompartment.burst_poisson(e_d=1.0)
    dt, steps, n = 1e-4, 3000, 8
    i_s = np.linspace(50e-12, 900e-12, n)
    i_d = np.linspace(-200e-12, 300e-12, n)
    net = BurstNetwork(dt=dt, seed=0)
    net.add_population("a", n, nrn, v_init_sd=0.0)
    net.set_current("a", i_s)
    net.set_current("a", i_d, compartment="dendrite")
    st = net.run(steps * dt, record=True)
    vs, vd = net.potentials("a")
    ref = neuron_trace(nrn, np.tile(i_s, (steps, 1)), np.tile(i_d, (steps, 1)), dt=dt)
    np.testing.assert_allclose(vs, ref["vs"][-1], atol=2e-6)
    np.testing.assert_allclose(vd, ref["vd"][-1], atol=2e-6)
    got = sorted(zip((np.rint(st.raster[0] / dt) - 1).astype(int).tolist(), st.raster[2].tolist(), strict=True))
    want = sorted(zip(ref["spike_step"].tolist(), ref["spike_id"].tolist(), strict=True))
    assert got == want and len(want) > 15


def test_spikes_arrive_after_the_transmission_delay():
    dt, steps = 1e-4, 5000
    nrn = TwoCompartment.burst_poisson()
    for delay in (1e-4, 0.8e-3, 3e-3):
        net = BurstNetwork(dt=dt, seed=1, delay=delay)
        net.add_population("pre", 30, nrn, backgrounds=[Background("soma", "exc", 800.0, 0.35)])
        net.add_population("post", 10, nrn)
        net.connect("pre", "post", p=1.0, weight=0.01)
        st = net.run(steps * dt, record=True)
        t, pop, _, _ = st.raster
        step = np.rint(t / dt).astype(int)
        d = round(delay / dt)
        # every spike emitted at step s (1..steps) is delivered to the 10 targets at step s + d
        assert st.synaptic_events == 10 * np.sum((pop == 0) & (step <= steps - d))
        assert np.sum(pop == 0) > 100
    with pytest.raises(InvalidParameterError, match="delay"):
        BurstNetwork(delay=2.0)


def test_teaching_current_is_the_reference_error_signal():
    cfg = XORConfig()
    rates = np.array([1.5, 3.5, 5.0, 8.5, 9.5, 12.0])
    up = teaching_current(rates, 1, cfg)
    np.testing.assert_allclose(up, [1e-9, 1e-9 / 1.5, 1e-9 / 3.0, 1e-9 / 6.5, 0.0, 0.0])
    down = teaching_current(rates, 0, cfg)
    np.testing.assert_allclose(down, [0.0, -1e-9 / 6.5, -1e-9 / 5.0, -1e-9 / 1.5, -1e-9, -1e-9])
