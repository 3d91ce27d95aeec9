"""Pure simulation of large LIF networks with exponential receptor currents (volts, seconds).

Per neuron, with one current ``g_r`` per receptor (volts)::

    dv/dt   = (v_rest - v + sum_r g_r) / tau_mem      (held at v_reset while refractory)
    dg_r/dt = -g_r / tau_r                            (each presynaptic spike adds its weight)

integrated exactly over each step ``dt``; a neuron spikes when ``v > threshold`` after a step's update,
is reset to ``v_reset`` and held there until ``refractory`` seconds after its spike (Brian2's
convention). Spikes are delivered at the end of their step by walking each spiking neuron's outgoing
synapse list, so the cost of delivery is spikes x fan-out.

Example: Brette et al. 2007's CUBA benchmark (see ``benches/cuba.py``)::

    g = LIFGroup(4000, dt=1e-4, tau_mem=20e-3, v_rest=-49e-3, threshold=-50e-3, v_reset=-60e-3,
                 refractory=5e-3, receptor_taus=(5e-3, 10e-3))
    g.connect(range(0, 3200), range(4000), p=0.02, weight=1.62e-3, receptor=0, seed=1)
    g.connect(range(3200, 4000), range(4000), p=0.02, weight=-9e-3, receptor=1, seed=2)
    out = g.run(1.0, v0=np.random.default_rng(0).uniform(-60e-3, -50e-3, 4000))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _validation as v
from ._core import SimGroup as _CoreGroup
from .errors import InvalidParameterError, ShapeError


@dataclass
class SimResult:
    """Output of :meth:`LIFGroup.run`.

    Attributes:
        spike_times: time of every spike (s; the end of its step), in time order (empty unless recorded).
        spike_ids: the neuron of every spike.
        counts: spikes per neuron.
        synaptic_events: synaptic deliveries (spikes x out-degree).
        v: membrane potentials at the end (V).
        duration: simulated time (s).
    """

    spike_times: np.ndarray
    spike_ids: np.ndarray
    counts: np.ndarray
    synaptic_events: int
    v: np.ndarray
    duration: float

    @property
    def mean_rate_hz(self) -> float:
        """Mean firing rate over neurons (Hz)."""
        return float(self.counts.mean() / self.duration)


def _range(name: str, r: Any, n: int) -> range:
    if isinstance(r, slice):
        r = range(*r.indices(n))
    if not isinstance(r, range) or r.step != 1:
        raise InvalidParameterError(f"{name}: expected a contiguous range or slice of neuron indices, got {r!r}")
    if r.start < 0 or r.stop > n or r.start > r.stop:
        raise InvalidParameterError(f"{name}: expected indices inside 0..{n}, got {r!r}")
    return r


class LIFGroup:
    """A group of ``n`` LIF neurons with exponential receptor currents and sparse random connections."""

    def __init__(
        self,
        n: int,
        *,
        dt: float = 1e-4,
        tau_mem: float = 20e-3,
        v_rest: float = 0.0,
        threshold: float = 20e-3,
        v_reset: float = 0.0,
        refractory: float = 0.0,
        receptor_taus: tuple[float, ...] = (5e-3,),
    ) -> None:
        self.n = v.positive_int("n", n)
        self.dt = v.positive("dt", dt)
        taus = tuple(v.positive(f"receptor_taus[{i}]", t) for i, t in enumerate(receptor_taus))
        self._g = _CoreGroup(
            self.n,
            self.dt,
            v.positive("tau_mem", tau_mem),
            float(v_rest),
            float(threshold),
            float(v_reset),
            v.non_negative("refractory", refractory),
            list(taus),
        )
        self.n_synapses = 0

    def connect(self, pre: Any, post: Any, *, p: float, weight: float, receptor: int = 0, seed: int = 0) -> int:
        """Connect every (pre, post) pair independently with probability ``p`` and weight ``weight`` (V)
        onto ``receptor``; returns the number of synapses made."""
        a, b = _range("pre", pre, self.n), _range("post", post, self.n)
        p, weight = v.probability("p", p), v.finite("weight", weight)
        receptor = v.positive_int("receptor", receptor, minimum=0)
        made = self._g.connect(a.start, a.stop, b.start, b.stop, p, weight, receptor, v.seed("seed", seed))
        self.n_synapses += made
        return int(made)

    def run(self, duration: float, v0: Any, *, record: bool = True) -> SimResult:
        """Simulate ``duration`` seconds from potentials ``v0`` (V, one per neuron), currents at zero."""
        steps = v.step_count("duration", v.positive("duration", duration), self.dt)
        arr = np.ascontiguousarray(np.asarray(v0, dtype=np.float64))
        if arr.shape != (self.n,):
            raise ShapeError(f"v0: expected shape ({self.n},), got {arr.shape}")
        d = self._g.run(arr, steps, record)
        return SimResult(
            spike_times=(d["spike_steps"].astype(np.float64) + 1.0) * self.dt,
            spike_ids=d["spike_ids"],
            counts=d["counts"],
            synaptic_events=int(d["synaptic_events"]),
            v=d["v"],
            duration=steps * self.dt,
        )


def cuba(n: int = 4000, seed: int = 0, dt: float = 1e-4) -> tuple[LIFGroup, np.ndarray]:
    """Brette et al. 2007's CUBA network as in Brian2's example: ``n`` neurons, 80 % excitatory,
    connection probability 80 / n (0.02 at n = 4000, so the fan-out stays 80), weights 1.62 mV / -9 mV,
    receptors 5 / 10 ms, refractory 5 ms; returns the group and the initial potentials
    ``U(v_reset, threshold)``."""
    g = LIFGroup(
        n,
        dt=dt,
        tau_mem=20e-3,
        v_rest=-49e-3,
        threshold=-50e-3,
        v_reset=-60e-3,
        refractory=5e-3,
        receptor_taus=(5e-3, 10e-3),
    )
    n_exc = int(0.8 * n)
    p = 80.0 / n
    g.connect(range(0, n_exc), range(n), p=p, weight=60 * 0.27 / 10 * 1e-3, receptor=0, seed=seed * 2 + 1)
    g.connect(range(n_exc, n), range(n), p=p, weight=-20 * 4.5 / 10 * 1e-3, receptor=1, seed=seed * 2 + 2)
    v0 = np.random.default_rng(seed).uniform(-60e-3, -50e-3, n)
    return g, v0


__all__ = ["LIFGroup", "SimResult", "cuba"]
