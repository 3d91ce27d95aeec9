"""Encoders from feature values to input spike times (seconds)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from . import _validation as v
from .errors import InvalidParameterError


@dataclass(frozen=True)
class LinearLatency:
    """Linear latency code of Göltz et al. (2021): ``t = t_early + x (t_late - t_early)`` for ``x`` in [0, 1].

    Args:
        t_early: spike time of ``x = 0``, seconds.
        t_late: spike time of ``x = 1``, seconds.
        invert: map ``x`` to ``1 - x`` first (bright pixels early).
    """

    t_early: float
    t_late: float
    invert: bool = False

    def __post_init__(self) -> None:
        v.non_negative("t_early", self.t_early)
        v.non_negative("t_late", self.t_late)

    @classmethod
    def goltz(cls, tau_syn: float, invert: bool = False) -> LinearLatency:
        """The paper's values: t_early = 0.15 tau_syn, t_late = 2.0 tau_syn."""
        tau = v.positive("tau_syn", tau_syn)
        return cls(0.15 * tau, 2.0 * tau, invert)

    def __call__(self, x: Any) -> np.ndarray:
        """Encode features ``x`` (2-D, values in [0, 1]) into spike times, seconds."""
        arr = v.float_matrix("x", x)
        if np.isnan(arr).any() or (arr < 0).any() or (arr > 1).any():
            bad = arr[np.isnan(arr) | (arr < 0) | (arr > 1)][0]
            raise InvalidParameterError(f"x: expected feature values in [0, 1], got {bad}")
        if self.invert:
            arr = 1.0 - arr
        return self.t_early + arr * (self.t_late - self.t_early)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (stored with saved networks)."""
        return {"type": "LinearLatency", **asdict(self)}


@dataclass(frozen=True)
class ComsaLatency:
    """Latency code of Comsa et al. (2020): ``t = (1 - x) t_scale``; ``x = 0`` (a black pixel) never spikes.

    Brighter features spike earlier; ``x = 1`` spikes at 0. With pixels scaled by 1/256 (as the
    reference's MNIST loader and :func:`spikeloom.datasets.mnist`), no pixel spikes at exactly 0.

    Args:
        t_scale: spike time of ``x -> 0``, seconds (the paper's input range [0, 1] in its time unit).
    """

    t_scale: float

    def __post_init__(self) -> None:
        v.positive("t_scale", self.t_scale)

    def __call__(self, x: Any) -> np.ndarray:
        """Encode features ``x`` (2-D, values in [0, 1]) into spike times, seconds (``inf`` for ``x = 0``)."""
        arr = v.float_matrix("x", x)
        if np.isnan(arr).any() or (arr < 0).any() or (arr > 1).any():
            bad = arr[np.isnan(arr) | (arr < 0) | (arr > 1)][0]
            raise InvalidParameterError(f"x: expected feature values in [0, 1], got {bad}")
        t = (1.0 - arr) * self.t_scale
        t[arr == 0] = np.inf
        return t

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (stored with saved networks)."""
        return {"type": "ComsaLatency", **asdict(self)}


def encoder_from_dict(d: dict[str, Any] | None) -> LinearLatency | ComsaLatency | None:
    """Rebuild an encoder stored by ``to_dict``."""
    if d is None:
        return None
    if not isinstance(d, dict):
        raise InvalidParameterError(f"encoder: expected a dict describing an encoder, got {type(d).__name__}")
    kind = d.get("type")
    if kind == "LinearLatency":
        return LinearLatency(float(d["t_early"]), float(d["t_late"]), bool(d.get("invert", False)))
    if kind == "ComsaLatency":
        return ComsaLatency(float(d["t_scale"]))
    raise InvalidParameterError(
        f"encoder: expected a known encoder type ('LinearLatency', 'ComsaLatency'), got {kind!r}"
    )
