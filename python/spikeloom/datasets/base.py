"""Containers for labelled data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    """One labelled split: ``x`` (samples, features or spike times) and integer labels ``y``."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def encode(self, encoder: Callable[[np.ndarray], np.ndarray]) -> Split:
        """The same split with ``x`` passed through an encoder (e.g. features -> spike times)."""
        return Split(encoder(self.x), self.y)

    def __repr__(self) -> str:
        return f"Split(n={len(self)}, x.shape={self.x.shape}, classes={np.unique(self.y).tolist()})"


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test splits of one task."""

    name: str
    train: Split
    validation: Split
    test: Split
    n_classes: int


@dataclass(frozen=True)
class SequenceDataset(Dataset):
    """Train / validation / test splits of a sequence task.

    Each split's ``x`` is a dense array of shape ``[n_samples, n_steps, n_channels]``: dtype bool for
    spike rasters (``x[s, t, c]`` = channel ``c`` spikes in step ``t`` of sample ``s``), float32 for
    real-valued inputs; ``y`` holds int64 labels.

    Attributes:
        dt: duration of one step, seconds.
        loss_steps: int64 indices of the steps at which the task's loss and prediction are evaluated
            (e.g. the recall window of evidence accumulation); ``None`` when the task does not fix them.
    """

    dt: float
    loss_steps: np.ndarray | None = None

    @property
    def n_steps(self) -> int:
        """Number of time steps per sample."""
        return int(self.train.x.shape[1])

    @property
    def n_channels(self) -> int:
        """Number of input channels."""
        return int(self.train.x.shape[2])


# Quotients t / dt closer than this (in units of one step) to an integer are snapped to it before
# flooring, so that a time written as an exact bin edge (e.g. 0.012 s with dt = 4 ms) lands in the bin
# that starts at that edge despite binary floating-point rounding.
EDGE_TOLERANCE = 1e-9


def steps_of(quotient: np.ndarray) -> np.ndarray:
    """``floor(quotient)`` as int64, with quotients within ``EDGE_TOLERANCE`` of an integer snapped to it."""
    q = np.asarray(quotient, dtype=np.float64)
    nearest = np.round(q)
    q = np.where(np.abs(q - nearest) <= EDGE_TOLERANCE, nearest, q)
    return np.floor(q).astype(np.int64)


def check_fractions(validation_fraction: float, test_fraction: float) -> tuple[float, float]:
    """Validation and test fractions, each in [0, 1) and together < 1."""
    from ..errors import InvalidParameterError

    out = []
    for name, f in (("validation_fraction", validation_fraction), ("test_fraction", test_fraction)):
        if isinstance(f, bool) or not isinstance(f, int | float | np.integer | np.floating) or not 0.0 <= f < 1.0:
            raise InvalidParameterError(f"{name}: expected a fraction in [0, 1), got {f!r}")
        out.append(float(f))
    if out[0] + out[1] >= 1.0:
        raise InvalidParameterError(
            f"validation_fraction + test_fraction: expected a sum < 1 (some training data left), "
            f"got {out[0]} + {out[1]}"
        )
    return out[0], out[1]


def stratified_indices(
    y: np.ndarray, rng: np.random.Generator, validation_fraction: float, test_fraction: float
) -> dict[str, np.ndarray]:
    """Shuffled, class-stratified index sets ``train`` / ``validation`` / ``test`` (same rule as ``digits``).

    For each class (in increasing label order) its indices are permuted; the first
    ``round(test_fraction * n_class)`` go to test, the next ``round(validation_fraction * n_class)`` to
    validation, the rest to train. Each split is then permuted once more.
    """
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(test_fraction * len(idx)))
        n_val = int(round(validation_fraction * len(idx)))
        parts["test"].append(idx[:n_test])
        parts["validation"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    return {k: rng.permutation(np.concatenate(p)) if p else np.zeros(0, dtype=np.int64) for k, p in parts.items()}


def steps_for(name: str, seconds: float, dt: float) -> int:
    """``seconds / dt`` as an integer number of steps; ``seconds`` must be a multiple of ``dt``."""
    from ..errors import InvalidParameterError

    q = seconds / dt
    k = int(round(q))
    if abs(q - k) > 1e-6:
        raise InvalidParameterError(f"{name}: expected a multiple of dt = {dt} s, got {seconds} s ({q:.6g} steps)")
    return k
