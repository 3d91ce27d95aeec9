"""Recipes of burst-dependent plasticity (Payeur, Guerguiev, Zenke, Richards & Naud 2021).

* ``xor --method burst``: the spiking XOR network of Fig. 4 (5 populations of 500 stochastic-burst
  two-compartment neurons, background Poisson drive, event-only feedforward / burst-only feedback
  synapses, teaching current into the output dendrites). ``--epochs`` counts passes over the 4
  patterns; the default is the reference protocol of ``benches/burst_xor.py`` (500 epochs of 8 s
  examples, 2 s averages, 0.1 ms steps: 16,000 simulated seconds).
* ``mnist --method burstprop`` / ``digits --method burstprop``: the rate-based BurstProp approximation
  (event-rate / burst-probability units, symmetric feedback), 784-200-10 (the coarse-grained model's
  size) / 64-100-10.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .burst import XORConfig, train_xor
from .burstprop import BurstPropConfig, BurstPropNetwork
from .datasets import digits, mnist
from .recipes import RecipeArgs, RecipeResult, register, timed

PAYEUR = "Payeur, Guerguiev, Zenke, Richards & Naud 2021, Nat. Neurosci. 24:1010 (burst-dependent plasticity)"


@register("xor", "burst", PAYEUR, "spiking XOR, 5 x 500 two-compartment neurons, burst-dependent rule; target 4/4")
def xor_burst(args: RecipeArgs) -> RecipeResult:
    cfg = XORConfig(
        n=args.get("hidden", 500),
        examples=4 * (args.epochs if args.epochs is not None else 500),
        seed=args.seed,
        threads=args.threads,
    )
    (net, res), seconds = timed(lambda: train_xor(cfg, progress=args.progress))
    metrics = {
        "task": "xor",
        "method": "burst",
        "seed": args.seed,
        "examples": len(res.history),
        "correct_patterns": res.correct,
        "output_rates_hz": {f"{a}{b}": r for (a, b), r in res.rates.items()},
        "simulated_seconds": res.simulated_seconds,
        "train_seconds": seconds,
        "interrupted": res.interrupted,
    }
    return RecipeResult(metrics=metrics, history=pl.DataFrame(res.history), model=net)


def _burstprop(args: RecipeArgs, task: str, data, sizes: list[int], epochs: int) -> RecipeResult:
    net = BurstPropNetwork(sizes, feedback="symmetric", seed=args.seed, dtype=np.float32)
    cfg = BurstPropConfig(epochs=args.epochs if args.epochs is not None else epochs)
    val = (data.validation.x, data.validation.y)
    res, seconds = timed(
        lambda: net.fit(data.train.x, data.train.y, cfg, validation=val, seed=args.seed, progress=args.progress)
    )
    metrics = {
        "task": task,
        "method": "burstprop",
        "seed": args.seed,
        "epochs": len(res.history),
        "test_accuracy": net.accuracy(data.test.x, data.test.y),
        "train_seconds": seconds,
        "interrupted": res.interrupted,
    }
    return RecipeResult(metrics=metrics, history=pl.DataFrame(res.history), model=net)


@register("mnist", "burstprop", PAYEUR, "rate-based BurstProp 784-200-10, symmetric feedback, 25 epochs; 97.4%")
def mnist_burstprop(args: RecipeArgs) -> RecipeResult:
    return _burstprop(args, "mnist", mnist(validation=5000), [784, args.get("hidden", 200), 10], 25)


@register("digits", "burstprop", PAYEUR, "rate-based BurstProp 64-100-10 on sklearn digits, 30 epochs")
def digits_burstprop(args: RecipeArgs) -> RecipeResult:
    return _burstprop(args, "digits", digits(seed=args.seed), [64, args.get("hidden", 100), 10], 30)
