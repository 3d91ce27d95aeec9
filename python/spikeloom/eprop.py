"""e-prop (Bellec, Scherr et al. 2020) for :class:`~spikeloom.recurrent.RecurrentNetwork`: online, local
learning of one recurrent layer of LIF (:meth:`SpikingLayer.lif`) or adaptive LIF
(:meth:`SpikingLayer.alif_bellec`) neurons and a leaky readout. The loop runs in Rust.

The update of a weight ``W_ji`` is ``sum_t L_j[t] ebar_ji[t]``: an eligibility trace computed forward in
time from neuron-local quantities, filtered by the readout's kernel, times a learning signal
``L_j[t] = sum_k B_jk zeta_o dE/dy_k[t]`` broadcast from the readout errors. With symmetric feedback
(``B = W_out``) this is exactly BPTT's gradient with the recurrent spike path and the reset detached
(:class:`~spikeloom.bptt.BPTTConfig` ``detach_recurrent=True, detach_reset=True``); the readout's own
update is its exact gradient. There is no backward pass and the memory does not depend on the sequence
length.

The two voltage conventions of the reference code are the layer's ``input_scale``: ``"one"`` (the
paper, NEST, TF ``EligALIF``: ``v = alpha v + W z - v_th z``) and ``"one_minus_alpha"`` (TF tutorial
``LightLIF``: ``v = alpha v + (1 - alpha) W z - v_th z``, presynaptic trace ``alpha zbar + (1 - alpha) z``).

Losses: ``mse`` (targets ``[samples, steps, outputs]``) and ``ce_per_step`` (per-step softmax
cross-entropy, class labels), each over the steps ``[loss_start, loss_end)``. The network has no
refractory period (the reference's evidence-accumulation network uses 5 ms).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from . import _core
from . import _validation as v
from . import surrogates as sg
from .bptt import run_fit, sequence_data
from .errors import InvalidParameterError
from .recurrent import RecurrentNetwork, _choice, _loss_dict, _precision, sequences, targets

HISTORY_SCHEMA = {
    "epoch": pl.Int64,
    "updates": pl.Int64,
    "train_loss": pl.Float64,
    "train_accuracy": pl.Float64,
    "val_loss": pl.Float64,
    "val_accuracy": pl.Float64,
    "rate_hz": pl.Float64,
    "seconds": pl.Float64,
}


def bellec_pseudo_derivative(threshold: float, gamma: float = 0.3) -> sg.PiecewiseLinear:
    """Bellec et al.'s pseudo-derivative ``gamma / v_th * max(0, 1 - |v - A| / v_th)`` as a surrogate in
    absolute voltage units (``threshold`` = v_th of the layer)."""
    return sg.PiecewiseLinear(width=v.positive("threshold", threshold), scale=v.positive("gamma", gamma))


@dataclass(frozen=True)
class EpropConfig(sg.TrainingConfig):
    """Hyper-parameters of an e-prop run.

    Attributes:
        epochs, batch_size: passes over the data and samples per update (per-trial mode) or run in
            lock-step (online mode).
        lr: learning rate; ``optimizer`` ``"adam"`` (betas, eps) or ``"sgd"`` (plain gradient descent).
        mode: ``"per_trial"`` (updates summed over each trial, averaged over the batch, the paper) or
            ``"online"`` (one optimiser step at every time step).
        feedback: ``"symmetric"`` (``B = W_out``), ``"random"`` (fixed ``B ~ N(0, feedback_sd^2)``, seeded)
            or ``"adaptive"`` (``B`` receives ``W_out``'s updates; both shrink by ``feedback_decay`` per update).
        feedback_sd: spread of the random feedback (``None``: ``1 / sqrt(n_rec)``).
        loss, loss_start, loss_end: ``"mse"`` or ``"ce_per_step"`` and its window of steps.
        surrogate: the pseudo-derivative (default: :func:`bellec_pseudo_derivative` for ``v_th = 1``;
            pass the layer's threshold).
        reg_rate, reg_target_hz, reg_average: firing-rate regulariser ``reg_rate / 2 sum_j (f_j -
            reg_target_hz)^2`` with ``f_j`` the batch-and-trial average rate (``"batch"``) or the running
            average since the trial's start (``"running"``, works online).
        precision: ``"float32"`` (fast) or ``"float64"`` (for equivalence checks).
        restore_best: keep the parameters of the best validation epoch.
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 5e-3
    optimizer: str = "adam"
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    mode: str = "per_trial"
    feedback: str = "symmetric"
    feedback_sd: float | None = None
    feedback_decay: float = 0.0
    loss: str = "ce_per_step"
    loss_start: int = 0
    loss_end: int | None = None
    surrogate: Any = field(default_factory=lambda: bellec_pseudo_derivative(1.0))
    reg_rate: float = 0.0
    reg_target_hz: float = 10.0
    reg_average: str = "batch"
    precision: str = "float32"
    restore_best: bool = False

    def __post_init__(self) -> None:
        v.flags(self)
        v.positive_int("epochs", self.epochs)
        v.positive_int("batch_size", self.batch_size)
        v.non_negative("lr", self.lr)
        v.positive("eps", self.eps)
        _choice("optimizer", self.optimizer, ("adam", "sgd"))
        _choice("mode", self.mode, ("per_trial", "online"))
        _choice("feedback", self.feedback, ("symmetric", "random", "adaptive"))
        _choice("loss", self.loss, ("mse", "ce_per_step"))
        _choice("reg_average", self.reg_average, ("batch", "running"))
        _choice("precision", self.precision, ("float32", "float64"))
        _loss_dict(self.loss, self.loss_start, self.loss_end)
        sg.check("surrogate", self.surrogate)
        v.betas("betas", self.betas)
        if self.feedback_sd is not None:
            v.positive("feedback_sd", self.feedback_sd)
        fd = self.feedback_decay
        if isinstance(fd, bool) or not isinstance(fd, int | float) or not 0.0 <= fd < 1.0:
            raise InvalidParameterError(f"feedback_decay: expected a value in [0, 1), got {fd!r}")
        v.non_negative("reg_rate", self.reg_rate)
        v.non_negative("reg_target_hz", self.reg_target_hz)
        if self.mode == "online" and self.reg_rate > 0 and self.reg_average == "batch":
            raise InvalidParameterError(
                "reg_average: expected 'running' in online mode (the batch average is only known at the end "
                "of a trial), got 'batch'"
            )

    def to_core_json(self, seed: int, threads: int) -> str:
        """The core's configuration (JSON)."""
        d = {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "optimizer": self.optimizer,
            "betas": list(self.betas),
            "eps": self.eps,
            "mode": self.mode,
            "feedback": self.feedback,
            "feedback_sd": self.feedback_sd,
            "feedback_decay": self.feedback_decay,
            "loss": _loss_dict(self.loss, self.loss_start, self.loss_end),
            "surrogate": self.surrogate.to_dict(),
            "reg_rate": self.reg_rate,
            "reg_target_hz": self.reg_target_hz,
            "reg_average": self.reg_average,
            "precision": _precision(self.precision),
            "seed": v.seed("seed", seed),
            "threads": v.threads(threads),
            "restore_best": self.restore_best,
        }
        return json.dumps(d, allow_nan=False)


def _check_net(net: Any) -> RecurrentNetwork:
    if not isinstance(net, RecurrentNetwork):
        raise InvalidParameterError(f"net: e-prop trains a RecurrentNetwork, got {type(net).__name__}")
    return net


def fit_eprop(
    net: RecurrentNetwork,
    train: Any,
    *,
    validation: Any = None,
    config: EpropConfig | None = None,
    seed: int = 0,
    threads: int = 0,
    progress: bool = True,
    callback: Any = None,
    resume: Any = None,
    checkpoint: Any = None,
) -> Any:
    """Train ``net`` in place with e-prop; same arguments as :func:`spikeloom.fit` (also for ``resume``
    and ``checkpoint``). Returns a
    :class:`~spikeloom.FitResult` whose history has one row per epoch (``updates`` = optimiser steps so far)."""
    _check_net(net)
    config = config or EpropConfig()
    if not isinstance(config, EpropConfig):
        raise InvalidParameterError(f"config: expected an EpropConfig, got {type(config).__name__}")
    if config.restore_best and validation is None:
        raise InvalidParameterError("validation: restore_best=True needs a validation set; pass validation=...")
    cfg_json = config.to_core_json(seed, threads)
    x, y, vx, vy = sequence_data(net.n_inputs, net.n_outputs, train, validation, targets)

    def core_fit(*args: Any) -> Any:
        return _core.eprop_fit(net._net, *args)

    from .checkpoint import Resumable

    return run_fit(
        core_fit,
        (x, y, vx, vy, cfg_json),
        config.epochs,
        "eprop",
        HISTORY_SCHEMA,
        progress,
        callback,
        resumable=Resumable(resume, checkpoint),
    )


def eprop_update(
    net: RecurrentNetwork,
    x: Any,
    y: Any,
    config: EpropConfig,
    *,
    seed: int = 0,
    online_sum: bool = False,
) -> tuple[float, dict[str, np.ndarray]]:
    """Mean loss over ``(x, y)`` (one batch) and e-prop's update direction by tensor name (the estimate of
    the loss gradient; time constants are not trained and get zeros). ``online_sum``: the sum of the
    online per-step updates with frozen weights instead (equal to the per-trial update)."""
    _check_net(net)
    xs = sequences("x", x, net.n_inputs)
    ys = targets("y", y, xs.shape[0], net.n_outputs)
    loss, g = _core.eprop_gradient(net._net, xs, ys, config.to_core_json(seed, 0), online_sum)
    return float(loss), {name: g[a:b].reshape(shape) for name, shape, a, b in net._net.tensors()}


def workspace_bytes(net: RecurrentNetwork, x: Any, y: Any, config: EpropConfig) -> int:
    """Bytes of one sample's e-prop state after running the first sample of ``x`` (does not grow with the
    number of steps: nothing is stored per step)."""
    _check_net(net)
    xs = sequences("x", x, net.n_inputs)
    ys = targets("y", y, xs.shape[0], net.n_outputs)
    return int(_core.eprop_workspace_bytes(net._net, xs, ys, config.to_core_json(0, 0)))


__all__ = ["EpropConfig", "bellec_pseudo_derivative", "eprop_update", "fit_eprop", "workspace_bytes"]
