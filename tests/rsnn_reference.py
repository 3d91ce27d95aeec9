"""A plain, dense numpy implementation of the recurrent network's forward pass and its BPTT gradient.

Written independently of the engine (dense matrices, the whole batch at once, layer by layer over all
steps, the reverse pass one layer at a time), from the equations in ``spikeloom.recurrent``. Used by the
tests as the reference and by ``benches/bptt_step.py`` as the dense baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def fast_sigmoid_grad(v: np.ndarray, slope: float, scale: float = 1.0) -> np.ndarray:
    return scale / (slope * np.abs(v) + 1.0) ** 2


@dataclass
class LayerRecord:
    u: np.ndarray  # [T, B, n]
    a: np.ndarray | None
    d: np.ndarray
    z: np.ndarray
    theta: np.ndarray


@dataclass
class Forward:
    layers: list[LayerRecord] = field(default_factory=list)
    y: np.ndarray | None = None  # [T, B, n_out]
    q: np.ndarray | None = None


def _decay(dt: float, tau: np.ndarray) -> np.ndarray:
    return np.exp(-dt / tau)


def forward(spec: dict[str, Any], p: dict[str, np.ndarray], x: np.ndarray) -> Forward:
    """Simulate ``x`` ``[B, T, C]`` (float64) with parameters ``p`` (the engine's tensor names)."""
    dt = spec["dt"]
    B, T, _ = x.shape
    ft = p["readout.w"].dtype if "readout.w" in p else np.float64
    inp = np.transpose(x, (1, 0, 2)).astype(ft)  # [T, B, C]
    out = Forward()
    for li, s in enumerate(spec["layers"]):
        n = s["size"]
        w_in = p[f"layers.{li}.w_in"]
        w_rec = p.get(f"layers.{li}.w_rec")
        if w_rec is not None:
            w_rec = w_rec * (1.0 - np.eye(n))
        b = p[f"layers.{li}.bias"]
        alpha = _decay(dt, p[f"layers.{li}.tau_mem"])
        zeta = 1.0 - alpha if s["input_scale"] == "one_minus_alpha" else np.ones(n)
        syn = s.get("tau_syn") is not None
        alpha_s = _decay(dt, p[f"layers.{li}.tau_syn"]) if syn else None
        adapt = s["adaptation"] not in (None, "none")
        rho = _decay(dt, p[f"layers.{li}.tau_adapt"]) if adapt else None
        c_a = (1.0 - rho if s["adaptation"] == "yin" else np.ones(n)) if adapt else None
        th0, beta = s["threshold"], s["beta"]
        U, A, D, Z, TH = (np.zeros((T, B, n), ft) for _ in range(5))
        u = np.zeros((B, n), ft)
        a = np.zeros((B, n), ft)
        i = np.zeros((B, n), ft)
        zp = np.zeros((B, n), ft)
        for t in range(T):
            cur = b + inp[t] @ w_in
            if w_rec is not None:
                cur = cur + zp @ w_rec
            if syn:
                i = alpha_s * i + cur
                d = i
            else:
                d = cur
            if adapt:
                a = rho * a + c_a * zp
                theta = th0 + beta * a
            else:
                theta = np.full((B, n), th0, ft)
            if s["reset"] == "subtract":
                u = alpha * u + zeta * d - th0 * zp
            elif s["reset"] == "subtract_adaptive":
                u = alpha * u + zeta * d - theta * zp
            else:
                u = alpha * (1.0 - zp) * u + zeta * d
            z = (u - theta > 0).astype(ft)
            U[t], A[t], D[t], Z[t], TH[t] = u, a, d, z, theta
            zp = z
        out.layers.append(LayerRecord(U, A if adapt else None, D, Z, TH))
        inp = Z
    r = spec.get("readout")
    if r is not None:
        kappa = _decay(dt, p["readout.tau"])
        zo = 1.0 - kappa if r["input_scale"] == "one_minus_alpha" else np.ones(r["size"])
        q = p["readout.bias"] + inp @ p["readout.w"]  # [T, B, n_out]
        y = np.zeros_like(q)
        yp = np.zeros(q.shape[1:], ft)
        for t in range(T):
            yp = kappa * yp + zo * q[t]
            y[t] = yp
        out.y, out.q = y, q
    return out


def ce_loss_grad(y: np.ndarray, labels: np.ndarray, kind: str) -> tuple[float, np.ndarray]:
    """Batch-mean cross-entropy of the readout ``y`` ``[T, B, K]`` and dL/dy (ce_max or ce_mean)."""
    T, B, K = y.shape
    dy = np.zeros_like(y)
    if kind == "ce_max":
        arg = y.argmax(axis=0)  # [B, K] (first maximum, as the engine)
        logits = np.take_along_axis(y, arg[None], axis=0)[0]
    else:
        logits = y.mean(axis=0)
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    sm = e / e.sum(axis=1, keepdims=True)
    loss = float(np.mean(-np.log(sm[np.arange(B), labels])))
    g = sm.copy()
    g[np.arange(B), labels] -= 1.0
    g /= B
    if kind == "ce_max":
        for bb in range(B):
            for k in range(K):
                dy[arg[bb, k], bb, k] = g[bb, k]
    else:
        dy[:] = g[None] / T
    return loss, dy


def backward(
    spec: dict[str, Any],
    p: dict[str, np.ndarray],
    x: np.ndarray,
    fw: Forward,
    dy: np.ndarray,
    slope: float,
    detach_reset: bool = False,
) -> dict[str, np.ndarray]:
    """Gradients of the loss whose derivative with respect to the readout is ``dy`` ``[T, B, K]``,
    with the fast-sigmoid surrogate. Time constants get d loss / d tau."""
    dt = spec["dt"]
    T, B, _ = dy.shape
    ft = dy.dtype
    g: dict[str, np.ndarray] = {}
    r = spec["readout"]
    kappa = _decay(dt, p["readout.tau"])
    zo = 1.0 - kappa if r["input_scale"] == "one_minus_alpha" else np.ones(r["size"])
    # Readout.
    dyt = np.zeros_like(dy)
    carry = np.zeros(dy.shape[1:], ft)
    for t in reversed(range(T)):
        dyt[t] = dy[t] + carry
        carry = kappa * dyt[t]
    gq = zo * dyt
    zL = fw.layers[-1].z
    g["readout.w"] = np.tensordot(zL, gq, axes=([0, 1], [0, 1]))
    g["readout.bias"] = gq.sum(axis=(0, 1))
    yprev = np.concatenate([np.zeros((1, *fw.y.shape[1:]), ft), fw.y[:-1]])
    dk = yprev - (fw.q if r["input_scale"] == "one_minus_alpha" else 0.0)
    g["readout.tau"] = (dyt * dk).sum(axis=(0, 1)) * kappa * dt / p["readout.tau"] ** 2
    dz_above = gq @ p["readout.w"].T  # [T, B, n_L]
    inp_all = [np.transpose(x, (1, 0, 2)).astype(ft)] + [lr.z for lr in fw.layers[:-1]]
    for li in reversed(range(len(spec["layers"]))):
        s = spec["layers"][li]
        rec = fw.layers[li]
        n = s["size"]
        w_rec = p.get(f"layers.{li}.w_rec")
        if w_rec is not None:
            w_rec = w_rec * (1.0 - np.eye(n))
        tau_m = p[f"layers.{li}.tau_mem"]
        alpha = _decay(dt, tau_m)
        oma = s["input_scale"] == "one_minus_alpha"
        zeta = 1.0 - alpha if oma else np.ones(n)
        syn = s.get("tau_syn") is not None
        alpha_s = _decay(dt, p[f"layers.{li}.tau_syn"]) if syn else None
        adapt = s["adaptation"] not in (None, "none")
        rho = _decay(dt, p[f"layers.{li}.tau_adapt"]) if adapt else None
        c_a = (1.0 - rho if s["adaptation"] == "yin" else np.ones(n)) if adapt else None
        th0, beta, reset = s["threshold"], s["beta"], s["reset"]
        zprev = np.concatenate([np.zeros((1, B, n), ft), rec.z[:-1]])
        uprev = np.concatenate([np.zeros((1, B, n), ft), rec.u[:-1]])
        dI = np.zeros((T, B, n), ft)
        d_alpha = np.zeros(n, ft)
        d_alpha_s = np.zeros(n, ft)
        d_rho = np.zeros(n, ft)
        du_next = np.zeros((B, n), ft)
        da_next = np.zeros((B, n), ft)
        di_next = np.zeros((B, n), ft)
        dz_carry = np.zeros((B, n), ft)
        for t in reversed(range(T)):
            dz = dz_above[t] + dz_carry
            dv = dz * fast_sigmoid_grad(rec.u[t] - rec.theta[t], slope)
            du = dv + du_next
            mask = (1.0 - zprev[t]) if reset == "zero" else 1.0
            d_alpha += (du * mask * uprev[t]).sum(axis=0)
            if oma:
                d_alpha -= (du * rec.d[t]).sum(axis=0)
            dzc = np.zeros((B, n), ft)
            if adapt:
                dtheta = -dv
                if reset == "subtract_adaptive" and not detach_reset:
                    dtheta = dtheta - zprev[t] * du
                da = beta * dtheta + da_next
                aprev = rec.a[t - 1] if t > 0 else np.zeros((B, n), ft)
                d_rho += (da * (aprev - (zprev[t] if s["adaptation"] == "yin" else 0.0))).sum(axis=0)
                da_next = rho * da
                dzc += c_a * da
            di = zeta * du
            if syn:
                di = di + di_next
                iprev = rec.d[t - 1] if t > 0 else np.zeros((B, n), ft)
                d_alpha_s += (di * iprev).sum(axis=0)
                di_next = alpha_s * di
            dI[t] = di
            if not detach_reset:
                if reset == "subtract":
                    dzc -= th0 * du
                elif reset == "subtract_adaptive":
                    dzc -= rec.theta[t] * du
                else:
                    dzc -= alpha * uprev[t] * du
            if w_rec is not None:
                dzc += di @ w_rec.T
            dz_carry = dzc
            du_next = alpha * mask * du
        g[f"layers.{li}.bias"] = dI.sum(axis=(0, 1))
        g[f"layers.{li}.w_in"] = np.tensordot(inp_all[li], dI, axes=([0, 1], [0, 1]))
        if w_rec is not None:
            g[f"layers.{li}.w_rec"] = np.tensordot(zprev, dI, axes=([0, 1], [0, 1])) * (1.0 - np.eye(n))
        g[f"layers.{li}.tau_mem"] = d_alpha * alpha * dt / tau_m**2
        if syn:
            ts = p[f"layers.{li}.tau_syn"]
            g[f"layers.{li}.tau_syn"] = d_alpha_s * alpha_s * dt / ts**2
        if adapt:
            ta = p[f"layers.{li}.tau_adapt"]
            g[f"layers.{li}.tau_adapt"] = d_rho * rho * dt / ta**2
        if li > 0:
            dz_above = dI @ p[f"layers.{li}.w_in"].T
    return g
