"""Sweeps: grid expansion, serial/local/Dask backends, atomic parts, resume, failures, killed workers."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import polars as pl
import pytest
from spikeloom.errors import InvalidParameterError
from spikeloom.sweep import expand, plot_sweep, run_id, run_recipe, sweep

sys.path.insert(0, str(Path(__file__).parent))
from sweep_helpers import tiny_run  # noqa: E402

GRID = {"bits": [2, 4, 6], "mismatch": [0.0, 0.1], "seed": [0, 1]}  # 12 runs


def test_expand_grid_runs_and_fixed():
    s = expand({"a": [1, 2], "b": ["x", "y"]}, [{"a": 9}], {"c": 0.5})
    assert s == [
        {"c": 0.5, "a": 1, "b": "x"},
        {"c": 0.5, "a": 1, "b": "y"},
        {"c": 0.5, "a": 2, "b": "x"},
        {"c": 0.5, "a": 2, "b": "y"},
        {"c": 0.5, "a": 9},
    ]
    assert run_id({"a": 1, "b": 2}) == run_id({"b": 2, "a": 1})
    with pytest.raises(InvalidParameterError, match="same run"):
        expand({"a": [1, 1]}, None, None)
    with pytest.raises(InvalidParameterError, match="non-empty list"):
        expand({"a": 3}, None, None)
    with pytest.raises(InvalidParameterError, match="scalar"):
        expand(None, [{"a": [1, 2]}], None)
    with pytest.raises(InvalidParameterError, match="backend"):
        sweep(tiny_run, grid={"seed": [0]}, backend="mpi")


def _check(df: pl.DataFrame, n: int) -> None:
    assert df.height == n
    assert df["run_id"].n_unique() == n
    assert df["index"].to_list() == list(range(n))
    assert (df["status"] == "ok").all(), df.filter(pl.col("status") != "ok")["error"].to_list()


def test_serial_and_local_backends_agree(tmp_path):
    a = sweep(tiny_run, grid=GRID, backend="serial", progress=False)
    _check(a, 12)
    b = sweep(tiny_run, grid=GRID, backend="local", workers=2, out=tmp_path, progress=False)
    _check(b, 12)
    cols = ["bits", "mismatch", "seed", "accuracy", "loss"]
    assert a.select(cols).equals(b.select(cols))
    assert b["worker"].n_unique() == 2  # two processes did the work
    assert len(list(tmp_path.glob("run-*.parquet"))) == 12
    assert not list(tmp_path.glob(".*.tmp"))  # no half-written parts left


def test_resume_runs_only_the_missing_rows_and_failures_are_recorded(tmp_path):
    runs = [{"seed": 0}, {"seed": 1, "fail": True}, {"seed": 2}, {"seed": 3}]
    first = sweep(tiny_run, runs=runs, out=tmp_path, backend="serial", progress=False)
    assert first["status"].to_list() == ["ok", "error", "ok", "ok"]
    assert "told to fail" in first["error"][1]
    (tmp_path / f"run-{run_id({'seed': 3})}.parquet").unlink()
    executed: list[int] = []
    second = sweep(
        tiny_run,
        runs=runs,
        out=tmp_path,
        backend="serial",
        progress=False,
        callback=lambda r: executed.append(r["seed"]),
    )
    assert sorted(executed) == [1, 3]  # the failed and the missing run, nothing else
    assert second.height == 4 and second["run_id"].n_unique() == 4
    assert second.filter(pl.col("seed") == 0).equals(first.filter(pl.col("seed") == 0))
    again: list[int] = []
    sweep(
        tiny_run,
        runs=[runs[0], runs[2], runs[3]],
        out=tmp_path,
        backend="serial",
        progress=False,
        callback=lambda r: again.append(r["seed"]),
    )
    assert again == []


@pytest.fixture(scope="module")
def cluster():
    """One two-worker LocalCluster (separate processes) for the Dask tests."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def test_dask_local_cluster_returns_every_row_once(tmp_path, cluster):
    df = sweep(
        tiny_run,
        grid=GRID,
        fixed={"sleep": 0.05},
        backend="dask",
        address=cluster.scheduler_address,
        out=tmp_path,
        progress=False,
    )
    _check(df, 12)
    assert len(list(tmp_path.glob("run-*.parquet"))) == 12


def test_dask_sweep_survives_a_killed_worker(tmp_path, cluster):
    killed: list[int] = []

    def kill_first_worker(row):
        if not killed:
            pid = int(row["worker"].rsplit(":", 1)[1])
            killed.append(pid)
            os.kill(pid, signal.SIGKILL)  # the worker dies while holding its next runs

    df = sweep(
        tiny_run,
        grid=GRID,
        fixed={"sleep": 0.4},
        backend="dask",
        address=cluster.scheduler_address,
        out=tmp_path,
        progress=False,
        callback=kill_first_worker,
    )
    _check(df, 12)
    assert len(list(tmp_path.glob("run-*.parquet"))) == 12
    workers = set(df["worker"].to_list())
    assert any(w.endswith(f":{killed[0]}") for w in workers)
    assert len(workers) >= 2  # the other worker (and the restarted one) finished the rest


def test_default_run_is_the_recipe_with_hardware_settings(tmp_path):
    df = sweep(
        grid={"bits": [3, 6]},
        fixed={"epochs": 0, "hidden": 4, "hardware": "brainscales2", "chips": 2},
        backend="serial",
        out=tmp_path,
        progress=False,
    )
    _check(df, 2)
    assert {"test_accuracy", "chip_accuracy_mean", "chip_accuracy_std", "seconds"} <= set(df.columns)
    with pytest.raises(InvalidParameterError, match="unknown"):
        run_recipe({"epochs": 0, "colour": "red"})
    fig = plot_sweep(df.with_columns(pl.lit("ideal").alias("hardware_mode")), "bits", path=tmp_path / "bits.png")
    assert (tmp_path / "bits.png").stat().st_size > 1000
    assert fig is not None


def test_recipe_runs_take_every_hardware_field():
    # A BPTT recipe trained hardware-aware with membrane noise and input jitter; the same settings
    # give the same run, and the noise changes it.
    base = {"task": "seqdigits", "method": "bptt", "epochs": 1, "hidden": 8, "threads": 1, "chips": 2}
    hw = {"hardware_mode": "aware", "bits": 5, "weight_range": 1.0, "jitter": 1e-3, "membrane_noise": 0.3}
    a, b = run_recipe({**base, **hw}), run_recipe({**base, **hw})
    assert a["chip_accuracy_mean"] == b["chip_accuracy_mean"] and a["test_accuracy"] == b["test_accuracy"]
    quiet = run_recipe({**base, **hw, "membrane_noise": 0.0, "jitter": 0.0})
    assert (quiet["test_accuracy"], quiet["chip_accuracy_mean"]) != (a["test_accuracy"], a["chip_accuracy_mean"])


def test_cli_sweep_file(tmp_path, capsys):
    from spikeloom.cli import main

    f = tmp_path / "s.toml"
    f.write_text(
        'backend = "serial"\n[fixed]\nepochs = 0\nhidden = 4\nhardware = "brainscales2"\nchips = 2\n'
        '[grid]\nbits = [2, 6]\nhardware_mode = ["ideal"]\n[plot]\nx = "bits"\n'
    )
    assert main(["sweep", str(f), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    df = pl.read_parquet(tmp_path / "o" / "results.parquet")
    _check(df, 2)
    assert (tmp_path / "o" / "bits.png").exists()
    assert "2 runs (0 failed)" in capsys.readouterr().out
