"""The Yin-Yang dataset (Kriener, Göltz & Petrovici 2021), generated offline.

Reproduces the published generator (lkriener/yin_yang_data_set, MIT licence; logic re-implemented
here): for each sample a goal class is drawn with ``RandomState.randint(3)``, then points
``rand(2) * 2 r_big`` are rejection-sampled until they fall inside the big circle and in the goal
class. Features are ``(x, y, 1 - x, 1 - y)``. The standard splits use seeds 42 (train, 5000),
41 (validation, 1000) and 40 (test, 1000). Integer labels: 0 and 1 for the two halves, 2 for the dots
(the reference's ``class_names`` order is ``['yin', 'yang', 'dot']``; the integer logic is what counts).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _validation as v
from .base import Dataset, Split

CLASS_NAMES = ("yin", "yang", "dot")


def _which_class(x: float, y: float, r_small: float, r_big: float) -> int:
    d_right = math.sqrt((x - 1.5 * r_big) ** 2 + (y - r_big) ** 2)
    d_left = math.sqrt((x - 0.5 * r_big) ** 2 + (y - r_big) ** 2)
    if d_right < r_small or d_left < r_small:
        return 2
    is_yin = d_right <= r_small or (r_small < d_left <= 0.5 * r_big) or (y > r_big and d_right > 0.5 * r_big)
    return int(is_yin)


def yin_yang_split(size: int, seed: int, r_small: float = 0.1, r_big: float = 0.5) -> Split:
    """``size`` samples generated with ``numpy.random.RandomState(seed)``, exactly as published.

    Returns a :class:`Split` with ``x`` of shape (size, 4) in [0, 1] and labels in {0, 1, 2}.
    """
    size = v.positive_int("size", size)
    rng = np.random.RandomState(v.seed("seed", seed) % 2**32)
    xs = np.empty((size, 4))
    ys = np.empty(size, dtype=np.int64)
    for i in range(size):
        goal = rng.randint(3)
        while True:
            x, y = rng.rand(2) * 2.0 * r_big
            if math.sqrt((x - r_big) ** 2 + (y - r_big) ** 2) > r_big:
                continue
            c = _which_class(x, y, r_small, r_big)
            if c == goal:
                break
        xs[i] = (x, y, 1.0 - x, 1.0 - y)
        ys[i] = c
    return Split(xs, ys)


def yin_yang(
    train_size: int = 5000,
    validation_size: int = 1000,
    test_size: int = 1000,
    seeds: tuple[int, int, int] = (42, 41, 40),
) -> Dataset:
    """The standard Yin-Yang splits (train 5000 / validation 1000 / test 1000, seeds 42 / 41 / 40)."""
    return Dataset(
        name="yinyang",
        train=yin_yang_split(train_size, seeds[0]),
        validation=yin_yang_split(validation_size, seeds[1]),
        test=yin_yang_split(test_size, seeds[2]),
        n_classes=3,
    )
