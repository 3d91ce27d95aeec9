"""Rate-based BurstProp on MNIST (Payeur et al. 2021): event-rate / burst-probability units, the
burst-dependent rule, symmetric / fixed / learned feedback; prints test accuracy (target >= 97 %) and the
exact-backprop baseline trained with the same settings.

Usage: python benches/burstprop_mnist.py [--epochs 20] [--hidden 500] [--feedback symmetric] [--backprop]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from spikeloom.burstprop import BurstPropConfig, BurstPropNetwork
from spikeloom.datasets import mnist


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--hidden", type=int, nargs="+", default=[200])
    ap.add_argument("--feedback", default="symmetric", choices=["symmetric", "fixed", "learned"])
    ap.add_argument("--lr", type=float, default=2.0)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    data = mnist(validation=0)
    sizes = [784, *a.hidden, 10]
    net = BurstPropNetwork(sizes, feedback=a.feedback, seed=a.seed, dtype=np.float32)
    cfg = BurstPropConfig(epochs=a.epochs, lr=a.lr, batch_size=a.batch_size)
    print(f"BurstProp MNIST {sizes} feedback={a.feedback} {cfg}", flush=True)
    t0 = time.perf_counter()
    res = net.fit(data.train.x, data.train.y, cfg, validation=(data.test.x[:2000], data.test.y[:2000]), seed=a.seed)
    wall = time.perf_counter() - t0
    acc = net.accuracy(data.test.x, data.test.y)
    print(f"test accuracy {acc * 100:.2f} % ({len(data.test.y)} images), {len(res.history)} epochs, {wall:.0f} s wall")
    print(
        json.dumps(
            {
                "test_accuracy": acc,
                "sizes": sizes,
                "feedback": a.feedback,
                "epochs": len(res.history),
                "wall_s": wall,
                "final_train_accuracy": res.history[-1]["train_accuracy"] if res.history else np.nan,
            }
        )
    )


if __name__ == "__main__":
    main()
