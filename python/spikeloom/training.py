"""Training: one call trains for N epochs in Rust; Python gets per-epoch metrics through a callback."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from . import _validation as v
from .alpha import AlphaConfig, AlphaNetwork
from .datasets.base import Split
from .errors import InvalidParameterError, ShapeError
from .network import TTFSNetwork

HISTORY_SCHEMA = {
    "epoch": pl.Int64,
    "train_loss": pl.Float64,
    "train_accuracy": pl.Float64,
    "val_loss": pl.Float64,
    "val_accuracy": pl.Float64,
    "lr": pl.Float64,
    "bumps": pl.Int64,
    "chopped": pl.Int64,
    "seconds": pl.Float64,
}


@dataclass
class TTFSConfig:
    """Hyper-parameters of exact time-to-first-spike training (defaults: Göltz et al. 2021, Yin-Yang).

    Attributes:
        epochs: passes over the training set.
        batch_size: samples per Adam step.
        lr: Adam learning rate; multiplied by ``lr_gamma`` every ``lr_step`` epochs.
        xi: softmax temperature of the loss, in units of tau_syn.
        alpha: weight of the regulariser ``alpha (exp(t_label / (beta tau_syn)) - 1)``.
        beta: regulariser time constant, in units of tau_syn.
        max_dw_norm: per (sample, neuron) clipping: a neuron's gradient for a sample is dropped when
            any |dL/dw| in it exceeds this value.
        max_missing: per layer, the tolerated fraction of silent (sample, neuron) pairs in a batch
            before the step is replaced by weight bumping. Default: 0.3 for hidden layers, 0 for output.
        bump: initial value added to the incoming weights of silent neurons; doubles for consecutive
            bumps of a layer when ``bump_exponential``.
        input_noise: sd of Gaussian jitter added to input times during training, seconds (0 = off).
    """

    epochs: int = 300
    batch_size: int = 150
    lr: float = 0.005
    lr_step: int = 20
    lr_gamma: float = 0.95
    xi: float = 0.2
    alpha: float = 0.005
    beta: float = 1.0
    max_dw_norm: float = 0.2
    max_missing: Sequence[float] | None = None
    bump: float = 5e-4
    bump_exponential: bool = True
    input_noise: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    extra: dict[str, Any] = field(default_factory=dict)

    def to_core_json(self, net: TTFSNetwork, seed: int, threads: int) -> str:
        """The JSON document the Rust training loop reads (validated there too)."""
        n_layers = net.n_layers
        v.flags(self)
        if self.max_missing is not None and (
            isinstance(self.max_missing, str) or not isinstance(self.max_missing, Sequence)
        ):
            raise InvalidParameterError(
                f"max_missing: expected one fraction per layer ({n_layers}), got {self.max_missing!r}"
            )
        max_missing = list(self.max_missing) if self.max_missing is not None else [0.3] * (n_layers - 1) + [0.0]
        for i, m in enumerate(max_missing):
            if not (isinstance(m, int | float) and 0.0 <= m <= 1.0):
                raise InvalidParameterError(f"max_missing[{i}]: expected a fraction in [0, 1], got {m!r}")
        for name in ("adam_beta1", "adam_beta2"):
            b = getattr(self, name)
            if not (isinstance(b, int | float) and 0.0 <= b < 1.0):
                raise InvalidParameterError(f"{name}: expected a value in [0, 1), got {b!r}")
        if len(max_missing) != n_layers:
            raise ShapeError(f"max_missing: expected one fraction per layer ({n_layers}), got {len(max_missing)}")
        d = {
            "epochs": v.positive_int("epochs", self.epochs, 0),
            "batch_size": v.positive_int("batch_size", self.batch_size),
            "lr": v.positive("lr", self.lr),
            "lr_step": v.positive_int("lr_step", self.lr_step),
            "lr_gamma": v.positive("lr_gamma", self.lr_gamma),
            "adam_beta1": float(self.adam_beta1),
            "adam_beta2": float(self.adam_beta2),
            "adam_eps": v.positive("adam_eps", self.adam_eps),
            "loss": {
                "xi": v.positive("xi", self.xi),
                "alpha": v.non_negative("alpha", self.alpha),
                "beta": v.positive("beta", self.beta),
                "tau_syn": net._net.tau_syn,
            },
            "max_dw_norm": v.positive("max_dw_norm", self.max_dw_norm),
            "max_missing": [float(m) for m in max_missing],
            "bump": v.non_negative("bump", self.bump),
            "bump_exponential": bool(self.bump_exponential),
            "input_noise": v.non_negative("input_noise", self.input_noise),
            "seed": v.seed("seed", seed),
            "threads": v.threads(threads),
        }
        return json.dumps(d, allow_nan=False)


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        history: one row per epoch (epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr,
            bumps, chopped, seconds).
        interrupted: True when Ctrl-C or the callback stopped training early (weights are kept).
        seconds: wall time of the whole call, seconds.
        state: the run's :class:`~spikeloom.TrainingState`, to resume it with
            ``fit(..., resume=state)``.
    """

    history: pl.DataFrame
    interrupted: bool
    seconds: float
    state: Any = None


def _as_pair(name: str, data: Split | tuple[Any, Any]) -> tuple[Any, Any]:
    if isinstance(data, Split):
        return data.x, data.y
    if isinstance(data, tuple) and len(data) == 2:
        return data
    raise InvalidParameterError(f"{name}: expected a Split or a (times, labels) tuple, got {type(data).__name__}")


def fit(
    net: Any,
    train: Split | tuple[Any, Any],
    *,
    validation: Split | tuple[Any, Any] | None = None,
    config: Any = None,
    seed: int = 0,
    threads: int = 0,
    progress: bool = True,
    callback: Callable[[dict[str, Any]], bool | None] | None = None,
    resume: Any = None,
    checkpoint: Any = None,
) -> FitResult:
    """Train ``net`` in place.

    The method follows the network and config: exact spike-time gradients with :class:`TTFSConfig`
    (Göltz et al. 2021) or :class:`AlphaConfig` (Comsa et al. 2020) for a :class:`TTFSNetwork` /
    :class:`AlphaNetwork`; S4NN's temporal backpropagation (:class:`~spikeloom.s4nn.S4NNConfig`,
    Kheradpisheh & Masquelier 2020) for an :class:`~spikeloom.s4nn.S4NNNetwork` (input spike times
    are integer steps; it returns an :class:`~spikeloom.s4nn.S4NNFitResult`, a :class:`FitResult` with
    ``best_epoch``); surrogate-gradient BPTT (:class:`~spikeloom.bptt.BPTTConfig`) for a
    :class:`~spikeloom.recurrent.RecurrentNetwork` (or e-prop with
    :class:`~spikeloom.eprop.EpropConfig`), and DECOLLE's local learning
    (:class:`~spikeloom.decolle.DecolleConfig`) for a :class:`~spikeloom.decolle.DecolleNetwork`; the
    data of both are sequences ``[samples, steps, channels]``.

    Args:
        net: the network to train.
        train: input spike times (samples, n_inputs) in seconds with integer labels.
        validation: optional held-out set evaluated after every epoch.
        config: hyper-parameters (default: ``AlphaConfig()`` for an :class:`AlphaNetwork`,
            ``S4NNConfig()`` (the paper's MNIST settings) for an S4NN network, else the Göltz et al.
            Yin-Yang settings).
        seed: seed of the shuffling (and input noise). Results do not depend on ``threads``.
        threads: worker threads (0 = all cores).
        progress: show a tqdm progress bar (stderr).
        callback: called with each epoch's metrics dict; returning ``False`` stops training.
        resume: a :class:`~spikeloom.TrainingState` (or the path of a saved
            one) from an earlier ``fit`` of this network and config; training continues from it (its
            parameters replace ``net``'s) with the epochs after ``state.epochs_done``.
        checkpoint: a file the run's :class:`~spikeloom.TrainingState` is
            written to (atomically) after every completed epoch, for ``resume`` after a crash.

    Returns:
        A :class:`FitResult`; Ctrl-C stops after the current epoch and keeps the trained weights.
    """
    from .bptt import BPTTConfig, fit_bptt, run_fit
    from .checkpoint import Resumable
    from .decolle import DecolleConfig, DecolleNetwork, fit_decolle
    from .eprop import EpropConfig, fit_eprop
    from .recurrent import RecurrentNetwork
    from .s4nn import S4NNConfig, S4NNNetwork

    # What every trainer takes besides the network, data and config.
    run: dict[str, Any] = {
        "seed": seed,
        "threads": threads,
        "progress": progress,
        "callback": callback,
        "resume": resume,
        "checkpoint": checkpoint,
    }
    if isinstance(net, S4NNNetwork) or isinstance(config, S4NNConfig):
        if not isinstance(net, S4NNNetwork):
            raise InvalidParameterError(f"net: an S4NNConfig trains an S4NNNetwork, got {type(net).__name__}")
        if config is None:
            config = S4NNConfig()
        if not isinstance(config, S4NNConfig):
            raise InvalidParameterError(
                f"config: an S4NNNetwork trains with an S4NNConfig, got {type(config).__name__}"
            )
        return net.fit(train, validation, **config.fit_kwargs(), **run)

    if isinstance(net, DecolleNetwork) or isinstance(config, DecolleConfig):
        if not isinstance(net, DecolleNetwork):
            raise InvalidParameterError(f"net: a DecolleConfig trains a DecolleNetwork, got {type(net).__name__}")
        return fit_decolle(net, train, validation=validation, config=config, **run)  # type: ignore[arg-type]

    if isinstance(config, EpropConfig):
        return fit_eprop(net, train, validation=validation, config=config, **run)

    if isinstance(net, RecurrentNetwork) or isinstance(config, BPTTConfig):
        if not isinstance(net, RecurrentNetwork):
            raise InvalidParameterError(f"net: a BPTTConfig trains a RecurrentNetwork, got {type(net).__name__}")
        return fit_bptt(net, train, validation=validation, config=config, **run)  # type: ignore[arg-type]
    if not isinstance(net, TTFSNetwork):
        raise InvalidParameterError(
            "net: expected a TTFSNetwork, AlphaNetwork, S4NNNetwork, RecurrentNetwork or DecolleNetwork, got "
            f"{type(net).__name__}"
        )
    if config is None:
        config = AlphaConfig() if isinstance(net, AlphaNetwork) else TTFSConfig()
    if not isinstance(config, TTFSConfig | AlphaConfig):
        raise InvalidParameterError(f"config: expected a TTFSConfig or an AlphaConfig, got {type(config).__name__}")
    if isinstance(config, AlphaConfig) and config.restore_best and validation is None:
        raise InvalidParameterError(
            "validation: AlphaConfig(restore_best=True) picks the best epoch on a validation set; "
            "pass validation=... or set restore_best=False"
        )
    cfg_json = config.to_core_json(net, seed, threads)
    tx, ty = _as_pair("train", train)
    x = v.spike_times("train times", tx, net.sizes[0])
    y = v.labels("train labels", ty, x.shape[0], net.sizes[-1])
    if x.shape[0] == 0:
        raise ShapeError("train: expected at least one sample, got 0")
    vx = vy = None
    if validation is not None:
        a, b = _as_pair("validation", validation)
        vx = v.spike_times("validation times", a, net.sizes[0])
        vy = v.labels("validation labels", b, vx.shape[0], net.sizes[-1])

    method = "alpha" if isinstance(config, AlphaConfig) else "ttfs"
    return run_fit(
        net._net.fit,
        (x, y, vx, vy, cfg_json),
        config.epochs,
        method,
        HISTORY_SCHEMA,
        progress,
        callback,
        resumable=Resumable(resume, checkpoint),
    )


def config_dict(config: TTFSConfig | AlphaConfig) -> dict[str, Any]:
    """Plain-dict view of a config (for logs and JSON)."""
    d = asdict(config)
    if isinstance(config, TTFSConfig):
        d["max_missing"] = None if config.max_missing is None else list(config.max_missing)
    return d


__all__ = ["FitResult", "TTFSConfig", "config_dict", "fit"]
