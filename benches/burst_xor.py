"""XOR with spiking burst-dependent plasticity (Payeur et al. 2021, Fig. 4) with the paper's population sizes
and protocol (reference ``run_xor.sh``: 5 x 500 neurons, 2000 examples of 8 s, 2 s moving averages, 0.1 ms
steps; 16,000 simulated seconds).

Five populations of 500 stochastic-burst two-compartment neurons (input1, input2, hidden1, hidden2,
output), background Poisson drive, plastic event-transmitting feedforward synapses, burst-transmitting
feedback onto the hidden dendrites, teaching current into the output dendrites. Prints the learning curve
(output event rate per pattern and cost, averaged over blocks of epochs), the output event rate of each
pattern after training (target: XOR-true patterns above, XOR-false below 6 Hz) and the wall / CPU time
(target: under 15 min on 2 cores; the reference C++/Auryn code needs 3-4 h per run on one laptop core).

Defaults follow the reference code: the plastic connections classify presynaptic spikes with a 100 ms
trace (``--pre-window 0.1``; 0 = the 16 ms population classification of the earlier ports), the dendritic
synaptic currents use the somatic potential (``--dendritic-drive soma``) and the min-rate homeostasis at
presynaptic events reads a 30 s average of all postsynaptic spikes (``--hom-tau 30``; 0 = the 2 s event-rate
average of the earlier ports).

Usage: python benches/burst_xor.py [--examples 2000] [--durex 8] [--threads 2] [--curve-every 50]
       [--pre-window 0.1] [--dendritic-drive soma|dendrite] [--hom-tau 30] [--seed 0] [--history FILE.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # idle BLAS threads would spin on the shared cores

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from spikeloom.burst import XORConfig, train_xor  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    base = XORConfig()
    ap.add_argument("--n", type=int, default=base.n)
    ap.add_argument("--examples", type=int, default=base.examples)
    ap.add_argument("--durex", type=float, default=base.durex)
    ap.add_argument("--tau-avg", type=float, default=base.tau_avg)
    ap.add_argument("--dt", type=float, default=base.dt)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rate-valence", action="store_true", help="the earlier reference rule (valence in Hz)")
    ap.add_argument(
        "--pre-window",
        type=float,
        default=base.pre_event_window,
        help="presynaptic event window of the plastic projections (s; <= 0: the 16 ms population classification)",
    )
    ap.add_argument("--dendritic-drive", choices=("soma", "dendrite"), default="soma")
    ap.add_argument(
        "--hom-tau",
        type=float,
        default=base.hom_tau,
        help="time constant (s) of the all-spike average read by the min-rate homeostasis (<= 0: event-rate average)",
    )
    ap.add_argument("--curve-every", type=int, default=50, help="epochs (4 examples) per learning-curve row")
    ap.add_argument("--history", type=str, default="", help="optional JSON file for the per-example history")
    a = ap.parse_args()
    cfg = XORConfig(
        n=a.n,
        examples=a.examples,
        durex=a.durex,
        tau_avg=a.tau_avg,
        dt=a.dt,
        seed=a.seed,
        threads=a.threads,
        rate_valence=a.rate_valence,
        pre_event_window=a.pre_window if a.pre_window and a.pre_window > 0 else None,
        dendritic_drive_somatic=a.dendritic_drive == "soma",
        hom_tau=a.hom_tau if a.hom_tau and a.hom_tau > 0 else None,
    )
    print(
        f"XOR burst-dependent plasticity: 5 x {cfg.n} neurons, p={cfg.p:.2f}, dt={cfg.dt * 1e3:.2f} ms, "
        f"delay={cfg.delay * 1e3:.1f} ms, {cfg.examples} examples x {cfg.durex} s, tau_avg={cfg.tau_avg} s, "
        f"threads={cfg.threads}, rate_valence={cfg.rate_valence}, pre_event_window={cfg.pre_event_window}, "
        f"dendritic_drive_somatic={cfg.dendritic_drive_somatic}, hom_tau={cfg.hom_tau}, cores={os.cpu_count()}, "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    _, res = train_xor(cfg, progress=True, log_every=200)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    thr = 0.5 * (cfg.e_min + cfg.e_max)

    print(f"\nlearning curve (output event rate in the prediction phase, Hz; mean over {a.curve_every} epochs):")
    print("  epochs        (0,0)   (0,1)   (1,0)   (1,1)   cost")
    hist = res.history
    per = 4 * a.curve_every
    for start in range(0, len(hist), per):
        rows = hist[start : start + per]
        rates = []
        for x1, x2 in ((0, 0), (0, 1), (1, 0), (1, 1)):
            r = [h["output_rate_hz"] for h in rows if (h["x1"], h["x2"]) == (x1, x2)]
            rates.append(float(np.mean(r)) if r else float("nan"))
        cost = float(np.mean([h["cost"] for h in rows]))
        e0 = start // 4
        print(f"  {e0:5d}-{e0 + len(rows) // 4 - 1:<5d} " + " ".join(f"{r:7.2f}" for r in rates) + f"  {cost:.3f}")

    print(f"\nhidden event rates (Hz) and mean plastic weights, mean over {a.curve_every} epochs:")
    wkeys = [k for k in (hist[0] if hist else {}) if k.startswith("mean_w ")]
    print("  epochs       h1:00  h1:01  h1:10  h1:11  h2:00  h2:01  h2:10  h2:11  " + "  ".join(k[7:] for k in wkeys))
    for start in range(0, len(hist), per):
        rows = hist[start : start + per]
        cells = []
        for key in ("hidden1_rate_hz", "hidden2_rate_hz"):
            for x1, x2 in ((0, 0), (0, 1), (1, 0), (1, 1)):
                r = [h[key] for h in rows if (h["x1"], h["x2"]) == (x1, x2)]
                cells.append(float(np.mean(r)) if r else float("nan"))
        ws = [rows[-1][k] for k in wkeys]
        e0 = start // 4
        print(
            f"  {e0:5d}-{e0 + len(rows) // 4 - 1:<5d} "
            + " ".join(f"{c:6.2f}" for c in cells)
            + "  "
            + "  ".join(f"{w:.3f}".rjust(len(k) - 7) for w, k in zip(ws, wkeys, strict=True))
        )

    print(f"\noutput event rate after training (boundary {thr:.0f} Hz):")
    for (x1, x2), r in res.rates.items():
        want = "high" if x1 ^ x2 else "low"
        ok = (r > thr) == bool(x1 ^ x2)
        print(f"  ({x1}, {x2}) -> {r:6.2f} Hz   target {want:4s}  {'OK' if ok else 'WRONG'}")
    print(f"correct patterns: {res.correct}/4")
    print(
        f"simulated {res.simulated_seconds:.0f} s in {wall:.0f} s wall ({wall / 60:.1f} min; "
        f"{wall / res.simulated_seconds:.4f} s per simulated s), {cpu:.0f} s CPU "
        f"({cpu / res.simulated_seconds:.4f} CPU s per simulated s); target < 15 min on 2 cores "
        f"({'met' if wall < 900 else 'missed'}); reference C++ 3-4 h per run on one laptop core "
        f"({3 * 3600 / wall:.0f}-{4 * 3600 / wall:.0f}x this wall time); load average {os.getloadavg()[0]:.2f}"
    )
    if a.history:
        with open(a.history + ".tmp", "w") as f:
            json.dump(hist, f)
        os.replace(a.history + ".tmp", a.history)
    print(
        json.dumps(
            {
                "correct": res.correct,
                "rates": {f"{k[0]}{k[1]}": v for k, v in res.rates.items()},
                "wall_s": wall,
                "cpu_s": cpu,
                "simulated_s": res.simulated_seconds,
                "interrupted": res.interrupted,
            }
        )
    )


if __name__ == "__main__":
    main()
