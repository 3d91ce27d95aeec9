"""Feed-forward networks of single-spike LIF neurons with exact spike times."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _core
from . import _validation as v
from .encoders import LinearLatency, encoder_from_dict
from .errors import FileFormatError, InvalidParameterError, ShapeError
from .neurons import LIF

#: Göltz et al.'s Yin-Yang initialisation (mean, sd) of the two weight layers.
GOLTZ_YINYANG_INIT: tuple[tuple[float, float], ...] = ((1.5, 0.8), (0.5, 0.8))


class TTFSNetwork:
    """Feed-forward network of current-based LIF neurons that spike at most once (time-to-first-spike).

    Spike times are computed exactly (closed form, event-driven; no time grid). Inputs and outputs are
    spike times in seconds; ``inf`` means "no spike".

    Args:
        sizes: ``[n_inputs, n_hidden..., n_outputs]``.
        neuron: neuron parameters (shared by all layers).
        bias_times: bias spike times per layer, seconds: a list of lists (one list per layer), or one
            float used as a single bias spike in every layer, or ``None`` for no bias spikes.
            Default: one bias spike at 0.9 tau_syn in every layer (the paper's Yin-Yang setting).
        init: per layer ``(mean, sd)`` of the Gaussian initial weights (dimensionless).
            Default: the paper's Yin-Yang values for 2 layers, else (1.0, 0.8) everywhere.
        seed: seed of the weight initialisation.
        encoder: optional encoder from features to input times, stored with the network.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        neuron: LIF | None = None,
        bias_times: Sequence[Sequence[float]] | float | None | str = "default",
        init: Sequence[tuple[float, float]] | None = None,
        seed: int = 0,
        encoder: LinearLatency | None = None,
    ) -> None:
        neuron = neuron if neuron is not None else LIF()
        if not isinstance(neuron, LIF):
            raise InvalidParameterError(f"neuron: expected a spikeloom.LIF, got {type(neuron).__name__}")
        sizes = [v.positive_int(f"sizes[{i}]", s) for i, s in enumerate(sizes)]
        if len(sizes) < 2:
            raise ShapeError(f"sizes: expected at least 2 layer sizes (inputs, outputs), got {sizes}")
        n_layers = len(sizes) - 1
        if isinstance(bias_times, str) and bias_times == "default":
            bias = [[0.9 * neuron.tau_syn] for _ in range(n_layers)]
        elif bias_times is None:
            bias = [[] for _ in range(n_layers)]
        elif isinstance(bias_times, int | float):
            bias = [[v.non_negative("bias_times", bias_times)] for _ in range(n_layers)]
        else:
            bias = [[v.non_negative(f"bias_times[{i}]", t) for t in layer] for i, layer in enumerate(bias_times)]
            if len(bias) != n_layers:
                raise ShapeError(f"bias_times: expected one list per layer ({n_layers}), got {len(bias)}")
        if init is None:
            init = GOLTZ_YINYANG_INIT if n_layers == 2 else tuple((1.0, 0.8) for _ in range(n_layers))
        init = [(float(m), float(s)) for m, s in init]
        if len(init) != n_layers:
            raise ShapeError(f"init: expected one (mean, sd) pair per layer ({n_layers}), got {len(init)}")
        self._net = _core.TtfsNetwork(
            sizes, neuron.tau_mem, neuron.tau_syn, neuron.v_th, bias, init, v.seed("seed", seed)
        )
        self.neuron = neuron
        self.encoder = encoder
        self.seed = seed

    @classmethod
    def _wrap(cls, core: Any, extra_json: str, source: str) -> TTFSNetwork:
        """Wrap a loaded core network; ``extra_json`` is the Python part of the file's metadata."""
        try:
            extra = json.loads(extra_json)
            if not isinstance(extra, dict):
                raise TypeError(f"expected a JSON object, got {type(extra).__name__}")
            encoder = encoder_from_dict(extra.get("encoder"))
            seed = extra.get("seed", 0)
            stored = extra.get("neuron")
            target: type[TTFSNetwork] = TTFSNetwork
            if isinstance(stored, dict) and stored.get("type") == "Alpha":
                from .alpha import AlphaNetwork, alpha_from_core

                neuron: Any = alpha_from_core(core, stored)
                target = AlphaNetwork
            else:
                neuron = LIF(core.tau_mem, core.tau_syn, core.threshold)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise FileFormatError(f"{source}: not a valid spikeloom network file: bad metadata ({e})") from None
        if not issubclass(target, cls):
            raise FileFormatError(f"{source}: holds a {target.__name__}, not a {cls.__name__}")
        self = target.__new__(target)
        self._net = core
        self.neuron = neuron
        self.encoder = encoder
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
    def bias_times(self) -> list[list[float]]:
        """Bias spike times of each layer, seconds."""
        return [list(self._net.bias_times(i)) for i in range(self.n_layers)]

    @property
    def weights(self) -> list[np.ndarray]:
        """Copies of the weight matrices, each ``(n_out, n_in + n_bias)``; bias columns last."""
        return [self._net.weights(i) for i in range(self.n_layers)]

    def set_weights(self, layer: int, weights: Any) -> None:
        """Replace one layer's weights (shape ``(n_out, n_in + n_bias)``)."""
        if not isinstance(layer, int) or not 0 <= layer < self.n_layers:
            raise InvalidParameterError(f"layer: expected an index in 0..{self.n_layers - 1}, got {layer!r}")
        w = v.float_matrix("weights", weights)
        expected = self._net.weights(layer).shape
        if w.shape != expected:
            raise ShapeError(f"weights: expected shape {expected}, got {w.shape}")
        self._net.set_weights(layer, w)

    def __repr__(self) -> str:
        return (
            f"TTFSNetwork(sizes={self.sizes}, neuron={self.neuron}, "
            f"bias_times={self.bias_times}, encoder={self.encoder})"
        )

    # --- simulation ------------------------------------------------------------------------------
    def run(self, times: Any, threads: int = 0) -> list[np.ndarray]:
        """Exact spike times of every layer.

        Args:
            times: input spike times, shape (samples, n_inputs), seconds; ``inf`` = no spike.
            threads: worker threads (0 = all cores); results do not depend on it.

        Returns:
            One array per layer, shape (samples, n_neurons), seconds; ``inf`` = no spike.
        """
        x = v.spike_times("times", times, self.sizes[0])
        return self._net.run(x, v.threads(threads))

    def predict(self, times: Any, threads: int = 0) -> np.ndarray:
        """Class of the first output neuron to spike (lowest index on ties); -1 if none spiked."""
        out = self.run(times, threads)[-1]
        pred = np.argmin(out, axis=1)
        pred[~np.isfinite(out.min(axis=1))] = -1
        return pred

    def evaluate(
        self,
        times: Any,
        labels: Any,
        xi: float = 0.2,
        alpha: float = 0.005,
        beta: float = 1.0,
        threads: int = 0,
    ) -> dict[str, float]:
        """Loss (the paper's TTFS cross-entropy) and accuracy on labelled spike times.

        Args:
            times: input spike times (samples, n_inputs), seconds.
            labels: integer labels (samples,).
            xi, alpha, beta: loss parameters (temperature and regulariser, in units of tau_syn).
            threads: worker threads (0 = all cores).
        """
        x = v.spike_times("times", times, self.sizes[0])
        v.samples("times", x.shape[0])
        y = v.labels("labels", labels, x.shape[0], self.sizes[-1])
        loss, acc, _ = self._net.evaluate(
            x,
            y,
            v.positive("xi", xi),
            v.non_negative("alpha", alpha),
            v.positive("beta", beta),
            v.threads(threads),
        )
        return {"loss": float(loss), "accuracy": float(acc)}

    # --- persistence -----------------------------------------------------------------------------
    def _extra(self) -> str:
        return json.dumps({"encoder": self.encoder.to_dict() if self.encoder else None, "seed": self.seed})

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save atomically as safetensors (weights, bias times) with JSON metadata (neuron, encoder)."""
        self._net.save(os.fspath(path), self._extra())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TTFSNetwork:
        """Load a network written by :meth:`save`. Nothing from the file is executed."""
        core, extra = _core.TtfsNetwork.load(os.fspath(path))
        return cls._wrap(core, extra, os.fspath(path))

    def to_bytes(self) -> bytes:
        """The safetensors file contents (for pickling or sending to workers)."""
        return self._net.to_bytes(self._extra())

    @classmethod
    def from_bytes(cls, data: bytes) -> TTFSNetwork:
        """Inverse of :meth:`to_bytes`."""
        core, extra = _core.TtfsNetwork.from_bytes(bytes(data))
        return cls._wrap(core, extra, "<bytes>")

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (TTFSNetwork.from_bytes, (self.to_bytes(),))
