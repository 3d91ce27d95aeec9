"""Parameter sweeps: many training runs over a grid or a list of settings, locally or on Dask.

``spikeloom.sweep(grid={...})`` runs one function per setting (by default :func:`run_recipe`, which
trains a paper recipe with optional hardware settings) and returns a polars DataFrame with one row per
run: its settings, its metrics, ``status`` (``"ok"`` / ``"error"``), ``error``, ``seconds`` (wall time
of the run) and ``worker``. With ``out=FOLDER`` every finished run is written at once, atomically, as
``FOLDER/run-<id>.parquet`` (the id is a hash of the settings); a sweep pointed at the same folder
resumes: finished runs are read back, failed and missing runs are run.

Backends: ``"local"`` (a process pool over all cores; every run gets one engine thread, so cores are
not oversubscribed), ``"dask"`` (a ``LocalCluster`` by default, or the scheduler at ``address``;
runs lost with a dying worker are rescheduled by Dask), and ``"serial"`` (in this process, one run
after another; the reference for speed-ups).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import polars as pl

from ._atomic import write_atomic, write_parquet_atomic
from .errors import InvalidParameterError, SpikeloomError

BACKENDS = ("local", "dask", "serial")

#: Keys of :func:`run_recipe` settings that are hardware fields (overrides of the preset).
HARDWARE_FIELDS = (
    "bits",
    "weight_range",
    "weight_mismatch",
    "threshold_mismatch",
    "tau_mismatch",
    "jitter",
    "spike_loss",
    "membrane_noise",
)

_SCALAR = (bool, int, float, str, type(None))


def run_recipe(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Train one paper recipe and return its final metrics (the default run of :func:`sweep`).

    Settings: ``task`` (default ``"yinyang"``), ``method``, ``epochs``, ``hidden``, ``seed``,
    ``threads`` (default 1 inside a sweep worker, else 0), ``hardware`` (a preset name), ``hardware_mode``,
    ``chips``, and any hardware field (``bits``, ``weight_range``, ``weight_mismatch``,
    ``threshold_mismatch``, ``tau_mismatch``, ``jitter`` in seconds, ``spike_loss``,
    ``membrane_noise``) overriding the
    preset (default preset ``"ideal"`` when only fields are given).
    """
    from . import recipes
    from .hardware import Hardware

    s = dict(settings)
    known = {"task", "method", "epochs", "hidden", "seed", "threads", "hardware", "hardware_mode", "chips", "data"}
    unknown = sorted(set(s) - known - set(HARDWARE_FIELDS))
    if unknown:
        raise InvalidParameterError(
            f"settings: expected keys among {sorted(known | set(HARDWARE_FIELDS))}, got unknown {unknown}"
        )
    recipe = recipes.get(s.get("task", "yinyang"), s.get("method"))
    overrides = {k: s[k] for k in HARDWARE_FIELDS if k in s}
    hw: Any = s.get("hardware")
    if overrides or hw is not None:
        unit = 5e-3
        base = Hardware.preset(hw if isinstance(hw, str) else "ideal", time_unit=unit)
        hw = base.replace(**overrides, name=base.name if not overrides else f"{base.name}*")
    threads = s.get("threads", 1 if os.environ.get("SPIKELOOM_SWEEP_WORKER") else 0)
    args = recipes.RecipeArgs(
        epochs=s.get("epochs"),
        hidden=s.get("hidden"),
        seed=s.get("seed", 0),
        threads=threads,
        progress=False,
        data=s.get("data"),
        hardware=hw,
        hardware_mode=s.get("hardware_mode", "ideal"),
        chips=s.get("chips", 10),
    )
    if hw is not None or args.hardware_mode != "ideal":
        from .hardware import check_recipe

        check_recipe(recipe.task, recipe.method, hw, args.hardware_mode)
    m = recipe.run(args).metrics
    return {k: val for k, val in m.items() if isinstance(val, _SCALAR) and k not in settings}


def run_id(settings: Mapping[str, Any]) -> str:
    """Stable id of a run: a hash of its settings (key order does not matter)."""
    return hashlib.sha1(json.dumps(dict(settings), sort_keys=True).encode()).hexdigest()[:16]


def expand(
    grid: Mapping[str, Sequence[Any]] | None, runs: Sequence[Mapping[str, Any]] | None, fixed: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """The list of settings: the Cartesian product of ``grid`` (last key varies fastest) and/or the
    explicit ``runs``, each merged over ``fixed``. Values must be scalars (bool, int, float, str, None)."""
    if grid is None and runs is None:
        raise InvalidParameterError("grid: expected a grid or a list of runs, got neither")
    base = dict(fixed or {})
    out: list[dict[str, Any]] = []
    if grid is not None:
        if not isinstance(grid, Mapping):
            raise InvalidParameterError(
                f"grid: expected a mapping of name -> list of values, got {type(grid).__name__}"
            )
        for k, vals in grid.items():
            if isinstance(vals, str | bytes) or not isinstance(vals, Sequence) or len(vals) == 0:
                raise InvalidParameterError(f"grid[{k!r}]: expected a non-empty list of values, got {vals!r}")
        keys = list(grid)
        for combo in itertools.product(*(grid[k] for k in keys)):
            out.append({**base, **dict(zip(keys, combo, strict=True))})
    for r in runs or []:
        if not isinstance(r, Mapping):
            raise InvalidParameterError(f"runs: expected mappings of settings, got {type(r).__name__}")
        out.append({**base, **dict(r)})
    ids: dict[str, int] = {}
    for i, s in enumerate(out):
        for k, val in s.items():
            if not isinstance(k, str) or not isinstance(val, _SCALAR):
                raise InvalidParameterError(f"settings[{i}][{k!r}]: expected a scalar value, got {val!r}")
        rid = run_id(s)
        if rid in ids:
            raise InvalidParameterError(f"runs: settings {i} and {ids[rid]} are the same run ({s})")
        ids[rid] = i
    return out


def _execute(
    run: Callable[[Mapping[str, Any]], Mapping[str, Any]], settings: dict[str, Any], index: int
) -> dict[str, Any]:
    """One run, never raising: metrics or the error, with timing and the worker's name."""
    os.environ["SPIKELOOM_SWEEP_WORKER"] = "1"
    start = time.perf_counter()
    row: dict[str, Any] = {"run_id": run_id(settings), "index": index, **settings}
    try:
        metrics = run(settings)
        if not isinstance(metrics, Mapping):
            raise InvalidParameterError(
                f"run: expected the run function to return a dict, got {type(metrics).__name__}"
            )
        row.update({k: val for k, val in metrics.items() if k not in row})
        row["status"], row["error"] = "ok", None
    except Exception as e:  # a failed run is recorded, not raised
        row["status"], row["error"] = "error", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=5)}"
    row["seconds"] = time.perf_counter() - start
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return row


def _part(out: Path, rid: str) -> Path:
    return out / f"run-{rid}.parquet"


def _load_finished(out: Path, ids: set[str]) -> dict[str, pl.DataFrame]:
    done: dict[str, pl.DataFrame] = {}
    for p in out.glob("run-*.parquet"):
        rid = p.stem[len("run-") :]
        if rid not in ids:
            continue
        try:
            df = pl.read_parquet(p)
        except Exception:  # an unreadable part is run again
            continue
        if df.height == 1 and df["status"][0] == "ok":
            done[rid] = df
    return done


def sweep(
    run: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
    *,
    grid: Mapping[str, Sequence[Any]] | None = None,
    runs: Sequence[Mapping[str, Any]] | None = None,
    fixed: Mapping[str, Any] | None = None,
    out: str | os.PathLike[str] | None = None,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
    callback: Callable[[dict[str, Any]], None] | None = None,
) -> pl.DataFrame:
    """Run ``run(settings)`` for every setting and collect one row per run.

    Args:
        run: a picklable module-level function ``settings -> metrics dict`` (default :func:`run_recipe`).
        grid: name -> list of values; the Cartesian product is run.
        runs: an explicit list of settings (added after the grid's).
        fixed: settings shared by every run.
        out: folder of the Parquet parts (one per finished run, written atomically); resumes from it.
        backend: ``"local"`` (processes), ``"dask"`` or ``"serial"``.
        workers: processes / Dask workers (default: all cores).
        address: Dask scheduler address (``tcp://host:8786``); default: a new ``LocalCluster``.
        progress: show a progress bar (stderr).
        callback: called in this process with every finished row (e.g. to log or to stop).

    Returns:
        One row per run, in the order of the settings: ``run_id``, ``index``, the settings, the
        metrics, ``status``, ``error``, ``seconds``, ``worker``.
    """
    run = run or run_recipe
    if backend not in BACKENDS:
        raise InvalidParameterError(f"backend: expected one of {list(BACKENDS)}, got {backend!r}")
    if address is not None and backend != "dask":
        raise InvalidParameterError(f"address: a scheduler address needs backend='dask', got backend={backend!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise InvalidParameterError(f"workers: expected an integer >= 1 or None, got {workers!r}")
    settings = expand(grid, runs, fixed)
    ids = [run_id(s) for s in settings]
    folder = Path(out) if out is not None else None
    rows: dict[str, pl.DataFrame] = {}
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        rows.update(_load_finished(folder, set(ids)))
    todo = [(i, s) for i, (s, rid) in enumerate(zip(settings, ids, strict=True)) if rid not in rows]

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(settings), initial=len(settings) - len(todo), desc="sweep", unit="run", file=sys.stderr)

    def finished(row: dict[str, Any]) -> None:
        df = pl.DataFrame([row])
        rid = row["run_id"]
        if rid in rows:  # a run can only be recorded once
            return
        if folder is not None:
            write_parquet_atomic(df, _part(folder, rid))
        rows[rid] = df
        if bar is not None:
            bar.update(1)
            bar.set_postfix({"errors": sum(int(r["status"][0] == "error") for r in rows.values())}, refresh=False)
        if callback is not None:
            callback(row)

    try:
        if todo:
            if backend == "serial":
                for i, s in todo:
                    finished(_execute(run, s, i))
            elif backend == "local":
                n = workers or os.cpu_count() or 1
                import multiprocessing as mp

                with ProcessPoolExecutor(max_workers=min(n, len(todo)), mp_context=mp.get_context("spawn")) as ex:
                    futures = [ex.submit(_execute, run, s, i) for i, s in todo]
                    for f in as_completed(futures):
                        finished(f.result())
            else:
                _run_dask(run, todo, workers, address, finished)
    finally:
        if bar is not None:
            bar.close()
    frames = [rows[rid] for rid in ids if rid in rows]
    return pl.concat(frames, how="diagonal_relaxed").sort("index") if frames else pl.DataFrame()


def _run_dask(
    run: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    todo: list[tuple[int, dict[str, Any]]],
    workers: int | None,
    address: str | None,
    finished: Callable[[dict[str, Any]], None],
) -> None:
    try:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_completed
    except ImportError as e:  # pragma: no cover - dask is a dependency
        raise SpikeloomError(f"backend: 'dask' needs dask[distributed] installed ({e})") from None
    cluster = None
    if address is None:
        cluster = LocalCluster(
            n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        futures = [
            client.submit(_execute, run, s, i, key=f"spikeloom-run-{run_id(s)}-{time.time_ns()}", pure=False)
            for i, s in todo
        ]
        for f in dask_completed(futures):
            finished(f.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def plot_sweep(
    df: pl.DataFrame,
    x: str,
    y: str = "chip_accuracy_mean",
    curve: str | None = "hardware_mode",
    path: str | os.PathLike[str] | None = None,
    ax: Any = None,
) -> Any:
    """Accuracy against a swept setting (e.g. ``bits``, ``weight_range``, ``threshold_mismatch``), one
    curve per value of ``curve`` (e.g. the training mode); mean and sd over the other settings (seeds).

    Returns the matplotlib figure; with ``path`` it is also written as PNG, atomically.
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    for col in [x, y] + ([curve] if curve else []):
        if col not in df.columns:
            raise InvalidParameterError(f"{col}: expected a column of the sweep table {df.columns}, got a missing name")
    ok = df.filter(pl.col("status") == "ok") if "status" in df.columns else df
    groups = [(None, ok)] if curve is None else [(k[0], g) for k, g in ok.group_by([curve], maintain_order=True)]
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.0, 3.6))
    else:
        fig = ax.figure
    for name, g in groups:
        agg = g.group_by(x).agg(pl.col(y).mean().alias("m"), pl.col(y).std().fill_null(0.0).alias("s")).sort(x)
        ax.errorbar(
            agg[x].to_numpy(),
            agg["m"].to_numpy(),
            yerr=agg["s"].to_numpy(),
            marker="o",
            capsize=3,
            label=str(name) if name is not None else None,
        )
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if curve is not None:
        ax.legend(title=curve)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    if path is not None:
        write_atomic(path, lambda p: fig.savefig(p, format="png", dpi=120))
    return fig


def add_sweep_parser(sub: Any) -> None:
    """The ``spikeloom sweep SWEEP.toml`` sub-command."""
    s = sub.add_parser("sweep", help="run a parameter sweep described by a TOML file")
    s.add_argument("file", type=Path, help="TOML file: [fixed], [grid] and/or [[runs]], optional out/backend/[plot]")
    s.add_argument("--out", type=Path, default=None, help="folder of the Parquet parts (default: the file's 'out')")
    s.add_argument("--backend", default=None, choices=list(BACKENDS), help="default: the file's, else local")
    s.add_argument("--workers", type=int, default=None, help="processes / Dask workers (default: all cores)")
    s.add_argument("--address", default=None, help="Dask scheduler address, e.g. tcp://host:8786 (implies dask)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")


def sweep_command(a: argparse.Namespace) -> int:
    """Run a sweep file; writes ``results.parquet`` (and plots) into the output folder."""
    import tomllib

    try:
        spec = tomllib.loads(a.file.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise InvalidParameterError(f"file: expected a readable TOML sweep file, got {a.file} ({e})") from None
    allowed = {"out", "backend", "workers", "fixed", "grid", "runs", "plot"}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise InvalidParameterError(f"file: expected top-level keys among {sorted(allowed)}, got {unknown}")
    out = a.out or (Path(spec["out"]) if "out" in spec else a.file.with_suffix(""))
    backend = "dask" if a.address else (a.backend or spec.get("backend", "local"))
    df = sweep(
        grid=spec.get("grid"),
        runs=spec.get("runs"),
        fixed=spec.get("fixed"),
        out=out,
        backend=backend,
        workers=a.workers or spec.get("workers"),
        address=a.address,
        progress=not a.no_progress,
    )
    write_parquet_atomic(df, out / "results.parquet")
    plots = spec.get("plot", [])
    for p in [plots] if isinstance(plots, dict) else plots:
        path = out / p.get("file", f"{p['x']}.png")
        plot_sweep(df, p["x"], p.get("y", "chip_accuracy_mean"), p.get("curve", "hardware_mode"), path=path)
        print(f"wrote {path}")
    n_err = int((df["status"] == "error").sum()) if "status" in df.columns else 0
    print(f"sweep: {df.height} runs ({n_err} failed), results in {out / 'results.parquet'}")
    return 0 if n_err == 0 else 1


__all__ = ["BACKENDS", "expand", "plot_sweep", "run_id", "run_recipe", "sweep"]
