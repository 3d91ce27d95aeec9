"""Independent numpy step-by-step reference of the two-compartment neuron (dendritic mechanism) and of
Tsodyks-Markram synapses integrated on a fine grid (used by tests/test_burst*.py)."""

from __future__ import annotations

import math

import numpy as np


def naud_reference(p, dt, i_s, i_d, g_in, vs0, vd0):
    """Forward Euler of the active two-compartment neuron; arrays (steps, n). Returns vs, vd, spikes. With
    ``p.dendritic_drive_somatic`` the dendritic conductances drive towards their reversal from the somatic
    potential (as in Auryn)."""
    steps, n = i_s.shape
    vs, vd = vs0.copy(), vd0.copy()
    ws, wd, thr = np.zeros(n), np.zeros(n), np.full(n, p.thr0)
    ge_s, gi_s, ge_d, gi_d = (np.zeros(n) for _ in range(4))
    refr, bap = np.zeros(n, int), np.zeros(n, int)
    nref, nbap = round(p.refractory / dt), round(p.bap_duration / dt)
    out_vs, out_vd, spikes = [], [], []
    for t in range(steps):
        ge_s += g_in["ge_s"][t]
        gi_s += g_in["gi_s"][t]
        ge_d += g_in["ge_d"][t]
        gi_d += g_in["gi_d"][t]
        f = 1.0 / (1.0 + np.exp(-(vd - p.e_d) / p.d_d))
        bap_on = bap > 0
        i_soma = ws + i_s[t] + p.g_s * f
        i_dend = wd + i_d[t] + p.g_d * f + np.where(bap_on, p.zeta, 0.0)
        bap[bap_on] -= 1
        dvs = (-(vs - p.e_l) + ge_s * (p.e_exc - vs) + gi_s * (p.e_inh - vs)) / p.tau_s + i_soma / p.c_s
        v_syn = vs if p.dendritic_drive_somatic else vd
        dvd = (-(vd - p.e_l) + ge_d * (p.e_exc - v_syn) + gi_d * (p.e_inh - v_syn)) / p.tau_d + i_dend / p.c_d
        vd_old = vd.copy()
        vs = vs + dt * dvs
        vd = vd + dt * dvd
        ws = ws * math.exp(-dt / p.tau_ws)
        wd = wd + dt / p.tau_wd * (-wd + p.a_wd * (vd_old - p.e_l))
        thr = p.thr0 + (thr - p.thr0) * math.exp(-dt / p.tau_thr)
        refr[refr > 0] -= 1
        fire = (vs > thr) & (refr == 0)
        vs[fire] = p.v_reset
        thr[fire] += p.thr_jump
        ws[fire] += p.b_ws
        refr[fire] = nref
        bap[fire] = nbap
        spikes += [(t, i) for i in np.flatnonzero(fire)]
        ge_s *= math.exp(-dt / p.tau_ampa)
        ge_d *= math.exp(-dt / p.tau_ampa)
        gi_s *= math.exp(-dt / p.tau_gaba)
        gi_d *= math.exp(-dt / p.tau_gaba)
        out_vs.append(vs.copy())
        out_vd.append(vd.copy())
    return np.array(out_vs), np.array(out_vd), spikes


def tm_fine_grid(times, u0, f, tau_d, tau_f, h=1e-6):
    """Efficacies of a Tsodyks-Markram synapse from a fine-step Euler integration of du/dt, dR/dt."""
    u, r, t, out = u0, 1.0, 0.0, []
    for ts in times:
        while t + h <= ts:
            u += h * (u0 - u) / tau_f
            r += h * (1.0 - r) / tau_d
            t += h
        u += f * (1.0 - u)
        out.append(u * r)
        r -= u * r
    return np.array(out)
