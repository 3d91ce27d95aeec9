"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017), offline, from the Debian package ``dataset-fashion-mnist``.

The package installs the four IDX files of the original release (gzip) in
``/usr/share/datasets/fashion-mnist``; any folder holding the same four files (gzipped or not, e.g. the
release downloaded by hand) can be given as ``path``. The IDX reader checks the magic number, the
dimensions and the file length, so a truncated or foreign file is refused by name.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from .. import _validation as v
from ..errors import FileFormatError, InvalidParameterError
from .base import Dataset, Split
from .digits import MissingDatasetError

#: Where ``apt-get install dataset-fashion-mnist`` puts the files.
DEBIAN_PATH = Path("/usr/share/datasets/fashion-mnist")

#: Class names, in label order.
FASHION_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
_INSTALL_HINT = (
    "install it with `apt-get install dataset-fashion-mnist` (Debian), or pass path= a folder holding "
    + ", ".join(f"{name}[.gz]" for name in _FILES.values())
)


def read_idx(file: str | os.PathLike[str]) -> np.ndarray:
    """Read an unsigned-byte IDX file (the MNIST / Fashion-MNIST format; gzip-compressed if its name
    ends in ``.gz``) as a uint8 array of the dimensions in its header.

    Raises:
        FileFormatError: not an unsigned-byte IDX file, or its length does not match its header.
    """
    file = Path(file)
    opener = gzip.open if file.suffix == ".gz" else open
    try:
        with opener(file, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise FileFormatError(f"{file}: cannot be read as an IDX file ({e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise FileFormatError(f"{file}: expected an IDX file (magic 0x0000TTNN), got {data[:4].hex() or 'nothing'}")
    if data[2] != 0x08:
        raise FileFormatError(f"{file}: expected unsigned-byte data (type 0x08), got type 0x{data[2]:02x}")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise FileFormatError(f"{file}: expected {ndim} dimension sizes after the magic number, got a truncated header")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    n = int(np.prod(dims))
    if len(data) - header != n:
        raise FileFormatError(f"{file}: the header announces {dims} = {n} bytes of data, got {len(data) - header}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _locate(folder: Path, name: str) -> Path:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    raise MissingDatasetError(f"fashion_mnist: no {name}[.gz] in {folder}; {_INSTALL_HINT}")


def fashion_mnist(validation: int = 10000, path: str | os.PathLike[str] | None = None) -> Dataset:
    """Fashion-MNIST: 70000 grey-scale 28x28 images of 10 clothing classes (:data:`FASHION_CLASSES`),
    flattened to 784 values ``pixel / 255`` in [0, 1] (``spikeloom.s4nn.encode(x)`` recovers the exact
    8-bit pixels).

    Args:
        validation: number of validation images taken from the end of the 60000 training images
            (0 puts all 60000 in ``train``).
        path: folder holding the four IDX files (gzipped or not); default: the Debian package's
            ``/usr/share/datasets/fashion-mnist``.

    Returns:
        A :class:`Dataset` (labels 0..9; test = the official 10000 test images).
    """
    validation = v.positive_int("validation", validation, 0)
    if validation > 60000:
        raise InvalidParameterError(f"validation: expected at most 60000 images, got {validation}")
    folder = Path(path) if path is not None else DEBIAN_PATH
    if not folder.is_dir():
        raise MissingDatasetError(f"fashion_mnist: {folder} is not a folder; {_INSTALL_HINT}")
    arrays = {key: read_idx(_locate(folder, name)) for key, name in _FILES.items()}
    for split, n in (("train", 60000), ("test", 10000)):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.shape != (n, 28, 28) or y.shape != (n,):
            raise FileFormatError(
                f"fashion_mnist: expected {n} images of 28x28 and {n} labels in the {split} files, "
                f"got {x.shape} and {y.shape}"
            )
        if y.size and y.max() > 9:
            raise FileFormatError(f"fashion_mnist: expected labels 0..9 in the {split} labels, got {int(y.max())}")
    x_all = arrays["train_x"].reshape(60000, 784) / 255.0
    y_all = arrays["train_y"].astype(np.int64)
    cut = 60000 - validation
    return Dataset(
        name="fashion_mnist",
        train=Split(x_all[:cut], y_all[:cut]),
        validation=Split(x_all[cut:], y_all[cut:]),
        test=Split(arrays["test_x"].reshape(10000, 784) / 255.0, arrays["test_y"].astype(np.int64)),
        n_classes=10,
    )
