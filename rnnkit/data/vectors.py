"""Pretrained word vectors (GloVe or word2vec text format) for a `TextEncoder`'s
embedding matrix."""

from __future__ import annotations

import math
import os
import re

import torch

from rnnkit.data.decoding import check_encoding
from rnnkit.data.text_encoder import _START, TextEncoder
from rnnkit.errors import DataError
from rnnkit.validate import check_int

__all__ = ["load_vectors"]


def load_vectors(
    path: str | os.PathLike[str], encoder: TextEncoder, *, encoding: str = "utf-8", seed: int = 0
) -> tuple[torch.Tensor, int]:
    """Pretrained vectors (GloVe or word2vec text format) for `encoder`'s vocabulary.

    Each line is a word and D numbers, space-separated, after an optional word2vec header
    "N D". A word may hold spaces (GloVe 840B) if the field before its numbers is not a
    number; its first line wins; it is lower-cased when the encoder lower-cases. Field
    counts are checked on every line, numbers parsed only where the vocabulary needs them
    (fast on 400k-word files). Subword pieces match only when they start a word
    ("▁the" looks up "the"), so mostly whole words get vectors.

    Returns the (V, D) float32 matrix, rows found = the file's vectors, "[PAD]" = zeros,
    others normal with the found vectors' std (Kim 2014: random rows on the same scale)
    from a generator seeded with `seed`; and the number of tokens found. A DataError names
    the file and line: unreadable, bad `encoding`, wrong count of numbers, a non-number,
    header count wrong, or no vocabulary word at all.
    """
    check_encoding("load_vectors", encoding, "strict")
    check_int("load_vectors", "seed", seed)
    where = f"vectors file {str(path)!r}"
    wanted = _lookup_keys(encoder)
    rows: dict[int, list[float]] = {}
    dim = header = None
    count = 0
    try:
        with open(path, "rb") as handle:
            for lineno, raw in enumerate(handle, 1):
                at = f"{where} line {lineno}"
                try:
                    line = raw.decode(encoding).rstrip().removeprefix("\ufeff")
                except UnicodeDecodeError:
                    raise DataError(f"{at} is not valid {encoding}; pass its encoding") from None
                if lineno == 1 and re.fullmatch(r"\d+ +\d+", line):
                    header, dim = map(int, line.split())
                    continue
                if not line:
                    continue
                dim = line.count(" ") if dim is None else dim
                count += 1
                if line.count(" ") == dim and dim > 0:
                    word, values = line.split(" ", 1)
                else:
                    fields = line.split(" ")
                    if dim < 1 or len(fields) < dim + 1 or _is_number(fields[-dim - 1]):
                        raise DataError(
                            f"{at} has {len(fields) - 1} numbers after its word, expected "
                            f"{dim if dim > 0 else 'at least 1'} (the header's or line 1's)"
                        )
                    word, values = " ".join(fields[:-dim]), " ".join(fields[-dim:])
                key = wanted.get(word.lower() if encoder.lowercase else word)
                if key is not None and key not in rows:
                    rows[key] = _parse_row(values, at)
    except OSError as err:
        raise DataError(f"{where} cannot be read: {err.strerror or err}") from None
    if dim is None or count == 0:
        raise DataError(f"{where} holds no vectors")
    if header is not None and header != count:
        raise DataError(f"{where} line 1: the header says {header} vectors, the file has {count}")
    if not rows:
        raise DataError(
            f"{where} holds none of the {len(wanted)} vocabulary words; is it for another "
            "language, or cased while the encoder is not lower-casing?"
        )
    found = torch.tensor(list(rows.values()), dtype=torch.float32)  # (F, D)
    std = found.std().item() if found.numel() > 1 else 0.0
    generator = torch.Generator().manual_seed(seed)
    matrix = torch.randn(encoder.vocab_size, dim, generator=generator) * (std or 0.1)  # (V, D)
    matrix[list(rows)] = found
    matrix[encoder.pad_id] = 0.0
    return matrix, len(rows)


def _lookup_keys(encoder: TextEncoder) -> dict[str, int]:
    """The file word each vocabulary id takes its vector from."""
    specials = set(encoder.special_tokens)
    keys: dict[str, int] = {}
    for i, token in enumerate(encoder.vocabulary):
        if encoder.tokens in ("bpe", "wordpiece"):
            if not token.startswith(_START):
                continue  # the middle or end of a word, not a word
            token = token.removeprefix(_START)
        if token and token not in specials:
            keys.setdefault(token, i)
    return keys


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _parse_row(values: str, at: str) -> list[float]:
    bad = [v for v in values.split(" ") if not _is_number(v)]
    if bad:
        raise DataError(f"{at}: {bad[0]!r} is not a finite number")
    return [float(v) for v in values.split(" ")]
