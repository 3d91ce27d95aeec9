"""Saving, loading, pickling and copying FORCE reservoirs: a reservoir saved in the middle of learning
continues exactly (same spikes, readout, decoders and P bits) as the one that was never saved."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from spikeloom import force as F
from spikeloom.datasets import force_targets as T
from spikeloom.errors import FileFormatError, InvalidParameterError

SINE = T.make_sine(5.0)


def _nets():
    yield F.lif_sine(n=300, seed=2)
    yield F.izhikevich_sine(n=300, k=2, seed=5, rls_precision="float32")


def _learned(net: F.ForceNetwork) -> F.ForceNetwork:
    """Settle, then learn for 23 RLS updates (so corrections are pending, not yet folded into P)."""
    tgt = lambda t: np.repeat(SINE(t), net.k, axis=1)  # noqa: E731
    net.run(0.05, tgt)
    net.run(23 * net.config["rls_every"] * net.dt, tgt, learn=True)
    assert net.rls_updates == 23
    return net


def _go_on(net: F.ForceNetwork) -> tuple:
    """Learn a little more, then run freely; everything a continuation produces."""
    tgt = lambda t: np.repeat(SINE(t), net.k, axis=1)  # noqa: E731
    a = net.run(0.04, tgt, learn=True, record_spikes=True)
    b = net.run(0.04, record_spikes=True)
    return (
        np.concatenate([a.z, b.z]),
        np.concatenate([a.spike_ids, b.spike_ids]),
        np.concatenate([a.spike_times, b.spike_times]),
        net.decoders,
        net.rls_matrix(),
        net.time,
        net.rls_updates,
    )


def _same(x: tuple, y: tuple) -> bool:
    return all(np.array_equal(a, b) for a, b in zip(x, y, strict=True))


@pytest.mark.parametrize("which", [0, 1])
def test_saved_reservoir_continues_exactly(tmp_path, which):
    net = _learned(list(_nets())[which])
    path = tmp_path / "reservoir.safetensors"
    net.save(path, metadata={"note": "half-way"})
    back = F.ForceNetwork.load(path)
    assert back.neuron == net.neuron and back.config == net.config
    assert back.time == net.time and back.rls_updates == net.rls_updates
    for k, x in net.state().items():
        np.testing.assert_array_equal(back.state()[k], x, err_msg=k)
    twin = net.copy()
    unpickled = pickle.loads(pickle.dumps(net))
    want = _go_on(net)
    assert len(want[1]) > 200 and np.abs(want[3]).max() > 0
    for other in (back, twin, unpickled):
        assert _same(_go_on(other), want)


def test_check_has_power():
    """Saving with the pending RLS corrections folded into P (instead of kept) changes later results
    in the last bits, so the exact comparison above can fail."""
    net = _learned(F.lif_sine(n=300, seed=2))
    other = net.copy()
    other.rls_matrix()  # materialising P folds the pending corrections
    x, y = _go_on(net), _go_on(other)
    assert not _same(x, y)
    np.testing.assert_allclose(y[3], x[3], rtol=1e-6, atol=1e-9)


def test_bad_files_and_metadata(tmp_path):
    net = F.lif_sine(n=50, seed=1)
    path = tmp_path / "r.safetensors"
    net.save(path)
    data = path.read_bytes()
    (tmp_path / "short.safetensors").write_bytes(data[:-7])
    with pytest.raises(FileFormatError, match="short.safetensors"):
        F.ForceNetwork.load(tmp_path / "short.safetensors")
    with pytest.raises(OSError, match="missing.safetensors"):
        F.ForceNetwork.load(tmp_path / "missing.safetensors")
    with pytest.raises(OSError):
        net.save(tmp_path / "no-such-dir" / "r.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.safetensors", "short.safetensors"]
    with pytest.raises(InvalidParameterError, match="metadata"):
        net.save(path, metadata={"x": object()})
    assert path.read_bytes() == data
    # A network file of another kind is refused by name.
    from spikeloom import RecurrentNetwork, SpikingLayer

    RecurrentNetwork(2, [SpikingLayer(3)], None, dt=1e-3, seed=0).save(tmp_path / "rsnn.safetensors")
    with pytest.raises(FileFormatError, match="spikeloom.force-network"):
        F.ForceNetwork.load(tmp_path / "rsnn.safetensors")


def test_train_force_checkpoint_resumes_to_the_same_result(tmp_path):
    """A protocol stopped during learning (by the callback) and started again with the same checkpoint
    file ends with exactly the uninterrupted run's test readout; the file's protocol must match."""
    make = lambda: F.lif_sine(n=300, seed=3)  # noqa: E731
    kw = dict(settle=0.1, learn=0.2, test=0.1)
    whole = F.train_force(make(), SINE, **kw)
    path = tmp_path / "ck.safetensors"
    seen: list[float] = []

    def stop_in_learning(info):
        seen.append(info["time"])
        return info["time"] < 0.17

    first = F.train_force(
        make(), SINE, **kw, checkpoint=path, checkpoint_every=0.03, callback=stop_in_learning, report_every=0.01
    )
    assert first.interrupted and first.z.shape[0] == 0 and path.is_file()
    assert 0.17 <= F.ForceNetwork.load(path).time < 0.3
    net = make()
    rest = F.train_force(net, SINE, **kw, checkpoint=path, checkpoint_every=0.03)
    assert not rest.interrupted and "settle" not in rest.seconds
    np.testing.assert_array_equal(rest.z, whole.z)
    assert rest.correlation == whole.correlation and net.rls_updates == whole.rls_updates
    assert whole.correlation > 0.5
    # Running it again repeats only the test (the file holds the state at the start of the test).
    again = F.train_force(make(), SINE, **kw, checkpoint=path)
    assert set(again.seconds) == {"test"}
    np.testing.assert_array_equal(again.z, whole.z)
    with pytest.raises(InvalidParameterError, match="same protocol"):
        F.train_force(make(), SINE, settle=0.1, learn=0.3, test=0.1, checkpoint=path)
    with pytest.raises(InvalidParameterError, match="config"):
        F.train_force(F.lif_sine(n=300, seed=4), SINE, **kw, checkpoint=path)
