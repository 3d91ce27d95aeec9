"""Independent numpy reference for first-spike times of current-based LIF neurons.

The membrane potential is evaluated directly as the sum of post-synaptic potentials

    u(t) = sum_i w_i K(t - t_i),
    K(s) = (s / tau) exp(-s / tau)                                         (tau_mem == tau_syn == tau)
    K(s) = tau_mem / (tau_mem - tau_syn) (exp(-s / tau_mem) - exp(-s / tau_syn))   (otherwise)

for s > 0 (K = 0 before the input), which is the exact solution of du/dt = -u/tau_mem + I/tau_syn,
tau_syn dI/dt = -I, I += w at each input. The first threshold crossing is bracketed on a fine grid
(step 1e-3 tau_syn, input times added to the grid so that the kinks of u lie on grid points) and then
refined by bisection to machine precision. None of this shares code or formulas with spikeloom's
solvers (Lambert W / quadratic closed forms, causal-set walk).

A neuron whose potential has a local maximum just below threshold (within ``ambiguity``, relative) is
flagged as ambiguous: a grid cannot decide whether such a near-tangent touch crosses the threshold.
"""

from __future__ import annotations

import math

import numpy as np


def psp_kernel(s: np.ndarray, tau_mem: float, tau_syn: float) -> np.ndarray:
    """K(s) for the PSP of a unit weight input, 0 for s <= 0 (and for inputs that never arrive)."""
    s = np.asarray(s, dtype=np.float64)
    pos = s > 0
    sp = np.where(pos, s, 0.0)
    if math.isclose(tau_mem, tau_syn, rel_tol=1e-12):
        k = sp / tau_syn * np.exp(-sp / tau_syn)
    else:
        k = tau_mem / (tau_mem - tau_syn) * (np.exp(-sp / tau_mem) - np.exp(-sp / tau_syn))
    return np.where(pos, k, 0.0)


def membrane(t: np.ndarray, times: np.ndarray, weights: np.ndarray, tau_mem: float, tau_syn: float) -> np.ndarray:
    """u(t) for one sample: ``t`` of shape (n_out, G) or (G,), ``times`` (n_in,), ``weights`` (n_out, n_in).

    Returns shape (n_out, G).
    """
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    if t.ndim == 1:
        t = np.broadcast_to(t, (weights.shape[0], t.shape[0]))
    u = np.zeros(t.shape)
    for i, ti in enumerate(times):
        if not np.isfinite(ti):
            continue
        u += weights[:, i, None] * psp_kernel(t - ti, tau_mem, tau_syn)
    return u


def first_spike_one(
    times: np.ndarray,
    weights: np.ndarray,
    tau_mem: float,
    tau_syn: float,
    v_th: float = 1.0,
    step: float = 1e-3,
    horizon: float = 12.0,
    ambiguity: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray]:
    """First threshold crossing of each of the ``n_out`` neurons for one input sample.

    ``step`` is in units of tau_syn; the search ends ``horizon`` tau_mem after the last input.
    Returns ``(t_out, ambiguous)``: spike times (inf = no crossing) and a boolean mask.
    """
    n_out = weights.shape[0]
    finite = times[np.isfinite(times)]
    if finite.size == 0:
        return np.full(n_out, np.inf), np.zeros(n_out, dtype=bool)
    t_end = finite.max() + horizon * tau_mem
    grid = np.union1d(np.arange(0.0, t_end, step * tau_syn), finite)
    u = membrane(grid, times, weights, tau_mem, tau_syn)
    above = u >= v_th
    crossed = above.any(axis=1)
    first = np.where(crossed, above.argmax(axis=1), grid.size)

    # Local maxima of u on the grid strictly before the crossing, just below the threshold.
    interior = np.zeros_like(above)
    interior[:, 1:-1] = (u[:, 1:-1] >= u[:, :-2]) & (u[:, 1:-1] >= u[:, 2:])
    before = np.arange(grid.size)[None, :] < first[:, None]
    near = (u >= v_th * (1 - ambiguity)) & (u < v_th)
    ambiguous = (interior & before & near).any(axis=1)

    t_out = np.full(n_out, np.inf)
    rows = np.flatnonzero(crossed)
    if rows.size:
        lo = grid[first[rows] - 1].copy()  # u(0) = 0 < v_th, so first >= 1
        hi = grid[first[rows]].copy()
        w = weights[rows]
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if np.all((mid <= lo) | (mid >= hi)):
                break
            u_mid = membrane(mid[:, None], times, w, tau_mem, tau_syn)[:, 0]
            up = u_mid >= v_th
            hi = np.where(up, mid, hi)
            lo = np.where(up, lo, mid)
        t_out[rows] = hi
    return t_out, ambiguous


def first_spike_times(
    times: np.ndarray, weights: np.ndarray, tau_mem: float, tau_syn: float, v_th: float = 1.0, **kw: float
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`first_spike_one` for every sample: ``times`` (B, n_in) -> (B, n_out) times and mask."""
    out = np.empty((times.shape[0], weights.shape[0]))
    amb = np.empty(out.shape, dtype=bool)
    for b in range(times.shape[0]):
        out[b], amb[b] = first_spike_one(times[b], weights, tau_mem, tau_syn, v_th, **kw)
    return out, amb


def psp_kernel_derivative(s: np.ndarray, tau_mem: float, tau_syn: float) -> np.ndarray:
    """dK/ds, 0 for s <= 0."""
    s = np.asarray(s, dtype=np.float64)
    pos = s > 0
    sp = np.where(pos, s, 0.0)
    if math.isclose(tau_mem, tau_syn, rel_tol=1e-12):
        k = (1.0 - sp / tau_syn) * np.exp(-sp / tau_syn) / tau_syn
    else:
        k = tau_mem / (tau_mem - tau_syn) * (np.exp(-sp / tau_syn) / tau_syn - np.exp(-sp / tau_mem) / tau_mem)
    return np.where(pos, k, 0.0)


def implicit_jacobians(
    t_out: np.ndarray, times: np.ndarray, weights: np.ndarray, tau_mem: float, tau_syn: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Jacobians of the crossing u(t) = v_th by the implicit function theorem, for one sample.

    With u(t) = sum_i w_i K(t - x_i): dt/dw_ki = -K(t - x_i) / u'(t) and dt/dx_i = w_ki K'(t - x_i) / u'(t).
    ``t_out`` (n_out,) must be finite. Returns ``(dt_dw, dt_dx, u_prime)`` of shapes (n_out, n_in) x 2
    and (n_out,).
    """
    s = t_out[:, None] - times[None, :]
    s = np.where(np.isfinite(s), s, -1.0)  # inputs that never arrive contribute nothing
    k = psp_kernel(s, tau_mem, tau_syn)
    dk = psp_kernel_derivative(s, tau_mem, tau_syn)
    u_prime = (weights * dk).sum(axis=1)
    return -k / u_prime[:, None], weights * dk / u_prime[:, None], u_prime
