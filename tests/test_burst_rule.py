"""The burst-dependent rule on a two-neuron network: sign (LTP when bursting is above its average, LTD
below) and the exact weight change reconstructed from the recorded spikes."""

from __future__ import annotations

import numpy as np
from spikeloom.burst import Background, BurstNetwork, BurstRule, TwoCompartment

DT, TAU_AVG, TAU_PRE, ETA = 1e-4, 2.0, 0.1, 1e-3
E0, B0 = 5.0, 1.0


def _pair(seed: int):
    net = BurstNetwork(dt=DT, seed=seed)
    nrn = TwoCompartment.burst_poisson()
    net.add_population("pre", 1, nrn, tau_avg=TAU_AVG, event_rate0=E0, burst_rate0=B0)
    net.add_population("post", 1, nrn, tau_avg=TAU_AVG, event_rate0=E0, burst_rate0=B0)
    rule = BurstRule(eta=ETA, tau_pre=TAU_PRE, w_min=0.0, w_max=10.0, max_rate=1e6, min_rate=0.0)
    h = net.connect("pre", "post", p=1.0, weight=0.05, transmit="events", rule=rule)
    net.set_current("pre", 500e-12)
    net.set_current("post", 700e-12)
    net.set_current("post", 150e-12, compartment="dendrite")
    return net, h


def _reconstruct(raster, plastic_from_step: int, steps: int) -> float:
    """Weight change from the raster: eta * sum over postsynaptic events (-min(P_bar, 1)) and bursts (+1)
    times the presynaptic event trace, with the engine's step conventions."""
    t, pop, _, kind = raster
    step = np.rint(t / DT).astype(np.int64)
    d_avg, d_pre = np.exp(-DT / TAU_AVG), np.exp(-DT / TAU_PRE)
    pre_events = step[(pop == 0) & (kind == 0)]
    post = [(s, k) for s, p, k in zip(step, pop, kind, strict=True) if p == 1]
    ev = step[(pop == 1) & (kind == 0)]
    bu = step[(pop == 1) & (kind == 1)]
    dw = 0.0
    for s, k in post:
        if s <= plastic_from_step or k == 2:
            continue
        e_tr = E0 * d_avg**s + np.sum(d_avg ** (s - ev[ev < s])) / TAU_AVG
        b_tr = B0 * d_avg**s + np.sum(d_avg ** (s - bu[bu < s])) / TAU_AVG
        pre_tr = np.sum(d_pre ** (s - 1 - pre_events[pre_events <= s - 1]))
        factor = -min(b_tr / e_tr, 1.0) if k == 0 else 1.0
        dw += ETA * factor * pre_tr
    return dw


def test_rule_sign_and_exact_weight_change():
    changes = {}
    for label, i_dend in (("above", 450e-12), ("below", -150e-12)):
        net, h = _pair(seed=4)
        warm = net.run(8.0, record=True)  # P_bar settles at the baseline dendritic drive
        w0 = net.weights(h)[2][0]
        net.set_current("post", i_dend, compartment="dendrite")
        learn = net.run(4.0, plastic=True, record=True)
        w1 = net.weights(h)[2][0]
        raster = tuple(np.concatenate([a, b]) for a, b in zip(warm.raster, learn.raster, strict=True))
        expected = _reconstruct(raster, plastic_from_step=int(round(8.0 / DT)), steps=int(round(12.0 / DT)))
        assert abs((w1 - w0) - expected) < 1e-9 + 1e-6 * abs(expected)
        assert learn.bursts["post"].sum() > 0 or label == "below"
        changes[label] = w1 - w0
    # more dendritic input than during the averaging period: burst probability above P_bar -> LTP;
    # less: below P_bar -> LTD
    assert changes["above"] > 0.0
    assert changes["below"] < 0.0


def test_no_plasticity_without_flag_and_bounds_hold():
    net, h = _pair(seed=1)
    w0 = net.weights(h)[2].copy()
    net.run(1.0)
    np.testing.assert_array_equal(net.weights(h)[2], w0)
    net.set_weights(h, [9.999])
    net.set_current("post", 600e-12, compartment="dendrite")
    net.run(3.0, plastic=True)
    assert 0.0 <= net.weights(h)[2][0] <= 10.0


def _window_events(times: np.ndarray, ids: np.ndarray, n: int, tau: float) -> np.ndarray:
    """Independent classification: a spike is an event when the trace sum_k exp(-(t - t_k) / tau) of the
    neuron's earlier spikes is below 1/e."""
    out = np.zeros(times.size, dtype=bool)
    for i in range(n):
        sel = np.flatnonzero(ids == i)
        t = times[sel]
        for k, j in enumerate(sel):
            out[j] = np.sum(np.exp(-(t[k] - t[:k]) / tau)) < np.exp(-1.0)
    return out


def test_projection_event_window_filters_transmission_and_presynaptic_trace():
    # A plastic projection with its own 100 ms classification window (the reference XOR connections) transmits
    # only the presynaptic spikes after ~100 ms of silence, and only those enter its presynaptic event trace.
    dt, win, n_pre, n_post = 1e-4, 0.1, 40, 5
    net = BurstNetwork(dt=dt, seed=2)
    nrn = TwoCompartment.burst_poisson()
    net.add_population("pre", n_pre, nrn, backgrounds=[Background("soma", "exc", 150.0, 0.35)])
    net.add_population("post", n_post, nrn, tau_avg=TAU_AVG, event_rate0=E0, burst_rate0=B0)
    rule = BurstRule(eta=ETA, tau_pre=TAU_PRE, w_min=0.0, w_max=10.0, max_rate=1e6, min_rate=0.0)
    h = net.connect("pre", "post", p=1.0, weight=0.02, transmit="events", rule=rule, event_window=win)
    net.set_current("pre", 250e-12, compartment="dendrite")
    net.set_current("post", 700e-12)
    net.set_current("post", 200e-12, compartment="dendrite")
    st = net.run(3.0, plastic=True, record=True)
    t, pop, nid, kind = st.raster
    pre = pop == 0
    ev = _window_events(t[pre], nid[pre], n_pre, win)
    step = np.rint(t[pre] / dt).astype(np.int64)
    delay = 1
    delivered = np.sum(ev & (step <= round(3.0 / dt) - delay))
    # deliveries: fan-out n_post for each windowed event (those of the last step not yet delivered)
    assert st.synaptic_events == n_post * delivered
    assert 0.2 * np.sum(kind[pre] == 0) < delivered < 0.9 * np.sum(kind[pre] == 0)  # fewer than 16 ms events
    # weight change of each synapse from the raster with the windowed presynaptic event trace
    w0 = 0.02
    pre_t, pre_id = step[ev] + delay, nid[pre][ev]  # arrival steps of the windowed events
    post_sel = pop == 1
    ps, pid, pk = np.rint(t[post_sel] / dt).astype(np.int64), nid[post_sel], kind[post_sel]
    d_avg, d_pre = np.exp(-dt / TAU_AVG), np.exp(-dt / TAU_PRE)
    pres, posts, w = net.weights(h)
    for i_pre, j_post, wij in zip(pres, posts, w, strict=True):
        arr = pre_t[pre_id == i_pre]
        mine = pid == j_post
        ev_s, bu_s = ps[mine & (pk == 0)], ps[mine & (pk == 1)]
        dw = 0.0
        for s, k in zip(ps[mine], pk[mine], strict=True):
            if k == 2:
                continue
            e_tr = E0 * d_avg**s + np.sum(d_avg ** (s - ev_s[ev_s < s])) / TAU_AVG
            b_tr = B0 * d_avg**s + np.sum(d_avg ** (s - bu_s[bu_s < s])) / TAU_AVG
            x = np.sum(d_pre ** (s - arr[arr <= s]))
            dw += ETA * (-min(b_tr / e_tr, 1.0) if k == 0 else 1.0) * x
        assert abs((wij - w0) - dw) < 1e-9 + 1e-6 * abs(dw)


def _hom_network(seed: int, hom_tau: float | None, r0: float):
    n_pre, n_post = 12, 3
    net = BurstNetwork(dt=DT, seed=seed)
    nrn = TwoCompartment.burst_poisson()
    net.add_population("pre", n_pre, nrn, backgrounds=[Background("soma", "exc", 150.0, 0.35)])
    net.add_population("post", n_post, nrn, tau_avg=TAU_AVG, event_rate0=E0, burst_rate0=B0)
    rule = BurstRule(eta=ETA, tau_pre=TAU_PRE, w_max=10.0, max_rate=1e6, min_rate=8.0, hom_tau=hom_tau, hom_rate0=r0)
    h = net.connect("pre", "post", p=1.0, weight=0.02, transmit="events", rule=rule)
    net.set_current("pre", 250e-12, compartment="dendrite")
    net.set_current("post", 600e-12)
    net.set_current("post", 200e-12, compartment="dendrite")
    return net, h


def test_min_rate_homeostasis_reads_the_chosen_postsynaptic_average():
    # Presynaptic events potentiate by eta (min_rate - r) while r < min_rate. With hom_tau, r is an exponential
    # average of all postsynaptic spikes (time constant hom_tau, starting at hom_rate0), as in the reference XOR
    # program; without, the event-rate average (tau_avg). Every weight change is rebuilt from the raster.
    hom_tau, r0, secs = 0.5, 3.0, 3.0
    changes = {}
    for tau in (hom_tau, None):
        net, h = _hom_network(seed=5, hom_tau=tau, r0=r0)
        st = net.run(secs, plastic=True, record=True)
        t, pop, nid, kind = st.raster
        step = np.rint(t / DT).astype(np.int64)
        pre, post = pop == 0, pop == 1
        pre_s, pre_id = step[pre & (kind == 0)] + 1, nid[pre & (kind == 0)]  # arrival steps (one-step delay)
        ps, pid, pk = step[post], nid[post], kind[post]
        d_avg, d_pre = np.exp(-DT / TAU_AVG), np.exp(-DT / TAU_PRE)
        last = int(round(secs / DT))
        pres, posts, w = net.weights(h)
        total = 0.0
        for i_pre, j_post, wij in zip(pres, posts, w, strict=True):
            arr = pre_s[(pre_id == i_pre) & (pre_s <= last)]
            mine = pid == j_post
            ev_s, bu_s, all_s = ps[mine & (pk == 0)], ps[mine & (pk == 1)], ps[mine]
            dw = 0.0
            for s, k in zip(all_s, pk[mine], strict=True):  # burst-dependent part at postsynaptic spikes
                if k == 2:
                    continue
                e_tr = E0 * d_avg**s + np.sum(d_avg ** (s - ev_s[ev_s < s])) / TAU_AVG
                b_tr = B0 * d_avg**s + np.sum(d_avg ** (s - bu_s[bu_s < s])) / TAU_AVG
                x = np.sum(d_pre ** (s - arr[arr <= s]))
                dw += ETA * (-min(b_tr / e_tr, 1.0) if k == 0 else 1.0) * x
            for a in arr:  # homeostatic part at presynaptic events, with the averages of step a - 1
                if tau is None:
                    r = E0 * d_avg ** (a - 1) + np.sum(d_avg ** (a - 1 - ev_s[ev_s <= a - 1])) / TAU_AVG
                else:
                    d_h = np.exp(-DT / tau)
                    r = r0 * d_h ** (a - 1) + np.sum(d_h ** (a - 1 - all_s[all_s <= a - 1])) / tau
                dw += ETA * max(8.0 - r, 0.0)
            assert abs((wij - 0.02) - dw) < 1e-9 + 1e-6 * abs(dw)
            total += wij - 0.02
        changes[tau] = total
        assert np.sum(pk == 1) > 0 and np.sum(pre_s <= last) > 20
    assert abs(changes[hom_tau] - changes[None]) > 1e-3
