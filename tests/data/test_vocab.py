"""Vocab: deterministic ids, [UNK] handling, JSON persistence and its validation."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from rnnkit.data import UNK, Vocab, read_text
from rnnkit.errors import ConfigError, DataError, VocabularyError

TEXT = "b a c a b a d".split()


def test_frequency_order_with_first_appearance_tie_break() -> None:
    vocab = Vocab.build(TEXT)
    # a x3, b x2, then c and d once each: c first appears before d.
    assert vocab.tokens == [UNK, "a", "b", "c", "d"]
    assert vocab.counts == [0, 3, 2, 1, 1]
    assert vocab.unk_id == 0
    tied = Vocab.build("y x x y z".split(), specials=[])
    assert tied.tokens == ["y", "x", "z"]
    assert tied.unk_id is None


def test_encode_decode_and_lookups() -> None:
    vocab = Vocab.build(TEXT)
    ids = vocab.encode(TEXT)
    assert ids == [2, 1, 3, 1, 2, 1, 4]
    assert vocab.decode(ids) == TEXT
    assert vocab.decode(torch.tensor(ids)) == TEXT
    assert vocab.token_to_id("c") == 3
    assert vocab.id_to_token(4) == "d"
    assert len(vocab) == 5 and "a" in vocab and "z" not in vocab
    assert list(vocab) == vocab.tokens
    assert vocab.encode(iter(["a", "zebra"])) == [1, 0]  # unseen -> [UNK]
    assert vocab.token_to_id("zebra") == 0


def test_decode_out_of_range() -> None:
    vocab = Vocab.build(TEXT)
    with pytest.raises(VocabularyError, match=r"id 5 is outside.*0\.\.4"):
        vocab.decode([1, 5])
    with pytest.raises(VocabularyError, match="id -1"):
        vocab.id_to_token(-1)


def test_min_freq_maps_rare_tokens_to_unk() -> None:
    vocab = Vocab.build(TEXT, min_freq=2)
    assert vocab.tokens == [UNK, "a", "b"]
    assert vocab.counts == [2, 3, 2]  # [UNK] counts the two dropped tokens c and d
    assert vocab.encode(TEXT) == [2, 1, 0, 1, 2, 1, 0]
    assert vocab.decode(vocab.encode(["c"])) == [UNK]


def test_max_size_counts_specials() -> None:
    vocab = Vocab.build(TEXT, specials=["[PAD]", UNK], max_size=4)
    assert vocab.tokens == ["[PAD]", UNK, "a", "b"]
    assert vocab.unk_id == 1
    assert vocab.counts == [0, 2, 3, 2]


def test_special_tokens_in_text_are_not_duplicated() -> None:
    vocab = Vocab.build(["a", UNK, "a"])
    assert vocab.tokens == [UNK, "a"]
    assert vocab.counts == [1, 2]


def test_closed_vocab_names_unknown_tokens() -> None:
    vocab = Vocab.build(list("abc"), specials=[])
    with pytest.raises(VocabularyError, match=r"1 token\(s\) not in the vocabulary: 'z'"):
        vocab.encode(list("abz"))
    with pytest.raises(VocabularyError) as info:
        vocab.encode(list("qrstuvwqa"))
    message = str(info.value)
    assert "7 token(s)" in message and "'q', 'r', 's', 't', 'u' and 2 more" in message
    assert "'v'" not in message and "[UNK]" in message
    with pytest.raises(VocabularyError, match="'x'"):
        vocab.token_to_id("x")


def test_unknown_reports_distinct_tokens_in_first_seen_order() -> None:
    vocab = Vocab.build(TEXT)
    assert vocab.unknown(["z", "a", "y", "z", "b", "x", "y"]) == ["z", "y", "x"]
    assert vocab.unknown(TEXT) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_freq": 0}, "min_freq must be an integer >= 1"),
        ({"min_freq": 1.5}, "min_freq"),
        ({"max_size": 1}, r"max_size must be None or an integer > the 1 special"),
        ({"specials": [UNK, UNK]}, "distinct non-empty strings"),
        ({"specials": [""]}, "distinct non-empty strings"),
    ],
)
def test_build_rejects_bad_config(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        Vocab.build(TEXT, **kwargs)
    assert info.value.field == next(iter(kwargs))


def test_build_from_nothing() -> None:
    with pytest.raises(DataError, match="empty token sequence"):
        Vocab.build([])


def test_save_load_round_trip(tmp_path: Path) -> None:
    vocab = Vocab.build(TEXT, specials=["[PAD]", UNK], min_freq=2)
    path = tmp_path / "vocab.json"
    vocab.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == {
        "format": "rnnkit.vocab",
        "version": 1,
        "tokens": ["[PAD]", UNK, "a", "b"],
        "specials": ["[PAD]", UNK],
        "counts": [0, 2, 3, 2],
    }
    loaded = Vocab.load(path)
    assert loaded == vocab
    assert loaded.specials == vocab.specials and loaded.counts == vocab.counts
    assert loaded.unk_id == 1
    assert loaded.fingerprint() == vocab.fingerprint()
    assert loaded.decode(loaded.encode(["a", "b", "a"])) == ["a", "b", "a"]
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.json"]  # no temp file left
    vocab.save(path)  # overwriting works too
    assert Vocab.load(path) == vocab


def test_saved_file_has_the_permissions_of_any_new_file(tmp_path: Path) -> None:
    # Under umask 022 a plain open() gives 0644; mkstemp's 0600 would hide the run's
    # vocabulary from the user's group, unlike every other file of the run.
    old_umask = os.umask(0o022)
    try:
        with open(tmp_path / "plain.json", "w", encoding="utf-8") as f:
            f.write("{}")
        Vocab.build(TEXT).save(tmp_path / "vocab.json")
    finally:
        os.umask(old_umask)
    plain = stat.S_IMODE((tmp_path / "plain.json").stat().st_mode)
    assert stat.S_IMODE((tmp_path / "vocab.json").stat().st_mode) == plain == 0o644


def test_save_load_non_ascii(tmp_path: Path) -> None:
    vocab = Vocab.build(list("naïve—é\n"), specials=[])
    vocab.save(tmp_path / "v.json")
    assert Vocab.load(tmp_path / "v.json").tokens == vocab.tokens


def test_equality_and_fingerprint() -> None:
    a = Vocab.build(TEXT)
    assert a == Vocab(a.tokens, a.specials)  # counts do not matter
    assert a != Vocab.build(TEXT, specials=[])
    fp = a.fingerprint()
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert fp == Vocab.build(list(TEXT)).fingerprint()
    assert fp != Vocab([UNK, "b", "a", "c", "d"]).fingerprint()
    # An unambiguous encoding: joining the tokens would make these two collide.
    assert Vocab(["ab"], specials=[]).fingerprint() != Vocab(["a", "b"], specials=[]).fingerprint()


CORRUPT = [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"format": "other", "version": 1}', "format 'other'"),
    ('{"format": "rnnkit.vocab", "version": 9}', "version 9"),
    ('{"format": "rnnkit.vocab", "version": 1, "tokens": []}', "missing the field"),
    (
        '{"format": "rnnkit.vocab", "version": 1, "tokens": ["a", "a"],'
        ' "specials": [], "counts": [1, 1]}',
        "duplicates",
    ),
    (
        '{"format": "rnnkit.vocab", "version": 1, "tokens": ["a", "[UNK]"],'
        ' "specials": ["[UNK]"], "counts": [1, 1]}',
        "'specials' must be the first entries",
    ),
    (
        '{"format": "rnnkit.vocab", "version": 1, "tokens": ["a", "b"],'
        ' "specials": [], "counts": [1]}',
        "'counts' must be",
    ),
    (
        '{"format": "rnnkit.vocab", "version": 1, "tokens": ["a", 2],'
        ' "specials": [], "counts": [1, 1]}',
        "'tokens' must be a list of strings",
    ),
]


@pytest.mark.parametrize(("content", "message"), CORRUPT)
def test_load_rejects_corrupt_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "vocab.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(VocabularyError, match=message) as info:
        Vocab.load(path)
    assert "vocab.json" in str(info.value)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VocabularyError, match="missing.json.*does not exist"):
        Vocab.load(tmp_path / "missing.json")


def test_char_vocab_of_tiny_shakespeare(shared_file: Callable[[str], Path]) -> None:
    text = read_text(shared_file("tinyshakespeare.txt"))
    vocab = Vocab.build(text, specials=[])
    assert len(vocab) == 65
    assert vocab.tokens[0] == " "  # the most frequent character
    assert sum(vocab.counts) == len(text)
    ids = vocab.encode(text[:1000])
    assert "".join(vocab.decode(ids)) == text[:1000]
