"""A straightforward numpy implementation of the FORCE loop (dense weights, step by step), written
from the equations of Nicola & Clopath (2017) as their MATLAB scripts run them. Used by the tests
(``tests/test_force.py``) and as the baseline of ``benches/force.py``."""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def simulate(
    W: np.ndarray,
    E: np.ndarray,
    v0: np.ndarray,
    u0: np.ndarray,
    model: dict[str, Any],
    *,
    dt: float,
    tau_rise: float,
    tau_decay: float,
    target: np.ndarray,
    learn: np.ndarray,
    rls_every: int,
    lam: float,
    exact_gain: bool = True,
    timed_from: int = 0,
) -> dict[str, Any]:
    """Run ``len(target)`` steps from a fresh reservoir (``W[post, pre]`` static weights, ``E`` (n, k)
    encoders, potentials ``v0``/``u0``, ``model`` the core's model dict with the Izhikevich ``a`` in
    1/ms). RLS at 1-based step ``i`` when ``learn[i - 1]`` and ``(i - 1) % rls_every == 0``.
    Returns the readout of every step, the spike raster, final decoders and ``P``, and the wall and CPU
    time spent in steps without and with learning (s), counting steps from index ``timed_from`` on."""
    kind = model["kind"]
    unit = 1e-3 if kind == "izhikevich" else 1.0
    dtm, tr, td = dt / unit, tau_rise / unit, tau_decay / unit
    n, k = E.shape
    steps = target.shape[0]
    single = tr == 0
    ed = np.exp(-dtm / td)
    er = 0.0 if single else np.exp(-dtm / tr)
    jump = 1.0 / td if single else 1.0 / (tr * td)
    bias = model["bias"]
    v, u = v0.astype(np.float64).copy(), u0.astype(np.float64).copy()
    ipsc, h, r, hr = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    z = np.zeros(k)
    d = np.zeros((n, k))
    P = np.eye(n) / lam
    last = np.zeros(n, dtype=np.int64)
    Z = np.zeros((steps, k))
    spikes = []
    Wt = np.ascontiguousarray(W.T)  # row j = outgoing weights of neuron j (MATLAB's OMEGA(:, j))
    wall = {False: 0.0, True: 0.0}
    cpu = {False: 0.0, True: 0.0}
    tick, ctick = time.perf_counter(), time.process_time()
    if kind == "lif":
        n_ref = int(round(model["refractory"] / dtm))
        f = dtm / model["tau_mem"]
    for t in range(steps):
        i = t + 1
        current = ipsc + bias + E @ z
        if kind == "lif":
            free = i > last + n_ref
            v = np.where(free, v + f * (current - v), v)
            spk = v >= model["v_peak"]
            v[spk] = model["v_reset"]
            last[spk] = i
        elif kind == "izhikevich":
            m = model
            v1 = v + (dtm / m["c"]) * (m["k"] * (v - m["v_r"]) * (v - m["v_t"]) - u + current)
            u = u + (dtm * m["a"]) * (m["b"] * (v - m["v_r"]) - u)
            spk = v1 >= m["v_peak"]
            v1[spk] = m["v_reset"]
            u[spk] += m["d"]
            v = v1
        else:
            cs = np.cos(v)
            v = v + dtm * ((1 - cs) + (1 + cs) * np.pi**2 * current)
            spk = v >= np.pi
            v[spk] = -np.pi
        idx = np.flatnonzero(spk)
        spikes.append(idx)
        jd = Wt[idx].sum(axis=0)
        if single:
            ipsc = ipsc * ed + jd * jump
            r = r * ed + spk * jump
        else:
            ipsc = ipsc * er + h * dtm
            h = h * ed + jd * jump
            r = r * er + hr * dtm
            hr = hr * ed + spk * jump
        z = d.T @ r
        e = z - target[t]
        if learn[t] and (i - 1) % rls_every == 0:
            c = P @ r
            g = 1.0 + r @ c
            d = d - np.outer(c, e) / (g if exact_gain else 1.0)
            P -= np.outer(c / g, c)
        Z[t] = z
        now, cnow = time.perf_counter(), time.process_time()
        if t >= timed_from:
            wall[bool(learn[t])] += now - tick
            cpu[bool(learn[t])] += cnow - ctick
        tick, ctick = now, cnow
    return {
        "z": Z,
        "spikes": spikes,
        "d": d,
        "P": P,
        "v": v,
        "u": u,
        "seconds_free": wall[False],
        "seconds_learn": wall[True],
        "cpu_free": cpu[False],
        "cpu_learn": cpu[True],
    }
