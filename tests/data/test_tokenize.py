"""Char and word tokenizers: splitting, joining, lower-casing, config round trip."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rnnkit.data import (
    CharTokenizer,
    WordTokenizer,
    make_tokenizer,
    read_text,
    tokenizer_from_config,
)
from rnnkit.errors import ConfigError

TRICKY = "Don't stop, he said. (Well-known!)"


def test_char_tokenizer_keeps_every_character() -> None:
    tok = CharTokenizer()
    tokens = tok.tokenize(TRICKY + "\n")
    assert len(tokens) == 35
    assert tokens[:6] == ["D", "o", "n", "'", "t", " "]
    assert tokens[-1] == "\n"
    assert tok.detokenize(tokens) == TRICKY + "\n"
    assert tok.level == "char"


def test_char_tokenizer_lowercase() -> None:
    assert CharTokenizer(lowercase=True).tokenize("AbÉ") == ["a", "b", "é"]


def test_word_tokenizer_splits_words_from_punctuation() -> None:
    assert WordTokenizer().tokenize(TRICKY) == [
        "Don't", "stop", ",", "he", "said", ".", "(", "Well-known", "!", ")",
    ]  # fmt: skip


def test_word_tokenizer_lowercase() -> None:
    tokens = WordTokenizer(lowercase=True).tokenize(TRICKY)
    assert tokens[0] == "don't" and tokens[7] == "well-known"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  many   spaces\n\tand\nlines ", ["many", "spaces", "and", "lines"]),
        ("Those,--for", ["Those", ",", "-", "-", "for"]),
        ("'Twixt o'er -dash end-", ["'", "Twixt", "o'er", "-", "dash", "end", "-"]),
        ("pi is 3.14", ["pi", "is", "3", ".", "14"]),
        ("snake_case", ["snake", "_", "case"]),
        ("Café naïve—ok don\u2019t", ["Café", "naïve", "—", "ok", "don\u2019t"]),
    ],
)
def test_word_tokenizer_edge_cases(text: str, expected: list[str]) -> None:
    assert WordTokenizer().tokenize(text) == expected


def test_word_detokenize_attaches_punctuation() -> None:
    tokens = ["He", "said", ",", "(", "yes", ")", "and", "[", "no", "]", "!", "boys", "'"]
    assert WordTokenizer().detokenize(tokens) == "He said, (yes) and [no]! boys'"


def test_word_round_trip_of_conventionally_spaced_text() -> None:
    tok = WordTokenizer()
    assert tok.detokenize(tok.tokenize(TRICKY)) == TRICKY
    assert tok.detokenize(tok.tokenize("Wait; what? Yes: (really).")) == (
        "Wait; what? Yes: (really)."
    )
    assert tok.detokenize([]) == ""


@pytest.mark.parametrize("tok", [CharTokenizer(), CharTokenizer(True), WordTokenizer(True)])
def test_config_round_trip(tok: CharTokenizer | WordTokenizer) -> None:
    config = tok.to_config()
    assert config == {"level": tok.level, "lowercase": tok.lowercase}
    assert type(tok).from_config(config) == tok
    assert tokenizer_from_config(config) == tok
    assert tokenizer_from_config(config) != (
        WordTokenizer() if tok.level == "char" else CharTokenizer()
    )


def test_make_tokenizer() -> None:
    assert make_tokenizer("char") == CharTokenizer()
    assert make_tokenizer("word", lowercase=True) == WordTokenizer(lowercase=True)
    with pytest.raises(ConfigError, match=r"level must be one of char, word, got 'bpe'") as info:
        make_tokenizer("bpe")
    assert info.value.field == "level"


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        ({"level": "char", "lowercase": False}, "level", "level is 'char', expected 'word'"),
        ({"level": "word", "casefold": True}, "casefold", r"unknown keys \['casefold'\]"),
        ({"level": "word", "lowercase": "yes"}, "lowercase", "lowercase must be True or False"),
    ],
)
def test_word_from_config_rejects_bad_dicts(config: dict, field: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        WordTokenizer.from_config(config)
    assert info.value.field == field


def test_tokenizer_from_config_needs_a_known_level() -> None:
    with pytest.raises(ConfigError, match="'level' key") as info:
        tokenizer_from_config({"lowercase": True})
    assert info.value.field == "level"
    with pytest.raises(ConfigError, match="level must be one of char, word, got 'bytes'") as info:
        tokenizer_from_config({"level": "bytes"})
    assert info.value.field == "level"


def test_aesop_fable_counts_match_its_readme(shared_file: Callable[[str], Path]) -> None:
    # The README quotes 204 words and 112 distinct symbols, punctuation counted as words.
    # The file is already lower-cased and space-separated, so lower-casing changes nothing.
    text = read_text(shared_file("aesop-bell-the-cat.txt"))
    for lowercase in (False, True):
        tokens = WordTokenizer(lowercase=lowercase).tokenize(text)
        assert len(tokens) == 204
        assert len(set(tokens)) == 112
    assert tokens[:5] == ["long", "ago", ",", "the", "mice"]
    assert tokens == text.split()
