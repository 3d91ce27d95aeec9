"""Recipes of DECOLLE's local learning (Kaiser, Mostafa & Neftci 2020).

* ``seqdigits --method decolle``: sklearn's 8x8 digits fed row by row as input currents (8 channels x 32
  steps of 1 ms, the data of ``seqdigits --method bptt``), a 128-128-128 DECOLLE stack with fixed
  random readouts, SmoothL1 local losses, online Adamax updates (lr 2e-3, betas (0, 0.95)).

The reference's time constants (tau_syn 12.5 ms, tau_mem 33 ms) suit DVS event streams binned at 1 ms.
Here a row lasts 4 steps, and with them the network reaches only ~60 %: a feed-forward stack of
exponential traces keeps no order, so long traces blur the rows together. Short traces (2 ms / 3 ms)
make every step a classifier of the current rows whose readouts add up over the sequence (~87 %).
"""

from __future__ import annotations

from .datasets import sequential_digits
from .decolle import DecolleConfig, DecolleNetwork
from .recipes import RecipeArgs, RecipeResult, best_validation, register, timed
from .training import fit

DECOLLE = "Kaiser, Mostafa & Neftci 2020, Front. Neurosci. 14:424 (DECOLLE: deep continuous local learning)"


@register("seqdigits", "decolle", DECOLLE, "sklearn 8x8 digits row by row (8 channels x 32 steps), 3-layer DECOLLE")
def seqdigits_decolle(args: RecipeArgs) -> RecipeResult:
    data = sequential_digits(seed=args.seed, steps_per_row=4, encoding="current")
    hidden = args.get("hidden", 128)
    net = DecolleNetwork(8, [hidden] * 3, 10, dt=data.dt, tau_syn=2e-3, tau_mem=3e-3, tau_ref=2e-3, seed=args.seed)
    cfg = DecolleConfig(
        epochs=args.get("epochs", 60),
        batch_size=32,
        lr=2e-3,
        optimizer="adamax",
        lr_step=20,
        lr_gamma=0.3,
        loss="smooth_l1",
        burn_in=4,
        online=True,
        restore_best=True,
    )
    result, seconds = timed(
        lambda: fit(
            net,
            data.train,
            validation=data.validation,
            config=cfg,
            seed=args.seed,
            threads=args.threads,
            progress=args.progress,
            **args.resume_kwargs(),
        )
    )
    test = net.evaluate(data.test.x, data.test.y, loss=cfg.loss, burn_in=cfg.burn_in, threads=args.threads)
    h = result.history
    metrics = {
        "task": "seqdigits",
        "method": "decolle",
        "seed": args.seed,
        "epochs": h.height,
        "test_accuracy": test["accuracy"],
        "test_layer_accuracy": test["layer_accuracy"],
        "test_loss": test["loss"],
        "val_accuracy": best_validation(result),
        "epochs_done": result.state.epochs_done,
        "rates_hz": test["rates_hz"],
        "train_seconds": seconds,
        "interrupted": result.interrupted,
    }
    return RecipeResult(metrics=metrics, history=h, model=net)
