"""Labelled examples for sequence classification: the one in-memory form every loader returns.

Two kinds, one label (a string) per example::

    LabelledTexts(texts, labels)     texts: list[str]
    LabelledSeries(series, labels)   series: list of (T_i, D) float32 arrays, T_i may vary

Labels are strings everywhere ("pos", "3", "Gun-Draw") so a label map stored as JSON in a
run directory means the same thing whichever loader produced the data. Both kinds validate
themselves on construction, keep examples in the order the source gave them (often sorted
by class: shuffle before training) and give a SHA-256 `digest()` of their content, so a run
can record exactly which data it saw.

The loaders live beside this module: `labelled_text` (CSV/TSV/JSONL, one file per class, a
folder per class), `sst` (Stanford Sentiment Treebank), `idx` (MNIST IDX files),
`ucr` (UCR/UEA `.ts` files and bundled sets), `labelled_series` (numeric CSV), and
`labelled_load.load_labelled` picks one from a path or a built-in name.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from rnnkit.errors import DataError
from rnnkit.validate import check_bool, is_int

__all__ = ["LabelledSeries", "LabelledTexts", "shared_data_dir"]

PathLike = str | os.PathLike[str]

# Bumped if the byte layout hashed by `digest()` ever changes, so old and new digests of
# the same data can never be mistaken for each other.
_DIGEST_VERSION = 1


def shared_data_dir() -> Path:
    """Where built-in data sets that no package ships are looked for (SST, rt-polarity).

    ``$RNNKIT_DATA_DIR`` if set, else ``shared/data`` beside the repository (the layout of
    a development checkout and of CI).
    """
    env = os.environ.get("RNNKIT_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def _hash_str(digest: Any, text: str) -> None:
    # Length-prefixed, so ("ab", "c") and ("a", "bc") hash differently.
    raw = text.encode("utf-8")
    digest.update(struct.pack("<Q", len(raw)))
    digest.update(raw)


def _where(source: str) -> str:
    return f" from {source!r}" if source else ""


def _check_labels(kind: str, labels: Sequence[object], n: int, source: str) -> list[str]:
    if isinstance(labels, np.ndarray):
        labels = labels.tolist()
    if isinstance(labels, str) or not isinstance(labels, Sequence):
        raise DataError(f"{kind}{_where(source)}: labels must be a list of strings")
    if len(labels) != n:
        raise DataError(
            f"{kind}{_where(source)} has {n} examples but {len(labels)} labels; "
            "give exactly one label per example"
        )
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label.strip():
            raise DataError(
                f"{kind}{_where(source)}: label {i} is {label!r}; every label must be a "
                "non-empty string"
            )
    return [str(label) for label in labels]  # np.str_ -> str


class _LabelledBase:
    """What both kinds share: length, classes, counts, subsets and the digest."""

    labels: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def classes(self) -> list[str]:
        """The distinct labels, sorted."""
        return sorted(set(self.labels))

    def class_counts(self) -> dict[str, int]:
        """Examples per label, in `classes` order."""
        counts = Counter(self.labels)
        return {label: counts[label] for label in self.classes}

    def shuffled(self, seed: int) -> Self:
        """The same examples in a seeded random order (many sources come sorted by class)."""
        if not is_int(seed):
            raise DataError(f"shuffled(seed) needs an integer seed, got {seed!r}")
        order = np.random.default_rng(seed).permutation(len(self))
        return self.subset(order.tolist())

    def subset(self, indices: Iterable[int]) -> Self:
        raise NotImplementedError  # each kind defines its own


@dataclass(frozen=True, eq=False, repr=False)
class LabelledTexts(_LabelledBase):
    """Texts with one string label each.

    Args:
        texts: one string per example, none empty or only whitespace.
        labels: one non-empty string per example.
        source: where the data came from (a path or a built-in name); used in messages
            and `repr`, not part of the digest.

    Raises:
        DataError: no examples, a count mismatch, a non-string or empty text or label.
    """

    texts: list[str]
    labels: list[str]
    source: str = ""

    def __post_init__(self) -> None:
        texts = self.texts
        if isinstance(texts, np.ndarray):
            texts = texts.tolist()
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise DataError(f"LabelledTexts{_where(self.source)}: texts must be a list of strings")
        if not texts:
            raise DataError(f"LabelledTexts{_where(self.source)} holds no examples")
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise DataError(
                    f"LabelledTexts{_where(self.source)}: text {i} is {text!r}; every text "
                    "must be a non-empty string"
                )
        labels = _check_labels("LabelledTexts", self.labels, len(texts), self.source)
        object.__setattr__(self, "texts", [str(t) for t in texts])
        object.__setattr__(self, "labels", labels)

    def subset(self, indices: Iterable[int]) -> LabelledTexts:
        """The examples at ``indices``, in that order."""
        idx = list(indices)
        return LabelledTexts(
            [self.texts[i] for i in idx], [self.labels[i] for i in idx], self.source
        )

    def digest(self) -> str:
        """SHA-256 (hex) of the texts and labels in order; equal content, equal digest."""
        h = hashlib.sha256(f"rnnkit.LabelledTexts/{_DIGEST_VERSION}\n".encode())
        for text, label in zip(self.texts, self.labels, strict=True):
            _hash_str(h, label)
            _hash_str(h, text)
        return h.hexdigest()

    def __repr__(self) -> str:
        return (
            f"LabelledTexts({len(self)} examples, {len(self.classes)} classes"
            f"{', source=' + repr(self.source) if self.source else ''})"
        )


@dataclass(frozen=True, eq=False, repr=False)
class LabelledSeries(_LabelledBase):
    """Numeric sequences with one string label each.

    Each series becomes a C-contiguous float32 array of shape (T_i, D): a 1-D input is
    read as univariate (T_i, 1). Lengths T_i may differ; the width D may not.

    Args:
        series: one array-like per example, T_i >= 1; or one stacked array, (N, T) for
            univariate or (N, T, D), read as its N rows.
        labels: one non-empty string per example.
        source: where the data came from; used in messages, not part of the digest.
        allow_nan: keep NaN (a missing value) in the series; by default a NaN or an
            infinity is an error naming the example.

    Raises:
        DataError: no examples, a count mismatch, a series that is not 1-D or 2-D, is empty,
            has another width D than the first, or holds NaN/inf (NaN allowed with
            ``allow_nan``; infinity never).
        ConfigError: ``allow_nan`` is not a bool.
    """

    series: list[np.ndarray]
    labels: list[str]
    source: str = ""
    allow_nan: bool = False

    def __post_init__(self) -> None:
        check_bool("LabelledSeries", "allow_nan", self.allow_nan)
        where = _where(self.source)
        raw = self.series
        if isinstance(raw, np.ndarray) and raw.ndim in (2, 3):
            raw = list(raw)  # a stacked (N, T) or (N, T, D) array: one example per row
        if isinstance(raw, str) or not isinstance(raw, Sequence):
            raise DataError(f"LabelledSeries{where}: series must be a list of arrays")
        if not raw:
            raise DataError(f"LabelledSeries{where} holds no examples")
        arrays = []
        width = None
        for i, x in enumerate(raw):
            try:
                a = np.ascontiguousarray(x, dtype=np.float32)
            except (TypeError, ValueError) as err:
                raise DataError(
                    f"LabelledSeries{where}: series {i} is not numeric ({err})"
                ) from None
            if a.ndim == 1:
                a = a.reshape(-1, 1)  # (T,) -> (T, 1)
            if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
                raise DataError(
                    f"LabelledSeries{where}: series {i} has shape {a.shape}; each must be "
                    "(T, D) with T >= 1 and D >= 1"
                )
            width = a.shape[1] if width is None else width
            if a.shape[1] != width:
                raise DataError(
                    f"LabelledSeries{where}: series {i} has {a.shape[1]} dimensions but "
                    f"series 0 has {width}; every example needs the same D"
                )
            arrays.append(a)
        labels = _check_labels("LabelledSeries", self.labels, len(arrays), self.source)
        for i, a in enumerate(arrays):
            if not np.isfinite(a).all():
                if np.isinf(a).any():
                    raise DataError(f"LabelledSeries{where}: series {i} holds an infinity")
                if not self.allow_nan:
                    t, d = np.argwhere(np.isnan(a))[0]
                    raise DataError(
                        f"LabelledSeries{where}: series {i} (label {labels[i]!r}) holds NaN "
                        f"at step {t}, dimension {d}; fix the data or pass allow_nan=True"
                    )
        object.__setattr__(self, "series", arrays)
        object.__setattr__(self, "labels", labels)

    @property
    def dims(self) -> int:
        """D, the number of values per time step."""
        return int(self.series[0].shape[1])

    @property
    def lengths(self) -> list[int]:
        """T_i of every example."""
        return [int(a.shape[0]) for a in self.series]

    def subset(self, indices: Iterable[int]) -> LabelledSeries:
        """The examples at ``indices``, in that order (arrays are shared, not copied)."""
        idx = list(indices)
        return LabelledSeries(
            [self.series[i] for i in idx],
            [self.labels[i] for i in idx],
            self.source,
            self.allow_nan,
        )

    def digest(self) -> str:
        """SHA-256 (hex) of shapes, float32 values (little-endian) and labels, in order.

        Every NaN hashes as the same bit pattern, so two loads of one file agree however
        their missing values were produced.
        """
        h = hashlib.sha256(f"rnnkit.LabelledSeries/{_DIGEST_VERSION}\n".encode())
        for a, label in zip(self.series, self.labels, strict=True):
            _hash_str(h, label)
            h.update(struct.pack("<QQ", *a.shape))
            if self.allow_nan and np.isnan(a).any():
                a = np.where(np.isnan(a), np.float32(np.nan), a)
            h.update(np.ascontiguousarray(a, dtype="<f4").tobytes())
        return h.hexdigest()

    def __repr__(self) -> str:
        lengths = self.lengths
        span = (
            f"T={lengths[0]}"
            if min(lengths) == max(lengths)
            else (f"T={min(lengths)}..{max(lengths)}")
        )
        return (
            f"LabelledSeries({len(self)} examples, {span}, D={self.dims}, "
            f"{len(self.classes)} classes{', source=' + repr(self.source) if self.source else ''})"
        )


def parse_number(field: str, where: str, missing: set[str], allow_nan: bool, hint: str) -> float:
    """One value of a numeric series: a finite float, NaN for a ``missing`` marker when
    ``allow_nan``, else a DataError that says ``where`` it is and, for a bad number, ``hint``."""
    if field in missing:
        if not allow_nan:
            raise DataError(
                f"{where}: a missing value {field!r}; fill it in (in Python, allow_nan=True "
                "keeps it as NaN)"
            )
        return math.nan
    try:
        value = float(field)
    except ValueError:
        value = math.inf
    if not math.isfinite(value):
        raise DataError(f"{where}: {field!r} is not a finite number; {hint}")
    return value
