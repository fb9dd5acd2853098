"""When a generated sequence is finished: stop tokens, a predicate, or a stop string.

A `StopCondition` is asked after every new token with the sequence's generated ids so
far (prime excluded) and answers whether that token ends it. The token that triggers
the stop is kept, so an output ends with its stop token or with the token that
completes its stop string.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rnnkit.decode.config import SamplingConfig
from rnnkit.validate import fail

# What each backslash escape of a typed stop string stands for (\uXXXX is handled apart).
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")

DecodeFn = Callable[[list[int]], str]
StopWhen = Callable[[list[int]], bool]


class StopCondition:
    """Per-sequence stop test combining three optional criteria (any one stops).

    * ``stop_ids``: the newest token is one of these ids.
    * ``stop_when(generated) -> bool``: an arbitrary predicate on the generated ids.
    * ``stop`` with ``decode_fn``: ``stop in decode_fn(generated)``, a text-level test,
      so a stop string split across several tokens is still found.

    Called after each token, so the first ``True`` marks the shortest prefix meeting a
    criterion. The text test decodes the whole generated sequence each step (a
    tokeniser's decode of a suffix need not be a suffix of its decode), ``O(n)`` per
    token, negligible next to a model step for the lengths sampled in practice.
    """

    def __init__(
        self,
        stop_ids: Iterable[int] = (),
        stop: str | None = None,
        decode_fn: DecodeFn | None = None,
        stop_when: StopWhen | None = None,
    ) -> None:
        if stop is not None and decode_fn is None:
            raise fail(
                "StopCondition",
                "decode_fn",
                f"is needed for the stop string {stop!r}: a decode_fn(ids) -> str turns "
                "generated ids into text; pass decode_fn or use stop_ids for token-level stops",
            )
        self.stop_ids = frozenset(stop_ids)
        self.stop = stop
        self.decode_fn = decode_fn
        self.stop_when = stop_when

    @classmethod
    def from_config(
        cls,
        config: SamplingConfig,
        decode_fn: DecodeFn | None = None,
        stop_when: StopWhen | None = None,
    ) -> StopCondition:
        """Build from ``config.stop_ids`` and ``config.stop`` plus the callables."""
        return cls(config.stop_ids, config.stop, decode_fn, stop_when)

    @property
    def enabled(self) -> bool:
        """Whether any criterion is set; if not, every sequence runs to max length."""
        return bool(self.stop_ids) or self.stop is not None or self.stop_when is not None

    def __call__(self, generated: list[int]) -> bool:
        """Whether the last id of ``generated`` (ids after the prime) ends the sequence."""
        if not generated:
            return False
        if generated[-1] in self.stop_ids:
            return True
        if self.stop_when is not None and self.stop_when(generated):
            return True
        if self.stop is not None:
            assert self.decode_fn is not None  # checked in __init__
            return self.stop in self.decode_fn(generated)
        return False


def truncate_at_stop(text: str, stop: str | None) -> str:
    """Cut ``text`` right after the first occurrence of ``stop`` (unchanged if absent).

    `generate` cuts at token granularity; with multi-character tokens the token that
    completes the stop string may carry text past it, which this removes.
    """
    if not stop:
        return text
    at = text.find(stop)
    return text if at < 0 else text[: at + len(stop)]


def unescape_stop(text: str) -> str:
    r"""Read the backslash escapes of a stop string typed on a command line.

    A shell passes ``--stop "\n\n"`` as backslash-n characters, not line breaks. This
    turns ``\n``, ``\t``, ``\r``, ``\\`` (one backslash) and ``\uXXXX`` (the
    character with that 4-hex-digit code point) into the characters they name; every
    other character, non-ASCII included, is kept as it is. (``codecs``'
    ``unicode_escape`` would read the UTF-8 bytes of non-ASCII text as Latin-1.)

    Raises:
        ConfigError: (``field="stop"``) an unknown escape such as ``\q``, a trailing
            lone backslash, a ``\u`` without 4 hex digits, or a ``\u`` naming a
            surrogate (half of a UTF-16 pair, not a character).
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        if i + 1 == len(text):
            raise fail("", "stop", f"ends in a lone backslash: {text!r}; write \\\\ for one")
        code = text[i + 1]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            i += 2
        elif code == "u":
            digits = text[i + 2 : i + 6]
            if len(digits) != 4 or not set(digits) <= _HEX_DIGITS:
                raise fail(
                    "", "stop", f"has \\u{digits} in {text!r}; \\u needs 4 hex digits, as \\u00e9"
                )
            point = int(digits, 16)
            if 0xD800 <= point <= 0xDFFF:
                raise fail(
                    "",
                    "stop",
                    f"has \\u{digits} in {text!r}, a surrogate, not a character; type the "
                    "character itself",
                )
            out.append(chr(point))
            i += 6
        else:
            raise fail(
                "",
                "stop",
                f"has the unknown escape \\{code} in {text!r}; known: \\n \\t \\r \\\\ \\uXXXX",
            )
    return "".join(out)
