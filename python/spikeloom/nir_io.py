"""Interchange with other SNN libraries through NIR, the Neuromorphic Intermediate Representation.

NIR (``pip install nir``, https://neuroir.org) describes a network as continuous-time nodes (``Affine``,
``Linear``, ``LIF``, ``CubaLIF``, ``LI``, ...) and edges. snnTorch, Norse, Sinabs, Rockpool, Lava and
several neuromorphic chips read and write it. :func:`to_nir` / :func:`from_nir` convert a
:class:`~spikeloom.RecurrentNetwork` to and from such a graph; :func:`save_nir` / :func:`load_nir` do the
same through NIR's HDF5 files (written atomically).

**Which discretisation.** NIR fixes the differential equations, not how a simulator steps them, so the
mapping to spikeloom's step ``dt`` (s) has to choose one; both choices below reproduce spikeloom's
network bit for bit up to rounding, and ``discretisation`` selects which one a graph is read or
written with:

- ``"exact"`` (default): over each step the input is held constant and the decays are exact:
  ``v[t] = e^{-dt/tau} v[t-1] + (1 - e^{-dt/tau}) (v_leak + R I[t])``, and for ``CubaLIF`` first
  ``I[t] = e^{-dt/tau_syn} I[t-1] + (1 - e^{-dt/tau_syn}) w_in S[t]``, then the membrane with that
  current. An input spike is a pulse of height 1 lasting one step.
- ``"euler"``: forward Euler, ``v[t] = (1 - dt/tau) v[t-1] + dt/tau (v_leak + R I[t])`` (same order).
  This is how snnTorch writes its graphs (``tau = dt / (1 - beta)``, ``r = tau / dt`` with its own
  ``dt = 1e-4``), so ``from_nir(graph, dt=1e-4, discretisation="euler")`` runs an snnTorch export as
  snnTorch does (tested against snnTorch's ``Leaky`` layers when it is installed). snnTorch's
  recurrent ``RLeaky`` with ``reset_mechanism="zero"`` is the exception: it also drops the input of
  the step after a spike, which NIR's equations do not say, so its graphs run as NIR says, not as
  ``RLeaky`` does.

Spikes follow NIR: ``z = 1`` when ``v > v_threshold``, then ``v = v_reset``. Each step updates the
populations in order, input side first: a spike reaches the next layer and the readout in the same
step, and its own layer's recurrent targets in the next step (spikeloom's ``W_rec z[t-1]``).

A ``RecurrentNetwork`` maps to ``Input -> [Affine -> LIF|CubaLIF (-> Linear -> itself)]* -> Affine ->
LI -> Output`` (without a readout, the last spiking layer feeds ``Output``). Weights are
exported dense (a sparse layer's absent synapses as zeros); the graph's metadata records ``dt`` and
the discretisation, so :func:`from_nir` needs ``dt`` only for graphs written elsewhere.

What NIR 1.0 cannot express is refused with :class:`~spikeloom.errors.UnsupportedError` rather than
approximated: adaptive thresholds, reset by subtraction (NIR resets to ``v_reset``; train with
``reset="zero"`` to export), and on import a non-zero ``v_reset``, a ``CubaLIF`` with non-zero
``v_leak``, self-connections in a recurrent weight (spikeloom masks them), and node types other than
the ones above.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _validation as v
from ._atomic import write_atomic
from .errors import FileFormatError, InvalidParameterError, UnsupportedError
from .recurrent import Readout, RecurrentNetwork, SpikingLayer

_DISCRETISATIONS = ("exact", "euler")


def _nir() -> Any:
    try:
        import nir
    except ImportError as e:  # pragma: no cover - exercised only without the optional dependency
        raise ImportError("spikeloom.nir_io needs the optional package nir: pip install nir") from e
    return nir


def _discretisation(value: Any) -> str:
    if value not in _DISCRETISATIONS:
        raise InvalidParameterError(f"discretisation: expected one of {list(_DISCRETISATIONS)}, got {value!r}")
    return str(value)


def _decay(dt: float, tau: np.ndarray, how: str) -> np.ndarray:
    """The per-step decay factor of a time constant under the discretisation ``how``."""
    return np.exp(-dt / tau) if how == "exact" else 1.0 - dt / tau


def _gain(dt: float, tau: np.ndarray, how: str) -> np.ndarray:
    """What one step adds to the state per unit of held input: ``1 - e^{-dt/tau}`` or ``dt/tau``."""
    return -np.expm1(-dt / tau) if how == "exact" else dt / tau


def _tau_of_decay(dt: float, decay: np.ndarray, how: str) -> np.ndarray:
    """The NIR time constant whose decay over one step is ``decay`` (the inverse of :func:`_decay`)."""
    return -dt / np.log(decay) if how == "exact" else dt / (1.0 - decay)


# --- export -----------------------------------------------------------------------------------------


def to_nir(net: RecurrentNetwork, discretisation: str = "exact") -> Any:
    """The network as a ``nir.NIRGraph`` (see the module docstring for the mapping).

    Args:
        net: the network; every layer must use ``reset="zero"`` and no adaptation.
        discretisation: ``"exact"`` or ``"euler"``: how a simulator should step the graph to reproduce
            ``net`` at its ``dt``.
    """
    nir = _nir()
    how = _discretisation(discretisation)
    if not isinstance(net, RecurrentNetwork):
        raise InvalidParameterError(f"net: expected a RecurrentNetwork, got {type(net).__name__}")
    dt, p = net.dt, net.parameters()
    meta = {"source": "spikeloom", "dt": dt, "discretisation": how}
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array([net.n_inputs]))}
    edges: list[tuple[str, str]] = []
    prev = "input"
    for i, layer in enumerate(net.layers):
        name = f"layers.{i}"
        if layer.adaptation is not None:
            raise UnsupportedError(
                f"{name}.adaptation: expected None (NIR 1.0 has no adaptive-threshold neuron), got {layer.adaptation!r}"
            )
        if layer.reset != "zero":
            raise UnsupportedError(
                f"{name}.reset: expected 'zero' (NIR neurons reset to v_reset; reset by subtraction has no "
                f"NIR form), got {layer.reset!r}"
            )
        tau = p[f"{name}.tau_mem"]
        alpha = np.exp(-dt / tau)
        zeta = 1.0 - alpha if layer.input_scale == "one_minus_alpha" else np.ones_like(alpha)
        tau_nir = _tau_of_decay(dt, alpha, how)
        theta = np.full(layer.size, layer.threshold)
        zeros = np.zeros(layer.size)
        w_node = nir.Affine(weight=p[f"{name}.w_in"].T.copy(), bias=p[f"{name}.bias"].copy())
        if layer.tau_syn is None:
            neuron = nir.LIF(
                tau=tau_nir, r=zeta / _gain(dt, tau_nir, how), v_leak=zeros, v_threshold=theta, v_reset=zeros
            )
        else:
            alpha_s = np.exp(-dt / p[f"{name}.tau_syn"])
            tau_s = _tau_of_decay(dt, alpha_s, how)
            neuron = nir.CubaLIF(
                tau_syn=tau_s,
                tau_mem=tau_nir,
                r=zeta / _gain(dt, tau_nir, how),
                v_leak=zeros,
                v_threshold=theta,
                v_reset=zeros,
                w_in=1.0 / _gain(dt, tau_s, how),
            )
        neuron.metadata = dict(meta)
        nodes[f"{name}.w_in"], nodes[name] = w_node, neuron
        edges += [(prev, f"{name}.w_in"), (f"{name}.w_in", name)]
        if layer.recurrent:
            nodes[f"{name}.w_rec"] = nir.Linear(weight=p[f"{name}.w_rec"].T.copy())
            edges += [(name, f"{name}.w_rec"), (f"{name}.w_rec", name)]
        prev = name
    ro = net.readout
    if ro is not None:
        kappa = np.exp(-dt / p["readout.tau"])
        zeta_o = 1.0 - kappa if ro.input_scale == "one_minus_alpha" else np.ones_like(kappa)
        tau_o = _tau_of_decay(dt, kappa, how)
        nodes["readout.w"] = nir.Affine(weight=p["readout.w"].T.copy(), bias=p["readout.bias"].copy())
        li = nir.LI(tau=tau_o, r=zeta_o / _gain(dt, tau_o, how), v_leak=np.zeros(ro.size))
        li.metadata = dict(meta)
        nodes["readout"] = li
        edges += [(prev, "readout.w"), ("readout.w", "readout")]
        prev = "readout"
    nodes["output"] = nir.Output(output_type=np.array([net.n_outputs]))
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def save_nir(net: RecurrentNetwork, path: str | os.PathLike[str], discretisation: str = "exact") -> None:
    """Write :func:`to_nir` of ``net`` to a NIR HDF5 file, atomically (a failed write leaves no file)."""
    nir = _nir()
    graph = to_nir(net, discretisation)
    write_atomic(path, lambda tmp: nir.write(str(tmp), graph))


# --- import -----------------------------------------------------------------------------------------


def _flatten(graph: Any, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Inline nested graphs (snnTorch writes each recurrent layer as one) and drop identity nodes:
    the nodes by dotted name and the edges between them, with the graph's own Input/Output kept."""
    nir = _nir()
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    entry: dict[str, list[str]] = {}  # subgraph name -> the nodes its Input feeds
    exit_: dict[str, list[str]] = {}  # subgraph name -> the nodes feeding its Output
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = _flatten(node, full + ".")
            ins = [k for k, n in sub_nodes.items() if isinstance(n, nir.Input)]
            outs = [k for k, n in sub_nodes.items() if isinstance(n, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise UnsupportedError(
                    f"graph node {full!r}: expected a subgraph with one Input and one Output, "
                    f"got {len(ins)} inputs and {len(outs)} outputs"
                )
            entry[full] = [b for a, b in sub_edges if a == ins[0]]
            exit_[full] = [a for a, b in sub_edges if b == outs[0]]
            nodes.update({k: n for k, n in sub_nodes.items() if k not in (ins[0], outs[0])})
            edges += [(a, b) for a, b in sub_edges if a != ins[0] and b != outs[0]]
        else:
            nodes[full] = node
    for a, b in graph.edges:
        a, b = prefix + a, prefix + b
        for src in exit_.get(a, [a]):
            for dst in entry.get(b, [b]):
                edges.append((src, dst))
    # Identity nodes (and nested Input/Output already removed) pass their input through.
    for name in [k for k, n in nodes.items() if type(n).__name__ == "Identity"]:
        ins = [a for a, b in edges if b == name]
        outs = [b for a, b in edges if a == name]
        edges = [(a, b) for a, b in edges if name not in (a, b)] + [(a, b) for a in ins for b in outs]
        del nodes[name]
    return nodes, edges


@dataclass
class _Stage:
    """One neuron population of the graph being read, with the weights feeding it."""

    name: str
    node: Any
    w_in: np.ndarray  # [out, in], NIR orientation
    bias: np.ndarray
    w_rec: np.ndarray | None = None
    bias_rec: np.ndarray | None = None


def _weights(name: str, node: Any) -> tuple[np.ndarray, np.ndarray]:
    nir = _nir()
    if isinstance(node, nir.Affine):
        w, b = np.asarray(node.weight, dtype=np.float64), np.asarray(node.bias, dtype=np.float64)
    elif isinstance(node, nir.Linear):
        w = np.asarray(node.weight, dtype=np.float64)
        b = np.zeros(w.shape[0] if w.ndim == 2 else 0)
    else:
        raise UnsupportedError(
            f"graph node {name!r}: expected an Affine or Linear weight node, got {type(node).__name__}"
        )
    if w.ndim != 2:
        raise UnsupportedError(f"graph node {name!r}: expected a 2-D weight, got shape {w.shape}")
    return w, np.broadcast_to(b, (w.shape[0],)).astype(np.float64)


def _arr(node: Any, attr: str, n: int, name: str) -> np.ndarray:
    a = np.asarray(getattr(node, attr), dtype=np.float64)
    try:
        a = np.broadcast_to(a.reshape(-1) if a.size == n else a, (n,)).copy()
    except ValueError:
        raise FileFormatError(f"graph node {name!r}: expected {attr} of {n} values, got shape {a.shape}") from None
    if not np.all(np.isfinite(a)):
        raise FileFormatError(f"graph node {name!r}: expected finite {attr}, got {a}")
    return a


def _chain(nodes: dict[str, Any], edges: list[tuple[str, str]]) -> tuple[int, list[_Stage]]:
    """Walk the flattened graph from its Input: the input size and the populations in order."""
    nir = _nir()
    ins = [k for k, n in nodes.items() if isinstance(n, nir.Input)]
    outs = [k for k, n in nodes.items() if isinstance(n, nir.Output)]
    if len(ins) != 1 or len(outs) != 1:
        raise UnsupportedError(f"graph: expected one Input and one Output node, got {ins} and {outs}")
    shape = np.asarray(nodes[ins[0]].input_type["input"]).reshape(-1)
    if len(shape) != 1:
        raise UnsupportedError(f"graph input: expected a 1-D input, got shape {tuple(shape)}")

    def succ(k: str) -> list[str]:
        return [b for a, b in edges if a == k]

    def pred(k: str) -> list[str]:
        return [a for a, b in edges if b == k]

    stages: list[_Stage] = []
    cur, seen = ins[0], set()
    while True:
        nxt = succ(cur)
        if stages:
            rec = [s for s in nxt if cur in succ(s)]  # a weight node feeding back into the population
            nxt = [s for s in nxt if s not in rec]
            if len(rec) > 1:
                raise UnsupportedError(f"graph node {cur!r}: expected at most one recurrent projection, got {rec}")
            if rec:
                w, b = _weights(rec[0], nodes[rec[0]])
                stages[-1].w_rec, stages[-1].bias_rec = w, b
                seen.add(rec[0])
        if len(nxt) != 1:
            raise UnsupportedError(f"graph node {cur!r}: expected a chain (one successor), got {nxt}")
        (w_name,) = nxt
        if w_name == outs[0]:
            if not stages:
                raise UnsupportedError("graph: expected at least one neuron population between Input and Output")
            return int(shape[0]), stages
        if w_name in seen:
            raise UnsupportedError(f"graph node {w_name!r}: expected a feed-forward chain, found a cycle")
        seen.add(w_name)
        w, b = _weights(w_name, nodes[w_name])
        after = succ(w_name)
        if len(after) != 1 or len(pred(w_name)) != 1:
            raise UnsupportedError(
                f"graph node {w_name!r}: expected one input and one output edge, got {pred(w_name)} and {after}"
            )
        (n_name,) = after
        node = nodes[n_name]
        if type(node).__name__ not in ("LIF", "CubaLIF", "LI"):
            raise UnsupportedError(
                f"graph node {n_name!r}: expected a LIF, CubaLIF or LI neuron node, got {type(node).__name__}"
            )
        if stages and type(stages[-1].node).__name__ == "LI":
            raise UnsupportedError(f"graph node {n_name!r}: expected the LI readout to be the last population")
        if not stages and type(node).__name__ == "LI":
            raise UnsupportedError(f"graph node {n_name!r}: expected a spiking population before the LI readout")
        stages.append(_Stage(n_name, node, w, b))
        seen.add(n_name)
        cur = n_name


def _layer_params(st: _Stage, dt: float, how: str, n_pre: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The SpikingLayer / Readout arguments and the parameter tensors of one population."""
    node, name = st.node, st.name
    kind = type(node).__name__
    n = st.w_in.shape[0]
    if st.w_in.shape[1] != n_pre:
        raise FileFormatError(
            f"graph node {name!r}: expected a weight of {n_pre} inputs feeding it, got shape {st.w_in.shape}"
        )
    tau = _arr(node, "tau" if kind in ("LIF", "LI") else "tau_mem", n, name)
    r = _arr(node, "r", n, name)
    v_leak = _arr(node, "v_leak", n, name)
    if np.any(tau <= 0) or np.any(r == 0):
        raise FileFormatError(f"graph node {name!r}: expected positive time constants and non-zero r")
    if how == "euler" and np.any(tau <= dt):
        raise InvalidParameterError(
            f"dt: expected a step shorter than every time constant of {name!r} for the Euler form, "
            f"got dt = {dt} s and tau down to {tau.min()} s"
        )
    decay = _decay(dt, tau, how)
    scale = _gain(dt, tau, how) * r  # what one step adds to v per unit of input current
    extra: dict[str, Any] = {}
    tensors: dict[str, np.ndarray] = {"tau": -dt / np.log(decay)}
    if kind == "CubaLIF":
        if np.any(v_leak != 0):
            raise UnsupportedError(
                f"graph node {name!r}: expected v_leak = 0 for a CubaLIF (its leak bypasses the synapse, "
                f"which spikeloom's bias cannot), got {v_leak}"
            )
        tau_s = _arr(node, "tau_syn", n, name)
        if np.any(tau_s <= 0) or (how == "euler" and np.any(tau_s <= dt)):
            raise InvalidParameterError(f"graph node {name!r}: expected tau_syn > 0 (and > dt for Euler), got {tau_s}")
        w_in = _arr(node, "w_in", n, name)
        scale = scale * _gain(dt, tau_s, how) * w_in
        tensors["tau_syn"] = -dt / np.log(_decay(dt, tau_s, how))
        extra["tau_syn"] = float(np.mean(tensors["tau_syn"]))
    if kind != "LI":
        theta = _arr(node, "v_threshold", n, name)
        v_reset = _arr(node, "v_reset", n, name) if getattr(node, "v_reset", None) is not None else np.zeros(n)
        if np.any(v_reset != 0):
            raise UnsupportedError(
                f"graph node {name!r}: expected v_reset = 0 (spikeloom resets to zero), got {v_reset}"
            )
        if np.any(theta <= 0):
            raise UnsupportedError(f"graph node {name!r}: expected positive thresholds, got {theta}")
        # One threshold per layer: measure each neuron's voltage in units of its own threshold
        # (exact for a reset to zero), unless they are all equal already.
        if np.all(theta == theta[0]):
            extra["threshold"] = float(theta[0])
        else:
            scale, extra["threshold"] = scale / theta, 1.0
    # v_leak acts as a constant input: (gain) v_leak per step = scale * (v_leak / r).
    bias = st.bias + v_leak / r + (0.0 if st.bias_rec is None else st.bias_rec)
    tensors["w_in"] = (st.w_in * scale[:, None]).T
    tensors["bias"] = bias * scale
    if st.w_rec is not None:
        if st.w_rec.shape != (n, n):
            raise FileFormatError(f"graph node {name!r}: expected a {n}x{n} recurrent weight, got {st.w_rec.shape}")
        if np.any(np.diag(st.w_rec) != 0):
            raise UnsupportedError(
                f"graph node {name!r}: expected a recurrent weight without self-connections (spikeloom masks "
                f"the diagonal), got {int(np.count_nonzero(np.diag(st.w_rec)))} non-zero diagonal entries"
            )
        tensors["w_rec"] = (st.w_rec * scale[:, None]).T
    extra["size"] = n
    return extra, tensors


def from_nir(
    graph: Any,
    dt: float | None = None,
    discretisation: str | None = None,
    seed: int = 0,
) -> RecurrentNetwork:
    """A :class:`~spikeloom.RecurrentNetwork` that runs ``graph`` (a ``nir.NIRGraph``) at step ``dt``.

    Args:
        graph: ``Input -> [Affine|Linear -> LIF|CubaLIF (with an optional Linear|Affine back into
            itself)]* -> [Affine|Linear -> LI] -> Output``; nested graphs (snnTorch's recurrent
            layers) are inlined.
        dt: the simulation step (s); defaults to the ``dt`` in the graph's metadata (graphs written by
            spikeloom), else required.
        discretisation: ``"exact"`` or ``"euler"`` (module docstring); defaults to the graph's metadata,
            else ``"exact"``.
        seed: the network's seed (every parameter comes from the graph; it seeds later training).

    The layers are current-input LIF (``input_scale="one"``, ``reset="zero"``) with every NIR factor
    (``r``, ``w_in``, per-neuron thresholds, ``v_leak``) folded into the weights and biases.
    """
    nir = _nir()
    if not isinstance(graph, nir.NIRGraph):
        raise InvalidParameterError(f"graph: expected a nir.NIRGraph, got {type(graph).__name__}")
    meta = graph.metadata if isinstance(graph.metadata, dict) else {}
    if dt is None:
        if "dt" not in meta:
            raise InvalidParameterError(
                "dt: expected the simulation step in seconds (the graph's metadata has none), got None"
            )
        dt = float(np.asarray(meta["dt"]))
    dt = v.positive("dt", dt)
    if discretisation is None:
        d = meta.get("discretisation", "exact")
        discretisation = d.decode() if isinstance(d, bytes) else str(d)
    how = _discretisation(discretisation)
    n_in, stages = _chain(*_flatten(graph))
    layers: list[SpikingLayer] = []
    readout: Readout | None = None
    tensors: dict[str, np.ndarray] = {}
    n_pre = n_in
    taus: list[np.ndarray] = []
    for i, st in enumerate(stages):
        extra, t = _layer_params(st, dt, how, n_pre)
        taus += [t["tau"]] + ([t["tau_syn"]] if "tau_syn" in t else [])
        if type(st.node).__name__ == "LI":
            readout = Readout(extra["size"], tau=float(np.mean(t["tau"])))
            tensors.update({"readout.w": t["w_in"], "readout.bias": t["bias"], "readout.tau": t["tau"]})
            continue
        layers.append(
            SpikingLayer(
                extra["size"],
                tau_mem=float(np.mean(t["tau"])),
                recurrent="w_rec" in t,
                threshold=extra["threshold"],
                reset="zero",
                tau_syn=extra.get("tau_syn"),
            )
        )
        name = f"layers.{i}"
        tensors.update({f"{name}.w_in": t["w_in"], f"{name}.bias": t["bias"], f"{name}.tau_mem": t["tau"]})
        if "w_rec" in t:
            tensors[f"{name}.w_rec"] = t["w_rec"]
        if "tau_syn" in t:
            tensors[f"{name}.tau_syn"] = t["tau_syn"]
        n_pre = extra["size"]
    lo, hi = min(float(a.min()) for a in taus), max(float(a.max()) for a in taus)
    net = RecurrentNetwork(
        n_in, layers, readout, dt=dt, seed=seed, tau_min=min(dt, lo), tau_max=max(10.0, math.ceil(hi))
    )
    net.set_parameters(**tensors)
    return net


def load_nir(
    path: str | os.PathLike[str], dt: float | None = None, discretisation: str | None = None, seed: int = 0
) -> RecurrentNetwork:
    """Read a NIR HDF5 file (``nir.write``, snnTorch's ``export_to_nir`` then ``nir.write``, ...) into a
    :class:`~spikeloom.RecurrentNetwork`; the arguments are those of :func:`from_nir`."""
    nir = _nir()
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"path: expected a NIR file, got {p!r} (no such file)")
    try:
        graph = nir.read(p)
    except (OSError, KeyError, ValueError) as e:
        raise FileFormatError(f"path: expected a NIR HDF5 file, could not read {p!r}: {e}") from e
    return from_nir(graph, dt=dt, discretisation=discretisation, seed=seed)
