"""e-prop accuracy runs of issue 5 (long: run by hand, not in CI).

- ``evidence``: evidence accumulation with the reference network and hyper-parameters
  (:mod:`spikeloom.recipes_eprop`), batch 64, random feedback; prints the validation/test error curve
  (one line per epoch = ``n_train / 64`` iterations) and the iterations/time to reach < 10 % error.
- ``sines``: sum-of-sines pattern generation; prints the normalised MSE every 100 iterations.

Usage: ``python benches/eprop_accuracy.py evidence --iterations 2000`` or ``... sines --iterations 1000``.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import spikeloom as sl
from spikeloom.datasets import evidence_accumulation, normalised_mse, sum_of_sines
from spikeloom.eprop import EpropConfig, bellec_pseudo_derivative
from spikeloom.recipes_eprop import evidence_network, sines_network


def evidence(iterations: int, n_train: int, method: str, threads: int, seed: int) -> None:
    data = evidence_accumulation(n_train=n_train, n_validation=256, n_test=512, seed=seed)
    start = int(data.loss_steps[0])
    net = evidence_network(seed)
    per_epoch = math.ceil(n_train / 64)
    epochs = math.ceil(iterations / per_epoch)
    common = {
        "epochs": epochs,
        "batch_size": 64,
        "lr": 5e-3,
        "loss": "ce_per_step",
        "loss_start": start,
        "surrogate": bellec_pseudo_derivative(0.6),
    }
    if method == "eprop":
        cfg = EpropConfig(**common, feedback="random", feedback_sd=1.0, reg_rate=2e-6, reg_target_hz=10.0)
    else:
        cfg = sl.BPTTConfig(**common)
    t0 = time.perf_counter()
    print(f"evidence accumulation, {method}: {n_train} training trials, {per_epoch} iterations of batch 64 per epoch")

    def on_epoch(m: dict) -> bool:
        it = m["epoch"] * per_epoch
        err = 1.0 - m["val_accuracy"]
        print(
            json.dumps(
                {
                    "iterations": it,
                    "val_error": round(err, 4),
                    "train_error": round(1.0 - m["train_accuracy"], 4),
                    "train_loss": round(m["train_loss"], 4),
                    "seconds": round(time.perf_counter() - t0, 1),
                    "s_per_iteration": round(m["seconds"] / per_epoch, 3),
                }
            ),
            flush=True,
        )
        return err >= 0.07  # the reference's stop criterion

    sl.fit(
        net,
        data.train,
        validation=data.validation,
        config=cfg,
        seed=seed,
        threads=threads,
        progress=False,
        callback=on_epoch,
    )
    test = net.evaluate(data.test.x, data.test.y, loss="ce_per_step", loss_start=start, threads=threads)
    print(
        json.dumps(
            {"test_error": 1.0 - test["accuracy"], "rates_hz": test["rates_hz"], "seconds": time.perf_counter() - t0}
        ),
        flush=True,
    )


def sines(iterations: int, threads: int, seed: int) -> None:
    data = sum_of_sines(seed=seed)
    net = sines_network(seed)
    cfg = EpropConfig(
        epochs=100,
        batch_size=1,
        lr=3e-3,
        loss="mse",
        surrogate=bellec_pseudo_derivative(0.03),
        reg_rate=1e-5,
        reg_target_hz=10.0,
    )
    t0 = time.perf_counter()
    for k in range(iterations // 100):
        sl.fit(net, data.train, config=cfg, seed=seed + k, threads=threads, progress=False)
        rec = net.run(data.test.x)
        print(
            json.dumps(
                {
                    "iterations": 100 * (k + 1),
                    "normalised_mse": round(normalised_mse(rec.readout, data.test.y), 4),
                    "rate_hz": round(float(rec.rates_hz()[0].mean()), 2),
                    "seconds": round(time.perf_counter() - t0, 1),
                }
            ),
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=("evidence", "sines"))
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--n-train", type=int, default=2048)
    p.add_argument("--method", choices=("eprop", "bptt"), default="eprop")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if a.task == "evidence":
        evidence(a.iterations, a.n_train, a.method, a.threads, a.seed)
    else:
        sines(a.iterations, a.threads, a.seed)


if __name__ == "__main__":
    main()
