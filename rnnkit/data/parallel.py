"""Parallel text: sentence pairs from a tab-separated file, filtered by length, split.

The file holds one pair a line, ``source<TAB>target``: the Tatoeba format of the
ManyThings downloads (``fra.txt``: "Go.\\tVa !"), whose further columns (an attribution)
are ignored. Each side is stripped of surrounding whitespace and otherwise kept as written
(French spacing before "!" and "?", a narrow no-break space included: the tokenisers decide
what it means).

`split_pairs` splits by source sentence, not by pair: Tatoeba gives one English sentence
several translations ("Run!" -> "Cours !", "Courez !"), and a pair-wise split would put
some of them in training and others in test, so the test score would reward recalling
sentences seen in training.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rnnkit.data.decoding import check_encoding, decode_text, read_bytes
from rnnkit.errors import DataError
from rnnkit.validate import check_int, check_real, fail, is_int

__all__ = ["Pairs", "filter_pairs", "load_pairs", "split_pairs"]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Pairs:
    """Sentence pairs: ``sources[i]`` translates to ``targets[i]``."""

    sources: tuple[str, ...]
    targets: tuple[str, ...]

    def __post_init__(self) -> None:
        for field in ("sources", "targets"):
            value = getattr(self, field)
            if not isinstance(value, tuple | list) or not all(isinstance(t, str) for t in value):
                raise fail("Pairs", field, f"must be a sequence of strings, got {value!r:.60}")
            object.__setattr__(self, field, tuple(value))  # a list given is frozen too
        if len(self.sources) != len(self.targets):
            raise fail(
                "Pairs",
                "targets",
                f"must hold one target per source, got {len(self.targets)} targets for "
                f"{len(self.sources)} sources",
            )

    def __len__(self) -> int:
        return len(self.sources)

    def digest(self) -> str:
        """The SHA-256 (hex) of the pairs in order: equal iff the content is equal."""
        # JSON keeps the boundaries between sentences, which a plain join would lose.
        payload = json.dumps([self.sources, self.targets], ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def subset(self, indices: Iterable[int]) -> Pairs:
        """The pairs at `indices`, in that order; ConfigError for an index out of range."""
        rows = list(indices)
        bad = [i for i in rows if not is_int(i) or not 0 <= i < len(self)]
        if bad:
            raise fail(
                "Pairs.subset", "indices", f"must be integers in [0, {len(self)}), got {bad[0]!r}"
            )
        return Pairs(tuple(self.sources[i] for i in rows), tuple(self.targets[i] for i in rows))


def load_pairs(
    path: PathLike, *, encoding: str = "utf-8", encoding_errors: str = "strict"
) -> Pairs:
    """The ``source<TAB>target`` pairs of a file, in file order; blank lines are skipped.

    Raises:
        DataError: the file is missing, empty, binary or undecodable; a line has no tab or
            an empty side (the message gives the line); each is one line naming the file.
        ConfigError: an unknown encoding or errors handler.
    """
    owner = "load_pairs"
    check_encoding(owner, encoding, encoding_errors, errors_field="encoding_errors")
    raw = read_bytes(path, "parallel text file")
    name = repr(str(path))
    text = decode_text(raw, str(path), encoding, encoding_errors)
    if not text.strip():
        raise DataError(f"parallel text file {name} is empty; it needs 'source<TAB>target' lines")
    sources: list[str] = []
    targets: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataError(
                f"{name} line {number} has no tab ({line[:40]!r}); each line must be "
                "source<TAB>target"
            )
        source, target = fields[0].strip(), fields[1].strip()
        if not source or not target:
            side = "source" if not source else "target"
            raise DataError(
                f"{name} line {number} has an empty {side}; fill it in or remove the line"
            )
        sources.append(source)
        targets.append(target)
    return Pairs(tuple(sources), tuple(targets))


def filter_pairs(
    pairs: Pairs, source_lengths: Sequence[int], target_lengths: Sequence[int], max_len: int
) -> tuple[Pairs, int]:
    """The pairs whose source and target both have at most `max_len` tokens, in order, and
    how many were dropped. The lengths (one per pair) come from the caller's tokeniser."""
    check_int("filter_pairs", "max_len", max_len, least=1)
    for field, lengths in (("source_lengths", source_lengths), ("target_lengths", target_lengths)):
        if len(lengths) != len(pairs) or not all(is_int(n) and n >= 0 for n in lengths):
            raise fail(
                "filter_pairs",
                field,
                f"must hold {len(pairs)} token counts (one per pair), got {len(lengths)}",
            )
    keep = [
        i
        for i, (s, t) in enumerate(zip(source_lengths, target_lengths, strict=True))
        if s <= max_len and t <= max_len
    ]
    return pairs.subset(keep), len(pairs) - len(keep)


def split_pairs(pairs: Pairs, test_fraction: float, seed: int) -> tuple[Pairs, Pairs]:
    """A seeded (train, test) split in which no source sentence is on both sides.

    Pairs are grouped by their source sentence, compared stripped, lower-cased and with
    whitespace runs as one space ("Go." and "go. " are one sentence), and whole groups are
    drawn in a seeded random order into test until it holds ``round(test_fraction * n)``
    pairs (a group that would overshoot is passed over, so it may hold a few less). All
    translations of a sentence therefore land on one side, and so does every copy of a
    repeated (source, target) pair. Both parts keep the pairs' original order.

    Raises:
        ConfigError: `test_fraction` outside [0, 1), or `seed` not an integer.
        DataError: the split would leave no training pair.
    """
    check_real("split_pairs", "test_fraction", test_fraction, least=0.0, below=1.0)
    check_int("split_pairs", "seed", seed)
    groups: dict[str, list[int]] = {}
    for i, source in enumerate(pairs.sources):
        groups.setdefault(" ".join(source.lower().split()), []).append(i)
    order = list(groups.values())  # first-appearance order, so the seed alone decides
    random.Random(seed).shuffle(order)
    want = round(test_fraction * len(pairs))
    test: list[int] = []
    for rows in order:
        if len(test) == want:
            break
        if len(test) + len(rows) <= want:
            test.extend(rows)
    chosen = set(test)
    train = [i for i in range(len(pairs)) if i not in chosen]
    if not train:
        raise DataError(
            f"split_pairs: test_fraction {test_fraction} of {len(pairs)} pairs leaves no "
            "training pair; lower it"
        )
    return pairs.subset(train), pairs.subset(sorted(test))
