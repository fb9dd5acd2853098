"""Toy tasks for the trainer tests (a helper module, not collected by pytest).

`SequenceRegressionTask` is built so that an inexact resume shows up in the weights:
dropout draws from torch's RNG, the input noise from numpy's global RNG, the target
jitter from python's `random`, the window order from the task's own numpy Generator,
and an LSTM state is carried from window to window.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.nn import LSTM, stack_states
from rnnkit.train import StepOutput


class ToyRegressor(nn.Module):
    """LSTM -> dropout -> linear head, one output per time step.

    rnnkit's LSTM, not torch.nn's: under CPU bf16 autocast torch.nn.LSTM fails on CPUs
    without native bf16, where rnnkit's falls back to its reference loop."""

    def __init__(self, input_size: int = 3, hidden_size: int = 16, dropout: float = 0.2):
        super().__init__()
        self.lstm = LSTM(input_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        out, state = self.lstm(x, state)  # (B, T, H)
        return self.head(self.dropout(out)).squeeze(-1), stack_states(state)  # (B, T)


def make_series(seed: int, streams: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (S, L, 3) and targets (S, L) that need two steps of memory."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(streams, length, 3, generator=g)
    lagged = torch.zeros(streams, length)
    lagged[:, 2:] = x[:, :-2, 1]
    return x, 0.6 * x[..., 0] + 0.4 * lagged


class SequenceRegressionTask:
    """Truncated-BPTT regression over `streams` series cut into windows.

    An epoch visits the stream groups (of `batch` streams) in an order drawn from the
    task's Generator, each group's windows in time order, carrying the LSTM state
    between the windows of a group. Its `StepOutput.count` is the number of time steps
    predicted (its `unit`); `LinearTask` leaves the unit to the default, "examples".
    """

    unit = "time_steps"

    def __init__(
        self,
        seed: int = 0,
        model_seed: int = 0,
        dropout: float = 0.2,
        noise: float = 0.05,
        streams: int = 16,
        length: int = 56,
        window: int = 8,
        batch: int = 4,
    ) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(model_seed)
            self.model = ToyRegressor(dropout=dropout)
        self.x, self.y = make_series(seed, streams, length)
        self.val_x, self.val_y = make_series(seed + 1000, 4, length)
        self.noise = noise
        self.window = window
        self.batch = batch
        self.groups = streams // batch
        self.windows = length // window
        self.rng = np.random.default_rng(seed)
        self.order: list[int] = []
        self.position = 0
        self.epoch = 0
        self.carried: tuple[torch.Tensor, torch.Tensor] | None = None

    def steps_per_epoch(self) -> int:
        return self.groups * self.windows

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.position == 0:
            self.order = self.rng.permutation(self.groups).tolist()
        group = self.order[self.position // self.windows]
        w = self.position % self.windows
        if w == 0:
            self.carried = None  # new streams: nothing to carry
        rows = slice(group * self.batch, (group + 1) * self.batch)
        cols = slice(w * self.window, (w + 1) * self.window)
        x, y = self.x[rows, cols], self.y[rows, cols]
        x = x + self.noise * torch.from_numpy(np.random.standard_normal(x.shape)).float()
        y = y * (1.0 + self.noise * random.uniform(-1.0, 1.0))
        self.position += 1
        if self.position == self.steps_per_epoch():
            self.position = 0
            self.epoch += 1
        return x.to(self._device()), y.to(self._device())

    def training_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> StepOutput:
        x, y = batch
        prediction, state = self.model(x, self.carried)
        self.carried = (state[0].detach(), state[1].detach())
        loss = torch.mean((prediction - y) ** 2)
        mae = float((prediction.detach() - y).abs().mean())
        return StepOutput(loss, y.numel(), {"mae": mae})

    def evaluate(self) -> dict[str, float]:
        prediction, _ = self.model(self.val_x.to(self._device()))
        error = prediction - self.val_y.to(self._device())
        return {"loss": float(torch.mean(error**2)), "val_mae": float(error.abs().mean())}

    def display(self, loss: float) -> dict[str, float]:
        return {"rmse": math.sqrt(loss)}

    def state_dict(self) -> dict[str, Any]:
        h, c = self.carried if self.carried is not None else (None, None)
        return {
            "position": self.position,
            "epoch": self.epoch,
            "order": list(self.order),
            "rng": self.rng.bit_generator.state,
            "h": h,
            "c": c,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.position = state["position"]
        self.epoch = state["epoch"]
        self.order = list(state["order"])
        self.rng.bit_generator.state = state["rng"]
        h, c = state["h"], state["c"]
        self.carried = None if h is None else (h, c)


class LinearTask:
    """A linear model on one fixed batch, with scripted validation losses.

    loss_scale multiplies the loss (a huge scale makes huge gradients for the clipping
    tests); nan_at makes the loss NaN from that step on (1-based), nan_calls only at
    those calls of training_loss (1-based); val_losses, when
    given, are returned by successive evaluations instead of the real loss.
    """

    def __init__(
        self,
        loss_scale: float = 1.0,
        nan_at: int | None = None,
        val_losses: list[float] | None = None,
        nan_calls: tuple[int, ...] = (),
    ) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.model = nn.Linear(4, 1)
            self.x = torch.randn(8, 4)
            self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.25
        self.loss_scale = loss_scale
        self.nan_at = nan_at
        self.nan_calls = set(nan_calls)
        self.val_losses = list(val_losses) if val_losses is not None else None
        self.steps = 0
        self.evaluations = 0
        self.snapshots: dict[int, dict[str, torch.Tensor]] = {}

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        self.steps += 1
        return self.x, self.y

    def training_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> StepOutput:
        x, y = batch
        loss = self.loss_scale * torch.mean((self.model(x) - y) ** 2)
        nan_now = self.nan_at is not None and self.steps >= self.nan_at
        if nan_now or self.steps in self.nan_calls:
            loss = loss * float("nan")
        return StepOutput(loss, y.numel())

    def evaluate(self) -> dict[str, float]:
        self.evaluations += 1
        self.snapshots[self.evaluations] = {
            k: v.clone() for k, v in self.model.state_dict().items()
        }
        if self.val_losses is not None:
            return {"loss": self.val_losses[self.evaluations - 1]}
        return {"loss": float(torch.mean((self.model(self.x) - self.y) ** 2))}

    def steps_per_epoch(self) -> int:
        return 5

    def display(self, loss: float) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = state["steps"]
