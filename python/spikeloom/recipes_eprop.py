"""Recipes of e-prop (Bellec, Scherr et al. 2020) with the reference hyper-parameters, and BPTT on the same
evidence-accumulation network for comparison.

* ``sines --method eprop``: pattern generation, 100 frozen Poisson inputs (50 Hz) -> 100 LIF (tau_m 30 ms,
  v_th 0.03, the TF tutorial's ``LightLIF`` convention ``input_scale = one_minus_alpha``) -> 1 leaky readout
  (tau 30 ms), 1000 steps of 1 ms, sum-of-sines target, rate regulariser to 10 Hz. The tutorial uses plain
  gradient descent for 2000 iterations; Adam reaches the same error in fewer (``--epochs`` = iterations).
* ``evidence --method eprop``: evidence accumulation (7 cues, 2250 ms, recall in the last 150 ms), 40 inputs ->
  50 LIF + 50 ALIF (tau_m 20 ms, v_th 0.6, tau_a 2 s, beta = 1.7 (1 - rho) / (1 - alpha)) -> 2 readouts (tau 20
  ms), per-step cross-entropy in the recall window, random feedback B ~ N(0, 1), Adam lr 5e-3, batch 64,
  rate regulariser to 10 Hz.
* ``evidence --method bptt``: the same network, loss and optimiser trained with full BPTT.
* ``storerecall --method eprop``: store-recall (6 slots of 200 ms), same ALIF network as evidence.

One layer has one adaptation strength, so the 50 "LIF" neurons are ALIF neurons with ``tau_adapt = dt``: their
threshold rises by beta ~ 0.017 after a spike and decays within a millisecond, negligible against v_th = 0.6.
The engine has no refractory period (the reference uses 5 ms). One ``--epochs`` is one pass over the training
set (``n_train / 64`` iterations of batch 64).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .bptt import BPTTConfig
from .datasets import SequenceDataset, evidence_accumulation, normalised_mse, store_recall, sum_of_sines
from .eprop import EpropConfig, bellec_pseudo_derivative
from .recipes import RecipeArgs, RecipeResult, best_validation, register, timed
from .recurrent import Readout, RecurrentNetwork, SpikingLayer
from .training import fit

EPROP = "Bellec, Scherr, Subramoney, Hajek, Salaj, Legenstein & Maass 2020, Nat Commun 11:3625 (e-prop)"


def sines_network(seed: int, hidden: int = 100, n_inputs: int = 100) -> RecurrentNetwork:
    """The pattern-generation network of the TF tutorial (LightLIF convention, v_th 0.03, tau 30 ms)."""
    return RecurrentNetwork(
        n_inputs,
        [SpikingLayer.lif(hidden, tau_mem=30e-3, threshold=0.03, input_scale="one_minus_alpha")],
        Readout(1, tau=30e-3, input_scale="one_minus_alpha"),
        dt=1e-3,
        seed=seed,
    )


@register("sines", "eprop", EPROP, "sum-of-sines pattern generation, 100 Poisson -> 100 LIF -> 1, 1000 ms, e-prop")
def sines_eprop(args: RecipeArgs) -> RecipeResult:
    data = sum_of_sines(seed=args.seed)
    net = sines_network(args.seed, args.get("hidden", 100))
    cfg = EpropConfig(
        epochs=args.get("epochs", 1000),
        batch_size=1,
        lr=3e-3,
        loss="mse",
        surrogate=bellec_pseudo_derivative(0.03),
        reg_rate=1e-5,
        reg_target_hz=10.0,
    )
    result, seconds = timed(
        lambda: fit(
            net,
            data.train,
            config=cfg,
            seed=args.seed,
            threads=args.threads,
            progress=args.progress,
            **args.resume_kwargs(),
        )
    )
    rec = net.run(data.test.x)
    nmse = normalised_mse(rec.readout, data.test.y)
    h = result.history
    metrics = {
        "task": "sines",
        "method": "eprop",
        "seed": args.seed,
        "iterations": h.height,
        "normalised_mse": nmse,
        "rate_hz": float(rec.rates_hz()[0].mean()),
        "train_seconds": seconds,
        "ms_per_iteration": 1e3 * seconds / max(h.height, 1),
        "interrupted": result.interrupted,
    }
    return RecipeResult(metrics=metrics, history=h, model=net)


def evidence_network(seed: int, hidden: int = 100, n_inputs: int = 40, dt: float = 1e-3) -> RecurrentNetwork:
    """The evidence-accumulation network: half LIF-like (``tau_adapt = dt``), half ALIF (tau_a = 2 s)."""
    tau_m, tau_a = 20e-3, 2.0
    alpha, rho = math.exp(-dt / tau_m), math.exp(-dt / tau_a)
    beta = 1.7 * (1 - rho) / (1 - alpha)
    net = RecurrentNetwork(
        n_inputs,
        [SpikingLayer.alif_bellec(hidden, tau_mem=tau_m, tau_adapt=tau_a, beta=beta, threshold=0.6)],
        Readout(2, tau=20e-3),
        dt=dt,
        seed=seed,
    )
    taus = np.full(hidden, tau_a)
    taus[: hidden // 2] = dt
    net.set_parameters(**{"layers.0.tau_adapt": taus})
    return net


def _evidence_like(task: str, args: RecipeArgs, data: SequenceDataset, method: str) -> RecipeResult:
    assert data.loss_steps is not None
    start = int(data.loss_steps[0])
    net = evidence_network(args.seed, args.get("hidden", 100), n_inputs=data.n_channels, dt=data.dt)
    epochs = args.get("epochs", 62)  # 62 passes over 2048 trials = 1984 iterations of batch 64
    config: Any
    if method == "eprop":
        config = EpropConfig(
            epochs=epochs,
            batch_size=64,
            lr=5e-3,
            loss="ce_per_step",
            loss_start=start,
            surrogate=bellec_pseudo_derivative(0.6),
            feedback="random",
            feedback_sd=1.0,
            reg_rate=2e-6,
            reg_target_hz=10.0,
            restore_best=True,
        )
    else:
        config = BPTTConfig(
            epochs=epochs,
            batch_size=64,
            lr=5e-3,
            loss="ce_per_step",
            loss_start=start,
            surrogate=bellec_pseudo_derivative(0.6),
            restore_best=True,
        )
    result, seconds = timed(
        lambda: fit(
            net,
            data.train,
            validation=data.validation,
            config=config,
            seed=args.seed,
            threads=args.threads,
            progress=args.progress,
            **args.resume_kwargs(),
        )
    )
    test = net.evaluate(data.test.x, data.test.y, loss="ce_per_step", loss_start=start, threads=args.threads)
    h = result.history
    metrics = {
        "task": task,
        "method": method,
        "seed": args.seed,
        "epochs": h.height,
        "iterations": h.height * math.ceil(len(data.train) / 64),
        "test_error": 1.0 - test["accuracy"],
        "test_loss": test["loss"],
        "val_accuracy": best_validation(result),
        "epochs_done": result.state.epochs_done,
        "rates_hz": test["rates_hz"],
        "train_seconds": seconds,
        "interrupted": result.interrupted,
    }
    return RecipeResult(metrics=metrics, history=h, model=net)


@register("evidence", "eprop", EPROP, "evidence accumulation (7 cues, 2.25 s), 50 LIF + 50 ALIF, random e-prop")
def evidence_eprop(args: RecipeArgs) -> RecipeResult:
    return _evidence_like("evidence", args, evidence_accumulation(seed=args.seed), "eprop")


@register("evidence", "bptt", EPROP, "evidence accumulation, the e-prop network trained with BPTT (comparison)")
def evidence_bptt(args: RecipeArgs) -> RecipeResult:
    return _evidence_like("evidence", args, evidence_accumulation(seed=args.seed), "bptt")


@register("storerecall", "eprop", EPROP, "store-recall (6 slots x 200 ms, 1 bit), 50 LIF + 50 ALIF, random e-prop")
def storerecall_eprop(args: RecipeArgs) -> RecipeResult:
    return _evidence_like("storerecall", args, store_recall(seed=args.seed), "eprop")
