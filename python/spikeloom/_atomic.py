"""Atomic file writes: write a temporary file in the target folder, then rename over the target."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import polars as pl


def write_atomic(path: str | os.PathLike[str], write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` and move the result to ``path`` only if it succeeded."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A unique name in the target folder (same file system, so the rename is atomic). Not mkstemp:
    # its files are mode 0600, and the result should get the user's usual permissions (umask).
    tmp = target.parent / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        write(Path(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_parquet_atomic(df: pl.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a polars DataFrame as Parquet, atomically."""
    write_atomic(path, lambda p: df.write_parquet(p))


def write_text_atomic(text: str, path: str | os.PathLike[str]) -> None:
    """Write a text file, atomically."""
    write_atomic(path, lambda p: p.write_text(text))
