"""Tokenisers: text -> list of string tokens -> text.

Two levels, both plain and reversible enough to read generated text:

- `CharTokenizer`: every character is a token (char-rnn, Tiny Shakespeare).
- `WordTokenizer`: words and punctuation marks are separate tokens (the word-level
  next-word models). Whitespace only separates tokens, so `detokenize` rebuilds the
  text up to spacing, which it makes conventional again.

A tokenizer is a small frozen dataclass; `to_config()` / `tokenizer_from_config()`
round-trip it through a plain dict that a run directory stores beside the weights.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from rnnkit.validate import check_bool, check_choice, fail

__all__ = [
    "CharTokenizer",
    "Tokenizer",
    "WordTokenizer",
    "make_tokenizer",
    "tokenizer_from_config",
    "TOKENIZER_LEVELS",
]

# A word is a run of letters/digits, optionally joined by internal apostrophes or hyphens
# ("don't", "well-known", "o'er"); every other non-space character stands alone.
# `[^\W_]` is \w without the underscore, i.e. Unicode letters and digits.
_WORD_RE = re.compile(r"[^\W_]+(?:['\u2019-][^\W_]+)*|\S")

# Detokenising: closing punctuation hugs the token before it, opening brackets hug the
# token after. A straight quote is ambiguous (opening or closing); treating "'" as
# closing keeps possessives ("boys' toys") and elisions right, which is the common case.
_NO_SPACE_BEFORE = frozenset({",", ".", ";", ":", "!", "?", "'", ")", "]", "}", "\u2019"})
_NO_SPACE_AFTER = frozenset({"(", "[", "{"})


class Tokenizer(Protocol):
    """What the rest of rnnkit needs from a tokenizer."""

    level: ClassVar[str]
    lowercase: bool

    def tokenize(self, text: str) -> list[str]: ...

    def detokenize(self, tokens: Iterable[str]) -> str: ...

    def to_config(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class CharTokenizer:
    """Every character, whitespace and newlines included, is one token.

    Args:
        lowercase: lower-case the text before splitting (shrinks the vocabulary).
    """

    level: ClassVar[str] = "char"
    lowercase: bool = False

    def __post_init__(self) -> None:
        check_bool("CharTokenizer", "lowercase", self.lowercase)

    def tokenize(self, text: str) -> list[str]:
        """Split `text` into its characters."""
        return list(text.lower() if self.lowercase else text)

    def detokenize(self, tokens: Iterable[str]) -> str:
        """Join the characters back into text."""
        return "".join(tokens)

    def to_config(self) -> dict[str, Any]:
        """A JSON-able dict that `from_config` turns back into an equal tokenizer."""
        return {"level": self.level, "lowercase": self.lowercase}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CharTokenizer:
        """Rebuild from `to_config()` output; ConfigError on a foreign or malformed dict."""
        return cls(**_config_kwargs(cls.level, config))


@dataclass(frozen=True)
class WordTokenizer:
    """Words and punctuation marks as separate tokens; whitespace is dropped.

    "Don't stop, he said." -> ["Don't", "stop", ",", "he", "said", "."]

    Args:
        lowercase: lower-case the text before splitting ("The" and "the" become one token).
    """

    level: ClassVar[str] = "word"
    lowercase: bool = False

    def __post_init__(self) -> None:
        check_bool("WordTokenizer", "lowercase", self.lowercase)

    def tokenize(self, text: str) -> list[str]:
        """Split `text` into words (with internal ' and -) and single punctuation marks."""
        return _WORD_RE.findall(text.lower() if self.lowercase else text)

    def detokenize(self, tokens: Iterable[str]) -> str:
        """Join with single spaces, except none before closing and after opening marks."""
        parts: list[str] = []
        previous: str | None = None
        for token in tokens:
            if (
                previous is not None
                and token not in _NO_SPACE_BEFORE
                and previous not in _NO_SPACE_AFTER
            ):
                parts.append(" ")
            parts.append(token)
            previous = token
        return "".join(parts)

    def to_config(self) -> dict[str, Any]:
        """A JSON-able dict that `from_config` turns back into an equal tokenizer."""
        return {"level": self.level, "lowercase": self.lowercase}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WordTokenizer:
        """Rebuild from `to_config()` output; ConfigError on a foreign or malformed dict."""
        return cls(**_config_kwargs(cls.level, config))


TOKENIZER_LEVELS: dict[str, type[CharTokenizer] | type[WordTokenizer]] = {
    CharTokenizer.level: CharTokenizer,
    WordTokenizer.level: WordTokenizer,
}


def make_tokenizer(level: str, lowercase: bool = False) -> CharTokenizer | WordTokenizer:
    """The tokenizer for `level` ("char" or "word").

    Raises:
        ConfigError: `level` is not one of the known levels.
    """
    check_choice("make_tokenizer", "level", level, tuple(TOKENIZER_LEVELS))
    return TOKENIZER_LEVELS[level](lowercase=lowercase)


def tokenizer_from_config(config: Mapping[str, Any]) -> CharTokenizer | WordTokenizer:
    """Rebuild whichever tokenizer wrote `config` (the `level` key picks the class)."""
    if not isinstance(config, Mapping) or "level" not in config:
        raise fail(
            "tokenizer config",
            "level",
            f"is missing: the config must be a dict with a 'level' key, got {config!r}",
        )
    level = config["level"]
    check_choice("tokenizer config", "level", level, tuple(TOKENIZER_LEVELS))
    return TOKENIZER_LEVELS[level].from_config(config)


def _config_kwargs(level: str, config: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        raise fail("", "tokenizer config", f"must be a dict, got {type(config).__name__}")
    if config.get("level") != level:
        raise fail("tokenizer config", "level", f"is {config.get('level')!r}, expected {level!r}")
    unknown = sorted(set(config) - {"level", "lowercase"})
    if unknown:
        raise fail(
            "tokenizer config",
            str(unknown[0]),
            f"is not a tokenizer setting (unknown keys {unknown}); expected only 'level' "
            "and 'lowercase'",
        )
    return {"lowercase": config.get("lowercase", False)}
