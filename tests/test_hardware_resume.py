"""Hardware-aware and in-the-loop runs stop and resume exactly: the chips and the trial noise of a batch
follow from (chip seed, run seed, epoch, batch), so a run stopped after an epoch (its checkpoint file
written) and resumed in a fresh network ends where the uninterrupted run ends, bit for bit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import spikeloom as sl
from spikeloom.cli import main
from spikeloom.errors import ResumeMismatchWarning
from spikeloom.hardware import Hardware, fit_hardware

TAU = 5e-3
# Every part of the model that is drawn: quantiser, three mismatches, lost input spikes (and jitter
# for the spike-time networks, whose inputs are times).
HW = Hardware(
    bits=4,
    weight_range=2.0,
    weight_mismatch=0.1,
    threshold_mismatch=0.1,
    tau_mismatch=0.05,
    spike_loss=0.1,
)


def _sequences(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 20, 5)) < 0.3, np.arange(n) % 3


def _yinyang() -> tuple[Any, Any]:
    enc = sl.LinearLatency.goltz(TAU)
    yy = sl.datasets.yinyang.yin_yang(200, 60, 10)
    return yy.train.encode(enc), yy.validation.encode(enc)


def _s4nn_data(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 25, (n, 10)), np.arange(n) % 4


def _case(name: str) -> tuple[Any, Any, Any, Any, Hardware]:
    """(network factory, config, train, validation, hardware) of a small run of ``name``."""
    if name == "ttfs":
        tr, va = _yinyang()
        return (
            lambda: sl.TTFSNetwork([4, 20, 3], neuron=sl.LIF(TAU, TAU, 1.0), seed=1),
            sl.TTFSConfig(epochs=3, batch_size=25),
            tr,
            va,
            HW.replace(jitter=0.02 * TAU),
        )
    if name in ("bptt", "eprop"):
        cfg = (
            sl.BPTTConfig(epochs=3, batch_size=8, lr=1e-2, restore_best=True)
            if name == "bptt"
            else sl.EpropConfig(epochs=3, batch_size=8, lr=5e-3, loss="ce_per_step")
        )
        layer = sl.SpikingLayer.cuba if name == "bptt" else sl.SpikingLayer.lif  # e-prop: no synaptic trace
        return (
            lambda: sl.RecurrentNetwork(5, [layer(12, gain=3.0)], sl.Readout(3), seed=2),
            cfg,
            _sequences(0, 32),
            _sequences(1, 16),
            # Membrane noise too; e-prop's shared traces cannot follow per-neuron time constants.
            HW.replace(membrane_noise=0.2, tau_mismatch=0.05 if name == "bptt" else 0.0),
        )
    if name == "decolle":
        return (
            lambda: sl.DecolleNetwork(5, [12, 8], 3, seed=1),
            sl.DecolleConfig(epochs=3, batch_size=8, lr=1e-2, online=False),
            _sequences(0, 32),
            _sequences(1, 16),
            HW,
        )
    assert name == "s4nn"
    return (
        lambda: sl.S4NNNetwork([10, 12, 4], threshold=[6.0, 5.0], t_max=24, init=[(-1, 4), (-1, 4)], seed=3),
        sl.S4NNConfig(epochs=3, batch_size=8, lr=0.3, reinit_below=0.0),
        _s4nn_data(0, 40),
        _s4nn_data(1, 16),
        HW.replace(weight_range=3.0, tau_mismatch=0.0),
    )


def _params(net: Any) -> list[np.ndarray]:
    if hasattr(net, "parameters"):
        return [np.asarray(p) for _, p in sorted(net.parameters().items())]
    return [np.asarray(w) for w in net.weights]


CASES = [(n, m) for n in ("ttfs", "bptt", "decolle", "eprop", "s4nn") for m in ("aware", "in-the-loop")]


@pytest.mark.parametrize(("name", "mode"), CASES)
def test_hardware_runs_resume_exactly(name: str, mode: str, tmp_path: Path) -> None:
    make, cfg, tr, va, hw = _case(name)
    kw: dict[str, Any] = {"hardware": hw, "mode": mode, "chip_seed": 4, "validation": va, "config": cfg, "seed": 2}
    whole = make()
    full = fit_hardware(whole, tr, progress=False, **kw)
    assert full.state.epochs_done == 3 and not full.interrupted
    # The run did something on the chip: the weights moved and differ from an ideal run's.
    ideal = make()
    sl.fit(ideal, tr, validation=va, config=cfg, seed=2, progress=False)
    assert any(not np.array_equal(a, b) for a, b in zip(_params(whole), _params(ideal), strict=True))

    ck = tmp_path / "hw_state.safetensors"
    first = fit_hardware(make(), tr, progress=False, checkpoint=ck, callback=lambda m: m["epoch"] < 1, **kw)
    assert first.interrupted and first.state.epochs_done == 1 and ck.is_file()
    for resume in (first.state, ck):
        rest = make()
        second = fit_hardware(rest, tr, progress=False, resume=resume, **kw)
        assert second.history["epoch"].to_list() == [2, 3]
        both = first.history.vstack(second.history).drop("seconds")
        assert both.equals(full.history.drop("seconds")), (both, full.history)
        for a, b in zip(_params(rest), _params(whole), strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("change", ["chip_seed", "mode", "hardware", "ideal"])
def test_resuming_on_another_chip_warns(change: str) -> None:
    make, cfg, tr, va, hw = _case("bptt")
    kw: dict[str, Any] = {"hardware": hw, "mode": "aware", "chip_seed": 4, "validation": va, "config": cfg, "seed": 2}
    first = fit_hardware(make(), tr, progress=False, callback=lambda m: m["epoch"] < 1, **kw)
    other = {
        "chip_seed": {**kw, "chip_seed": 5},
        "mode": {**kw, "mode": "in-the-loop"},
        "hardware": {**kw, "hardware": hw.replace(weight_mismatch=0.2)},
        "ideal": {**kw, "mode": "ideal"},
    }[change]
    with pytest.warns(ResumeMismatchWarning, match="another config"):
        fit_hardware(rest := make(), tr, progress=False, resume=first.state, **other)
    # The exact-resume test can see the chips: continuing on other chips ends elsewhere.
    whole = make()
    fit_hardware(whole, tr, progress=False, **kw)
    assert any(not np.array_equal(a, b) for a, b in zip(_params(rest), _params(whole), strict=True))


def test_cli_hardware_run_resumes_from_its_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ck = tmp_path / "run.safetensors"
    args = ["train", "seqdigits", "--method", "bptt", "--epochs", "1", "--hidden", "8", "--threads", "1"]
    args += ["--hardware", "ideal:bits=4,weight_mismatch=0.1", "--hardware-mode", "aware", "--chips", "2"]
    args += ["--no-progress", "--checkpoint", str(ck)]
    assert main(args) == 0 and ck.is_file()
    assert sl.TrainingState.load(ck).epochs_done == 1
    args[args.index("--epochs") + 1] = "2"
    assert main(args) == 0
    assert sl.TrainingState.load(ck).epochs_done == 2
    capsys.readouterr()
