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
