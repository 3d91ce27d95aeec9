"""Exact one-layer spike times (spikeloom.ttfs.layer_spike_times) and TTFSNetwork.run against an
independent reference: the direct PSP sum, bracketed on a fine grid and refined by bisection."""

from __future__ import annotations

import math

import numpy as np
import pytest
import spikeloom as sl
from psp_reference import first_spike_times, psp_kernel
from scipy.special import lambertw
from spikeloom.ttfs import layer_spike_times

TAU = 5e-3
RTOL = 1e-6

# (tau_mem / tau_syn, tau_syn in seconds, v_th)
CONFIGS = [(1, 5e-3, 1.0), (2, 5e-3, 1.0), (1, 2e-2, 0.5), (2, 1e-3, 1.5)]


def assert_times_match(got: np.ndarray, ref: np.ndarray, ambiguous: np.ndarray | None = None) -> None:
    ok = np.ones(ref.shape, dtype=bool) if ambiguous is None else ~ambiguous
    np.testing.assert_array_equal(np.isfinite(got[ok]), np.isfinite(ref[ok]), err_msg="spike / no spike differs")
    fin = ok & np.isfinite(ref)
    np.testing.assert_allclose(got[fin], ref[fin], rtol=RTOL, atol=0)


def random_layer(rng, n_samples, n_in, n_out, tau, ratio, v_th, spread=3.0):
    x = rng.uniform(0.0, spread * tau, (n_samples, n_in))
    x[rng.random(x.shape) < 0.15] = np.inf
    # The peak PSP of a unit weight is 1/e (ratio 1) or 1/2 (ratio 2); scale so that roughly half the
    # neurons cross the threshold, and allow inhibition.
    peak = 1 / math.e if ratio == 1 else 0.5
    w = rng.normal(0.6, 1.5, (n_out, n_in)) * v_th / (peak * 2.0)
    return x, w


@pytest.mark.parametrize("ratio,tau,v_th", CONFIGS)
def test_random_layers_match_reference(ratio, tau, v_th):
    rng = np.random.default_rng(int(1000 * ratio + 7 * v_th))
    x, w = random_layer(rng, 24, 7, 6, tau, ratio, v_th)
    got, dt_dw, dt_dx = layer_spike_times(x, w, ratio * tau, tau, v_th)
    ref, amb = first_spike_times(x, w, ratio * tau, tau, v_th)
    assert amb.mean() < 0.05
    spiking = np.isfinite(ref[~amb]).mean()
    assert 0.2 < spiking < 0.95, spiking  # both outcomes are exercised
    assert got.shape == (24, 6) and dt_dw.shape == (24, 6, 7) and dt_dx.shape == (24, 6, 7)
    assert_times_match(got, ref, amb)
    # A spike is never before the first input that reaches it.
    assert np.all(got >= np.nanmin(np.where(np.isfinite(x), x, np.nan), axis=1, keepdims=True))


@pytest.mark.parametrize("ratio", [1, 2])
def test_many_inputs_spread_out(ratio):
    """Inputs over a long window: excitation, inhibition, late rescue of a neuron (causal-set walk)."""
    rng = np.random.default_rng(99 + ratio)
    x, w = random_layer(rng, 12, 25, 5, TAU, ratio, 1.0, spread=8.0)
    w *= 0.5
    got = layer_spike_times(x, w, ratio * TAU, TAU)[0]
    ref, amb = first_spike_times(x, w, ratio * TAU, TAU)
    assert amb.mean() < 0.05
    assert_times_match(got, ref, amb)


@pytest.mark.parametrize("ratio", [1, 2])
def test_single_strong_input_closed_form(ratio):
    """One input at t0 with weight w: an independent closed form (scipy's Lambert W / a stable quadratic)."""
    w = np.logspace(np.log10(3.0 if ratio == 1 else 2.05), 8, 40)
    t0 = 1.7e-3
    x = np.full((1, 1), t0)
    got = np.array([layer_spike_times(x, np.array([[wi]]), ratio * TAU, TAU)[0][0, 0] for wi in w])
    if ratio == 1:
        # (s/tau) e^{-s/tau} = 1/w  ->  s = -tau W0(-1/w)
        s = -TAU * lambertw(-1.0 / w, k=0).real
    else:
        # 2 w (a - a^2) = 1 with a = e^{-s / (2 tau)}; first crossing is the larger root a.
        one_minus_a = (1.0 / (2 * w)) / (0.5 * (1 + np.sqrt(1 - 2.0 / w)))
        s = -2 * TAU * np.log1p(-one_minus_a)
    np.testing.assert_allclose(got - t0, s, rtol=1e-6)
    np.testing.assert_allclose(got, t0 + s, rtol=1e-12)


def test_single_huge_weight_quadratic_precision():
    x = np.zeros((1, 1))
    for w in [1e12, 1e14, 1e300]:
        got = layer_spike_times(x, np.array([[w]]), 2 * TAU, TAU)[0][0, 0]
        expected = TAU / w * (1 + 0.75 / w)  # series of the exact root for large w
        assert got == pytest.approx(expected, rel=1e-6, abs=0), w


@pytest.mark.parametrize(
    "ratio,scale",
    [(1, c) for c in (1e-300, 1e-100, 1e100, 1e300)] + [(2, c) for c in (1e-300, 1e-200, 1e-100, 1e100, 1e200, 1e300)],
)
def test_scale_invariance(ratio, scale):
    """u is linear in w: scaling all weights and the threshold by the same factor keeps every spike time."""
    rng = np.random.default_rng(0)
    x, w = random_layer(rng, 50, 5, 6, TAU, ratio, 1.0)
    t0 = layer_spike_times(x, w, ratio * TAU, TAU, 1.0)[0]
    t = layer_spike_times(x, w * scale, ratio * TAU, TAU, scale)[0]
    np.testing.assert_array_equal(np.isfinite(t), np.isfinite(t0))
    fin = np.isfinite(t0)
    np.testing.assert_allclose(t[fin], t0[fin], rtol=1e-12)


@pytest.mark.parametrize("ratio", [1, 2])
def test_input_after_crossing_is_ignored(ratio):
    """An input arriving after the spike (however strong) does not change the spike or its gradients."""
    tau_mem = ratio * TAU
    w_early = 5.0
    single = layer_spike_times(np.array([[0.0]]), np.array([[w_early]]), tau_mem, TAU)
    t1 = single[0][0, 0]
    assert 0 < t1 < TAU
    for w_late in [-100.0, 0.5, 100.0]:
        x = np.array([[0.0, t1 + 0.01 * TAU], [0.0, 5 * TAU]])
        t, dw, dx = layer_spike_times(x, np.array([[w_early, w_late]]), tau_mem, TAU)
        np.testing.assert_allclose(t[:, 0], t1, rtol=1e-14)
        np.testing.assert_allclose(dw[:, 0, 0], single[1][0, 0, 0], rtol=1e-12)
        assert np.all(dw[:, 0, 1] == 0) and np.all(dx[:, 0, 1] == 0)
        np.testing.assert_allclose(dx[:, 0, 0], 1.0, rtol=1e-12)
    ref, _ = first_spike_times(np.array([[0.0, t1 + 0.01 * TAU]]), np.array([[w_early, 100.0]]), tau_mem, TAU)
    np.testing.assert_allclose(ref[0, 0], t1, rtol=RTOL)


@pytest.mark.parametrize("ratio", [1, 2])
def test_inhibition_cancels_spike(ratio):
    tau_mem = ratio * TAU
    w_exc = 3.0  # peak 3/e = 1.10 (ratio 1) or 1.5 (ratio 2): spikes alone
    alone = layer_spike_times(np.array([[0.0]]), np.array([[w_exc]]), tau_mem, TAU)[0]
    assert np.isfinite(alone[0, 0])
    x = np.array([[0.0, 0.1 * TAU]])
    w = np.array([[w_exc, -2.0]])
    t, dw, dx = layer_spike_times(x, w, tau_mem, TAU)
    assert t[0, 0] == np.inf
    assert np.all(dw == 0) and np.all(dx == 0)
    ref, amb = first_spike_times(x, w, tau_mem, TAU)
    assert ref[0, 0] == np.inf and not amb.any()
    # Inhibition that arrives too late to prevent the spike does not delay it.
    late = layer_spike_times(np.array([[0.0, alone[0, 0] + 1e-6]]), w, tau_mem, TAU)[0]
    assert late[0, 0] == pytest.approx(alone[0, 0], rel=1e-14, abs=0)


@pytest.mark.parametrize("ratio", [1, 2])
def test_inf_inputs_are_absent_inputs(ratio, rng):
    tau_mem = ratio * TAU
    x, w = random_layer(rng, 16, 5, 4, TAU, ratio, 1.0)
    x[:, 2] = np.inf
    full = layer_spike_times(x, w, tau_mem, TAU)
    dropped = layer_spike_times(np.delete(x, 2, axis=1), np.delete(w, 2, axis=1), tau_mem, TAU)
    np.testing.assert_array_equal(full[0], dropped[0])
    assert np.all(full[1][:, :, 2] == 0) and np.all(full[2][:, :, 2] == 0)
    np.testing.assert_array_equal(np.delete(full[1], 2, axis=2), dropped[1])
    # No input at all: silent, zero gradients.
    t, dw, dx = layer_spike_times(np.full((3, 5), np.inf), w, tau_mem, TAU)
    assert np.all(t == np.inf) and np.all(dw == 0) and np.all(dx == 0)


@pytest.mark.parametrize("ratio", [1, 2])
def test_time_shift_invariance(ratio, rng):
    tau_mem = ratio * TAU
    x, w = random_layer(rng, 20, 6, 5, TAU, ratio, 1.0)
    t = layer_spike_times(x, w, tau_mem, TAU)[0]
    t_shift = layer_spike_times(x + 3 * TAU, w, tau_mem, TAU)[0]
    fin = np.isfinite(t)
    np.testing.assert_array_equal(np.isfinite(t_shift), fin)
    np.testing.assert_allclose(t_shift[fin], t[fin] + 3 * TAU, rtol=1e-12)


def test_threshold_exactly_reached_at_peak():
    """Peak PSP of a unit weight is 1/e at s = tau (ratio 1): w slightly above e spikes, below does not."""
    x = np.zeros((1, 1))
    below = layer_spike_times(x, np.array([[math.e * (1 - 1e-9)]]), TAU, TAU)[0][0, 0]
    above = layer_spike_times(x, np.array([[math.e * (1 + 1e-6)]]), TAU, TAU)[0][0, 0]
    assert below == np.inf
    assert above < TAU
    assert psp_kernel(np.array([above]), TAU, TAU)[0] * math.e * (1 + 1e-6) == pytest.approx(1.0, rel=1e-9)


def test_threads_do_not_change_results(rng):
    x, w = random_layer(rng, 64, 8, 10, TAU, 1, 1.0)
    a = layer_spike_times(x, w, TAU, TAU, threads=1)
    b = layer_spike_times(x, w, TAU, TAU, threads=2)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)


# --- TTFSNetwork.run --------------------------------------------------------------------------------


def chain(net: sl.TTFSNetwork, x: np.ndarray) -> list[np.ndarray]:
    """Layer-by-layer outputs from layer_spike_times, bias spike columns appended by hand (last)."""
    outs = []
    h = x
    n = net.neuron
    for w, bias in zip(net.weights, net.bias_times, strict=True):
        h_in = np.hstack([h, np.tile(np.asarray(bias, dtype=np.float64), (h.shape[0], 1))])
        h = layer_spike_times(h_in, w, n.tau_mem, n.tau_syn, n.v_th)[0]
        outs.append(h)
    return outs


@pytest.mark.parametrize("ratio", [1, 2])
@pytest.mark.parametrize("bias", [None, "default", "custom"])
def test_run_equals_chained_layers(ratio, bias, rng):
    kw = {}
    if bias is None:
        kw["bias_times"] = None
    elif bias == "custom":
        kw["bias_times"] = [[1e-3, 3e-3], [], [2e-3]]
    net = sl.TTFSNetwork([4, 16, 8, 3], neuron=sl.LIF(ratio * TAU, TAU, 1.0), seed=5, **kw)
    # Mixed excitation and inhibition so that some neurons stay silent in every layer.
    for layer, w in enumerate(net.weights):
        net.set_weights(layer, rng.normal(1.2, 1.5, w.shape))
    x = rng.uniform(0, 2 * TAU, (40, 4))
    x[rng.random(x.shape) < 0.1] = np.inf
    outs = net.run(x)
    expected = chain(net, x)
    assert len(outs) == 3
    for got, exp in zip(outs, expected, strict=True):
        assert got.shape == exp.shape
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(exp))
        fin = np.isfinite(exp)
        np.testing.assert_allclose(got[fin], exp[fin], rtol=1e-12)
    hidden = outs[0]
    assert 0 < np.isfinite(hidden).mean() < 1
    # predict: the first output spike, lowest index on ties, -1 when silent.
    pred = net.predict(x)
    last = outs[-1]
    silent = ~np.isfinite(last).any(axis=1)
    np.testing.assert_array_equal(pred[~silent], np.argmin(last[~silent], axis=1))
    assert np.all(pred[silent] == -1)


@pytest.mark.parametrize("ratio", [1, 2])
def test_small_network_against_reference(ratio, rng):
    """A whole 3-6-2 network (with bias spikes) against the reference applied layer by layer."""
    net = sl.TTFSNetwork([3, 6, 2], neuron=sl.LIF(ratio * TAU, TAU), seed=1, bias_times=[[0.5e-3], [4e-3]])
    x = rng.uniform(0, 2 * TAU, (10, 3))
    outs = net.run(x)
    h = x
    for layer, (w, bias) in enumerate(zip(net.weights, net.bias_times, strict=True)):
        h_in = np.hstack([h, np.tile(bias, (h.shape[0], 1))])
        ref, amb = first_spike_times(h_in, w, ratio * TAU, TAU)
        assert not amb.any()
        assert_times_match(outs[layer], ref)
        h = ref
    assert np.isfinite(outs[-1]).any()


def test_run_empty_batch():
    net = sl.TTFSNetwork([4, 5, 3], seed=0)
    outs = net.run(np.zeros((0, 4)))
    assert [o.shape for o in outs] == [(0, 5), (0, 3)]
