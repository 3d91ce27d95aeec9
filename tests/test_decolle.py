"""DECOLLE: forward and local gradients against an independent numpy implementation, finite
differences of the frozen local loss, the update modes, thread-count determinism, persistence, errors."""

from __future__ import annotations

import pickle

import decolle_reference as ref
import numpy as np
import pytest
import spikeloom as sl
from spikeloom.errors import DTypeError, InvalidParameterError, NonFiniteError, ShapeError
from spikeloom.surrogates import FastSigmoid, SmoothSigmoid


def make_net(sigmoid_readout: bool = False, seed: int = 3) -> sl.DecolleNetwork:
    return sl.DecolleNetwork(
        5,
        [9, 7],
        4,
        tau_syn=[3e-3, 12.5e-3],
        tau_mem=[5e-3, 33e-3],
        tau_ref=[2e-3, 3e-3],
        wrp=1.5,
        gain=3.0,
        readout_gain=1.0,
        sigmoid_readout=sigmoid_readout,
        seed=seed,
    )


def make_data(n: int = 6, steps: int = 14, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.where(rng.random((n, steps, 5)) < 0.35, rng.uniform(0.5, 1.5, (n, steps, 5)), 0.0)
    # float32: the engine stores input events in single precision.
    return x.astype(np.float32), rng.integers(0, 4, n)


def spec_of(net: sl.DecolleNetwork) -> dict:
    return net.spec()


@pytest.mark.parametrize("sigmoid_readout", [False, True])
def test_forward_matches_numpy_step_by_step(sigmoid_readout: bool) -> None:
    net = make_net(sigmoid_readout)
    x, _ = make_data()
    rec = net.run(x, precision="float64", threads=1)
    layers = ref.forward(spec_of(net), net.parameters(), x)
    for li, want in enumerate(layers):
        np.testing.assert_array_equal(rec.spikes[li], np.transpose(want.s, (1, 0, 2)))
        np.testing.assert_allclose(rec.u[li], np.transpose(want.u, (1, 0, 2)), rtol=0, atol=1e-12)
        np.testing.assert_allclose(rec.readout[li], np.transpose(want.y, (1, 0, 2)), rtol=0, atol=1e-12)
        assert 0 < rec.spikes[li].mean() < 1, "the check needs spiking and silent steps"
    # float32 agrees up to rounding (spike flips at exact threshold crossings are not expected here).
    rec32 = net.run(x, precision="float32", threads=1)
    np.testing.assert_allclose(rec32.u[0], rec.u[0], atol=1e-5)


def test_smooth_sigmoid_forward_matches_numpy() -> None:
    net = make_net()
    x, _ = make_data()
    rec = net.run(x, surrogate=SmoothSigmoid(slope=2.0), precision="float64")
    layers = ref.forward(spec_of(net), net.parameters(), x, smooth_slope=2.0)
    for li, want in enumerate(layers):
        np.testing.assert_allclose(rec.spikes[li], np.transpose(want.s, (1, 0, 2)), atol=1e-12)


def frozen_objective(net: sl.DecolleNetwork, x: np.ndarray, y: np.ndarray, loss: str, burn_in: int, slope: float):
    """The batch objective as a function of the trainable tensors, every layer's P and R held at the
    values of the unperturbed run (the states are detached)."""
    spec, p0 = spec_of(net), net.parameters()
    states = ref.forward(spec, p0, x, smooth_slope=slope)
    n_layers = len(spec["sizes"])
    B, T = x.shape[:2]

    def f(p: dict[str, np.ndarray]) -> float:
        total = 0.0
        for li, st in enumerate(states):
            u = st.p @ p[f"layers.{li}.w"] + p[f"layers.{li}.bias"] + st.r  # [T, B, n]
            out = ref.sigmoid(u) if spec["sigmoid_readout"] and li == n_layers - 1 else ref.sigmoid(slope * u)
            yv = out @ p0[f"layers.{li}.readout"]
            for t in range(burn_in, T):
                total += ref.local_loss(loss, yv[t], y)[0].sum() / (B * (T - burn_in))
        return total

    return f, p0


@pytest.mark.parametrize("loss", ["smooth_l1", "mse", "ce_per_step"])
@pytest.mark.parametrize("sigmoid_readout", [False, True])
def test_gradient_matches_finite_differences_of_the_frozen_local_loss(loss: str, sigmoid_readout: bool) -> None:
    net = make_net(sigmoid_readout)
    x, y = make_data()
    cfg = sl.DecolleConfig(loss=loss, burn_in=3, surrogate=SmoothSigmoid(slope=2.0), precision="float64")
    value, grads = net.gradient(x, y, cfg)
    f, p0 = frozen_objective(net, x, y, loss, 3, 2.0)
    assert value == pytest.approx(f(p0), rel=1e-12)
    rng = np.random.default_rng(1)
    h = 1e-5
    for name, g in grads.items():
        for idx in [tuple(rng.integers(0, s) for s in g.shape) for _ in range(6)]:
            plus = {k: v.copy() for k, v in p0.items()}
            minus = {k: v.copy() for k, v in p0.items()}
            plus[name][idx] += h
            minus[name][idx] -= h
            fd = (f(plus) - f(minus)) / (2 * h)
            assert g[idx] == pytest.approx(fd, rel=1e-5, abs=1e-9), (name, idx)
    assert all(np.abs(g).max() > 1e-4 for g in grads.values())


@pytest.mark.parametrize("loss", ["smooth_l1", "mse", "ce_per_step"])
@pytest.mark.parametrize("sigmoid_readout", [False, True])
def test_gradient_matches_numpy_reverse_mode_with_the_surrogate(loss: str, sigmoid_readout: bool) -> None:
    net = make_net(sigmoid_readout)
    x, y = make_data(n=9)
    cfg = sl.DecolleConfig(loss=loss, burn_in=2, surrogate=FastSigmoid(slope=10.0), precision="float64")
    value, grads = net.gradient(x, y, cfg)
    want_value, want = ref.gradient(spec_of(net), net.parameters(), x, y, loss, 2, 10.0)
    assert value == pytest.approx(want_value, rel=1e-12)
    assert set(grads) == set(want)
    for name in want:
        np.testing.assert_allclose(grads[name], want[name], rtol=1e-9, atol=1e-13, err_msg=name)
    # float32 is close.
    _, g32 = net.gradient(x, y, sl.DecolleConfig(loss=loss, burn_in=2, precision="float32"))
    np.testing.assert_allclose(g32["layers.0.w"], want["layers.0.w"], rtol=1e-3, atol=1e-6)


def train(net, x, y, **kw) -> sl.FitResult:
    kw.setdefault("epochs", 1)
    threads = kw.pop("threads", 1)
    cfg = sl.DecolleConfig(**kw)
    return sl.fit(net, (x, y), config=cfg, seed=2, threads=threads, progress=False)


def test_online_with_zero_learning_rate_changes_nothing() -> None:
    net = make_net()
    x, y = make_data(n=20)
    before = net.parameters()
    r = train(net, x, y, lr=0.0, online=True, batch_size=8, burn_in=2, precision="float64")
    for k, v in net.parameters().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    ev = net.evaluate(x, y, burn_in=2, precision="float64")
    assert r.history["train_loss"][0] == pytest.approx(ev["loss"], rel=1e-12)
    assert r.history["train_accuracy"][0] == ev["accuracy"]


def test_online_and_per_sequence_updates_agree_to_first_order() -> None:
    x, y = make_data(n=20)
    base = make_net()
    # Non-zero biases: with the default zero biases a neuron without input sits exactly at the threshold
    # (U = 0), and any positive bias change flips its spikes, which no first-order argument covers.
    rng = np.random.default_rng(5)
    base.set_parameters(**{f"layers.{li}.bias": rng.uniform(-0.1, 0.1, n) for li, n in enumerate((9, 7))})
    p0 = base.parameters()
    lr = 1e-5
    _, g = base.gradient(x, y, sl.DecolleConfig(precision="float64"))
    moved = {}
    for online in (False, True):
        net = base.copy()
        train(net, x, y, lr=lr, optimizer="sgd", online=online, batch_size=20, precision="float64")
        moved[online] = {k: net.parameters()[k] - p0[k] for k in g}
    for k in g:
        # Per-sequence: exactly one SGD step with the gradient.
        np.testing.assert_allclose(moved[False][k], -lr * g[k], rtol=1e-9, atol=1e-15)
    a = np.concatenate([moved[False][k].ravel() for k in g])
    b = np.concatenate([moved[True][k].ravel() for k in g])
    assert np.linalg.norm(a - b) < 1e-3 * np.linalg.norm(a)
    for k in ("layers.0.readout", "layers.1.readout"):
        np.testing.assert_array_equal(base.parameters()[k], p0[k])


@pytest.mark.parametrize("online", [False, True])
def test_results_do_not_depend_on_the_thread_count(online: bool) -> None:
    x, y = make_data(n=37)
    runs = []
    for threads in (1, 2, 3):
        net = make_net()
        r = train(net, x, y, epochs=2, online=online, batch_size=20, lr=1e-2, burn_in=1, threads=threads)
        runs.append((net.parameters(), r.history.drop("seconds")))
    for params, hist in runs[1:]:
        for k, v in params.items():
            np.testing.assert_array_equal(v, runs[0][0][k], err_msg=k)
        assert hist.equals(runs[0][1])


def test_fit_learns_a_simple_task_and_reports_history() -> None:
    rng = np.random.default_rng(0)
    y = np.arange(60) % 4
    x = (rng.random((60, 16, 5)) < 0.1).astype(np.float32)
    x[np.arange(60), :, y] = (rng.random((60, 16)) < 0.6).astype(np.float32)
    net = sl.DecolleNetwork(5, [32, 32], 4, tau_syn=3e-3, tau_mem=5e-3, seed=1)
    cfg = sl.DecolleConfig(epochs=15, batch_size=10, lr=5e-3, burn_in=2, restore_best=True)
    r = sl.fit(net, (x, y), validation=(x, y), config=cfg, threads=1, progress=False)
    assert r.history.columns[:4] == ["epoch", "train_loss", "train_accuracy", "train_layer_accuracy"]
    assert r.history["val_accuracy"].max() >= 0.9
    assert net.evaluate(x, y, burn_in=2)["accuracy"] == r.history["val_accuracy"].max()
    assert (net.predict(x, burn_in=2) == y).mean() == r.history["val_accuracy"].max()
    assert len(r.history["val_layer_accuracy"][0]) == 2 and not r.interrupted


def test_save_load_pickle_and_copy(tmp_path) -> None:
    net = make_net(sigmoid_readout=True)
    x, y = make_data()
    path = tmp_path / "net.safetensors"
    net.save(path, metadata={"note": "x"})
    back = sl.DecolleNetwork.load(path)
    assert back.spec() == net.spec()
    for k, v in net.parameters().items():
        np.testing.assert_array_equal(back.parameters()[k], v)
    np.testing.assert_array_equal(back.run(x).u[1], net.run(x).u[1])
    clone = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(clone.predict(x), net.predict(x))
    other = net.copy()
    other.set_parameters(**{"layers.0.bias": np.ones(9)})
    assert not np.array_equal(other.parameters()["layers.0.bias"], net.parameters()["layers.0.bias"])
    assert "5-9-7-4" in repr(net)
    with pytest.raises(sl.errors.FileFormatError):
        (tmp_path / "bad.safetensors").write_bytes(b"nope")
        sl.DecolleNetwork.load(tmp_path / "bad.safetensors")


def test_defaults_are_decolles() -> None:
    net = sl.DecolleNetwork(2, [3], 2)
    d = net.decays
    assert d["beta"][0] == pytest.approx(0.923, abs=1e-3)
    assert d["alpha"][0] == pytest.approx(0.970, abs=1e-3)
    assert d["alpharp"][0] == pytest.approx(0.65, abs=1e-12)
    cfg = sl.DecolleConfig()
    assert (cfg.optimizer, cfg.lr, cfg.loss, cfg.online, cfg.batch_size) == ("adamax", 1e-3, "smooth_l1", True, 72)
    assert cfg.surrogate == FastSigmoid(slope=10.0)
    a = net.parameters()["layers.0.readout"]
    assert np.abs(a).max() <= 0.5 / np.sqrt(3) and np.all(net.parameters()["layers.0.bias"] == 0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"sizes": []}, "sizes"),
        ({"sizes": [3, 0]}, r"sizes\[1\]"),
        ({"n_inputs": 0}, "n_inputs"),
        ({"n_outputs": -1}, "n_outputs"),
        ({"tau_syn": -1e-3}, "tau_syn"),
        ({"tau_mem": [1e-3, 0.0]}, r"tau_mem\[1\]"),
        ({"dt": float("nan")}, "dt"),
        ({"wrp": -1}, "wrp"),
        ({"readout_gain": "x"}, "readout_gain"),
        ({"sigmoid_readout": 1}, "sigmoid_readout"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_network_arguments_are_named(kwargs: dict, name: str) -> None:
    args = {"n_inputs": 2, "sizes": [3, 4], "n_outputs": 2, **kwargs}
    with pytest.raises(sl.SpikeloomError, match=name):
        sl.DecolleNetwork(args.pop("n_inputs"), args.pop("sizes"), args.pop("n_outputs"), **args)


def test_per_layer_time_constants_need_one_per_layer() -> None:
    with pytest.raises(ShapeError, match="tau_ref"):
        sl.DecolleNetwork(2, [3, 4], 2, tau_ref=[1e-3, 2e-3, 3e-3])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 1.5}, "batch_size"),
        ({"lr": -1}, "lr"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"betas": (0.9, 1.0)}, "betas"),
        ({"loss": "ce_max"}, "loss"),
        ({"burn_in": -1}, "burn_in"),
        ({"online": "yes"}, "online"),
        ({"surrogate": "fast"}, "surrogate"),
        ({"precision": "float16"}, "precision"),
        ({"lr_gamma": 0}, "lr_gamma"),
    ],
)
def test_bad_config_arguments_are_named(kwargs: dict, name: str) -> None:
    with pytest.raises(InvalidParameterError, match=name):
        sl.DecolleConfig(**kwargs)


def test_bad_data_is_named() -> None:
    net = make_net()
    x, y = make_data()
    cfg = sl.DecolleConfig(epochs=1)
    fit = lambda *a, **kw: sl.fit(net, *a, config=cfg, progress=False, **kw)  # noqa: E731
    with pytest.raises(ShapeError, match="train.x"):
        fit((x[:, :, :4], y))
    with pytest.raises(ShapeError, match="train.x"):
        fit((x[0], y))
    with pytest.raises(InvalidParameterError, match="train.y"):
        fit((x, y + 4))
    with pytest.raises(ShapeError, match="train.y"):
        fit((x, y[:-1]))
    with pytest.raises(DTypeError, match="train.y"):
        fit((x, y.astype(float)))
    with pytest.raises(NonFiniteError, match="train.x"):
        bad = x.copy()
        bad[1, 2, 3] = np.nan
        fit((bad, y))
    with pytest.raises(ShapeError, match="validation.x"):
        fit((x, y), validation=(x[:, :, :2], y))
    with pytest.raises(InvalidParameterError, match="burn_in"):
        sl.fit(net, (x, y), config=sl.DecolleConfig(burn_in=14), progress=False)
    with pytest.raises(InvalidParameterError, match="validation"):
        sl.fit(net, (x, y), config=sl.DecolleConfig(restore_best=True), progress=False)
    with pytest.raises(InvalidParameterError, match="burn_in"):
        net.predict(x, burn_in=14)
    with pytest.raises(InvalidParameterError, match="loss"):
        net.evaluate(x, y, loss="mae")
    with pytest.raises(InvalidParameterError, match="threads"):
        net.run(x, threads=-1)
    with pytest.raises(InvalidParameterError, match="config"):
        net.gradient(x, y, sl.BPTTConfig())
    with pytest.raises(InvalidParameterError, match="net"):
        sl.fit(sl.RecurrentNetwork(5, [sl.SpikingLayer.lif(3)], sl.Readout(4)), (x, y), config=cfg, progress=False)
    with pytest.raises(InvalidParameterError, match="config"):
        sl.fit(net, (x, y), config=sl.BPTTConfig(), progress=False)
    with pytest.raises(InvalidParameterError, match="layers.9.w"):
        net.set_parameters(**{"layers.9.w": np.zeros(3)})
    with pytest.raises(ShapeError, match="layers.0.w"):
        net.set_parameters(**{"layers.0.w": np.zeros(3)})
