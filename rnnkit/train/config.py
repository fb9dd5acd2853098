"""`TrainConfig`: the optimizer, schedule, budget, cadence and device of one run.

Frozen and validated on construction (`from_dict` and `dataclasses.replace` included), so a config read back from a run
directory's JSON is checked the same way as one built in code.

The budget is any combination of `max_steps`, `max_epochs` and `max_minutes`; the run
stops at whichever is reached first. The learning-rate schedule measures its progress
in steps whenever a step or epoch budget exists; with only `max_minutes` it measures
elapsed wall time against the budget, so such runs are not bit-reproducible (two runs
see different clocks); that is inherent in a time budget.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from rnnkit.config import dataclass_from_dict
from rnnkit.errors import ConfigError

OPTIMIZERS = ("sgd", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "linear")
PRECISIONS = ("fp32", "bf16")


def _is_int(value: object) -> bool:
    # bool is an int subclass; `max_steps=True` is a mistake, not 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _positive_real(name: str, value: object, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not _is_real(value) or float(value) <= 0:  # type: ignore[arg-type]
        extra = " or None" if optional else ""
        raise ConfigError(f"TrainConfig.{name} must be a positive number{extra}, got {value!r}")


def _int_at_least(name: str, value: object, low: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not _is_int(value) or value < low:  # type: ignore[operator]
        extra = " or None" if optional else ""
        raise ConfigError(f"TrainConfig.{name} must be an integer >= {low}{extra}, got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run; see the module docstring for budgets and schedules.

    optimizer: "sgd" | "rmsprop" | "adam" | "adamw"; momentum applies to sgd/rmsprop,
      betas to adam/adamw; weight_decay to all (decoupled for adamw).
    schedule: "constant" | "cosine" | "linear", decaying from lr to lr * min_lr_ratio over
      the budget after `warmup_steps` steps of linear warm-up.
    clip_norm / clip_value: clip the global gradient norm, or each gradient element; at
      most one of them.
    eval_every / checkpoint_every / log_every: cadence in optimizer steps; the run also
      evaluates and checkpoints when it ends or is interrupted.
    early_stopping: patience, in evaluations without a new best validation loss.
    ema_decay: 0 (off), or d in (0, 1): evaluate and save an exponential moving average
      of the weights with this decay per step (`rnnkit.train.averaging`).
    precision: "fp32" | "bf16": bf16 runs each training forward pass under bfloat16
      autocast over float32 weights (`rnnkit.train.precision`); evaluation stays fp32.
    """

    optimizer: str = "adam"
    lr: float = 2e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    warmup_steps: int = 0
    clip_norm: float | None = 5.0
    clip_value: float | None = None
    max_steps: int | None = None
    max_epochs: float | None = None
    max_minutes: float | None = None
    eval_every: int = 200
    early_stopping: int | None = None
    checkpoint_every: int = 200
    log_every: int = 10
    seed: int = 1234
    device: str = "cpu"
    ema_decay: float = 0.0
    precision: str = "fp32"
    tensorboard: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"TrainConfig.optimizer must be one of {', '.join(OPTIMIZERS)}, "
                f"got {self.optimizer!r}"
            )
        _positive_real("lr", self.lr)
        if not _is_real(self.weight_decay) or self.weight_decay < 0:
            raise ConfigError(
                f"TrainConfig.weight_decay must be a number >= 0, got {self.weight_decay!r}"
            )
        if not _is_real(self.momentum) or not 0 <= self.momentum < 1:
            raise ConfigError(f"TrainConfig.momentum must be in [0, 1), got {self.momentum!r}")
        self._check_betas()
        if self.schedule not in SCHEDULES:
            raise ConfigError(
                f"TrainConfig.schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}"
            )
        if not _is_real(self.min_lr_ratio) or not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(
                f"TrainConfig.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}"
            )
        _int_at_least("warmup_steps", self.warmup_steps, 0)
        _positive_real("clip_norm", self.clip_norm, optional=True)
        _positive_real("clip_value", self.clip_value, optional=True)
        if self.clip_norm is not None and self.clip_value is not None:
            raise ConfigError(
                "TrainConfig: set at most one of clip_norm and clip_value "
                "(clip_norm defaults to 5.0; pass clip_norm=None to clip by value)"
            )
        self._check_budget()
        for name in ("eval_every", "checkpoint_every", "log_every"):
            _int_at_least(name, getattr(self, name), 1)
        _int_at_least("early_stopping", self.early_stopping, 1, optional=True)
        _int_at_least("seed", self.seed, 0)
        self._check_device()
        if not _is_real(self.ema_decay) or not 0 <= self.ema_decay < 1:
            raise ConfigError(
                f"TrainConfig.ema_decay must be 0 (off) or in (0, 1), e.g. 0.999, "
                f"got {self.ema_decay!r}"
            )
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"TrainConfig.precision must be one of {', '.join(PRECISIONS)}, "
                f"got {self.precision!r}"
            )
        for name in ("tensorboard", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(
                    f"TrainConfig.{name} must be True or False, got {getattr(self, name)!r}"
                )

    def _check_betas(self) -> None:
        betas = self.betas
        if (
            not isinstance(betas, tuple | list)
            or len(betas) != 2
            or not all(_is_real(b) and 0 <= b < 1 for b in betas)
        ):
            raise ConfigError(
                f"TrainConfig.betas must be two numbers in [0, 1), e.g. (0.9, 0.999), got {betas!r}"
            )
        # JSON gives a list; keep one canonical type so configs compare equal.
        object.__setattr__(self, "betas", (float(betas[0]), float(betas[1])))

    def _check_budget(self) -> None:
        _int_at_least("max_steps", self.max_steps, 1, optional=True)
        _positive_real("max_epochs", self.max_epochs, optional=True)
        _positive_real("max_minutes", self.max_minutes, optional=True)
        if self.max_steps is None and self.max_epochs is None and self.max_minutes is None:
            raise ConfigError(
                "TrainConfig needs a budget: set at least one of max_steps, max_epochs "
                "or max_minutes (the run stops at whichever comes first)"
            )

    def _check_device(self) -> None:
        if not isinstance(self.device, str):
            raise ConfigError(f"TrainConfig.device must be a string, got {self.device!r}")
        try:
            torch.device(self.device)
        except (RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"TrainConfig.device {self.device!r} is not a torch device "
                "(expected e.g. 'cpu', 'cuda', 'cuda:1', 'mps')"
            ) from exc

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; `from_dict` reads it back."""
        out = asdict(self)
        out["betas"] = list(self.betas)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from `to_dict()` output; unknown keys raise ConfigError."""
        return dataclass_from_dict(cls, data, "TrainConfig")
