"""NgramWindows: every (n ids, next id) pair of a text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from rnnkit.data import NgramWindows, Vocab, WordTokenizer, read_text
from rnnkit.errors import ConfigError, DataError


def test_all_pairs_in_order() -> None:
    windows = NgramWindows([5, 3, 8, 1, 9], n=2)
    assert windows.x.tolist() == [[5, 3], [3, 8], [8, 1]]
    assert windows.y.tolist() == [8, 1, 9]
    assert windows.x.dtype == windows.y.dtype == torch.int64
    assert len(windows) == 3
    x, y = windows[1]
    assert x.tolist() == [3, 8] and y.item() == 1
    assert windows.tensors()[0] is windows.x


def test_pairs_do_not_alias_the_input() -> None:
    ids = torch.arange(6)
    windows = NgramWindows(ids, 3)
    ids.zero_()
    assert windows.x[-1].tolist() == [2, 3, 4] and windows.y[-1].item() == 5


def test_text_must_be_longer_than_the_window() -> None:
    assert len(NgramWindows([1, 2, 3, 4], 3)) == 1
    with pytest.raises(DataError, match=r"3 tokens long; 3-token windows need at least 4"):
        NgramWindows([1, 2, 3], 3)


@pytest.mark.parametrize("n", [0, -1, 2.0, True])
def test_bad_window_length(n: object) -> None:
    with pytest.raises(ConfigError, match=r"NgramWindows\.n must be an integer >= 1") as info:
        NgramWindows([1, 2, 3], n)  # type: ignore[arg-type]
    assert info.value.field == "n"


def test_aesop_three_word_windows(shared_file: Callable[[str], Path]) -> None:
    tokens = WordTokenizer().tokenize(read_text(shared_file("aesop-bell-the-cat.txt")))
    vocab = Vocab.build(tokens, specials=[])
    windows = NgramWindows(vocab.encode(tokens), n=3)
    assert len(windows) == 201 and windows.x.shape == (201, 3)
    assert vocab.decode(windows.x[0]) == ["long", "ago", ","]
    assert vocab.decode(windows.y[:2]) == ["the", "mice"]
    assert vocab.decode(windows.x[-1]) == ["propose", "impossible", "remedies"]
    assert vocab.decode(windows.y[-1:]) == ["."]
