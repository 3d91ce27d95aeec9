"""Sequential MNIST with Yin et al. 2021's adaptive LIF network (the ``smnist --method bptt`` recipe).

Yin et al.'s S-MNIST script configuration: 784 steps, each showing the current binary pixel
(``pixel > 0.1``) and the next three; 64 and 256 recurrent ALIF layers, a 256 feed-forward ALIF layer and
10 spiking ALIF outputs (Yin's form: b = rho b + (1 - rho) z, threshold 0.01 + 1.8 b, reset by the adaptive
threshold, input scaled by 1 - alpha, trainable tau_m ~ N(20, 5) ms and tau_adapt ~ N(200, 25) ms);
Xavier-uniform feed-forward and zero recurrent weights; multi-Gaussian surrogate; cross-entropy on the output
spike counts with truncated BPTT over 100-step windows (counts carried); Adamax lr 8e-3 with linear decay
over 200 epochs, batch 300.
Target: >= 98.0 % test accuracy (Yin et al. report 98.7 % after 200 epochs on 60,000 images).

Full training does not fit a CPU session: the script trains on ``--n-train`` images for as many epochs as
``--minutes`` allows, prints the validation curve (5,000 held-out images) and the test accuracy of the
best epoch, the measured seconds per training sample, and the projected wall time of the full protocol
(55,000 images x 200 epochs) at that speed.

Usage: ``python benches/smnist_alif.py [--minutes 20] [--n-train 5000] [--threads 0] [--checkpoint FILE]``.
With ``--checkpoint`` the run's training state is written after every epoch and a later run with the
same file continues where it stopped (bit for bit the same as one long run), so the 200-epoch protocol
can be completed over several sessions; the end of each run prints the validation curve of all of them
(the state records it). ``benches/checkpoints/`` keeps the state of the run in progress.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from spikeloom.checkpoint import TrainingState
from spikeloom.datasets import sequential_mnist
from spikeloom.recipes import RecipeArgs
from spikeloom.recipes_bptt import smnist_bptt

TARGET = 0.98


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--checkpoint", default=None, help="training-state file: resumed from if present, saved per epoch")
    a = ap.parse_args()
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []

    def on_epoch(m: dict[str, Any]) -> bool:
        rows.append(m)
        elapsed = time.perf_counter() - start
        print(
            f"epoch {m['epoch']:3d}: train acc {100 * m['train_accuracy']:6.2f} %  val acc "
            f"{100 * (m['val_accuracy'] or 0):6.2f} %  rates {[round(r, 1) for r in m['rates_hz']]} Hz  "
            f"{m['seconds']:.0f} s  (elapsed {elapsed / 60:.1f} min)",
            flush=True,
        )
        return elapsed + elapsed / len(rows) <= 60 * a.minutes

    args = RecipeArgs(epochs=a.epochs, threads=a.threads, progress=False, checkpoint=a.checkpoint)
    result = smnist_bptt(args, n_train=a.n_train, callback=on_epoch)
    m = result.metrics
    # Each epoch's seconds include scoring the 5,000 validation images: time that once and subtract it.
    val = sequential_mnist(validation=5000, window=4).validation
    t0 = time.perf_counter()
    result.model.evaluate(val.x, val.y, loss="ce_counts", loss_start=1, threads=a.threads)
    val_s = time.perf_counter() - t0
    epoch_s = [max(r["seconds"] - val_s, 0.0) for r in rows]
    per_sample = (sum(epoch_s) / len(epoch_s)) / a.n_train if epoch_s else float("nan")
    projected_h = per_sample * 55000 * 200 / 3600
    print()
    if a.checkpoint is not None and m["epochs_done"]:
        # The checkpoint's history holds every epoch of the run, across the sessions that resumed it.
        curve = TrainingState.load(a.checkpoint).history
        print(f"validation curve of the whole run ({curve.height} epochs recorded in the checkpoint):")
        for lo in range(0, curve.height, 10):
            part = curve[lo : lo + 10]
            vals = " / ".join(f"{100 * v:.2f}" for v in part["val_accuracy"])
            print(f"  epochs {part['epoch'][0]:3d}-{part['epoch'][-1]:3d}: {vals} %")
    print(f"epochs run: {m['epochs']} on {a.n_train} training images ({m['epochs_done']} of {a.epochs} done in all)")
    print(f"test accuracy (best validation epoch): {100 * m['test_accuracy']:.2f} % (target {100 * TARGET:.1f} %)")
    if epoch_s:
        print(
            f"training time per sample: {per_sample * 1e3:.1f} ms (validation of 5,000 images: {val_s:.0f} s per epoch)"
        )
        print(f"projected full protocol (55,000 images x 200 epochs): {projected_h:.1f} h at this speed")
    timing = {"ms_per_sample": per_sample * 1e3, "projected_hours": projected_h} if epoch_s else {}
    # (No epoch run, e.g. only the test figure of a checkpoint: no timing rather than NaN.)
    print(json.dumps({**m, "n_train": a.n_train, **timing}))


if __name__ == "__main__":
    main()
