"""Datasets, all generated or read offline."""

from .base import Dataset, Split
from .digits import MissingDatasetError, digits
from .logic import noisy_logic
from .mnist import mnist, mnist_path
from .yinyang import CLASS_NAMES as YIN_YANG_CLASSES
from .yinyang import yin_yang, yin_yang_split

__all__ = [
    "Dataset",
    "MissingDatasetError",
    "Split",
    "YIN_YANG_CLASSES",
    "digits",
    "mnist",
    "mnist_path",
    "noisy_logic",
    "yin_yang",
    "yin_yang_split",
]
