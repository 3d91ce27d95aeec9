"""Plot helpers (matplotlib, an optional dependency: ``pip install spikeloom[plot]``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .datasets.digits import MissingDatasetError
from .errors import InvalidParameterError, ShapeError


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDatasetError(
            "plot: matplotlib is not installed; install it with `pip install matplotlib` (or spikeloom[plot])"
        ) from None
    return plt


def spike_events(
    data: Any, *, layer: int = 0, sample: int = 0, dt: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(times in s, neuron indices) of the spikes in ``data``: a :class:`~spikeloom.Recording` (one
    ``layer`` and ``sample``), a :class:`~spikeloom.sim.SimResult`, or a raster ``[steps, neurons]``
    (``dt`` seconds per step, default 1 ms)."""
    from .recurrent import Recording
    from .sim import SimResult

    if isinstance(data, SimResult):
        return np.asarray(data.spike_times), np.asarray(data.spike_ids)
    if isinstance(data, Recording):
        if not 0 <= layer < len(data.spikes):
            raise InvalidParameterError(f"layer: expected 0..{len(data.spikes) - 1}, got {layer}")
        spikes = data.spikes[layer]
        if not 0 <= sample < spikes.shape[0]:
            raise InvalidParameterError(f"sample: expected 0..{spikes.shape[0] - 1}, got {sample}")
        raster, step = spikes[sample], data.dt
    else:
        raster = np.asarray(data)
        if raster.ndim != 2:
            raise ShapeError(f"data: expected a raster [steps, neurons], got shape {raster.shape}")
        step = 1e-3 if dt is None else float(dt)
    t, i = np.nonzero(raster)
    return (t + 1) * step, i


def raster(
    data: Any, *, layer: int = 0, sample: int = 0, dt: float | None = None, ax: Any = None, **scatter: Any
) -> Any:
    """A spike raster (time in ms against neuron index) of ``data`` (see :func:`spike_events`); returns the
    matplotlib Axes. Extra keyword arguments go to ``Axes.scatter``."""
    plt = _pyplot()
    times, ids = spike_events(data, layer=layer, sample=sample, dt=dt)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3))
    scatter.setdefault("s", 2)
    scatter.setdefault("c", "k")
    scatter.setdefault("marker", "|")
    ax.scatter(times * 1e3, ids, **scatter)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron")
    return ax


__all__ = ["raster", "spike_events"]
