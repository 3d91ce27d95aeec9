"""Surrogate-gradient BPTT for :class:`~spikeloom.recurrent.RecurrentNetwork` (the training loop runs in Rust).

Losses (``loss``), evaluated over the steps ``[loss_start, loss_end)`` of each sequence:

- ``ce_max``: cross-entropy of the softmax of the per-output maximum of the readout membrane (SpyTorch);
- ``ce_last`` / ``ce_mean``: of the last / time-averaged readout;
- ``ce_sum_softmax``: of the sum over steps of per-step softmaxes (Yin et al. 2021);
- ``ce_per_step``: mean per-step cross-entropy (e-prop's evidence accumulation);
- ``ce_counts``: of the spike counts of the last layer (networks without readout);
- ``mse``: mean squared error of the readout against targets ``[samples, steps, outputs]``.

Rate regularisers (Zenke & Vogels 2021 style), per spiking layer, rates in Hz:
``rate_lower * mean_k relu(rate_low_hz - r_k)^2 + rate_upper * relu(mean_k r_k - rate_high_hz)^2``.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from . import _validation as v
from . import surrogates as sg
from .datasets.base import Split
from .errors import InvalidParameterError, ShapeError
from .recurrent import RecurrentNetwork, _choice, _loss_dict, _precision, sequences, targets

HISTORY_SCHEMA = {
    "epoch": pl.Int64,
    "train_loss": pl.Float64,
    "train_accuracy": pl.Float64,
    "val_loss": pl.Float64,
    "val_accuracy": pl.Float64,
    "rates_hz": pl.List(pl.Float64),
    "lr": pl.Float64,
    "seconds": pl.Float64,
}


@dataclass(frozen=True)
class BPTTConfig(sg.TrainingConfig):
    """Hyper-parameters of a BPTT run.

    Attributes:
        epochs, batch_size: passes over the data and samples per optimiser step.
        lr: learning rate of weights and biases.
        lr_tau: learning rate of the trainable time constants, in seconds per step.
        optimizer: ``"adam"``, ``"adamax"`` (Yin et al.'s S-MNIST script) or ``"sgd"`` (``p -= lr g``); the
            weights and the time constants each have their own state.
        betas, eps: Adam/Adamax constants (PyTorch's update and placement of eps).
        lr_schedule: ``"step"`` (StepLR: both learning rates times ``lr_gamma`` every ``lr_step`` epochs) or
            ``"linear"`` (decay towards zero, ``lr (1 - (epoch - 1) / epochs)`` for epochs from 1, PyTorch's
            ``LambdaLR(lambda e: 1 - e / epochs)`` as in Yin et al.'s script).
        lr_step, lr_gamma: the StepLR period (0: constant) and factor.
        loss, loss_start, loss_end: the loss and its window of steps (see the module doc).
        surrogate: the surrogate derivative (:mod:`spikeloom.surrogates`).
        detach_reset: stop the gradient through the reset's dependence on the spike.
        detach_recurrent: stop the gradient through the recurrent spikes (``z[t-1] -> W_rec``); with
            ``detach_reset`` too, BPTT's gradient equals symmetric e-prop's (:mod:`spikeloom.eprop`).
        rate_lower, rate_low_hz, rate_upper, rate_high_hz: firing-rate regularisers.
        clip_grad_norm: clip the global gradient norm (``None``: no clipping).
        truncation: truncated BPTT: windows of this many steps; the state is carried from window to
            window but the gradient is not, each window's part of the loss window is its loss (``ce_last``:
            only the window holding the last step), and Adam steps after every window (``None``: full BPTT).
        carry_loss: with ``truncation`` and a summed loss (``ce_counts``, ``ce_sum_softmax``), each
            window's loss is the cross-entropy of the sum from the start of the loss window to the end of
            the window, the earlier windows' part held constant (Yin et al. 2021's truncated BPTT), instead
            of the window's part alone.
        precision: ``"float32"`` (fast) or ``"float64"`` (for gradient checks).
        restore_best: keep the parameters of the best validation epoch.
    """

    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    lr_tau: float = 0.0
    optimizer: str = "adam"
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    lr_schedule: str = "step"
    lr_step: int = 0
    lr_gamma: float = 1.0
    loss: str = "ce_max"
    loss_start: int = 0
    loss_end: int | None = None
    surrogate: Any = field(default_factory=sg.FastSigmoid)
    detach_reset: bool = False
    detach_recurrent: bool = False
    rate_lower: float = 0.0
    rate_low_hz: float = 0.0
    rate_upper: float = 0.0
    rate_high_hz: float = 0.0
    clip_grad_norm: float | None = None
    truncation: int | None = None
    carry_loss: bool = False
    precision: str = "float32"
    restore_best: bool = False

    def __post_init__(self) -> None:
        v.flags(self)
        v.positive_int("epochs", self.epochs)
        v.positive_int("batch_size", self.batch_size)
        v.non_negative("lr", self.lr)
        v.non_negative("lr_tau", self.lr_tau)
        v.positive("eps", self.eps)
        v.positive_int("lr_step", self.lr_step, minimum=0)
        v.positive("lr_gamma", self.lr_gamma)
        v.betas("betas", self.betas)
        _loss_dict(self.loss, self.loss_start, self.loss_end)
        sg.check("surrogate", self.surrogate)
        for name in ("rate_lower", "rate_low_hz", "rate_upper", "rate_high_hz"):
            v.non_negative(name, getattr(self, name))
        if self.clip_grad_norm is not None:
            v.positive("clip_grad_norm", self.clip_grad_norm)
        if self.truncation is not None:
            v.positive_int("truncation", self.truncation)
        if self.carry_loss:
            if self.truncation is None:
                raise InvalidParameterError(
                    "carry_loss: expected a truncation window (it applies to truncated BPTT), got truncation=None"
                )
            if self.loss not in ("ce_counts", "ce_sum_softmax"):
                raise InvalidParameterError(
                    f"carry_loss: expected a summed loss ('ce_counts' or 'ce_sum_softmax'), got loss={self.loss!r}"
                )
        _choice("precision", self.precision, ("float32", "float64"))
        _choice("optimizer", self.optimizer, ("adam", "adamax", "sgd"))
        _choice("lr_schedule", self.lr_schedule, ("step", "linear"))

    def to_core_json(self, seed: int, threads: int) -> str:
        """The core's configuration (JSON)."""
        d = {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "lr_tau": self.lr_tau,
            "optimizer": self.optimizer,
            "betas": list(self.betas),
            "eps": self.eps,
            "lr_schedule": self.lr_schedule,
            "lr_step": self.lr_step,
            "lr_gamma": self.lr_gamma,
            "loss": _loss_dict(self.loss, self.loss_start, self.loss_end),
            "surrogate": self.surrogate.to_dict(),
            "detach_reset": self.detach_reset,
            "detach_recurrent": self.detach_recurrent,
            "regulariser": {
                "lower": self.rate_lower,
                "rate_low": self.rate_low_hz,
                "upper": self.rate_upper,
                "rate_high": self.rate_high_hz,
            },
            "clip_grad_norm": self.clip_grad_norm,
            "truncation": self.truncation,
            "carry_loss": bool(self.carry_loss),
            "precision": _precision(self.precision),
            "seed": v.seed("seed", seed),
            "threads": v.threads(threads),
            "restore_best": self.restore_best,
        }
        return json.dumps(d, allow_nan=False)


def _pair(name: str, data: Any) -> tuple[Any, Any]:
    if isinstance(data, Split):
        return data.x, data.y
    if isinstance(data, tuple) and len(data) == 2:
        return data
    raise InvalidParameterError(f"{name}: expected a Split or an (x, y) tuple, got {type(data).__name__}")


def sequence_data(n_inputs: int, n_outputs: int, train: Any, validation: Any, check_targets: Any) -> tuple[Any, ...]:
    """(x, y, validation x, validation y) of a sequence fit, validated: inputs by :func:`sequences`, targets
    by ``check_targets(name, y, n_samples, n_outputs)``; the validation pair is ``None`` when absent."""
    tx, ty = _pair("train", train)
    x = sequences("train.x", tx, n_inputs)
    if x.shape[0] == 0:
        raise ShapeError("train.x: expected at least one sample, got 0")
    y = check_targets("train.y", ty, x.shape[0], n_outputs)
    vx = vy = None
    if validation is not None:
        a, b = _pair("validation", validation)
        vx = sequences("validation.x", a, n_inputs)
        vy = check_targets("validation.y", b, vx.shape[0], n_outputs)
    return x, y, vx, vy


def fit_bptt(
    net: RecurrentNetwork,
    train: Any,
    *,
    validation: Any = None,
    config: BPTTConfig | None = None,
    seed: int = 0,
    threads: int = 0,
    progress: bool = True,
    callback: Any = None,
    resume: Any = None,
    checkpoint: Any = None,
) -> Any:
    """Train ``net`` in place with BPTT; see :func:`spikeloom.fit`. Returns a :class:`~spikeloom.FitResult`
    whose ``state`` (a :class:`~spikeloom.TrainingState`) can be passed back as ``resume`` to continue
    the run; ``resume`` (a state or the path of a saved one) replaces ``net``'s parameters by the
    state's and runs the epochs after ``state.epochs_done``. With ``checkpoint`` (a path) the state is
    also written there, atomically, after every completed epoch."""
    from .checkpoint import Resumable

    config = config or BPTTConfig()
    if not isinstance(config, BPTTConfig):
        raise InvalidParameterError(f"config: expected a BPTTConfig, got {type(config).__name__}")
    if config.restore_best and validation is None:
        raise InvalidParameterError("validation: restore_best=True needs a validation set; pass validation=...")
    cfg_json = config.to_core_json(seed, threads)
    x, y, vx, vy = sequence_data(net.n_inputs, net.n_outputs, train, validation, targets)

    return run_fit(
        net._net.fit,
        (x, y, vx, vy, cfg_json),
        config.epochs,
        "bptt",
        HISTORY_SCHEMA,
        progress,
        callback,
        resumable=Resumable(resume, checkpoint),
    )


def run_fit(
    core_fit: Any,
    args: tuple[Any, ...],
    epochs: int,
    desc: str,
    schema: dict[str, Any],
    progress: bool,
    callback: Any,
    resumable: Any = None,
) -> Any:
    """Call a core ``fit(*args, on_epoch)`` with a tqdm bar and the user's per-epoch ``callback``;
    return a :class:`~spikeloom.FitResult` with the history as a polars DataFrame of ``schema``. With
    ``resumable`` (a :class:`~spikeloom.checkpoint.Resumable`), the core is called as
    ``fit(*args, on_epoch, resume, checkpoint)``, runs the epochs after the resumed state's, and its
    state is returned in ``state``."""
    resume = checkpoint = fingerprint = None
    if resumable is not None:
        from .checkpoint import run_fingerprint

        # args = (x, y, validation x, validation y, config JSON) for every resumable trainer.
        fingerprint = run_fingerprint(args[-1], *args[:-1])
        resumable.check(desc, fingerprint)
        resume, checkpoint = resumable.core_args()
        epochs = max(epochs - resumable.epochs_done, 0)
    from .checkpoint import TrainingState
    from .training import FitResult

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc=desc, unit="epoch", file=sys.stderr, dynamic_ncols=True)

    def on_epoch(m: dict[str, Any]) -> bool:
        if bar is not None:
            post = {"loss": f"{m['train_loss']:.4f}"}
            if m.get("train_accuracy") is not None and not math.isnan(m["train_accuracy"]):
                post["acc"] = f"{m['train_accuracy']:.3f}"
            if m.get("val_accuracy") is not None:
                post["val_acc"] = f"{m['val_accuracy']:.3f}"
            bar.set_postfix(post, refresh=False)
            bar.update(1)
        if callback is not None:
            return callback(m) is not False
        return True

    start = time.perf_counter()
    state = None
    try:
        if resumable is None:
            rows, interrupted = core_fit(*args, on_epoch)
        else:
            rows, interrupted, core_state = core_fit(*args, on_epoch, resume, checkpoint, fingerprint)
            state = TrainingState(core_state)
    finally:
        if bar is not None:
            bar.close()
    for r in rows:
        if r.get("train_accuracy") is None:
            r["train_accuracy"] = float("nan")
    history = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    interrupted = interrupted or len(rows) < epochs
    return FitResult(history=history, interrupted=interrupted, seconds=time.perf_counter() - start, state=state)


__all__ = ["BPTTConfig", "fit_bptt"]
