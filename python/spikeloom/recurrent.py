"""Recurrent, multi-spike spiking networks on the clock-driven engine (trained with BPTT or DECOLLE).

One spiking layer of ``size`` neurons advances by ``dt`` seconds per step (all per neuron; ``z[t-1]``
the layer's previous spikes, ``x[t]`` its input this step)::

    I[t]     = b + W_in^T x[t] + W_rec^T z[t-1]          (self-connections masked)
    i[t]     = alpha_s i[t-1] + I[t];  d = i[t]           (tau_syn given: current-based synapse)
                                       d = I[t]           (tau_syn None)
    a[t]     = rho a[t-1] + c_a z[t-1]                    (c_a = 1 "bellec", 1 - rho "yin")
    theta[t] = threshold + beta a[t]
    u[t]     = alpha m u[t-1] + zeta d - r[t]             (m = 1 - z[t-1] for reset "zero", else 1;
                                                          r = threshold z[t-1] "subtract",
                                                          theta[t] z[t-1] "subtract_adaptive";
                                                          zeta = 1 "one" or 1 - alpha "one_minus_alpha")
    z[t]     = H(u[t] - theta[t])

with ``alpha = exp(-dt/tau_mem)``, ``alpha_s = exp(-dt/tau_syn)``, ``rho = exp(-dt/tau_adapt)``, one
time constant per neuron (trainable per group). The readout is a leaky integrator
``y[t] = kappa y[t-1] + zeta_o (b_o + W_out^T z_L[t])``. States start at zero. Voltages are in the
unit of ``threshold`` (dimensionless by default, threshold 1).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from . import _validation as v
from . import surrogates as sg
from ._core import RsnnNetwork as _CoreRsnn
from .errors import DTypeError, InvalidParameterError, ShapeError

_RESETS = ("subtract", "subtract_adaptive", "zero")
_SCALES = ("one", "one_minus_alpha")
_ADAPT = (None, "bellec", "yin")


def _choice(name: str, value: Any, options: tuple[Any, ...]) -> Any:
    if value not in options:
        raise InvalidParameterError(f"{name}: expected one of {list(options)}, got {value!r}")
    return value


@dataclass(frozen=True)
class SpikingLayer:
    """One layer of LIF / current-based LIF / adaptive LIF neurons (times in seconds).

    Use the constructors :meth:`lif`, :meth:`cuba`, :meth:`alif_bellec`, :meth:`alif_yin` for the
    published parameterisations. ``gain`` / ``rec_gain`` set the initial weight spread
    ``N(0, (gain / sqrt(fan_in))^2)``; ``*_sd`` the Gaussian spread of the initial time constants.
    ``p_in`` / ``p_rec`` < 1 make the input / recurrent projection sparse: each synapse exists with that
    probability (drawn from the network's seed), absent weights stay exactly zero, spikes cost their
    fan-out in the engine, and the kept weights start with spread ``gain / sqrt(p fan_in)``.
    """

    size: int
    tau_mem: float = 20e-3
    recurrent: bool = True
    threshold: float = 1.0
    reset: str = "subtract"
    input_scale: str = "one"
    tau_syn: float | None = None
    adaptation: str | None = None
    beta: float = 0.0
    tau_adapt: float | None = None
    tau_mem_sd: float = 0.0
    tau_syn_sd: float = 0.0
    tau_adapt_sd: float = 0.0
    train_tau_mem: bool = False
    train_tau_syn: bool = False
    train_tau_adapt: bool = False
    gain: float = 1.0
    rec_gain: float = 1.0
    p_in: float = 1.0
    p_rec: float = 1.0

    def __post_init__(self) -> None:
        v.positive_int("size", self.size)
        v.positive("tau_mem", self.tau_mem)
        v.positive("threshold", self.threshold)
        _choice("reset", self.reset, _RESETS)
        _choice("input_scale", self.input_scale, _SCALES)
        _choice("adaptation", self.adaptation, _ADAPT)
        if self.tau_syn is not None:
            v.positive("tau_syn", self.tau_syn)
        if self.tau_adapt is not None:
            v.positive("tau_adapt", self.tau_adapt)
        if (self.adaptation is None) != (self.tau_adapt is None):
            raise InvalidParameterError(
                f"tau_adapt: expected a time constant exactly when adaptation is set "
                f"(adaptation={self.adaptation!r}), got {self.tau_adapt!r}"
            )
        for name in ("beta", "tau_mem_sd", "tau_syn_sd", "tau_adapt_sd", "gain", "rec_gain"):
            v.non_negative(name, getattr(self, name))
        for name in ("p_in", "p_rec"):
            p = getattr(self, name)
            if not (isinstance(p, (int, float)) and 0.0 < p <= 1.0):
                raise InvalidParameterError(f"{name}: expected a connection probability in (0, 1], got {p!r}")

    @classmethod
    def lif(cls, size: int, tau_mem: float = 20e-3, **kw: Any) -> SpikingLayer:
        """Leaky integrate-and-fire, input current straight into the membrane."""
        return cls(size, tau_mem=tau_mem, **kw)

    @classmethod
    def cuba(cls, size: int, tau_mem: float = 10e-3, tau_syn: float = 5e-3, **kw: Any) -> SpikingLayer:
        """Current-based LIF with an exponential synaptic current (SpyTorch / SPM 2019 defaults)."""
        return cls(size, tau_mem=tau_mem, tau_syn=tau_syn, **kw)

    @classmethod
    def alif_bellec(
        cls, size: int, tau_mem: float = 20e-3, tau_adapt: float = 2.0, beta: float = 1.7, **kw: Any
    ) -> SpikingLayer:
        """Bellec et al.'s adaptive LIF (a += z, A = threshold + beta a, reset by the base threshold)."""
        return cls(size, tau_mem=tau_mem, adaptation="bellec", tau_adapt=tau_adapt, beta=beta, **kw)

    @classmethod
    def alif_yin(
        cls,
        size: int,
        tau_mem: float = 20e-3,
        tau_adapt: float = 150e-3,
        beta: float = 1.8,
        threshold: float = 0.01,
        **kw: Any,
    ) -> SpikingLayer:
        """Yin et al.'s adaptive LIF: b = rho b + (1 - rho) z, B = b0 + beta b, reset by B, input
        scaled by 1 - alpha, trainable time constants (b0 = ``threshold`` = 0.01)."""
        kw.setdefault("train_tau_mem", True)
        kw.setdefault("train_tau_adapt", True)
        return cls(
            size,
            tau_mem=tau_mem,
            adaptation="yin",
            tau_adapt=tau_adapt,
            beta=beta,
            threshold=threshold,
            reset="subtract_adaptive",
            input_scale="one_minus_alpha",
            **kw,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["adaptation"] = self.adaptation or "none"
        return d


@dataclass(frozen=True)
class Readout:
    """Leaky-integrator readout: ``y[t] = kappa y[t-1] + zeta (b + W^T z[t])``, ``kappa = exp(-dt/tau)``."""

    size: int
    tau: float = 20e-3
    tau_sd: float = 0.0
    input_scale: str = "one"
    train_tau: bool = False
    gain: float = 1.0

    def __post_init__(self) -> None:
        v.positive_int("readout.size", self.size)
        v.positive("readout.tau", self.tau)
        v.non_negative("readout.tau_sd", self.tau_sd)
        v.non_negative("readout.gain", self.gain)
        _choice("readout.input_scale", self.input_scale, _SCALES)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sequences(name: str, x: Any, n_inputs: int | None = None) -> np.ndarray:
    """Input sequences ``[samples, steps, channels]`` as a C-contiguous bool/uint8/float32/float64 array."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise DTypeError(f"{name}: expected a numeric or bool array, got dtype {arr.dtype}")
    if arr.ndim != 3:
        raise ShapeError(f"{name}: expected a 3-D array [samples, steps, channels], got shape {arr.shape}")
    if n_inputs is not None and arr.shape[2] != n_inputs:
        raise ShapeError(f"{name}: expected {n_inputs} channels (the network's inputs), got shape {arr.shape}")
    if arr.dtype not in (np.bool_, np.uint8, np.float32, np.float64):
        arr = arr.astype(np.float32)
    return np.ascontiguousarray(arr)


def targets(name: str, y: Any, n_samples: int, n_outputs: int) -> np.ndarray:
    """Class labels (int64 ``[samples]``) or regression targets (float32 ``[samples, steps, outputs]``)."""
    arr = np.asarray(y)
    if arr.ndim == 3:
        if arr.dtype.kind not in "fiu":
            raise DTypeError(f"{name}: expected numeric regression targets, got dtype {arr.dtype}")
        if arr.shape[0] != n_samples or arr.shape[2] != n_outputs:
            raise ShapeError(
                f"{name}: expected regression targets of shape ({n_samples}, steps, {n_outputs}), got {arr.shape}"
            )
        return np.ascontiguousarray(arr, dtype=np.float32)
    return v.labels(name, arr, n_samples, n_outputs)


@dataclass
class Recording:
    """What :meth:`RecurrentNetwork.run` records, as numpy arrays ``[samples, steps, neurons]``.

    Attributes:
        spikes: per spiking layer, the spikes (1.0 / 0.0; graded for ``SmoothSigmoid``).
        u: per layer, the membrane potential after each step's update (before the next reset).
        a: per adaptive layer, the adaptation variable (``None`` for other layers).
        readout: the readout membrane ``[samples, steps, outputs]`` (``None`` without readout).
        dt: the step (s).
    """

    spikes: list[np.ndarray]
    u: list[np.ndarray]
    a: list[np.ndarray | None]
    readout: np.ndarray | None
    dt: float = field(default=1e-3)

    def rates_hz(self) -> list[np.ndarray]:
        """Firing rate of each neuron (Hz), averaged over samples and steps, per layer."""
        return [s.mean(axis=(0, 1)) / self.dt for s in self.spikes]


class RecurrentNetwork:
    """A stack of (optionally recurrent) spiking layers with an optional leaky-integrator readout.

    Args:
        n_inputs: input channels.
        layers: the spiking layers, input side first.
        readout: the readout; ``None`` makes the last layer's spikes the output (spike-count loss).
        dt: simulation step (s).
        seed: seed of the initial weights and time constants.
        tau_min, tau_max: every time constant is kept in ``[tau_min, tau_max]`` (s) during training
            (``tau_min`` defaults to ``dt``).
    """

    def __init__(
        self,
        n_inputs: int,
        layers: list[SpikingLayer] | tuple[SpikingLayer, ...],
        readout: Readout | None = None,
        *,
        dt: float = 1e-3,
        seed: int = 0,
        tau_min: float | None = None,
        tau_max: float = 10.0,
    ) -> None:
        v.positive_int("n_inputs", n_inputs)
        layers = list(layers)
        if not layers or not all(isinstance(layer, SpikingLayer) for layer in layers):
            raise InvalidParameterError(f"layers: expected a non-empty list of SpikingLayer, got {layers!r}")
        if readout is not None and not isinstance(readout, Readout):
            raise InvalidParameterError(f"readout: expected a Readout or None, got {readout!r}")
        spec = {
            "n_inputs": int(n_inputs),
            "dt": v.positive("dt", dt),
            "layers": [layer.to_dict() for layer in layers],
            "readout": None if readout is None else readout.to_dict(),
            "tau_min": None if tau_min is None else v.positive("tau_min", tau_min),
            "tau_max": v.positive("tau_max", tau_max),
            # Sparse layers draw their synapses from the network's seed (saved with the network).
            "connectivity_seed": v.seed("seed", seed),
        }
        self._net = _CoreRsnn(json.dumps(spec), v.seed("seed", seed))
        self._layers = tuple(layers)
        self._readout = readout
        self._seed = seed

    # --- description -------------------------------------------------------------------------
    @property
    def n_inputs(self) -> int:
        return int(self._spec()["n_inputs"])

    @property
    def layers(self) -> tuple[SpikingLayer, ...]:
        return self._layers

    @property
    def readout(self) -> Readout | None:
        return self._readout

    @property
    def dt(self) -> float:
        """Simulation step (s)."""
        return float(self._spec()["dt"])

    @property
    def n_outputs(self) -> int:
        return self._readout.size if self._readout is not None else self._layers[-1].size

    def _spec(self) -> dict[str, Any]:
        return json.loads(self._net.spec_json())

    def __repr__(self) -> str:
        sizes = "-".join(str(s) for s in [self.n_inputs, *(layer.size for layer in self._layers)])
        kinds = ", ".join(
            ("alif-" + layer.adaptation if layer.adaptation else ("cuba" if layer.tau_syn else "lif"))
            + ("/rec" if layer.recurrent else "")
            for layer in self._layers
        )
        ro = f", readout {self._readout.size}" if self._readout else ""
        return f"RecurrentNetwork({sizes}{ro}; {kinds}; dt={self.dt:g} s, {self.n_params} parameters)"

    # --- parameters --------------------------------------------------------------------------
    @property
    def n_params(self) -> int:
        return int(self._net.params().shape[0])

    def parameters(self) -> dict[str, np.ndarray]:
        """Copies of every tensor by name (``layers.0.w_in`` ``[n_pre, n]``, ``layers.0.w_rec``,
        ``layers.0.bias``, ``layers.0.tau_mem`` (s), ..., ``readout.w``, ``readout.bias``, ``readout.tau``)."""
        p = self._net.params()
        return {name: p[a:b].reshape(shape).copy() for name, shape, a, b in self._net.tensors()}

    def set_parameters(self, **tensors: np.ndarray) -> None:
        """Replace tensors by name, e.g. ``net.set_parameters(**{"layers.0.w_rec": w})``."""
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
    def run(
        self,
        x: Any,
        *,
        surrogate: sg._Surrogate | None = None,
        precision: str = "float32",
        threads: int = 0,
        membrane_noise: float = 0.0,
        noise_seed: int = 0,
    ) -> Recording:
        """Simulate ``x`` ``[samples, steps, n_inputs]`` and record every layer (see :class:`Recording`).

        ``surrogate`` only matters for :class:`~spikeloom.surrogates.SmoothSigmoid` (graded spikes).
        ``membrane_noise`` / ``noise_seed``: one noisy trial, as :meth:`evaluate` runs it (the same
        draws per sample for the same seed).
        """
        xs = sequences("x", x, self.n_inputs)
        sur = sg.check("surrogate", surrogate or sg.FastSigmoid())
        v.float32_range(self.parameters(), precision)
        noise = (v.non_negative("membrane_noise", membrane_noise), v.seed("noise_seed", noise_seed))
        layers, y = self._net.run(xs, json.dumps(sur.to_dict()), _precision(precision), v.threads(threads), *noise)
        rec = Recording(
            spikes=[d["spikes"] for d in layers],
            u=[d["u"] for d in layers],
            a=[d.get("a") for d in layers],
            readout=y,
            dt=self.dt,
        )
        named = [(f"layer {i}'s membrane", u) for i, u in enumerate(rec.u)] + [("the readout", rec.readout)]
        v.finite_outputs(named, precision)
        return rec

    def evaluate(
        self,
        x: Any,
        y: Any,
        *,
        loss: str = "ce_max",
        loss_start: int = 0,
        loss_end: int | None = None,
        precision: str = "float32",
        threads: int = 0,
        membrane_noise: float = 0.0,
        noise_seed: int = 0,
    ) -> dict[str, Any]:
        """Mean loss, accuracy and per-layer firing rates (Hz) on ``(x, y)``.

        With ``membrane_noise > 0`` the run is one noisy trial: every step adds Gaussian noise to each
        spiking neuron's membrane, of sd ``membrane_noise * threshold * sqrt(1 - alpha**2)``
        (``alpha = exp(-dt / tau_mem)``), so a free membrane fluctuates with stationary sd
        ``membrane_noise`` thresholds (an Ornstein-Uhlenbeck process with the membrane time constant,
        sampled exactly); the draws come from per-sample streams seeded by ``noise_seed``. This is the
        :class:`~spikeloom.hardware.Hardware` model's ``membrane_noise``.
        """
        xs = sequences("x", x, self.n_inputs)
        v.samples("x", xs.shape[0])
        ys = targets("y", y, xs.shape[0], self.n_outputs)
        loss_json = json.dumps(_loss_dict(loss, loss_start, loss_end))
        sur = json.dumps(sg.FastSigmoid().to_dict())
        v.float32_range(self.parameters(), precision)
        noise = (v.non_negative("membrane_noise", membrane_noise), v.seed("noise_seed", noise_seed))
        out = dict(self._net.evaluate(xs, ys, loss_json, sur, _precision(precision), v.threads(threads), *noise))
        v.finite_loss(out["loss"], precision)
        return out

    def gradient(self, x: Any, y: Any, config: Any) -> tuple[float, dict[str, np.ndarray]]:
        """Mean loss over ``(x, y)`` and its gradient by tensor name (time constants: d loss / d tau in
        1/s), with the loss, surrogate, regulariser and precision of ``config`` (a :class:`BPTTConfig`)."""
        xs = sequences("x", x, self.n_inputs)
        ys = targets("y", y, xs.shape[0], self.n_outputs)
        precision = getattr(config, "precision", "float32")
        v.float32_range(self.parameters(), precision)
        loss, g = self._net.gradient(xs, ys, config.to_core_json(seed=0, threads=0))
        v.finite_loss(float(loss), precision)
        return float(loss), {name: g[a:b].reshape(shape) for name, shape, a, b in self._net.tensors()}

    # --- persistence -------------------------------------------------------------------------
    def _extra(self, metadata: dict[str, Any] | None) -> str:
        try:
            return json.dumps(
                {
                    "layers": [asdict(layer) for layer in self._layers],
                    "readout": None if self._readout is None else asdict(self._readout),
                    "user": metadata or {},
                },
                allow_nan=False,
            )
        except (TypeError, ValueError) as e:
            raise InvalidParameterError(f"metadata: expected a JSON-serialisable dict, got {e}") from None

    @classmethod
    def _from_core(cls, core: _CoreRsnn, extra: str) -> RecurrentNetwork:
        meta = json.loads(extra)
        self = cls.__new__(cls)
        self._net = core
        self._layers = tuple(SpikingLayer(**d) for d in meta["layers"])
        self._readout = None if meta["readout"] is None else Readout(**meta["readout"])
        self._seed = None
        return self

    def save(self, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None) -> None:
        """Write the network atomically (safetensors, one float64 tensor per parameter tensor)."""
        self._net.save(os.fspath(path), self._extra(metadata))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RecurrentNetwork:
        """Read a file written by :meth:`save`."""
        core, extra = _CoreRsnn.load(os.fspath(path))
        return cls._from_core(core, extra)

    def __getstate__(self) -> bytes:
        return bytes(self._net.to_bytes(self._extra(None)))

    def __setstate__(self, state: bytes) -> None:
        core, extra = _CoreRsnn.from_bytes(state)
        other = RecurrentNetwork._from_core(core, extra)
        self.__dict__.update(other.__dict__)

    def copy(self) -> RecurrentNetwork:
        """An independent copy (same parameters)."""
        out = RecurrentNetwork.__new__(RecurrentNetwork)
        out.__setstate__(self.__getstate__())
        return out

    def with_layers(self, **changes: Any) -> list[SpikingLayer]:
        """The layer descriptions with ``changes`` applied to each (helper for sweeps)."""
        return [replace(layer, **changes) for layer in self._layers]


def _precision(p: str) -> str:
    return {"float32": "f32", "float64": "f64"}[_choice("precision", p, ("float32", "float64"))]


_LOSSES = ("ce_max", "ce_last", "ce_mean", "ce_sum_softmax", "ce_per_step", "ce_counts", "mse")


def _loss_dict(loss: str, start: int, end: int | None) -> dict[str, Any]:
    _choice("loss", loss, _LOSSES)
    if isinstance(start, bool) or not isinstance(start, int | np.integer) or start < 0:
        raise InvalidParameterError(f"loss_start: expected an integer step >= 0, got {start!r}")
    if end is not None and (isinstance(end, bool) or not isinstance(end, int | np.integer) or end <= start):
        raise InvalidParameterError(f"loss_end: expected an integer step > loss_start = {start}, got {end!r}")
    return {"kind": loss, "start": int(start), "end": None if end is None else int(end)}


__all__ = ["Readout", "Recording", "RecurrentNetwork", "SpikingLayer"]
