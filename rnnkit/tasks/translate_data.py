"""Translation data: the data config, vocabularies fitted on the training part, encoded
sentence pairs, bucketed padded batches, and the trainer task.

Pairs are split three ways with a fixed seed (`rnnkit.data.parallel.split_pairs`:
every translation of one source sentence lands on one side, so no source sentence is
shared between training and test); the vocabularies are fitted on the training part
only; pairs longer than ``max_len`` tokens on either side are dropped from each part.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from rnnkit.config import dataclass_from_dict
from rnnkit.data.decoding import check_encoding
from rnnkit.data.parallel import Pairs
from rnnkit.data.shuffle import EpochBatches, ShuffledTaskMixin, pad_batch
from rnnkit.data.text_encoder import TextEncoder
from rnnkit.errors import DataError
from rnnkit.train import StepOutput
from rnnkit.validate import check_bool, check_choice, check_int, check_real, fail

_OWNER = "TranslateData"
TOKENS = ("word", "char", "bpe", "wordpiece")
#: Padding, unknown, start and end of a target sentence, ids 0..3 of every vocabulary.
SPECIALS = ("<pad>", "<unk>", "<go>", "<eos>")
PAD, UNK, GO, EOS = range(4)


@dataclass(frozen=True)
class TranslateData:
    """How parallel text becomes training batches.

    tokens: "word" (punctuation split off), "char", or subwords "bpe" / "wordpiece"
      trained on the training part; lowercase; min_freq / max_vocab per vocabulary
      (words seen once read as <unk>: on fra.txt that halves the French vocabulary,
      and the output layer over it is the costliest part of a step);
      shared_vocab: one vocabulary for both languages.
    max_len: pairs with more tokens on either side are left out.
    reverse_source: feed the source backwards, so the decoder starts near its first word.
    val_fraction / test_fraction / split_seed: the held-out parts (by source sentence).
    teacher_forcing: the share of decoder steps fed the reference token in training.
    beam / length_penalty / max_output_len: how `evaluate` and `translate` decode.
    batch_size; encoding / encoding_errors: how the file is decoded.
    """

    tokens: str = "word"
    lowercase: bool = True
    min_freq: int = 2
    max_vocab: int = 10000
    shared_vocab: bool = False
    max_len: int = 20
    reverse_source: bool = False
    val_fraction: float = 0.05
    test_fraction: float = 0.1
    split_seed: int = 0
    teacher_forcing: float = 1.0
    beam: int = 5
    length_penalty: float = 0.6
    max_output_len: int | None = None
    batch_size: int = 64
    encoding: str = "utf-8"
    encoding_errors: str = "strict"

    def __post_init__(self) -> None:
        check_choice(_OWNER, "tokens", self.tokens, TOKENS)
        for name in ("lowercase", "shared_vocab", "reverse_source"):
            check_bool(_OWNER, name, getattr(self, name))
        check_int(_OWNER, "min_freq", self.min_freq, least=1)
        check_int(_OWNER, "max_vocab", self.max_vocab, least=8)
        check_int(_OWNER, "max_len", self.max_len, least=1)
        check_real(_OWNER, "val_fraction", self.val_fraction, least=0.0, below=1.0)
        check_real(_OWNER, "test_fraction", self.test_fraction, least=0.0, below=1.0)
        if self.val_fraction + self.test_fraction >= 1:
            raise fail(
                _OWNER,
                "val_fraction",
                f"{self.val_fraction} and the test fraction {self.test_fraction} add up to "
                f"{self.val_fraction + self.test_fraction:g}, leaving nothing to train on; "
                "keep their sum below 1",
            )
        check_int(_OWNER, "split_seed", self.split_seed, least=0)
        check_real(_OWNER, "teacher_forcing", self.teacher_forcing, least=0.0, most=1.0)
        check_int(_OWNER, "beam", self.beam, least=1)
        check_real(_OWNER, "length_penalty", self.length_penalty, least=0.0)
        check_int(_OWNER, "max_output_len", self.max_output_len, least=1, optional=True)
        check_int(_OWNER, "batch_size", self.batch_size, least=1)
        check_encoding(_OWNER, self.encoding, self.encoding_errors, errors_field="encoding_errors")

    @property
    def output_limit(self) -> int:
        """The most tokens a translation may have (before ``<eos>``)."""
        return self.max_output_len or 2 * self.max_len

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TranslateData:
        return dataclass_from_dict(cls, data, "translation data config")


def fit_encoders(train: Pairs, config: TranslateData) -> dict[str, TextEncoder]:
    """The source and target vocabularies (one shared, with ``shared_vocab``)."""
    settings = dict(
        tokens=config.tokens,
        lowercase=config.lowercase,
        normalise=False,
        min_freq=config.min_freq,
        max_vocab=config.max_vocab,
        specials=SPECIALS,
    )
    if config.shared_vocab:
        shared = TextEncoder.fit([*train.sources, *train.targets], **settings)
        return {"source": shared, "target": shared}
    return {
        "source": TextEncoder.fit(list(train.sources), **settings),
        "target": TextEncoder.fit(list(train.targets), **settings),
    }


@dataclass
class Encoded:
    """Encoded pairs: source ids (reversed if asked) and target ids ``<go> .. <eos>``."""

    sources: list[Tensor]
    targets: list[Tensor]
    kept: list[int]  # the indices of the pairs kept (within max_len)

    def __len__(self) -> int:
        return len(self.sources)


def encode_source(encoder: TextEncoder, texts, config: TranslateData) -> list[list[int]]:
    ids = encoder.encode_batch(list(texts))
    return [row[::-1] for row in ids] if config.reverse_source else ids


def encode_pairs(pairs: Pairs, encoders: dict[str, TextEncoder], config: TranslateData) -> Encoded:
    """Ids of the pairs within ``max_len`` tokens on both sides (the others are left out)."""
    sources = encode_source(encoders["source"], pairs.sources, config)
    targets = encoders["target"].encode_batch(list(pairs.targets))
    out = Encoded([], [], [])
    for i, (s, t) in enumerate(zip(sources, targets, strict=True)):
        if not s or not t:
            side = "source" if not s else "target"
            raise DataError(f"pair {i + 1} has an empty {side} after tokenising; remove it")
        if len(s) > config.max_len or len(t) > config.max_len:
            continue
        out.sources.append(torch.tensor(s, dtype=torch.long))
        out.targets.append(torch.tensor([GO, *t, EOS], dtype=torch.long))
        out.kept.append(i)
    return out


class TranslateTask(ShuffledTaskMixin):
    """Batches of similar source lengths; loss: cross-entropy per target token."""

    unit = "tokens"

    def __init__(self, model, train: Encoded, val: Encoded, config: TranslateData, seed: int):
        if len(train) == 0:
            raise DataError(
                f"no training pair is within --max-len {config.max_len} tokens; raise --max-len"
            )
        self.model = model
        self.train, self.val = train, val
        self.held_out = len(val) > 0
        self.teacher_forcing = config.teacher_forcing
        self.batch_size = min(config.batch_size, len(train))
        lengths = [len(s) for s in train.sources]
        self.order = EpochBatches(lengths, self.batch_size, seed, bucket=True)
        self.generator = torch.Generator().manual_seed(seed)

    def next_batch(self) -> tuple[Tensor, ...]:
        rows = self.order.next()
        return batch_of(self.train, rows)

    def training_loss(self, batch) -> StepOutput:
        device = next(self.model.parameters()).device
        source, lengths, target_in, target_out = (t.to(device) for t in batch)
        generator = self.generator if self.teacher_forcing < 1.0 else None
        logits = self.model(source, lengths, target_in, self.teacher_forcing, generator)
        count = int((target_out != PAD).sum())
        return StepOutput(self.model.loss(logits, target_out), count)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        data = self.val if self.held_out else self.train
        loss = teacher_forced_loss(self.model, data)
        return {"loss": loss}

    def state_dict(self) -> dict[str, Any]:
        return {**self.order.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.order.load_state_dict(state)
        self.generator.set_state(state["generator"].cpu())


def batch_of(data: Encoded, rows) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(source (B, S), source lengths (B,), target_in (B, T), target_out (B, T))."""
    source, lengths = pad_batch([data.sources[i] for i in rows], PAD)
    target, _ = pad_batch([data.targets[i] for i in rows], PAD)
    return source, lengths, target[:, :-1], target[:, 1:]


@torch.no_grad()
def teacher_forced_loss(model, data: Encoded, chunk: int = 256) -> float:
    """Mean cross-entropy per target token over ``data``, reference tokens fed in."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(data)), key=lambda i: len(data.sources[i]))
    total, tokens = 0.0, 0
    for start in range(0, len(order), chunk):
        source, lengths, target_in, target_out = (
            t.to(device) for t in batch_of(data, order[start : start + chunk])
        )
        logits = model(source, lengths, target_in)
        n = int((target_out != PAD).sum())
        total += float(model.loss(logits, target_out)) * n
        tokens += n
    model.train(was_training)
    return total / max(tokens, 1)
