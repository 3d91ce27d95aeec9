"""A plain numpy e-prop, written from the paper's equations (Bellec et al. 2020, Methods) independently of
the engine: dense per-synapse eligibility vectors ``eps_v`` / ``eps_a``, eligibility traces ``e``, their
readout-filtered ``ebar``, and the learning signal ``L = B err``, for one recurrent LIF / Bellec-ALIF layer
and a leaky readout, the whole batch at once. Losses: ``mse`` and ``ce_per_step`` as in
:mod:`spikeloom.bptt` (mean over the loss window, outputs and batch)."""

from __future__ import annotations

from typing import Any

import numpy as np


def piecewise_linear(v: np.ndarray, width: float, scale: float) -> np.ndarray:
    return scale * np.maximum(0.0, 1.0 - np.abs(v) / width) / width


def eprop(
    spec: dict[str, Any],
    p: dict[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    loss: str,
    start: int,
    width: float,
    scale: float,
    feedback: np.ndarray | None = None,
) -> tuple[float, dict[str, np.ndarray]]:
    """(mean loss, updates by tensor name) of e-prop over the batch ``x`` ``[B, T, n_in]``."""
    layer, ro = spec["layers"][0], spec["readout"]
    dt = spec["dt"]
    b_, t_, n_in = x.shape
    w_in, w_rec, bias = p["layers.0.w_in"], p["layers.0.w_rec"], p["layers.0.bias"]
    w_out, b_out = p["readout.w"], p["readout.bias"]
    n, n_out = w_out.shape
    alpha = np.exp(-dt / p["layers.0.tau_mem"][0])
    zeta = 1 - alpha if layer["input_scale"] == "one_minus_alpha" else 1.0
    kappa = np.exp(-dt / p["readout.tau"][0])
    zeta_o = 1 - kappa if ro["input_scale"] == "one_minus_alpha" else 1.0
    adaptive = layer["adaptation"] == "bellec"
    rho = np.exp(-dt / p["layers.0.tau_adapt"]) if adaptive else np.zeros(n)
    beta = layer["beta"] if adaptive else 0.0
    th = layer["threshold"]
    fb = w_out if feedback is None else feedback
    # Presynaptic inputs of each tensor: [B, n_pre]; the bias is an always-on input.
    blocks = {"layers.0.w_in": n_in, "layers.0.w_rec": n, "layers.0.bias": 1}
    eps_v = {k: np.zeros((b_, m)) for k, m in blocks.items()}
    eps_a = {k: np.zeros((b_, m, n)) for k, m in blocks.items()}
    ebar = {k: np.zeros((b_, m, n)) for k, m in blocks.items()}
    grad = {k: np.zeros((m, n)) for k, m in blocks.items()}
    g_out, g_bout = np.zeros((n, n_out)), np.zeros(n_out)
    u, a, z, psi = np.zeros((b_, n)), np.zeros((b_, n)), np.zeros((b_, n)), np.zeros((b_, n))
    yro, zo, ob = np.zeros((b_, n_out)), np.zeros((b_, n)), 0.0
    total = 0.0
    w = t_ - start
    for t in range(t_):
        pre = {"layers.0.w_in": x[:, t], "layers.0.w_rec": z, "layers.0.bias": np.ones((b_, 1))}
        # eps_a uses psi, eps_v and eps_a of the previous step.
        for k in blocks:
            eps_a[k] = psi[:, None, :] * eps_v[k][:, :, None] + (rho - psi * beta)[:, None, :] * eps_a[k]
            eps_v[k] = alpha * eps_v[k] + zeta * pre[k]
        a = rho * a + z
        thr = th + beta * a
        u = alpha * u + zeta * (x[:, t] @ w_in + z @ w_rec + bias) - th * z
        z = (u - thr > 0).astype(float)
        psi = piecewise_linear(u - thr, width, scale)
        yro = kappa * yro + zeta_o * (z @ w_out + b_out)
        zo, ob = kappa * zo + z, kappa * ob + 1.0
        if t >= start:
            if loss == "mse":
                err = yro - y[:, t]
                total += (err**2).sum() / (w * n_out * b_)
                dy = 2 * err / (w * n_out * b_)
            else:
                e = np.exp(yro - yro.max(axis=1, keepdims=True))
                pi = e / e.sum(axis=1, keepdims=True)
                total -= np.log(pi[np.arange(b_), y]).sum() / (w * b_)
                onehot = np.eye(n_out)[y]
                dy = (pi - onehot) / (w * b_)
            learn = zeta_o * dy @ fb.T  # [B, n]
            g_out += zeta_o * zo.T @ dy
            g_bout += zeta_o * ob * dy.sum(axis=0)
        else:
            learn = np.zeros((b_, n))
        for k in blocks:
            e = psi[:, None, :] * (eps_v[k][:, :, None] - beta * eps_a[k])
            ebar[k] = kappa * ebar[k] + e
            grad[k] += (learn[:, None, :] * ebar[k]).sum(axis=0)
    grad["layers.0.w_rec"][np.diag_indices(n)] = 0.0
    grad["layers.0.bias"] = grad["layers.0.bias"][0]
    return total, {**grad, "readout.w": g_out, "readout.bias": g_bout}
