"""Streaming batches for truncated backpropagation through time (char-rnn, AWD-LSTM layout).

The corpus of N ids is cut into B contiguous streams of L = N // B ids (the N mod B ids at
the end are dropped), i.e. a (B, L) matrix. Window i is

    x = streams[:, i*T     : (i+1)*T]       # (B, T)
    y = streams[:, i*T + 1 : (i+1)*T + 1]   # (B, T), x shifted by one

so row b of window i+1 starts exactly where row b of window i stopped. That is what lets a
caller carry the hidden state from window to window (detached) and only reset it when an
epoch starts over at the beginning of the streams.

The last window of an epoch is kept even when fewer than T steps remain: it is real text,
and dropping it would lose up to T-1 tokens per stream every epoch. Its x and y have shape
(B, t) with 1 <= t < T; every epoch cuts the windows at the same places.

With `rotate_seed`, each epoch e first rotates the corpus cyclically by r_e tokens, r_e
drawn from (rotate_seed, e): the streams then begin at other places of the text, so each
step's batch pairs other passages and the windows are cut elsewhere, epoch after epoch
(the stream-training counterpart of reshuffling). One stream per epoch runs across the
seam from the corpus' end to its start. r_e depends only on the seed and the epoch, so
a resumed run needs no extra state.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.ids import as_token_ids
from rnnkit.errors import CheckpointError, DataError
from rnnkit.validate import check_int

__all__ = ["Batch", "StreamBatcher"]


class Batch(NamedTuple):
    """One truncated-BPTT window.

    Attributes:
        x: input ids, (B, t) int64 with t <= T.
        y: target ids, x shifted one step ahead in the same streams, (B, t) int64.
        reset: True for the first window of an epoch: the streams start over, so the
            carried hidden state must be reset rather than continued.
    """

    x: Tensor
    y: Tensor
    reset: bool


class StreamBatcher:
    """Endless, resumable windows over B parallel streams of one corpus.

    Args:
        ids: the encoded corpus, 1-D integer tensor (N,) or a sequence of ints.
        batch_size: B, the number of parallel streams.
        seq_len: T, the steps per window (the truncation length of BPTT).
        rotate_seed: if given, rotate the corpus by a fresh amount every epoch (see
            the module docstring); None keeps every epoch identical.

    Raises:
        ConfigError: `batch_size` or `seq_len` is not a positive integer, or
            `rotate_seed` is not an integer >= 0 or None.
        DataError: `ids` is not 1-D integer data, or too short for one full window
            of B streams (N < B * (T + 1)).
    """

    def __init__(
        self,
        ids: Tensor | Sequence[int],
        batch_size: int,
        seq_len: int,
        *,
        rotate_seed: int | None = None,
    ) -> None:
        check_int("StreamBatcher", "batch_size", batch_size, least=1)
        check_int("StreamBatcher", "seq_len", seq_len, least=1)
        check_int("StreamBatcher", "rotate_seed", rotate_seed, least=0, optional=True)
        ids = as_token_ids(ids)
        needed = batch_size * (seq_len + 1)
        if ids.numel() < needed:
            raise DataError(
                f"the text is {ids.numel()} tokens long but batch_size={batch_size} streams of "
                f"seq_len={seq_len} need at least {needed} (batch_size * (seq_len + 1)); use a "
                "longer text or a smaller --batch-size/--seq-len"
            )
        self.batch_size = batch_size
        self.seq_len = seq_len
        self.num_tokens = ids.numel()
        self.rotate_seed = rotate_seed
        self._ids = ids
        self._epoch = 0
        self._window = 0
        self.streams = self._epoch_streams(0)  # (B, L)

    def rotation(self, epoch: int) -> int:
        """r_e, the tokens by which epoch ``epoch`` rotates the corpus (0 without a seed)."""
        if self.rotate_seed is None:
            return 0
        return int(np.random.default_rng([self.rotate_seed, epoch]).integers(self.num_tokens))

    def _epoch_streams(self, epoch: int) -> Tensor:
        r = self.rotation(epoch)
        ids = torch.cat([self._ids[r:], self._ids[:r]]) if r else self._ids
        return _streams(ids, self.batch_size)

    @property
    def stream_len(self) -> int:
        """L = N // B, the ids in each stream."""
        return self.streams.shape[1]

    def __len__(self) -> int:
        """Windows per epoch: ceil((L - 1) / T), the last one possibly shorter than T."""
        return _num_windows(self.stream_len, self.seq_len)

    @property
    def epoch(self) -> int:
        """The epoch the next window belongs to (0-based)."""
        return self._epoch

    @property
    def window(self) -> int:
        """The index within its epoch of the next window `next_batch` returns."""
        return self._window

    @property
    def at_epoch_start(self) -> bool:
        """True when the next window is the first of an epoch (reset the hidden state)."""
        return self._window == 0

    def get_window(self, i: int) -> tuple[Tensor, Tensor]:
        """Window `i` of any epoch as (x, y), without moving the position."""
        if not 0 <= i < len(self):
            raise IndexError(f"window {i} out of range 0..{len(self) - 1}")
        return _window(self.streams, i, self.seq_len)

    def next_batch(self) -> Batch:
        """The window at the current position; then advance, wrapping into the next epoch."""
        x, y = self.get_window(self._window)
        batch = Batch(x, y, reset=self._window == 0)
        self._window += 1
        if self._window == len(self):
            self._epoch += 1
            self._window = 0
            self.streams = self._epoch_streams(self._epoch)
        return batch

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        """The rest of the current epoch as (x, y): a whole epoch from a fresh position.

        The position advances as windows are yielded, so `state_dict()` taken mid-loop
        resumes at the window after the last one yielded.
        """
        while True:
            x, y, _ = self.next_batch()
            yield x, y
            if self._window == 0:
                return

    def state_dict(self) -> dict[str, Any]:
        """The position, plus the layout it is only valid for."""
        return {
            "epoch": self._epoch,
            "window": self._window,
            "batch_size": self.batch_size,
            "seq_len": self.seq_len,
            "num_tokens": self.num_tokens,
            "rotate_seed": self.rotate_seed,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a position from `state_dict()`.

        Raises:
            CheckpointError: the state is malformed, or was saved for a different corpus
                length, batch size or sequence length (its position would mean other text).
        """
        keys = ("epoch", "window", "batch_size", "seq_len", "num_tokens")
        if not isinstance(state, Mapping) or any(
            not isinstance(state.get(k), int) or isinstance(state.get(k), bool) for k in keys
        ):
            raise CheckpointError(
                f"batcher state must map {', '.join(keys)} to integers, got {state!r}"
            )
        mine = self.state_dict()
        for key in ("batch_size", "seq_len", "num_tokens", "rotate_seed"):
            if state.get(key) != mine[key]:
                raise CheckpointError(
                    f"batcher state was saved with {key}={state.get(key)} but this batcher has "
                    f"{key}={mine[key]}; resume with the same text and --batch-size/--seq-len"
                )
        if state["epoch"] < 0 or not 0 <= state["window"] < len(self):
            raise CheckpointError(
                f"batcher state position epoch={state['epoch']}, window={state['window']} is "
                f"out of range (0 <= window < {len(self)})"
            )
        self._epoch = state["epoch"]
        self._window = state["window"]
        self.streams = self._epoch_streams(self._epoch)


def _streams(ids: Tensor, batch_size: int) -> Tensor:
    length = ids.numel() // batch_size
    return ids[: batch_size * length].reshape(batch_size, length)  # (B, L)


def _num_windows(stream_len: int, seq_len: int) -> int:
    # L - 1 positions have a target; ceil division keeps the short last window.
    return -(-(stream_len - 1) // seq_len)


def _window(streams: Tensor, i: int, seq_len: int) -> tuple[Tensor, Tensor]:
    start = i * seq_len
    stop = min(start + seq_len, streams.shape[1] - 1)
    # contiguous copies: slicing columns of a (B, L) matrix gives strided views, and a
    # caller writing into a batch must not corrupt the corpus.
    x = streams[:, start:stop].contiguous()  # (B, t)
    y = streams[:, start + 1 : stop + 1].contiguous()  # (B, t)
    return x, y
