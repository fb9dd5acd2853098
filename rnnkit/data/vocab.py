"""`Vocab`: the bijection between string tokens and integer ids.

Ids are assigned deterministically: special tokens first (in the order given), then the
corpus tokens by descending frequency, ties broken by first appearance in the text. The
same text therefore always gives the same ids, and `fingerprint()` lets a checkpoint
notice it is being paired with a different vocabulary.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rnnkit.atomic import atomic_write_json
from rnnkit.errors import DataError, VocabularyError
from rnnkit.validate import check_int, fail, is_int

__all__ = ["UNK", "Vocab", "VOCAB_FORMAT", "VOCAB_VERSION"]

UNK = "[UNK]"
VOCAB_FORMAT = "rnnkit.vocab"
VOCAB_VERSION = 1

# How many unknown tokens an error message lists before it just gives the count.
_SHOW_UNKNOWN = 5


class Vocab:
    """An ordered token list with O(1) lookups both ways.

    Build one with `Vocab.build(tokens)` or `Vocab.load(path)`; the constructor takes the
    final lists and validates them.

    Args:
        tokens: every token, specials first, each once.
        specials: the leading tokens that are not corpus tokens (e.g. ["[UNK]"]).
        counts: per id, how many training tokens encode to it (for "[UNK]": the tokens
            dropped by `min_freq` / `max_size`). Zeros if not given.
    """

    def __init__(
        self,
        tokens: Sequence[str],
        specials: Sequence[str] = (UNK,),
        counts: Sequence[int] | None = None,
    ) -> None:
        tokens = list(tokens)
        specials = list(specials)
        counts = [0] * len(tokens) if counts is None else list(counts)
        problem = _check_lists(tokens, specials, counts)
        if problem:
            raise VocabularyError(f"invalid vocabulary: {problem}")
        self._tokens = tokens
        self._specials = specials
        self._counts = counts
        self._ids = {token: i for i, token in enumerate(tokens)}
        self._unk_id = self._ids.get(UNK) if UNK in specials else None

    @classmethod
    def build(
        cls,
        tokens: Iterable[str],
        specials: Sequence[str] = (UNK,),
        min_freq: int = 1,
        max_size: int | None = None,
    ) -> Vocab:
        """Count `tokens` and keep the frequent ones.

        Args:
            tokens: the training text, tokenised.
            specials: tokens placed first, whether or not they occur. Include "[UNK]" to map
                rare and unseen tokens to it; pass [] for a closed vocabulary (char-level
                LMs), where encoding an unseen token is an error.
            min_freq: tokens seen fewer times are left out (they encode to "[UNK]").
            max_size: at most this many tokens in all, specials included; the least
                frequent are left out.

        Raises:
            ConfigError: bad `specials`, `min_freq` or `max_size`.
            DataError: `tokens` is empty.
        """
        specials = list(specials)
        if not all(isinstance(s, str) and s for s in specials) or len(set(specials)) != len(
            specials
        ):
            raise fail(
                "Vocab.build", "specials", f"must be distinct non-empty strings, got {specials!r}"
            )
        check_int("Vocab.build", "min_freq", min_freq, least=1)
        if max_size is not None and not (is_int(max_size) and max_size > len(specials)):
            raise fail(
                "Vocab.build",
                "max_size",
                f"must be None or an integer > the {len(specials)} special tokens, "
                f"got {max_size!r}",
            )
        # Counter keeps first-insertion order and sorted() is stable, so equal counts stay
        # in order of first appearance: the tie-break that makes ids deterministic.
        counter = Counter(tokens)
        if not counter:
            raise DataError("cannot build a vocabulary from an empty token sequence")
        special_set = set(specials)
        ranked = sorted(
            ((t, c) for t, c in counter.items() if t not in special_set),
            key=lambda item: -item[1],
        )
        kept = [(t, c) for t, c in ranked if c >= min_freq]
        if ranked and not kept:
            raise fail(
                "Vocab.build",
                "min_freq",
                f"{min_freq} leaves no token in the vocabulary: the most frequent is seen "
                f"{ranked[0][1]} time(s); lower it",
            )
        if max_size is not None:
            kept = kept[: max_size - len(specials)]
        counts = [counter.get(s, 0) for s in specials]
        if UNK in special_set:
            dropped = sum(counter.values()) - sum(c for _, c in kept) - sum(counts)
            counts[specials.index(UNK)] += dropped
        return cls(
            tokens=specials + [t for t, _ in kept],
            specials=specials,
            counts=counts + [c for _, c in kept],
        )

    # --- lookups --------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._tokens)

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order (a copy)."""
        return list(self._tokens)

    @property
    def specials(self) -> list[str]:
        """The special tokens, which hold the first ids (a copy)."""
        return list(self._specials)

    @property
    def counts(self) -> list[int]:
        """Per id, how many training tokens encoded to it (a copy)."""
        return list(self._counts)

    @property
    def unk_id(self) -> int | None:
        """The id of "[UNK]", or None when the vocabulary is closed."""
        return self._unk_id

    def token_to_id(self, token: str) -> int:
        """The id of `token`; "[UNK]"'s id if unknown; VocabularyError if there is none."""
        i = self._ids.get(token, self._unk_id)
        if i is None:
            raise self._unknown_error([token])
        return i

    def id_to_token(self, i: int) -> str:
        """The token with id `i`; VocabularyError if out of range."""
        i = int(i)
        if not 0 <= i < len(self._tokens):
            raise VocabularyError(f"id {i} is outside this vocabulary's range 0..{len(self) - 1}")
        return self._tokens[i]

    def unknown(self, tokens: Iterable[str]) -> list[str]:
        """The distinct tokens not in the vocabulary, in order of first appearance."""
        return list(dict.fromkeys(t for t in tokens if t not in self._ids))

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of `tokens`; unknown ones become "[UNK]".

        Raises:
            VocabularyError: an unknown token with no "[UNK]" to map it to (the message
                names up to five of them).
        """
        tokens = tokens if isinstance(tokens, Sequence) else list(tokens)
        ids, unk = self._ids, self._unk_id
        if unk is not None:
            return [ids.get(t, unk) for t in tokens]
        try:
            return [ids[t] for t in tokens]
        except KeyError:
            raise self._unknown_error(self.unknown(tokens)) from None

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of `ids` (ints or 0-d tensors); VocabularyError on an out-of-range id."""
        tokens = self._tokens
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(tokens):
                raise VocabularyError(
                    f"id {i} is outside this vocabulary's range 0..{len(tokens) - 1}; "
                    "was it produced with a different vocabulary?"
                )
            out.append(tokens[i])
        return out

    def _unknown_error(self, unknown: list[str]) -> VocabularyError:
        shown = ", ".join(repr(t) for t in unknown[:_SHOW_UNKNOWN])
        more = f" and {len(unknown) - _SHOW_UNKNOWN} more" if len(unknown) > _SHOW_UNKNOWN else ""
        return VocabularyError(
            f"{len(unknown)} token(s) not in the vocabulary: {shown}{more}; the vocabulary has "
            f"no {UNK!r} special to map them to, so rebuild it from text that contains them "
            f"or with {UNK!r} among its specials"
        )

    # --- identity -------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocab):
            return NotImplemented
        return self._tokens == other._tokens

    def __hash__(self) -> int:
        return hash(tuple(self._tokens))

    def __repr__(self) -> str:
        head = ", ".join(repr(t) for t in self._tokens[:8])
        more = ", ..." if len(self) > 8 else ""
        return f"Vocab(size={len(self)}, tokens=[{head}{more}], fingerprint={self.fingerprint()})"

    def fingerprint(self) -> str:
        """A 16-hex-digit sha256 of the token list: equal iff the id assignment is equal."""
        # JSON encoding is unambiguous where a plain join would not be (["ab"] vs ["a","b"]).
        payload = json.dumps(self._tokens, ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(payload).hexdigest()[:16]

    # --- persistence ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The JSON document `save` writes."""
        return {
            "format": VOCAB_FORMAT,
            "version": VOCAB_VERSION,
            "tokens": list(self._tokens),
            "specials": list(self._specials),
            "counts": list(self._counts),
        }

    @classmethod
    def from_dict(cls, data: object, source: str = "vocabulary") -> Vocab:
        """Validate a `to_dict()` document; VocabularyError naming `source` if it is wrong."""
        if not isinstance(data, dict):
            raise VocabularyError(f"{source} is not a JSON object, so not an rnnkit vocabulary")
        if data.get("format") != VOCAB_FORMAT:
            raise VocabularyError(
                f"{source} has format {data.get('format')!r}, expected {VOCAB_FORMAT!r}"
            )
        if data.get("version") != VOCAB_VERSION:
            raise VocabularyError(
                f"{source} has version {data.get('version')!r}; this rnnkit reads version "
                f"{VOCAB_VERSION}"
            )
        missing = [k for k in ("tokens", "specials", "counts") if k not in data]
        if missing:
            raise VocabularyError(f"{source} is missing the field(s) {missing}")
        problem = _check_lists(data["tokens"], data["specials"], data["counts"])
        if problem:
            raise VocabularyError(f"{source} is corrupt: {problem}")
        return cls(data["tokens"], data["specials"], data["counts"])

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the vocabulary as JSON, atomically (a crash never leaves half a file),
        with the usual permissions of the user's files (umask), like any file in a run."""
        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Vocab:
        """Read a vocabulary written by `save`.

        Raises:
            VocabularyError: the file is missing, not JSON, or not a valid vocabulary.
        """
        path = Path(path)
        source = f"vocabulary file {str(path)!r}"
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise VocabularyError(f"{source} does not exist") from None
        except (OSError, UnicodeDecodeError) as err:
            raise VocabularyError(f"{source} cannot be read: {err}") from None
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as err:
            raise VocabularyError(
                f"{source} is not valid JSON ({err.msg} at line {err.lineno}, column "
                f"{err.colno}); it is corrupt, rebuild it from the training text"
            ) from None
        return cls.from_dict(data, source)


def _check_lists(tokens: object, specials: object, counts: object) -> str | None:
    """What is wrong with these lists as a vocabulary, or None if they are consistent."""
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        return "'tokens' must be a list of strings"
    if not tokens:
        return "'tokens' is empty"
    if len(set(tokens)) != len(tokens):
        dupes = [t for t, c in Counter(tokens).items() if c > 1][:_SHOW_UNKNOWN]
        return f"'tokens' has duplicates: {dupes}"
    if not isinstance(specials, list) or not all(isinstance(s, str) for s in specials):
        return "'specials' must be a list of strings"
    if tokens[: len(specials)] != specials:
        return "'specials' must be the first entries of 'tokens', in order"
    if (
        not isinstance(counts, list)
        or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts)
        or len(counts) != len(tokens)
    ):
        return "'counts' must be a list of non-negative integers, one per token"
    return None
