"""MNIST with the alpha-synapse method (Comsa et al. 2020): accuracy, training and inference speed.

What is measured
----------------
The recipe's network and settings, unchanged: 784-340-10 alpha neurons with 10 synchronisation pulses
per layer, the google/ihmehimmeli README hyper-parameters (``AlphaConfig.mnist()``: K = 0.18177,
threshold 1.16732, lr 1.0186e-3, lr_pulses 0.095375, clip_derivative 539.70, penalty_no_spike 48.375,
mean multipliers -0.27542 / 7.8391, batch 32, update_all_datapoints), ``ComsaLatency`` encoding
(``t = 1 - pixel/256`` ms, black pixels silent), the reference's 54000 / 6000 / 10000 split.

1. Training runs epoch after epoch until ``--epochs`` or the ``--minutes`` budget is used up (checked
   after each epoch: the next epoch must be expected to end inside the budget). Each epoch's validation
   accuracy (6000 images) is reported; the network of the best validation epoch is kept (as the reference)
   and its test accuracy (10000 images) is reported. Per-sample training time = (epoch wall time -
   validation time) / 54000, compared with ~3.5 ms/sample for the C++ reference (target >= 10x faster,
   i.e. <= 0.35 ms/sample; on 2 cores that puts the paper's 100 epochs at < 30 min).
2. Inference: samples/s of ``AlphaNetwork.run`` on the 10000 test images (median of 3 calls), all cores
   and one thread.

Output: a plain-text report, then one JSON line with all figures. ``run(argv)`` does the same without
the JSON line and returns the figures as a dict (used by ``benches/mnist_temporal.py``).

Usage: ``python benches/alpha_mnist.py [--minutes 15] [--epochs 100] [--seed 0] [--threads 0]``
(``--quick``: 2000 training images, 2 epochs, for smoke testing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from spikeloom.alpha import AlphaConfig
from spikeloom.datasets import mnist
from spikeloom.recipes_alpha import mnist_alpha_network
from spikeloom.training import fit

REFERENCE_MS_PER_SAMPLE = 3.5  # google/ihmehimmeli C++ training, per sample (figure quoted in the issue)
TARGET_ACCURACY = 0.978  # the paper's 97.96 % "slow" network, rounded
TARGET_SPEEDUP = 10.0
TARGET_MINUTES = 30.0  # the accuracy target reached in under 30 minutes of training


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark with command-line arguments ``argv`` (None: ``sys.argv[1:]``); print the text
    report and return the figures (what ``main`` prints as the JSON line)."""
    ap = argparse.ArgumentParser(prog="alpha_mnist.py", description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=15.0, help="training time budget")
    ap.add_argument("--epochs", type=int, default=100, help="at most this many epochs (paper: 100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="worker threads (0 = all cores)")
    ap.add_argument("--quick", action="store_true", help="2000 training images, 2 epochs")
    a = ap.parse_args(argv)

    start_all = time.perf_counter()
    data = mnist(validation=6000)
    net = mnist_alpha_network(seed=a.seed)
    enc = net.encoder
    train, val, test = data.train.encode(enc), data.validation.encode(enc), data.test.encode(enc)
    if a.quick:
        train = type(train)(train.x[:2000], train.y[:2000])
        a.epochs = min(a.epochs, 2)
    n_train = len(train)
    print(f"MNIST alpha benchmark: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"784-340-10 + 10 pulses/layer, {n_train} / {len(val)} / {len(test)} images, budget {a.minutes} min")

    # Validation cost (to separate it from the training time of an epoch): one timed evaluation.
    t0 = time.perf_counter()
    net.evaluate(val.x, val.y, threads=a.threads)
    val_seconds = time.perf_counter() - t0

    budget = 60.0 * a.minutes
    train_start = time.perf_counter()
    rows: list[dict[str, Any]] = []

    def on_epoch(m: dict[str, Any]) -> bool:
        rows.append(m)
        elapsed = time.perf_counter() - train_start
        per_sample_ms = 1e3 * max(m["seconds"] - val_seconds, 0.0) / n_train
        print(
            f"epoch {m['epoch']:3d}: train acc {100 * m['train_accuracy']:6.2f} %  val acc "
            f"{100 * m['val_accuracy']:6.2f} %  {m['seconds']:6.1f} s  ({per_sample_ms:.3f} ms/sample)  "
            f"elapsed {elapsed / 60:5.1f} min",
            flush=True,
        )
        mean_epoch = elapsed / len(rows)
        return elapsed + mean_epoch <= budget

    cfg = AlphaConfig.mnist(epochs=a.epochs)
    result = fit(
        net, train, validation=val, config=cfg, seed=a.seed, threads=a.threads, progress=False, callback=on_epoch
    )
    train_seconds = result.seconds
    h = result.history
    # The restored epoch: the last one with the best validation accuracy.
    best_epoch = h.height - int(np.argmax(h["val_accuracy"].to_numpy()[::-1])) if h.height else 0
    test_metrics = net.evaluate(test.x, test.y, threads=a.threads)

    epoch_seconds = h["seconds"].to_list()
    train_ms = [1e3 * max(s - val_seconds, 0.0) / n_train for s in epoch_seconds]
    ms_per_sample = statistics.median(train_ms)
    speedup = REFERENCE_MS_PER_SAMPLE / ms_per_sample if ms_per_sample > 0 else float("inf")
    minutes_for_100 = 100 * statistics.median(epoch_seconds) / 60

    def throughput(threads: int) -> float:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            net.run(test.x, threads=threads)
            times.append(time.perf_counter() - t0)
        return len(test) / statistics.median(times)

    inf_all, inf_one = throughput(a.threads), throughput(1)
    val_acc = h["val_accuracy"].to_list()
    reached = next((i + 1 for i, acc in enumerate(val_acc) if acc >= TARGET_ACCURACY), None)
    minutes_to_target = sum(epoch_seconds[:reached]) / 60 if reached is not None else None
    median_epoch = statistics.median(epoch_seconds)

    print()
    print(f"epochs run:                      {h.height} (best validation epoch {best_epoch}, restored)")
    acc = 100 * test_metrics["accuracy"]
    print(f"test accuracy (best val epoch):  {acc:.2f} %   target {100 * TARGET_ACCURACY:.1f} %")
    print(f"training wall time:              {train_seconds / 60:.1f} min")
    print(f"seconds per epoch (median):      {median_epoch:.1f} s (incl. {val_seconds:.1f} s validation)")
    print(
        f"training time per sample:        {ms_per_sample:.3f} ms (reference C++ ~{REFERENCE_MS_PER_SAMPLE} ms): "
        f"{speedup:.1f}x, target >= {TARGET_SPEEDUP:.0f}x"
    )
    print(f"projected 100 epochs:            {minutes_for_100:.1f} min (target < 30 min)")
    who = a.threads or "all"
    print(f"inference, {len(test)} images:      {inf_all:,.0f} samples/s ({who} threads), {inf_one:,.0f} (1 thread)")
    if reached is not None:
        print(
            f"validation accuracy >= {100 * TARGET_ACCURACY:.1f} % first at epoch {reached}, after "
            f"{minutes_to_target:.1f} min of training (target < {TARGET_MINUTES:.0f} min)"
        )
    else:
        print(
            f"validation accuracy did not reach {100 * TARGET_ACCURACY:.1f} % in {h.height} epochs "
            f"(best {100 * max(val_acc, default=0):.2f} %)"
        )
    return {
        "benchmark": "alpha_mnist",
        "quick": a.quick,
        "n_train": n_train,
        "epochs": h.height,
        "best_epoch": best_epoch,
        "test_accuracy": test_metrics["accuracy"],
        "val_accuracy_by_epoch": val_acc,
        "train_accuracy_by_epoch": h["train_accuracy"].to_list(),
        "epoch_seconds": epoch_seconds,
        "seconds_per_epoch_median": median_epoch,
        "validation_seconds": val_seconds,
        "train_seconds": train_seconds,
        "ms_per_sample": ms_per_sample,
        "speedup_vs_reference": speedup,
        "projected_minutes_100_epochs": minutes_for_100,
        "inference_samples_per_s": inf_all,
        "inference_samples_per_s_1_thread": inf_one,
        "first_epoch_val_at_target": reached,
        "minutes_to_target": minutes_to_target,
        "seed": a.seed,
        "threads": a.threads,
        "total_seconds": time.perf_counter() - start_all,
    }


def main() -> None:
    print(json.dumps(run(sys.argv[1:])))


if __name__ == "__main__":
    main()
