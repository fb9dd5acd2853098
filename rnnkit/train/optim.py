"""Optimizer factory and the learning-rate schedule.

The schedule is a pure function of (step, progress): nothing in it accumulates, so a
resumed run recomputes exactly the learning rate an uninterrupted one would use.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from rnnkit.train.config import TrainConfig


def build_optimizer(
    params: Iterable[torch.nn.Parameter], config: TrainConfig
) -> torch.optim.Optimizer:
    """The torch optimizer `config.optimizer` names, with the config's hyper-parameters.

    One parameter group; weight decay applies to every parameter, biases included.
    """
    params = [p for p in params if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    # TrainConfig validated the name, so past sgd and rmsprop it is adam or adamw.
    kind = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    options = {"lr": config.lr, "betas": config.betas, "weight_decay": config.weight_decay}
    if _fusable(params):
        # One fused kernel for every parameter instead of a dozen tensor-wide ops per
        # step: on the 2-core CPU a classifier with a 18,000 x 300 embedding (x3
        # networks) spent 72 ms of a 163 ms step in AdamW's update, 8.5 ms fused.
        return kind(params, fused=True, **options)
    return kind(params, **options)


def _fusable(params: list[torch.nn.Parameter]) -> bool:
    """Whether torch's fused Adam kernel takes these parameters: float32/float16/bf16
    (or float64 on CPU) on the CPU or a CUDA device, all on one device."""
    devices = {p.device.type for p in params}
    if len(devices) != 1 or devices - {"cpu", "cuda"}:
        return False
    return all(p.is_floating_point() for p in params)


def apply_hyperparameters(optimizer: torch.optim.Optimizer, config: TrainConfig) -> None:
    """Set the config's hyper-parameters on every group (after loading a checkpoint).

    Loading an optimizer state also loads its old hyper-parameters; the config given to
    the resumed run is the one that should hold.
    """
    for group in optimizer.param_groups:
        group["weight_decay"] = config.weight_decay
        if "momentum" in group:
            group["momentum"] = config.momentum
        if "betas" in group:
            group["betas"] = config.betas


@dataclass(frozen=True)
class LRSchedule:
    """lr(step, progress) = peak_lr * warm-up(step) * decay(progress).

    warm-up(step) = (step + 1) / warmup_steps for the first `warmup_steps` steps, then 1
    (`step` counts optimizer steps already taken, so the first step uses peak/warmup).
    decay(p) for p in [0, 1] goes from 1 to `min_lr_ratio`:
      constant: 1;  linear: 1 - (1 - r) p;  cosine: r + (1 - r) (1 + cos(pi p)) / 2.
    """

    peak_lr: float
    schedule: str
    warmup_steps: int
    min_lr_ratio: float

    @classmethod
    def from_config(cls, config: TrainConfig) -> LRSchedule:
        """The schedule a `TrainConfig` describes."""
        return cls(config.lr, config.schedule, config.warmup_steps, config.min_lr_ratio)

    def __call__(self, step: int, progress: float) -> float:
        """The learning rate for optimizer step `step` at budget fraction `progress`."""
        warm = 1.0
        if step < self.warmup_steps:
            warm = (step + 1) / self.warmup_steps
        p = min(max(progress, 0.0), 1.0)
        r = self.min_lr_ratio
        if self.schedule == "constant":
            decay = 1.0
        elif self.schedule == "linear":
            decay = 1.0 - (1.0 - r) * p
        else:
            decay = r + (1.0 - r) * 0.5 * (1.0 + math.cos(math.pi * p))
        return self.peak_lr * warm * decay


def step_progress(step: int, total_steps: int, warmup_steps: int) -> float:
    """Decay progress by steps: 0 at the first step after warm-up, 1 at the last step.

    The last step (`total_steps - 1`) therefore trains at exactly lr * min_lr_ratio.
    """
    span = max(1, total_steps - warmup_steps - 1)
    return min(max((step - warmup_steps) / span, 0.0), 1.0)


def time_progress(elapsed_s: float, max_minutes: float) -> float:
    """Decay progress by wall time, for runs whose only budget is minutes."""
    return min(max(elapsed_s / (60.0 * max_minutes), 0.0), 1.0)


def clip_gradients(parameters: Iterable[torch.nn.Parameter], config: TrainConfig) -> float:
    """Clip gradients as ``config`` (a TrainConfig) says: the global norm to
    ``clip_norm`` or each element to ``clip_value``. Returns the global norm before
    clipping, which the trainer checks for NaN/inf."""
    grads = [p for p in parameters if p.grad is not None]
    max_norm = config.clip_norm if config.clip_norm is not None else math.inf
    norm = float(torch.nn.utils.clip_grad_norm_(grads, max_norm))
    if config.clip_value is not None:
        torch.nn.utils.clip_grad_value_(grads, config.clip_value)
    return norm
