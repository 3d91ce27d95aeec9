"""FORCE training of spiking reservoirs (Nicola & Clopath 2017, Nat. Commun. 8:2208).

A reservoir of ``n`` LIF, Izhikevich or theta neurons with static sparse random weights ``G Omega0``
(``Omega0_ij ~ N(0, 1) Bernoulli(p) / (p sqrt(n))``, optionally with each row's mean over its nonzero
entries subtracted) and a learned rank-k feedback term ``Q eta d^T``::

    I_i  = IPSC_i + sum_c eta_ic xhat_c + BIAS        (input current, the model's current units)
    xhat = d^T r                                      (readout; r = filtered spike trains)
    x <- x exp(-dt/tau_rise) + h dt ;  h <- h exp(-dt/tau_decay) + spikes / (tau_rise tau_decay)

(the same double-exponential filter gives IPSC from the static input). While learning, recursive
least squares updates ``d`` every ``rls_every`` steps with ``P(0) = I / lam``::

    c = P r ;  gamma = 1 + r^T c ;  d <- d - c e^T / gamma ;  P <- P - c c^T / gamma

so ``d`` is exactly the ridge-regression solution ``(R^T R + lam I)^-1 R^T Y`` over the update samples
(``rls_gain="reference"`` drops the ``1 / gamma`` of the decoder step, as the MATLAB scripts do).

Each model runs in the units of the reference scripts so that their gains carry over: LIF and theta
in seconds (LIF potentials in mV), Izhikevich in ms, mV, pA and pF. Everything time-like in this API is
in seconds (``dt``, ``tau_*``, refractory periods, durations; the Izhikevich ``a`` in 1/s).
Presets with the paper's values: :func:`lif_sine`, :func:`izhikevich_sine`, :func:`theta_sine`,
:func:`theta_van_der_pol`, :func:`izhikevich_ode_to_joy`; :func:`train_force` runs the paper's
protocol (settle, learn, then test with the decoders frozen).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import _validation as v
from ._core import ForceNetwork as _CoreForce
from .errors import DTypeError, InvalidParameterError, ShapeError

# Steps per call of a settle / learn phase in `train_force` (each call materialises its target).
_PIECE = 1 << 20


@dataclass(frozen=True)
class LIF:
    """Nicola & Clopath's LIF neuron: ``tau_mem dv/dt = -v + I`` (mV); ``v >= v_peak`` spikes, resets to
    ``v_reset`` and stays there for ``refractory`` s (also during the first ``refractory`` s).

    Attributes: tau_mem (s), v_reset (mV), v_peak (mV), refractory (s), bias (mV; the reference uses
    ``v_peak`` so that rest sits at threshold)."""

    tau_mem: float = 10e-3
    v_reset: float = -65.0
    v_peak: float = -40.0
    refractory: float = 2e-3
    bias: float = -40.0

    def _spec(self) -> dict[str, Any]:
        return {"kind": "lif", **{k: float(x) for k, x in asdict(self).items()}}


@dataclass(frozen=True)
class Izhikevich:
    """Izhikevich neuron (Izhikevich 2007 form): ``C dv/dt = k (v - v_r)(v - v_t) - u + I``,
    ``du/dt = a (b (v - v_r) - u)``; ``v >= v_peak`` spikes, ``v <- v_reset``, ``u <- u + d``.

    Attributes: c (pF), k (nS/mV), v_r (mV), v_t (mV; None = ``v_r + 40 - b / k`` as in the scripts),
    a (1/s; 10 = 0.01/ms), b (nS), d (pA), v_peak (mV), v_reset (mV), bias (pA, ~rheobase)."""

    c: float = 250.0
    k: float = 2.5
    v_r: float = -60.0
    v_t: float | None = None
    a: float = 10.0
    b: float = -2.0
    d: float = 200.0
    v_peak: float = 30.0
    v_reset: float = -65.0
    bias: float = 1000.0

    def _spec(self) -> dict[str, Any]:
        k = v.positive("k", self.k)
        vt = self.v_r + 40.0 - self.b / k if self.v_t is None else self.v_t
        return {
            "kind": "izhikevich",
            "c": float(self.c),
            "k": k,
            "v_r": float(self.v_r),
            "v_t": float(vt),
            "a": float(self.a) * 1e-3,  # the core runs this model in ms
            "b": float(self.b),
            "d": float(self.d),
            "v_peak": float(self.v_peak),
            "v_reset": float(self.v_reset),
            "bias": float(self.bias),
        }


@dataclass(frozen=True)
class Theta:
    """Theta (Ermentrout-Kopell) neuron: ``dtheta/dt = (1 - cos theta) + (1 + cos theta) pi^2 I`` (s);
    a spike when ``theta >= pi``, then ``theta <- -pi``. ``bias``: constant input (1/s^2 units of I)."""

    bias: float = 0.0

    def _spec(self) -> dict[str, Any]:
        return {"kind": "theta", "bias": float(self.bias)}


Neuron = LIF | Izhikevich | Theta


@dataclass
class ForceRun:
    """Output of :meth:`ForceNetwork.run`.

    Attributes:
        t: time of each recorded readout sample (s since the reservoir was built; end of its step).
        z: readout ``xhat`` at those times, shape (samples, k).
        counts: spikes per neuron in this run.
        spike_times, spike_ids: every spike (s, neuron), if recorded.
        update_rates, update_targets: ``r`` and the target at every RLS update, if recorded.
        duration: simulated time (s) actually run.
        interrupted: the run was stopped by the callback or Ctrl-C.
    """

    t: np.ndarray
    z: np.ndarray
    counts: np.ndarray
    spike_times: np.ndarray
    spike_ids: np.ndarray
    update_rates: np.ndarray
    update_targets: np.ndarray
    duration: float
    interrupted: bool

    @property
    def mean_rate_hz(self) -> float:
        """Mean firing rate over neurons (Hz)."""
        return float(self.counts.mean() / self.duration) if self.duration > 0 else float("nan")


class ForceNetwork:
    """A spiking reservoir trained with FORCE; see the module docs for the equations.

    Args:
        n: neurons.
        neuron: :class:`LIF`, :class:`Izhikevich` or :class:`Theta`.
        k: output dimension.
        dt: time step (s).
        tau_rise, tau_decay: synaptic filter (s); ``tau_rise = 0`` gives a single exponential.
        g: gain of the static weights; q: gain of the feedback encoders (model current units).
        p: connection probability of the static weights.
        balance: subtract each row's mean over its nonzero static weights (LIF and theta scripts).
        rls_every: RLS every this many steps while learning.
        lam: ``P(0) = I / lam`` (the scripts' ``alpha`` is ``1 / lam``).
        rls_gain: "exact" (recursive least squares) or "reference" (the scripts' decoder step).
        rls_precision: storage of ``P``: "float64", or "float32" (entries rounded to float32 when
            written, arithmetic in float64; half the memory traffic of the O(n^2) RLS pass, decoders
            within ~1e-4 relative of float64 on the presets' runs).
        seed: seed of the static weights, encoders and initial potentials.
    """

    def __init__(
        self,
        n: int,
        neuron: Neuron,
        *,
        k: int = 1,
        dt: float,
        tau_rise: float = 2e-3,
        tau_decay: float = 20e-3,
        g: float,
        q: float,
        p: float = 0.1,
        balance: bool = True,
        rls_every: int = 50,
        lam: float,
        rls_gain: str = "exact",
        rls_precision: str = "float64",
        seed: int = 0,
    ) -> None:
        if not isinstance(neuron, LIF | Izhikevich | Theta):
            raise InvalidParameterError(f"neuron: expected LIF(), Izhikevich() or Theta(), got {neuron!r}")
        if rls_gain not in ("exact", "reference"):
            raise InvalidParameterError(f"rls_gain: expected 'exact' or 'reference', got {rls_gain!r}")
        if rls_precision not in ("float64", "float32"):
            raise InvalidParameterError(f"rls_precision: expected 'float64' or 'float32', got {rls_precision!r}")
        pr = float(p)
        if not (0.0 < pr <= 1.0):
            raise InvalidParameterError(f"p: expected a connection probability in (0, 1], got {p!r}")
        for name, x in (("g", g), ("q", q)):
            if not math.isfinite(float(x)):
                raise InvalidParameterError(f"{name}: expected a finite gain, got {x!r}")
        self.neuron = neuron
        self.config: dict[str, Any] = {
            "n": v.positive_int("n", n),
            "k": v.positive_int("k", k),
            "model": neuron._spec(),
            "dt": v.positive("dt", dt),
            "tau_rise": v.non_negative("tau_rise", tau_rise),
            "tau_decay": v.positive("tau_decay", tau_decay),
            "g": float(g),
            "q": float(q),
            "p": pr,
            "balance": bool(balance),
            "rls_every": v.positive_int("rls_every", rls_every),
            "lambda": v.positive("lam", lam),
            "gain": rls_gain,
            "seed": v.seed("seed", seed),
            "precision": "f64" if rls_precision == "float64" else "f32",
        }
        self._net = _CoreForce(json.dumps(self.config))

    @property
    def n(self) -> int:
        return int(self.config["n"])

    @property
    def k(self) -> int:
        return int(self.config["k"])

    @property
    def dt(self) -> float:
        return float(self.config["dt"])

    @property
    def time(self) -> float:
        """Simulated time so far (s)."""
        return self._net.step * self.dt

    @property
    def rls_updates(self) -> int:
        return int(self._net.rls_updates)

    @property
    def decoders(self) -> np.ndarray:
        """Decoders ``d`` (n, k)."""
        return self._net.decoders()

    @decoders.setter
    def decoders(self, d: Any) -> None:
        arr = v.float_matrix("decoders", d, self.k)
        if arr.shape[0] != self.n:
            raise ShapeError(f"decoders: expected shape ({self.n}, {self.k}), got {arr.shape}")
        self._net.set_decoders(arr)

    @property
    def encoders(self) -> np.ndarray:
        """Feedback encoders ``Q eta`` (n, k)."""
        return self._net.encoders()

    def static_weights(self) -> np.ndarray:
        """The static weights ``G Omega0`` as a dense (n, n) array, ``W[post, pre]``."""
        pre, post, w = self._net.weights()
        out = np.zeros((self.n, self.n))
        out[post, pre] = w
        return out

    def rls_matrix(self) -> np.ndarray:
        """The RLS matrix ``P`` (n, n)."""
        return self._net.rls_matrix()

    def reset_rls(self) -> None:
        """Set ``P`` back to ``I / lam`` (decoders kept)."""
        self._net.reset_rls()

    def state(self) -> dict[str, np.ndarray]:
        """Current state: v (mV or rad), u (pA), ipsc, h, r, hr, z."""
        return dict(self._net.state())

    def set_potentials(self, v0: Any, u0: Any = None) -> None:
        """Set every neuron's potential (and Izhikevich recovery current ``u``, default 0)."""
        a = np.ascontiguousarray(np.asarray(v0, dtype=np.float64))
        b = np.zeros(self.n) if u0 is None else np.ascontiguousarray(np.asarray(u0, dtype=np.float64))
        self._net.set_potentials(a, b)

    def _extra(self, metadata: dict[str, Any] | None) -> str:
        try:
            return json.dumps(
                {"neuron": type(self.neuron).__name__, "params": asdict(self.neuron), "user": metadata or {}},
                allow_nan=False,
            )
        except (TypeError, ValueError) as e:
            raise InvalidParameterError(f"metadata: expected a JSON-serialisable dict, got {e}") from None

    @classmethod
    def _from_core(cls, core: _CoreForce, extra: str) -> ForceNetwork:
        meta = json.loads(extra)
        kinds: dict[str, type[LIF] | type[Izhikevich] | type[Theta]] = {
            "LIF": LIF,
            "Izhikevich": Izhikevich,
            "Theta": Theta,
        }
        self = cls.__new__(cls)
        self.neuron = kinds[meta["neuron"]](**meta["params"])
        self.config = json.loads(core.config_json())
        self._net = core
        return self

    def save(self, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None) -> None:
        """Write the reservoir and its whole state atomically (safetensors: static weights, encoders,
        neuron and synapse state, readout, decoders, ``P``, simulated time; ``metadata``: a JSON-ready
        dict kept in the file). :meth:`load` gives a reservoir that continues exactly as this one
        would, e.g. to split the 1000-s Ode to Joy protocol over several runs."""
        self._net.save(os.fspath(path), self._extra(metadata))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ForceNetwork:
        """Read a file written by :meth:`save` (validated: shapes, weights, finite values)."""
        core, extra = _CoreForce.load(os.fspath(path))
        return cls._from_core(core, extra)

    def __getstate__(self) -> bytes:
        return bytes(self._net.to_bytes(self._extra(None)))

    def __setstate__(self, state: bytes) -> None:
        core, extra = _CoreForce.from_bytes(state)
        self.__dict__.update(ForceNetwork._from_core(core, extra).__dict__)

    def copy(self) -> ForceNetwork:
        """An independent copy in the same state (continues exactly as this one would)."""
        out = ForceNetwork.__new__(ForceNetwork)
        out.__setstate__(self.__getstate__())
        return out

    def _check_memory(self, name: str, steps: int, every: int, with_target: bool) -> None:
        """Refuse a run whose per-step target and recorded readout (with times) would not fit in memory."""
        n_bytes = 8.0 * self.k * steps * with_target + 8.0 * (self.k + 1) * (steps // every + 1)
        v.fits_in_memory(name, n_bytes, "the run's target and recorded readout (simulate fewer seconds per call)")

    def run(
        self,
        duration: float,
        target: Any = None,
        *,
        learn: bool = False,
        record_every: int = 1,
        record_spikes: bool = False,
        record_updates: bool = False,
        callback: Callable[[dict[str, Any]], Any] | None = None,
        report_every: float = 1.0,
        threads: int = 0,
    ) -> ForceRun:
        """Simulate ``duration`` seconds (continuing from the current state).

        Args:
            target: the target of every step, shape (steps, k) (or (steps,) when k = 1), or a callable
                ``f(t) -> array`` of the step times (s); needed when ``learn``.
            learn: run RLS every ``rls_every`` steps.
            record_every: keep the readout every this many steps.
            callback: called every ``report_every`` simulated seconds with a dict (time, steps, total,
                rate_hz, mse, learning, rls_updates); returning False stops the run cleanly (as does
                Ctrl-C).
            threads: threads of the RLS pass (0 = all cores); results do not depend on it.
        """
        steps = v.step_count("duration", v.positive("duration", duration), self.dt)
        every = v.positive_int("record_every", record_every)
        self._check_memory("duration", steps, every, target is not None)
        t0 = self._net.step
        tg = None
        if target is not None:
            if callable(target):
                target = target((t0 + 1 + np.arange(steps)) * self.dt)
            try:
                arr = np.asarray(target, dtype=np.float64)
            except (TypeError, ValueError):
                raise DTypeError(f"target: expected numbers, got {type(target).__name__} {target!r:.60}") from None
            if arr.ndim == 1 and self.k == 1:
                arr = arr[:, None]
            if arr.shape != (steps, self.k):
                raise ShapeError(f"target: expected shape ({steps}, {self.k}), got {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise InvalidParameterError("target: expected finite values, got NaN or inf")
            tg = np.ascontiguousarray(arr)
        elif learn:
            raise InvalidParameterError("target: expected a target signal when learn=True, got None")
        progress_every = 0
        if callback is not None:
            progress_every = max(1, v.step_count("report_every", v.positive("report_every", report_every), self.dt))
        d = self._net.run(
            steps,
            tg,
            bool(learn),
            every,
            bool(record_spikes),
            bool(record_updates),
            progress_every,
            v.threads(threads),
            callback,
        )
        done = int(d["steps"])
        z = d["z"]
        t = (t0 + 1 + every * np.arange(z.shape[0])) * self.dt
        return ForceRun(
            t=t,
            z=z,
            counts=d["counts"],
            spike_times=d["spike_steps"].astype(np.float64) * self.dt,
            spike_ids=d["spike_ids"],
            update_rates=d["update_rates"],
            update_targets=d["update_targets"],
            duration=done * self.dt,
            interrupted=bool(d["interrupted"]),
        )


@dataclass
class ForceResult:
    """Output of :func:`train_force`: the test period and summary figures.

    Attributes:
        t, z, target: test-period times (s), readout and target, shapes (samples,), (samples, k).
        correlation: mean over outputs of the Pearson correlation of readout and target (test period).
        rmse: root mean squared error over the test period; nrmse: rmse / target std.
        rate_hz: mean firing rate during the test period (Hz).
        seconds: wall time of each phase (settle, learn, test).
        interrupted: a phase was stopped early (Ctrl-C or the callback).
    """

    t: np.ndarray
    z: np.ndarray
    target: np.ndarray
    correlation: float
    rmse: float
    nrmse: float
    rate_hz: float
    rls_updates: int
    seconds: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False

    def metrics(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "test_correlation": self.correlation,
            "test_rmse": self.rmse,
            "test_nrmse": self.nrmse,
            "test_rate_hz": self.rate_hz,
            "rls_updates": self.rls_updates,
            "seconds": self.seconds,
            "interrupted": self.interrupted,
        }


def correlation(z: np.ndarray, y: np.ndarray) -> float:
    """Mean over columns of the Pearson correlation of ``z`` and ``y`` (both (samples, k))."""
    z, y = np.atleast_2d(z.T).T, np.atleast_2d(y.T).T
    cs = []
    for a, b in zip(z.T, y.T, strict=True):
        a, b = a - a.mean(), b - b.mean()
        den = math.sqrt(float(a @ a) * float(b @ b))
        cs.append(float(a @ b) / den if den > 0 else 0.0)
    return float(np.mean(cs))


def train_force(
    net: ForceNetwork,
    target: Callable[[np.ndarray], np.ndarray],
    *,
    settle: float,
    learn: float,
    test: float,
    record_every: int = 1,
    progress: bool = False,
    callback: Callable[[dict[str, Any]], Any] | None = None,
    report_every: float = 1.0,
    threads: int = 0,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: float = 60.0,
) -> ForceResult:
    """The paper's protocol: run freely for ``settle`` s, learn with RLS for ``learn`` s, then freeze
    the decoders and test for ``test`` s. ``target(t)`` maps step times (s) to (len(t), k) targets.
    ``progress`` shows a bar in simulated seconds; ``callback`` receives the progress dicts (returning
    False stops; Ctrl-C too, and the phases left are skipped).

    ``checkpoint``: a file where the reservoir and its place in the protocol are saved (atomically)
    every ``checkpoint_every`` simulated seconds of settling and learning, when the test starts, and
    when the run is stopped. If the file exists, the run continues from it: its reservoir replaces
    ``net``'s state (``net`` must have the same config, and the protocol the same phase lengths), and
    the result is exactly that of one uninterrupted run (a stop during the test repeats the test)."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=round(settle + learn + test, 6), unit="s", desc="FORCE", leave=False)
    threads = v.threads(threads)
    phases = (("settle", settle, False), ("learn", learn, True), ("test", test, False))
    lengths = {name: v.step_count(name, v.non_negative(name, dur), net.dt) for name, dur, _ in phases}
    net._check_memory("test", lengths["test"], v.positive_int("record_every", record_every), True)
    origin = net._net.step
    protocol: dict[str, Any] = {"origin": origin, **lengths}
    path = None if checkpoint is None else os.fspath(checkpoint)
    chunk = max(1, v.step_count("checkpoint_every", v.positive("checkpoint_every", checkpoint_every), net.dt))
    if path is not None and os.path.isfile(path):
        core, extra = _CoreForce.load(path)
        saved = json.loads(extra)["user"].get("protocol")
        if json.loads(core.config_json()) != net.config:
            raise InvalidParameterError(f"checkpoint: expected a reservoir of this network's config, got {path!r}")
        if not isinstance(saved, dict) or {k: saved.get(k) for k in lengths} != lengths:
            raise InvalidParameterError(
                f"checkpoint: expected a run of the same protocol (steps {lengths}), got {saved!r} in {path!r}"
            )
        net.__dict__.update(ForceNetwork._from_core(core, extra).__dict__)
        protocol = saved
    start_time = protocol["origin"] * net.dt

    def report(info: dict[str, Any]) -> Any:
        if bar is not None:
            bar.n = round(info["time"] - start_time, 6)
            bar.set_postfix(rate=f"{info['rate_hz']:.1f}Hz", mse=f"{info['mse']:.3g}", learn=info["learning"])
            bar.refresh()
        return True if callback is None else callback(info)

    def save() -> None:
        if path is not None:
            net.save(path, metadata={"protocol": protocol})

    seconds: dict[str, float] = {}
    interrupted = False
    test_run: ForceRun | None = None
    cb = report if (bar is not None or callback is not None) else None
    try:
        end = protocol["origin"]
        for name, _, lrn in phases:
            begin, end = end, end + lengths[name]
            t0 = time.perf_counter()
            if name == "test":
                if begin < end and not interrupted:
                    save()
                    test_run = net.run(
                        lengths[name] * net.dt,
                        target,
                        record_every=record_every,
                        callback=cb,
                        report_every=report_every,
                        threads=threads,
                    )
                    interrupted = test_run.interrupted
                    seconds[name] = time.perf_counter() - t0
                continue
            ran = False
            while not interrupted and net._net.step < end:
                remaining = end - net._net.step
                # In pieces (the same result as one call): a call materialises its target per step.
                steps = min(remaining, chunk if path is not None else _PIECE)
                run = net.run(
                    steps * net.dt,
                    target,
                    learn=lrn,
                    record_every=10**9,
                    callback=cb,
                    report_every=report_every,
                    threads=threads,
                )
                ran = True
                interrupted = run.interrupted
                save()
            if ran:
                seconds[name] = time.perf_counter() - t0
    finally:
        if bar is not None:
            bar.close()
    if test_run is None or test_run.z.shape[0] == 0:
        nan = float("nan")
        empty = np.zeros((0, net.k))
        return ForceResult(np.zeros(0), empty, empty, nan, nan, nan, nan, net.rls_updates, seconds, True)
    y = np.asarray(target(test_run.t), dtype=np.float64).reshape(test_run.z.shape)
    err = test_run.z - y
    rmse = float(np.sqrt(np.mean(err**2)))
    return ForceResult(
        t=test_run.t,
        z=test_run.z,
        target=y,
        correlation=correlation(test_run.z, y),
        rmse=rmse,
        nrmse=rmse / float(np.std(y)) if np.std(y) > 0 else float("nan"),
        rate_hz=test_run.mean_rate_hz,
        rls_updates=net.rls_updates,
        seconds=seconds,
        interrupted=interrupted,
    )


# ---- presets: the reference scripts' values ----------------------------------------------------------


def lif_sine(n: int = 2000, k: int = 1, seed: int = 0, **overrides: Any) -> ForceNetwork:
    """LIFFORCESINE: LIF, N 2000, G 0.04, Q 10, dt 50 us, RLS every 50 steps, P(0) = 5e-6 I, balanced."""
    kw: dict[str, Any] = dict(dt=5e-5, g=0.04, q=10.0, rls_every=50, lam=1.0 / (0.1 * 5e-5), balance=True)
    kw.update(overrides)
    return ForceNetwork(n, LIF(), k=k, seed=seed, **kw)


def izhikevich_sine(n: int = 2000, k: int = 1, seed: int = 0, **overrides: Any) -> ForceNetwork:
    """IZFORCESINE: Izhikevich (b = -2), N 2000, G 5e3, Q 5e3 (pA), dt 0.04 ms, RLS every 20 steps,
    P(0) = 2 I, no row balancing."""
    kw: dict[str, Any] = dict(dt=4e-5, g=5e3, q=5e3, rls_every=20, lam=0.5, balance=False)
    kw.update(overrides)
    return ForceNetwork(n, Izhikevich(b=-2.0), k=k, seed=seed, **kw)


def theta_sine(n: int = 2000, k: int = 1, seed: int = 0, **overrides: Any) -> ForceNetwork:
    """THETAFORCESINE: theta, N 2000, G 10, Q 1e4, dt 10 us, RLS every 50 steps, P(0) = dt I, balanced."""
    kw: dict[str, Any] = dict(dt=1e-5, g=10.0, q=1e4, rls_every=50, lam=1e5, balance=True)
    kw.update(overrides)
    return ForceNetwork(n, Theta(), k=k, seed=seed, **kw)


def theta_van_der_pol(n: int = 2000, seed: int = 0, **overrides: Any) -> ForceNetwork:
    """THETAFORCEVDPRELAX: theta, N 2000, G 15, Q 1e4, dt 10 us, RLS every 50 steps, k = 2."""
    kw: dict[str, Any] = dict(dt=1e-5, g=15.0, q=1e4, rls_every=50, lam=1e5, balance=True)
    kw.update(overrides)
    return ForceNetwork(n, Theta(), k=2, seed=seed, **kw)


def izhikevich_ode_to_joy(n: int = 5000, seed: int = 0, **overrides: Any) -> ForceNetwork:
    """IZFORCESONG: Izhikevich (b = 0), N 5000, G 1e4, Q 4e3, dt 0.04 ms, RLS every 100 steps,
    P(0) = 2 I, k = 5 notes."""
    kw: dict[str, Any] = dict(dt=4e-5, g=1e4, q=4e3, rls_every=100, lam=0.5, balance=False)
    kw.update(overrides)
    return ForceNetwork(n, Izhikevich(b=0.0), k=5, seed=seed, **kw)


__all__ = [
    "LIF",
    "ForceNetwork",
    "ForceResult",
    "ForceRun",
    "Izhikevich",
    "Theta",
    "correlation",
    "izhikevich_ode_to_joy",
    "izhikevich_sine",
    "lif_sine",
    "theta_sine",
    "theta_van_der_pol",
    "train_force",
]
