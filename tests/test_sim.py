"""The LIF group simulator against a plain numpy step loop of the same equations (all-to-all
connectivity, so both sides know the synapses), plus bad input."""

from __future__ import annotations

import numpy as np
import pytest
from spikeloom.errors import InvalidParameterError, ShapeError
from spikeloom.sim import LIFGroup, cuba


def numpy_group(n, dt, tau_m, rest, theta, reset, refractory, taus, conns, v0, steps):
    """conns: list of (pre range, post range, weight, receptor); all pairs connected."""
    em = np.exp(-dt / tau_m)
    dec = [np.exp(-dt / t) for t in taus]
    prop = [t / (t - tau_m) * (np.exp(-dt / t) - np.exp(-dt / tau_m)) for t in taus]
    n_ref = max(int(round(refractory / dt)) - 1, 0)
    v = v0.astype(np.float32).copy()
    g = [np.zeros(n, np.float32) for _ in taus]
    until = np.zeros(n, np.int64)
    spikes = []
    for t in range(steps):
        v = np.float32(rest) + (v - np.float32(rest)) * np.float32(em)
        for r in range(len(taus)):
            v = v + g[r] * np.float32(prop[r])
            g[r] = g[r] * np.float32(dec[r])
        free = t >= until
        spike = free & (v > np.float32(theta))
        v = np.where(free & ~spike, v, np.float32(reset)).astype(np.float32)
        until = np.where(spike, t + n_ref + 1, until)
        ids = np.flatnonzero(spike)
        for pre, post, w, r in conns:
            k = np.isin(ids, pre).sum()
            g[r][post.start : post.stop] += np.float32(w) * k
        spikes += [(t, i) for i in ids]
    return spikes, v


def test_matches_numpy_reference() -> None:
    n, dt = 40, 1e-4
    kw = dict(dt=dt, tau_mem=20e-3, v_rest=-49e-3, threshold=-50e-3, v_reset=-60e-3, refractory=2e-3)
    g = LIFGroup(n, receptor_taus=(5e-3, 10e-3), **kw)
    conns = [(range(0, 30), range(0, 40), 0.4e-3, 0), (range(30, 40), range(10, 40), -1.5e-3, 1)]
    for pre, post, w, r in conns:
        g.connect(pre, post, p=1.0, weight=w, receptor=r)
    v0 = np.random.default_rng(0).uniform(-60e-3, -50e-3, n)
    out = g.run(0.1, v0)
    want, v_end = numpy_group(n, dt, 20e-3, -49e-3, -50e-3, -60e-3, 2e-3, (5e-3, 10e-3), conns, v0, 1000)
    got = list(zip(np.round(out.spike_times / dt).astype(int) - 1, out.spike_ids.tolist(), strict=True))
    assert len(want) > 50
    assert got == [(t, int(i)) for t, i in want]
    np.testing.assert_allclose(out.v, v_end, atol=1e-6)
    assert out.synaptic_events == sum(40 if i < 30 else 30 for _, i in want)


def test_cuba_statistics_are_seeded_and_plausible() -> None:
    g, v0 = cuba(4000, seed=0)
    a = g.run(0.2, v0)
    g2, v02 = cuba(4000, seed=0)
    b = g2.run(0.2, v02)
    np.testing.assert_array_equal(a.counts, b.counts)
    assert 1.0 < a.mean_rate_hz < 50.0
    assert abs(g.n_synapses - 0.02 * 4000 * 4000) < 5 * np.sqrt(0.02 * 4000 * 4000)


def test_bad_input() -> None:
    g = LIFGroup(10)
    with pytest.raises(ShapeError, match="v0"):
        g.run(0.01, np.zeros(9))
    with pytest.raises(InvalidParameterError, match="pre"):
        g.connect(range(0, 11), range(10), p=0.5, weight=1e-3)
    with pytest.raises(InvalidParameterError, match="receptor"):
        g.connect(range(10), range(10), p=0.5, weight=1e-3, receptor=3)
    with pytest.raises(InvalidParameterError, match="p: expected a probability"):
        g.connect(range(10), range(10), p=1.5, weight=1e-3)
    with pytest.raises(InvalidParameterError, match="tau_mem"):
        LIFGroup(10, tau_mem=0)
