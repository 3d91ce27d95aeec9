"""Rate-based BurstProp: agreement with backprop in the small-error / symmetric limit, learning on digits,
learned feedback aligning with the forward weights."""

from __future__ import annotations

import numpy as np
import pytest
from spikeloom.burstprop import BurstPropConfig, BurstPropNetwork
from spikeloom.datasets import digits
from spikeloom.errors import InvalidParameterError, ShapeError


@pytest.fixture(scope="module")
def data():
    return digits(seed=0)


def test_updates_equal_backprop_gradient_in_the_linear_symmetric_limit(data):
    net = BurstPropNetwork([64, 40, 30, 10], feedback="symmetric", seed=1)
    x = data.train.x[:64]
    e = net.forward(x)[-1]
    g = np.random.default_rng(0).normal(size=e.shape)
    errs = []
    for eps in (1e-2, 1e-3, 1e-4):
        y = e + eps * g
        bp, _ = net.updates(x, y)
        exact, _ = net.backprop_updates(x, y)
        errs.append(max(np.linalg.norm(a - b) / np.linalg.norm(b) for a, b in zip(bp, exact, strict=True)))
    # first-order agreement: the relative deviation shrinks with the error amplitude
    assert errs[-1] < 1e-5
    assert errs[0] / errs[1] > 5 and errs[1] / errs[2] > 5
    # with a large error the sigmoid bounds the burst probabilities: still a descent direction
    y = np.eye(10)[data.train.y[:64]]
    bp, _ = net.updates(x, y)
    exact, _ = net.backprop_updates(x, y)
    for a, b in zip(bp, exact, strict=True):
        assert np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.8


def test_burstprop_learns_digits(data):
    net = BurstPropNetwork([64, 100, 10], seed=0)
    res = net.fit(data.train.x, data.train.y, BurstPropConfig(epochs=30), progress=False)
    assert res.history[-1]["train_accuracy"] > 0.93
    assert net.accuracy(data.test.x, data.test.y) > 0.9


def test_learned_feedback_aligns_and_learns(data):
    net = BurstPropNetwork([64, 100, 10], feedback="learned", seed=0)
    angle0 = net.feedback_angle()
    res = net.fit(data.train.x, data.train.y, BurstPropConfig(epochs=25, weight_decay=1e-3), progress=False)
    assert angle0 > 80
    assert res.history[-1]["feedback_angle_deg"] < 0.5 * angle0
    assert net.accuracy(data.test.x, data.test.y) > 0.8


def test_bad_arguments():
    with pytest.raises(InvalidParameterError, match="feedback"):
        BurstPropNetwork([4, 3], feedback="random")
    with pytest.raises(InvalidParameterError, match="sizes"):
        BurstPropNetwork([4])
    net = BurstPropNetwork([4, 3])
    with pytest.raises(ShapeError, match="x"):
        net.fit(np.zeros((5, 3)), np.zeros(5, dtype=int))
    with pytest.raises(InvalidParameterError, match="y"):
        net.fit(np.zeros((5, 4)), np.full(5, 7))


def test_recipes_are_registered():
    from spikeloom import recipes

    r = recipes.get("digits", "burstprop").run(recipes.RecipeArgs(epochs=1, progress=False))
    assert r.metrics["epochs"] == 1 and 0.0 <= r.metrics["test_accuracy"] <= 1.0
    assert recipes.get("mnist", "burstprop").method == "burstprop"
    assert recipes.get("xor", "burst").method == "burst"
