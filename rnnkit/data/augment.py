"""Training-time augmentation of numeric series: random shifts in time and, for images
read row by row, along each step's features.

A shift by k moves every value k places (later in time, or to the right) and fills the
vacated places with the edge value: x'_t = x_{clamp(t - k, 0, n - 1)}. Feature shifts
act on the raw values (before standardisation), so a pixel keeps its brightness when it
moves into a column with other statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor


def shift(x: Tensor, k: int, dim: int) -> Tensor:
    """``x`` shifted by ``k`` along ``dim``, edge values repeated into the gap."""
    if k == 0:
        return x
    n = x.shape[dim]
    index = (torch.arange(n, device=x.device) - k).clamp(0, n - 1)
    return x.index_select(dim, index)


class ShiftAugment:
    """Shifts each training example (T, D) by up to ``steps`` in time and ``features``
    along its features, uniformly at random from a seeded generator (resumable)."""

    def __init__(self, steps: int, features: int, scaler: dict[str, Any] | None, seed: int):
        self.steps, self.features = steps, features
        self.rng = np.random.default_rng(seed)
        self.mean = self.std = None
        if scaler is not None:
            self.mean = torch.tensor(scaler["mean"], dtype=torch.float32)
            self.std = torch.tensor(scaler["std"], dtype=torch.float32)

    @property
    def active(self) -> bool:
        return self.steps > 0 or self.features > 0

    def __call__(self, x: Tensor) -> Tensor:
        dt = int(self.rng.integers(-self.steps, self.steps + 1)) if self.steps else 0
        dd = int(self.rng.integers(-self.features, self.features + 1)) if self.features else 0
        x = shift(x, dt, 0)
        if dd:
            raw = x if self.mean is None else x * self.std + self.mean
            raw = shift(raw, dd, 1)
            x = raw if self.mean is None else (raw - self.mean) / self.std
        return x

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
