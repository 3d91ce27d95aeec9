"""Training state of a BPTT run, to stop a long run and resume it later (:class:`TrainingState`)."""

from __future__ import annotations

import os
from pathlib import Path

from . import _core
from ._atomic import write_atomic
from .errors import InvalidParameterError


class TrainingState:
    """Where a BPTT training run stands: the parameters reached, the optimiser's moments and step
    count, the epochs completed and the best validation epoch so far (under ``restore_best``).

    Every BPTT :func:`~spikeloom.fit` returns one in :attr:`FitResult.state`. Passing it back as
    ``fit(net, data, config=cfg, resume=state)`` continues the run: with the same config and data, a
    run stopped after an epoch (by its callback) and resumed ends with the same parameters, bit for
    bit, as the uninterrupted run (same shuffles, learning-rate schedule and optimiser steps). An epoch
    cut short by Ctrl-C is not counted: it runs again in full, from the weights it had reached.

    The state is a safetensors file (``save`` / ``load``; writes are atomic).
    """

    def __init__(self, data: bytes, source: str = "state") -> None:
        if not isinstance(data, bytes | bytearray):
            raise InvalidParameterError(f"data: expected bytes, got {type(data).__name__}")
        self._data = bytes(data)
        self._epochs_done, self._n_params, self._best_score = _core.bptt_state_info(self._data, source)

    @property
    def epochs_done(self) -> int:
        """Epochs completed so far."""
        return self._epochs_done

    @property
    def n_params(self) -> int:
        """Number of network parameters."""
        return self._n_params

    @property
    def best_score(self) -> float | None:
        """Best validation score so far (accuracy, or minus the loss for regression); ``None``
        without ``restore_best``."""
        return self._best_score

    def to_bytes(self) -> bytes:
        """The state as safetensors bytes."""
        return self._data

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state to ``path`` (atomically: a crash leaves the previous file intact)."""
        write_atomic(path, lambda p: p.write_bytes(self._data))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainingState:
        """Read a state written by :meth:`save`."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"resume: no training state at {str(p)!r}")
        return cls(p.read_bytes(), str(p))

    def __repr__(self) -> str:
        return f"TrainingState(epochs_done={self.epochs_done}, n_params={self.n_params}, best_score={self.best_score})"


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


__all__ = ["TrainingState"]
