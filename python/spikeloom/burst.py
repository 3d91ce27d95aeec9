"""Burst-dependent plasticity in networks of two-compartment neurons (Payeur, Guerguiev, Zenke, Richards &
Naud 2021, Nat Neurosci 24:1010). SI units: volts, seconds, amperes, farads; synaptic conductances are
dimensionless, in units of the target compartment's leak conductance.

* :class:`TwoCompartment`: the pyramidal neuron (soma + apical dendrite with a Ca2+ nonlinearity
  ``f(Vd) = 1 / (1 + exp(-(Vd - E_d) / D))``, back-propagating spike kernel, somatic and dendritic
  adaptation, moving threshold; :meth:`TwoCompartment.naud`) and its stochastic-burst variant
  (:meth:`TwoCompartment.burst_poisson`: passive dendrite, a somatic spike is followed by a second spike
  10 ms later with probability ``f(Vd)``, 20 ms refractory), integrated with forward Euler.
* :func:`classify_bursts`: events (isolated spikes and first spikes of bursts) and bursts (second spikes;
  inter-spike interval below the 16 ms window) of a spike train.
* :func:`tm_efficacies`: Tsodyks-Markram short-term depression/facilitation.
* :class:`BurstNetwork`: populations with background Poisson drive, random projections onto soma or
  dendrite that transmit all spikes, events only (idealised depression), bursts only (idealised
  facilitation) or through Tsodyks-Markram synapses, and the burst-dependent rule
  ``dW = eta (B - P_bar E) E~_pre`` (:class:`BurstRule`) with online ``P_bar``, homeostasis and bounds.
* :func:`xor_network` / :func:`train_xor`: the paper's XOR experiment (Fig. 4).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

from . import _validation as v
from ._core import BurstNetwork as _CoreNetwork
from ._core import burst_neuron_trace as _trace
from ._core import classify_bursts as _classify
from ._core import tm_efficacies as _tm
from .errors import InvalidParameterError, ShapeError, UnknownNameError

Compartment = Literal["soma", "dendrite"]
Receptor = Literal["exc", "inh"]
TransmitName = Literal["all", "events", "bursts", "stp"]

EVENT, BURST, WITHIN = 0, 1, 2


@dataclass(frozen=True)
class TwoCompartment:
    """Constants of the two-compartment neuron (SI units; defaults: the paper's Methods).

    ``mechanism`` is ``"dendritic"`` (active dendrite coupled to the soma by ``g_s f(Vd)``, dendritic
    regenerative current ``g_d f(Vd)``, back-propagating spike ``zeta`` for ``bap_duration``) or
    ``"stochastic"`` (passive dendrite, bursts drawn with probability ``f(Vd)`` after each somatic spike;
    second spike ``U(burst_delay_min, burst_delay_max)`` later). ``dendritic_drive_somatic``: the dendritic
    synaptic conductances drive ``g (E - Vs)`` (somatic potential) instead of ``g (E - Vd)``, as in the
    reference Auryn code, whose synapse models compute every conductance current from the somatic potential.
    """

    mechanism: Literal["dendritic", "stochastic"] = "dendritic"
    e_l: float = -70e-3
    e_exc: float = 0.0
    e_inh: float = -80e-3
    tau_s: float = 16e-3
    c_s: float = 370e-12
    g_s: float = 1300e-12
    tau_d: float = 7e-3
    c_d: float = 170e-12
    g_d: float = 1200e-12
    tau_ws: float = 100e-3
    b_ws: float = -200e-12
    tau_wd: float = 30e-3
    a_wd: float = -13e-9
    zeta: float = 2600e-12
    bap_duration: float = 2e-3
    e_d: float = -38e-3
    d_d: float = 6e-3
    thr0: float = -50e-3
    thr_jump: float = 2e-3
    tau_thr: float = 27e-3
    v_reset: float = -70e-3
    refractory: float = 2e-3
    tau_ampa: float = 5e-3
    tau_gaba: float = 10e-3
    burst_delay_min: float = 5e-3
    burst_delay_max: float = 15e-3
    dendritic_drive_somatic: bool = False

    @classmethod
    def naud(cls, **overrides: Any) -> TwoCompartment:
        """The active two-compartment neuron (Naud & Sprekeler 2018 constants)."""
        return cls(**overrides)

    @classmethod
    def burst_poisson(cls, **overrides: Any) -> TwoCompartment:
        """The stochastic-burst neuron of the XOR network (reference ``BurstPoissonGroup``: E_d = -57 mV,
        20 ms absolute refractory, burst spike 10 ms after the first)."""
        base = {
            "mechanism": "stochastic",
            "e_d": -57e-3,
            "refractory": 20e-3,
            "burst_delay_min": 10e-3,
            "burst_delay_max": 10e-3,
        }
        base.update(overrides)
        return cls(**base)

    def f(self, vd: np.ndarray | float) -> np.ndarray | float:
        """Dendritic nonlinearity / burst probability ``1 / (1 + exp(-(vd - e_d) / d_d))``."""
        return 1.0 / (1.0 + np.exp(-(np.asarray(vd) - self.e_d) / self.d_d))

    def to_json(self) -> str:
        if self.mechanism not in ("dendritic", "stochastic"):
            raise InvalidParameterError(f"mechanism: expected 'dendritic' or 'stochastic', got {self.mechanism!r}")
        return json.dumps(asdict(self))


@dataclass(frozen=True)
class BurstRule:
    """The burst-dependent rule (adaptive form of the reference code): at a postsynaptic event
    ``dw = eta (-min(P_bar, 1) + hom) E~_pre``, at a burst ``dw = eta (1 + hom) E~_pre``, where ``E~_pre``
    is the presynaptic event trace (time constant ``tau_pre``, s), ``hom = -(r - max_rate) / r`` when the
    postsynaptic event rate ``r`` exceeds ``max_rate`` (Hz); presynaptic events add ``eta (min_rate - r)``
    when ``r < min_rate``; weights stay in ``[w_min, w_max]``. ``rate_valence`` selects an earlier version of the
    reference rule: ``-B_bar`` (Hz) at events, ``+E_bar`` (Hz) at bursts, homeostasis ``-(r - max_rate)``.

    ``hom_tau`` (s): the rate ``r`` read by the potentiation at presynaptic events is then an exponential average
    of *all* postsynaptic spikes (events, burst and within-burst spikes) with this time constant, starting at
    ``hom_rate0`` (Hz), instead of the event-rate average. The reference XOR connections behave so with 30 s and
    0.1 Hz: their presynaptic update resolves (non-virtual C++ call) to the base class's, which reads a 30 s
    postsynaptic trace of all spikes."""

    eta: float = 4e-3
    tau_pre: float = 100e-3
    w_min: float = 0.0
    w_max: float = 1.0
    max_rate: float = 12.0
    min_rate: float = 2.0
    rate_valence: bool = False
    hom_tau: float | None = None
    hom_rate0: float = 0.1


@dataclass(frozen=True)
class TsodyksMarkram:
    """Tsodyks-Markram synapse: ``u`` relaxes to ``u0`` (``tau_f``), resources ``R`` to 1 (``tau_d``); at a
    spike ``u += f (1 - u)``, the efficacy is ``u R`` and ``R -= u R``."""

    u0: float
    f: float
    tau_d: float
    tau_f: float

    def __post_init__(self) -> None:
        for name in ("u0", "f"):
            if not 0.0 <= v.non_negative(name, getattr(self, name)) <= 1.0:
                raise InvalidParameterError(f"{name}: expected a fraction in [0, 1], got {getattr(self, name)!r}")
            object.__setattr__(self, name, float(getattr(self, name)))
        for name in ("tau_d", "tau_f"):
            object.__setattr__(self, name, v.positive(name, getattr(self, name)))

    @classmethod
    def depressing(cls) -> TsodyksMarkram:
        """Short-term depression (feedforward synapses; transmits event rate)."""
        return cls(u0=0.9, f=0.1, tau_d=20e-3, tau_f=1.0)

    @classmethod
    def facilitating(cls) -> TsodyksMarkram:
        """Short-term facilitation (feedback synapses; transmits burst rate)."""
        return cls(u0=0.02, f=0.1, tau_d=100e-3, tau_f=100e-3)


@dataclass(frozen=True)
class Background:
    """Independent Poisson input per neuron: ``rate`` (Hz) with conductance jump ``weight``."""

    compartment: Compartment
    receptor: Receptor
    rate: float
    weight: float


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise InvalidParameterError(f"{name}: expected one of {list(choices)}, got {value!r}")
    return str(value)


def _spike_times(name: str, times: Any) -> np.ndarray:
    t = np.ascontiguousarray(np.asarray(times, dtype=np.float64).ravel())
    if not np.all(np.isfinite(t)):
        raise InvalidParameterError(f"{name}: expected finite times (s)")
    if t.size and np.any(np.diff(t) < 0):
        raise InvalidParameterError(f"{name}: expected non-decreasing times (s)")
    return t


def classify_bursts(times: Any, ids: Any | None = None, n: int | None = None, window: float = 16e-3) -> np.ndarray:
    """Classify spikes into events (0), burst-marking second spikes (1) and later burst spikes (2).

    Args:
        times: spike times (s), non-decreasing.
        ids: neuron of each spike (default: all from neuron 0).
        n: number of neurons (default: max id + 1).
        window: burst window (s): a spike less than ``window`` after the previous one (trace above 1/e) is
            part of a burst.
    """
    t = _spike_times("times", times)
    i = np.zeros(t.size, dtype=np.int64) if ids is None else np.ascontiguousarray(np.asarray(ids, dtype=np.int64))
    if i.shape != t.shape:
        raise ShapeError(f"ids: expected {t.size} ids (one per spike), got shape {i.shape}")
    n = int(i.max()) + 1 if n is None and i.size else (n or 1)
    return _classify(t, i, v.positive_int("n", n), v.positive("window", window))


def burst_probability(kinds: np.ndarray) -> float:
    """Burst probability ``B / E`` of classified spikes (``nan`` without events)."""
    kinds = np.asarray(kinds)
    e = int(np.sum(kinds == EVENT))
    return float(np.sum(kinds == BURST) / e) if e else float("nan")


def tm_efficacies(times: Any, synapse: TsodyksMarkram) -> np.ndarray:
    """Efficacy ``u R`` of each spike of a presynaptic train (times in s) through a Tsodyks-Markram synapse."""
    return _tm(_spike_times("times", times), synapse.u0, synapse.f, synapse.tau_d, synapse.tau_f)


def neuron_trace(
    neuron: TwoCompartment,
    i_s: Any,
    i_d: Any | None = None,
    *,
    dt: float = 1e-4,
    conductances: dict[str, Any] | None = None,
    vs0: Any | None = None,
    vd0: Any | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Simulate uncoupled neurons under given inputs and record every step.

    Args:
        neuron: the neuron constants.
        i_s: somatic current (A), shape ``(steps, n)``.
        i_d: dendritic current (A), same shape (default zero).
        dt: Euler step (s).
        conductances: optional per-step conductance increments ``{"ge_s", "gi_s", "ge_d", "gi_d"}``, each
            ``(steps, n)`` (dimensionless).
        vs0, vd0: initial potentials (V; default E_L).
        seed: seed of the burst draws (stochastic mechanism).

    Returns:
        ``vs, vd, ws, wd, thr`` of shape ``(steps, n)`` (after each step) and spikes ``spike_step,
        spike_id, spike_type`` (1 somatic threshold crossing, 2 delayed second spike of a burst).
    """
    a = np.asarray(i_s, dtype=np.float64)
    if a.ndim != 2:
        raise ShapeError(f"i_s: expected a 2-D array (steps, neurons), got shape {a.shape}")
    steps, n = a.shape

    def arr(name: str, x: Any | None, shape: tuple[int, ...]) -> np.ndarray:
        if x is None:
            return np.zeros(int(np.prod(shape)))
        b = np.asarray(x, dtype=np.float64)
        if b.shape != shape:
            raise ShapeError(f"{name}: expected shape {shape}, got {b.shape}")
        return np.ascontiguousarray(b).ravel()

    g = conductances or {}
    unknown = set(g) - {"ge_s", "gi_s", "ge_d", "gi_d"}
    if unknown:
        raise UnknownNameError(f"conductances: unknown keys {sorted(unknown)}; expected ge_s, gi_s, ge_d, gi_d")
    vs = arr("vs0", vs0, (n,)) if vs0 is not None else np.full(n, float(neuron.e_l))
    vd = arr("vd0", vd0, (n,)) if vd0 is not None else np.full(n, float(neuron.e_l))
    out = _trace(
        neuron.to_json(),
        v.positive("dt", dt),
        vs,
        vd,
        np.ascontiguousarray(a).ravel(),
        arr("i_d", i_d, (steps, n)),
        *(arr(k, g.get(k), (steps, n)) for k in ("ge_s", "gi_s", "ge_d", "gi_d")),
        v.seed("seed", seed),
    )
    for k in ("vs", "vd", "ws", "wd", "thr"):
        out[k] = out[k].reshape(steps, n)
    return out


@dataclass
class RunStats:
    """Counts of one :meth:`BurstNetwork.run` per population (arrays over neurons) and the raster.

    Attributes:
        events, bursts, spikes: per population name, counts per neuron.
        duration: simulated time of the run (s).
        raster: if recorded, ``(time_s, population_index, neuron, kind)`` arrays.
        synaptic_events: synaptic deliveries.
    """

    events: dict[str, np.ndarray]
    bursts: dict[str, np.ndarray]
    spikes: dict[str, np.ndarray]
    duration: float
    raster: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None
    synaptic_events: int

    def event_rate(self, pop: str) -> float:
        """Mean event rate of a population (Hz)."""
        return float(self.events[pop].mean() / self.duration)

    def burst_probability(self, pop: str) -> float:
        """Population burst probability ``sum B / sum E``."""
        e = self.events[pop].sum()
        return float(self.bursts[pop].sum() / e) if e else float("nan")


@dataclass
class _Pop:
    name: str
    n: int
    neuron: TwoCompartment
    backgrounds: list[Background]
    tau_avg: float
    burst_window: float
    v_init_sd: float
    event_rate0: float
    burst_rate0: float


class BurstNetwork:
    """A network of two-compartment populations (clock-driven, step ``dt`` seconds, seeded).

    Build with :meth:`add_population` and :meth:`connect`; the engine is created on the first call that
    needs it (:meth:`run`, :meth:`set_current`, ...) and the structure is then frozen. Spikes reach their
    targets ``delay`` seconds after emission (rounded to whole steps, at least one step; default one step);
    populations advance that many steps at a time in parallel. Each population owns its random streams and
    its incoming synapses, so results are identical for any ``threads``.

    Example::

        net = BurstNetwork(dt=1e-4, seed=0)
        a = net.add_population("a", 100, TwoCompartment.burst_poisson(),
                               backgrounds=[Background("soma", "exc", 500.0, 0.35)])
        b = net.add_population("b", 100, TwoCompartment.burst_poisson())
        net.connect("a", "b", p=0.2, weight=0.2, transmit="events", rule=BurstRule(eta=1e-3))
        stats = net.run(1.0)
    """

    def __init__(self, dt: float = 1e-4, seed: int = 0, threads: int = 0, delay: float | None = None) -> None:
        self.dt = v.positive("dt", dt)
        self.delay = self.dt if delay is None else v.non_negative("delay", delay)
        if self.delay > 1.0:
            raise InvalidParameterError(f"delay: expected a transmission delay in [0, 1] s, got {delay!r}")
        self.seed = v.seed("seed", seed)
        self.threads = v.threads(threads)
        self._pops: list[_Pop] = []
        self._projections: list[dict[str, Any]] = []
        self._incoming: dict[int, int] = {}
        self._core: _CoreNetwork | None = None

    # -- structure ---------------------------------------------------------------------------------
    def _frozen(self) -> None:
        if self._core is not None:
            raise InvalidParameterError("network: the structure is frozen once the network has run")

    def index(self, pop: str | int) -> int:
        """Index of a population given by name or index."""
        if isinstance(pop, int | np.integer) and not isinstance(pop, bool):
            if 0 <= pop < len(self._pops):
                return int(pop)
        else:
            for k, p in enumerate(self._pops):
                if p.name == pop:
                    return k
        raise UnknownNameError(f"population: expected one of {[p.name for p in self._pops]}, got {pop!r}")

    @property
    def populations(self) -> list[str]:
        return [p.name for p in self._pops]

    def size(self, pop: str | int) -> int:
        return self._pops[self.index(pop)].n

    def add_population(
        self,
        name: str,
        n: int,
        neuron: TwoCompartment,
        *,
        backgrounds: Sequence[Background] = (),
        tau_avg: float = 2.0,
        burst_window: float = 16e-3,
        v_init_sd: float = 5e-3,
        event_rate0: float = 5.0,
        burst_rate0: float = 1.0,
    ) -> str:
        """Add ``n`` neurons. ``tau_avg`` (s) is the time constant of the moving averages of event rate and
        burst probability (``P_bar``) used by the rule; ``event_rate0``/``burst_rate0`` (Hz) their start."""
        self._frozen()
        if not isinstance(name, str) or name in self.populations:
            raise InvalidParameterError(f"name: expected a new population name, got {name!r}")
        if not isinstance(neuron, TwoCompartment):
            raise InvalidParameterError(f"neuron: expected a TwoCompartment, got {type(neuron).__name__}")
        for b in backgrounds:
            _check_choice("background.compartment", b.compartment, ("soma", "dendrite"))
            _check_choice("background.receptor", b.receptor, ("exc", "inh"))
            v.non_negative("background.rate", b.rate)
            v.non_negative("background.weight", b.weight)
        self._pops.append(
            _Pop(
                name,
                v.positive_int("n", n),
                neuron,
                list(backgrounds),
                v.positive("tau_avg", tau_avg),
                v.positive("burst_window", burst_window),
                v.non_negative("v_init_sd", v_init_sd),
                v.non_negative("event_rate0", event_rate0),
                v.non_negative("burst_rate0", burst_rate0),
            )
        )
        return name

    def connect(
        self,
        pre: str | int,
        post: str | int,
        *,
        p: float,
        weight: float,
        compartment: Compartment = "soma",
        receptor: Receptor = "exc",
        transmit: TransmitName = "all",
        stp: TsodyksMarkram | None = None,
        rule: BurstRule | None = None,
        seed: int | None = None,
        event_window: float | None = None,
    ) -> tuple[str, int]:
        """Connect each (pre, post) pair with probability ``p`` and initial ``weight`` (dimensionless).

        ``transmit``: ``"all"`` spikes, ``"events"`` only (idealised short-term depression), ``"bursts"`` only
        (idealised facilitation: the burst-marking second spike) or ``"stp"`` (Tsodyks-Markram ``stp``).
        ``rule`` makes the synapses plastic. ``event_window`` (s): this projection classifies the presynaptic
        spikes itself (event when a per-neuron trace of all presynaptic spikes with this time constant, +1 per
        spike, is below ``1/e``); the transmission filter and the rule's presynaptic trace use it. ``None``:
        the presynaptic population's classification (``burst_window``). Returns a handle ``(post, index)``
        for :meth:`weights`.
        """
        self._frozen()
        a, b = self.index(pre), self.index(post)
        if not 0.0 <= float(p) <= 1.0:
            raise InvalidParameterError(f"p: expected a probability in [0, 1], got {p!r}")
        _check_choice("compartment", compartment, ("soma", "dendrite"))
        _check_choice("receptor", receptor, ("exc", "inh"))
        _check_choice("transmit", transmit, ("all", "events", "bursts", "stp"))
        if transmit == "stp":
            if not isinstance(stp, TsodyksMarkram):
                raise InvalidParameterError("stp: expected a TsodyksMarkram with transmit='stp', got None")
            tr: Any = {"stp": asdict(stp)}
        else:
            if stp is not None:
                raise InvalidParameterError(f"stp: only used with transmit='stp', got transmit={transmit!r}")
            tr = transmit
        spec = {
            "pre": a,
            "post": b,
            "p": float(p),
            "weight": v.non_negative("weight", weight),
            "compartment": compartment,
            "receptor": receptor,
            "transmit": tr,
            "rule": None if rule is None else asdict(rule),
            "seed": v.seed("seed", seed if seed is not None else (self.seed * 1000 + len(self._projections) + 17)),
            "event_window": None if event_window is None else v.positive("event_window", event_window),
        }
        self._projections.append(spec)
        idx = self._incoming.get(b, 0)
        self._incoming[b] = idx + 1
        return self._pops[b].name, idx

    def _spec(self) -> str:
        pops = [
            {
                "n": p.n,
                "params": asdict(p.neuron),
                "backgrounds": [asdict(b) for b in p.backgrounds],
                "tau_avg": p.tau_avg,
                "burst_window": p.burst_window,
                "v_init_sd": p.v_init_sd,
                "event_rate0": p.event_rate0,
                "burst_rate0": p.burst_rate0,
            }
            for p in self._pops
        ]
        return json.dumps(
            {
                "dt": self.dt,
                "seed": self.seed,
                "delay": self.delay,
                "populations": pops,
                "projections": self._projections,
            }
        )

    @property
    def core(self) -> _CoreNetwork:
        if self._core is None:
            if not self._pops:
                raise InvalidParameterError("network: expected at least one population, got none")
            self._core = _CoreNetwork(self._spec(), self.threads)
        return self._core

    # -- simulation --------------------------------------------------------------------------------
    @property
    def time(self) -> float:
        """Simulated time (s)."""
        return 0.0 if self._core is None else float(self._core.time)

    def set_current(self, pop: str | int, values: Any, compartment: Compartment = "soma") -> None:
        """Set the external current (A) of a population's neurons (a scalar or one value per neuron)."""
        k = self.index(pop)
        _check_choice("compartment", compartment, ("soma", "dendrite"))
        n = self._pops[k].n
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 0:
            arr = np.full(n, float(arr))
        if arr.shape != (n,):
            raise ShapeError(f"current: expected a scalar or {n} values (one per neuron), got shape {arr.shape}")
        self.core.set_current(k, compartment, np.ascontiguousarray(arr))

    def estimates(self, pop: str | int) -> tuple[np.ndarray, np.ndarray]:
        """Moving-average event rate (Hz) and burst probability ``P_bar`` of each neuron."""
        return self.core.estimates(self.index(pop))

    def potentials(self, pop: str | int) -> tuple[np.ndarray, np.ndarray]:
        """Somatic and dendritic potentials (V)."""
        return self.core.potentials(self.index(pop))

    def weights(self, handle: tuple[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(pre, post, weight)`` arrays of a projection (handle from :meth:`connect`)."""
        return self.core.weights(self.index(handle[0]), int(handle[1]))

    def set_weights(self, handle: tuple[str, int], w: Any) -> None:
        self.core.set_weights(self.index(handle[0]), int(handle[1]), np.ascontiguousarray(w, dtype=np.float64))

    def run(self, duration: float, *, plastic: bool = False, record: bool = False) -> RunStats:
        """Advance ``duration`` seconds (rounded to whole steps); plasticity only if ``plastic``."""
        steps = v.step_count("duration", v.non_negative("duration", duration), self.dt)
        r = self.core.run(steps, bool(plastic), bool(record))
        names = self.populations
        raster = None
        if record:
            raster = (r["rec_step"] * self.dt, r["rec_pop"], r["rec_id"], r["rec_kind"])
        return RunStats(
            events=dict(zip(names, r["events"], strict=True)),
            bursts=dict(zip(names, r["bursts"], strict=True)),
            spikes=dict(zip(names, r["spikes"], strict=True)),
            duration=steps * self.dt,
            raster=raster,
            synaptic_events=int(r["synaptic_events"]),
        )


# ---------------------------------------------------------------------------------------------------
# XOR (Payeur et al. 2021, Fig. 4)
# ---------------------------------------------------------------------------------------------------
XOR_PATTERNS = ((0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 0))


@dataclass(frozen=True)
class XORConfig:
    """The XOR network and protocol: the reference code's final version (``sim_xor_test.cpp`` as run by
    ``run_xor.sh``: N = 500, 8 s examples, 2 s averages, 2000 examples) unless noted.

    Populations input1, input2, hidden1, hidden2, output of ``n`` stochastic-burst neurons; connection
    probability ``0.05 * 2000 / n``; plastic excitatory input->hidden and hidden->output synapses (events
    only, initial weight ``1.3 * 0.18``), fixed event-only inhibition (``2.5 * 0.1``), burst-only feedback
    output->hidden dendrites of opposite net sign for the two hidden populations, background Poisson drive
    (hidden somata: excitatory weight ``1.1 * 0.35``, inhibitory ``1.4 * 0.35``), constant dendritic currents
    into the output (400 pA) and hidden2 (500 pA) dendrites, input currents +150 pA ("1") / -350 pA ("0"),
    teaching current into the output dendrites during the last ``learn_fraction`` of each example,
    homeostasis bounds ``min_rate = e_min``, ``max_rate = e_max``. Time step 0.1 ms as in Auryn. Transmission
    delay 0.8 ms (Auryn's minimum axonal delay), which lets the populations advance 8 steps at a time in
    parallel; the reference's own event/burst connections deliver at the next step, ``delay=1e-4`` reproduces
    that at the cost of one synchronisation per step.

    As in the reference code, the plastic connections classify presynaptic spikes with their own presynaptic
    trace (time constant ``tau_pre``, +1 per spike) against ``1/e`` (``pre_event_window``, s): they transmit,
    and count in the presynaptic event trace, only spikes that follow ~100 ms without presynaptic firing, so
    their drive saturates with the presynaptic rate while the fixed inhibition (16 ms events) keeps growing.
    ``pre_event_window=None`` uses the 16 ms classification instead (the earlier port). The dendritic synaptic
    currents are computed with the somatic potential (``dendritic_drive_somatic``), as in Auryn.

    The homeostatic potentiation at presynaptic events (``eta (min_rate - r)`` while ``r < min_rate``) reads, as
    the reference program does, a 30 s average of all postsynaptic spikes starting at 0.1 Hz (``hom_tau``,
    ``hom_rate0``; see :class:`BurstRule`); ``hom_tau=None`` uses the 2 s event-rate average instead (the earlier
    ports), which holds every pattern's hidden rate near ``min_rate``.
    """

    n: int = 500
    dt: float = 1e-4
    delay: float = 0.8e-3
    durex: float = 8.0
    learn_fraction: float = 0.1
    examples: int = 2000
    tau_avg: float = 2.0
    input_current_on: float = 150e-12
    input_current_off: float = -350e-12
    e_min: float = 2.0
    e_max: float = 10.0
    teach_amplitude: float = 1000e-12
    teach_tolerance: float = 1.0
    w_ff: float = 0.18
    w_ff_init_scale: float = 1.3
    w_inh: float = 0.25
    w_fb_exc: tuple[float, float] = (0.26, 0.026)
    w_fb_inh: tuple[float, float] = (0.06, 0.27)
    eta_hidden: float = 8e-3
    eta_output: float = 4e-3
    tau_pre: float = 100e-3
    bg_rate: float = 5.0
    bg_soma_inputs: float = 100.0
    bg_soma_hidden: float = 30.0
    bg_dend: float = 100.0
    w_bg_soma: float = 0.35
    w_bg_dend: float = 0.05
    hidden_bg_exc_scale: float = 1.1
    hidden_bg_inh_scale: float = 1.4
    bias_output_dend: float = 400e-12
    bias_hidden2_dend: float = 500e-12
    rate_valence: bool = False
    pre_event_window: float | None = 0.1
    dendritic_drive_somatic: bool = True
    hom_tau: float | None = 30.0
    hom_rate0: float = 0.1
    seed: int = 0
    threads: int = 0

    @property
    def p(self) -> float:
        return min(1.0, 0.05 * 2000 / self.n)

    @property
    def max_rate(self) -> float:
        """Homeostatic upper bound of the rule (Hz): ``e_max`` in the reference XOR program."""
        return self.e_max

    @property
    def min_rate(self) -> float:
        """Homeostatic lower bound of the rule (Hz): ``e_min`` in the reference XOR program."""
        return self.e_min


def xor_network(cfg: XORConfig) -> tuple[BurstNetwork, dict[str, tuple[str, int]]]:
    """Build the XOR network; returns it and the handles of its plastic projections."""
    nrn = TwoCompartment.burst_poisson(dendritic_drive_somatic=cfg.dendritic_drive_somatic)
    net = BurstNetwork(dt=cfg.dt, seed=cfg.seed, threads=cfg.threads, delay=cfg.delay)
    win = cfg.pre_event_window

    def bg(soma_mult: float, exc_scale: float = 1.0, inh_scale: float = 1.0) -> list[Background]:
        return [
            Background("soma", "exc", soma_mult * cfg.bg_rate, exc_scale * cfg.w_bg_soma),
            Background("soma", "inh", soma_mult * cfg.bg_rate, inh_scale * cfg.w_bg_soma),
            Background("dendrite", "exc", cfg.bg_dend * cfg.bg_rate, cfg.w_bg_dend),
            Background("dendrite", "inh", cfg.bg_dend * cfg.bg_rate, cfg.w_bg_dend),
        ]

    for name in ("input1", "input2"):
        net.add_population(name, cfg.n, nrn, backgrounds=bg(cfg.bg_soma_inputs), tau_avg=cfg.tau_avg)
    hidden_bg = bg(cfg.bg_soma_hidden, cfg.hidden_bg_exc_scale, cfg.hidden_bg_inh_scale)
    for name in ("hidden1", "hidden2"):
        net.add_population(name, cfg.n, nrn, backgrounds=hidden_bg, tau_avg=cfg.tau_avg)
    net.add_population("output", cfg.n, nrn, backgrounds=bg(cfg.bg_soma_hidden), tau_avg=cfg.tau_avg)
    rule_h = BurstRule(
        eta=cfg.eta_hidden,
        tau_pre=cfg.tau_pre,
        max_rate=cfg.max_rate,
        min_rate=cfg.min_rate,
        rate_valence=cfg.rate_valence,
        hom_tau=cfg.hom_tau,
        hom_rate0=cfg.hom_rate0,
    )
    rule_o = replace(rule_h, eta=cfg.eta_output)
    handles: dict[str, tuple[str, int]] = {}
    p = cfg.p
    w0 = cfg.w_ff_init_scale * cfg.w_ff
    for i in ("input1", "input2"):
        for h in ("hidden1", "hidden2"):
            handles[f"{i}->{h}"] = net.connect(i, h, p=p, weight=w0, transmit="events", rule=rule_h, event_window=win)
            net.connect(i, h, p=p, weight=cfg.w_inh, receptor="inh", transmit="events")
    for h in ("hidden1", "hidden2"):
        handles[f"{h}->output"] = net.connect(
            h, "output", p=p, weight=w0, transmit="events", rule=rule_o, event_window=win
        )
        net.connect(h, "output", p=p, weight=cfg.w_inh, receptor="inh", transmit="events")
    for k, h in enumerate(("hidden1", "hidden2")):
        net.connect("output", h, p=p, weight=cfg.w_fb_exc[k], compartment="dendrite", transmit="bursts")
        net.connect("output", h, p=p, weight=cfg.w_fb_inh[k], compartment="dendrite", receptor="inh", transmit="bursts")
    net.set_current("hidden2", cfg.bias_hidden2_dend, compartment="dendrite")
    net.set_current("output", cfg.bias_output_dend, compartment="dendrite")
    return net, handles


def teaching_current(rate: np.ndarray, target: int, cfg: XORConfig) -> np.ndarray:
    """Dendritic teaching current (A) per output neuron from its event-rate estimate ``rate`` (Hz), as in the
    reference ``generate_error``: for target 1, zero within ``teach_tolerance`` of ``e_max`` (or above),
    ``teach_amplitude`` within the tolerance of ``e_min`` (or below), else ``teach_amplitude / (rate - e_min)``
    (amplitude per Hz); for target 0 the mirror image, negative, with ``e_max - rate``."""
    a, tol = cfg.teach_amplitude, cfg.teach_tolerance
    rate = np.asarray(rate, dtype=np.float64)
    with np.errstate(divide="ignore"):
        if target == 1:
            i = np.where(rate <= cfg.e_min + tol, a, a / (rate - cfg.e_min))
            i[rate >= cfg.e_max - tol] = 0.0
        else:
            i = np.where(rate >= cfg.e_max - tol, -a, -a / (cfg.e_max - rate))
            i[rate <= cfg.e_min + tol] = 0.0
    return i


def xor_cost(rate: float, target: int, cfg: XORConfig) -> float:
    """Cross-entropy of the normalised output event rate ``(e - e_min) / (e_max - e_min)`` in [0.01, 0.99]."""
    y = min(max((rate - cfg.e_min) / (cfg.e_max - cfg.e_min), 0.01), 0.99)
    return float(-(target * math.log(y) + (1 - target) * math.log(1 - y)))


@dataclass
class XORResult:
    """Outcome of :func:`train_xor`.

    Attributes:
        rates: output event rate (Hz) per pattern ``(x1, x2)`` after training (prediction phase, no teaching).
        correct: patterns on the correct side of ``(e_min + e_max) / 2``.
        history: one dict per example (example, pattern, output rate over the prediction phase, its moving
            average at the end of the prediction phase and the reference's cost computed from it, hidden
            rates, hidden burst probabilities during learning, mean teaching current, mean weight of each
            plastic projection after the example).
        simulated_seconds, wall_seconds: totals.
        interrupted: training stopped by Ctrl-C.
    """

    rates: dict[tuple[int, int], float]
    correct: int
    history: list[dict[str, float]] = field(default_factory=list)
    simulated_seconds: float = 0.0
    wall_seconds: float = 0.0
    interrupted: bool = False


def _set_inputs(net: BurstNetwork, x1: int, x2: int, cfg: XORConfig) -> None:
    net.set_current("input1", cfg.input_current_on if x1 else cfg.input_current_off)
    net.set_current("input2", cfg.input_current_on if x2 else cfg.input_current_off)


def evaluate_xor(net: BurstNetwork, cfg: XORConfig, duration: float | None = None) -> dict[tuple[int, int], float]:
    """Output event rate (Hz) for each pattern: present it ``duration`` s (default ``durex``) without
    plasticity or teaching and average the events of its second half."""
    dur = cfg.durex if duration is None else duration
    net.set_current("output", cfg.bias_output_dend, compartment="dendrite")
    out = {}
    for x1, x2, _ in XOR_PATTERNS:
        _set_inputs(net, x1, x2, cfg)
        net.run(dur / 2)
        out[(x1, x2)] = net.run(dur / 2).event_rate("output")
    return out


def train_xor(
    cfg: XORConfig = XORConfig(),
    *,
    progress: bool = True,
    callback: Callable[[dict[str, float]], None] | None = None,
    log_every: int = 20,
) -> tuple[BurstNetwork, XORResult]:
    """Train the XOR network (patterns cycled in order, ``cfg.examples`` examples of ``cfg.durex`` s).

    Each example: inputs set, ``(1 - learn_fraction) durex`` of prediction (plasticity off), then the
    teaching current computed from the output neurons' event-rate averages is injected into their
    dendrites and plasticity is on for the rest. Ctrl-C stops training cleanly after the current chunk
    (the network is then evaluated as it is). Progress lines report simulated seconds and rates.
    """
    v.positive_int("examples", cfg.examples, minimum=0)
    if not 0.0 < cfg.learn_fraction < 1.0:
        raise InvalidParameterError(f"learn_fraction: expected a value in (0, 1), got {cfg.learn_fraction}")
    net, handles = xor_network(cfg)
    t0 = time.perf_counter()
    result = XORResult(rates={}, correct=0)
    net.run(3 * cfg.tau_avg)  # burn-in of the moving averages
    try:
        for ex in range(cfg.examples):
            x1, x2, y = XOR_PATTERNS[ex % 4]
            _set_inputs(net, x1, x2, cfg)
            net.set_current("output", cfg.bias_output_dend, compartment="dendrite")
            pred = net.run((1 - cfg.learn_fraction) * cfg.durex)
            rate_est, _ = net.estimates("output")
            teach = teaching_current(rate_est, y, cfg)
            net.set_current("output", cfg.bias_output_dend + teach, compartment="dendrite")
            learn = net.run(cfg.learn_fraction * cfg.durex, plastic=True)
            out_rate = pred.event_rate("output")
            est_rate = float(rate_est.mean())
            row = {
                "example": float(ex),
                "x1": float(x1),
                "x2": float(x2),
                "target": float(y),
                "output_rate_hz": out_rate,
                "output_rate_estimate_hz": est_rate,
                "cost": xor_cost(est_rate, y, cfg),
                "hidden1_rate_hz": pred.event_rate("hidden1"),
                "hidden2_rate_hz": pred.event_rate("hidden2"),
                "hidden1_burst_prob_learn": learn.burst_probability("hidden1"),
                "hidden2_burst_prob_learn": learn.burst_probability("hidden2"),
                "teach_current_pa": float(teach.mean() * 1e12),
                "simulated_s": net.time,
            }
            for name, h in handles.items():
                row[f"mean_w {name}"] = float(net.weights(h)[2].mean())
            result.history.append(row)
            if callback is not None:
                callback(row)
            if progress and (ex % log_every == log_every - 1 or ex == cfg.examples - 1):
                recent = result.history[-4:]
                desc = " ".join(f"{int(r['x1'])}{int(r['x2'])}:{r['output_rate_hz']:.1f}" for r in recent)
                print(
                    f"[xor] example {ex + 1}/{cfg.examples} sim {net.time:.0f} s wall "
                    f"{time.perf_counter() - t0:.0f} s | output Hz {desc} | cost "
                    f"{np.mean([r['cost'] for r in recent]):.3f}",
                    flush=True,
                )
    except KeyboardInterrupt:
        result.interrupted = True
        if progress:
            print("[xor] interrupted: evaluating the network as trained so far", flush=True)
    result.rates = evaluate_xor(net, cfg)
    thr = 0.5 * (cfg.e_min + cfg.e_max)
    result.correct = sum(int((r > thr) == bool(x1 ^ x2)) for (x1, x2), r in result.rates.items())
    result.simulated_seconds = net.time
    result.wall_seconds = time.perf_counter() - t0
    return net, result
