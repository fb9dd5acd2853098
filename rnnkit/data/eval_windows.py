"""Evaluation windows: every target of a text scored once, read as S warmed-up streams.

Validation reads the held-out text with the hidden state carried from window to window,
as in training. Read as one stream, the text takes N sequential steps; cut into S streams
it takes about N / S, but each stream after the first would then start from a zero state
and read its first tokens blind, which costs loss (a 2x512 GRU read Tiny Shakespeare's
validation text 0.004 nats/char worse as 64 cold streams than as 8).

So each stream r >= 1 first re-reads the `warmup` tokens before its own segment, unscored,
to build up its state, and only then scores its segment. With input positions
p = 0 .. N-2 (the target of p is ids[p + 1]) cut into segments [b_r, c_r):

    stream r reads inputs  ids[a_r : c_r],   a_r = max(0, b_r - warmup)
    and scores targets     ids[b_r + 1 : c_r + 1]

The segments tile 0 .. N-2, so every target counts exactly once, and each stream reads at
most L steps; L is the smallest length that covers the text with S streams. The streams
form a (S, L) matrix, shorter streams padded at the end (unscored, and after everything
that stream scores), cut into windows of T steps like `StreamBatcher`'s.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from rnnkit.data.ids import as_token_ids
from rnnkit.errors import DataError
from rnnkit.validate import check_int

__all__ = ["EvalWindow", "eval_segments", "iter_eval_windows"]


class EvalWindow(NamedTuple):
    """One evaluation window of S streams.

    Attributes:
        x: input ids, (S, t) int64 with t <= T.
        y: target ids, (S, t) int64.
        scored: (S, t) bool; False on warm-up reading and end padding, whose loss must not
            count.
    """

    x: Tensor
    y: Tensor
    scored: Tensor


class Segment(NamedTuple):
    """Stream r reads inputs [read_from, stop) and scores those in [score_from, stop)."""

    read_from: int
    score_from: int
    stop: int


def eval_segments(num_tokens: int, streams: int, warmup: int) -> list[Segment]:
    """The streams' segments for a text of ``num_tokens`` ids (see the module docstring).

    Fewer than ``streams`` segments come back when the text is too short to give each
    stream something to score. ConfigError for a non-positive ``streams`` or a negative
    ``warmup``.
    """
    check_int("eval_segments", "streams", streams, least=1)
    check_int("eval_segments", "warmup", warmup, least=0)
    inputs = max(0, num_tokens - 1)  # positions with a target
    # Lower bound: every stream but the first reads a full warm-up; grow until covered.
    length = max(warmup + 1, -(-(inputs + warmup * (streams - 1)) // streams))
    while True:
        segments, begin = [], 0
        while begin < inputs and len(segments) < streams:
            read_from = max(0, begin - warmup)
            stop = min(read_from + length, inputs)
            segments.append(Segment(read_from, begin, stop))
            begin = stop
        if begin == inputs:
            return segments
        length += 1


def iter_eval_windows(
    ids: Tensor | Sequence[int], streams: int, seq_len: int, *, warmup: int = 0
) -> Iterator[EvalWindow]:
    """Windows that score every target of ``ids`` once, read as at most ``streams``
    streams that each warm up on the ``warmup`` tokens before their segment.

    Carry the hidden state from window to window (reset it before the first), and sum the
    loss over `scored` positions only. With one stream this is a plain pass over the text.

    Raises:
        ConfigError: ``streams`` or ``seq_len`` is not a positive integer, or ``warmup``
            is negative.
        DataError: ``ids`` is not 1-D integer data, or has fewer than 2 tokens.
    """
    # Everything is checked and built before the windows are handed out (eval_segments
    # checks streams and warmup), so bad arguments raise here, not on the first next().
    check_int("iter_eval_windows", "seq_len", seq_len, least=1)
    ids = as_token_ids(ids)
    if ids.numel() < 2:
        raise DataError(
            f"the evaluation text is {ids.numel()} tokens long; it needs at least 2 "
            "(an input and its target)"
        )
    segments = eval_segments(ids.numel(), streams, warmup)
    length = max(s.stop - s.read_from for s in segments)
    x = torch.zeros(len(segments), length, dtype=torch.long)  # (S, L)
    y = torch.zeros(len(segments), length, dtype=torch.long)  # (S, L)
    scored = torch.zeros(len(segments), length, dtype=torch.bool)  # (S, L)
    for r, (read_from, score_from, stop) in enumerate(segments):
        n = stop - read_from
        x[r, :n] = ids[read_from:stop]
        y[r, :n] = ids[read_from + 1 : stop + 1]
        scored[r, score_from - read_from : n] = True
    # contiguous copies, so that a caller writing into a window cannot corrupt the next
    return (
        EvalWindow(*(m[:, i : i + seq_len].contiguous() for m in (x, y, scored)))
        for i in range(0, length, seq_len)
    )
