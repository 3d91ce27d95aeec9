"""e-prop: against an independent numpy e-prop and against BPTT with the recurrent path and the reset
detached (float64), online vs per-trial, memory vs sequence length, feedback variants, tasks, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import spikeloom as sl
from eprop_reference import eprop as reference_eprop
from spikeloom import surrogates as sg
from spikeloom.datasets import normalised_mse, store_recall, sum_of_sines, sum_of_sines_target
from spikeloom.eprop import EpropConfig, eprop_update, workspace_bytes
from spikeloom.errors import InvalidParameterError

WIDTH, SCALE = 0.5, 0.3


def network(adaptive: bool, scale: str, n_out: int = 2, seed: int = 3) -> sl.RecurrentNetwork:
    gain = 12.0 if scale == "one_minus_alpha" else 1.5
    kw = {"threshold": 0.5, "input_scale": scale, "gain": gain, "rec_gain": gain}
    layer = (
        sl.SpikingLayer.alif_bellec(6, tau_mem=10e-3, tau_adapt=50e-3, beta=0.3, **kw)
        if adaptive
        else sl.SpikingLayer.lif(6, tau_mem=10e-3, **kw)
    )
    net = sl.RecurrentNetwork(4, [layer], sl.Readout(n_out, tau=8e-3, input_scale=scale), dt=1e-3, seed=seed)
    net.set_parameters(**{"layers.0.bias": np.linspace(0.0, 0.1, 6)})
    return net


def batch(loss: str, n: int = 3, steps: int = 40, n_out: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, steps, 4)) < 0.3
    if loss == "mse":
        y = np.sin(np.arange(n * steps * n_out) * 0.13).reshape(n, steps, n_out).astype(np.float32)
    else:
        y = np.arange(n, dtype=np.int64) % n_out
    return x, y


def config(loss: str, **kw: object) -> EpropConfig:
    return EpropConfig(loss=loss, loss_start=3, surrogate=sg.PiecewiseLinear(WIDTH, SCALE), precision="float64", **kw)


CASES = [(a, s, loss) for a in (False, True) for s in ("one", "one_minus_alpha") for loss in ("mse", "ce_per_step")]


@pytest.mark.parametrize(("adaptive", "scale", "loss"), CASES)
def test_eprop_matches_numpy_reference_and_detached_bptt(adaptive: bool, scale: str, loss: str) -> None:
    net = network(adaptive, scale)
    x, y = batch(loss)
    lo, g = eprop_update(net, x, y, config(loss))
    spec, p = json.loads(net._net.spec_json()), net.parameters()
    ref_loss, ref = reference_eprop(spec, p, x.astype(float), y, loss, 3, WIDTH, SCALE)
    assert lo == pytest.approx(ref_loss, rel=1e-10)
    for name, want in ref.items():
        np.testing.assert_allclose(g[name], want, rtol=1e-9, atol=1e-12 * np.abs(want).max(), err_msg=name)
    bptt = sl.BPTTConfig(
        loss=loss,
        loss_start=3,
        surrogate=sg.PiecewiseLinear(WIDTH, SCALE),
        precision="float64",
        detach_reset=True,
        detach_recurrent=True,
    )
    _, gb = net.gradient(x, y, bptt)
    for name in ref:
        scale_ = np.abs(gb[name]).max()
        assert np.abs(g[name] - gb[name]).max() <= 1e-5 * scale_, name
    assert np.abs(ref["layers.0.w_rec"]).max() > 0  # the recurrent block is exercised
    # Readout: the exact (undetached) gradient.
    _, gfull = net.gradient(
        x, y, sl.BPTTConfig(loss=loss, loss_start=3, surrogate=sg.PiecewiseLinear(WIDTH, SCALE), precision="float64")
    )
    np.testing.assert_allclose(g["readout.w"], gfull["readout.w"], rtol=1e-9, atol=1e-14)


def test_random_feedback_matches_reference_with_the_same_matrix() -> None:
    net = network(True, "one")
    x, y = batch("mse")
    cfg = config("mse", feedback="random", feedback_sd=0.7)
    _, g = eprop_update(net, x, y, cfg, seed=5)
    _, g_other = eprop_update(net, x, y, cfg, seed=6)
    assert not np.allclose(g["layers.0.w_in"], g_other["layers.0.w_in"])
    # The readout update does not use the feedback.
    np.testing.assert_allclose(g["readout.w"], g_other["readout.w"], rtol=1e-12)


def test_online_sum_equals_per_trial_and_memory_is_constant_in_T() -> None:
    net = network(True, "one_minus_alpha")
    x, y = batch("ce_per_step", steps=60)
    cfg = config("ce_per_step", reg_rate=1e-3, reg_average="running")
    _, per_trial = eprop_update(net, x, y, cfg)
    _, online = eprop_update(net, x, y, cfg, online_sum=True)
    for name in per_trial:
        np.testing.assert_allclose(online[name], per_trial[name], rtol=1e-10, atol=1e-15, err_msg=name)
    sizes = {steps: workspace_bytes(net, *batch("ce_per_step", n=1, steps=steps), cfg) for steps in (50, 500, 5000)}
    assert len(set(sizes.values())) == 1, sizes


@pytest.mark.parametrize("mode", ["per_trial", "online"])
@pytest.mark.parametrize("feedback", ["symmetric", "random", "adaptive"])
def test_training_lowers_the_loss(mode: str, feedback: str) -> None:
    data = sum_of_sines(n_steps=200, n_inputs=20, rate=50.0, seed=1)
    net = sl.RecurrentNetwork(
        20, [sl.SpikingLayer.lif(30, tau_mem=30e-3, threshold=0.3)], sl.Readout(1, tau=30e-3), dt=1e-3, seed=0
    )
    before = normalised_mse(net.run(data.train.x).readout, data.train.y)
    lr = 2e-2 if mode == "per_trial" else 1e-4
    cfg = EpropConfig(
        epochs=40 if mode == "per_trial" else 3,
        batch_size=1,
        lr=lr,
        loss="mse",
        mode=mode,
        feedback=feedback,
        feedback_decay=0.01 if feedback == "adaptive" else 0.0,
        surrogate=sg.PiecewiseLinear(0.3, 0.3),
        reg_rate=1e-6,
        reg_average="running",
    )
    r = sl.fit(net, data.train, config=cfg, progress=False, threads=1)
    after = normalised_mse(net.run(data.train.x).readout, data.train.y)
    assert after < 0.8 * before, (before, after)
    assert r.history["updates"][-1] == (40 if mode == "per_trial" else 600)


def test_thread_count_does_not_change_training() -> None:
    x, y = batch("ce_per_step", n=20, steps=30)
    params = []
    for threads in (1, 2):
        net = network(True, "one")
        sl.fit(
            net,
            (x, y),
            config=EpropConfig(epochs=2, batch_size=10, loss="ce_per_step", loss_start=3),
            progress=False,
            threads=threads,
        )
        params.append(net._net.params())
    np.testing.assert_array_equal(params[0], params[1])


def test_bad_configurations_name_the_argument() -> None:
    x, y = batch("mse")
    with pytest.raises(InvalidParameterError, match="tau_syn"):
        cuba = sl.RecurrentNetwork(4, [sl.SpikingLayer.cuba(5)], sl.Readout(2), dt=1e-3)
        eprop_update(cuba, x, y, config("mse"))
    with pytest.raises(InvalidParameterError, match="p_rec"):
        sparse = sl.RecurrentNetwork(4, [sl.SpikingLayer.lif(5, p_rec=0.5)], sl.Readout(2), dt=1e-3)
        eprop_update(sparse, x, y, config("mse"))
    with pytest.raises(InvalidParameterError, match="loss"):
        EpropConfig(loss="ce_max")
    with pytest.raises(InvalidParameterError, match="reg_average"):
        EpropConfig(mode="online", reg_rate=1.0, reg_average="batch")
    with pytest.raises(InvalidParameterError, match="feedback"):
        EpropConfig(feedback="mirror")
    two = sl.RecurrentNetwork(4, [sl.SpikingLayer.lif(5), sl.SpikingLayer.lif(5)], sl.Readout(2), dt=1e-3)
    with pytest.raises(InvalidParameterError, match="layers"):
        eprop_update(two, x, y, config("mse"))


def test_sum_of_sines_task() -> None:
    t = sum_of_sines_target(seed=3)
    assert t.shape == (1000,) and t[0] == 0.0 and np.abs(t).max() == pytest.approx(1.0)
    # Dominant frequencies are the four sines (1, 2, 3, 5 cycles over the second).
    spec = np.abs(np.fft.rfft(t - t.mean()))
    assert set(np.argsort(spec)[-4:]) <= {1, 2, 3, 4, 5, 6}
    a, b = sum_of_sines(seed=4), sum_of_sines(seed=4)
    np.testing.assert_array_equal(a.train.x, b.train.x)
    assert a.train.x.shape == (1, 1000, 100) and 0.04 < a.train.x.mean() < 0.06
    with pytest.raises(InvalidParameterError, match="rate"):
        sum_of_sines(rate=2000.0)


def test_store_recall_labels_follow_the_store_command() -> None:
    d = store_recall(n_train=200, n_validation=1, n_test=1, seed=2, rate=200.0)
    x, y = d.train.x, d.train.y
    slot, g = 200, 10
    for i in range(len(y)):
        counts = x[i].reshape(6, slot, 4, g).sum(axis=(1, 3))  # [slot, group]
        store = int(np.argmax(counts[:5, 0]))
        assert counts[5, 1] > 0 and counts[:5, 1].sum() == 0  # recall only in the last slot
        assert int(counts[store, 3] > counts[store, 2]) == y[i]
    assert 0.3 < y.mean() < 0.7
    assert list(d.loss_steps[[0, -1]]) == [1000, 1199]


def test_recipes_are_registered() -> None:
    from spikeloom.recipes import get

    for task, method in [("sines", "eprop"), ("evidence", "eprop"), ("evidence", "bptt"), ("storerecall", "eprop")]:
        assert get(task, method).method == method
