"""Exceptions raised by spikeloom.

Every error names the argument, what was expected and what was got. Each class also derives from the
matching builtin exception, so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class SpikeloomError(Exception):
    """Base class of every spikeloom exception."""


class ShapeError(SpikeloomError, ValueError):
    """An array has the wrong shape or length."""


class DTypeError(SpikeloomError, TypeError):
    """An array has the wrong dtype (e.g. strings, or floats where integer labels are needed)."""


class InvalidParameterError(SpikeloomError, ValueError):
    """A parameter is outside its valid range (negative time constant, label out of range, ...)."""


class NonFiniteError(SpikeloomError, ValueError):
    """An array contains NaN, or an infinity where only finite values are allowed."""


class UnsupportedError(SpikeloomError, ValueError):
    """A configuration the engine does not support (e.g. a tau ratio without an exact solver)."""


class UnknownNameError(SpikeloomError, KeyError):
    """An unknown task, method or preset name."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class FileFormatError(SpikeloomError, ValueError):
    """A file is not a valid spikeloom file (truncated, foreign or from a newer version)."""


class SpikeloomIOError(SpikeloomError, OSError):
    """The operating system refused a read or write."""


class ResumeMismatchWarning(UserWarning):
    """A training run resumed from the state of a run with another config or data: training
    continues, but the result is not that of one uninterrupted run."""


__all__ = [
    "DTypeError",
    "FileFormatError",
    "InvalidParameterError",
    "NonFiniteError",
    "ResumeMismatchWarning",
    "ShapeError",
    "SpikeloomError",
    "SpikeloomIOError",
    "UnknownNameError",
    "UnsupportedError",
]
