"""Argument checks shared by the public API: convert, check, and name the argument on failure."""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import numpy as np

from .errors import DTypeError, InvalidParameterError, NonFiniteError, ShapeError


def _number(value: Any) -> float:
    """``float(value)`` for real numbers only: strings, bytes and bools are mistakes, not numbers."""
    if isinstance(value, str | bytes | bool | np.bool_):
        raise TypeError(type(value).__name__)
    return float(value)


def positive(name: str, value: Any) -> float:
    """A finite float > 0."""
    try:
        v = _number(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name}: expected a number > 0, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise InvalidParameterError(f"{name}: expected a finite number > 0, got {value!r}")
    return v


def non_negative(name: str, value: Any) -> float:
    """A finite float >= 0."""
    try:
        v = _number(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name}: expected a number >= 0, got {value!r}") from None
    if not (math.isfinite(v) and v >= 0):
        raise InvalidParameterError(f"{name}: expected a finite number >= 0, got {value!r}")
    return v


def finite(name: str, value: Any) -> float:
    """A finite float (bools refused)."""
    try:
        v = _number(value)
    except (TypeError, ValueError):
        v = math.nan
    if not math.isfinite(v):
        raise InvalidParameterError(f"{name}: expected a finite number, got {value!r}")
    return v


def probability(name: str, value: Any) -> float:
    """A float in [0, 1]."""
    p = finite(name, value)
    if not 0.0 <= p <= 1.0:
        raise InvalidParameterError(f"{name}: expected a probability in [0, 1], got {value!r}")
    return p


def positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """An integer >= minimum (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidParameterError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise InvalidParameterError(f"{name}: expected an integer >= {minimum}, got {value}")
    return int(value)


MAX_THREADS = 4096


def threads(value: Any, name: str = "threads") -> int:
    """A worker-thread count: an integer in [0, MAX_THREADS] (0 = all cores; bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value <= MAX_THREADS:
        raise InvalidParameterError(f"{name}: expected an integer in [0, {MAX_THREADS}] (0 = all cores), got {value!r}")
    return int(value)


def seed(name: str, value: Any) -> int:
    """A seed: an integer in [0, 2**64)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value < 2**64:
        raise InvalidParameterError(f"{name}: expected an integer in [0, 2**64), got {value!r}")
    return int(value)


def float_matrix(name: str, value: Any, n_cols: int | None = None) -> np.ndarray:
    """A 2-D float64 C-contiguous array (copy only when needed)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiub":
        raise DTypeError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ShapeError(f"{name}: expected a 2-D array (samples, inputs), got shape {arr.shape}")
    if n_cols is not None and arr.shape[1] != n_cols:
        raise ShapeError(f"{name}: expected {n_cols} columns, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def spike_times(name: str, value: Any, n_cols: int | None = None) -> np.ndarray:
    """Spike times in seconds: 2-D, >= 0, +inf allowed (no spike), NaN refused."""
    arr = float_matrix(name, value, n_cols)
    if np.isnan(arr).any():
        idx = tuple(int(i) for i in np.argwhere(np.isnan(arr))[0])
        raise NonFiniteError(f"{name}: expected spike times >= 0 or inf (no spike), got NaN at index {idx}")
    if (arr < 0).any():
        idx = tuple(int(i) for i in np.argwhere(arr < 0)[0])
        raise InvalidParameterError(
            f"{name}: expected spike times >= 0 s or inf (no spike), got {arr[idx]} at index {idx}"
        )
    return arr


def samples(name: str, n: int) -> int:
    """At least one sample to score: an empty evaluation has no accuracy (fit refuses empty data too)."""
    if n == 0:
        raise ShapeError(f"{name}: expected at least one sample, got 0")
    return n


def labels(name: str, value: Any, n_samples: int, n_classes: int) -> np.ndarray:
    """Integer class labels in [0, n_classes), one per sample."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise DTypeError(f"{name}: expected integer class labels, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ShapeError(f"{name}: expected shape ({n_samples},) (one label per sample), got {arr.shape}")
    if n_samples and (arr.min() < 0 or arr.max() >= n_classes):
        bad = int(arr[(arr < 0) | (arr >= n_classes)][0])
        raise InvalidParameterError(f"{name}: expected labels in 0..{n_classes - 1}, got {bad}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def float32_range(params: dict[str, np.ndarray], precision: str) -> None:
    """Refuse parameters a float32 run cannot represent (they would become infinities there)."""
    if precision != "float32":
        return
    big = float(np.finfo(np.float32).max)
    for name, value in params.items():
        worst = float(np.abs(value).max()) if value.size else 0.0
        if worst > big:
            raise InvalidParameterError(
                f"{name}: expected magnitudes up to {big:.3g} for precision='float32', got {worst:.3g} "
                f"(use precision='float64')"
            )


def finite_outputs(named: list[tuple[str, np.ndarray | None]], precision: str) -> None:
    """Raise if a simulation's recorded arrays ``[samples, steps, ...]`` overflowed (inf or NaN)."""
    for what, arr in named:
        if arr is not None and not np.all(np.isfinite(arr)):
            s, t = np.argwhere(~np.isfinite(arr))[0][:2]
            bad = arr[s, t][~np.isfinite(arr[s, t])][0]
            raise NonFiniteError(
                f"x: expected the simulation to stay finite, got {what} = {bad} at sample {s}, step {t} "
                f"(parameters too large for precision={precision!r}?)"
            )


def finite_loss(loss: float, precision: str) -> float:
    """Raise if a loss is NaN or infinite (an overflowed readout)."""
    if not math.isfinite(loss):
        raise NonFiniteError(
            f"x: expected a finite loss, got {loss} (the readout overflowed: parameters too large for "
            f"precision={precision!r}?)"
        )
    return loss


def fits_in_memory(name: str, n_bytes: float, what: str) -> None:
    """Refuse a request whose arrays would take more than half of this machine's memory: such an
    allocation gets the process killed by the kernel (or swaps for hours) instead of failing cleanly."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: no limit known
        return
    if n_bytes > total / 2:
        raise InvalidParameterError(
            f"{name}: expected {what} to fit in memory (at most {total / 2e9:.1f} GB on this machine), "
            f"got {n_bytes / 1e9:.3g} GB"
        )


def step_count(name: str, duration: float, dt: float) -> int:
    """``duration / dt`` rounded, for a duration already checked to be finite and non-negative; refused
    beyond 2^53 steps (counters stop being exact, and no run of that length ends)."""
    q = duration / dt
    if not q <= 2**53:  # also catches an overflow to inf
        raise InvalidParameterError(f"{name}: expected at most 2^53 steps of {dt} s, got {duration} s")
    return int(round(q))


def flags(obj: Any) -> None:
    """Every field of the dataclass ``obj`` declared ``bool`` holds True or False (a number or string
    there is a mistake that would otherwise be read as truthy)."""
    for f in dataclasses.fields(obj):
        if f.type in ("bool", bool):
            value = getattr(obj, f.name)
            if not isinstance(value, bool | np.bool_):
                raise InvalidParameterError(f"{f.name}: expected True or False, got {value!r}")


def betas(name: str, value: Any) -> tuple[float, float]:
    """Two optimiser decay rates in [0, 1)."""
    try:
        b = tuple(float(x) for x in value) if not isinstance(value, str | bytes) else ()
    except (TypeError, ValueError):
        b = ()
    if len(b) != 2 or not all(0.0 <= x < 1.0 for x in b):
        raise InvalidParameterError(f"{name}: expected two values in [0, 1), got {value!r}")
    return b[0], b[1]
