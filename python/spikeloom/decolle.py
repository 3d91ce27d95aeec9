"""DECOLLE: deep continuous local learning (Kaiser, Mostafa & Neftci 2020, Front. Neurosci. 14:424).

A feed-forward stack of LIF layers. Layer ``l`` receives ``S_in`` (the network input for the first
layer, else the spikes of layer ``l - 1`` of the same step) and advances by ``dt`` seconds per step::

    P[t] = alpha P[t-1] + (1 - alpha) Q[t-1]            membrane trace, per presynaptic unit
    Q[t] = beta Q[t-1] + (1 - beta) S_in[t]             synaptic trace, per presynaptic unit
    R[t] = alpharp R[t-1] - (1 - alpharp) wrp S[t-1]    refractory trace, per neuron
    U[t] = W P[t] + b + R[t]
    S[t] = H(U[t])                                      spike where U > 0
    y[t] = G S[t]                                       fixed random readout

with ``beta = exp(-dt/tau_syn)``, ``alpha = exp(-dt/tau_mem)``, ``alpharp = exp(-dt/tau_ref)`` (the
defaults give DECOLLE's 0.92, 0.97, 0.65 at dt = 1 ms). This is the order of the reference code's
``LIFLayer.forward``: an input at step t reaches the membrane at step t + 1. States start at zero.

Every layer has a fixed random readout ``G_l ~ U(-a, a)``, ``a = readout_gain / sqrt(n_l)``, and its own
loss against the one-hot label at every step of the window ``[burn_in, steps)``; the states are
detached, so the weight gradient of a step is ``(G_l^T dL/dy * sigma'(U)) outer P`` (no
backpropagation through time or across layers). The prediction is the argmax of the last layer's
readout summed over the window. Training objective of a sample: the sum over layers of the
window-averaged local losses.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from . import _validation as v
from . import surrogates as sg
from ._core import DecolleNetwork as _CoreDecolle
from .errors import InvalidParameterError, ShapeError
from .recurrent import _choice, _precision, sequences

#: ``exp(-1 ms / TAU_REF) = 0.65``, DECOLLE's refractory decay (s).
TAU_REF = 1e-3 / math.log(1 / 0.65)
LOSSES = ("smooth_l1", "mse", "ce_per_step")
OPTIMIZERS = ("adamax", "adam", "sgd")

HISTORY_SCHEMA = {
    "epoch": pl.Int64,
    "train_loss": pl.Float64,
    "train_accuracy": pl.Float64,
    "train_layer_accuracy": pl.List(pl.Float64),
    "val_loss": pl.Float64,
    "val_accuracy": pl.Float64,
    "val_layer_accuracy": pl.List(pl.Float64),
    "rates_hz": pl.List(pl.Float64),
    "lr": pl.Float64,
    "seconds": pl.Float64,
}


def _burn_in(value: Any) -> int:
    return v.positive_int("burn_in", value, minimum=0)


@dataclass(frozen=True)
class DecolleConfig(sg.TrainingConfig):
    """Hyper-parameters of a DECOLLE run (defaults: the reference's N-MNIST / DvsGesture settings,
    without their 60-step burn-in and learning-rate decay, which depend on the data).

    Attributes:
        epochs, batch_size: passes over the data and samples per batch.
        lr: learning rate; times ``lr_gamma`` every ``lr_step`` epochs (0 = never; the reference
            divides by 5 every 30 epochs: ``lr_step=30, lr_gamma=0.2``).
        optimizer: ``"adamax"`` (DECOLLE's), ``"adam"`` or ``"sgd"`` (plain ``p -= lr g``).
        betas: Adam/Adamax betas; ``None`` = (0, 0.95) for Adamax (DECOLLE), (0.9, 0.999) for Adam.
        eps: Adam/Adamax epsilon.
        loss: per-layer, per-step loss against the one-hot label: ``"smooth_l1"`` (DECOLLE's, PyTorch's
            SmoothL1 with beta 1, mean over outputs), ``"mse"`` (mean over outputs) or
            ``"ce_per_step"`` (softmax cross-entropy).
        burn_in: steps at the start of every sequence without loss and without updates.
        online: an optimiser step after every step of the window, the batch's samples advancing in
            lockstep (DECOLLE's ``online_update``); ``False``: gradients accumulated over the window,
            one step per batch.
        surrogate: derivative of the spike function (default: fast sigmoid, slope 10 per voltage unit).
        precision: ``"float32"`` or ``"float64"``.
        restore_best: keep the parameters of the epoch with the best validation accuracy.
    """

    epochs: int = 30
    batch_size: int = 72
    lr: float = 1e-3
    optimizer: str = "adamax"
    betas: tuple[float, float] | None = None
    eps: float = 1e-8
    lr_step: int = 0
    lr_gamma: float = 1.0
    loss: str = "smooth_l1"
    burn_in: int = 0
    online: bool = True
    surrogate: Any = field(default_factory=lambda: sg.FastSigmoid(slope=10.0))
    precision: str = "float32"
    restore_best: bool = False

    def __post_init__(self) -> None:
        v.flags(self)
        v.positive_int("epochs", self.epochs)
        v.positive_int("batch_size", self.batch_size)
        v.non_negative("lr", self.lr)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.betas is not None:
            v.betas("betas", self.betas)
        v.positive("eps", self.eps)
        v.positive_int("lr_step", self.lr_step, minimum=0)
        v.positive("lr_gamma", self.lr_gamma)
        _choice("loss", self.loss, LOSSES)
        _burn_in(self.burn_in)
        _bool("online", self.online)
        sg.check("surrogate", self.surrogate)
        _choice("precision", self.precision, ("float32", "float64"))
        _bool("restore_best", self.restore_best)

    def to_core_json(self, seed: int, threads: int) -> str:
        """The core's configuration (JSON)."""
        d = {
            "epochs": int(self.epochs),
            "batch_size": int(self.batch_size),
            "lr": float(self.lr),
            "optimizer": self.optimizer,
            "betas": None if self.betas is None else [float(b) for b in self.betas],
            "eps": float(self.eps),
            "lr_step": int(self.lr_step),
            "lr_gamma": float(self.lr_gamma),
            "loss": self.loss,
            "burn_in": int(self.burn_in),
            "online": self.online,
            "surrogate": self.surrogate.to_dict(),
            "precision": _precision(self.precision),
            "seed": v.seed("seed", seed),
            "threads": v.threads(threads),
            "restore_best": self.restore_best,
        }
        return json.dumps(d, allow_nan=False)


@dataclass
class DecolleRecording:
    """What :meth:`DecolleNetwork.run` records, per layer, as arrays ``[samples, steps, k]``.

    Attributes:
        spikes: per layer, the spikes (1.0 / 0.0; graded for ``SmoothSigmoid``), ``k = size``.
        u: per layer, the membrane potential ``U[t]``.
        readout: per layer, its readout ``y[t] = G S[t]`` (``G sigmoid(U[t])`` for the last layer of a
            network with ``sigmoid_readout``), ``k = n_outputs``.
        dt: the step (s).
    """

    spikes: list[np.ndarray]
    u: list[np.ndarray]
    readout: list[np.ndarray]
    dt: float = 1e-3

    def rates_hz(self) -> list[np.ndarray]:
        """Firing rate of each neuron (Hz), averaged over samples and steps, per layer."""
        return [s.mean(axis=(0, 1)) / self.dt for s in self.spikes]


class DecolleNetwork:
    """A stack of DECOLLE LIF layers with fixed random readouts (see the module doc).

    Args:
        n_inputs: input channels.
        sizes: neurons per layer, input side first.
        n_outputs: classes (outputs of every layer's readout).
        dt: simulation step (s).
        tau_syn, tau_mem, tau_ref: synaptic, membrane and refractory trace time constants (s): one
            value for every layer, or a sequence with one value per layer.
        wrp: refractory weight (voltage units per spike).
        gain: initial weights ~ ``U(-gain / sqrt(n_pre), gain / sqrt(n_pre))``; biases start at 0.
        readout_gain: readouts ~ ``U(-a, a)``, ``a = readout_gain / sqrt(n_l)`` (DECOLLE's ``lc_ampl``).
        sigmoid_readout: the last layer's readout reads ``sigmoid(U)`` instead of its spikes (as the
            reference's ``LenetDECOLLE``); its local gradient then uses the exact logistic derivative.
        seed: seed of the initial weights and of the readouts.
    """

    def __init__(
        self,
        n_inputs: int,
        sizes: list[int] | tuple[int, ...],
        n_outputs: int,
        *,
        dt: float = 1e-3,
        tau_syn: float | Sequence[float] = 12.5e-3,
        tau_mem: float | Sequence[float] = 33e-3,
        tau_ref: float | Sequence[float] = TAU_REF,
        wrp: float = 1.0,
        gain: float = 1.0,
        readout_gain: float = 0.5,
        sigmoid_readout: bool = False,
        seed: int = 0,
    ) -> None:
        if isinstance(sizes, int | np.integer) or not hasattr(sizes, "__len__") or len(sizes) == 0:
            raise InvalidParameterError(f"sizes: expected a non-empty list of layer sizes, got {sizes!r}")
        spec = {
            "n_inputs": v.positive_int("n_inputs", n_inputs),
            "sizes": [v.positive_int(f"sizes[{i}]", n) for i, n in enumerate(sizes)],
            "n_outputs": v.positive_int("n_outputs", n_outputs),
            "dt": v.positive("dt", dt),
            "tau_syn": _taus("tau_syn", tau_syn, len(sizes)),
            "tau_mem": _taus("tau_mem", tau_mem, len(sizes)),
            "tau_ref": _taus("tau_ref", tau_ref, len(sizes)),
            "wrp": v.non_negative("wrp", wrp),
            "gain": v.non_negative("gain", gain),
            "readout_gain": v.non_negative("readout_gain", readout_gain),
            "sigmoid_readout": _bool("sigmoid_readout", sigmoid_readout),
        }
        self._net = _CoreDecolle(json.dumps(spec), v.seed("seed", seed))

    # --- description -------------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """The description (sizes, time constants in s, gains)."""
        return json.loads(self._net.spec_json())

    @property
    def n_inputs(self) -> int:
        return int(self.spec()["n_inputs"])

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(self.spec()["sizes"])

    @property
    def n_outputs(self) -> int:
        return int(self.spec()["n_outputs"])

    @property
    def dt(self) -> float:
        """Simulation step (s)."""
        return float(self.spec()["dt"])

    @property
    def decays(self) -> dict[str, list[float]]:
        """The per-step decays ``beta``, ``alpha``, ``alpharp`` of each layer."""
        s = self.spec()
        n = len(s["sizes"])
        names = (("beta", "tau_syn"), ("alpha", "tau_mem"), ("alpharp", "tau_ref"))
        return {k: [math.exp(-s["dt"] / s[t][min(i, len(s[t]) - 1)]) for i in range(n)] for k, t in names}

    def __repr__(self) -> str:
        sizes = "-".join(str(n) for n in (self.n_inputs, *self.sizes, self.n_outputs))
        return f"DecolleNetwork({sizes}; dt={self.dt:g} s, {self._net.n_trainable()} trainable parameters)"

    # --- parameters --------------------------------------------------------------------------
    def parameters(self) -> dict[str, np.ndarray]:
        """Copies of every tensor: ``layers.l.w`` ``[n_pre, n]``, ``layers.l.bias`` ``[n]`` and the fixed
        ``layers.l.readout`` ``[n, n_outputs]`` (``y = readout^T S``)."""
        p = self._net.params()
        return {name: p[a:b].reshape(shape).copy() for name, shape, a, b in self._net.tensors()}

    def set_parameters(self, **tensors: np.ndarray) -> None:
        """Replace tensors by name, e.g. ``net.set_parameters(**{"layers.0.w": w})``."""
        p = self._net.params()
        known = {name: (shape, a, b) for name, shape, a, b in self._net.tensors()}
        for name, value in tensors.items():
            if name not in known:
                raise InvalidParameterError(f"{name}: expected one of {sorted(known)}, got an unknown tensor name")
            shape, a, b = known[name]
            arr = np.asarray(value, dtype=np.float64)
            if arr.shape != tuple(shape):
                raise ShapeError(f"{name}: expected shape {tuple(shape)}, got {arr.shape}")
            p[a:b] = arr.ravel()
        self._net.set_params(p)

    # --- running -----------------------------------------------------------------------------
    def run(self, x: Any, *, surrogate: Any = None, precision: str = "float32", threads: int = 0) -> DecolleRecording:
        """Simulate ``x`` ``[samples, steps, n_inputs]`` and record every layer (:class:`DecolleRecording`).
        ``surrogate`` only matters for :class:`~spikeloom.surrogates.SmoothSigmoid` (graded spikes)."""
        xs = sequences("x", x, self.n_inputs)
        sur = sg.check("surrogate", surrogate or sg.FastSigmoid(slope=10.0))
        v.float32_range(self.parameters(), precision)
        layers = self._net.run(xs, json.dumps(sur.to_dict()), _precision(precision), v.threads(threads))
        rec = DecolleRecording(
            spikes=[d["spikes"] for d in layers],
            u=[d["u"] for d in layers],
            readout=[d["readout"] for d in layers],
            dt=self.dt,
        )
        named = [(f"layer {i}'s membrane", u) for i, u in enumerate(rec.u)]
        v.finite_outputs(named + [(f"layer {i}'s readout", r) for i, r in enumerate(rec.readout)], precision)
        return rec

    def predict(self, x: Any, *, burn_in: int = 0, threads: int = 0) -> np.ndarray:
        """Predicted classes: argmax of the last layer's readout summed over steps ``burn_in..`` (records
        every layer first, so memory grows with samples x steps x neurons; pass batches)."""
        rec = self.run(x, threads=threads)
        b = _burn_in(burn_in)
        if b >= rec.readout[-1].shape[1]:
            raise InvalidParameterError(
                f"burn_in: expected fewer steps than x has ({rec.readout[-1].shape[1]}), got {b}"
            )
        return rec.readout[-1][:, b:].sum(axis=1).argmax(axis=1)

    def evaluate(
        self,
        x: Any,
        y: Any,
        *,
        loss: str = "smooth_l1",
        burn_in: int = 0,
        precision: str = "float32",
        threads: int = 0,
    ) -> dict[str, Any]:
        """Mean objective, accuracy (last layer), per-layer accuracies and firing rates (Hz) on ``(x, y)``."""
        xs = sequences("x", x, self.n_inputs)
        v.samples("x", xs.shape[0])
        ys = v.labels("y", y, xs.shape[0], self.n_outputs)
        sur = json.dumps(sg.FastSigmoid(slope=10.0).to_dict())
        loss = _choice("loss", loss, LOSSES)
        v.float32_range(self.parameters(), precision)
        out = dict(self._net.evaluate(xs, ys, loss, _burn_in(burn_in), sur, _precision(precision), v.threads(threads)))
        v.finite_loss(out["loss"], precision)
        return out

    def gradient(self, x: Any, y: Any, config: DecolleConfig | None = None) -> tuple[float, dict[str, np.ndarray]]:
        """Mean objective over ``(x, y)`` and its local gradient by trainable tensor name, with the weights
        fixed over each sequence and the loss, burn-in, surrogate and precision of ``config``."""
        config = config or DecolleConfig()
        if not isinstance(config, DecolleConfig):
            raise InvalidParameterError(f"config: expected a DecolleConfig, got {type(config).__name__}")
        xs = sequences("x", x, self.n_inputs)
        ys = v.labels("y", y, xs.shape[0], self.n_outputs)
        v.float32_range(self.parameters(), config.precision)
        loss, g = self._net.gradient(xs, ys, config.to_core_json(seed=0, threads=0))
        v.finite_loss(float(loss), config.precision)
        nt = self._net.n_trainable()
        return float(loss), {n: g[a:b].reshape(s) for n, s, a, b in self._net.tensors() if b <= nt}

    # --- persistence -------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None) -> None:
        """Write the network atomically (safetensors, one float64 tensor per tensor, readouts included)."""
        self._net.save(os.fspath(path), _extra(metadata))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DecolleNetwork:
        """Read a file written by :meth:`save`."""
        core, _ = _CoreDecolle.load(os.fspath(path))
        return cls._from_core(core)

    @classmethod
    def _from_core(cls, core: _CoreDecolle) -> DecolleNetwork:
        self = cls.__new__(cls)
        self._net = core
        return self

    def __getstate__(self) -> bytes:
        return bytes(self._net.to_bytes(_extra(None)))

    def __setstate__(self, state: bytes) -> None:
        self._net, _ = _CoreDecolle.from_bytes(state)

    def copy(self) -> DecolleNetwork:
        """An independent copy (same parameters and readouts)."""
        out = DecolleNetwork.__new__(DecolleNetwork)
        out.__setstate__(self.__getstate__())
        return out


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise InvalidParameterError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def _taus(name: str, value: Any, n_layers: int) -> list[float]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n_layers:
            raise ShapeError(f"{name}: expected one time constant or one per layer ({n_layers}), got {len(value)}")
        return [v.positive(f"{name}[{i}]", t) for i, t in enumerate(value)]
    return [v.positive(name, value)]


def _extra(metadata: dict[str, Any] | None) -> str:
    try:
        return json.dumps({"user": metadata or {}}, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidParameterError(f"metadata: expected a JSON-serialisable dict, got {e}") from None


def fit_decolle(
    net: DecolleNetwork,
    train: Any,
    *,
    validation: Any = None,
    config: DecolleConfig | None = None,
    seed: int = 0,
    threads: int = 0,
    progress: bool = True,
    callback: Any = None,
    resume: Any = None,
    checkpoint: Any = None,
) -> Any:
    """Train ``net`` in place with DECOLLE; see :func:`spikeloom.fit` (also for ``resume`` and
    ``checkpoint``). Returns a :class:`~spikeloom.FitResult`."""
    config = config or DecolleConfig()
    if not isinstance(config, DecolleConfig):
        raise InvalidParameterError(f"config: expected a DecolleConfig, got {type(config).__name__}")
    if config.restore_best and validation is None:
        raise InvalidParameterError("validation: restore_best=True needs a validation set; pass validation=...")
    cfg_json = config.to_core_json(seed, threads)
    from .bptt import sequence_data

    x, y, vx, vy = sequence_data(net.n_inputs, net.n_outputs, train, validation, v.labels)
    from .bptt import run_fit
    from .checkpoint import Resumable

    return run_fit(
        net._net.fit,
        (x, y, vx, vy, cfg_json),
        config.epochs,
        "decolle",
        HISTORY_SCHEMA,
        progress,
        callback,
        resumable=Resumable(resume, checkpoint),
    )


__all__ = ["DecolleConfig", "DecolleNetwork", "DecolleRecording", "fit_decolle"]
