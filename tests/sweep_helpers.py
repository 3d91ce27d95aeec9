"""Run functions for the sweep tests (module level, so that worker processes can import them)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import spikeloom as sl
from spikeloom.hardware import Hardware, monte_carlo


def tiny_run(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Deploy a small random TTFS network on a chip with ``bits`` and ``mismatch``; optional ``sleep``
    (seconds) makes the run last long enough to kill a worker under it; ``fail`` raises."""
    if settings.get("fail"):
        raise ValueError(f"run {settings['seed']} was told to fail")
    time.sleep(float(settings.get("sleep", 0.0)))
    rng = np.random.default_rng(int(settings["seed"]))
    x = rng.uniform(0.0, 0.01, (64, 4))
    y = rng.integers(0, 3, 64)
    net = sl.TTFSNetwork([4, 6, 3], neuron=sl.LIF(5e-3, 5e-3, 1.0), seed=int(settings["seed"]))
    hw = Hardware(bits=int(settings.get("bits", 6)), weight_range=2.1, threshold_mismatch=settings.get("mismatch", 0.0))
    df = monte_carlo(net, (x, y), hw, chips=2, threads=1)
    return {"accuracy": float(df["accuracy"].mean()), "loss": float(df["loss"].mean())}
