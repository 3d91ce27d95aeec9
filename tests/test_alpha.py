"""The alpha-synapse method (Comsa et al. 2020): neuron mapping, encoder, exact spike times against an
independent PSP-sum bisection, gradients against finite differences (weights and pulse times), the
no-spike penalty, pulse clamping, determinism, persistence and argument errors."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import spikeloom as sl
from spikeloom.alpha import AlphaConfig, AlphaNetwork, evenly_spaced_pulses
from spikeloom.encoders import ComsaLatency, encoder_from_dict
from spikeloom.errors import FileFormatError, InvalidParameterError, ShapeError
from spikeloom.neurons import LIF, Alpha

UNIT = 1e-3


# --- independent reference --------------------------------------------------------------------------
def alpha_potential(t: np.ndarray, times: np.ndarray, w: np.ndarray, k: float, unit: float) -> np.ndarray:
    """Comsa's V(t) = sum_i w_i ((t - t_i)/unit) exp(-K (t - t_i)/unit), K per time unit; t: (G,)."""
    s = (t[:, None] - times[None, :]) / unit
    s = np.where(np.isfinite(times)[None, :] & (s > 0), s, 0.0)
    return (w[None, :] * s * np.exp(-k * s)).sum(axis=1)


def alpha_first_spike(times: np.ndarray, w: np.ndarray, k: float, theta: float, unit: float) -> float | None:
    """First crossing of V = theta by a fine scan (step 1e-3 units) and bisection; None if ambiguous."""
    finite = times[np.isfinite(times)]
    grid = np.union1d(np.arange(0.0, (finite.max() / unit + 40.0 / k), 1e-3) * unit, finite)
    v = alpha_potential(grid, times, w, k, unit)
    above = np.flatnonzero(v >= theta)
    peaks = np.flatnonzero((v[1:-1] >= v[:-2]) & (v[1:-1] >= v[2:])) + 1
    first = above[0] if above.size else grid.size
    if np.any((peaks < first) & (v[peaks] > theta * (1 - 1e-6))):
        return None
    if not above.size:
        return math.inf
    lo, hi = grid[first - 1], grid[first]
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if alpha_potential(np.array([mid]), times, w, k, unit)[0] >= theta:
            hi = mid
        else:
            lo = mid
    return hi


def small_net(seed: int = 0, **kw) -> AlphaNetwork:
    neuron = Alpha.from_decay_rate(0.5, 1.0, UNIT)
    return AlphaNetwork([4, 6, 3], neuron=neuron, n_pulses=2, seed=seed, data_mean_multiplier=1.5, **kw)


def sample_times(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, UNIT, (n, 4))
    x[rng.random(x.shape) < 0.15] = np.inf
    return x, rng.integers(0, 3, n)


# --- neuron and encoder -----------------------------------------------------------------------------
def test_alpha_neuron_is_a_rescaled_lif_neuron():
    a = Alpha.from_decay_rate(0.18176949150701854, 1.1673205005788956, UNIT)
    assert a.tau == pytest.approx(UNIT / 0.18176949150701854, rel=1e-15)
    assert a.decay_rate == pytest.approx(0.18176949150701854, rel=1e-15)
    lif = a.lif()
    assert lif.tau_mem == lif.tau_syn == a.tau
    assert lif.v_th == pytest.approx(1.1673205005788956 * 0.18176949150701854, rel=1e-15)
    assert Alpha(tau=2e-3, v_th=0.4).time_unit == 2e-3  # default unit: tau (K = 1)
    for bad in (dict(tau=0.0), dict(tau=-1e-3), dict(v_th=0.0), dict(time_unit=-1.0), dict(tau=math.nan)):
        name = next(iter(bad))
        with pytest.raises(InvalidParameterError, match=name):
            Alpha(**{"tau": 1e-3, "v_th": 1.0, **bad})
    with pytest.raises(InvalidParameterError, match="decay_rate"):
        Alpha.from_decay_rate(0.0, 1.0, UNIT)


def test_alpha_and_lif_networks_give_identical_spike_times():
    """The same weights run as an AlphaNetwork and as a TTFSNetwork with ``Alpha.lif()``: bit-identical."""
    net = small_net(3)
    lif_net = sl.TTFSNetwork([4, 6, 3], neuron=net.neuron.lif(), bias_times=net.pulses, seed=0)
    for layer, w in enumerate(net.weights):
        lif_net.set_weights(layer, w)
    x, _ = sample_times(40, 1)
    for a, b in zip(net.run(x), lif_net.run(x), strict=True):
        np.testing.assert_array_equal(a, b)


def test_alpha_spike_times_match_psp_sum_bisection():
    rng = np.random.default_rng(7)
    k, theta = 0.18176949150701854, 1.1673205005788956
    neuron = Alpha.from_decay_rate(k, theta, UNIT)
    checked = spiking = 0
    for trial in range(40):
        n_in = 6
        x = rng.uniform(0, 3 * UNIT, (1, n_in))
        x[0, rng.random(n_in) < 0.2] = np.inf
        w = rng.uniform(-0.4, 1.0, (3, n_in)) * theta * k * math.e * 4 / n_in
        t, _, _ = sl.ttfs.layer_spike_times(x, w, neuron.tau, neuron.tau, neuron.lif().v_th)
        for j in range(3):
            ref = alpha_first_spike(x[0], w[j], k, theta, UNIT)
            if ref is None:
                continue
            checked += 1
            if math.isinf(ref):
                assert math.isinf(t[0, j]), f"trial {trial}: exact {t[0, j]}, reference silent"
            else:
                spiking += 1
                assert t[0, j] == pytest.approx(ref, abs=1e-9 * UNIT), f"trial {trial} neuron {j}"
    assert checked > 100 and spiking > 30


def test_comsa_latency_encoder():
    enc = ComsaLatency(2e-3)
    x = np.array([[0.0, 0.25, 1.0, 1 / 256]])
    np.testing.assert_array_equal(enc(x), [[math.inf, 1.5e-3, 0.0, (1 - 1 / 256) * 2e-3]])
    assert encoder_from_dict(enc.to_dict()) == enc
    with pytest.raises(InvalidParameterError, match="x"):
        enc(np.array([[1.5]]))
    with pytest.raises(InvalidParameterError, match="t_scale"):
        ComsaLatency(0.0)


def test_pulses_evenly_spaced_and_glorot_init():
    assert evenly_spaced_pulses(4, 0.0, 1.0) == pytest.approx([0.2, 0.4, 0.6, 0.8])
    net = AlphaNetwork(
        [784, 340, 10],
        neuron=Alpha.from_decay_rate(0.18, 1.0, UNIT),
        n_pulses=10,
        data_mean_multiplier=-0.2754188425913906,
        pulse_mean_multiplier=7.8391245503824578,
        seed=1,
    )
    assert net.pulses[0] == pytest.approx([UNIT * (p + 1) / 11 for p in range(10)])
    assert len(net.pulses) == 2
    for layer, (n_in, n_out) in enumerate([(784, 340), (340, 10)]):
        w = net.weights[layer]
        sd = math.sqrt(2 / (n_out + n_in + 10))
        data, pulse = w[:, :n_in], w[:, n_in:]
        assert data.mean() == pytest.approx(-0.2754188425913906 * sd, abs=4 * sd / math.sqrt(data.size))
        assert data.std() == pytest.approx(sd, rel=0.02)
        assert pulse.mean() == pytest.approx(7.8391245503824578 * sd, abs=4 * sd / math.sqrt(pulse.size))


# --- gradients --------------------------------------------------------------------------------------
def test_gradients_match_finite_differences_weights_and_pulses():
    net = small_net(5)
    x, y = sample_times(30, 2)
    # Samples whose labelled output spikes: for a silent label the loss is capped (-log 1e-8) and the
    # method's gradient is the limit for a label spiking at T -> inf (tested below), not its derivative.
    out = net.run(x)[-1]
    keep = np.isfinite(out[np.arange(len(y)), y])
    x, y = x[keep][:12], y[keep][:12]
    assert len(y) == 12
    cfg = AlphaConfig(penalty_no_spike=0.0, penalty_output_spike_time=0.02, update_all_datapoints=True)
    g = net.gradients(x, y, cfg)
    assert g["contributing"] == 12
    assert g["loss"] == pytest.approx(net.evaluate(x, y, penalty_output_spike_time=0.02)["loss"], rel=1e-12)

    def loss(n):
        return n.evaluate(x, y, penalty_output_spike_time=0.02)["loss"]

    rng = np.random.default_rng(0)
    checked = 0
    for layer in range(2):
        w0 = net.weights[layer]
        for idx in [tuple(int(i) for i in rng.integers(0, s)) for s in [w0.shape] * 6]:
            h = 1e-6
            vals = []
            for sign in (1, -1):
                w = w0.copy()
                w[idx] += sign * h
                net.set_weights(layer, w)
                vals.append(loss(net))
            net.set_weights(layer, w0)
            fd = (vals[0] - vals[1]) / (2 * h)
            exact = g["weights"][layer][idx]
            scale = np.abs(g["weights"][layer]).max()
            assert exact == pytest.approx(fd, rel=1e-4, abs=1e-6 * scale), f"layer {layer} weight {idx}"
            checked += 1
        p0 = net.pulses[layer]
        for p in range(2):
            h = 1e-6 * UNIT
            vals = []
            for sign in (1, -1):
                q = list(p0)
                q[p] += sign * h
                net.set_pulses(layer, q)
                vals.append(loss(net))
            net.set_pulses(layer, p0)
            fd = (vals[0] - vals[1]) / (2 * h)
            assert g["pulses"][layer][p] != 0
            assert g["pulses"][layer][p] == pytest.approx(fd, rel=1e-4), f"layer {layer} pulse {p}"
    assert checked == 12


def test_silent_label_gradient_is_the_late_label_limit():
    """A silent labelled output: every spiking output is pushed later with dL/dt_k = -p_k / time_unit,
    as for a label spiking arbitrarily late; the loss is the capped -log(1e-8)."""
    net = AlphaNetwork([1, 2], neuron=Alpha(tau=UNIT, v_th=0.4), pulses=[[]], seed=0)
    net.set_weights(0, np.array([[3.0], [-1.0]]))  # output 0 spikes, output 1 never does
    x, y = np.array([[0.0]]), np.array([1])
    g = net.gradients(x, y, AlphaConfig(penalty_no_spike=0.0, update_all_datapoints=True))
    assert g["loss"] == pytest.approx(-math.log(1e-8), rel=1e-12)
    # dL/dw_00 = dL/dt_0 * dt_0/dw_00 with dL/dt_0 = -1/UNIT (p_0 = 1) and dt_0/dw_00 < 0: positive.
    t0 = net.run(x)[-1][0, 0]
    _, dt_dw, _ = sl.ttfs.layer_spike_times(x, np.array([[3.0]]), UNIT, UNIT, 0.4)
    assert g["weights"][0][0, 0] == pytest.approx(-1 / UNIT * dt_dw[0, 0, 0], rel=1e-12)
    assert g["weights"][0][0, 0] > 0 and math.isfinite(t0)


def test_no_spike_penalty_pushes_silent_neurons_up():
    net = small_net(5)
    w = net.weights[0]
    w[1] = -1.0  # hidden neuron 1: only inhibitory inputs (pulses included) -> always silent
    net.set_weights(0, w)
    x, y = sample_times(10, 3)
    g = net.gradients(x, y, AlphaConfig(penalty_no_spike=2.5, update_all_datapoints=True))
    np.testing.assert_allclose(g["weights"][0][1], -2.5, rtol=1e-12)  # every column, pulses included
    before = net.weights[0][1].copy()
    sl.fit(net, (x, y), config=AlphaConfig(epochs=1, batch_size=10, lr=1e-2, restore_best=False), progress=False)
    after = net.weights[0][1]
    assert np.all(after > before)  # gradient descent raised every incoming weight


def test_pulse_times_clamped_at_zero_and_trained_separately():
    net = small_net(2)
    x, y = sample_times(60, 4)
    net.set_pulses(0, [1e-6, 2e-6])
    net.set_pulses(1, [1e-6, 2e-6])
    cfg = AlphaConfig(epochs=3, batch_size=5, lr_pulses=50.0, update_all_datapoints=True, restore_best=False)
    sl.fit(net, (x, y), config=cfg, progress=False)
    pulses = np.concatenate(net.pulses)
    assert np.all(pulses >= 0) and np.any(pulses > 2e-6)
    # train_pulses=False leaves them alone (weights still train).
    fixed = small_net(2)
    p0, w0 = fixed.pulses, fixed.weights[0].copy()
    sl.fit(fixed, (x, y), config=AlphaConfig(epochs=2, train_pulses=False, restore_best=False), progress=False)
    assert fixed.pulses == p0
    assert not np.array_equal(fixed.weights[0], w0)


def test_training_bit_identical_for_1_and_2_threads():
    x, y = sample_times(200, 5)
    vx, vy = sample_times(40, 6)
    cfg = AlphaConfig(epochs=3, batch_size=16, lr=1e-3, clip_derivative=100.0, update_all_datapoints=False)
    nets = []
    for threads in (1, 2):
        net = small_net(1)
        r = sl.fit(net, (x, y), validation=(vx, vy), config=cfg, seed=4, threads=threads, progress=False)
        nets.append((net, r.history.drop("seconds")))
    (a, ha), (b, hb) = nets
    for wa, wb in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert a.pulses == b.pulses
    assert ha.equals(hb)
    assert a.pulses != small_net(1).pulses


# --- persistence and errors -------------------------------------------------------------------------
def test_save_load_pickle_keep_pulses_and_neuron(tmp_path):
    net = small_net(4, encoder=ComsaLatency(UNIT))
    net.set_pulses(0, [0.1e-3, 0.7e-3])
    path = tmp_path / "alpha.safetensors"
    net.save(path)
    for back in (AlphaNetwork.load(path), sl.TTFSNetwork.load(path), pickle.loads(pickle.dumps(net))):
        assert type(back) is AlphaNetwork
        assert back.neuron == net.neuron
        assert back.encoder == net.encoder
        assert back.pulses == net.pulses
        for wa, wb in zip(back.weights, net.weights, strict=True):
            np.testing.assert_array_equal(wa, wb)
    lif_path = tmp_path / "lif.safetensors"
    sl.TTFSNetwork([4, 3, 2], neuron=LIF(), seed=0).save(lif_path)
    with pytest.raises(FileFormatError, match="TTFSNetwork"):
        AlphaNetwork.load(lif_path)


def test_argument_errors_name_the_argument():
    with pytest.raises(InvalidParameterError, match="neuron"):
        AlphaNetwork([2, 2], neuron=LIF())
    with pytest.raises(ShapeError, match="pulses"):
        AlphaNetwork([2, 3, 2], pulses=[[0.1e-3]])
    with pytest.raises(InvalidParameterError, match="pulses"):
        AlphaNetwork([2, 2], pulses=[[-1.0]])
    with pytest.raises(InvalidParameterError, match="pulse_mean_multiplier"):
        AlphaNetwork([2, 2], pulse_mean_multiplier=math.inf)
    net = small_net()
    x, y = sample_times(10, 1)
    with pytest.raises(ShapeError, match="times"):
        net.set_pulses(0, [1e-4])
    with pytest.raises(InvalidParameterError, match="validation"):
        sl.fit(net, (x, y), config=AlphaConfig(epochs=1), progress=False)
    for bad in (
        dict(lr=0.0),
        dict(lr_pulses=-1.0),
        dict(penalty_no_spike=-1.0),
        dict(clip_derivative=0.0),
        dict(batch_size=0),
        dict(adam_eps_placement="middle"),
        dict(update_all_datapoints=1),
    ):
        name = next(iter(bad))
        with pytest.raises(InvalidParameterError, match=name):
            sl.fit(net, (x, y), config=AlphaConfig(restore_best=False, **bad), progress=False)
    with pytest.raises(InvalidParameterError, match="config"):
        net.gradients(x, y, config=sl.TTFSConfig())
