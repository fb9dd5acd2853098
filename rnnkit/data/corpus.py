"""From raw text to token ids ready for a language model, in one validated step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rnnkit.config import dataclass_from_dict
from rnnkit.data.decoding import check_encoding
from rnnkit.data.split import split_contiguous, split_point
from rnnkit.data.tokenize import Tokenizer, make_tokenizer
from rnnkit.data.vocab import UNK, Vocab
from rnnkit.errors import DataError
from rnnkit.validate import check_bool, check_choice, check_int, check_real

_OWNER = "CorpusConfig"


@dataclass(frozen=True)
class CorpusConfig:
    """How text becomes training data for a language model.

    level: "char" or "word" (words and punctuation as separate tokens).
    lowercase: fold case before tokenising.
    min_freq / max_vocab: at both levels, tokens (words or characters) seen fewer
      than ``min_freq`` times in the training part, or beyond the ``max_vocab`` most
      frequent (``[UNK]`` included in the count, so ``max_vocab >= 2``), become
      ``[UNK]``. At char level the defaults (1, None) keep every character and add no
      ``[UNK]`` unless the held-out part has characters the training part lacks.
    val_fraction: the last part of the text held out for validation (contiguous);
      the vocabulary is built from the training part only (see `prepare_corpus`).
    batch_size / seq_len: B parallel streams, windows of T tokens (truncated BPTT).
    window: if set, train a next-token model on every run of ``window`` tokens
      (the TensorFlow next-word tutorial's set-up) instead of streams.
    rotate: stream training starts every epoch at another place of the text (a
      cyclic rotation drawn from the run's seed and the epoch; `StreamBatcher`).
    max_eval_tokens: validation during training reads at most this many held-out
      tokens (the first ones), so that evaluating a large text does not eat a short
      time budget; None reads them all.
    encoding / encoding_errors / skip_bad_files: how text files are decoded (a codec or
      "auto", `bytes.decode`'s handler) and whether a folder's undecodable or binary
      files are left out instead of stopping the run (`rnnkit.data.read_text`).
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
    max_eval_tokens: int | None = None
    encoding: str = "utf-8"
    encoding_errors: str = "strict"
    skip_bad_files: bool = False

    def __post_init__(self) -> None:
        check_choice(_OWNER, "level", self.level, ("char", "word"))
        check_bool(_OWNER, "lowercase", self.lowercase)
        check_int(_OWNER, "min_freq", self.min_freq, least=1)
        # [UNK] takes one of the max_vocab places, so fewer than 2 leaves no real token.
        check_int(_OWNER, "max_vocab", self.max_vocab, least=2, optional=True)
        check_real(_OWNER, "val_fraction", self.val_fraction, least=0.0, below=1.0)
        check_int(_OWNER, "batch_size", self.batch_size, least=1)
        check_int(_OWNER, "seq_len", self.seq_len, least=1)
        check_int(_OWNER, "window", self.window, least=1, optional=True)
        check_bool(_OWNER, "rotate", self.rotate)
        check_int(_OWNER, "max_eval_tokens", self.max_eval_tokens, least=2, optional=True)
        check_encoding(_OWNER, self.encoding, self.encoding_errors, errors_field="encoding_errors")
        check_bool(_OWNER, "skip_bad_files", self.skip_bad_files)

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


def build_vocab(tokens: Sequence[str], config: CorpusConfig, held_out: Sequence[str] = ()) -> Vocab:
    """The vocabulary of the training ``tokens``, by frequency, cut by ``min_freq`` and
    ``max_vocab``.

    Words: ``[UNK]`` first, always. Characters: no ``[UNK]`` when every character is
    kept and the ``held_out`` tokens (the validation part) bring none the training
    part lacks, since nothing is rare in an alphabet and an ``[UNK]`` could leak into
    samples; otherwise ``[UNK]`` first, and the rare, cut or unseen characters encode
    to it. Samplers should ban ``vocab.unk_id`` (`SamplingConfig.banned_ids`).
    """
    if config.level == "char" and config.min_freq == 1 and config.max_vocab is None:
        unseen = not set(held_out) <= set(tokens)
        return Vocab.build(tokens, specials=(UNK,) if unseen else ())
    return Vocab.build(tokens, specials=(UNK,), min_freq=config.min_freq, max_size=config.max_vocab)


def prepare_corpus(text: str, config: CorpusConfig, vocab: Vocab | None = None) -> Corpus:
    """Tokenise, build (or reuse) the vocabulary, encode and split ``text``.

    The text is cut at `split_point` and a new vocabulary comes from the training
    part only, at both levels (see `build_vocab`): the held-out text is scored like
    new text, its unseen tokens as ``[UNK]``, and never shapes the vocabulary.
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
    split_at = split_point(len(tokens), config.val_fraction)
    if vocab is None:
        vocab = build_vocab(tokens[:split_at], config, held_out=tokens[split_at:])
    ids = vocab.encode(tokens)
    # split_contiguous cuts at the same split_point, and checks both parts are non-empty.
    train_ids, val_ids = split_contiguous(ids, config.val_fraction)
    return Corpus(tokenizer, vocab, list(train_ids), list(val_ids))


def _min_tokens(config: CorpusConfig) -> int:
    if config.window is not None:
        return config.window + 2
    # One full window for each of the B training streams, plus the held-out part.
    train = config.batch_size * (config.seq_len + 1)
    return int(train / (1.0 - config.val_fraction)) + 1
