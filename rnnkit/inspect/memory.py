"""How far back can each cell remember? Train on the adding or copy task at several T.

For every (cell, length) a small model, ``Recurrent`` and a linear read-out, is trained
from the same seeded init on the same seeded batches for a fixed number of Adam steps
with gradient-norm clipping, then scored on a held-out test set drawn first from the
same generator:

* adding: the read-out of the last step predicts the sum; score = test MSE (lower is
  better), beside the baseline of always answering 1.0 (~0.167, measured on the test set);
* copy: the read-out of every step predicts blank or a symbol (cross-entropy over all
  steps, as Arjovsky et al. 2016); score = accuracy on the K recalled symbols (higher is
  better), beside chance, 1/8.

Everything is seeded and runs on the CPU, so a config gives the same table every time
on one machine (and nearly the same elsewhere).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.memory_tasks import (
    COPY_ALPHABET,
    COPY_SYMBOLS,
    adding_problem,
    copy_memory,
    copy_vocab_size,
)
from rnnkit.inspect.gradients import CELL_CLASSES, CELL_KINDS
from rnnkit.inspect.table import format_table
from rnnkit.nn import Recurrent
from rnnkit.validate import check_choice, check_int, check_positive, fail

TASKS = ("adding", "copy")
_OWNER = "MemoryConfig"


@dataclass(frozen=True)
class MemoryConfig:
    """One memory benchmark: ``task`` at each of ``lengths`` (T; the copy task's gap) for
    each of ``cells``, ``steps`` Adam steps of ``batch_size`` at ``lr``, clipping the
    gradient norm at ``clip``, scored on ``test_size`` held-out sequences."""

    task: str = "adding"
    lengths: tuple[int, ...] = (10, 50, 100)
    cells: tuple[str, ...] = CELL_KINDS
    steps: int = 300
    hidden_size: int = 32
    batch_size: int = 32
    lr: float = 1e-2
    clip: float = 1.0
    test_size: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice(_OWNER, "task", self.task, TASKS)
        for name in ("lengths", "cells"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not value:
                raise fail(_OWNER, name, f"must hold at least one value, got {value!r}")
            if len(set(value)) != len(value):
                raise fail(_OWNER, name, f"must not repeat a value, got {list(value)}")
        shortest = 2 if self.task == "adding" else 1  # adding marks one step in each half
        for length in self.lengths:
            check_int(_OWNER, "lengths", length, least=shortest)
        for cell in self.cells:
            check_choice(_OWNER, "cells", cell, CELL_KINDS)
        check_int(_OWNER, "steps", self.steps, least=1)
        check_int(_OWNER, "hidden_size", self.hidden_size, least=1)
        check_int(_OWNER, "batch_size", self.batch_size, least=1)
        check_int(_OWNER, "test_size", self.test_size, least=1)
        check_int(_OWNER, "seed", self.seed, least=0)
        check_positive(_OWNER, "lr", self.lr)
        check_positive(_OWNER, "clip", self.clip)

    @property
    def metric(self) -> str:
        return "test MSE" if self.task == "adding" else "recall accuracy"


class MemoryModel(nn.Module):
    """``Recurrent(cell)`` and a linear read-out at every step: (B, T, O) outputs, O = 1
    for adding (inputs (B, T, 2)), O = A + 1 for copy (ids (B, T) read one-hot)."""

    def __init__(self, task: str, cell: str, hidden_size: int) -> None:
        super().__init__()
        check_choice(_OWNER, "task", task, TASKS)
        self.task = task
        features = 2 if task == "adding" else copy_vocab_size()
        outputs = 1 if task == "adding" else COPY_ALPHABET + 1
        self.rnn = Recurrent(CELL_CLASSES[cell], features, hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, outputs)

    def forward(self, inputs: Tensor) -> Tensor:
        if self.task == "copy":
            inputs = F.one_hot(inputs, copy_vocab_size()).float()  # (B, T, V)
        h, _ = self.rnn(inputs)  # (B, T, H)
        return self.readout(h)  # (B, T, O)


@dataclass(frozen=True)
class MemoryResult:
    """``scores[cell][length]`` and the trivial ``baseline[length]``, in ``metric``."""

    config: MemoryConfig
    scores: dict[str, dict[int, float]]
    baseline: dict[int, float]
    seconds: float

    @property
    def metric(self) -> str:
        return self.config.metric

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.config.task,
            "metric": self.metric,
            "config": asdict(self.config),
            "scores": {c: {str(T): v for T, v in s.items()} for c, s in self.scores.items()},
            "baseline": {str(T): v for T, v in self.baseline.items()},
            "seconds": round(self.seconds, 2),
        }

    def format(self) -> str:
        """The aligned table: one row per cell and the baseline, one column per length."""
        c = self.config
        lengths = list(c.lengths)
        head = ["cell", *(f"T={T}" for T in lengths)]
        rows = [[cell, *(f"{self.scores[cell][T]:.4f}" for T in lengths)] for cell in c.cells]
        name = "always 1.0" if c.task == "adding" else "chance"
        rows.append([name, *(f"{self.baseline[T]:.4f}" for T in lengths)])
        better = "lower" if c.task == "adding" else "higher"
        title = (
            f"{c.task} task, {self.metric} ({better} is better) after {c.steps} steps: "
            f"hidden {c.hidden_size}, batch {c.batch_size}, Adam lr {c.lr:g}, "
            f"clip {c.clip:g}, {c.test_size} test sequences, seed {c.seed}"
        )
        return f"{title}\n{format_table(head, rows)}\n({self.seconds:.1f} s)"


def run_memory_bench(
    config: MemoryConfig | None = None,
    on_score: Callable[[str, int, float, float], None] | None = None,
) -> MemoryResult:
    """Train and score every (cell, length) of ``config``; ``on_score(cell, T, score,
    seconds)`` is called after each, e.g. to show progress."""
    config = config or MemoryConfig()
    start = time.perf_counter()
    scores: dict[str, dict[int, float]] = {cell: {} for cell in config.cells}
    baseline: dict[int, float] = {}
    for length in config.lengths:
        for cell in config.cells:
            began = time.perf_counter()
            score, base = train_memory_model(config, cell, length)
            scores[cell][length] = score
            baseline[length] = base
            if on_score is not None:
                on_score(cell, length, score, time.perf_counter() - began)
    return MemoryResult(config, scores, baseline, time.perf_counter() - start)


def train_memory_model(config: MemoryConfig, cell: str, length: int) -> tuple[float, float]:
    """Train one model of ``cell`` at ``length``; returns (its score, the baseline's)."""
    generator = torch.Generator().manual_seed(config.seed)
    test = _batch(config.task, config.test_size, length, generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = MemoryModel(config.task, cell, config.hidden_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    model.train()
    for _ in range(config.steps):
        inputs, targets = _batch(config.task, config.batch_size, length, generator)
        loss = _loss(config.task, model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
    model.eval()
    with torch.no_grad():
        outputs = model(test.inputs)
    if config.task == "adding":
        mse = F.mse_loss(outputs[:, -1, 0], test.targets).item()
        return mse, F.mse_loss(torch.ones_like(test.targets), test.targets).item()
    recalled = outputs[:, -COPY_SYMBOLS:].argmax(dim=-1)  # (B, K)
    accuracy = (recalled == test.targets[:, -COPY_SYMBOLS:]).float().mean().item()
    return accuracy, 1.0 / COPY_ALPHABET


def _batch(task: str, batch_size: int, length: int, generator: torch.Generator):
    if task == "adding":
        return adding_problem(batch_size, length, generator)
    return copy_memory(batch_size, length, generator)


def _loss(task: str, outputs: Tensor, targets: Tensor) -> Tensor:
    if task == "adding":
        return F.mse_loss(outputs[:, -1, 0], targets)
    return F.cross_entropy(outputs.flatten(0, 1), targets.flatten())
