"""LabelledTexts / LabelledSeries: validation, classes, subsets and the content digest."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest

from rnnkit.data.labelled import LabelledSeries, LabelledTexts
from rnnkit.errors import ConfigError, DataError


def test_texts_keep_order_and_count_classes():
    data = LabelledTexts(["a b", "c", "d e f"], ["pos", "neg", "pos"], "toy")
    assert len(data) == 3
    assert data.classes == ["neg", "pos"]
    assert data.class_counts() == {"neg": 1, "pos": 2}
    assert data.subset([2, 0]).texts == ["d e f", "a b"]
    assert data.subset([2, 0]).labels == ["pos", "pos"]


@pytest.mark.parametrize(
    ("texts", "labels", "needle"),
    [
        ([], [], "no examples"),
        (["a", "b"], ["x"], "2 examples but 1 labels"),
        (["a", "  "], ["x", "y"], "text 1"),
        (["a", 3], ["x", "y"], "text 1"),
        (["a", "b"], ["x", ""], "label 1"),
        (["a", "b"], ["x", 1], "label 1"),
        ("ab", ["x", "y"], "list of strings"),
    ],
)
def test_texts_refuse_bad_content(texts, labels, needle):
    with pytest.raises(DataError, match=needle) as err:
        LabelledTexts(texts, labels, "toy.csv")
    assert "toy.csv" in str(err.value)


def test_series_are_float32_time_major_and_may_vary_in_length():
    data = LabelledSeries([[1, 2, 3], np.ones((2, 1), dtype=np.float64)], ["a", "b"])
    assert [a.dtype for a in data.series] == [np.float32, np.float32]
    assert [a.shape for a in data.series] == [(3, 1), (2, 1)]
    assert data.lengths == [3, 2] and data.dims == 1
    np.testing.assert_array_equal(data.series[0][:, 0], [1.0, 2.0, 3.0])
    stacked = LabelledSeries(np.zeros((4, 5, 2)), ["a", "b", "a", "b"])
    assert [a.shape for a in stacked.series] == [(5, 2)] * 4


@pytest.mark.parametrize(
    ("series", "needle"),
    [
        ([np.zeros((3, 2)), np.zeros((3, 1))], "series 1 has 1 dimensions"),
        ([np.zeros((0, 2)), np.zeros((3, 2))], "series 0 has shape"),
        ([np.zeros((3, 2, 1)), np.zeros((3, 2))], "series 0 has shape"),
        ([np.zeros(3), np.array([1.0, np.inf])], "infinity"),
        ([np.zeros(3), np.array([1.0, np.nan])], "series 1 .label 'b'. holds NaN at step 1"),
    ],
)
def test_series_refuse_bad_shapes_and_values(series, needle):
    with pytest.raises(DataError, match=needle) as err:
        LabelledSeries(series, ["a", "b"], "toy.ts")
    assert "toy.ts" in str(err.value)


def test_series_keep_nan_when_allowed():
    data = LabelledSeries([np.array([1.0, np.nan])], ["a"], allow_nan=True)
    assert np.isnan(data.series[0][1, 0])
    with pytest.raises(ConfigError, match="allow_nan must be True or False"):
        LabelledSeries([np.array([1.0, np.nan])], ["a"], allow_nan=1)


def test_shuffled_is_a_seeded_permutation():
    data = LabelledTexts([str(i) for i in range(20)], ["a"] * 10 + ["b"] * 10)
    one, two = data.shuffled(3), data.shuffled(3)
    assert one.texts == two.texts
    assert one.texts != data.texts
    assert sorted(one.texts, key=int) == data.texts
    assert [data.labels[int(t)] for t in one.texts] == one.labels
    assert data.shuffled(4).texts != one.texts


def test_text_digest_follows_content_not_source():
    data = LabelledTexts(["a b", "c"], ["x", "y"], "one.csv")
    assert data.digest() == LabelledTexts(["a b", "c"], ["x", "y"], "two.csv").digest()
    changed = [
        LabelledTexts(["a b", "d"], ["x", "y"]),
        LabelledTexts(["a b", "c"], ["x", "z"]),
        LabelledTexts(["c", "a b"], ["y", "x"]),
        LabelledTexts(["a", "b c"], ["x", "y"]),  # same characters, other boundaries
    ]
    assert len({data.digest(), *(d.digest() for d in changed)}) == 5


def test_text_digest_is_sha256_of_the_documented_layout():
    # Recomputed here from the layout the docstring promises, so a silent change of the
    # byte layout (which would orphan every recorded digest) fails.
    h = hashlib.sha256(b"rnnkit.LabelledTexts/1\n")
    for label, text in [("x", "a b"), ("y", "c")]:
        for s in (label, text):
            h.update(struct.pack("<Q", len(s.encode())) + s.encode())
    assert LabelledTexts(["a b", "c"], ["x", "y"]).digest() == h.hexdigest()


def test_series_digest_follows_values_shapes_and_labels():
    base = LabelledSeries([np.arange(6.0).reshape(3, 2)], ["a"])
    same = LabelledSeries([np.arange(6, dtype=np.float32).reshape(3, 2)], ["a"], "elsewhere")
    assert base.digest() == same.digest()
    others = [
        LabelledSeries([np.arange(6.0).reshape(2, 3)], ["a"]),  # same bytes, other shape
        LabelledSeries([np.arange(6.0).reshape(3, 2) + 1e-3], ["a"]),
        LabelledSeries([np.arange(6.0).reshape(3, 2)], ["b"]),
    ]
    assert len({base.digest(), *(d.digest() for d in others)}) == 4


def test_series_digest_treats_every_nan_alike():
    quiet = np.array([1.0, np.nan], dtype=np.float32)
    other = quiet.copy()
    other.view(np.uint32)[1] = 0x7FC00001  # a NaN with another payload
    assert np.isnan(other[1])
    one = LabelledSeries([quiet], ["a"], allow_nan=True).digest()
    assert one == LabelledSeries([other], ["a"], allow_nan=True).digest()
