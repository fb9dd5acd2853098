"""From raw text to token ids ready for a language model, in one validated step."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from rnnkit.config import dataclass_from_dict
from rnnkit.data.split import split_contiguous
from rnnkit.data.tokenize import Tokenizer, make_tokenizer
from rnnkit.data.vocab import UNK, Vocab
from rnnkit.errors import ConfigError, DataError


@dataclass(frozen=True)
class CorpusConfig:
    """How text becomes training data for a language model.

    level: "char" or "word" (words and punctuation as separate tokens).
    lowercase: fold case before tokenising.
    min_freq / max_vocab: word level only; rarer tokens become ``[UNK]``.
    val_fraction: the last part of the text held out for validation (contiguous).
    batch_size / seq_len: B parallel streams, windows of T tokens (truncated BPTT).
    window: if set, train a next-token model on every run of ``window`` tokens
      (the TensorFlow next-word tutorial's set-up) instead of streams.
    rotate: stream training starts every epoch at another place of the text (a
      cyclic rotation drawn from the run's seed and the epoch; `StreamBatcher`).
    """

    level: str = "char"
    lowercase: bool = False
    min_freq: int = 1
    max_vocab: int | None = None
    val_fraction: float = 0.1
    batch_size: int = 32
    seq_len: int = 100
    window: int | None = None
    rotate: bool = False

    def __post_init__(self) -> None:
        if self.level not in ("char", "word"):
            raise ConfigError(f"level: expected 'char' or 'word', got {self.level!r}")
        for name in ("min_freq", "batch_size", "seq_len"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}: expected an integer >= 1, got {value!r}")
        for name in ("max_vocab", "window"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name}: expected an integer >= 1 or None, got {value!r}")
        if not isinstance(self.rotate, bool):
            raise ConfigError(f"rotate: expected True or False, got {self.rotate!r}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(
                f"val_fraction: expected a number in [0, 1), got {self.val_fraction!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CorpusConfig:
        return dataclass_from_dict(cls, data, "data config")


@dataclass
class Corpus:
    """A tokenised, encoded, split text."""

    tokenizer: Tokenizer
    vocab: Vocab
    train_ids: list[int]
    val_ids: list[int]


def build_vocab(tokens: list[str], config: CorpusConfig) -> Vocab:
    """Characters: every symbol of the text, no ``[UNK]`` (nothing is rare in an
    alphabet, and an ``[UNK]`` would leak into samples). Words: ``[UNK]`` first, then
    words by frequency, cut by ``min_freq`` and ``max_vocab``."""
    if config.level == "char" and config.min_freq == 1 and config.max_vocab is None:
        return Vocab.build(tokens, specials=())
    return Vocab.build(tokens, specials=(UNK,), min_freq=config.min_freq, max_size=config.max_vocab)


def prepare_corpus(text: str, config: CorpusConfig, vocab: Vocab | None = None) -> Corpus:
    """Tokenise, build (or reuse) the vocabulary, encode and split ``text``.

    The vocabulary of characters comes from the whole text (validation characters
    must be encodable); a word vocabulary comes from the training part only, so
    validation perplexity counts unseen words as ``[UNK]`` honestly.
    """
    tokenizer = make_tokenizer(config.level, config.lowercase)
    tokens = tokenizer.tokenize(text)
    need = _min_tokens(config)
    if len(tokens) < need:
        raise DataError(
            f"the text has {len(tokens)} {config.level} tokens; training needs at least {need} "
            f"(batch size {config.batch_size} x sequence length {config.seq_len}"
            f"{'' if config.window is None else f', window {config.window}'}); "
            "use a longer text or smaller --batch-size/--seq-len"
        )
    split_at = len(tokens) - int(len(tokens) * config.val_fraction)
    if vocab is None:
        basis = tokens if config.level == "char" else tokens[:split_at]
        vocab = build_vocab(basis, config)
    ids = vocab.encode(tokens)
    train_ids, val_ids = split_contiguous(ids, config.val_fraction)
    return Corpus(tokenizer, vocab, list(train_ids), list(val_ids))


def _min_tokens(config: CorpusConfig) -> int:
    if config.window is not None:
        return config.window + 2
    # One full window for each of the B training streams, plus the held-out part.
    train = config.batch_size * (config.seq_len + 1)
    return int(train / (1.0 - config.val_fraction)) + 1
