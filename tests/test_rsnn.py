"""The recurrent engine and BPTT: forward pass and gradients against the dense numpy reference
(``rsnn_reference.py``), determinism across thread counts, persistence, recording and bad input."""

from __future__ import annotations

import json
import pickle
from typing import Any

import numpy as np
import pytest
import rsnn_reference as ref
import spikeloom as sl
from spikeloom.errors import DTypeError, InvalidParameterError, NonFiniteError, ShapeError

L = sl.SpikingLayer

VARIANTS = {
    "lif_subtract": [L.lif(6, tau_mem=10e-3, tau_mem_sd=2e-3, gain=3.0, rec_gain=2.0)],
    "lif_zero_two_layers": [
        L.lif(6, tau_mem=8e-3, reset="zero", input_scale="one_minus_alpha", gain=12.0, rec_gain=4.0),
        L.lif(4, tau_mem=10e-3, recurrent=False, gain=3.0),
    ],
    "cuba": [L.cuba(6, tau_mem=10e-3, tau_syn=5e-3, tau_syn_sd=1e-3, gain=1.5, rec_gain=1.0)],
    "alif_bellec": [L.alif_bellec(6, tau_mem=20e-3, tau_adapt=50e-3, beta=0.3, gain=3.0, rec_gain=2.0)],
    "sparse_two_layers": [
        L.lif(8, tau_mem=10e-3, p_in=0.5, p_rec=0.4, gain=3.0, rec_gain=2.0),
        L.cuba(5, tau_mem=10e-3, tau_syn=5e-3, p_in=0.6, p_rec=0.5, gain=4.0, rec_gain=2.0),
    ],
    "alif_yin": [
        L.alif_yin(6, tau_mem=20e-3, tau_adapt=30e-3, threshold=0.3, tau_adapt_sd=5e-3, gain=8.0, rec_gain=4.0),
        L.alif_yin(4, tau_mem=20e-3, tau_adapt=50e-3, threshold=0.3, gain=8.0, rec_gain=4.0),
    ],
}


def _net(name: str, seed: int = 0, readout_scale: str = "one") -> sl.RecurrentNetwork:
    return sl.RecurrentNetwork(
        5, VARIANTS[name], sl.Readout(3, tau=15e-3, tau_sd=2e-3, input_scale=readout_scale), seed=seed
    )


def _inputs(rng: np.random.Generator, n: int = 4, steps: int = 40) -> np.ndarray:
    return rng.random((n, steps, 5)) < 0.3


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_forward_matches_dense_numpy(name: str, rng: np.random.Generator) -> None:
    net = _net(name, readout_scale="one_minus_alpha" if "yin" in name else "one")
    x = _inputs(rng)
    rec = net.run(x, precision="float64")
    spec = json.loads(net._net.spec_json())
    fw = ref.forward(spec, net.parameters(), x)
    total = 0
    for li, lr in enumerate(fw.layers):
        z = np.transpose(lr.z, (1, 0, 2))
        np.testing.assert_array_equal(rec.spikes[li], z)
        np.testing.assert_allclose(rec.u[li], np.transpose(lr.u, (1, 0, 2)), rtol=1e-12, atol=1e-12)
        if lr.a is not None:
            np.testing.assert_allclose(rec.a[li], np.transpose(lr.a, (1, 0, 2)), rtol=1e-12, atol=1e-12)
        total += int(z.sum())
    np.testing.assert_allclose(rec.readout, np.transpose(fw.y, (1, 0, 2)), rtol=1e-12, atol=1e-12)
    assert total > 20, "the comparison needs spikes"
    # float32 runs give the same spikes here (no threshold within float32 rounding).
    rec32 = net.run(x)
    assert rec32.u[0].dtype == np.float32
    np.testing.assert_allclose(rec32.u[0], rec.u[0], atol=1e-4)


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("loss", ["ce_max", "ce_mean"])
def test_bptt_matches_dense_numpy_reverse_mode(name: str, loss: str, rng: np.random.Generator) -> None:
    """The real (Heaviside + fast-sigmoid surrogate) gradient against an independent derivation."""
    net = _net(name, seed=3, readout_scale="one_minus_alpha" if "yin" in name else "one")
    x = _inputs(rng, n=5, steps=30)
    y = np.arange(5) % 3
    slope = 5.0
    cfg = sl.BPTTConfig(loss=loss, surrogate=sl.surrogates.FastSigmoid(slope=slope), precision="float64")
    value, grad = net.gradient(x, y, cfg)
    spec = json.loads(net._net.spec_json())
    p = net.parameters()
    fw = ref.forward(spec, p, x)
    want_loss, dy = ref.ce_loss_grad(fw.y, y, loss)
    want = ref.backward(spec, p, x, fw, dy, slope)
    if name.startswith("sparse"):
        # The dense reference differentiates every entry; a sparse layer has gradients only at its
        # synapses (the non-zero weights) and exact zeros elsewhere.
        for k in want:
            if k.startswith("layers.") and k.split(".")[-1] in ("w_in", "w_rec"):
                want[k] = np.where(p[k] != 0, want[k], 0.0)
    assert value == pytest.approx(want_loss, rel=1e-12)
    assert set(want) == set(grad)
    for k in want:
        scale = max(np.abs(want[k]).max(), 1e-12)
        np.testing.assert_allclose(grad[k], want[k], rtol=1e-9, atol=1e-10 * scale, err_msg=k)
    assert any(np.abs(g).max() > 0 for g in grad.values())


def test_sparse_layers_keep_absent_synapses_at_zero(rng: np.random.Generator, tmp_path: Any) -> None:
    """Sparse projections: the requested density, no self-connections, absent weights and their
    gradients exactly zero (also after training), the same synapses after saving and loading."""
    layers = [L.lif(60, p_in=0.2, p_rec=0.1, gain=3.0, rec_gain=2.0)]
    net = sl.RecurrentNetwork(40, layers, sl.Readout(3, tau=15e-3), seed=5)
    p = net.parameters()
    w_in, w_rec = p["layers.0.w_in"], p["layers.0.w_rec"]
    assert abs(np.mean(w_in != 0) - 0.2) < 0.03 and abs(np.mean(w_rec != 0) - 0.1) < 0.02
    assert not np.diag(w_rec).any()
    # Kept weights are scaled up so the input variance matches the dense layer's.
    assert np.std(w_in[w_in != 0]) == pytest.approx(3.0 / np.sqrt(0.2 * 40), rel=0.15)
    x, y = rng.random((8, 30, 40)) < 0.3, np.arange(8) % 3
    _, g = net.gradient(x, y, sl.BPTTConfig(precision="float64"))
    assert not g["layers.0.w_in"][w_in == 0].any() and not g["layers.0.w_rec"][w_rec == 0].any()
    assert np.abs(g["layers.0.w_rec"]).max() > 0
    sl.fit(net, (x, y), config=sl.BPTTConfig(epochs=3, batch_size=4, lr=1e-2), progress=False)
    q = net.parameters()
    assert ((q["layers.0.w_in"] != 0) == (w_in != 0)).all() and ((q["layers.0.w_rec"] != 0) == (w_rec != 0)).all()
    assert not np.allclose(q["layers.0.w_in"], w_in)
    net.save(tmp_path / "sparse.safetensors")
    back = sl.RecurrentNetwork.load(tmp_path / "sparse.safetensors")
    np.testing.assert_array_equal(back.run(x).spikes[0], net.run(x).spikes[0])
    # A different seed draws different synapses.
    other = sl.RecurrentNetwork(40, layers, sl.Readout(3, tau=15e-3), seed=6).parameters()["layers.0.w_in"]
    assert ((other != 0) != (w_in != 0)).any()


@pytest.mark.parametrize("p", [0.0, -0.1, 1.5, float("nan")])
def test_bad_connection_probability_is_refused(p: float) -> None:
    with pytest.raises(InvalidParameterError, match="p_rec"):
        L.lif(10, p_rec=p)


def test_detached_reset_changes_only_the_reset_path(rng: np.random.Generator) -> None:
    net = _net("lif_subtract", seed=1)
    x, y = _inputs(rng, n=3, steps=30), np.array([0, 1, 2])
    cfg = sl.BPTTConfig(surrogate=sl.surrogates.FastSigmoid(slope=5.0), precision="float64", detach_reset=True)
    _, grad = net.gradient(x, y, cfg)
    spec = json.loads(net._net.spec_json())
    p = net.parameters()
    fw = ref.forward(spec, p, x)
    _, dy = ref.ce_loss_grad(fw.y, y, "ce_max")
    want = ref.backward(spec, p, x, fw, dy, 5.0, detach_reset=True)
    attached = ref.backward(spec, p, x, fw, dy, 5.0, detach_reset=False)
    np.testing.assert_allclose(grad["layers.0.w_rec"], want["layers.0.w_rec"], rtol=1e-9, atol=1e-12)
    assert not np.allclose(want["layers.0.w_rec"], attached["layers.0.w_rec"])
    # The readout gradient does not depend on the switch.
    np.testing.assert_allclose(grad["readout.w"], attached["readout.w"], rtol=1e-12)


def test_training_is_identical_for_any_thread_count(rng: np.random.Generator) -> None:
    x = rng.random((40, 25, 5)) < 0.3
    y = rng.integers(0, 3, 40)
    cfg = sl.BPTTConfig(epochs=2, batch_size=16, lr=5e-3, lr_tau=1e-4)
    params = []
    for threads in (1, 2, 3):
        net = sl.RecurrentNetwork(
            5, [L.alif_yin(8, threshold=0.3, gain=6.0)], sl.Readout(3, tau=20e-3, train_tau=True), seed=4
        )
        sl.fit(net, (x, y), config=cfg, seed=9, threads=threads, progress=False)
        params.append(net.parameters())
    for k in params[0]:
        np.testing.assert_array_equal(params[0][k], params[1][k], err_msg=k)
        np.testing.assert_array_equal(params[0][k], params[2][k], err_msg=k)
    # Time constants moved and stayed in range.
    tau = params[0]["layers.0.tau_mem"]
    assert not np.allclose(tau, 20e-3) and (tau >= 1e-3).all()


def test_save_load_and_pickle_round_trip(tmp_path, rng: np.random.Generator) -> None:
    net = _net("alif_yin", seed=2)
    path = tmp_path / "net.safetensors"
    net.save(path, metadata={"note": "x"})
    back = sl.RecurrentNetwork.load(path)
    for k, v in net.parameters().items():
        np.testing.assert_array_equal(back.parameters()[k], v)
    assert back.layers == net.layers and back.readout == net.readout
    clone = pickle.loads(pickle.dumps(net))
    x = _inputs(rng)
    np.testing.assert_array_equal(clone.run(x).spikes[0], net.run(x).spikes[0])
    assert "RecurrentNetwork(5-6-4, readout 3" in repr(net)


def test_set_parameters_masks_self_connections() -> None:
    net = _net("lif_subtract")
    w = np.ones((6, 6))
    net.set_parameters(**{"layers.0.w_rec": w})
    got = net.parameters()["layers.0.w_rec"]
    assert np.all(np.diag(got) == 0) and got.sum() == 30
    with pytest.raises(ShapeError, match="layers.0.w_rec"):
        net.set_parameters(**{"layers.0.w_rec": np.ones((5, 6))})
    with pytest.raises(InvalidParameterError, match="unknown tensor"):
        net.set_parameters(nope=np.ones(3))


def test_regression_with_mse_learns_a_sine() -> None:
    steps = 60
    t = np.arange(steps) * 1e-3
    x = np.zeros((8, steps, 4), dtype=np.float32)
    x[:, ::5, :] = 1.0  # a clock input
    target = np.broadcast_to(np.sin(2 * np.pi * 25 * t)[None, :, None], (8, steps, 1)).astype(np.float32)
    net = sl.RecurrentNetwork(4, [L.lif(32, gain=2.0, rec_gain=0.5)], sl.Readout(1, tau=5e-3), seed=0)
    cfg = sl.BPTTConfig(epochs=150, batch_size=8, lr=1e-2, loss="mse")
    before = net.evaluate(x, target, loss="mse")["loss"]
    res = sl.fit(net, (x, target), config=cfg, progress=False)
    after = net.evaluate(x, target, loss="mse")["loss"]
    assert after < 0.2 * before, (before, after)
    assert np.isnan(res.history["train_accuracy"][0])


def test_bad_input_raises_named_errors(rng: np.random.Generator) -> None:
    net = _net("lif_subtract")
    with pytest.raises(ShapeError, match="x: expected 5 channels"):
        net.run(np.zeros((2, 10, 4)))
    with pytest.raises(ShapeError, match="3-D"):
        net.run(np.zeros((10, 5)))
    with pytest.raises(DTypeError, match="x"):
        net.run(np.array([[["a"] * 5]]))
    bad = np.zeros((1, 4, 5))
    bad[0, 2, 3] = np.nan
    with pytest.raises(NonFiniteError, match="flat index 13"):
        net.run(bad)
    x = _inputs(rng)
    with pytest.raises(InvalidParameterError, match="labels in 0..2"):
        net.evaluate(x, np.array([0, 1, 2, 3]))
    with pytest.raises(ShapeError, match="one label per sample"):
        net.evaluate(x, np.array([0, 1]))
    with pytest.raises(InvalidParameterError, match="loss: expected one of"):
        net.evaluate(x, np.zeros(4, dtype=int), loss="hinge")
    with pytest.raises(InvalidParameterError, match="loss window"):
        net.evaluate(x, np.zeros(4, dtype=int), loss_start=50)
    with pytest.raises(InvalidParameterError, match="tau_mem"):
        L.lif(4, tau_mem=-1.0)
    with pytest.raises(InvalidParameterError, match="reset"):
        L.lif(4, reset="soft")
    with pytest.raises(InvalidParameterError, match="tau_adapt"):
        L(4, adaptation="bellec")
    with pytest.raises(InvalidParameterError, match=r"layers\[0\].tau_mem.*tau_min"):
        sl.RecurrentNetwork(5, [L.lif(4, tau_mem=1e-4)], sl.Readout(2))
    with pytest.raises(InvalidParameterError, match="ce_counts"):
        sl.fit(sl.RecurrentNetwork(5, [L.lif(3)]), (x, np.zeros(4, dtype=int)), progress=False)
    with pytest.raises(InvalidParameterError, match="surrogate"):
        sl.BPTTConfig(surrogate="fast")
    with pytest.raises(InvalidParameterError, match="FastSigmoid.slope"):
        sl.surrogates.FastSigmoid(slope=0)


def test_spike_count_loss_trains_an_output_layer(rng: np.random.Generator) -> None:
    """Without a readout the last layer's spike counts are the logits."""
    x = np.zeros((60, 30, 2), dtype=np.float32)
    y = rng.integers(0, 2, 60)
    x[np.arange(60), :, y] = 1.0  # class c drives input channel c
    net = sl.RecurrentNetwork(2, [L.lif(16, gain=1.0), L.lif(2, recurrent=False, gain=1.0)], seed=0)
    cfg = sl.BPTTConfig(epochs=20, batch_size=20, lr=1e-2, loss="ce_counts")
    sl.fit(net, (x, y), config=cfg, progress=False)
    assert net.evaluate(x, y, loss="ce_counts")["accuracy"] >= 0.95


def test_recording_and_raster(rng: np.random.Generator) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    net = _net("alif_bellec")
    x = _inputs(rng, n=2, steps=50)
    rec = net.run(x)
    assert rec.spikes[0].shape == (2, 50, 6) and rec.u[0].shape == (2, 50, 6)
    assert rec.a[0] is not None and rec.readout.shape == (2, 50, 3)
    times, ids = sl.plot.spike_events(rec, sample=1)
    assert len(times) == int(rec.spikes[0][1].sum()) and (times > 0).all()
    ax = sl.plot.raster(rec, sample=1)
    assert ax.get_xlabel() == "time (ms)"
    np.testing.assert_allclose(rec.rates_hz()[0], rec.spikes[0].mean(axis=(0, 1)) / 1e-3)


def test_truncated_bptt(rng: np.random.Generator) -> None:
    """Windows as long as the sequence are full BPTT; shorter windows train and take more steps."""
    x = rng.random((24, 30, 5)) < 0.3
    y = rng.integers(0, 3, 24)
    params = []
    for trunc in (None, 30, 10):
        net = _net("lif_subtract", seed=5)
        cfg = sl.BPTTConfig(epochs=2, batch_size=12, lr=5e-3, loss="ce_mean", truncation=trunc)
        res = sl.fit(net, (x, y), config=cfg, progress=False)
        params.append(net.parameters())
        assert res.history["train_accuracy"].is_finite().all()
    for k in params[0]:
        np.testing.assert_array_equal(params[0][k], params[1][k], err_msg=k)
    assert not np.allclose(params[0]["layers.0.w_rec"], params[2]["layers.0.w_rec"])
    with pytest.raises(InvalidParameterError, match="truncation"):
        sl.BPTTConfig(truncation=0)


def _ce(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    return np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(labels)), labels]


@pytest.mark.parametrize("carry", [False, True])
def test_truncated_summed_losses_carry_the_sum_across_windows(rng: np.random.Generator, carry: bool) -> None:
    """With lr 0 every window sees the same network, so the reported training loss is, per sample, the
    sum over the windows of the cross-entropy of the spike counts (ce_counts) or summed softmax
    (ce_sum_softmax, from loss_start) up to the window's end (carry_loss) or inside the window only,
    computed here from the recorded spikes and readout."""
    x = rng.random((12, 30, 5)) < 0.4
    y = rng.integers(0, 3, 12)
    bounds = [(0, 10), (10, 20), (20, 30)]
    # Spike counts of a 3-unit output layer.
    net = sl.RecurrentNetwork(5, [L.lif(8, gain=3.0), L.lif(3, recurrent=False, gain=3.0)], seed=2)
    z = net.run(x, precision="float64").spikes[1]
    assert z.sum() > 0
    want = sum(_ce(z[:, (0 if carry else a) : b].sum(axis=1), y) for a, b in bounds).mean()
    cfg = sl.BPTTConfig(
        epochs=1, batch_size=12, lr=0.0, loss="ce_counts", truncation=10, carry_loss=carry, precision="float64"
    )
    res = sl.fit(net, (x, y), config=cfg, progress=False)
    np.testing.assert_allclose(res.history["train_loss"][0], want, rtol=1e-12)
    if carry:  # the prediction of the last window is the full sequence's
        full = net.evaluate(x, y, loss="ce_counts", precision="float64")
        assert res.history["train_accuracy"][0] == full["accuracy"]
    # Summed softmax of the readout from step 5 (the first window holds only part of the loss window).
    # Every state variable is carried across windows (adaptation, synaptic current, two layers).
    for name in ("lif_subtract", "alif_yin", "alif_bellec", "cuba", "lif_zero_two_layers"):
        net = _net(name, seed=4)
        r = net.run(x, precision="float64").readout
        p = np.exp(r - r.max(axis=2, keepdims=True))
        p /= p.sum(axis=2, keepdims=True)
        want = sum(_ce(p[:, (5 if carry else max(a, 5)) : b].sum(axis=1), y) for a, b in bounds).mean()
        cfg = sl.BPTTConfig(
            epochs=1,
            batch_size=12,
            lr=0.0,
            loss="ce_sum_softmax",
            loss_start=5,
            truncation=10,
            carry_loss=carry,
            precision="float64",
        )
        res = sl.fit(net, (x, y), config=cfg, progress=False)
        np.testing.assert_allclose(res.history["train_loss"][0], want, rtol=1e-12)


def test_carry_loss_needs_truncation_and_a_summed_loss() -> None:
    with pytest.raises(InvalidParameterError, match="carry_loss.*truncation"):
        sl.BPTTConfig(loss="ce_counts", carry_loss=True)
    with pytest.raises(InvalidParameterError, match="carry_loss.*ce_mean"):
        sl.BPTTConfig(loss="ce_mean", truncation=10, carry_loss=True)


@pytest.mark.parametrize("optimizer", ["adam", "adamax", "sgd"])
def test_optimisers_and_linear_schedule_follow_their_definitions(optimizer: str, rng: np.random.Generator) -> None:
    # One batch per epoch: fit's updates must equal the optimiser's definition applied by hand to the
    # gradients at the current parameters, with the linearly decaying learning rate.
    x = rng.random((12, 20, 5)) < 0.3
    y = rng.integers(0, 3, 12)
    epochs, lr, lr_tau, b1, b2, eps = 3, 5e-3, 1e-4, 0.9, 0.999, 1e-8
    cfg = sl.BPTTConfig(
        epochs=epochs,
        batch_size=12,
        lr=lr,
        lr_tau=lr_tau,
        optimizer=optimizer,
        lr_schedule="linear",
        loss="ce_sum_softmax",
        precision="float64",
    )

    def make() -> sl.RecurrentNetwork:
        layer = L.alif_yin(6, tau_mem=20e-3, tau_adapt=30e-3, threshold=0.3, gain=8.0, rec_gain=4.0)
        return sl.RecurrentNetwork(5, [layer], sl.Readout(3, tau=20e-3, train_tau=True), seed=2)

    net = make()
    sl.fit(net, (x, y), config=cfg, seed=0, progress=False)
    hand = make()
    p = hand.parameters()
    m = {k: np.zeros_like(v) for k, v in p.items()}
    s = {k: np.zeros_like(v) for k, v in p.items()}
    for epoch in range(1, epochs + 1):
        _, g = hand.gradient(x, y, cfg)
        for k in p:
            rate = (lr_tau if "tau" in k else lr) * (1 - (epoch - 1) / epochs)
            if optimizer == "sgd":
                p[k] = p[k] - rate * g[k]
            elif optimizer == "adam":
                m[k] = b1 * m[k] + (1 - b1) * g[k]
                s[k] = b2 * s[k] + (1 - b2) * g[k] ** 2
                p[k] = p[k] - rate * (m[k] / (1 - b1**epoch)) / (np.sqrt(s[k] / (1 - b2**epoch)) + eps)
            else:
                m[k] = b1 * m[k] + (1 - b1) * g[k]
                s[k] = np.maximum(b2 * s[k], np.abs(g[k]) + eps)
                p[k] = p[k] - rate / (1 - b1**epoch) * m[k] / s[k]
        hand.set_parameters(**p)
        p = hand.parameters()
    got = net.parameters()
    for k in p:
        np.testing.assert_allclose(got[k], p[k], rtol=1e-9, atol=1e-12, err_msg=k)
    assert not np.allclose(got["layers.0.w_in"], make().parameters()["layers.0.w_in"])
    assert not np.allclose(got["readout.tau"], 20e-3)


def test_bad_optimizer_and_schedule_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="optimizer"):
        sl.BPTTConfig(optimizer="rmsprop")
    with pytest.raises(InvalidParameterError, match="lr_schedule"):
        sl.BPTTConfig(lr_schedule="cosine")


def test_ctrl_c_stops_training_within_an_epoch(rng: np.random.Generator) -> None:
    # One epoch of 20,000 samples in batches of 4 takes seconds; Ctrl-C (SIGINT, sent every 0.2 s from
    # 0.3 s on, so one landing in the input conversion cannot be lost) must end training after the
    # current batch, keep the weights and report the partial epoch.
    import os
    import signal
    import threading
    import time

    x = rng.random((20000, 100, 5)) < 0.3
    y = rng.integers(0, 3, 20000)
    net = sl.RecurrentNetwork(5, [L.lif(32)], sl.Readout(3), seed=0)
    before = net.parameters()["layers.0.w_in"].copy()
    cfg = sl.BPTTConfig(epochs=100, batch_size=4, lr=1e-3)
    in_fit = threading.Event()
    done = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        if in_fit.is_set():
            raise KeyboardInterrupt

    def send() -> None:
        time.sleep(0.3)
        while not done.is_set():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)

    old = signal.signal(signal.SIGINT, on_sigint)
    sender = threading.Thread(target=send, daemon=True)
    try:
        start = time.perf_counter()
        in_fit.set()
        sender.start()
        result = sl.fit(net, (x, y), config=cfg, progress=False)
        in_fit.clear()
        elapsed = time.perf_counter() - start
    finally:
        in_fit.clear()
        done.set()
        sender.join()
        signal.signal(signal.SIGINT, old)
    assert result.interrupted and result.history.height == 1
    assert result.state.epochs_done == 0  # the cut epoch is not counted: a resume runs it again
    assert elapsed < 3.0, elapsed
    assert not np.array_equal(net.parameters()["layers.0.w_in"], before)
