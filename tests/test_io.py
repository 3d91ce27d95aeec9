"""Saving and loading networks: round trips, byte-identical saves, corrupt / foreign files, atomicity."""

from __future__ import annotations

import json
import os
import pickle
import struct
import threading

import numpy as np
import pytest
import spikeloom as sl
from spikeloom.errors import FileFormatError, SpikeloomError

TAU = 5e-3


def safetensors_bytes(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> bytes:
    """A safetensors file written by hand: u64 LE header length, JSON header, raw little-endian data."""
    header: dict[str, object] = {}
    data = b""
    for name, arr in tensors.items():
        raw = np.ascontiguousarray(arr, dtype="<f8").tobytes()
        header[name] = {"dtype": "F64", "shape": list(np.shape(arr)), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def spikeloom_metadata(**overrides) -> dict[str, str]:
    d = {
        "format": "spikeloom.ttfs-network",
        "format_version": 1,
        "spikeloom_version": "0.1.0",
        "neuron": {"tau_mem": TAU, "tau_syn": TAU, "threshold": 1.0},
        "sizes": [2, 3],
        "extra": json.dumps({"encoder": None, "seed": 0}),
    }
    d.update(overrides)
    return {"spikeloom": json.dumps(d)}


GOOD_TENSORS = {"layers.0.weight": np.arange(9.0).reshape(3, 3), "layers.0.bias_times": np.array([1e-3])}


def assert_same_network(a: sl.TTFSNetwork, b: sl.TTFSNetwork) -> None:
    assert a.sizes == b.sizes
    assert a.neuron == b.neuron
    assert a.encoder == b.encoder
    assert a.bias_times == b.bias_times
    for wa, wb in zip(a.weights, b.weights, strict=True):
        assert wa.dtype == wb.dtype and np.array_equal(wa, wb)


def probe_times(net: sl.TTFSNetwork, n: int = 50) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 2 * net.neuron.tau_syn, (n, net.sizes[0]))


def test_save_load_round_trip(small_net, tmp_path):
    small_net.set_weights(0, small_net.weights[0] * 1.1 + 1e-17)  # not the init values
    path = tmp_path / "net.safetensors"
    small_net.save(path)
    loaded = sl.TTFSNetwork.load(path)
    assert_same_network(small_net, loaded)
    assert loaded.seed == small_net.seed
    x = probe_times(small_net)
    np.testing.assert_array_equal(loaded.predict(x), small_net.predict(x))
    for a, b in zip(loaded.run(x), small_net.run(x), strict=True):
        np.testing.assert_array_equal(a, b)
    # str paths work too, and a re-save of the loaded network is byte-identical.
    loaded.save(str(tmp_path / "again.safetensors"))
    assert (tmp_path / "again.safetensors").read_bytes() == path.read_bytes()


def test_round_trip_custom_bias_and_no_encoder(tmp_path):
    net = sl.TTFSNetwork([3, 4, 5, 2], neuron=sl.LIF(TAU, TAU, 1.3), bias_times=[[1e-3, 2e-3], [], [0.0]], seed=9)
    net.save(tmp_path / "n.st")
    loaded = sl.TTFSNetwork.load(tmp_path / "n.st")
    assert_same_network(net, loaded)
    assert loaded.encoder is None
    assert loaded.bias_times == [[1e-3, 2e-3], [], [0.0]]


def test_pickle_and_bytes_round_trip(small_net):
    clone = pickle.loads(pickle.dumps(small_net))
    assert_same_network(small_net, clone)
    x = probe_times(small_net)
    np.testing.assert_array_equal(clone.predict(x), small_net.predict(x))
    assert sl.TTFSNetwork.from_bytes(small_net.to_bytes()).to_bytes() == small_net.to_bytes()


def test_saving_twice_gives_identical_bytes(small_net, tmp_path):
    small_net.save(tmp_path / "a.st")
    first = (tmp_path / "a.st").read_bytes()
    small_net.save(tmp_path / "a.st")
    assert (tmp_path / "a.st").read_bytes() == first
    assert small_net.to_bytes() == first
    # The same network built twice from the same seed gives the same file.
    twin = sl.TTFSNetwork(small_net.sizes, neuron=small_net.neuron, seed=3, encoder=small_net.encoder)
    assert twin.to_bytes() == first
    assert sorted(os.listdir(tmp_path)) == ["a.st"]  # no temporary files left behind


def test_file_is_plain_safetensors(small_net):
    """Readable without spikeloom: header JSON with F64 tensors of the documented shapes."""
    raw = small_net.to_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["spikeloom"])
    assert meta["format"] == "spikeloom.ttfs-network" and meta["sizes"] == [4, 7, 3]
    w0 = header["layers.0.weight"]
    assert w0["dtype"] == "F64" and w0["shape"] == [7, 5]
    start, end = w0["data_offsets"]
    data = np.frombuffer(raw[8 + n + start : 8 + n + end], dtype="<f8").reshape(7, 5)
    np.testing.assert_array_equal(data, small_net.weights[0])


@pytest.mark.parametrize("cut", [0, 4, 8, 20, 100, -200, -1])
def test_truncated_file_is_file_format_error(small_net, tmp_path, cut):
    raw = small_net.to_bytes()
    path = tmp_path / "cut.st"
    path.write_bytes(raw[:cut])
    with pytest.raises(FileFormatError):
        sl.TTFSNetwork.load(path)
    with pytest.raises(FileFormatError):
        sl.TTFSNetwork.from_bytes(raw[:cut])


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(np.random.default_rng(0).bytes(4096), id="random-bytes"),
        pytest.param(b"\xff" * 8 + b"{}", id="huge-header-length"),
        pytest.param(json.dumps({"weights": [[1.0, 2.0]]}).encode(), id="json-file"),
        pytest.param(safetensors_bytes(GOOD_TENSORS), id="safetensors-no-metadata"),
        pytest.param(safetensors_bytes(GOOD_TENSORS, {"format": "pt"}), id="safetensors-foreign-metadata"),
        pytest.param(safetensors_bytes(GOOD_TENSORS, spikeloom_metadata(format="other")), id="wrong-format"),
        pytest.param(safetensors_bytes(GOOD_TENSORS, spikeloom_metadata(format_version=99)), id="newer-version"),
        pytest.param(
            safetensors_bytes({"layers.0.weight": np.ones((3, 3))}, spikeloom_metadata()), id="missing-tensor"
        ),
        pytest.param(
            safetensors_bytes({**GOOD_TENSORS, "layers.0.weight": np.ones((3, 2))}, spikeloom_metadata()),
            id="wrong-shape",
        ),
        pytest.param(
            safetensors_bytes({**GOOD_TENSORS, "layers.0.weight": np.full((3, 3), np.nan)}, spikeloom_metadata()),
            id="nan-weights",
        ),
        pytest.param(
            safetensors_bytes({**GOOD_TENSORS, "layers.0.bias_times": np.array([-1.0])}, spikeloom_metadata()),
            id="negative-bias-time",
        ),
        pytest.param(
            safetensors_bytes(
                GOOD_TENSORS, spikeloom_metadata(neuron={"tau_mem": 3 * TAU, "tau_syn": TAU, "threshold": 1.0})
            ),
            id="unsupported-tau-ratio",
        ),
        pytest.param(safetensors_bytes(GOOD_TENSORS, spikeloom_metadata(sizes=[2])), id="one-size"),
    ],
)
def test_foreign_or_corrupt_file_is_file_format_error(tmp_path, content):
    path = tmp_path / "foreign.safetensors"
    path.write_bytes(content)
    with pytest.raises(FileFormatError) as info:
        sl.TTFSNetwork.load(path)
    assert str(path) in str(info.value)
    with pytest.raises(FileFormatError):
        sl.TTFSNetwork.from_bytes(content)


def test_hand_written_valid_file_loads(tmp_path):
    """The builder above is right: the same file with correct metadata loads."""
    path = tmp_path / "ok.safetensors"
    path.write_bytes(safetensors_bytes(GOOD_TENSORS, spikeloom_metadata()))
    net = sl.TTFSNetwork.load(path)
    assert net.sizes == [2, 3] and net.bias_times == [[1e-3]]
    np.testing.assert_array_equal(net.weights[0], GOOD_TENSORS["layers.0.weight"])


@pytest.mark.parametrize(
    "extra",
    [
        "not json",
        "[]",
        json.dumps({"encoder": {"type": "LinearLatency"}, "seed": 0}),
        json.dumps({"encoder": {"type": "SomeFutureEncoder"}, "seed": 0}),
    ],
    ids=["not-json", "json-list", "encoder-missing-fields", "unknown-encoder"],
)
def test_corrupt_extra_metadata_is_file_format_error(tmp_path, extra):
    path = tmp_path / "bad-extra.safetensors"
    path.write_bytes(safetensors_bytes(GOOD_TENSORS, spikeloom_metadata(extra=extra)))
    with pytest.raises(FileFormatError):
        sl.TTFSNetwork.load(path)


def test_missing_file_is_os_error(tmp_path):
    with pytest.raises(OSError) as info:
        sl.TTFSNetwork.load(tmp_path / "does-not-exist.st")
    assert isinstance(info.value, SpikeloomError)
    assert "does-not-exist.st" in str(info.value)
    with pytest.raises(OSError):
        sl.TTFSNetwork.load(tmp_path)  # a directory


def test_save_into_missing_directory_fails_cleanly(small_net, tmp_path):
    """save does not create parent folders: it raises an OSError and writes nothing anywhere."""
    target = tmp_path / "no" / "such" / "dir" / "net.st"
    with pytest.raises(OSError) as info:
        small_net.save(target)
    assert isinstance(info.value, SpikeloomError)
    assert list(tmp_path.iterdir()) == []


def test_failed_save_leaves_no_partial_file_and_keeps_old(small_net, tmp_path):
    # The target is a non-empty directory: the final rename fails after the data were written.
    target = tmp_path / "net.st"
    target.mkdir()
    (target / "keep").write_text("x")
    with pytest.raises(OSError):
        small_net.save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.st"]
    assert (target / "keep").read_text() == "x"
    # A successful save over an existing file replaces it completely.
    good = tmp_path / "good.st"
    small_net.save(good)
    before = good.read_bytes()
    other = sl.TTFSNetwork([2, 2], seed=1)
    other.save(good)
    assert good.read_bytes() == other.to_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.st", "net.st"]


def test_concurrent_saves_to_same_path(tmp_path):
    nets = [sl.TTFSNetwork([4, 300, 3], seed=s) for s in range(2)]
    valid = {n.to_bytes() for n in nets}
    path = tmp_path / "shared.st"
    errors: list[Exception] = []
    for _ in range(20):
        barrier = threading.Barrier(2)

        def work(net, barrier=barrier):
            barrier.wait()
            try:
                net.save(path)
            except Exception as e:
                errors.append(e)

        threads = [threading.Thread(target=work, args=(n,)) for n in nets]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert path.read_bytes() in valid
    assert errors == []
