"""Jacobians of layer_spike_times (dt_dw, dt_dx) against central finite differences and against the
implicit function theorem applied to the independent PSP-sum reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from psp_reference import implicit_jacobians
from spikeloom.ttfs import layer_spike_times

TAU = 5e-3
B, N_IN, N_OUT = 30, 6, 5


def setup_layer(ratio: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 3 * TAU, (B, N_IN))
    x[rng.random(x.shape) < 0.15] = np.inf
    peak = 1 / math.e if ratio == 1 else 0.5
    w = rng.normal(0.7, 1.5, (N_OUT, N_IN)) / (2 * peak)
    return x, w


def causal(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """causal[b, k, i]: input i of sample b arrives strictly before output k's spike."""
    return x[:, None, :] < t[:, :, None]


def usable(t0, tp, tm, c0, cp, cm):
    """Points where the spike exists at all three evaluations and the causal set does not change."""
    return np.isfinite(t0) & np.isfinite(tp) & np.isfinite(tm) & (cp == c0).all(axis=-1) & (cm == c0).all(axis=-1)


@pytest.mark.parametrize("ratio", [1, 2])
def test_dt_dw_finite_differences(ratio):
    x, w = setup_layer(ratio, 10 + ratio)
    tau_mem = ratio * TAU
    t, dt_dw, _ = layer_spike_times(x, w, tau_mem, TAU)
    c0 = causal(x, t)
    h = 1e-6
    checked = 0
    for k in range(N_OUT):
        for i in range(N_IN):
            wp, wm = w.copy(), w.copy()
            wp[k, i] += h
            wm[k, i] -= h
            tp = layer_spike_times(x, wp, tau_mem, TAU)[0]
            tm = layer_spike_times(x, wm, tau_mem, TAU)[0]
            ok = usable(t, tp, tm, c0, causal(x, tp), causal(x, tm))[:, k]
            fd = (tp[ok, k] - tm[ok, k]) / (2 * h)
            np.testing.assert_allclose(dt_dw[ok, k, i], fd, rtol=1e-4, atol=1e-7 * TAU, err_msg=f"k={k} i={i}")
            checked += ok.sum()
    assert checked > 0.6 * B * N_OUT * N_IN
    # Silent neurons and inputs after the spike have zero derivative.
    silent = ~np.isfinite(t)
    assert silent.any()
    assert np.all(dt_dw[silent] == 0)
    assert np.all(dt_dw[~c0] == 0)


@pytest.mark.parametrize("ratio", [1, 2])
def test_dt_dx_finite_differences(ratio):
    x, w = setup_layer(ratio, 20 + ratio)
    tau_mem = ratio * TAU
    t, _, dt_dx = layer_spike_times(x, w, tau_mem, TAU)
    c0 = causal(x, t)
    h = 1e-6 * TAU
    checked = 0
    for i in range(N_IN):
        xp, xm = x.copy(), x.copy()
        xp[:, i] += h
        xm[:, i] -= h
        tp = layer_spike_times(xp, w, tau_mem, TAU)[0]
        tm = layer_spike_times(xm, w, tau_mem, TAU)[0]
        ok = usable(t, tp, tm, c0, causal(xp, tp), causal(xm, tm)) & np.isfinite(x[:, i])[:, None]
        fd = (tp[ok] - tm[ok]) / (2 * h)
        np.testing.assert_allclose(dt_dx[:, :, i][ok], fd, rtol=1e-4, atol=1e-7, err_msg=f"i={i}")
        checked += ok.sum()
    assert checked > 0.5 * B * N_OUT * N_IN
    assert np.all(dt_dx[~np.isfinite(t)] == 0)
    assert np.all(dt_dx[~c0] == 0)
    no_input = np.broadcast_to(~np.isfinite(x)[:, None, :], dt_dx.shape)
    assert np.all(dt_dx[no_input] == 0)
    # Shifting every input by d shifts the spike by d: the causal derivatives sum to 1.
    fin = np.isfinite(t)
    np.testing.assert_allclose(dt_dx.sum(axis=-1)[fin], 1.0, rtol=1e-10)


@pytest.mark.parametrize("ratio", [1, 2])
@pytest.mark.parametrize("v_th", [1.0, 0.6])
def test_jacobians_match_implicit_function_theorem(ratio, v_th):
    """dt/dw_i = -K(t - x_i) / u'(t), dt/dx_i = w_i K'(t - x_i) / u'(t) from the PSP sum."""
    x, w = setup_layer(ratio, 30 + ratio)
    w *= v_th
    tau_mem = ratio * TAU
    t, dt_dw, dt_dx = layer_spike_times(x, w, tau_mem, TAU, v_th)
    n_spikes = 0
    for b in range(B):
        fin = np.isfinite(t[b])
        if not fin.any():
            continue
        ref_dw, ref_dx, u_prime = implicit_jacobians(t[b, fin], x[b], w[fin], tau_mem, TAU)
        assert np.all(u_prime > 0)  # a first crossing is upward
        np.testing.assert_allclose(dt_dw[b, fin], ref_dw, rtol=1e-8, atol=1e-12 * TAU)
        np.testing.assert_allclose(dt_dx[b, fin], ref_dx, rtol=1e-8, atol=1e-12)
        n_spikes += fin.sum()
    assert n_spikes > 0.3 * B * N_OUT


def test_dt_dw_sign():
    """More excitation makes a spike earlier: dt/dw < 0 for every causal input."""
    x = np.array([[0.0, 1e-3, 2e-3]])
    w = np.array([[1.5, 1.5, 1.5]])
    for tau_mem in (TAU, 2 * TAU):
        t, dw, _ = layer_spike_times(x, w, tau_mem, TAU)
        assert np.isfinite(t[0, 0])
        assert np.all(dw[0, 0][x[0] < t[0, 0]] < 0)
