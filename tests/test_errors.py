"""Bad input raises the specific spikeloom exception, naming the argument; nothing panics."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import spikeloom as sl
from spikeloom import errors
from spikeloom.cli import main
from spikeloom.ttfs import layer_spike_times

TAU = 5e-3
X = np.full((3, 4), 1e-3)
Y = np.array([0, 1, 2])


@pytest.fixture(scope="module")
def net():
    return sl.TTFSNetwork([4, 5, 3], neuron=sl.LIF(TAU, TAU), seed=0)


def test_hierarchy():
    for cls, builtin in [
        (errors.ShapeError, ValueError),
        (errors.DTypeError, TypeError),
        (errors.InvalidParameterError, ValueError),
        (errors.NonFiniteError, ValueError),
        (errors.UnsupportedError, ValueError),
        (errors.UnknownNameError, KeyError),
        (errors.FileFormatError, ValueError),
        (errors.SpikeloomIOError, OSError),
    ]:
        assert issubclass(cls, errors.SpikeloomError) and issubclass(cls, builtin)
    assert sl.SpikeloomError is errors.SpikeloomError


def check(exc_type, match, fn, *args, **kwargs):
    """Call fn and require exactly exc_type (not a sibling) with ``match`` in the message."""
    with pytest.raises(errors.SpikeloomError) as info:
        fn(*args, **kwargs)
    assert type(info.value) is exc_type, f"{type(info.value).__name__}: {info.value}"
    assert match in str(info.value), str(info.value)
    return info.value


# --- arrays: shapes, dtypes, values ----------------------------------------------------------------


@pytest.mark.parametrize(
    "times,exc,match",
    [
        (np.zeros((3, 5)), errors.ShapeError, "times"),
        (np.zeros(4), errors.ShapeError, "times"),
        (np.zeros((1, 3, 4)), errors.ShapeError, "times"),
        (np.full((2, 4), "0.001"), errors.DTypeError, "times"),
        ([[None] * 4], errors.DTypeError, "times"),
        (np.zeros((2, 4), dtype=complex), errors.DTypeError, "times"),
        (np.array([[0.0, np.nan, 0.0, 0.0]]), errors.NonFiniteError, "times"),
        (np.array([[0.0, -1e-3, 0.0, 0.0]]), errors.InvalidParameterError, "times"),
        (np.array([[0.0, -np.inf, 0.0, 0.0]]), errors.InvalidParameterError, "times"),
    ],
    ids=["cols", "1d", "3d", "str", "object", "complex", "nan", "negative", "-inf"],
)
def test_bad_times(net, times, exc, match):
    e = check(exc, match, net.run, times)
    check(exc, match, net.predict, times)
    if exc is not errors.ShapeError or np.ndim(times) == 2:
        check(exc, match, net.evaluate, times, np.zeros(np.shape(times)[0], dtype=int))
    if exc is errors.NonFiniteError:
        assert "NaN" in str(e) and "(0, 1)" in str(e)  # names the index
    if exc is errors.InvalidParameterError:
        assert ">= 0" in str(e)


@pytest.mark.parametrize(
    "labels,exc,match",
    [
        (np.array([0.0, 1.0, 2.0]), errors.DTypeError, "labels"),
        (np.array(["a", "b", "c"]), errors.DTypeError, "labels"),
        (np.array([True, False, True]), errors.DTypeError, "labels"),
        (np.array([0, 1]), errors.ShapeError, "labels"),
        (np.array([[0, 1, 2]]), errors.ShapeError, "labels"),
        (np.array([0, 1, 3]), errors.InvalidParameterError, "got 3"),
        (np.array([0, -1, 2]), errors.InvalidParameterError, "got -1"),
    ],
    ids=["float", "str", "bool", "short", "2d", "too-big", "negative"],
)
def test_bad_labels(net, labels, exc, match):
    e = check(exc, match, net.evaluate, X, labels)
    assert "labels" in str(e)
    e = check(exc, match, sl.fit, net, (X, labels), config=sl.TTFSConfig(epochs=1), progress=False)
    assert "train labels" in str(e)
    e = check(exc, match, sl.fit, net, (X, Y), validation=(X, labels), config=sl.TTFSConfig(epochs=1), progress=False)
    assert "validation labels" in str(e)


def test_fit_bad_data(net):
    cfg = sl.TTFSConfig(epochs=1)
    check(errors.ShapeError, "train times", sl.fit, net, (X[:, :3], Y), config=cfg, progress=False)
    check(errors.NonFiniteError, "train times", sl.fit, net, (X * np.nan, Y), config=cfg, progress=False)
    check(errors.ShapeError, "validation times", sl.fit, net, (X, Y), validation=(X[:, :2], Y), config=cfg)
    check(errors.ShapeError, "train", sl.fit, net, (np.zeros((0, 4)), np.zeros(0, int)), config=cfg)
    check(errors.InvalidParameterError, "train", sl.fit, net, [X, Y], config=cfg)
    check(errors.InvalidParameterError, "net", sl.fit, "net", (X, Y), config=cfg)


@pytest.mark.parametrize(
    "field,value,exc",
    [
        ("epochs", -1, errors.InvalidParameterError),
        ("batch_size", 0, errors.InvalidParameterError),
        ("lr", 0.0, errors.InvalidParameterError),
        ("lr", float("inf"), errors.InvalidParameterError),
        ("lr_step", 0, errors.InvalidParameterError),
        ("lr_gamma", -0.5, errors.InvalidParameterError),
        ("xi", 0.0, errors.InvalidParameterError),
        ("alpha", -1.0, errors.InvalidParameterError),
        ("beta", 0.0, errors.InvalidParameterError),
        ("max_dw_norm", 0.0, errors.InvalidParameterError),
        ("max_missing", [0.1], errors.ShapeError),
        ("max_missing", [2.0, 0.0], errors.InvalidParameterError),
        ("max_missing", [-0.1, 0.0], errors.InvalidParameterError),
        ("bump", -1.0, errors.InvalidParameterError),
        ("input_noise", -1.0, errors.InvalidParameterError),
        ("adam_beta1", 1.5, errors.InvalidParameterError),
        ("adam_eps", 0.0, errors.InvalidParameterError),
    ],
)
def test_bad_config(net, field, value, exc):
    check(exc, field, sl.fit, net, (X, Y), config=sl.TTFSConfig(**{field: value}), progress=False)


@pytest.mark.parametrize(
    "field,value",
    [("adam_beta1", float("nan")), ("adam_beta2", float("inf")), ("max_missing", [float("nan"), 0.0])],
)
def test_non_finite_config_names_field(net, field, value):
    check(errors.InvalidParameterError, field, sl.fit, net, (X, Y), config=sl.TTFSConfig(**{field: value}))


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True, 2**70])
def test_threads_refused_by_every_entry_point(bad):
    """A thread count that is negative, not an integer or absurdly large is refused by name (before,
    the recurrent and FORCE runs passed it straight to the core: an OverflowError, or silently
    truncated 1.5 / accepted "2")."""
    from spikeloom import force as F

    rnet = sl.RecurrentNetwork(3, [sl.SpikingLayer.lif(6)], sl.Readout(2, tau=10e-3), seed=0)
    xs = np.zeros((2, 5, 3), dtype=np.float32)
    check(errors.InvalidParameterError, "threads", rnet.run, xs, threads=bad)
    check(errors.InvalidParameterError, "threads", rnet.evaluate, xs, np.array([0, 1]), threads=bad)
    fnet = F.lif_sine(n=20, seed=0)
    check(errors.InvalidParameterError, "threads", fnet.run, 0.001, np.zeros((20, 1)), threads=bad)
    check(
        errors.InvalidParameterError,
        "threads",
        F.train_force,
        fnet,
        lambda t: np.zeros((len(t), 1)),
        settle=0.001,
        learn=0.001,
        test=0.001,
        threads=bad,
    )
    assert fnet.time == 0.0  # refused before anything ran


def test_fit_bad_seed_and_threads(net):
    cfg = sl.TTFSConfig(epochs=1)
    check(errors.InvalidParameterError, "seed", sl.fit, net, (X, Y), config=cfg, seed=-1, progress=False)
    check(errors.InvalidParameterError, "threads", sl.fit, net, (X, Y), config=cfg, threads=-1, progress=False)
    check(errors.InvalidParameterError, "threads", net.run, X, threads=-2)
    check(errors.InvalidParameterError, "threads", net.run, X, threads=True)


def test_evaluate_bad_loss_parameters(net):
    check(errors.InvalidParameterError, "xi", net.evaluate, X, Y, xi=0.0)
    check(errors.InvalidParameterError, "alpha", net.evaluate, X, Y, alpha=-1.0)
    check(errors.InvalidParameterError, "beta", net.evaluate, X, Y, beta=float("nan"))


# --- neuron, network and encoder parameters --------------------------------------------------------


@pytest.mark.parametrize("name", ["tau_mem", "tau_syn", "v_th"])
@pytest.mark.parametrize("value", [0.0, -5e-3, float("nan"), float("inf"), "fast"])
def test_non_positive_neuron_parameters(name, value):
    kw = {"tau_mem": TAU, "tau_syn": TAU, "v_th": 1.0, name: value}
    check(errors.InvalidParameterError, name, sl.LIF, **kw)
    check(
        errors.InvalidParameterError,
        name,
        layer_spike_times,
        X,
        np.ones((2, 4)),
        kw["tau_mem"],
        kw["tau_syn"],
        kw["v_th"],
    )


@pytest.mark.parametrize("tau_mem,tau_syn", [(3 * TAU, TAU), (TAU, 2 * TAU), (1.5 * TAU, TAU), (TAU * 1.001, TAU)])
def test_unsupported_tau_ratio(tau_mem, tau_syn):
    for fn, args in [(sl.LIF, (tau_mem, tau_syn)), (layer_spike_times, (X, np.ones((1, 4)), tau_mem, tau_syn))]:
        e = check(errors.UnsupportedError, "tau_mem", fn, *args)
        msg = str(e)
        assert "tau_mem = tau_syn" in msg and "tau_mem = 2 * tau_syn" in msg


def test_supported_tau_ratios_accept_rounding():
    sl.LIF(0.1 * 3, 0.3)  # 0.30000000000000004 / 0.3
    sl.LIF(2 * 0.1 * 3, 0.3)


@pytest.mark.parametrize("sizes,index", [([4, 0, 3], 1), ([0, 5, 3], 0), ([4, 5, 0], 2), ([4, -1, 3], 1)])
def test_empty_layers(sizes, index):
    check(errors.InvalidParameterError, f"sizes[{index}]", sl.TTFSNetwork, sizes)


def test_bad_network_arguments():
    check(errors.ShapeError, "sizes", sl.TTFSNetwork, [4])
    check(errors.InvalidParameterError, "sizes[1]", sl.TTFSNetwork, [4, 2.5, 3])
    check(errors.InvalidParameterError, "neuron", sl.TTFSNetwork, [4, 3], neuron="lif")
    check(errors.InvalidParameterError, "bias_times", sl.TTFSNetwork, [4, 5, 3], bias_times=-1e-3)
    check(errors.InvalidParameterError, "bias_times", sl.TTFSNetwork, [4, 5, 3], bias_times=float("nan"))
    check(errors.InvalidParameterError, "bias_times[1]", sl.TTFSNetwork, [4, 5, 3], bias_times=[[0.0], [-1.0]])
    check(errors.ShapeError, "bias_times", sl.TTFSNetwork, [4, 5, 3], bias_times=[[1e-3]])
    check(errors.ShapeError, "init", sl.TTFSNetwork, [4, 5, 3], init=[(1.0, 1.0)])
    check(errors.InvalidParameterError, "init[0]", sl.TTFSNetwork, [4, 5, 3], init=[(1.0, -1.0), (1.0, 1.0)])
    check(errors.InvalidParameterError, "init[1]", sl.TTFSNetwork, [4, 5, 3], init=[(1.0, 1.0), (np.nan, 1.0)])
    check(errors.InvalidParameterError, "seed", sl.TTFSNetwork, [4, 5, 3], seed=-1)
    check(errors.InvalidParameterError, "seed", sl.TTFSNetwork, [4, 5, 3], seed=2**64)


def test_bad_set_weights(net):
    w = net.weights[0]
    check(errors.ShapeError, "weights", net.set_weights, 0, w[:, :-1])
    check(errors.ShapeError, "weights", net.set_weights, 0, w.ravel())
    check(errors.NonFiniteError, "weights", net.set_weights, 0, np.full(w.shape, np.nan))
    check(errors.NonFiniteError, "weights", net.set_weights, 0, np.full(w.shape, -np.inf))
    check(errors.DTypeError, "weights", net.set_weights, 0, np.full(w.shape, "1"))
    check(errors.InvalidParameterError, "layer", net.set_weights, 2, w)
    check(errors.InvalidParameterError, "layer", net.set_weights, -1, w)
    np.testing.assert_array_equal(net.weights[0], w)  # unchanged by the failed calls


def test_bad_layer_spike_times_arrays():
    w = np.ones((2, 4))
    check(errors.ShapeError, "weights", layer_spike_times, X, np.ones((2, 3)), TAU, TAU)
    check(errors.ShapeError, "weights", layer_spike_times, X, np.ones(4), TAU, TAU)
    check(errors.NonFiniteError, "weights", layer_spike_times, X, w * np.nan, TAU, TAU)
    check(errors.NonFiniteError, "weights", layer_spike_times, X, w * np.inf, TAU, TAU)
    check(errors.NonFiniteError, "times", layer_spike_times, X * np.nan, w, TAU, TAU)
    check(errors.InvalidParameterError, "times", layer_spike_times, -X, w, TAU, TAU)
    check(errors.DTypeError, "times", layer_spike_times, X.astype(str), w, TAU, TAU)
    check(errors.DTypeError, "weights", layer_spike_times, X, w.astype(str), TAU, TAU)
    check(errors.InvalidParameterError, "threads", layer_spike_times, X, w, TAU, TAU, 1.0, -1)
    check(errors.ShapeError, "", layer_spike_times, np.zeros((2, 3)), np.zeros((0, 3)), TAU, TAU)
    # An empty batch is fine.
    t, dw, dx = layer_spike_times(np.zeros((0, 4)), w, TAU, TAU)
    assert t.shape == (0, 2) and dw.shape == (0, 2, 4) and dx.shape == (0, 2, 4)


@pytest.mark.parametrize("times,weights", [(np.zeros((2, 0)), np.zeros((3, 0))), (np.zeros((2, 3)), np.zeros((0, 3)))])
def test_empty_layer_spike_times_names_argument(times, weights):
    with pytest.raises(errors.ShapeError) as info:
        layer_spike_times(times, weights, TAU, TAU)
    assert "times" in str(info.value) or "weights" in str(info.value)


def test_bad_encoder():
    check(errors.InvalidParameterError, "t_early", sl.LinearLatency, -1.0, 1.0)
    check(errors.InvalidParameterError, "t_late", sl.LinearLatency, 0.0, float("nan"))
    check(errors.InvalidParameterError, "tau_syn", sl.LinearLatency.goltz, 0.0)
    enc = sl.LinearLatency.goltz(TAU)
    check(errors.InvalidParameterError, "x", enc, np.array([[0.5, 1.5]]))
    check(errors.InvalidParameterError, "x", enc, np.array([[0.5, np.nan]]))
    check(errors.ShapeError, "x", enc, np.array([0.5, 0.5]))
    check(errors.DTypeError, "x", enc, np.array([["a"]]))


def test_bad_dataset_arguments():
    check(errors.InvalidParameterError, "size", sl.datasets.yin_yang_split, 0, 1)
    check(errors.InvalidParameterError, "seed", sl.datasets.yin_yang_split, 10, -1)


# --- names: recipes and CLI ------------------------------------------------------------------------


def test_unknown_recipe_names():
    e = check(errors.UnknownNameError, "task", sl.recipes.get, "mnist-but-misspelled")
    assert "'mnist-but-misspelled'" in str(e) and "yinyang" in str(e)
    assert isinstance(e, KeyError)
    e = check(errors.UnknownNameError, "method", sl.recipes.get, "yinyang", "backprop-through-time")
    assert "'backprop-through-time'" in str(e) and "ttfs" in str(e)
    assert sl.recipes.get("yinyang").method == "ttfs"


@pytest.mark.parametrize(
    "argv,match",
    [
        (["train", "nope"], "task: expected one of ['"),  # the list grows with every method's recipes
        (["train", "yinyang", "--method", "nope"], "method: expected one of ['ttfs']"),
        (["train", "yinyang", "--epochs", "-1", "--no-progress"], "epochs"),
        (["train", "yinyang", "--hidden", "0", "--no-progress"], "hidden"),
        (["train", "yinyang", "--threads", "-1", "--epochs", "1", "--no-progress"], "threads"),
        # An explicit 0 is the user's value, refused by the method (it used to mean "the recipe's default").
        (["train", "randman", "--epochs", "0", "--no-progress"], "epochs: expected an integer >= 1, got 0"),
        (["train", "seqdigits", "--hidden", "0", "--no-progress"], "expected an integer >= 1, got 0"),
        (["train", "sine", "--method", "force", "--hidden", "0", "--no-progress"], "n: expected an integer >= 1"),
    ],
)
def test_cli_bad_names_exit_2(argv, match, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("spikeloom: error: ")
    assert match in captured.err
    assert "Traceback" not in captured.err
    if argv == ["train", "nope"]:
        assert "'yinyang'" in captured.err and captured.err.rstrip().endswith("got 'nope'")


@pytest.mark.parametrize("argv", [[], ["bogus"], ["train"], ["train", "yinyang", "--epochs", "two"]])
def test_cli_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: spikeloom" in capsys.readouterr().err


# --- no panics ---------------------------------------------------------------------------------------


def test_no_panic_on_extreme_values():
    """Extreme but valid values never reach a Rust panic (RuntimeError 'internal error')."""
    rng = np.random.default_rng(7)
    tvals = np.array([0.0, 5e-324, 1e-300, 1e-9, 1e-3, 5e-3, 1.0, 1e10, 1e300, np.finfo(float).max, np.inf])
    w = np.array([0.0, 5e-324, 1e-300, 1e-3, 1.0, 3.0, 1e3, 1e10, 1e300, np.finfo(float).max])
    wvals = np.concatenate([w, -w])
    for tau in [1e-300, 1e-9, 5e-3, 1.0, 1e300]:
        for ratio in [1, 2]:
            for v_th in [1e-300, 1.0, 1e300]:
                x = rng.choice(tvals, (100, 5))
                weights = rng.choice(wvals, (6, 5))
                t, dw, dx = layer_spike_times(x, weights, ratio * tau, tau, v_th)
                # (Gradients may be +-inf or NaN at exact tangencies of these degenerate inputs.)
                assert not np.isnan(t).any()
                assert np.all(t >= 0)
                silent = ~np.isfinite(t)
                assert np.all(dw[silent] == 0) and np.all(dx[silent] == 0)
                # Never before the first input.
                assert np.all(t >= x.min(axis=1, keepdims=True))


def test_no_panic_in_extreme_training():
    d = sl.datasets.yin_yang(150, 30, 30)
    enc = sl.LinearLatency.goltz(TAU)
    for ratio in (1, 2):
        for lr, bump, xi, batch in [(1e6, 1e6, 1e-6, 1), (1e-12, 0.0, 1e6, 1000)]:
            net = sl.TTFSNetwork([4, 6, 3], neuron=sl.LIF(ratio * TAU, TAU), seed=1, encoder=enc)
            cfg = sl.TTFSConfig(epochs=2, lr=lr, bump=bump, xi=xi, batch_size=batch, alpha=10.0, input_noise=TAU)
            sl.fit(net, d.train.encode(enc), validation=d.validation.encode(enc), config=cfg, progress=False)
            assert all(np.isfinite(w).all() for w in net.weights)
            net.evaluate(enc(d.test.x), d.test.y, xi=xi)


def test_empty_evaluate_is_refused_by_every_network(net):
    # An empty evaluation has no loss or accuracy: refused like empty training data (it used to return
    # NaN here, 0.0 for recurrent and DECOLLE networks, which read as a score).
    with pytest.raises(errors.ShapeError, match="times: expected at least one sample, got 0"):
        net.evaluate(np.zeros((0, 4)), np.zeros(0, dtype=int))
    with pytest.raises(errors.ShapeError, match="times: expected at least one sample, got 0"):
        sl.AlphaNetwork([4, 5, 3]).evaluate(np.zeros((0, 4)), np.zeros(0, dtype=int))
    with pytest.raises(errors.ShapeError, match="times: expected at least one sample, got 0"):
        sl.S4NNNetwork([4, 5, 3]).evaluate(np.zeros((0, 4), dtype=np.uint8), np.zeros(0, dtype=int))
    empty_seq = np.zeros((0, 5, 4), dtype=bool)
    rnn = sl.RecurrentNetwork(4, [sl.SpikingLayer.lif(3)], sl.Readout(3))
    with pytest.raises(errors.ShapeError, match="x: expected at least one sample, got 0"):
        rnn.evaluate(empty_seq, np.zeros(0, dtype=int))
    with pytest.raises(errors.ShapeError, match="x: expected at least one sample, got 0"):
        sl.DecolleNetwork(4, [3], 3).evaluate(empty_seq, np.zeros(0, dtype=int))


def test_huge_network_raises_instead_of_aborting():
    code = (
        "import spikeloom\n"
        "try:\n"
        "    spikeloom.TTFSNetwork([4, 10**12, 3])\n"
        "except (MemoryError, spikeloom.SpikeloomError):\n"
        "    raise SystemExit(3)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, (proc.returncode, proc.stderr[-300:])
