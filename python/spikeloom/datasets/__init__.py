"""Datasets, all generated or read offline.

Static data (:func:`digits`, :func:`mnist`, ...) have ``x`` of shape ``[n_samples, n_features]``. Sequence data
(:class:`SequenceDataset`) have ``x`` of shape ``[n_samples, n_steps, n_channels]`` -- bool spike rasters or
float32 inputs -- with ``dt`` seconds per step.
"""

from . import force_targets
from .base import Dataset, SequenceDataset, Split
from .digits import MissingDatasetError, digits
from .events import events_to_raster
from .evidence import EvidenceAccumulation, evidence_accumulation
from .fashion import FASHION_CLASSES, fashion_mnist, read_idx
from .logic import noisy_logic
from .mnist import mnist, mnist_path
from .patterns import normalised_mse, sum_of_sines, sum_of_sines_target
from .randman import RandomManifold, randman
from .sequential import mnist_permutation, sequential_digits, sequential_mnist
from .shd import shd
from .storerecall import store_recall
from .yinyang import CLASS_NAMES as YIN_YANG_CLASSES
from .yinyang import yin_yang, yin_yang_split

__all__ = [
    "force_targets",
    "Dataset",
    "EvidenceAccumulation",
    "FASHION_CLASSES",
    "MissingDatasetError",
    "RandomManifold",
    "SequenceDataset",
    "Split",
    "YIN_YANG_CLASSES",
    "digits",
    "events_to_raster",
    "evidence_accumulation",
    "fashion_mnist",
    "mnist",
    "mnist_path",
    "mnist_permutation",
    "noisy_logic",
    "normalised_mse",
    "randman",
    "read_idx",
    "sequential_digits",
    "sequential_mnist",
    "shd",
    "store_recall",
    "sum_of_sines",
    "sum_of_sines_target",
    "yin_yang",
    "yin_yang_split",
]
