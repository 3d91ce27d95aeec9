"""Datasets, all generated or read offline."""

from .base import Dataset, Split
from .yinyang import CLASS_NAMES as YIN_YANG_CLASSES
from .yinyang import yin_yang, yin_yang_split

__all__ = ["Dataset", "Split", "YIN_YANG_CLASSES", "yin_yang", "yin_yang_split"]
