"""A minimal task, as a user would write one: a helper module, not collected by pytest.

Each line of the data file holds four numbers; the model reads them as a sequence and
predicts their sum. Its one artifact is the scale of the training numbers. Everything
else (run directory, configs, resume, the train/evaluate/predict commands) is the
shared run layer's.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rnnkit.config import dataclass_from_dict
from rnnkit.nn import GRU
from rnnkit.runs import Prepared, TaskPlugin, register_task
from rnnkit.train import StepOutput


def write_sums(folder: Path, lines: int, seed: int) -> Path:
    """A data file for the task: ``lines`` lines of four random digits."""
    rng = random.Random(seed)
    rows = [" ".join(str(rng.randint(0, 9)) for _ in range(4)) for _ in range(lines)]
    path = folder / "sums.txt"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class SumData:
    batch_size: int = 8
    val_every: int = 5  # every 5th line is held out

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        return dataclass_from_dict(cls, d, "SumData")


@dataclass(frozen=True)
class SumModel:
    hidden_size: int = 16

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        return dataclass_from_dict(cls, d, "SumModel")


class Summer(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.rnn, self.head = GRU(1, hidden, batch_first=True), nn.Linear(hidden, 1)

    def forward(self, x):  # (B, T) -> (B,)
        out, _ = self.rnn(x.unsqueeze(-1))
        return self.head(out[:, -1]).squeeze(-1)


def parse(lines, scale):
    x = torch.tensor([[float(v) for v in line.split()] for line in lines]) / scale
    return x, x.sum(1)


class SumTrainer:
    unit = "examples"

    def __init__(self, model, train, val, batch_size, seed):
        self.model, self.train, self.val, self.batch = model, train, val, batch_size
        self.rng = np.random.default_rng(seed)

    def steps_per_epoch(self):
        return max(1, len(self.train[0]) // self.batch)

    def next_batch(self):
        rows = torch.from_numpy(self.rng.choice(len(self.train[0]), self.batch, replace=False))
        return self.train[0][rows], self.train[1][rows]

    def training_loss(self, batch):
        return StepOutput(torch.mean((self.model(batch[0]) - batch[1]) ** 2), len(batch[1]))

    def evaluate(self):
        return {"loss": float(torch.mean((self.model(self.val[0]) - self.val[1]) ** 2))}

    def display(self, loss):
        return {}

    def state_dict(self):
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state):
        self.rng.bit_generator.state = state["rng"]


@register_task
class SumTask(TaskPlugin):
    name = "toy_sum"
    data_config, model_config = SumData, SumModel

    def read(self, source, config):
        with open(source, encoding="utf-8") as handle:
            return handle.read().splitlines()

    def prepare(self, raw, config, artifacts):
        train = [line for i, line in enumerate(raw) if i % config.val_every]
        val = [line for i, line in enumerate(raw) if not i % config.val_every]
        scale = artifacts or {"scale": max(abs(float(v)) for line in train for v in line.split())}
        return Prepared((parse(train, scale["scale"]), parse(val, scale["scale"])), scale)

    def build_model(self, config):
        return Summer(config.hidden_size)

    def trainer_task(self, spec, prepared, model):
        train, val = prepared.data
        return SumTrainer(model, train, val, spec.data.batch_size, spec.train.seed)

    def evaluate(self, run, raw):
        x, y = parse(raw, run.artifacts["scale"])
        return {"mse": float(torch.mean((run.model(x) - y) ** 2)), "examples": len(raw)}

    def predict(self, run, inputs):
        x, _ = parse(inputs, run.artifacts["scale"])
        sums = run.model(x) * run.artifacts["scale"]
        return [{"input": s, "sum": float(p)} for s, p in zip(inputs, sums, strict=True)]
