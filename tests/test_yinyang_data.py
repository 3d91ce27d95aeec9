"""The Yin-Yang dataset: sizes, feature structure, balance, determinism, and the class geometry
re-derived from (x, y) with an independent implementation of the published rule."""

from __future__ import annotations

import numpy as np
import pytest
import spikeloom as sl

R_SMALL, R_BIG = 0.1, 0.5


def reference_class(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kriener et al.'s rule, vectorised: 2 = dots, 1 = 'yin' (as the published integer logic), 0 otherwise."""
    d_right = np.hypot(x - 0.75, y - 0.5)
    d_left = np.hypot(x - 0.25, y - 0.5)
    dot = (d_right < R_SMALL) | (d_left < R_SMALL)
    one = (d_right <= R_SMALL) | ((d_left > R_SMALL) & (d_left <= 0.25)) | ((y > 0.5) & (d_right > 0.25))
    return np.where(dot, 2, np.where(one, 1, 0))


def test_standard_split_sizes(yinyang):
    assert yinyang.name == "yinyang"
    assert yinyang.n_classes == 3
    assert (len(yinyang.train), len(yinyang.validation), len(yinyang.test)) == (5000, 1000, 1000)
    for split in (yinyang.train, yinyang.validation, yinyang.test):
        assert split.x.shape == (len(split), 4) and split.x.dtype == np.float64
        assert split.y.shape == (len(split),) and split.y.dtype.kind == "i"


@pytest.mark.parametrize("name", ["train", "validation", "test"])
def test_features_and_labels(yinyang, name):
    split = getattr(yinyang, name)
    x = split.x
    assert set(np.unique(split.y).tolist()) == {0, 1, 2}
    assert np.all((x >= 0) & (x <= 1))
    # (x, y, 1 - x, 1 - y)
    np.testing.assert_allclose(x[:, 0] + x[:, 2], 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(x[:, 1] + x[:, 3], 1.0, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(x[:, 2], 1.0 - x[:, 0])
    np.testing.assert_array_equal(x[:, 3], 1.0 - x[:, 1])
    # Inside the big circle.
    assert np.all(np.hypot(x[:, 0] - R_BIG, x[:, 1] - R_BIG) <= R_BIG)
    # Balanced: the goal class is drawn uniformly.
    frac = np.bincount(split.y, minlength=3) / len(split)
    assert np.all(np.abs(frac - 1 / 3) < 0.05), frac


@pytest.mark.parametrize("name", ["train", "validation", "test"])
def test_class_geometry(yinyang, name):
    split = getattr(yinyang, name)
    np.testing.assert_array_equal(split.y, reference_class(split.x[:, 0], split.x[:, 1]))


def test_geometry_of_known_points():
    """The rule itself, on points whose class is clear from the picture."""
    pts = {
        (0.25, 0.5): 2,  # left dot centre
        (0.75, 0.5): 2,  # right dot centre
        (0.25, 0.65): 1,  # ring around the left dot
        (0.75, 0.35): 0,  # ring around the right dot
        (0.5, 0.95): 1,  # top
        (0.5, 0.05): 0,  # bottom
    }
    xy = np.array(list(pts))
    np.testing.assert_array_equal(reference_class(xy[:, 0], xy[:, 1]), list(pts.values()))


def test_seed_determinism():
    a = sl.datasets.yin_yang_split(300, seed=7)
    b = sl.datasets.yin_yang_split(300, seed=7)
    c = sl.datasets.yin_yang_split(300, seed=8)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)
    # A shorter split is a prefix of a longer one (samples are drawn one after another).
    short = sl.datasets.yin_yang_split(100, seed=7)
    np.testing.assert_array_equal(short.x, a.x[:100])
    np.testing.assert_array_equal(reference_class(c.x[:, 0], c.x[:, 1]), c.y)


def test_standard_splits_use_distinct_seeds(yinyang):
    np.testing.assert_array_equal(yinyang.test.x, sl.datasets.yin_yang_split(1000, 40).x)
    np.testing.assert_array_equal(yinyang.validation.x, sl.datasets.yin_yang_split(1000, 41).x)
    np.testing.assert_array_equal(yinyang.train.x[:1000], sl.datasets.yin_yang_split(1000, 42).x)
    assert not np.array_equal(yinyang.validation.x, yinyang.test.x)
    # No sample is shared between train and test.
    train = {tuple(r) for r in yinyang.train.x[:, :2].tolist()}
    assert not any(tuple(r) in train for r in yinyang.test.x[:, :2].tolist())


def test_published_generator_first_samples():
    """The published generator: goal = randint(3), then rand(2) * 2 r_big until inside the circle and class."""
    rng = np.random.RandomState(40)
    expected = []
    while len(expected) < 25:
        goal = rng.randint(3)
        while True:
            x, y = rng.rand(2) * 2 * R_BIG
            if np.hypot(x - R_BIG, y - R_BIG) > R_BIG:
                continue
            if reference_class(np.array([x]), np.array([y]))[0] == goal:
                break
        expected.append((x, y, goal))
    got = sl.datasets.yin_yang_split(25, seed=40)
    np.testing.assert_array_equal(got.x[:, :2], np.array([e[:2] for e in expected]))
    np.testing.assert_array_equal(got.y, [e[2] for e in expected])


def test_encoding_with_goltz_latency(yinyang):
    enc = sl.LinearLatency.goltz(5e-3)
    t = yinyang.test.encode(enc).x
    np.testing.assert_allclose(t, 0.15 * 5e-3 + yinyang.test.x * (2.0 - 0.15) * 5e-3, rtol=1e-15)
    assert np.all((t >= 0.15 * 5e-3 - 1e-18) & (t <= 2.0 * 5e-3 + 1e-18))
    inv = sl.LinearLatency.goltz(5e-3, invert=True)(yinyang.test.x)
    np.testing.assert_allclose(inv, 0.15 * 5e-3 + (1 - yinyang.test.x) * (2.0 - 0.15) * 5e-3, rtol=1e-15)
