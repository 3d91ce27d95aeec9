"""Recipes of the exact time-to-first-spike method (Göltz et al. 2021)."""

from __future__ import annotations

from . import _validation as v
from . import hardware
from .datasets import yin_yang
from .encoders import LinearLatency
from .network import TTFSNetwork
from .neurons import LIF
from .recipes import RecipeArgs, RecipeResult, register, timed
from .training import TTFSConfig, fit

GOLTZ = "Göltz, Kriener et al. 2021, Nat. Mach. Intell. 3:823 (fast and deep, first-spike times)"

#: The unit of time of the recipe (tau_syn = tau_mem), seconds. All paper times scale with it.
YINYANG_TAU = 5e-3


@register("yinyang", "ttfs", GOLTZ, "4-120-3 LIF (+bias spike), exact TTFS gradients, 300 epochs; paper ~95.9%")
def yinyang_ttfs(args: RecipeArgs) -> RecipeResult:
    data = yin_yang()
    neuron = LIF(tau_mem=YINYANG_TAU, tau_syn=YINYANG_TAU, v_th=1.0)
    enc = LinearLatency.goltz(YINYANG_TAU)
    hidden = v.positive_int("hidden", args.hidden) if args.hidden is not None else 120
    net = TTFSNetwork([4, hidden, 3], neuron=neuron, seed=args.seed, encoder=enc)
    cfg = TTFSConfig(epochs=args.epochs if args.epochs is not None else 300)
    hw = hardware.recipe_hardware(args, net)
    result, seconds = timed(
        lambda: (
            hardware.fit_hardware(
                net,
                data.train.encode(enc),
                hardware=hw,
                mode=args.hardware_mode,
                chip_seed=args.seed,
                validation=data.validation.encode(enc),
                config=cfg,
                seed=args.seed,
                threads=args.threads,
                progress=args.progress,
                **args.resume_kwargs(),
            )
            if hw is not None
            else fit(
                net,
                data.train.encode(enc),
                validation=data.validation.encode(enc),
                config=cfg,
                seed=args.seed,
                threads=args.threads,
                progress=args.progress,
                **args.resume_kwargs(),
            )
        )
    )
    test = net.evaluate(enc(data.test.x), data.test.y, threads=args.threads)
    metrics = {
        "task": "yinyang",
        "method": "ttfs",
        "seed": args.seed,
        "epochs": result.history.height,
        "epochs_done": result.state.epochs_done if result.state is not None else result.history.height,
        "hidden": hidden,
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "train_seconds": seconds,
        "interrupted": result.interrupted,
    }
    if hw is not None:
        metrics.update(hardware.recipe_metrics(args, net, hw, (enc(data.test.x), data.test.y)))
    return RecipeResult(metrics=metrics, history=result.history, model=net)
