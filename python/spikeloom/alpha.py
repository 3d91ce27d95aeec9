"""Comsa et al. (2020), "Temporal coding in spiking neural networks with alpha synaptic function".

Networks of alpha-synapse neurons (:class:`~spikeloom.Alpha`) with trainable synchronisation pulses,
trained with the paper's method (:class:`AlphaConfig`). They run on the same exact engine as
:class:`~spikeloom.TTFSNetwork` (the alpha neuron is the ``tau_mem = tau_syn`` LIF neuron with a rescaled
threshold); pulses are the layers' bias spikes, made trainable.

Example (noisy XOR with the reference's defaults)::

    import spikeloom as sl
    data = sl.datasets.noisy_logic("xor")
    neuron = sl.Alpha(tau=1e-3, v_th=0.4)                 # K = 1 per time unit (1 ms)
    enc = sl.LinearLatency(0.0, neuron.time_unit)           # value x -> spike at x time units
    net = sl.AlphaNetwork([2, 4, 2], neuron=neuron, n_pulses=2, seed=0, encoder=enc)
    sl.fit(net, data.train.encode(enc), validation=data.validation.encode(enc), config=sl.AlphaConfig())
    net.evaluate(enc(data.test.x), data.test.y)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from . import _core
from . import _validation as v
from .errors import InvalidParameterError, ShapeError
from .network import TTFSNetwork
from .neurons import Alpha

#: The MNIST hyper-parameters of the google/ihmehimmeli README (784-340-10, 10 pulses per layer), in the
#: paper's time units.
MNIST_DECAY_RATE = 0.18176949150701854
MNIST_THRESHOLD = 1.1673205005788956
MNIST_LR = 0.0010186407877494507
MNIST_LR_PULSES = 0.09537534860701444
MNIST_CLIP_DERIVATIVE = 539.69973904211679
MNIST_PENALTY_NO_SPIKE = 48.374830659132556
MNIST_DATA_MEAN_MULTIPLIER = -0.2754188425913906
MNIST_PULSE_MEAN_MULTIPLIER = 7.8391245503824578


def evenly_spaced_pulses(n_pulses: int, t_min: float, t_max: float) -> list[float]:
    """``n_pulses`` times evenly inside ``(t_min, t_max)``: ``t_min + (t_max - t_min) (p + 1) / (n_pulses + 1)``."""
    n = v.positive_int("n_pulses", n_pulses, 0)
    lo, hi = v.non_negative("t_min", t_min), v.non_negative("t_max", t_max)
    if hi < lo:
        raise InvalidParameterError(f"input_range: expected t_min <= t_max, got ({lo}, {hi})")
    return [lo + (hi - lo) * (p + 1) / (n + 1) for p in range(n)]


class AlphaNetwork(TTFSNetwork):
    """Feed-forward network of alpha-synapse neurons with synchronisation pulses (Comsa et al. 2020).

    Every layer receives, besides the previous layer's spikes, ``n_pulses`` pulse spikes with their
    own trainable weights; pulse times are trained too (see :class:`AlphaConfig`). Spike times are exact;
    all times are in seconds; ``inf`` = no spike. Inherits ``run``, ``predict``, ``save``/``load``,
    ``to_bytes``/``from_bytes`` and pickling from :class:`~spikeloom.TTFSNetwork` (pulse times are saved).

    Args:
        sizes: ``[n_inputs, n_hidden..., n_outputs]``.
        neuron: the alpha neuron (shared by all layers). Default ``Alpha()`` (tau = time unit = 1 ms).
        n_pulses: pulses per layer, evenly spaced in ``input_range`` (the reference: ``(p + 1) / (n + 1)``).
        pulses: explicit pulse times per layer (a list of lists, seconds); overrides ``n_pulses``.
        input_range: ``(t_min, t_max)`` of the pulses, seconds. Default ``(0, neuron.time_unit)``, the
            paper's input range [0, 1].
        data_mean_multiplier, pulse_mean_multiplier: Glorot-style initialisation of the reference:
            weights ~ N(m sd, sd) with ``sd = sqrt(2 / (n_out + n_in + n_pulses))`` and ``m`` the
            multiplier of data or pulse columns.
        seed: seed of the weight initialisation.
        encoder: optional encoder from features to input times, stored with the network.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        neuron: Alpha | None = None,
        n_pulses: int = 2,
        pulses: Sequence[Sequence[float]] | None = None,
        input_range: tuple[float, float] | None = None,
        data_mean_multiplier: float = 0.0,
        pulse_mean_multiplier: float = 0.0,
        seed: int = 0,
        encoder: Any = None,
    ) -> None:
        neuron = neuron if neuron is not None else Alpha()
        if not isinstance(neuron, Alpha):
            raise InvalidParameterError(f"neuron: expected a spikeloom.Alpha, got {type(neuron).__name__}")
        sizes = [v.positive_int(f"sizes[{i}]", s) for i, s in enumerate(sizes)]
        if len(sizes) < 2:
            raise ShapeError(f"sizes: expected at least 2 layer sizes (inputs, outputs), got {sizes}")
        n_layers = len(sizes) - 1
        if pulses is None:
            lo, hi = input_range if input_range is not None else (0.0, neuron.time_unit)
            layer_pulses = evenly_spaced_pulses(n_pulses, lo, hi)
            bias = [list(layer_pulses) for _ in range(n_layers)]
        else:
            bias = [[v.non_negative(f"pulses[{i}]", t) for t in layer] for i, layer in enumerate(pulses)]
            if len(bias) != n_layers:
                raise ShapeError(f"pulses: expected one list per layer ({n_layers}), got {len(bias)}")
        for name, m in (
            ("data_mean_multiplier", data_mean_multiplier),
            ("pulse_mean_multiplier", pulse_mean_multiplier),
        ):
            try:
                ok = math.isfinite(float(m))
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise InvalidParameterError(f"{name}: expected a finite number, got {m!r}")
        init = []
        for layer in range(n_layers):
            sd = math.sqrt(2.0 / (sizes[layer + 1] + sizes[layer] + len(bias[layer])))
            init.append((float(data_mean_multiplier) * sd, sd, float(pulse_mean_multiplier) * sd, sd))
        lif = neuron.lif()
        self._net = _core.TtfsNetwork.with_init(
            sizes, lif.tau_mem, lif.tau_syn, lif.v_th, bias, init, v.seed("seed", seed)
        )
        self.neuron = neuron
        self.encoder = encoder
        self.seed = seed

    # --- structure -------------------------------------------------------------------------------
    @property
    def pulses(self) -> list[list[float]]:
        """Pulse times of each layer, seconds (the layers' bias spikes)."""
        return self.bias_times

    def set_pulses(self, layer: int, times: Sequence[float]) -> None:
        """Replace one layer's pulse times (same count; finite, >= 0, seconds)."""
        if not isinstance(layer, int) or not 0 <= layer < self.n_layers:
            raise InvalidParameterError(f"layer: expected an index in 0..{self.n_layers - 1}, got {layer!r}")
        t = [v.non_negative(f"times[{i}]", x) for i, x in enumerate(times)]
        n = len(self.bias_times[layer])
        if len(t) != n:
            raise ShapeError(f"times: expected {n} pulse times (the layer's pulse count), got {len(t)}")
        self._net.set_bias_times(layer, t)

    def __repr__(self) -> str:
        return f"AlphaNetwork(sizes={self.sizes}, neuron={self.neuron}, pulses={self.pulses}, encoder={self.encoder})"

    # --- evaluation ------------------------------------------------------------------------------
    def evaluate(  # type: ignore[override]
        self,
        times: Any,
        labels: Any,
        penalty_output_spike_time: float = 0.0,
        threads: int = 0,
    ) -> dict[str, float]:
        """Loss (Comsa et al.'s cross-entropy over ``softmax(-t / time_unit)``) and accuracy.

        Accuracy: the first output neuron to spike must be the label (lowest index on ties; no output
        spike counts as wrong).
        """
        x = v.spike_times("times", times, self.sizes[0])
        v.samples("times", x.shape[0])
        y = v.labels("labels", labels, x.shape[0], self.sizes[-1])
        loss, acc, _ = self._net.evaluate_comsa(
            x,
            y,
            self.neuron.time_unit,
            v.non_negative("penalty_output_spike_time", penalty_output_spike_time),
            v.threads(threads),
        )
        return {"loss": float(loss), "accuracy": float(acc)}

    def gradients(self, times: Any, labels: Any, config: AlphaConfig | None = None, threads: int = 0) -> dict[str, Any]:
        """The gradient one training step of ``config`` would take on these samples (one batch).

        Returns a dict: ``loss`` (mean over samples), ``accuracy``, ``contributing`` (samples that
        contributed: all, or the misclassified ones), ``weights`` (dL/dW per layer, averaged over the
        contributing samples, local clipping and the no-spike penalty included) and ``pulses``
        (dL/dt of each pulse, 1/s, averaged the same way).
        """
        config = config if config is not None else AlphaConfig()
        if not isinstance(config, AlphaConfig):
            raise InvalidParameterError(f"config: expected an AlphaConfig, got {type(config).__name__}")
        x = v.spike_times("times", times, self.sizes[0])
        y = v.labels("labels", labels, x.shape[0], self.sizes[-1])
        if x.shape[0] == 0:
            raise ShapeError("times: expected at least one sample, got 0")
        settings = json.dumps(config._settings(time_unit_of(self)), allow_nan=False)
        loss, acc, n, w, p = self._net.comsa_gradients(x, y, settings, v.threads(threads))
        return {"loss": float(loss), "accuracy": float(acc), "contributing": int(n), "weights": w, "pulses": p}

    # --- persistence -----------------------------------------------------------------------------
    def _extra(self) -> str:
        return json.dumps(
            {
                "encoder": self.encoder.to_dict() if self.encoder else None,
                "seed": self.seed,
                "neuron": {"type": "Alpha", **asdict(self.neuron)},
            }
        )


def time_unit_of(net: TTFSNetwork) -> float:
    """The unit of time of Comsa et al.'s loss for ``net``: the alpha neuron's, else tau_syn."""
    return net.neuron.time_unit if isinstance(net.neuron, Alpha) else net._net.tau_syn


def alpha_from_core(core: Any, d: dict[str, Any]) -> Alpha:
    """Rebuild the Alpha neuron stored in a file and check it against the core's LIF parameters."""
    neuron = Alpha(float(d["tau"]), float(d["v_th"]), float(d["time_unit"]))
    lif = neuron.lif()
    if not (
        math.isclose(core.tau_mem, lif.tau_mem, rel_tol=1e-12)
        and math.isclose(core.tau_syn, lif.tau_syn, rel_tol=1e-12)
        and math.isclose(core.threshold, lif.v_th, rel_tol=1e-12)
    ):
        raise ValueError(f"alpha neuron {neuron} does not match the stored LIF parameters")
    return neuron


@dataclass
class AlphaConfig:
    """Hyper-parameters of Comsa et al.'s training. Defaults: the reference's flag defaults (its Boolean tasks).

    Times-related values are in the paper's time unit (``neuron.time_unit``), as in the paper.

    Attributes:
        epochs: passes over the training set.
        batch_size: samples per step.
        lr: Adam learning rate of the weights; multiplied by ``lr_decay`` after every epoch.
        lr_pulses: Adam learning rate of the pulse times, in time units (constant).
        train_pulses: train the pulse times (separate Adam state; clamped to >= 0 after each step).
        penalty_no_spike: every incoming weight (pulses included) of a neuron that did not spike gets the
            gradient ``-penalty_no_spike`` (so the step raises it).
        penalty_output_spike_time: weight of ``sum_k (t_k / time_unit)^2`` over spiking outputs in the loss.
        clip_derivative: clip each local derivative (dt/dw in time units, dt/dt_i) to +- this (None = off).
        clip_gradient: clip each product dL/dt * derivative to +- this (None = off).
        update_all_datapoints: learn from every sample (True) or only from misclassified ones (False).
            Gradients are averaged over the contributing samples of a batch.
        restore_best: keep the network of the epoch with the best validation accuracy (the latest on
            ties), as the reference does; needs a validation set.
        adam_eps_placement: ``"inside"`` the square root (the reference: ``m / sqrt(v + eps)``) or
            ``"outside"`` (PyTorch).
        input_noise: sd of Gaussian jitter of input times during training, seconds (0 = off).
    """

    epochs: int = 100
    batch_size: int = 1
    lr: float = 1e-4
    lr_pulses: float = 1e-3
    lr_decay: float = 1.0
    train_pulses: bool = True
    penalty_no_spike: float = 1.0
    penalty_output_spike_time: float = 0.0
    clip_derivative: float | None = None
    clip_gradient: float | None = None
    update_all_datapoints: bool = False
    restore_best: bool = True
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    adam_eps_placement: str = "inside"
    input_noise: float = 0.0

    @classmethod
    def mnist(cls, **overrides: Any) -> AlphaConfig:
        """The MNIST command line of the google/ihmehimmeli README (batch 32, 100 epochs)."""
        base: dict[str, Any] = dict(
            epochs=100,
            batch_size=32,
            lr=MNIST_LR,
            lr_pulses=MNIST_LR_PULSES,
            penalty_no_spike=MNIST_PENALTY_NO_SPIKE,
            clip_derivative=MNIST_CLIP_DERIVATIVE,
            update_all_datapoints=True,
        )
        base.update(overrides)
        return cls(**base)

    def _settings(self, time_unit: float) -> dict[str, Any]:
        clips = {}
        for name in ("clip_derivative", "clip_gradient"):
            c = getattr(self, name)
            clips[name] = None if c is None else v.positive(name, c)
        return {
            "time_unit": v.positive("time_unit", time_unit),
            "penalty_output_spike_time": v.non_negative("penalty_output_spike_time", self.penalty_output_spike_time),
            "penalty_no_spike": v.non_negative("penalty_no_spike", self.penalty_no_spike),
            **clips,
            "update_all_datapoints": _flag("update_all_datapoints", self.update_all_datapoints),
            "train_pulses": _flag("train_pulses", self.train_pulses),
            "lr_pulses": v.positive("lr_pulses", self.lr_pulses),
        }

    def to_core_json(self, net: TTFSNetwork, seed: int, threads: int) -> str:
        """The JSON document the Rust training loop reads (validated there too)."""
        v.flags(self)
        for name in ("adam_beta1", "adam_beta2"):
            b = getattr(self, name)
            if not (isinstance(b, int | float) and 0.0 <= b < 1.0):
                raise InvalidParameterError(f"{name}: expected a value in [0, 1), got {b!r}")
        if self.adam_eps_placement not in ("inside", "outside"):
            raise InvalidParameterError(
                f"adam_eps_placement: expected 'inside' or 'outside', got {self.adam_eps_placement!r}"
            )
        unit = time_unit_of(net)
        d = {
            "epochs": v.positive_int("epochs", self.epochs, 0),
            "batch_size": v.positive_int("batch_size", self.batch_size),
            "lr": v.positive("lr", self.lr),
            "lr_step": 1,
            "lr_gamma": v.positive("lr_decay", self.lr_decay),
            "adam_beta1": float(self.adam_beta1),
            "adam_beta2": float(self.adam_beta2),
            "adam_eps": v.positive("adam_eps", self.adam_eps),
            # Göltz's loss fields are required by the format but unused by this method.
            "loss": {"xi": 1.0, "alpha": 0.0, "beta": 1.0, "tau_syn": unit},
            "max_dw_norm": 1.0,
            "max_missing": [1.0] * net.n_layers,
            "bump": 0.0,
            "bump_exponential": False,
            "input_noise": v.non_negative("input_noise", self.input_noise),
            "seed": v.seed("seed", seed),
            "threads": v.threads(threads),
            "method": {"comsa": self._settings(unit)},
            "adam_eps_placement": self.adam_eps_placement,
            "restore_best": _flag("restore_best", self.restore_best),
        }
        return json.dumps(d, allow_nan=False)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise InvalidParameterError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


__all__ = ["AlphaConfig", "AlphaNetwork", "evenly_spaced_pulses"]
