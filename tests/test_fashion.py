"""Fashion-MNIST: the IDX reader on files written here, and the Debian package's data (CI installs it)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import spikeloom as sl
from spikeloom.datasets import MissingDatasetError, Split, fashion_mnist, read_idx
from spikeloom.datasets.fashion import DEBIAN_PATH
from spikeloom.errors import FileFormatError, InvalidParameterError


def write_idx(path: Path, a: np.ndarray, compress: bool) -> None:
    data = bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def fake_release(folder: Path, n_train: int = 60000, n_test: int = 10000, compress: bool = True) -> dict:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        write_idx(folder / name, a, compress)
    return arrays


@pytest.mark.parametrize("compress", [True, False])
def test_reader_and_splits_on_a_written_release(tmp_path: Path, compress: bool) -> None:
    arrays = fake_release(tmp_path, compress=compress)
    d = fashion_mnist(validation=5000, path=tmp_path)
    x_train = arrays["train-images-idx3-ubyte"].reshape(60000, 784)
    np.testing.assert_array_equal(d.train.x, x_train[:55000] / 255.0)
    np.testing.assert_array_equal(d.validation.x, x_train[55000:] / 255.0)
    np.testing.assert_array_equal(d.validation.y, arrays["train-labels-idx1-ubyte"][55000:])
    np.testing.assert_array_equal(d.test.x, arrays["t10k-images-idx3-ubyte"].reshape(10000, 784) / 255.0)
    assert d.train.y.dtype == np.int64 and d.n_classes == 10 and d.name == "fashion_mnist"
    # The S4NN code recovers the exact 8-bit pixels: pixel 255 -> step 0, pixel 0 -> t_max.
    pixels = arrays["t10k-images-idx3-ubyte"][:50].reshape(50, 784)
    np.testing.assert_array_equal(sl.s4nn.encode(d.test.x[:50]), sl.s4nn.encode_pixels(pixels))
    assert fashion_mnist(validation=0, path=tmp_path).train.x.shape == (60000, 784)


def test_damaged_or_missing_files_are_refused_by_name(tmp_path: Path) -> None:
    good = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "ok", good, compress=False)
    np.testing.assert_array_equal(read_idx(tmp_path / "ok"), good)
    raw = (tmp_path / "ok").read_bytes()
    cases = {
        "truncated": (raw[:-1], "announces \\(3, 4\\) = 12 bytes of data, got 11"),
        "magic": (b"\x01\x00" + raw[2:], "expected an IDX file"),
        "type": (raw[:2] + b"\x0d" + raw[3:], "expected unsigned-byte data \\(type 0x08\\), got type 0x0d"),
        "header": (raw[:6], "truncated header"),
        "empty": (b"", "got nothing"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(FileFormatError, match=message):
            read_idx(tmp_path / name)
    (tmp_path / "bad.gz").write_bytes(b"not gzip")
    with pytest.raises(FileFormatError, match="bad.gz: cannot be read as an IDX file"):
        read_idx(tmp_path / "bad.gz")
    # A release with the wrong shapes, a missing file, a missing folder, a bad validation size.
    fake_release(tmp_path / "small", n_train=100)
    with pytest.raises(FileFormatError, match="expected 60000 images of 28x28"):
        fashion_mnist(path=tmp_path / "small")
    (tmp_path / "small" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(
        MissingDatasetError, match="no t10k-labels-idx1-ubyte\\[.gz\\].*apt-get install dataset-fashion-mnist"
    ):
        fashion_mnist(path=tmp_path / "small")
    with pytest.raises(MissingDatasetError, match="is not a folder"):
        fashion_mnist(path=tmp_path / "nowhere")
    with pytest.raises(InvalidParameterError, match="validation: expected at most 60000 images, got 60001"):
        fashion_mnist(validation=60001, path=tmp_path)


@pytest.mark.skipif(not DEBIAN_PATH.is_dir(), reason="apt-get install dataset-fashion-mnist (CI installs it)")
def test_the_debian_release_loads_and_is_learnable() -> None:
    d = fashion_mnist()
    assert (d.train.x.shape, d.validation.x.shape, d.test.x.shape) == ((50000, 784), (10000, 784), (10000, 784))
    # Facts of the published release: 6000 / 1000 images per class, the first training labels.
    counts = np.bincount(np.concatenate([d.train.y, d.validation.y]), minlength=10)
    assert counts.tolist() == [6000] * 10 and np.bincount(d.test.y).tolist() == [1000] * 10
    assert d.train.y[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert d.train.x.min() == 0.0 and d.train.x.max() == 1.0
    # An independent read of the same file (fixed 16-byte header of the release).
    with gzip.open(DEBIAN_PATH / "t10k-images-idx3-ubyte.gz") as f:
        pixels = np.frombuffer(f.read()[16:], dtype=np.uint8).reshape(10000, 784)
    np.testing.assert_array_equal(d.test.x * 255.0, pixels)
    # A one-layer S4NN trained for 3 epochs on 5000 images (seeded) classifies well above chance (10 %).
    net = sl.S4NNNetwork([784, 10], init=[(0, 2)], seed=0)
    train = Split(d.train.x[:5000], d.train.y[:5000]).encode(net.encode)
    sl.fit(net, train, config=sl.S4NNConfig(epochs=3, lr=0.1, gamma=1), progress=False)
    test = d.test.encode(net.encode)
    assert net.evaluate(test.x, test.y)["accuracy"] > 0.65
