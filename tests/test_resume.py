"""Stopping a BPTT, DECOLLE, e-prop, time-to-first-spike (Göltz), alpha-synapse (Comsa) or S4NN run and
resuming it from its TrainingState repeats the uninterrupted run exactly."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import spikeloom as sl
from spikeloom.errors import FileFormatError, InvalidParameterError
from spikeloom.recipes import whole_run_history

L = sl.SpikingLayer


def data(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 30, 5)) < 0.3, rng.integers(0, 3, n)


TRAIN, VAL = data(0, 48), data(1, 24)


def net() -> sl.RecurrentNetwork:
    # Yin's adaptive LIF with trainable time constants: both optimisers (weights, taus) carry state.
    return sl.RecurrentNetwork(5, [L.alif_yin(12), L.lif(8, recurrent=False)], sl.Readout(3), seed=0)


def params_equal(a: sl.RecurrentNetwork, b: sl.RecurrentNetwork) -> bool:
    pa, pb = a.parameters(), b.parameters()
    return pa.keys() == pb.keys() and all(np.array_equal(pa[k], pb[k]) for k in pa)


def is_the_runs_history(run: sl.TrainingState | pl.DataFrame, history: pl.DataFrame) -> bool:
    """Whether ``run`` (a state's history, or the history itself) is ``history`` (an uninterrupted run's,
    all its epochs) without the wall-clock seconds."""
    got = run.history if isinstance(run, sl.TrainingState) else run
    want = history.drop("seconds")
    return got.select(want.columns).cast(dict(want.schema)).equals(want)


@pytest.mark.parametrize(
    ("optimizer", "schedule", "restore_best"),
    [("adamax", "linear", False), ("adam", "step", True), ("sgd", "step", False)],
)
def test_resumed_run_equals_the_uninterrupted_run(optimizer: str, schedule: str, restore_best: bool) -> None:
    cfg = sl.BPTTConfig(
        epochs=5,
        batch_size=8,
        lr=5e-3,
        lr_tau=1e-4,
        optimizer=optimizer,
        lr_schedule=schedule,
        lr_step=2,
        lr_gamma=0.5,
        restore_best=restore_best,
    )
    whole = net()
    full = sl.fit(whole, TRAIN, validation=VAL, config=cfg, seed=3, progress=False)
    assert full.state.epochs_done == 5 and not full.interrupted

    part = net()
    first = sl.fit(part, TRAIN, validation=VAL, config=cfg, seed=3, progress=False, callback=lambda m: m["epoch"] < 2)
    assert first.interrupted and first.state.epochs_done == 2
    # Resume into a fresh network (the state's parameters replace its own).
    rest = net()
    second = sl.fit(rest, TRAIN, validation=VAL, config=cfg, seed=3, progress=False, resume=first.state)
    assert second.history["epoch"].to_list() == [3, 4, 5] and not second.interrupted
    assert second.history["train_loss"].to_list() == full.history["train_loss"].to_list()[2:]
    assert params_equal(rest, whole)
    assert second.state.to_bytes() == full.state.to_bytes()
    # The state's history is the whole run's (the FitResult's only this call's epochs).
    assert first.state.history["epoch"].to_list() == [1, 2]
    assert is_the_runs_history(second.state, full.history) and is_the_runs_history(full.state, full.history)
    assert "seconds" not in second.state.history.columns
    if restore_best:
        assert second.state.best_score == full.history["val_accuracy"].max()
    # Without the optimiser state (a plain restart from the same weights) the run differs.
    if optimizer != "sgd":
        restart = net()
        restart.set_parameters(**part.parameters())
        sl.fit(restart, TRAIN, validation=VAL, config=cfg, seed=3, progress=False)
        assert not params_equal(restart, whole)


def test_state_round_trips_through_a_file(tmp_path: Path) -> None:
    cfg = sl.BPTTConfig(epochs=3, batch_size=8, lr=5e-3)
    whole = net()
    sl.fit(whole, TRAIN, config=cfg, progress=False)
    part = net()
    first = sl.fit(part, TRAIN, config=cfg, progress=False, callback=lambda m: False)
    path = tmp_path / "run" / "state.safetensors"
    first.state.save(path)
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    loaded = sl.TrainingState.load(path)
    assert loaded.epochs_done == 1 and loaded.to_bytes() == first.state.to_bytes()
    rest = net()
    sl.fit(rest, TRAIN, config=cfg, progress=False, resume=str(path))
    assert params_equal(rest, whole)
    # A finished run has nothing left to do: no epochs, parameters unchanged, not interrupted.
    finished = sl.fit(net(), TRAIN, config=cfg, progress=False).state
    done = sl.fit(rest, TRAIN, config=cfg, progress=False, resume=finished)
    assert done.history.height == 0 and not done.interrupted and params_equal(rest, whole)


@pytest.mark.filterwarnings("ignore::spikeloom.errors.ResumeMismatchWarning")
def test_bad_resume_is_refused(tmp_path: Path) -> None:
    cfg = sl.BPTTConfig(epochs=2, batch_size=8)
    state = sl.fit(net(), TRAIN, config=cfg, progress=False).state
    other = sl.RecurrentNetwork(5, [L.lif(7)], sl.Readout(3), seed=0)
    with pytest.raises(InvalidParameterError, match=r"resume: expected the state of a network with \d+ parameters"):
        sl.fit(other, TRAIN, config=cfg, progress=False, resume=state)
    with pytest.raises(InvalidParameterError, match="resume: expected a run of at most the config's 1 epochs"):
        sl.fit(net(), TRAIN, config=sl.BPTTConfig(epochs=1, batch_size=8), progress=False, resume=state)
    with pytest.raises(InvalidParameterError, match='resume: expected the state of an "sgd" optimiser.*got.*"adam"'):
        sgd = sl.BPTTConfig(epochs=3, batch_size=8, optimizer="sgd")
        sl.fit(net(), TRAIN, config=sgd, progress=False, resume=state)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(state.to_bytes()[:-16])
    with pytest.raises(FileFormatError, match="broken.safetensors"):
        sl.TrainingState.load(broken)
    with pytest.raises(FileNotFoundError, match="resume: no training state"):
        sl.fit(net(), TRAIN, config=cfg, progress=False, resume=tmp_path / "missing.safetensors")
    with pytest.raises(InvalidParameterError, match="resume: expected a TrainingState or a path, got int"):
        sl.fit(net(), TRAIN, config=cfg, progress=False, resume=3)
    # A BPTT state of a network e-prop can train, passed to e-prop.
    single = sl.RecurrentNetwork(5, [L.lif(7)], sl.Readout(3), seed=0)
    bptt_state = sl.fit(single, TRAIN, config=cfg, progress=False).state
    with pytest.raises(InvalidParameterError, match="resume: expected the state of a eprop run, got that of a bptt"):
        sl.fit(single, TRAIN, config=sl.EpropConfig(epochs=3), progress=False, resume=bptt_state)
    with pytest.raises(InvalidParameterError, match="resume: expected the state of a ttfs run, got that of a bptt"):
        sl.fit(sl.TTFSNetwork([2, 3, 2], seed=0), (np.zeros((4, 2)), np.zeros(4, np.int64)), resume=state)


def test_checkpoint_is_written_after_every_epoch(tmp_path: Path) -> None:
    # The file written after epoch 2 resumes to the same end as the uninterrupted run (a crash after
    # epoch 2 loses nothing); it is rewritten after each epoch (its count follows the callback's).
    cfg = sl.BPTTConfig(epochs=4, batch_size=8, lr=5e-3, optimizer="adamax", lr_schedule="linear")
    whole = net()
    sl.fit(whole, TRAIN, config=cfg, progress=False)
    path = tmp_path / "ckpt" / "state.safetensors"
    seen: list[int] = []

    def on_epoch(m: dict) -> bool:
        seen.append(sl.TrainingState.load(path).epochs_done)
        if m["epoch"] == 2:
            (tmp_path / "after2.safetensors").write_bytes(path.read_bytes())
        return True

    sl.fit(net(), TRAIN, config=cfg, progress=False, checkpoint=path, callback=on_epoch)
    assert seen == [1, 2, 3, 4]
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.safetensors"]
    rest = net()
    sl.fit(rest, TRAIN, config=cfg, progress=False, resume=tmp_path / "after2.safetensors", checkpoint=path)
    assert params_equal(rest, whole) and sl.TrainingState.load(path).epochs_done == 4
    with pytest.raises(InvalidParameterError, match="checkpoint: expected a file path, got the folder"):
        sl.fit(net(), TRAIN, config=cfg, progress=False, checkpoint=tmp_path)


def split_run(make: Any, cfg: Any, data: tuple, val: tuple | None, stop_after: int) -> tuple[Any, Any, Any, Any]:
    """(whole net, whole result, resumed net, resumed result): one run of ``cfg.epochs`` and the same
    run stopped after ``stop_after`` epochs and resumed in a fresh network."""
    whole = make()
    full = sl.fit(whole, data, validation=val, config=cfg, seed=2, progress=False)
    first = sl.fit(
        make(), data, validation=val, config=cfg, seed=2, progress=False, callback=lambda m: m["epoch"] < stop_after
    )
    assert first.state.epochs_done == stop_after
    rest = make()
    second = sl.fit(rest, data, validation=val, config=cfg, seed=2, progress=False, resume=first.state)
    return whole, full, rest, second


@pytest.mark.parametrize("online", [False, True])
def test_decolle_resumes_exactly(online: bool) -> None:
    def make() -> sl.DecolleNetwork:
        return sl.DecolleNetwork(5, [12, 8], 3, seed=0)

    cfg = sl.DecolleConfig(epochs=4, batch_size=8, lr=1e-2, online=online, restore_best=True)
    whole, full, rest, second = split_run(make, cfg, TRAIN, VAL, 2)
    assert second.state.method == "decolle"
    assert second.history["train_loss"].to_list() == full.history["train_loss"].to_list()[2:]
    pa, pb = whole.parameters(), rest.parameters()
    assert all(np.array_equal(pa[k], pb[k]) for k in pa)
    assert second.state.to_bytes() == full.state.to_bytes()


@pytest.mark.parametrize(("feedback", "optimizer"), [("adaptive", "adam"), ("random", "sgd"), ("symmetric", "adam")])
def test_eprop_resumes_exactly(feedback: str, optimizer: str) -> None:
    # Adaptive feedback evolves with the readout weights: the state must carry the matrix.
    def make() -> sl.RecurrentNetwork:
        return sl.RecurrentNetwork(5, [L.lif(12)], sl.Readout(3), seed=0)

    cfg = sl.EpropConfig(epochs=4, batch_size=8, lr=5e-3, feedback=feedback, optimizer=optimizer)
    whole, full, rest, second = split_run(make, cfg, TRAIN, None, 2)
    assert second.state.method == "eprop"
    assert second.history["updates"].to_list() == full.history["updates"].to_list()[2:]
    assert params_equal(rest, whole) and second.state.to_bytes() == full.state.to_bytes()


def test_state_pickles_and_round_trips_through_bytes() -> None:
    import pickle

    cfg = sl.BPTTConfig(epochs=2, batch_size=8, restore_best=True)
    state = sl.fit(net(), TRAIN, validation=VAL, config=cfg, progress=False).state
    back = pickle.loads(pickle.dumps(state))
    assert back.to_bytes() == state.to_bytes()
    again = sl.TrainingState.from_bytes(state.to_bytes())
    assert (again.method, again.epochs_done, again.n_params, again.best_score) == (
        "bptt",
        2,
        sum(v.size for v in net().parameters().values()),
        state.best_score,
    )
    with pytest.raises(InvalidParameterError, match="data: expected bytes, got str"):
        sl.TrainingState.from_bytes("x")  # type: ignore[arg-type]
    with pytest.raises(FileFormatError):
        sl.TrainingState.from_bytes(b"not a safetensors file")


def test_resuming_from_another_config_or_data_warns(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    """A state records digests of its run's config (without epochs and threads) and data; resuming
    from it with another config or other data warns (training still continues), with the same ones
    (more epochs, other thread count) it does not."""
    from spikeloom.checkpoint import run_fingerprint
    from spikeloom.errors import ResumeMismatchWarning

    cfg = sl.BPTTConfig(epochs=2, batch_size=8, lr=5e-3, lr_schedule="step")
    first = sl.fit(net(), TRAIN, config=cfg, seed=3, progress=False, callback=lambda m: False)
    fp = first.state.fingerprint
    assert fp is not None and set(fp) == {"config", "data"}
    path = tmp_path / "state.safetensors"
    first.state.save(path)
    assert sl.TrainingState.load(path).fingerprint == fp
    # Same run, longer and on another thread count: no warning; the checkpoint keeps the fingerprint.
    more = sl.BPTTConfig(epochs=3, batch_size=8, lr=5e-3, lr_schedule="step")
    ck = tmp_path / "ck.safetensors"
    sl.fit(net(), TRAIN, config=more, seed=3, threads=1, progress=False, resume=path, checkpoint=ck)
    assert not [w for w in recwarn if issubclass(w.category, ResumeMismatchWarning)]
    assert sl.TrainingState.load(ck).fingerprint == fp
    # Another learning rate, seed or data set: a warning naming what differs; training continues.
    other_lr = sl.BPTTConfig(epochs=2, batch_size=8, lr=1e-2, lr_schedule="step")
    with pytest.warns(ResumeMismatchWarning, match="another config than"):
        r = sl.fit(net(), TRAIN, config=other_lr, seed=3, progress=False, resume=first.state)
    assert r.state.epochs_done == 2 and r.state.fingerprint["config"] != fp["config"]
    with pytest.warns(ResumeMismatchWarning, match="another config"):
        sl.fit(net(), TRAIN, config=cfg, seed=4, progress=False, resume=first.state)
    x, y = TRAIN
    other = data(5, 48)  # another data set of the same shape
    with pytest.warns(ResumeMismatchWarning, match="another data than"):
        sl.fit(net(), other, config=cfg, seed=3, progress=False, resume=first.state)
    # The digest reads dtypes, shapes and evenly spaced bytes of every array.
    base = run_fingerprint("{}", x, y, None, None)
    assert run_fingerprint('{"epochs": 9, "threads": 2}', x, y, None, None) == base
    assert run_fingerprint("{}", x[:-1], y[:-1], None, None) != base
    assert run_fingerprint("{}", x, y[::-1], None, None) != base
    assert run_fingerprint("{}", x, y, x, y) != base
    assert run_fingerprint("{}", x.astype(np.float32), y, None, None) != base
    swapped = x.copy()
    swapped[[0, -1]] = swapped[[-1, 0]]
    assert run_fingerprint("{}", swapped, y, None, None) != base


def _ttfs_pair(kind: str) -> tuple[Any, Any, Any]:
    """(fresh network, config, data) of a small spike-time run of ``kind`` ("ttfs" or "alpha")."""
    yy = sl.datasets.yinyang.yin_yang(200, 60, 10)
    if kind == "ttfs":
        # Low initial weights: the first epochs bump silent neurons, so the bump state carries.
        cfg = sl.TTFSConfig(epochs=4, batch_size=25, input_noise=0.02)
        make = lambda: sl.TTFSNetwork([4, 30, 3], seed=1, init=[(0.3, 0.5), (0.5, 0.8)])  # noqa: E731
    else:
        cfg = sl.AlphaConfig(epochs=4, batch_size=25, restore_best=True)
        make = lambda: sl.AlphaNetwork([4, 30, 3], seed=1, data_mean_multiplier=1.5)  # noqa: E731
    return make, cfg, yy


def _all_params(net: Any) -> list[np.ndarray]:
    return [np.asarray(w) for w in net.weights] + [np.asarray(b) for b in net.bias_times]


@pytest.mark.parametrize("kind", ["ttfs", "alpha"])
def test_spike_time_runs_resume_exactly(kind: str, tmp_path: Path) -> None:
    make, cfg, yy = _ttfs_pair(kind)
    whole = make()
    full = sl.fit(whole, yy.train, validation=yy.validation, config=cfg, seed=2, progress=False)
    assert full.state.method == kind and full.state.epochs_done == 4 and not full.interrupted
    if kind == "ttfs":
        assert 0 < full.history["bumps"].sum() < 4 * 8, full.history  # bumps happen, and steps too

    part = make()
    ck = tmp_path / "state.safetensors"
    first = sl.fit(
        part,
        yy.train,
        validation=yy.validation,
        config=cfg,
        seed=2,
        progress=False,
        checkpoint=ck,
        callback=lambda m: m["epoch"] < 2,
    )
    assert first.interrupted and first.state.epochs_done == 2
    for resume in (first.state, ck):  # the returned state and the checkpoint file it wrote
        rest = make()
        second = sl.fit(rest, yy.train, validation=yy.validation, config=cfg, seed=2, progress=False, resume=resume)
        assert second.history["epoch"].to_list() == [3, 4]
        both = first.history.vstack(second.history).drop("seconds")
        assert both.equals(full.history.drop("seconds"))
        assert is_the_runs_history(second.state, full.history)
        for a, b in zip(_all_params(rest), _all_params(whole), strict=True):
            np.testing.assert_array_equal(a, b)

    # Another learning rate: training continues, with a warning that it is no longer one run.
    other = make()
    with pytest.warns(sl.errors.ResumeMismatchWarning, match="another config") as rec:
        sl.fit(
            other,
            yy.train,
            validation=yy.validation,
            config=type(cfg)(**{**cfg.__dict__, "lr": cfg.lr * 2}),
            seed=2,
            progress=False,
            resume=first.state,
        )
    assert rec[0].filename == __file__  # points at the caller's line


def test_spike_time_state_of_another_method_is_refused() -> None:
    make_t, cfg_t, yy = _ttfs_pair("ttfs")
    make_a, cfg_a, _ = _ttfs_pair("alpha")
    st = sl.fit(make_t(), yy.train, config=cfg_t.__class__(**{**cfg_t.__dict__, "epochs": 1}), progress=False).state
    net = make_a()
    before = _all_params(net)
    with pytest.raises(InvalidParameterError, match="resume: expected the state of a alpha run, got that of a ttfs"):
        sl.fit(net, yy.train, validation=yy.validation, config=cfg_a, progress=False, resume=st)
    for a, b in zip(_all_params(net), before, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("batch_size", [1, 8])
def test_s4nn_runs_resume_exactly(batch_size: int, tmp_path: Path) -> None:
    d = sl.datasets.digits(seed=0)

    def make() -> Any:
        return sl.s4nn.S4NNNetwork([64, 30, 10], init=[(0, 8), (0, 40)], seed=3)

    tr, va, te = (s.encode(make().encode) for s in (d.train, d.validation, d.test))
    kw: dict[str, Any] = {
        "test": te,
        "epochs": 5,
        "lr_decay": 0.8,
        "reinit_below": 0.02,
        "batch_size": batch_size,
        "seed": 4,
        "progress": False,
    }
    whole = make()
    full = whole.fit(tr, va, **kw)
    assert full.state.method == "s4nn" and full.state.epochs_done == 5 and not full.interrupted
    # The network holds the best epoch's weights; the state the last epoch's, which training continues from.
    assert full.best_epoch is not None

    part = make()
    ck = tmp_path / "s4nn_state.safetensors"
    first = part.fit(tr, va, checkpoint=ck, callback=lambda m: m["epoch"] < 2, **kw)
    assert first.interrupted and first.state.epochs_done == 2
    for resume in (first.state, ck):  # the returned state and the checkpoint file it wrote
        rest = make()
        second = rest.fit(tr, va, resume=resume, **kw)
        assert second.history["epoch"].to_list() == [3, 4, 5] and not second.interrupted
        both = first.history.vstack(second.history).drop("seconds")
        assert both.equals(full.history.drop("seconds"))
        assert second.best_epoch == full.best_epoch
        assert is_the_runs_history(second.state, full.history)
        # What the recipes report from: the whole run's history, not the call's.
        assert is_the_runs_history(whole_run_history(second), full.history)
        assert whole_run_history(second).height == 5 and second.history.height == 3
        for a, b in zip(rest.weights, whole.weights, strict=True):
            np.testing.assert_array_equal(a, b)
        assert second.state.to_bytes() == full.state.to_bytes()

    # Another seed: training continues, with a warning that it is no longer one run.
    with pytest.warns(sl.errors.ResumeMismatchWarning, match="another config") as rec:
        make().fit(tr, va, resume=first.state, **{**kw, "seed": 5})
    assert rec[0].filename == __file__
    # A longer run or another thread count continues the same run: no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make().fit(tr, va, resume=first.state, **{**kw, "epochs": 6, "threads": 1})
    # A state of another method or another network is refused by name, and the network is untouched.
    make_t, cfg_t, yy = _ttfs_pair("ttfs")
    ttfs_state = sl.fit(make_t(), yy.train, config=cfg_t.__class__(**{**cfg_t.__dict__, "epochs": 1}), progress=False)
    net = make()
    before = [w.copy() for w in net.weights]
    with pytest.raises(InvalidParameterError, match="resume: expected the state of a s4nn run, got that of a ttfs"):
        net.fit(tr, va, resume=ttfs_state.state, **kw)
    small = sl.s4nn.S4NNNetwork([64, 20, 10], init=[(0, 8), (0, 40)], seed=3)
    with pytest.raises(InvalidParameterError, match="resume: expected the state of a network with 1480 parameters"):
        small.fit(tr, va, resume=first.state, **kw)
    for a, b in zip(net.weights, before, strict=True):
        np.testing.assert_array_equal(a, b)
