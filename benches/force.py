"""FORCE benchmark (Nicola & Clopath 2017): spikeloom's reservoir against a straightforward numpy
implementation of the same loop (``tests/force_reference.py``: dense weights, step by step, RLS with
numpy matrix products, as the MATLAB scripts).

1. LIFFORCESINE: 2000 LIF neurons, 5 Hz sine, 5 s settle / 5 s learn (RLS every 50 steps) / 5 s test.
2. IZFORCESONG: 5000 Izhikevich neurons, the first bar of Ode to Joy (5 channels), RLS every 100 steps;
   the script learns for 900 s, here ``--bars`` repetitions of the 4-s bar (default 10), test 2 bars.

For each: test-period correlation and RMSE, wall time per simulated second. The numpy loop runs the
same reservoir (same weights, encoders and initial state) for a shorter window: a warm-up (not timed,
so the start-up burst of the random initial potentials does not weigh on either side), then free and
learning periods, timed; both are compared step by step over the whole window (same spikes and
readout), and the speed ratio is taken per simulated second of each phase, weighted by the phase
lengths of the full protocol. With ``--precision float32`` spikeloom stores the RLS matrix P in
float32 (the numpy loop stays float64): the outputs then agree only to float32 rounding, and the
bench reports how far (first differing spike step, readout difference over the window).

    python benches/force.py [--quick] [--bars 10] [--threads 0] [--precision float64|float32]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from spikeloom import force as F
from spikeloom.datasets import force_targets as T

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import force_reference as ref  # noqa: E402


def compare_with_numpy(make, target, warm: float, free: float, learn: float, threads: int) -> dict:
    """Run the numpy loop and spikeloom on fresh copies of the same reservoir for ``warm`` (untimed)
    + ``free`` + ``learn`` seconds; return per-phase wall time per simulated second and the agreement."""
    net = make()
    st = net.state()
    dt = net.dt
    n_warm, n_free, n_learn = int(round(warm / dt)), int(round(free / dt)), int(round(learn / dt))
    n_free += n_warm
    steps = n_free + n_learn
    y = target((1 + np.arange(steps)) * dt)
    out = ref.simulate(
        net.static_weights(),
        net.encoders,
        st["v"],
        st["u"],
        net.config["model"],
        dt=dt,
        tau_rise=net.config["tau_rise"],
        tau_decay=net.config["tau_decay"],
        target=y,
        learn=np.arange(steps) >= n_free,
        rls_every=net.config["rls_every"],
        lam=net.config["lambda"],
        timed_from=n_warm,
    )
    w = net.run(n_warm * dt, y[:n_warm], record_spikes=True, threads=threads)
    t0, c0 = time.perf_counter(), time.process_time()
    a = net.run((n_free - n_warm) * dt, y[n_warm:n_free], record_spikes=True, threads=threads)
    t1, c1 = time.perf_counter(), time.process_time()
    b = net.run(n_learn * dt, y[n_free:], learn=True, record_spikes=True, threads=threads)
    t2, c2 = time.perf_counter(), time.process_time()
    z = np.concatenate([w.z, a.z, b.z])
    ids = np.concatenate([w.spike_ids, a.spike_ids, b.spike_ids])
    ours = np.rint(np.concatenate([w.spike_times, a.spike_times, b.spike_times]) / dt).astype(np.int64)
    theirs = np.concatenate([np.full(len(s), i + 1) for i, s in enumerate(out["spikes"])]).astype(np.int64)
    their_ids = np.concatenate(out["spikes"])
    same_spikes = ours.shape == theirs.shape and np.array_equal(ours, theirs) and np.array_equal(ids, their_ids)
    if not same_spikes:  # first step where the rasters differ (chaos amplifies rounding differences)
        first = next(
            (int(s) for s in range(1, steps + 1) if not np.array_equal(ids[ours == s], their_ids[theirs == s])), -1
        )
    else:
        first = -1
    scale = max(np.abs(out["z"]).max(), 1e-300)
    zdiff = float(np.abs(z - out["z"]).max() / scale)
    upto = steps if first < 0 else first - 1
    zdiff_before = float(np.abs(z[:upto] - out["z"][:upto]).max() / scale) if upto > 0 else float("nan")
    return {
        "numpy_free_per_s": out["seconds_free"] / free,
        "numpy_learn_per_s": out["seconds_learn"] / learn,
        "ours_free_per_s": (t1 - t0) / free,
        "ours_learn_per_s": (t2 - t1) / learn,
        "numpy_cpu_free_per_s": out["cpu_free"] / free,
        "numpy_cpu_learn_per_s": out["cpu_learn"] / learn,
        "ours_cpu_free_per_s": (c1 - c0) / free,
        "ours_cpu_learn_per_s": (c2 - c1) / learn,
        "same_spikes": same_spikes,
        "first_differing_step": first,
        "spikes": int(ours.size),
        "max_rel_readout_diff": zdiff,
        "max_rel_readout_diff_before_first": zdiff_before,
    }


def bench(name: str, make, target, settle: float, learn: float, test: float, window: tuple, threads: int) -> None:
    print(f"== {name}")
    net = make()
    print(
        f"   N = {net.n}, k = {net.k}, dt = {net.dt * 1e3:g} ms, RLS every {net.config['rls_every']} steps, "
        f"P in {'float32' if net.config['precision'] == 'f32' else 'float64'}"
    )
    t0 = time.perf_counter()
    res = F.train_force(net, target, settle=settle, learn=learn, test=test, threads=threads)
    wall = time.perf_counter() - t0
    sim = settle + learn + test
    print(f"   protocol {settle:g} s settle / {learn:g} s learn / {test:g} s test: wall {wall:.1f} s")
    print(
        f"   test correlation {res.correlation:.4f}, RMSE {res.rmse:.4f} (NRMSE {res.nrmse:.3f}), "
        f"rate {res.rate_hz:.1f} Hz, {res.rls_updates} RLS updates"
    )
    if res.z.shape[1] > 1:
        per = [F.correlation(res.z[:, c : c + 1], res.target[:, c : c + 1]) for c in range(res.z.shape[1])]
        print("   test correlation per output: " + ", ".join(f"{c:.3f}" for c in per))
    for k, s in res.seconds.items():
        print(f"   {k}: {s:.2f} s ({s / {'settle': settle, 'learn': learn, 'test': test}[k]:.3f} s per simulated s)")
    print(f"   spikeloom: {wall / sim:.3f} s wall per simulated second")
    c = compare_with_numpy(make, target, *window, threads)
    numpy_total = c["numpy_free_per_s"] * (settle + test) + c["numpy_learn_per_s"] * learn
    ours_total = c["ours_free_per_s"] * (settle + test) + c["ours_learn_per_s"] * learn
    print(
        f"   numpy loop over {window[0]:g} s warm-up (untimed) + {window[1]:g} s free + {window[2]:g} s learning: "
        f"{c['numpy_free_per_s']:.2f} / {c['numpy_learn_per_s']:.2f} s wall per simulated s (free / learning); "
        f"spikeloom {c['ours_free_per_s']:.3f} / {c['ours_learn_per_s']:.3f}"
    )
    print(
        f"   same outputs: identical spike raster {c['same_spikes']} ({c['spikes']} spikes"
        + (f", first difference at step {c['first_differing_step']}" if not c["same_spikes"] else "")
        + f"), max relative readout difference {c['max_rel_readout_diff']:.2e}"
        + (
            f" ({c['max_rel_readout_diff_before_first']:.2e} before the first differing spike)"
            if not c["same_spikes"]
            else ""
        )
    )
    print(
        f"   ratio vs numpy (per simulated second, weighted by the protocol's phases): "
        f"{numpy_total / ours_total:.1f}x  (free {c['numpy_free_per_s'] / c['ours_free_per_s']:.1f}x, "
        f"learning {c['numpy_learn_per_s'] / c['ours_learn_per_s']:.1f}x)"
    )
    print(f"   full protocol in numpy (extrapolated): {numpy_total:.0f} s vs measured {wall:.1f} s")
    cpu_np = c["numpy_cpu_free_per_s"] * (settle + test) + c["numpy_cpu_learn_per_s"] * learn
    cpu_us = c["ours_cpu_free_per_s"] * (settle + test) + c["ours_cpu_learn_per_s"] * learn
    print(
        f"   CPU time (all threads) per simulated s, free / learning: numpy {c['numpy_cpu_free_per_s']:.2f} / "
        f"{c['numpy_cpu_learn_per_s']:.2f}, spikeloom {c['ours_cpu_free_per_s']:.3f} / "
        f"{c['ours_cpu_learn_per_s']:.3f}; weighted ratio {cpu_np / cpu_us:.1f}x"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller networks, shorter runs")
    p.add_argument("--bars", type=int, default=10, help="Ode to Joy: learning time in 4-s bars")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--skip-song", action="store_true")
    p.add_argument("--skip-sine", action="store_true")
    p.add_argument("--precision", choices=("float64", "float32"), default="float64", help="storage of P")
    p.add_argument("--seeds", type=int, default=1, help="sine: also report the test correlation of this many seeds")
    a = p.parse_args()
    q = a.quick
    prec = a.precision
    if not a.skip_sine:
        bench(
            "LIF 5 Hz sine (LIFFORCESINE)",
            lambda: F.lif_sine(n=500 if q else 2000, seed=a.seed, rls_precision=prec),
            T.make_sine(5.0),
            *((1.0, 2.0, 2.0) if q else (5.0, 5.0, 5.0)),
            window=(0.05, 0.1, 0.1) if q else (0.25, 0.5, 0.5),
            threads=a.threads,
        )
        if a.seeds > 1:
            phases = (1.0, 2.0, 2.0) if q else (5.0, 5.0, 5.0)
            cs = []
            for seed in range(a.seed, a.seed + a.seeds):
                net = F.lif_sine(n=500 if q else 2000, seed=seed, rls_precision=prec)
                res = F.train_force(
                    net, T.make_sine(5.0), settle=phases[0], learn=phases[1], test=phases[2], threads=a.threads
                )
                cs.append(res.correlation)
                print(f"   seed {seed}: test correlation {res.correlation:.4f}, RMSE {res.rmse:.4f}")
            print(
                f"   seeds {a.seed}..{a.seed + a.seeds - 1}: mean test correlation {np.mean(cs):.4f} "
                f"(min {min(cs):.4f}, max {max(cs):.4f}; {sum(c > 0.95 for c in cs)} of {len(cs)} above 0.95)"
            )
    if a.skip_song:
        return
    bars = 2 if q else a.bars
    bench(
        "Izhikevich Ode to Joy, first bar (IZFORCESONG)",
        lambda: F.izhikevich_ode_to_joy(n=1000 if q else 5000, seed=a.seed, rls_precision=prec),
        T.make_ode_to_joy(4.0),
        1.0,
        4.0 * bars,
        8.0,
        window=(0.02, 0.05, 0.05) if q else (0.1, 0.2, 0.2),
        threads=a.threads,
    )


if __name__ == "__main__":
    main()
