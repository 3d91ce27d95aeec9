"""Pure simulation speed on the CUBA network (Brette et al. 2007; Brian2's example), one core.

Workload: N LIF neurons (tau_m 20 ms, rest -49 mV, threshold -50 mV, reset -60 mV, refractory 5 ms),
80 % excitatory, exponential current synapses (5 ms excitatory, 10 ms inhibitory), weights 1.62 mV /
-9 mV, connection probability 0.02 at N = 4000 (fan-out 80, kept at N = 40000), dt = 0.1 ms, 1 s of
simulated time, initial potentials U(-60, -50) mV. Exact integration of the linear ODEs.

Reported for N = 4000 and 40000: wall time per simulated second (median of 3 runs, connectivity built
outside the timing), spikes, mean rate, synaptic events per wall-clock second, and the cost ratio
between the two sizes (linear in N means ~10x). When ``brian2`` is importable, the same network runs in
Brian2's C++ standalone mode in this script (compiled with the system compiler; timed: the simulation
binary's run) and the ratios are printed. The issue's figures on this kind of machine, one core:
Brian2 C++ standalone ~13.9 M synaptic events/s, NEST ~1.0 M/s (targets: >= 2x and >= 10x).

Usage: ``python benches/cuba.py [--repeats 3] [--no-brian2]``. Output: a report, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from typing import Any

import numpy as np
from spikeloom.sim import cuba

BRIAN2_EVENTS_PER_S = 13.9e6  # issue's measurement, one core
NEST_EVENTS_PER_S = 1.0e6


def run_spikeloom(n: int, repeats: int) -> dict[str, Any]:
    g, v0 = cuba(n, seed=0)
    walls = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = g.run(1.0, v0, record=False)
        walls.append(time.perf_counter() - t0)
    assert out is not None
    wall = statistics.median(walls)
    return {
        "n": n,
        "synapses": g.n_synapses,
        "wall_s_per_sim_s": wall,
        "spikes": int(out.counts.sum()),
        "rate_hz": out.mean_rate_hz,
        "synaptic_events": out.synaptic_events,
        "events_per_s": out.synaptic_events / wall,
    }


def run_brian2(n: int) -> dict[str, Any] | None:
    """Brian2's CUBA example in C++ standalone mode (None when brian2 or a compiler is unavailable)."""
    try:
        import brian2 as b2
    except ImportError:
        return None
    b2.device.reinit()
    b2.device.activate()
    directory = tempfile.mkdtemp(prefix="cuba_brian2_")
    b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = 0
    b2.defaultclock.dt = 0.1 * b2.ms
    taum, taue, taui = 20 * b2.ms, 5 * b2.ms, 10 * b2.ms
    vt, vr, el = -50 * b2.mV, -60 * b2.mV, -49 * b2.mV
    eqs = """
    dv/dt  = (ge+gi-(v-el))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    ns = {"taum": taum, "taue": taue, "taui": taui, "vt": vt, "vr": vr, "el": el}
    p = b2.NeuronGroup(n, eqs, threshold="v>vt", reset="v = vr", refractory=5 * b2.ms, method="exact", namespace=ns)
    p.v = "vr + rand() * (vt - vr)"
    p.ge = p.gi = 0 * b2.mV
    n_exc = int(0.8 * n)
    prob = 80.0 / n
    ce = b2.Synapses(p, p, on_pre="ge += (60 * 0.27 / 10) * mV")
    ci = b2.Synapses(p, p, on_pre="gi += (-20 * 4.5 / 10) * mV")
    ce.connect(f"i < {n_exc}", p=prob)
    ci.connect(f"i >= {n_exc}", p=prob)
    mon = b2.SpikeMonitor(p)
    b2.run(1 * b2.second)
    try:
        b2.device.build(directory=directory, compile=True, run=False)
        t0 = time.perf_counter()
        b2.device.run(directory=directory, with_output=False)
        wall = time.perf_counter() - t0
    except Exception as e:  # a missing compiler, etc.: report and go on
        print(f"brian2 standalone failed: {e}")
        return None
    spikes = int(mon.num_spikes)
    # Synaptic events = sum over spikes of the spiking neuron's out-degree.
    out_deg = np.bincount(np.asarray(ce.i[:]), minlength=n) + np.bincount(np.asarray(ci.i[:]), minlength=n)
    events = int(out_deg[np.asarray(mon.i[:])].sum())
    return {
        "n": n,
        "wall_s_per_sim_s": wall,
        "spikes": spikes,
        "rate_hz": spikes / n,
        "synaptic_events": events,
        "events_per_s": events / wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-brian2", action="store_true")
    a = ap.parse_args()
    rows = [run_spikeloom(n, a.repeats) for n in (4000, 40000)]
    print("CUBA (Brette et al. 2007), 1 s simulated, dt 0.1 ms, one core")
    for r in rows:
        print(
            f"spikeloom N={r['n']:6d}: {r['wall_s_per_sim_s']:.3f} s per simulated s, {r['spikes']} spikes "
            f"({r['rate_hz']:.2f} Hz), {r['synaptic_events'] / 1e6:.2f} M synaptic events -> "
            f"{r['events_per_s'] / 1e6:.1f} M events/s"
        )
    print(f"cost ratio N=40000 / N=4000: {rows[1]['wall_s_per_sim_s'] / rows[0]['wall_s_per_sim_s']:.1f} (linear: ~10)")
    report: dict[str, Any] = {"spikeloom": rows}
    b2rows = [] if a.no_brian2 else [x for x in (run_brian2(n) for n in (4000, 40000)) if x is not None]
    if b2rows:
        report["brian2"] = b2rows
        for s, b in zip(rows, b2rows, strict=False):
            print(
                f"brian2 C++ standalone N={b['n']:6d}: {b['wall_s_per_sim_s']:.3f} s, {b['rate_hz']:.2f} Hz, "
                f"{b['events_per_s'] / 1e6:.1f} M events/s -> spikeloom is "
                f"{b['wall_s_per_sim_s'] / s['wall_s_per_sim_s']:.1f}x faster per simulated second; "
                f"rate difference {100 * (s['rate_hz'] / b['rate_hz'] - 1):+.1f} %"
            )
    else:
        r0 = rows[0]
        print(
            f"brian2 not run; against the issue's figures: {r0['events_per_s'] / BRIAN2_EVENTS_PER_S:.2f}x Brian2 "
            f"standalone, {r0['events_per_s'] / NEST_EVENTS_PER_S:.1f}x NEST (events/s at N=4000)"
        )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
