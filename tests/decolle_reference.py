"""A plain numpy DECOLLE: the forward pass step by step and the local gradients in reverse mode.

Written from the equations in ``spikeloom.decolle`` (dense matrices, the whole batch at once), without
the engine's event-driven tricks. Used by ``tests/test_decolle.py`` as the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def _per_layer(spec: dict[str, Any], name: str, li: int) -> float:
    taus = spec[name]
    return taus[min(li, len(taus) - 1)]


def sigmoid(u: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-u))


@dataclass
class Layer:
    p: np.ndarray  # [T, B, n_pre]
    r: np.ndarray  # [T, B, n]
    u: np.ndarray  # [T, B, n]
    s: np.ndarray  # [T, B, n]
    y: np.ndarray  # [T, B, n_out]


def forward(spec: dict[str, Any], p: dict[str, np.ndarray], x: np.ndarray, smooth_slope: float | None = None):
    """Simulate ``x`` ``[B, T, C]``; spikes are ``U > 0``, or ``sigmoid(smooth_slope U)`` when given."""
    dt = spec["dt"]
    B, T, _ = x.shape
    inp = np.transpose(x, (1, 0, 2)).astype(np.float64)
    out = []
    n_layers = len(spec["sizes"])
    for li, n in enumerate(spec["sizes"]):
        beta = np.exp(-dt / _per_layer(spec, "tau_syn", li))
        alpha = np.exp(-dt / _per_layer(spec, "tau_mem", li))
        alpharp = np.exp(-dt / _per_layer(spec, "tau_ref", li))
        w, b, g = p[f"layers.{li}.w"], p[f"layers.{li}.bias"], p[f"layers.{li}.readout"]
        n_pre = w.shape[0]
        q, pp = np.zeros((B, n_pre)), np.zeros((B, n_pre))
        r, s = np.zeros((B, n)), np.zeros((B, n))
        rec = Layer(*(np.zeros((T, B, k)) for k in (n_pre, n, n, n, g.shape[1])))
        for t in range(T):
            pp = alpha * pp + (1 - alpha) * q
            q = beta * q + (1 - beta) * inp[t]
            r = alpharp * r - (1 - alpharp) * spec["wrp"] * s
            u = pp @ w + b + r
            s = (u > 0).astype(np.float64) if smooth_slope is None else sigmoid(smooth_slope * u)
            out_s = sigmoid(u) if spec.get("sigmoid_readout") and li == n_layers - 1 else s
            rec.p[t], rec.r[t], rec.u[t], rec.s[t], rec.y[t] = pp, r, u, s, out_s @ g
        out.append(rec)
        inp = rec.s
    return out


def local_loss(kind: str, y: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample loss ``[B]`` and dL/dy ``[B, K]`` of one step."""
    k = y.shape[1]
    target = np.eye(k)[labels]
    d = y - target
    if kind == "smooth_l1":
        loss = np.where(np.abs(d) < 1, 0.5 * d * d, np.abs(d) - 0.5).mean(axis=1)
        return loss, np.clip(d, -1, 1) / k
    if kind == "mse":
        return (d * d).mean(axis=1), 2 * d / k
    z = y - y.max(axis=1, keepdims=True)
    prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return -np.log(prob[np.arange(len(labels)), labels]), prob - target


def fast_sigmoid_grad(u: np.ndarray, slope: float) -> np.ndarray:
    return 1.0 / (slope * np.abs(u) + 1.0) ** 2


def gradient(
    spec: dict[str, Any],
    p: dict[str, np.ndarray],
    x: np.ndarray,
    labels: np.ndarray,
    loss: str,
    burn_in: int,
    slope: float,
) -> tuple[float, dict[str, np.ndarray]]:
    """Mean objective and its local gradient, reverse mode through each step's graph
    ``W, b -> U -> S -> y -> L`` with ``P`` and ``R`` as constants (fast-sigmoid surrogate for dS/dU)."""
    layers = forward(spec, p, x)
    B, T = x.shape[0], x.shape[1]
    window = T - burn_in
    total = 0.0
    grads: dict[str, np.ndarray] = {}
    last = len(layers) - 1
    for li, rec in enumerate(layers):
        g = p[f"layers.{li}.readout"]
        dw = np.zeros_like(p[f"layers.{li}.w"])
        db = np.zeros_like(p[f"layers.{li}.bias"])
        for t in range(burn_in, T):
            lv, dy = local_loss(loss, rec.y[t], labels)
            total += lv.sum() / (B * window)
            dy = dy / (B * window)
            ds = dy @ g.T  # back through y = S G
            if spec.get("sigmoid_readout") and li == last:
                sg = sigmoid(rec.u[t])
                du = ds * sg * (1 - sg)
            else:
                du = ds * fast_sigmoid_grad(rec.u[t], slope)
            dw += rec.p[t].T @ du  # back through U = P W + b + R
            db += du.sum(axis=0)
        grads[f"layers.{li}.w"], grads[f"layers.{li}.bias"] = dw, db
    return total, grads
