"""Training state of a BPTT, DECOLLE or e-prop run, to stop a long run and resume it later
(:class:`TrainingState`)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from . import _core
from ._atomic import write_atomic
from .errors import InvalidParameterError, ResumeMismatchWarning


class TrainingState:
    """Where a training run stands: the parameters reached, the optimiser's moments and step count,
    the epochs completed, the best validation epoch so far (under ``restore_best``), e-prop's
    adaptive feedback matrix and update count, and for TTFS / alpha training the pulse times, their
    optimiser and the weight-bumping state.

    Every :func:`~spikeloom.fit` (TTFS, alpha, BPTT, DECOLLE, e-prop) returns one in
    :attr:`FitResult.state`, and :meth:`~spikeloom.s4nn.S4NNNetwork.fit` in
    :attr:`~spikeloom.s4nn.S4NNFitResult.state` (its ``resume=`` takes it back).
    Passing it back as ``fit(net, data, config=cfg, resume=state)`` continues the run: with the same
    config (for a linear learning-rate decay, the same ``epochs`` too), seed and data, a
    run stopped after an epoch (by its callback) and resumed ends with the same parameters, bit for
    bit, as the uninterrupted run (same shuffles, learning-rate schedule and optimiser steps). An epoch
    cut short by Ctrl-C is not counted: it runs again in full, from the weights it had reached.

    The state is a safetensors file (``save`` / ``load``; writes are atomic).
    """

    def __init__(self, core: _core.TrainState) -> None:
        # Built by ``fit`` (or from bytes with :meth:`from_bytes`); the state stays in Rust and is
        # serialised only when saved, converted to bytes or pickled.
        self._core = core

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "state") -> TrainingState:
        """Parse bytes written by :meth:`to_bytes` (``source`` names them in errors)."""
        if not isinstance(data, bytes | bytearray):
            raise InvalidParameterError(f"data: expected bytes, got {type(data).__name__}")
        return cls(_core.TrainState.from_bytes(bytes(data), source))

    @property
    def method(self) -> str:
        """The training method of the run ("bptt", "decolle", "eprop", "ttfs", "alpha" or "s4nn")."""
        return self._core.method

    @property
    def epochs_done(self) -> int:
        """Epochs completed so far."""
        return self._core.epochs_done

    @property
    def n_params(self) -> int:
        """Number of network parameters."""
        return self._core.n_params

    @property
    def fingerprint(self) -> dict[str, str] | None:
        """Digests of the config (without ``epochs`` and ``threads``) and of the data of the run that
        wrote the state (see :func:`run_fingerprint`); ``None`` in states written before they were
        recorded."""
        fp = self._core.fingerprint
        return None if fp is None else json.loads(fp)

    @property
    def best_score(self) -> float | None:
        """Best validation score so far (accuracy, or minus the loss for regression); ``None``
        without ``restore_best``."""
        return self._core.best_score

    @property
    def history(self) -> pl.DataFrame:
        """One row per completed epoch of the whole run, across every call that resumed it (a
        :class:`FitResult`'s ``history`` holds only its own call's epochs): the method's epoch metrics
        (the columns of its ``FitResult.history``) without the wall-clock ``seconds``, so that identical
        runs write identical states. A state written by a build that did not record it holds only
        the epochs run since; non-finite numbers read back as null."""
        rows = json.loads(self._core.history)
        if not rows:
            return pl.DataFrame(schema={"epoch": pl.Int64})
        df = pl.DataFrame(rows, infer_schema_length=None)
        return df.select("epoch", pl.exclude("epoch"))

    def to_bytes(self) -> bytes:
        """The state as safetensors bytes."""
        return self._core.to_bytes()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state to ``path`` (atomically: a crash leaves the previous file intact)."""
        data = self.to_bytes()
        write_atomic(path, lambda p: p.write_bytes(data))

    def __getstate__(self) -> bytes:
        return self.to_bytes()

    def __setstate__(self, data: bytes) -> None:
        self._core = _core.TrainState.from_bytes(data, "pickle")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainingState:
        """Read a state written by :meth:`save`."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"resume: no training state at {str(p)!r}")
        return cls.from_bytes(p.read_bytes(), str(p))

    def __repr__(self) -> str:
        return (
            f"TrainingState(method={self.method!r}, epochs_done={self.epochs_done}, n_params={self.n_params}, "
            f"best_score={self.best_score})"
        )


def as_state(resume: TrainingState | str | os.PathLike[str] | None) -> TrainingState | None:
    """``resume`` as a :class:`TrainingState` (a path is loaded)."""
    if resume is None or isinstance(resume, TrainingState):
        return resume
    if isinstance(resume, str | os.PathLike):
        return TrainingState.load(resume)
    raise InvalidParameterError(f"resume: expected a TrainingState or a path, got {type(resume).__name__}")


def checkpoint_path(checkpoint: str | os.PathLike[str]) -> str:
    """``checkpoint`` as a path string, its folder created."""
    if not isinstance(checkpoint, str | os.PathLike):
        raise InvalidParameterError(f"checkpoint: expected a path, got {type(checkpoint).__name__}")
    p = Path(checkpoint)
    if p.is_dir():
        raise InvalidParameterError(f"checkpoint: expected a file path, got the folder {str(p)!r}")
    p.parent.mkdir(parents=True, exist_ok=True)
    return str(p)


def _digest(parts: list[bytes]) -> str:
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()


#: Bytes of each array that enter the data digest (evenly spaced, first and last included): the
#: digest must stay cheap, since a fit on one batch may be called once per training step.
DIGEST_BYTES = 8192


def _array_digest_parts(a: Any) -> list[bytes]:
    if a is None:
        return [b"none"]
    a = np.ascontiguousarray(np.asarray(a))
    b = a.reshape(-1).view(np.uint8)
    if b.size > DIGEST_BYTES:
        b = b[np.linspace(0, b.size - 1, DIGEST_BYTES).astype(np.int64)]
    return [f"{a.dtype.str}{a.shape}".encode(), b.tobytes()]


def run_fingerprint(config_json: str, *arrays: Any) -> str:
    """What identifies a run for :class:`TrainingState`, as JSON: a digest of the config JSON without
    ``epochs`` and ``threads`` (a longer run, or another thread count, continues the same run) and
    a digest of the data (each array's dtype and shape and :data:`DIGEST_BYTES` evenly spaced bytes
    of its contents: another data set or subset is told apart, a few changed values may not be)."""
    cfg = json.loads(config_json)
    cfg.pop("epochs", None)
    cfg.pop("threads", None)
    parts = [p for a in arrays for p in _array_digest_parts(a)]
    return json.dumps(
        {"config": _digest([json.dumps(cfg, sort_keys=True).encode()]), "data": _digest(parts)}, sort_keys=True
    )


def _outside_package() -> int:
    """The ``stacklevel`` of the first caller outside this package (a warning then points at the user's
    line, however many spikeloom functions are in between)."""
    here = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(here + os.sep):
        frame, level = frame.f_back, level + 1
    return level


class Resumable:
    """The ``resume`` / ``checkpoint`` arguments of a ``fit``, loaded. The core checks the state
    against the run (method, network size, optimiser, the config's epochs); :meth:`check` warns when
    the state comes from a run of another config or data (then the result is not that of one
    uninterrupted run)."""

    def __init__(self, resume: Any, checkpoint: Any) -> None:
        self.state = as_state(resume)
        self.checkpoint = None if checkpoint is None else checkpoint_path(checkpoint)

    @property
    def epochs_done(self) -> int:
        """Epochs the resumed run has done (0 for a new run)."""
        return 0 if self.state is None else self.state.epochs_done

    def check(self, method: str, fingerprint: str) -> None:
        """Warn (:class:`~spikeloom.errors.ResumeMismatchWarning`) if the resumed state was written by a
        ``method`` run whose config or data differ from this run's ``fingerprint`` (a state of another
        method is refused by the core)."""
        saved = None if self.state is None else self.state.fingerprint
        if saved is None or self.state is None or self.state.method != method:
            return
        now = json.loads(fingerprint)
        differ = [k for k in ("config", "data") if saved.get(k) != now.get(k)]
        if differ:
            what = " and ".join(differ)
            warnings.warn(
                ResumeMismatchWarning(
                    f"resume: the state was written by a run with another {what} than this one; training "
                    f"continues from it, but the result will not equal one uninterrupted run"
                ),
                stacklevel=_outside_package(),
            )

    def core_args(self) -> tuple[Any, str | None]:
        """(core state, checkpoint path) for the core."""
        return (None if self.state is None else self.state._core), self.checkpoint


__all__ = ["Resumable", "TrainingState", "run_fingerprint"]
