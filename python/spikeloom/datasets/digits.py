"""scikit-learn's 8x8 handwritten digits (1797 samples, offline), scaled to [0, 1]."""

from __future__ import annotations

import numpy as np

from .. import _validation as v
from ..errors import SpikeloomError
from .base import Dataset, Split


class MissingDatasetError(SpikeloomError, FileNotFoundError):
    """A dataset package or file is not installed; the message says how to install it."""


def digits(seed: int = 0, validation_fraction: float = 0.1, test_fraction: float = 0.2) -> Dataset:
    """The 8x8 digits of ``sklearn.datasets.load_digits``; pixel values 0..16 divided by 16.

    The 1797 samples are shuffled with ``seed`` and split stratified by class into test
    (``test_fraction``), validation (``validation_fraction``) and train (the rest: 1259 / 179 / 359
    with the defaults).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise MissingDatasetError(
            "digits: scikit-learn is not installed; install it with `pip install scikit-learn`"
        ) from None
    for name, f in (("validation_fraction", validation_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= f < 1.0:
            from ..errors import InvalidParameterError

            raise InvalidParameterError(f"{name}: expected a fraction in [0, 1), got {f!r}")
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    y = y.astype(np.int64)
    rng = np.random.default_rng(v.seed("seed", seed))
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(test_fraction * len(idx)))
        n_val = int(round(validation_fraction * len(idx)))
        parts["test"].append(idx[:n_test])
        parts["validation"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    splits = {k: rng.permutation(np.concatenate(p)) for k, p in parts.items()}
    return Dataset(
        name="digits",
        train=Split(x[splits["train"]], y[splits["train"]]),
        validation=Split(x[splits["validation"]], y[splits["validation"]]),
        test=Split(x[splits["test"]], y[splits["test"]]),
        n_classes=10,
    )
