"""A model of analog neuromorphic hardware: limited weight precision and range, fixed-pattern mismatch,
trial-to-trial noise; hardware-aware and hardware-in-the-loop training; Monte Carlo deployment.

One seeded object, :class:`Hardware`, describes a chip family. It is a transform of the *effective
parameters* of a network (Rockpool's design: mismatch and quantisation are pure functions of the
parameters), applied in the forward pass while float "shadow" weights are kept and trained:

- weights: clipped to ``[-weight_range, weight_range]`` and rounded to ``bits`` of magnitude plus a
  sign (levels ``k * weight_range / (2**bits - 1)``, ``|k| <= 2**bits - 1``), then multiplied by a
  frozen per-synapse gain ``1 + weight_mismatch * z``;
- thresholds: per-neuron gain ``1 + threshold_mismatch * z``. For neurons with rest 0 and linear
  sub-threshold dynamics, a threshold ``theta g`` is *exactly* equivalent to dividing the neuron's
  incoming weights by ``g`` (the membrane is linear in the weights), which is how it is applied;
- time constants: per-neuron gain ``1 + tau_mismatch * z`` on tau_mem and tau_syn together (the
  closed-form spike-time solvers need tau_mem / tau_syn = 1 or 2, which this keeps);
- trial noise, new in every run of a sample: Gaussian spike-time jitter (``jitter``, seconds) on every
  input and every emitted spike, and lost input/hidden spikes (probability ``spike_loss``).

Gains are truncated at 0.05 so that no parameter changes sign. A chip instance is drawn from
``(hardware, network shape, seed)``; the same seed always gives the same chip.

Training modes (:func:`fit_hardware`): ``"ideal"`` (train without the model, deploy afterwards),
``"aware"`` (every batch runs on a freshly sampled chip; gradients go through the chip's effective
parameters and straight through the quantiser to the shadow weights, which are kept inside the
weight range) and ``"in-the-loop"`` (every
batch runs on one fixed chip; the gradient is the ideal model's evaluated at the spike times the chip
produced, as Göltz et al. did on BrainScaleS-2).

Clock-driven networks (:class:`~spikeloom.recurrent.RecurrentNetwork`, DECOLLE, S4NN) meet the chip
through their parameters (:meth:`Hardware.deploy`, one implementation in the Rust core): weights
quantised and mismatched, per-neuron thresholds as incoming weights and bias divided by the gain,
per-element time-constant gains; their trial noise is lost and jittered input spikes
(:meth:`Hardware.trial_inputs`: jitter in steps of the network's ``dt``; S4NN's integer spike times
are only lost). Recurrent networks train in both hardware modes with BPTT: hardware-aware with a
new chip every batch, in the loop with the reverse pass of the ideal model (shadow parameters) at the
trajectory the chip ran, as Cramer et al. (2022) trained on BrainScaleS-2. DECOLLE (per-batch updates)
and e-prop (per-trial updates) train in both modes with their gradients computed on the chip (for
DECOLLE exactly the ideal local gradient at the chip's trajectory; for e-prop on-chip learning), and
S4NN with mini-batches (in the loop: the ideal model's deltas at the chip's spike times). Every
hardware run resumes from its :class:`~spikeloom.TrainingState` exactly (``fit_hardware(...,
resume=..., checkpoint=...)``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from . import _core
from . import _validation as v
from .alpha import AlphaConfig, AlphaNetwork
from .bptt import BPTTConfig
from .datasets.base import Split
from .decolle import DecolleConfig, DecolleNetwork
from .eprop import EpropConfig
from .errors import InvalidParameterError, UnknownNameError, UnsupportedError
from .network import TTFSNetwork
from .recurrent import RecurrentNetwork
from .training import FitResult, TTFSConfig, fit

HardwareMode = Literal["ideal", "aware", "in-the-loop"]
MODES: tuple[str, ...] = ("ideal", "aware", "in-the-loop")

#: Levels per unit weight of the BrainScaleS-2-like preset: a weight w is held as round(w * 15) with
#: magnitude 0..63 (6 bits + sign), i.e. the range 63 / 15 = 4.2 in this library's weight unit (threshold
#: 1, kernel peak 1/e per unit weight). The chip-to-model weight gain is a calibration choice: Göltz et
#: al.'s code programs round(w * 30) (range 2.1) in the units of its own hardware model (leak
#: conductance 4, threshold 1.08), which are not these; 15 makes the 63 levels cover the weights the
#: Yin-Yang recipe learns (|w| up to ~4.3).
BSS2_WEIGHT_SCALE = 15.0


@dataclass(frozen=True)
class Hardware:
    """A chip family (see the module docs). Spreads are relative standard deviations (0.1 = 10 %).

    Attributes:
        bits: bits of weight magnitude (plus a sign); None = float weights.
        weight_range: largest weight magnitude (weights are clipped to it); None = unlimited.
            For parameter-based deployment of other networks, ``bits`` without a range quantises
            each weight tensor over its own largest magnitude.
        weight_mismatch: relative sd of every synapse's gain (frozen per chip).
        threshold_mismatch: relative sd of every neuron's threshold (frozen per chip).
        tau_mismatch: relative sd of every neuron's time constants (frozen per chip).
        jitter: sd of the Gaussian jitter of every spike time, seconds (new every trial; clock-driven
            networks: input spikes, rounded to steps of their ``dt``; S4NN: none).
        spike_loss: probability that an input or hidden spike is lost (new every trial; clock-driven
            networks and S4NN: input spikes only).
        membrane_noise: membrane noise (new every trial) as the stationary sd of a free membrane's
            fluctuation, in thresholds: every step adds Gaussian noise of sd ``membrane_noise *
            threshold * sqrt(1 - alpha**2)`` to each spiking neuron's membrane (an Ornstein-Uhlenbeck
            process with the membrane time constant). Simulated by :class:`RecurrentNetwork` (BPTT and
            e-prop training, evaluation); the exact spike-time engines, S4NN and DECOLLE refuse it.
            (e-prop training also refuses ``tau_mismatch``: its traces share one time constant.)
        name: a label for tables and plots.
    """

    bits: int | None = None
    weight_range: float | None = None
    weight_mismatch: float = 0.0
    threshold_mismatch: float = 0.0
    tau_mismatch: float = 0.0
    jitter: float = 0.0
    spike_loss: float = 0.0
    membrane_noise: float = 0.0
    name: str = "custom"

    def __post_init__(self) -> None:
        if self.bits is not None:
            if isinstance(self.bits, bool) or not isinstance(self.bits, int | np.integer) or not 1 <= self.bits <= 24:
                raise InvalidParameterError(f"bits: expected an integer in 1..24 or None, got {self.bits!r}")
        if self.weight_range is not None:
            r = self.weight_range
            if isinstance(r, bool) or not isinstance(r, int | float) or not (r > 0 and math.isfinite(r)):
                raise InvalidParameterError(f"weight_range: expected a finite value > 0 or None, got {r!r}")
        for name in ("weight_mismatch", "threshold_mismatch", "tau_mismatch", "jitter", "membrane_noise"):
            v.non_negative(name, getattr(self, name))
        p = self.spike_loss
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p < 1.0:
            raise InvalidParameterError(f"spike_loss: expected a probability in [0, 1), got {p!r}")

    # --- presets ---------------------------------------------------------------------------------
    @classmethod
    def ideal(cls) -> Hardware:
        """A perfect chip: float weights, no mismatch, no noise (deployment changes nothing)."""
        return cls(name="ideal")

    @classmethod
    def brainscales2(cls, time_unit: float = 5e-3) -> Hardware:
        """A BrainScaleS-2-like profile (Göltz et al. 2021; DelGrad hardware-aware settings).

        6-bit weight magnitude plus sign, 63 levels of 1/15 up to 4.2 (see ``BSS2_WEIGHT_SCALE``);
        threshold fixed-pattern spread sd 0.08 (relative to the threshold 1 of the model);
        time-constant spread 5 % after calibration; synapse spread 5 %; trial-to-trial noise sd 0.04
        time units of spike-time jitter; no lost spikes.

        Args:
            time_unit: the network's time unit (tau_syn), seconds; the jitter is 0.04 of it.
        """
        v.positive("time_unit", time_unit)
        return cls(
            bits=6,
            weight_range=63.0 / BSS2_WEIGHT_SCALE,
            weight_mismatch=0.05,
            threshold_mismatch=0.08,
            tau_mismatch=0.05,
            jitter=0.04 * time_unit,
            spike_loss=0.0,
            name="brainscales2",
        )

    @classmethod
    def preset(cls, name: str, time_unit: float = 5e-3) -> Hardware:
        """A named preset: ``"ideal"`` or ``"brainscales2"`` (time-valued settings scale with ``time_unit``)."""
        if name == "ideal":
            return cls.ideal()
        if name in ("brainscales2", "bss2"):
            return cls.brainscales2(time_unit)
        raise UnknownNameError(f"hardware: expected one of ['brainscales2', 'ideal'], got {name!r}")

    @classmethod
    def parse(cls, text: str, time_unit: float = 5e-3) -> Hardware:
        """A preset with optional overrides, as the CLI's ``--hardware`` takes it:
        ``"brainscales2"``, ``"ideal:bits=4,weight_range=0.5,weight_mismatch=0.1"`` (values: numbers or
        ``none``; times in seconds)."""
        if not isinstance(text, str):
            raise InvalidParameterError(f"hardware: expected a preset name or 'preset:key=value,...', got {text!r}")
        name, _, rest = text.partition(":")
        hw = cls.preset(name.strip(), time_unit)
        changes: dict[str, Any] = {}
        for item in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, value = item.partition("=")
            if not eq:
                raise InvalidParameterError(f"hardware: expected key=value after the preset, got {item!r}")
            key, value = key.strip(), value.strip()
            if value.lower() == "none":
                changes[key] = None
            elif key == "bits":
                try:
                    changes[key] = int(value)
                except ValueError:
                    raise InvalidParameterError(f"bits: expected an integer, got {value!r}") from None
            else:
                try:
                    changes[key] = float(value)
                except ValueError:
                    raise InvalidParameterError(f"{key}: expected a number, got {value!r}") from None
        if changes:
            label = text.strip()
            hw = hw.replace(**changes, name=label)
        return hw

    def replace(self, **changes: Any) -> Hardware:
        """A copy with some fields changed (validated), e.g. ``hw.replace(bits=4)``."""
        known = {f.name for f in dataclasses.fields(self)}
        for k in changes:
            if k not in known:
                raise InvalidParameterError(f"{k}: expected one of {sorted(known)}, got an unknown hardware setting")
        return dataclasses.replace(self, **changes)

    # --- the transforms --------------------------------------------------------------------------
    def spec_json(self) -> str:
        """The specification the Rust core reads."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "name"}
        return json.dumps(d, allow_nan=False)

    @property
    def levels(self) -> int | None:
        """Largest magnitude level ``2**bits - 1`` (63 for 6 bits); None without quantisation."""
        return None if self.bits is None else (1 << self.bits) - 1

    def quantize(self, w: Any, weight_range: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Weights as the chip holds them and the straight-through derivative of the quantiser.

        Args:
            w: float weights (any shape).
            weight_range: override of the range (default: this chip's).

        Returns:
            ``(quantised, d quantised / d w)``: the derivative is 1 inside the range, 0 where clipped.
        """
        arr = np.asarray(w, dtype=np.float64)
        r = weight_range if weight_range is not None else self.weight_range
        if r is None and self.bits is not None:
            raise InvalidParameterError("weight_range: expected a range to quantise over, got None")
        q, ste = _core.hardware_quantize(arr.ravel(), self.bits, math.inf if r is None else float(r))
        return q.reshape(arr.shape), ste.reshape(arr.shape)

    def chip(self, net: TTFSNetwork, seed: int = 0) -> dict[str, list[np.ndarray]]:
        """The frozen mismatch of chip instance ``seed`` for ``net``, with the weights it would run.

        Returns a dict of per-layer arrays: ``weight_gain`` (``[n_out, n_in + n_bias]``),
        ``threshold_gain`` and ``tau_gain`` (``[n_out]``) and ``effective_weights`` (quantised weights
        times the synapse gain, divided by the threshold gain of their neuron).
        """
        _need_ttfs(net, "chip")
        return dict(_core.hardware_chip(net._net, self.spec_json(), v.seed("seed", seed)))

    def deploy(self, net: Any, seed: int = 0) -> None:
        """Write chip instance ``seed``'s frozen transform into a (non-TTFS) network's parameters, in place.

        For :class:`~spikeloom.recurrent.RecurrentNetwork`, :class:`~spikeloom.decolle.DecolleNetwork`
        (through their named parameter tensors) and :class:`~spikeloom.s4nn.S4NNNetwork` (its weights,
        as tensors ``layers.K.w`` of shape ``(n_in, n_out)``): weight tensors (names ending in ``w*``)
        are quantised and get synapse gains; time-constant tensors (``tau*``) get per-element gains;
        threshold mismatch divides each spiking neuron's incoming weights and bias by its gain (exact
        for LIF/IF neurons with rest 0; for adaptive thresholds the adaptation is scaled along).
        This is the chip hardware-aware and in-the-loop training of a recurrent network use: the
        network trained in the loop on chip ``s`` is measured on ``deploy(net, s)``. TTFS networks run
        the model inside the engine instead (:func:`monte_carlo`).
        """
        seed = v.seed("seed", seed)
        if hasattr(net, "parameters") and hasattr(net, "set_parameters"):
            net.set_parameters(**self.chip_parameters(net.parameters(), seed))
            return
        from .s4nn import S4NNNetwork

        if isinstance(net, S4NNNetwork):
            named = {f"layers.{k}.w": np.asarray(w).T for k, w in enumerate(net.weights)}
            on_chip = self.chip_parameters(named, seed)
            for k in range(len(net.weights)):
                net.set_weights(k, on_chip[f"layers.{k}.w"].T)
            return
        raise UnsupportedError(
            f"net: hardware deployment needs a network with parameters()/set_parameters() or an S4NNNetwork, "
            f"got {type(net).__name__}"
        )

    def chip_parameters(self, tensors: dict[str, Any], seed: int = 0) -> dict[str, np.ndarray]:
        """The named parameter tensors chip ``seed`` runs for ``tensors`` (see :meth:`deploy` for the
        rules by name; the Rust core's ``hardware::params``). Gains are drawn in name order, so the
        result does not depend on the dict's order."""
        names = sorted(tensors)
        arrays = [np.asarray(tensors[n], dtype=np.float64) for n in names]
        flat = np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0)
        shapes = [list(a.shape) for a in arrays]
        out = _core.hardware_params(self.spec_json(), names, shapes, flat, v.seed("seed", seed))
        result: dict[str, np.ndarray] = {}
        at = 0
        for n, a in zip(names, arrays, strict=True):
            result[n] = out[at : at + a.size].reshape(a.shape)
            at += a.size
        return result

    def trial_inputs(self, x: Any, dt: float, seed: int = 0) -> np.ndarray:
        """The step-based inputs ``x`` (``[samples, steps, channels]``: bool, uint8, float32 or float64;
        every non-zero entry is an event) of a network with time step ``dt`` (s), as trial ``seed`` of
        this chip family delivers them: each event is lost with probability ``spike_loss``, and a kept
        event moves by ``round(jitter * z / dt)`` steps (``z`` standard normal; events moved outside the
        sequence are lost, events landing on one step and channel add). The same rule and the same
        Rust code give the trial noise of hardware-aware and in-the-loop training. Returns float32."""
        if self.spike_loss == 0.0 and self.jitter == 0.0:
            return np.asarray(x, dtype=np.float32)
        return _core.hardware_trial_inputs(
            np.ascontiguousarray(x), self.spec_json(), v.positive("dt", dt), v.seed("seed", seed)
        )


def _need_ttfs(net: Any, what: str) -> None:
    if not isinstance(net, TTFSNetwork):
        raise UnsupportedError(
            f"net: {what} runs the hardware model inside the exact first-spike engine and needs a TTFSNetwork "
            f"or AlphaNetwork, got {type(net).__name__}; use Hardware.deploy for parameter-based networks"
        )


def _as_hardware(hardware: Hardware | str, net: Any) -> Hardware:
    if isinstance(hardware, Hardware):
        return hardware
    if isinstance(hardware, str):
        unit = getattr(getattr(net, "neuron", None), "tau_syn", 5e-3)
        return Hardware.parse(hardware, time_unit=unit)
    raise InvalidParameterError(f"hardware: expected a Hardware or a preset name, got {type(hardware).__name__}")


@dataclass
class _HardwareTTFSConfig(TTFSConfig):
    hardware_json: str = ""

    def to_core_json(self, net: TTFSNetwork, seed: int, threads: int) -> str:
        d = json.loads(super().to_core_json(net, seed, threads))
        d["hardware"] = json.loads(self.hardware_json)
        return json.dumps(d, allow_nan=False)


class _WithHardware:
    """Adds the hardware model to a training config's core JSON (mixed in before the config class)."""

    hardware_json: str

    def to_core_json(self, *args: Any) -> str:
        d = json.loads(super().to_core_json(*args))  # type: ignore[misc]
        d["hardware"] = json.loads(self.hardware_json)
        return json.dumps(d, allow_nan=False)


@dataclass
class _HardwareTTFSConfig(_WithHardware, TTFSConfig):
    hardware_json: str = ""


@dataclass
class _HardwareAlphaConfig(_WithHardware, AlphaConfig):
    hardware_json: str = ""


@dataclass(frozen=True)
class _HardwareBPTTConfig(_WithHardware, BPTTConfig):
    hardware_json: str = ""


@dataclass(frozen=True)
class _HardwareDecolleConfig(_WithHardware, DecolleConfig):
    hardware_json: str = ""


@dataclass(frozen=True)
class _HardwareEpropConfig(_WithHardware, EpropConfig):
    hardware_json: str = ""


#: The (network, config) pairs the hardware modes train, with the config that carries the model; the
#: first config of a network is its default.
_HARDWARE_CONFIGS: tuple[tuple[type, type, type], ...] = (
    (AlphaNetwork, AlphaConfig, _HardwareAlphaConfig),
    (TTFSNetwork, TTFSConfig, _HardwareTTFSConfig),
    (RecurrentNetwork, BPTTConfig, _HardwareBPTTConfig),
    (RecurrentNetwork, EpropConfig, _HardwareEpropConfig),
    (DecolleNetwork, DecolleConfig, _HardwareDecolleConfig),
)


def fit_hardware(
    net: Any,
    train: Split | tuple[Any, Any],
    *,
    hardware: Hardware | str,
    mode: HardwareMode = "aware",
    chip_seed: int = 0,
    validation: Split | tuple[Any, Any] | None = None,
    config: Any = None,
    seed: int = 0,
    threads: int = 0,
    progress: bool = True,
    callback: Callable[[dict[str, Any]], bool | None] | None = None,
    resume: Any = None,
    checkpoint: Any = None,
) -> FitResult:
    """Train ``net`` in place with the hardware model (see the module docs for the modes).

    Args:
        net: the network. ``"aware"`` and ``"in-the-loop"`` train :class:`TTFSNetwork` (with
            :class:`TTFSConfig`), :class:`AlphaNetwork` (:class:`AlphaConfig`),
            :class:`~spikeloom.recurrent.RecurrentNetwork` (:class:`~spikeloom.bptt.BPTTConfig`, or
            :class:`~spikeloom.eprop.EpropConfig` with ``mode="per_trial"``) and
            :class:`~spikeloom.decolle.DecolleNetwork` (:class:`~spikeloom.decolle.DecolleConfig` with
            ``online=False``) and :class:`~spikeloom.s4nn.S4NNNetwork` (:class:`~spikeloom.s4nn.S4NNConfig`
            with ``batch_size >= 2``; default 32); ``"ideal"`` trains any network as :func:`spikeloom.fit`
            does.
        train, validation, config, seed, threads, progress, callback: as :func:`spikeloom.fit`.
            With a hardware mode the validation metrics are measured on chip ``chip_seed``.
        resume, checkpoint: as :func:`spikeloom.fit`. A hardware run's chips and trial noise are
            drawn from (chip seed, run seed, epoch, batch), so a run stopped after an epoch and
            resumed with the same hardware, mode, chip seed, config, seed and data ends with the same
            parameters, bit for bit, as the uninterrupted run. The state records the hardware model
            with the config: resuming with another chip or mode warns (``ResumeMismatchWarning``).
        hardware: the chip family, or a preset name (time unit: the network's tau_syn).
        mode: ``"ideal"``, ``"aware"`` or ``"in-the-loop"``.
        chip_seed: in the loop: the chip trained on; aware: the validation chip and the root of the
            per-batch chip seeds.
    """
    if mode not in MODES:
        raise InvalidParameterError(f"mode: expected one of {list(MODES)}, got {mode!r}")
    hw = _as_hardware(hardware, net)
    # What every trainer takes besides the network, data, config and hardware model.
    run: dict[str, Any] = {
        "seed": seed,
        "threads": threads,
        "progress": progress,
        "callback": callback,
        "resume": resume,
        "checkpoint": checkpoint,
    }
    if mode == "ideal":
        return fit(net, train, validation=validation, config=config, **run)
    hw_json = json.dumps(
        {"spec": json.loads(hw.spec_json()), "mode": mode, "chip_seed": v.seed("chip_seed", chip_seed)}
    )
    from .s4nn import S4NNConfig, S4NNNetwork

    if isinstance(net, S4NNNetwork):
        if config is None:
            config = S4NNConfig(batch_size=32)
        if not isinstance(config, S4NNConfig):
            raise InvalidParameterError(
                f"config: hardware training of an S4NNNetwork needs an S4NNConfig, got {type(config).__name__}"
            )
        return net.fit(train, validation, **config.fit_kwargs(), **run, hardware=json.loads(hw_json))
    kinds = [(n, c, h) for n, c, h in _HARDWARE_CONFIGS if isinstance(net, n)]
    if not kinds:
        raise UnsupportedError(
            f"mode: {mode!r} training runs for TTFSNetwork, AlphaNetwork, RecurrentNetwork (BPTT, e-prop), "
            f"DecolleNetwork and S4NNNetwork; a {type(net).__name__} has no chip in its training loop, so only "
            "mode='ideal' (train, then deploy with Hardware.deploy / monte_carlo) is available for it"
        )
    if config is None:
        config = kinds[0][1]()
    match = [h for _, c, h in kinds if type(config) is c]
    if not match:
        names = " or ".join(c.__name__ for _, c, _ in kinds)
        raise InvalidParameterError(
            f"config: hardware training of a {type(net).__name__} needs a {names}, got {type(config).__name__}"
        )
    cfg = match[0](**{f.name: getattr(config, f.name) for f in dataclasses.fields(config)}, hardware_json=hw_json)
    return fit(net, train, validation=validation, config=cfg, **run)


MONTE_CARLO_SCHEMA = {
    "instance": pl.Int64,
    "seed": pl.UInt64,
    "trial_seed": pl.UInt64,
    "accuracy": pl.Float64,
    "loss": pl.Float64,
    "hidden_spikes": pl.Float64,
    "output_spikes": pl.Float64,
}


def monte_carlo(
    net: Any,
    data: Split | tuple[Any, Any],
    hardware: Hardware | str,
    *,
    chips: int = 16,
    seed: int = 0,
    chip_seeds: Sequence[int] | None = None,
    trials: int = 1,
    threads: int = 0,
) -> pl.DataFrame:
    """Deploy ``net`` on many sampled chip instances and measure each.

    Chip ``i`` has seed ``seed + i`` (or ``chip_seeds[i]``); each is run ``trials`` times with new
    trial noise (trial seed ``seed + t``). TTFS/alpha networks run inside the engine, samples in
    parallel (results independent of ``threads``); other networks are deployed through
    :meth:`Hardware.deploy` (their trial noise: :meth:`Hardware.trial_inputs`, lost and jittered
    input events; S4NN inputs are only lost) and restored afterwards.

    Returns:
        One row per (chip, trial): ``instance``, ``seed``, ``trial_seed``, ``accuracy``, ``loss``,
        ``hidden_spikes`` and ``output_spikes`` (mean spikes per sample; null where not measured).
    """
    hw = _as_hardware(hardware, net)
    seeds = (
        [v.seed("chip_seeds", s) for s in chip_seeds]
        if chip_seeds is not None
        else [v.seed("seed", seed) + i for i in range(v.positive_int("chips", chips))]
    )
    trials = v.positive_int("trials", trials)
    if isinstance(data, Split):
        x, y = data.x, data.y
    elif isinstance(data, tuple) and len(data) == 2:
        x, y = data
    else:
        raise InvalidParameterError(f"data: expected a Split or an (inputs, labels) tuple, got {type(data).__name__}")
    rows: list[dict[str, Any]] = []
    if isinstance(net, TTFSNetwork):
        xs = v.spike_times("times", x, net.sizes[0])
        ys = v.labels("labels", y, xs.shape[0], net.sizes[-1])
        if isinstance(net, AlphaNetwork):
            loss, params = "comsa", [net.neuron.time_unit, 0.0]
        else:
            loss, params = "goltz", [0.2, 0.005, 1.0]
        for t in range(trials):
            out = _core.hardware_evaluate(
                net._net, hw.spec_json(), seeds, seed + t, xs, ys, loss, params, v.threads(threads)
            )
            for i, (s, ls, acc, spikes) in enumerate(out):
                rows.append(
                    {
                        "instance": i,
                        "seed": s,
                        "trial_seed": seed + t,
                        "accuracy": acc,
                        "loss": ls,
                        "hidden_spikes": float(sum(spikes[:-1])),
                        "output_spikes": float(spikes[-1]),
                    }
                )
        return pl.DataFrame(rows, schema=MONTE_CARLO_SCHEMA)
    rows = _monte_carlo_params(net, x, y, hw, seeds, seed, trials, threads)
    return pl.DataFrame(rows, schema=MONTE_CARLO_SCHEMA)


def _monte_carlo_params(
    net: Any, x: Any, y: Any, hw: Hardware, seeds: list[int], seed: int, trials: int, threads: int
) -> list[dict[str, Any]]:
    from .s4nn import S4NNNetwork

    is_s4nn = isinstance(net, S4NNNetwork)
    if is_s4nn:
        saved: Any = [w.copy() for w in net.weights]
    elif hasattr(net, "parameters"):
        saved = net.parameters()
    else:
        raise UnsupportedError(f"net: monte_carlo does not know how to deploy a {type(net).__name__}")
    from .recurrent import RecurrentNetwork

    noise: dict[str, Any] = {}
    if hw.membrane_noise > 0.0:
        if not isinstance(net, RecurrentNetwork):
            raise UnsupportedError(
                f"membrane_noise: simulated by RecurrentNetwork only (clock-driven BPTT networks), "
                f"got {hw.membrane_noise!r} for a {type(net).__name__}"
            )
        noise["membrane_noise"] = hw.membrane_noise
    rows = []
    try:
        for i, s in enumerate(seeds):
            hw.deploy(net, s)
            for t in range(trials):
                xt = _trial_inputs(np.asarray(x), hw, seed + t, net)
                if noise:
                    noise["noise_seed"] = seed + t
                m = net.evaluate(xt, y, threads=threads, **noise)
                rows.append(
                    {
                        "instance": i,
                        "seed": s,
                        "trial_seed": seed + t,
                        "accuracy": float(m["accuracy"]),
                        "loss": float(m["loss"]) if "loss" in m else None,
                        "hidden_spikes": None,
                        "output_spikes": None,
                    }
                )
            if is_s4nn:
                for layer, w in enumerate(saved):
                    net.set_weights(layer, w)
            else:
                net.set_parameters(**saved)
    finally:
        if is_s4nn:
            for layer, w in enumerate(saved):
                net.set_weights(layer, w)
        else:
            net.set_parameters(**saved)
    return rows


def _trial_inputs(x: np.ndarray, hw: Hardware, seed: int, net: Any) -> np.ndarray:
    """The inputs of trial ``seed``: S4NN step times of lost spikes move to ``t_max`` (never); event
    rasters of clock-driven networks lose and jitter their events in the core, by the rule hardware
    training uses (:meth:`Hardware.trial_inputs`)."""
    from .s4nn import S4NNNetwork

    if hw.spike_loss == 0.0 and (hw.jitter == 0.0 or isinstance(net, S4NNNetwork)):
        return x
    if isinstance(net, S4NNNetwork):
        rng = np.random.Generator(np.random.PCG64(seed))
        out = x.copy()
        out[rng.random(x.shape) < hw.spike_loss] = net.t_max
        return out
    return hw.trial_inputs(x, net.dt, seed)


def chip_accuracy(
    net: Any,
    data: Split | tuple[Any, Any],
    hardware: Hardware | str,
    mode: HardwareMode,
    *,
    chips: int = 10,
    chip_seed: int = 0,
    seed: int = 1000,
    threads: int = 0,
) -> dict[str, float]:
    """``chip_accuracy_mean`` and ``chip_accuracy_std`` of a trained network.

    ``"ideal"`` and ``"aware"`` networks are deployed on ``chips`` fresh chips (seeds ``seed + i``);
    an ``"in-the-loop"`` network belongs to its chip: it is measured on chip ``chip_seed`` in
    ``chips`` trials of new trial noise.
    """
    if mode == "in-the-loop":
        df = monte_carlo(net, data, hardware, chip_seeds=[chip_seed], trials=chips, seed=seed, threads=threads)
    else:
        df = monte_carlo(net, data, hardware, chips=chips, seed=seed, threads=threads)
    acc = df["accuracy"].to_numpy()
    return {
        "chip_accuracy_mean": float(acc.mean()),
        "chip_accuracy_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
    }


__all__ = [
    "BSS2_WEIGHT_SCALE",
    "MODES",
    "Hardware",
    "HardwareMode",
    "chip_accuracy",
    "fit_hardware",
    "monte_carlo",
    "run_on_chip",
]


#: Recipes (task, method) whose training runs the hardware model (others refuse ``--hardware``).
RECIPES: set[tuple[str, str]] = {
    ("yinyang", "ttfs"),
    ("randman", "bptt"),
    ("seqdigits", "bptt"),
    ("smnist", "bptt"),
    ("shd", "bptt"),
}


def recipe_hardware(args: Any, net: Any) -> Hardware | None:
    """The hardware of a recipe run (``args.hardware``: None, a preset name or a :class:`Hardware`)."""
    if args.hardware is None:
        if args.hardware_mode != "ideal":
            raise InvalidParameterError(
                f"hardware_mode: {args.hardware_mode!r} needs a hardware model; pass hardware=PRESET"
            )
        return None
    if args.hardware_mode not in MODES:
        raise InvalidParameterError(f"hardware_mode: expected one of {list(MODES)}, got {args.hardware_mode!r}")
    return _as_hardware(args.hardware, net)


def recipe_metrics(args: Any, net: Any, hw: Hardware, test: tuple[Any, Any]) -> dict[str, Any]:
    """The hardware entries of a recipe's final metrics: settings and deployed test accuracy."""
    m: dict[str, Any] = {"hardware": hw.name, "hardware_mode": args.hardware_mode, "chips": args.chips}
    m.update(
        chip_accuracy(
            net,
            test,
            hw,
            args.hardware_mode,
            chips=v.positive_int("chips", args.chips),
            chip_seed=args.seed,
            threads=args.threads,
        )
    )
    return m


def check_recipe(task: str, method: str, hardware: Any, mode: str) -> None:
    """Refuse hardware settings for recipes that do not run the hardware model, saying which do."""
    if hardware is None:
        raise InvalidParameterError(f"hardware_mode: {mode!r} needs a hardware model; pass --hardware PRESET")
    if (task, method) not in RECIPES:
        supported = ", ".join(f"{t} --method {m}" for t, m in sorted(RECIPES))
        raise UnsupportedError(
            f"hardware: recipe {task} --method {method} does not run the hardware model; recipes that do: {supported}"
        )


def run_on_chip(
    net: TTFSNetwork,
    times: Any,
    hardware: Hardware | str,
    *,
    chip_seed: int = 0,
    trial_seed: int = 0,
    threads: int = 0,
) -> list[np.ndarray]:
    """Spike times of every layer of ``net`` run on chip ``chip_seed`` (as observed: jitter and lost
    spikes of trial ``trial_seed`` included), one ``(samples, n_neurons)`` array per layer, seconds;
    ``inf`` = no spike. With :meth:`Hardware.ideal` this equals ``net.run(times)``."""
    _need_ttfs(net, "run_on_chip")
    hw = _as_hardware(hardware, net)
    x = v.spike_times("times", times, net.sizes[0])
    return list(
        _core.hardware_run(
            net._net,
            hw.spec_json(),
            v.seed("chip_seed", chip_seed),
            v.seed("trial_seed", trial_seed),
            x,
            v.threads(threads),
        )
    )
