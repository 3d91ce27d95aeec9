"""Spiking Heidelberg Digits (SHD, Cramer et al. 2020) read from its HDF5 files and binned into rasters.

The data set is not bundled: download ``shd_train.h5.gz`` and ``shd_test.h5.gz`` (compneuro.net, the
Zenke lab's data set page) and ``gunzip`` them. Each file holds

- ``spikes/times``: one variable-length array per sample, spike times in seconds;
- ``spikes/units``: one variable-length array per sample, the matching channel (0..699);
- ``labels``: one integer class per sample (0..19);
- optionally ``extra/keys``: the class names (their number is used as ``n_classes`` when present).

Reading needs ``h5py`` (``pip install h5py``). The 700 channels are kept; the rasters are dense bool
``[n, n_steps, 700]`` -- with the defaults ``n_steps = 250``, 175 kB per sample (1.4 GB for the 8156
training samples).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validation as v
from ..errors import FileFormatError, InvalidParameterError
from .base import SequenceDataset, Split, check_fractions, steps_of, stratified_indices
from .digits import MissingDatasetError

N_CHANNELS = 700
_DOWNLOAD_HINT = "download shd_train.h5.gz / shd_test.h5.gz (Cramer et al. 2020, compneuro.net) and gunzip them"


def _files(path: Any) -> tuple[Path, Path]:
    if isinstance(path, str | os.PathLike):
        directory = Path(path)
        if not directory.is_dir():
            raise MissingDatasetError(
                f"path: expected a directory holding shd_train.h5 and shd_test.h5, got {directory} "
                f"(not a directory); {_DOWNLOAD_HINT}"
            )
        return directory / "shd_train.h5", directory / "shd_test.h5"
    if isinstance(path, Sequence) and len(path) == 2 and all(isinstance(p, str | os.PathLike) for p in path):
        return Path(path[0]), Path(path[1])
    raise InvalidParameterError(f"path: expected a directory or a pair (train_file, test_file) of paths, got {path!r}")


def _read(file: Path) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, int | None]:
    """(times per sample, units per sample, labels, number of class names or None) of one SHD file."""
    try:
        import h5py
    except ImportError:
        raise MissingDatasetError("shd: h5py is not installed; install it with `pip install h5py`") from None
    if not file.is_file():
        gz = file.with_name(file.name + ".gz")
        hint = f"found {gz}: gunzip it" if gz.is_file() else _DOWNLOAD_HINT
        raise MissingDatasetError(f"{file}: file not found; {hint}")
    try:
        with h5py.File(file, "r") as f:
            times = [np.asarray(t, dtype=np.float64) for t in f["spikes"]["times"][()]]
            units = [np.asarray(u) for u in f["spikes"]["units"][()]]
            labels = np.asarray(f["labels"][()])
            n_keys = len(f["extra"]["keys"]) if "extra" in f and "keys" in f["extra"] else None
    except (OSError, KeyError, TypeError, ValueError) as e:
        raise FileFormatError(
            f"{file}: not an SHD HDF5 file with spikes/times, spikes/units and labels ({e})"
        ) from None
    if not (len(times) == len(units) == len(labels)) or labels.ndim != 1:
        raise FileFormatError(
            f"{file}: expected one times array, one units array and one label per sample, got "
            f"{len(times)}, {len(units)} and labels of shape {labels.shape}"
        )
    if labels.dtype.kind not in "iu" or (len(labels) and labels.min() < 0):
        raise FileFormatError(f"{file}: expected non-negative integer labels, got dtype {labels.dtype}")
    for i, (t, u) in enumerate(zip(times, units, strict=True)):
        if t.shape != u.shape or t.ndim != 1:
            raise FileFormatError(f"{file}: sample {i}: expected as many times as units, got {t.shape} and {u.shape}")
        if u.dtype.kind not in "iu" or (u.size and (u.min() < 0 or u.max() >= N_CHANNELS)):
            raise FileFormatError(
                f"{file}: sample {i}: expected units in 0..{N_CHANNELS - 1}, got dtype {u.dtype}, "
                f"range {u.min() if u.size else None}..{u.max() if u.size else None}"
            )
        if t.size and not (np.isfinite(t).all() and t.min() >= 0):
            raise FileFormatError(f"{file}: sample {i}: expected finite spike times >= 0 s")
    return times, units, labels.astype(np.int64), n_keys


def bin_spikes(
    times: np.ndarray, units: np.ndarray, dt: float, n_steps: int, duration: float, yin_quirk: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(step, channel) of each kept spike of one sample; see :func:`shd` for the rule."""
    t = np.asarray(times, dtype=np.float64)
    u = np.asarray(units).astype(np.int64)
    if yin_quirk:
        step = -steps_of(-t / dt)  # first i with t <= i * dt, i.e. ceil(t / dt)
        keep = (step < n_steps) & (u > 0)
        return step[keep], N_CHANNELS - u[keep]
    step = steps_of(t / dt)
    keep = (t < duration) & (step < n_steps)
    return step[keep], u[keep]


def shd(
    path: str | os.PathLike[str] | tuple[str | os.PathLike[str], str | os.PathLike[str]],
    dt: float = 4e-3,
    duration: float = 1.0,
    validation_fraction: float = 0.1,
    seed: int = 0,
    yin_quirk: bool = False,
) -> SequenceDataset:
    """SHD as bool rasters ``[n, n_steps, 700]`` (``x[s, k, c]``: channel ``c`` spiked in step ``k``).

    Args:
        path: a directory holding ``shd_train.h5`` and ``shd_test.h5``, or a pair ``(train_file,
            test_file)`` of explicit paths.
        dt: bin width, seconds (4 ms in Yin et al. 2021).
        duration: window kept, seconds, from t = 0 (1 s in Yin et al.; SHD samples last up to ~1.4 s).
        validation_fraction: share of the training file held out as validation, stratified by class
            and shuffled with ``seed`` (0.1 gives ~7340 / 816, the BRF papers' 7341 / 815 protocol up to
            rounding); the test split is the test file in file order.
        seed: seed of the train / validation split.
        yin_quirk: reproduce the binning of Yin et al.'s SHD script instead of the standard one.

    Binning (standard): ``n_steps = ceil(duration / dt)``; a spike at ``t`` seconds goes to step
    ``floor(t / dt)``, i.e. step ``k`` covers ``[k dt, (k + 1) dt)`` and a spike exactly on the edge ``k dt``
    lands in step ``k`` (quotients within 1e-9 of an integer are snapped to it before flooring). Spikes
    at ``t >= duration`` are dropped. Channel = unit. Several spikes of one channel in one step give one
    ``True``.

    Binning (``yin_quirk=True``, Yin's cumulative ``times <= i * dt`` sweep): ``n_steps =
    int(duration / dt)``; a spike at ``t`` goes to the first step ``i`` with ``t <= i dt`` (``ceil(t /
    dt)``: step ``i`` covers ``((i - 1) dt, i dt]``, step 0 only ``t = 0``), so a spike strictly inside a bin
    lands one step later than under the standard rule (one on an edge in the same step); spikes after
    ``(n_steps - 1) dt`` are dropped; unit ``u`` goes to channel ``700 - u`` and unit 0 is dropped (channel 0
    stays silent) -- the reference's off-by-one. (The reference compares in the file's float precision;
    here the same 1e-9-step snapping as above applies.)

    Spike times are converted to float64 as stored: a time stored in float16/float32 keeps its rounding
    (e.g. float32 ``0.004`` is slightly above 4 ms and goes to the step after the edge under the quirk).

    Returns:
        A :class:`SequenceDataset` (labels 0..19; ``n_classes`` = the larger of the number of
        ``extra/keys`` of the train file, if present, and the largest label + 1).

    Raises:
        MissingDatasetError: h5py is missing, or a file does not exist (the message names the path).
        FileFormatError: a file is not in the SHD layout.
    """
    train_file, test_file = _files(path)
    dt = v.positive("dt", dt)
    duration = v.positive("duration", duration)
    validation_fraction, _ = check_fractions(validation_fraction, 0.0)
    seed = v.seed("seed", seed)
    if not isinstance(yin_quirk, bool | np.bool_):
        raise InvalidParameterError(f"yin_quirk: expected True or False, got {yin_quirk!r}")
    n_steps = int(steps_of(duration / dt)) if yin_quirk else int(-steps_of(-duration / dt))
    if n_steps < 1:
        raise InvalidParameterError(f"duration: expected at least one step of dt = {dt} s, got {duration} s")

    train_t, train_u, train_y, n_keys = _read(train_file)
    test_t, test_u, test_y, _ = _read(test_file)
    parts = stratified_indices(train_y, np.random.default_rng(seed), validation_fraction, 0.0)

    def split(times: list[np.ndarray], units: list[np.ndarray], labels: np.ndarray, idx: np.ndarray) -> Split:
        x = np.zeros((len(idx), n_steps, N_CHANNELS), dtype=bool)
        for row, i in enumerate(idx):
            step, channel = bin_spikes(times[i], units[i], dt, n_steps, duration, yin_quirk)
            x[row, step, channel] = True
        return Split(x, labels[idx])

    labels_max = max([int(train_y.max()) if len(train_y) else -1, int(test_y.max()) if len(test_y) else -1])
    return SequenceDataset(
        name="shd",
        train=split(train_t, train_u, train_y, parts["train"]),
        validation=split(train_t, train_u, train_y, parts["validation"]),
        test=split(test_t, test_u, test_y, np.arange(len(test_y))),
        n_classes=max(n_keys or 0, labels_max + 1),
        dt=dt,
    )
