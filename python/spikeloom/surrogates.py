"""Surrogate derivatives of the spike function for BPTT.

A spike is ``z = H(v)`` with ``v = u - theta`` the distance to threshold, in the model's voltage unit
(the same unit as ``threshold``). Widths are in that unit and slopes in its inverse, so changing the
threshold never silently rescales the surrogate. ``scale`` multiplies the whole derivative.

=====================  ===============================================================
``FastSigmoid``        ``scale / (slope |v| + 1)^2`` (SuperSpike; SpyTorch uses slope 100 for theta 1)
``Sigmoid``            ``scale * slope * s (1 - s)``, ``s = logistic(slope v)`` (Masquelier group)
``PiecewiseLinear``    ``scale * max(0, 1 - |v| / width) / width`` (Bellec, e-prop; scale 0.3)
``MultiGaussian``      Yin et al. 2021: ``scale [(1+h) N(v;0,s) - h N(v;s,k s) - h N(v;-s,k s)]``
``Arctan``             ``scale * (slope/2) / (1 + (pi/2 slope v)^2)`` (Fang et al. 2021)
``Exponential``        ``scale * exp(-|v| / width)`` (SLAYER)
``Boxcar``             ``scale`` for ``|v| < width / 2`` (DECOLLE)
``SmoothSigmoid``      not a surrogate: the forward pass emits ``logistic(slope v)`` itself and the
                       backward pass uses its exact derivative (for finite-difference checks)
=====================  ===============================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from . import _validation as v
from .errors import InvalidParameterError


class TrainingConfig:
    """Base of the training configurations that hold a ``surrogate`` (BPTT, DECOLLE, e-prop)."""

    surrogate: Any

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (for logs and JSON)."""
        d = asdict(self)  # type: ignore[call-overload]
        d["surrogate"] = self.surrogate.to_dict()
        return d


@dataclass(frozen=True)
class _Surrogate:
    kind = ""

    def to_dict(self) -> dict[str, Any]:
        """The core's JSON form."""
        return {"kind": self.kind, **asdict(self)}

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if name == "height":
                v.non_negative(f"{type(self).__name__}.{name}", value)
            else:
                v.positive(f"{type(self).__name__}.{name}", value)


@dataclass(frozen=True)
class FastSigmoid(_Surrogate):
    """SuperSpike's fast sigmoid: ``scale / (slope |v| + 1)^2``; ``slope`` in 1/voltage unit."""

    slope: float = 10.0
    scale: float = 1.0
    kind = "fast_sigmoid"


@dataclass(frozen=True)
class Sigmoid(_Surrogate):
    """Derivative of a logistic of steepness ``slope`` (1/voltage unit)."""

    slope: float = 5.0
    scale: float = 1.0
    kind = "sigmoid"


@dataclass(frozen=True)
class PiecewiseLinear(_Surrogate):
    """Bellec's triangle: ``scale * max(0, 1 - |v|/width) / width``; ``width`` in voltage units."""

    width: float = 1.0
    scale: float = 0.3
    kind = "piecewise_linear"


@dataclass(frozen=True)
class MultiGaussian(_Surrogate):
    """Yin et al.'s multi-Gaussian with negative side lobes (their constants are the defaults)."""

    sigma: float = 0.5
    height: float = 0.15
    spread: float = 6.0
    scale: float = 0.5
    kind = "multi_gaussian"


@dataclass(frozen=True)
class Arctan(_Surrogate):
    """Derivative of ``arctan(pi/2 slope v) / pi``, times ``scale``."""

    slope: float = 2.0
    scale: float = 1.0
    kind = "arctan"


@dataclass(frozen=True)
class Exponential(_Surrogate):
    """SLAYER's ``scale * exp(-|v| / width)``."""

    width: float = 0.2
    scale: float = 1.0
    kind = "exponential"


@dataclass(frozen=True)
class Boxcar(_Surrogate):
    """``scale`` inside ``|v| < width/2``, zero outside (DECOLLE's SmoothStep)."""

    width: float = 1.0
    scale: float = 1.0
    kind = "boxcar"


@dataclass(frozen=True)
class SmoothSigmoid(_Surrogate):
    """Graded spikes ``logistic(slope v)`` in the forward pass, exact derivative backwards."""

    slope: float = 4.0
    kind = "smooth_sigmoid"


Surrogate = FastSigmoid | Sigmoid | PiecewiseLinear | MultiGaussian | Arctan | Exponential | Boxcar | SmoothSigmoid
_ALL = (FastSigmoid, Sigmoid, PiecewiseLinear, MultiGaussian, Arctan, Exponential, Boxcar, SmoothSigmoid)


def check(name: str, value: Any) -> _Surrogate:
    """``value`` if it is a surrogate instance, else a clear error."""
    if not isinstance(value, _ALL):
        names = ", ".join(c.__name__ for c in _ALL)
        raise InvalidParameterError(f"{name}: expected a surrogate ({names}), got {value!r}")
    return value


__all__ = [
    "Arctan",
    "Boxcar",
    "Exponential",
    "FastSigmoid",
    "MultiGaussian",
    "PiecewiseLinear",
    "Sigmoid",
    "SmoothSigmoid",
    "Surrogate",
    "check",
]
