"""Mini-batches: shuffled (and bucketed) example indices, epoch after epoch, resumable
exactly, and padding examples of different lengths into one batch."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor


def batch_order(
    lengths: list[int], batch_size: int, rng: np.random.Generator, bucket: bool
) -> list[np.ndarray]:
    """One epoch's batches: a shuffled order; with ``bucket``, chunks of 50 batches are
    sorted by length and cut into batches, whose order is then shuffled again."""
    order = rng.permutation(len(lengths))
    if bucket:
        chunk = batch_size * 50
        pieces = []
        for start in range(0, len(order), chunk):
            part = order[start : start + chunk]
            pieces.append(part[np.argsort([lengths[i] for i in part], kind="stable")])
        order = np.concatenate(pieces)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if bucket:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def pad_batch(examples: list[Tensor], pad_id: int = 0) -> tuple[Tensor, Tensor]:
    """Examples of different lengths -> (B, T) ids or (B, T, D) floats, and lengths (B,)."""
    lengths = torch.tensor([len(e) for e in examples], dtype=torch.long)
    T = int(lengths.max())
    first = examples[0]
    shape = (len(examples), T, *first.shape[1:])
    out = (
        torch.full(shape, pad_id, dtype=first.dtype) if first.dim() == 1 else first.new_zeros(shape)
    )
    for i, e in enumerate(examples):
        out[i, : len(e)] = e
    return out, lengths


class EpochBatches:
    """Index batches over ``len(lengths)`` examples: a new `batch_order` each epoch from
    a seeded generator. `state_dict` holds the generator, the epoch's order and the
    position, so a resumed run draws exactly the batches it would have drawn."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int, bucket: bool = False):
        self.lengths = lengths
        self.batch_size = batch_size
        self.bucket = bucket
        self.rng = np.random.default_rng(seed)
        self.batches: list[np.ndarray] = []
        self.cursor = 0

    def __len__(self) -> int:
        """Batches per epoch."""
        return -(-len(self.lengths) // self.batch_size)

    def next(self) -> np.ndarray:
        if self.cursor >= len(self.batches):
            self.batches = batch_order(self.lengths, self.batch_size, self.rng, self.bucket)
            self.cursor = 0
        rows = self.batches[self.cursor]
        self.cursor += 1
        return rows

    def state_dict(self) -> dict[str, Any]:
        sizes = [len(b) for b in self.batches]
        flat = np.concatenate(self.batches) if self.batches else np.zeros(0, dtype=np.int64)
        return {
            "rng": self.rng.bit_generator.state,
            "order": torch.from_numpy(flat.astype(np.int64)),
            "sizes": sizes,
            "cursor": self.cursor,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        flat = state["order"].cpu().numpy().astype(np.int64)
        bounds = np.cumsum([0, *state["sizes"]])
        self.batches = [flat[bounds[i] : bounds[i + 1]] for i in range(len(state["sizes"]))]
        self.cursor = int(state["cursor"])


class ShuffledTaskMixin:
    """The `rnnkit.train.Task` members of a task whose only data position is an
    `EpochBatches` in ``self.order``: epoch length, resumable state, no display."""

    order: EpochBatches

    def steps_per_epoch(self) -> int:
        return len(self.order)

    def display(self, loss: float) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return self.order.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.order.load_state_dict(state)
