"""split_contiguous: the last fraction is validation, both parts contiguous."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.data import split_contiguous
from rnnkit.errors import ConfigError, DataError


def test_last_fraction_is_validation() -> None:
    train, val = split_contiguous(list(range(100)), val_fraction=0.1)
    assert train == list(range(90))
    assert val == list(range(90, 100))


def test_tensor_parts_are_views_in_order() -> None:
    ids = torch.arange(1000, 1050)
    train, val = split_contiguous(ids, val_fraction=0.2)
    assert train.tolist() == list(range(1000, 1040))
    assert val.tolist() == list(range(1040, 1050))
    assert train.data_ptr() == ids.data_ptr()  # no copy of a large corpus


def test_zero_fraction_gives_empty_validation() -> None:
    train, val = split_contiguous([1, 2, 3], val_fraction=0.0, min_len=3)
    assert train == [1, 2, 3] and val == []


def test_validation_length_is_rounded() -> None:
    assert [len(p) for p in split_contiguous(list(range(37)), 0.1)] == [33, 4]  # 3.7 -> 4


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5, math.nan, True, "0.1"])
def test_fraction_outside_range(fraction: object) -> None:
    with pytest.raises(ConfigError, match="val_fraction") as info:
        split_contiguous(list(range(10)), val_fraction=fraction)  # type: ignore[arg-type]
    assert info.value.field == "val_fraction"


def test_min_len_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="min_len must be an integer >= 1") as info:
        split_contiguous(list(range(10)), min_len=0)
    assert info.value.field == "min_len"


def test_validation_too_short() -> None:
    with pytest.raises(DataError, match=r"validation part would have 10 of 100 tokens.*11"):
        split_contiguous(list(range(100)), val_fraction=0.1, min_len=11)
    # a tiny fraction of a short text rounds to no validation at all
    with pytest.raises(DataError, match="validation part would have 0 of 4 tokens"):
        split_contiguous(list(range(4)), val_fraction=0.1)


def test_training_too_short() -> None:
    with pytest.raises(DataError, match=r"training part would have 50 of 100 tokens.*60"):
        split_contiguous(list(range(100)), val_fraction=0.5, min_len=60)
