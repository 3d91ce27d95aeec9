"""The ``spikeloom`` command line: ``spikeloom train TASK [--method M] ...`` and ``spikeloom recipes``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import recipes
from ._atomic import write_parquet_atomic, write_text_atomic
from .errors import InvalidParameterError, SpikeloomError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="spikeloom", description="Train spiking neural networks (paper recipes).")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a recipe and report test metrics")
    t.add_argument("task", help="task name, e.g. yinyang (see `spikeloom recipes`)")
    t.add_argument("--method", default=None, help="training method (default: the task's default)")
    t.add_argument("--epochs", type=int, default=None, help="epochs (default: the paper's)")
    t.add_argument("--hidden", type=int, default=None, help="hidden layer size (default: the paper's)")
    t.add_argument("--seed", type=int, default=0, help="seed of initialisation and shuffling")
    t.add_argument("--threads", type=int, default=0, help="worker threads (0 = all cores)")
    t.add_argument("--data", default=None, help="dataset path, for tasks whose data must be downloaded (shd)")
    t.add_argument(
        "--neuron", default=None, help="neuron model, for recipes offering several (force: lif, izhikevich, theta)"
    )
    t.add_argument("--out", type=Path, default=None, help="folder for history.parquet and the network")
    t.add_argument("--json", action="store_true", help="end the output with one JSON line of final metrics")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument(
        "--hardware",
        default=None,
        help="hardware preset (ideal, brainscales2), optionally with overrides: "
        "'ideal:bits=4,weight_range=0.5,weight_mismatch=0.1' (see spikeloom.hardware.Hardware.parse)",
    )
    t.add_argument(
        "--hardware-mode",
        default="ideal",
        choices=["ideal", "aware", "in-the-loop"],
        help="how the hardware is trained",
    )
    t.add_argument("--chips", type=int, default=10, help="chip instances the deployed test accuracy is measured on")
    t.add_argument(
        "--checkpoint",
        default=None,
        help="BPTT, DECOLLE, e-prop, TTFS, alpha, FORCE and mnist-s4nn recipes: training-state file, resumed from "
        "if it exists, "
        "rewritten every epoch (FORCE: every 60 simulated seconds)",
    )
    from .sweep import add_sweep_parser

    add_sweep_parser(sub)
    sub.add_parser("recipes", help="list the paper recipes")
    return p


def _train(a: argparse.Namespace) -> int:
    recipe = recipes.get(a.task, a.method)
    if a.hardware is not None or a.hardware_mode != "ideal":
        from .hardware import check_recipe

        check_recipe(recipe.task, recipe.method, a.hardware, a.hardware_mode)
    args = recipes.RecipeArgs(
        epochs=a.epochs,
        hidden=a.hidden,
        seed=a.seed,
        threads=a.threads,
        progress=not a.no_progress,
        data=a.data,
        neuron=a.neuron,
        hardware=a.hardware,
        hardware_mode=a.hardware_mode,
        chips=a.chips,
        checkpoint=a.checkpoint,
    )
    resumable = recipe.method in ("bptt", "decolle", "eprop", "force", "ttfs", "alpha") or (
        recipe.task,
        recipe.method,
    ) == ("mnist", "s4nn")
    if a.checkpoint is not None and not resumable:
        raise InvalidParameterError(
            "--checkpoint: only BPTT, DECOLLE, e-prop, FORCE, TTFS, alpha and `mnist --method s4nn` recipes can "
            f"resume, got {recipe.task} --method {recipe.method}"
            + (" (it averages weights across epochs in Python)" if recipe.method == "s4nn" else "")
        )
    result = recipe.run(args)
    m = result.metrics
    if "test_accuracy" in m:
        print(
            f"{recipe.task} / {recipe.method}: test accuracy {100 * m['test_accuracy']:.2f}% "
            f"after {m['epochs']} epochs in {m['train_seconds']:.1f} s"
        )
    if "chip_accuracy_mean" in m:
        where = "trials on its chip" if m["hardware_mode"] == "in-the-loop" else "fresh chips"
        print(
            f"  on hardware {m['hardware']} ({m['hardware_mode']}): test accuracy "
            f"{100 * m['chip_accuracy_mean']:.2f} +- {100 * m['chip_accuracy_std']:.2f}% over {m['chips']} {where}"
        )
    if "test_correlation" in m:
        print(
            f"{recipe.task} / {recipe.method}: test correlation {m['test_correlation']:.4f}, "
            f"rmse {m['test_rmse']:.4f} in {m['train_seconds']:.1f} s"
        )
    if a.out is not None:
        a.out.mkdir(parents=True, exist_ok=True)
        written = [a.out / "history.parquet"]
        write_parquet_atomic(result.history, written[0])
        if result.model is not None:
            written.append(a.out / "network.safetensors")
            result.model.save(written[-1])
        written.append(a.out / "metrics.json")
        write_text_atomic(json.dumps(m, indent=2) + "\n", written[-1])
        print("wrote " + ", ".join(str(w) for w in written))
    if a.json:
        print(json.dumps(m))
    return 0


def _list() -> int:
    rows = recipes.all_recipes()
    width = max(len(f"{r.task} --method {r.method}") for r in rows)
    for r in rows:
        print(f"{(r.task + ' --method ' + r.method).ljust(width)}  {r.description}\n{' ' * width}  [{r.paper}]")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``spikeloom`` command."""
    a = _parser().parse_args(argv)
    try:
        if a.command == "train":
            return _train(a)
        if a.command == "sweep":
            from .sweep import sweep_command

            return sweep_command(a)
        return _list()
    except SpikeloomError as e:
        print(f"spikeloom: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spikeloom: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
