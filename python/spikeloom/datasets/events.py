"""Event streams (tonic-style structured arrays) to dense spike rasters.

An event stream is a 1-D numpy structured array with integer fields ``x`` (and ``y`` for 2-D sensors),
a time field ``t`` in microseconds and optionally a polarity ``p`` -- the layout of the ``tonic``
package (e.g. dtype ``[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")]`` for N-MNIST or
``[("x", "<i2"), ("t", "<i8"), ("p", "<i1")]`` for audio data sets such as SHD).

Binning (see :func:`events_to_raster`): step ``floor(t_us * 1e-6 / dt)``; spatial channel ``x`` for 1-D
sensors, ``y * width + x`` for 2-D ones; with ``polarity="split"`` ON events (``p > 0``) use channels
``width * height + spatial channel`` and OFF events (``p <= 0``) the spatial channel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import _validation as v
from ..errors import DTypeError, InvalidParameterError, NonFiniteError, ShapeError, UnknownNameError
from .base import steps_of

POLARITIES = ("merge", "split")


def _field(events: np.ndarray, name: str, kinds: str, what: str) -> np.ndarray:
    arr = events[name]
    if arr.dtype.kind not in kinds:
        raise DTypeError(f"events: expected field {name!r} to hold {what}, got dtype {arr.dtype}")
    return arr


def _coordinate(events: np.ndarray, name: str, size: int, size_name: str) -> np.ndarray:
    arr = _field(events, name, "iu", "integer coordinates").astype(np.int64)
    bad = np.flatnonzero((arr < 0) | (arr >= size))
    if bad.size:
        i = int(bad[0])
        raise InvalidParameterError(
            f"events: expected field {name!r} in [0, {size}) ({size_name} = {size}), got {int(arr[i])} at event {i}"
        )
    return arr


def events_to_raster(
    events: np.ndarray,
    n_channels: int | None = None,
    sensor_size: Sequence[int] | None = None,
    dt: float = 1e-3,
    n_steps: int | None = None,
    duration: float | None = None,
    polarity: str = "merge",
    counts: bool = False,
) -> np.ndarray:
    """Bin one event stream into a raster ``[n_steps, n_channels_out]``.

    Args:
        events: 1-D structured array with integer fields ``x`` (required) and ``y`` (optional, 2-D
            sensors), a numeric field ``t`` (required, microseconds, >= 0) and ``p`` (polarity; needed
            only for ``polarity="split"``; ``p > 0`` is ON, anything else OFF: bool, 0/1 and -1/+1 all work).
        n_channels: number of channels of a 1-D sensor (``x`` in ``[0, n_channels)``); with 2-D events use
            ``sensor_size`` instead. If given together with ``sensor_size`` it must equal ``width * height``.
        sensor_size: tonic-style ``(width,)``, ``(width, height)`` or ``(width, height, n_polarities)``
            (the polarity entry is ignored). If neither this nor ``n_channels`` is given, width and height
            are inferred as ``max + 1`` of this stream's coordinates -- pass the sensor size when converting
            a data set, so that every sample gets the same channels.
        dt: seconds per step (> 0).
        n_steps: number of steps; events in later steps are dropped.
        duration: alternative to ``n_steps``, seconds: ``n_steps = ceil(duration / dt)`` and events with
            ``t >= duration`` are dropped. If neither is given, ``n_steps`` = last event's step + 1.
        polarity: "merge" (ignore ``p``) or "split" (doubles the channels: OFF events in the first half,
            ON events in the second half).
        counts: return int32 event counts per (step, channel) instead of a bool raster.

    Binning: event time ``t`` (µs) lands in step ``floor(t * 1e-6 / dt)``, i.e. step ``k`` covers
    ``[k dt, (k + 1) dt)``; an event exactly on an edge ``k dt`` goes to step ``k`` (quotients within
    1e-9 of an integer are snapped to it, so binary rounding of ``dt`` does not move edge events).

    Returns:
        bool (or int32 with ``counts``) array ``[n_steps, C]`` with ``C = width * height`` (x 2 when split);
        channel ``x`` (1-D) or ``y * width + x`` (2-D), plus ``width * height`` for ON events when split.
    """
    events = np.asarray(events)
    names = events.dtype.names
    if names is None:
        raise DTypeError(
            f"events: expected a structured array with fields x, t (and optional y, p), got dtype {events.dtype}"
        )
    if events.ndim != 1:
        raise ShapeError(f"events: expected a 1-D array of events, got shape {events.shape}")
    for required in ("x", "t"):
        if required not in names:
            raise DTypeError(f"events: expected a field {required!r}, got fields {list(names)}")
    if polarity not in POLARITIES:
        raise UnknownNameError(f"polarity: expected one of {list(POLARITIES)}, got {polarity!r}")
    if polarity == "split" and "p" not in names:
        raise DTypeError(f"events: polarity='split' needs a field 'p', got fields {list(names)}")
    if not isinstance(counts, bool | np.bool_):
        raise InvalidParameterError(f"counts: expected True or False, got {counts!r}")
    dt = v.positive("dt", dt)
    has_y = "y" in names

    # sensor geometry
    if sensor_size is not None:
        if isinstance(sensor_size, str | bytes) or not isinstance(sensor_size, Sequence | np.ndarray):
            raise InvalidParameterError(
                f"sensor_size: expected (width,), (width, height) or (width, height, p), got {sensor_size!r}"
            )
        if not 1 <= len(sensor_size) <= 3:
            raise InvalidParameterError(
                f"sensor_size: expected (width,), (width, height) or (width, height, p), got {tuple(sensor_size)!r}"
            )
        width = v.positive_int("sensor_size[0] (width)", sensor_size[0])
        height = v.positive_int("sensor_size[1] (height)", sensor_size[1]) if len(sensor_size) > 1 else 1
        if n_channels is not None and v.positive_int("n_channels", n_channels) != width * height:
            raise InvalidParameterError(
                f"n_channels: expected width * height = {width * height} of sensor_size {tuple(sensor_size)!r}, "
                f"got {n_channels}"
            )
    elif n_channels is not None:
        width, height = v.positive_int("n_channels", n_channels), 1
        if has_y:
            raise InvalidParameterError(
                f"sensor_size: required for events with a 'y' field (2-D sensor) to know the width, got None "
                f"(with n_channels = {n_channels})"
            )
    else:
        x_all = _field(events, "x", "iu", "integer coordinates")
        width = int(x_all.max()) + 1 if len(events) else 0
        height = int(_field(events, "y", "iu", "integer coordinates").max()) + 1 if has_y and len(events) else 1
        width, height = max(width, 0), max(height, 1)
    x = _coordinate(events, "x", width, "width")
    channel = x
    if has_y:
        channel = _coordinate(events, "y", height, "height") * width + x
    n_spatial = width * height

    if polarity == "split":
        p = _field(events, "p", "biuf", "polarities")
        channel = channel + n_spatial * (p > 0)
        n_out = 2 * n_spatial
    else:
        n_out = n_spatial

    t = _field(events, "t", "iuf", "times in microseconds").astype(np.float64)
    if not np.isfinite(t).all():
        i = int(np.flatnonzero(~np.isfinite(t))[0])
        raise NonFiniteError(f"events: expected finite times in field 't', got {t[i]} at event {i}")
    if (t < 0).any():
        i = int(np.flatnonzero(t < 0)[0])
        raise InvalidParameterError(f"events: expected times >= 0 µs in field 't', got {t[i]} at event {i}")
    step = steps_of(t / (dt * 1e6))

    keep = np.ones(len(events), dtype=bool)
    if n_steps is not None and duration is not None:
        raise InvalidParameterError(
            f"n_steps, duration: expected at most one of them, got {n_steps!r} and {duration!r}"
        )
    if n_steps is not None:
        n_steps = v.positive_int("n_steps", n_steps, 0)
    elif duration is not None:
        duration = v.positive("duration", duration)
        n_steps = int(-steps_of(-duration / dt))  # ceil, with edge snapping
        keep &= t < duration * 1e6
    else:
        n_steps = int(step.max()) + 1 if len(events) else 0
    keep &= step < n_steps

    raster = np.zeros((n_steps, n_out), dtype=np.int32 if counts else bool)
    if counts:
        np.add.at(raster, (step[keep], channel[keep]), 1)
    else:
        raster[step[keep], channel[keep]] = True
    return raster
