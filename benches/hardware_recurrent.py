"""A recurrent BPTT network on a low-precision analog chip: ideal training, hardware-aware training and
hardware-in-the-loop training, measured on chips.

What is measured
----------------
The RandMan recipe network (10 classes x 100 units x 100 steps, 1 ms; 100 - 128 recurrent current-based
LIF - 10 leaky readout, ``ce_max``, fast sigmoid slope 10, Adam 5e-3, batch 32) on a chip family with
``--bits`` of weight magnitude plus a sign over +-``--range`` and a relative fixed-pattern spread of
``--mismatch`` on every synapse, threshold and time constant, and lost input spikes with probability
``--spike-loss``, Gaussian input spike-time jitter of sd ``--jitter`` seconds (rounded to steps of
1 ms) and membrane noise of ``--membrane-noise`` thresholds (stationary sd; BPTT only) in every trial;
or ``--preset`` (``spikeloom.hardware.Hardware.parse``: a preset with
overrides, e.g. ``brainscales2:weight_range=none`` for the BrainScaleS-2-like profile with each weight
tensor's 6-bit scale set by its largest magnitude, as the chip's weight scale is calibrated per
projection; time unit tau_syn = 10 ms). Trained three ways for ``--epochs`` epochs (best validation epoch kept,
validation measured on chip ``--chip-seed`` in the hardware modes):

- ideal, then deployed on ``--chips`` fresh chip instances (seeds 1000, 1001, ...);
- hardware-aware: every batch on a freshly sampled chip (gradient through the chip's effective
  parameters, straight through the quantiser), then deployed on the same fresh chips;
- in the loop: every batch on chip ``--chip-seed`` (the reverse pass of the ideal model at the chip's
  trajectory, as Cramer et al. 2022 trained on BrainScaleS-2), then measured on that chip in
  ``--chips`` trials of new trial noise.

``--method decolle`` trains a DECOLLE network instead (100 - 128 LIF - 10 with per-layer local readouts,
smooth-L1 local losses, Adamax 2e-3, batch 32, one update per batch): its gradients are local, so in the
loop the chip's gradient is the ideal local gradient at the chip's trajectory.

Printed: each mode's software test accuracy (float weights, ideal model), test accuracy on chips
(mean +- sd over chips or trials) and wall time; then one JSON line with all figures.

Usage: ``python benches/hardware_recurrent.py [--epochs 15] [--chips 10] [--bits 4] [--range 0.5]``
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
from spikeloom.datasets import randman
from spikeloom.hardware import Hardware, chip_accuracy, fit_hardware


def network(method: str, seed: int, hidden: int) -> Any:
    if method == "decolle":
        return sl.DecolleNetwork(100, [hidden], 10, dt=1e-3, seed=seed)
    return sl.RecurrentNetwork(
        100,
        [sl.SpikingLayer.cuba(hidden, tau_mem=20e-3, tau_syn=10e-3, gain=1.0, rec_gain=0.3)],
        sl.Readout(10, tau=20e-3),
        dt=1e-3,
        seed=seed,
    )


def config(method: str, epochs: int) -> Any:
    if method == "decolle":
        return sl.DecolleConfig(epochs=epochs, batch_size=32, lr=2e-3, online=False, restore_best=True)
    return sl.BPTTConfig(
        epochs=epochs,
        batch_size=32,
        lr=5e-3,
        loss="ce_max",
        surrogate=sl.surrogates.FastSigmoid(slope=10.0),
        restore_best=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", choices=("bptt", "decolle"), default="bptt")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--chips", type=int, default=10)
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--range", type=float, default=0.5, help="weight range (the weights' unit: threshold 1)")
    ap.add_argument("--mismatch", type=float, default=0.1)
    ap.add_argument("--spike-loss", type=float, default=0.05)
    ap.add_argument("--jitter", type=float, default=0.0, help="sd of the input spike-time jitter, seconds")
    ap.add_argument("--membrane-noise", type=float, default=0.0, help="stationary membrane sd, thresholds")
    ap.add_argument("--preset", default=None, help="a hardware preset with overrides (replaces the chip options)")
    ap.add_argument("--samples-per-class", type=int, default=1000)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--chip-seed", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()

    data = randman(n_classes=10, n_units=100, n_steps=100, samples_per_class=args.samples_per_class, seed=args.seed)
    test = (data.test.x, data.test.y)
    hw = Hardware(
        bits=args.bits,
        weight_range=args.range,
        weight_mismatch=args.mismatch,
        threshold_mismatch=args.mismatch,
        tau_mismatch=args.mismatch,
        spike_loss=args.spike_loss,
        jitter=args.jitter,
        membrane_noise=args.membrane_noise,
        name=f"{args.bits}-bit, +-{args.range}, {100 * args.mismatch:g} % mismatch",
    )
    if args.preset is not None:
        hw = Hardware.parse(args.preset, time_unit=10e-3)
    cfg = config(args.method, args.epochs)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; spikeloom {sl.__version__}")
    print(
        f"RandMan 10 x 100 x 100 steps, {len(data.train.y)} training / {len(data.test.y)} test samples; "
        f"{args.method}: "
        + ("100-{h}-10 DECOLLE LIF" if args.method == "decolle" else "100-{h}r-10 current-based LIF").format(
            h=args.hidden
        )
        + f", {args.epochs} epochs"
    )
    if args.preset is not None:
        print(f"chip: {hw}\n")
    else:
        print(
            f"chip: {args.bits} bits + sign over +-{args.range}, {100 * args.mismatch:g} % synapse / threshold / "
            f"tau spread, {100 * args.spike_loss:g} % lost input spikes, {1e3 * args.jitter:g} ms input jitter "
            f"and {args.membrane_noise:g} thresholds of membrane noise per trial\n"
        )
    rows: dict[str, Any] = {}
    for mode in ("ideal", "aware", "in-the-loop"):
        net = network(args.method, args.seed, args.hidden)
        t0 = time.perf_counter()
        fit_hardware(
            net,
            data.train,
            hardware=hw,
            mode=mode,
            chip_seed=args.chip_seed,
            validation=data.validation,
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
        weights = np.concatenate(
            [p.ravel() for k, p in net.parameters().items() if k.rsplit(".", 1)[-1].startswith("w")]
        )
        rows[mode] = {
            "software_accuracy": software,
            **chips,
            "train_seconds": seconds,
            "weight_abs_p99": float(np.quantile(np.abs(weights), 0.99)),
        }
        where = f"chip {args.chip_seed}, {args.chips} trials" if mode == "in-the-loop" else f"{args.chips} fresh chips"
        print(
            f"{mode:>12}: software {100 * software:6.2f} %   on chip {100 * chips['chip_accuracy_mean']:6.2f} "
            f"+- {100 * chips['chip_accuracy_std']:.2f} % ({where})   {seconds:6.1f} s   "
            f"|w| p99 {rows[mode]['weight_abs_p99']:.3f}"
        )
    print(json.dumps({"bench": "hardware_recurrent", "args": vars(args), "modes": rows}))


if __name__ == "__main__":
    main()
