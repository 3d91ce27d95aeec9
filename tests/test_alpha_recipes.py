"""Recipes of the alpha method: noisy XOR and 8x8 digits reach their targets in seconds; the MNIST
recipe builds the paper's network; Göltz's method on digits runs; metrics follow the recipe format."""

from __future__ import annotations

import json
import time

import pytest
from spikeloom import recipes
from spikeloom.alpha import AlphaNetwork
from spikeloom.recipes import RecipeArgs
from spikeloom.recipes_alpha import TIME_UNIT, mnist_alpha_network

METRIC_KEYS = {"test_accuracy", "train_seconds", "epochs", "task", "method", "seed"}


def test_alpha_recipes_are_registered():
    found = {(r.task, r.method) for r in recipes.all_recipes()}
    assert {("xor", "alpha"), ("digits", "alpha"), ("mnist", "alpha"), ("digits", "ttfs")} <= found
    assert "Comsa" in recipes.get("mnist", "alpha").paper


def test_noisy_xor_reaches_99_percent():
    start = time.perf_counter()
    result = recipes.get("xor", "alpha").run(RecipeArgs(seed=0, progress=False))
    wall = time.perf_counter() - start
    m = result.metrics
    print(f"xor/alpha: {100 * m['test_accuracy']:.1f} % in {wall:.1f} s")
    assert METRIC_KEYS <= set(m)
    assert (m["task"], m["method"], m["seed"], m["epochs"]) == ("xor", "alpha", 0, 100)
    assert m["test_accuracy"] >= 0.99
    assert wall < 20
    json.dumps(m)  # JSON-ready
    net = result.model
    assert isinstance(net, AlphaNetwork) and net.sizes == [2, 4, 2]
    assert all(t >= 0 for layer in net.pulses for t in layer)


def test_digits_alpha_reaches_target():
    """Measured over seeds 0-4 (split and initialisation): 95.3 / 95.5 / 95.5 / 96.1 / 96.4 %, mean 95.8 %
    (96.0 % over seeds 0-9); ~15 s each on one thread.

    Two seeds here; training is deterministic (independent of the thread count), and seed 0's bound is
    one test image (of 359) below its measured 342 / 359.
    """
    accs = []
    start = time.perf_counter()
    for seed in (0, 1):
        m = recipes.get("digits", "alpha").run(RecipeArgs(seed=seed, progress=False)).metrics
        assert METRIC_KEYS <= set(m)
        assert m["epochs"] == 150
        accs.append(m["test_accuracy"])
    wall = time.perf_counter() - start
    print(f"digits/alpha: {[round(100 * a, 1) for a in accs]} % in {wall:.1f} s")
    assert min(accs) >= 0.95
    assert sum(accs) / len(accs) >= 0.953
    assert wall < 90


def test_digits_ttfs_runs():
    result = recipes.get("digits", "ttfs").run(RecipeArgs(epochs=3, seed=1, progress=False))
    m = result.metrics
    assert METRIC_KEYS <= set(m)
    assert (m["task"], m["method"], m["epochs"]) == ("digits", "ttfs", 3)
    assert m["test_accuracy"] > 0.5


def test_mnist_network_is_the_papers():
    net = mnist_alpha_network(seed=0)
    assert net.sizes == [784, 340, 10]
    assert [len(p) for p in net.pulses] == [10, 10]
    assert net.pulses[0] == pytest.approx([TIME_UNIT * (p + 1) / 11 for p in range(10)])
    assert net.neuron.decay_rate == pytest.approx(0.18176949150701854, rel=1e-15)
    assert net.neuron.v_th == 1.1673205005788956
    assert net.encoder.t_scale == TIME_UNIT
