"""XOR with spiking burst-dependent plasticity (Payeur et al. 2021, Fig. 4), the paper's population sizes.

Five populations of 500 stochastic-burst two-compartment neurons (input1, input2, hidden1, hidden2,
output), background Poisson drive, plastic event-transmitting feedforward synapses, burst-transmitting
feedback onto the hidden dendrites, teaching current into the output dendrites. Prints the output event
rate of each pattern after training (target: XOR-true patterns above, XOR-false below 6 Hz) and the wall
time (the reference C++/Auryn code needs 3-4 h per run on one laptop core).

Usage: python benches/burst_xor.py [--examples 400] [--durex 4] [--dt 2.5e-4] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import time

from spikeloom.burst import XORConfig, train_xor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--examples", type=int, default=400)
    ap.add_argument("--durex", type=float, default=4.0)
    ap.add_argument("--tau-avg", type=float, default=1.0)
    ap.add_argument("--dt", type=float, default=2.5e-4)
    ap.add_argument("--eta-scale", type=float, default=1.0)
    ap.add_argument("--learn-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    base = XORConfig()
    cfg = XORConfig(
        n=a.n,
        examples=a.examples,
        durex=a.durex,
        learn_fraction=a.learn_fraction,
        tau_avg=a.tau_avg,
        dt=a.dt,
        eta_hidden=base.eta_hidden * a.eta_scale,
        eta_output=base.eta_output * a.eta_scale,
        seed=a.seed,
        threads=a.threads,
    )
    print(
        f"XOR burstprop: 5 x {cfg.n} neurons, p={cfg.p:.2f}, dt={cfg.dt * 1e3:.2f} ms, {cfg.examples} examples "
        f"x {cfg.durex} s, tau_avg={cfg.tau_avg} s, threads={cfg.threads}, cores={os.cpu_count()}",
        flush=True,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    _, res = train_xor(cfg, progress=True, log_every=20)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    thr = 0.5 * (cfg.e_min + cfg.e_max)
    print(f"\noutput event rate after training (boundary {thr:.0f} Hz):")
    for (x1, x2), r in res.rates.items():
        want = "high" if x1 ^ x2 else "low"
        ok = (r > thr) == bool(x1 ^ x2)
        print(f"  ({x1}, {x2}) -> {r:6.2f} Hz   target {want:4s}  {'OK' if ok else 'WRONG'}")
    print(f"correct patterns: {res.correct}/4")
    print(
        f"simulated {res.simulated_seconds:.0f} s in {wall:.0f} s wall ({wall / res.simulated_seconds:.3f} s per "
        f"simulated s), {cpu:.0f} s CPU ({cpu / res.simulated_seconds:.3f} CPU s per simulated s); "
        "reference C++ 3-4 h per run"
    )
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
