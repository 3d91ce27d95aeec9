"""Paper recipes: a registry of (task, method) -> a function that trains and evaluates.

Later methods add recipes with :func:`register`; the CLI (``spikeloom train TASK --method M``) and
``spikeloom recipes`` read this registry, so adding a recipe never touches the CLI.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from .errors import UnknownNameError


@dataclass(frozen=True)
class RecipeArgs:
    """Overrides a user can pass to any recipe (None = the paper's value)."""

    epochs: int | None = None
    hidden: int | None = None
    seed: int = 0
    threads: int = 0
    progress: bool = True
    #: Path of a dataset that cannot ship with spikeloom (e.g. the SHD files), for recipes that need one.
    data: str | None = None
    #: Neuron model, for recipes that offer several (e.g. ``sine --method force``: lif, izhikevich, theta).
    neuron: str | None = None
    #: Hardware model (a preset name or a :class:`spikeloom.hardware.Hardware`); None = no hardware.
    hardware: Any = None
    #: "ideal" (deploy after training), "aware" or "in-the-loop" (see :mod:`spikeloom.hardware`).
    hardware_mode: str = "ideal"
    #: Chip instances (or, in the loop, trials on the training chip) the test accuracy is measured on.
    chips: int = 10
    #: BPTT, DECOLLE, e-prop, TTFS, alpha and `mnist --method s4nn` recipes: a training-state file, resumed
    #: from when it exists and rewritten after every epoch; FORCE recipes: the reservoir and its place in the protocol,
    #: rewritten every 60 simulated seconds (see :func:`spikeloom.force.train_force`).
    checkpoint: str | None = None

    def resume_kwargs(self) -> dict[str, Any]:
        """``fit`` keywords for :attr:`checkpoint`: resume from the file if it exists, write it every epoch."""
        if self.checkpoint is None:
            return {}
        return {"resume": self.checkpoint if Path(self.checkpoint).is_file() else None, "checkpoint": self.checkpoint}

    def get(self, name: str, default: Any) -> Any:
        """The user's ``name`` if given, else the recipe's ``default``. An explicit 0 is the user's value
        (checked by the method, e.g. 0 epochs is refused by BPTT), not a request for the default."""
        value = getattr(self, name)
        return default if value is None else value


@dataclass
class RecipeResult:
    """What a recipe returns: final metrics (JSON-ready), history, and the trained model."""

    metrics: dict[str, Any]
    history: pl.DataFrame
    model: Any = None
    extra_files: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    task: str
    method: str
    paper: str
    description: str
    run: Callable[[RecipeArgs], RecipeResult]


_REGISTRY: dict[tuple[str, str], Recipe] = {}
_DEFAULT_METHOD: dict[str, str] = {}


def register(
    task: str, method: str, paper: str, description: str, default: bool = False
) -> Callable[[Callable[[RecipeArgs], RecipeResult]], Callable[[RecipeArgs], RecipeResult]]:
    """Decorator adding a recipe; the first (or ``default=True``) method of a task is its default."""

    def deco(fn: Callable[[RecipeArgs], RecipeResult]) -> Callable[[RecipeArgs], RecipeResult]:
        _REGISTRY[(task, method)] = Recipe(task, method, paper, description, fn)
        if default or task not in _DEFAULT_METHOD:
            _DEFAULT_METHOD[task] = method
        return fn

    return deco


def all_recipes() -> list[Recipe]:
    """Every registered recipe, sorted by task then method."""
    _load_builtin()
    return sorted(_REGISTRY.values(), key=lambda r: (r.task, r.method))


def get(task: str, method: str | None = None) -> Recipe:
    """The recipe for ``task`` and ``method`` (default method of the task when None)."""
    _load_builtin()
    tasks = sorted({t for t, _ in _REGISTRY})
    if task not in tasks:
        raise UnknownNameError(f"task: expected one of {tasks}, got {task!r}")
    method = method or _DEFAULT_METHOD[task]
    if (task, method) not in _REGISTRY:
        methods = sorted(m for t, m in _REGISTRY if t == task)
        raise UnknownNameError(f"method: expected one of {methods} for task {task!r}, got {method!r}")
    return _REGISTRY[(task, method)]


def _load_builtin() -> None:
    """Import every ``spikeloom.recipes_*`` module; each registers its recipes on import."""
    import importlib
    import pkgutil

    from . import __path__ as package_path

    for info in sorted(pkgutil.iter_modules(package_path), key=lambda m: m.name):
        if info.name.startswith("recipes_"):
            importlib.import_module(f"{__package__}.{info.name}")


def best_validation(result: Any) -> float:
    """Best validation accuracy of a ``fit`` result's whole run: its training state's best score (kept
    under ``restore_best``, also across resumes, whose histories hold only their own epochs), else the
    best of the history; NaN without validation."""
    state = getattr(result, "state", None)
    if state is not None and state.best_score is not None:
        return float(state.best_score)
    h = result.history
    if h.height and h["val_accuracy"].null_count() < h.height:
        return float(h["val_accuracy"].max())
    return float("nan")


def whole_run_history(result: Any) -> pl.DataFrame:
    """The history of a ``fit`` result's whole run: its training state's (every epoch, across resumes)
    when that holds all the epochs done, else the call's own (a state from a build that did not record
    the history)."""
    state = getattr(result, "state", None)
    if state is not None:
        h = state.history
        if h.height == state.epochs_done and h.height >= result.history.height:
            return h
    return result.history


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``fn`` and return (result, wall seconds)."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start
