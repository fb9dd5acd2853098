"""`TrainConfig`: the optimizer, schedule, budget, cadence and device of one run.

Frozen and validated on construction (`from_dict` and `dataclasses.replace` included)
with `rnnkit.validate`, so a config read back from a run directory's JSON is checked the
same way as one built in code, and every ConfigError names the field at fault.

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

from rnnkit import validate
from rnnkit.config import dataclass_from_dict

OPTIMIZERS = ("sgd", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "linear")
PRECISIONS = ("fp32", "bf16")
#: Validation figures that can choose the kept weights, each with True where higher is
#: better (`TrainConfig.monitor`).
MONITORS = {"loss": False, "accuracy": True, "macro_f1": True}

_OWNER = "TrainConfig"


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run; see the module docstring for budgets and schedules.

    optimizer: "sgd" | "rmsprop" | "adam" | "adamw"; momentum applies to sgd/rmsprop,
      betas to adam/adamw; weight_decay to all (decoupled for adamw).
    schedule: "constant" | "cosine" | "linear", decaying from lr to lr * min_lr_ratio over
      the budget after `warmup_steps` steps of linear warm-up.
    clip_norm / clip_value: clip the global gradient norm, or each gradient element; at
      most one of them.
    max_bad_steps: a step whose loss or gradient norm is NaN or infinite is skipped (no
      update; its batch is used up) with a warning; after more than this many in a row
      training stops with TrainingDiverged, keeping the last checkpoint (0: stop at the
      first).
    eval_every / checkpoint_every / log_every: cadence in optimizer steps; the run also
      evaluates and checkpoints when it ends or is interrupted.
    monitor: the validation figure that chooses best.safetensors and counts early
      stopping's patience: "loss" (lowest; the default) or "accuracy" (highest, for a
      task whose evaluation gives it, as classify does with held-out data). A figure
      must beat the best so far strictly, so of equal accuracies the first is kept.
    early_stopping: patience, in evaluations without a new best monitored figure.
    ema_decay: 0 (off), or d in (0, 1): evaluate and save an exponential moving average
      of the weights with this decay per step (`rnnkit.train.averaging`).
    precision: "fp32" | "bf16": bf16 runs each training forward pass under bfloat16
      autocast over float32 weights (`rnnkit.train.precision`); evaluation stays fp32.
    sparse_embeddings: give the model's embedding tables (`nn.Embedding`, except one
      whose weight another layer shares, as a tied output layer does) sparse gradients:
      each step touches only the rows its batch used, and adam/adamw update just those
      rows ("lazy" Adam, `rnnkit.train.optim.LazyAdam`). Much faster with a large
      vocabulary; not the same numbers as dense Adam, whose momentum keeps moving rows
      a batch did not use. Needs adam or adamw, one process.
    deterministic: train under torch's deterministic algorithms
      (`rnnkit.train.determinism`); two runs then give the same weights bit for bit (on
      CPU: same machine, torch version and thread count). Needs a step or epoch budget.
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
    max_bad_steps: int = 10
    max_steps: int | None = None
    max_epochs: float | None = None
    max_minutes: float | None = None
    eval_every: int = 200
    early_stopping: int | None = None
    monitor: str = "loss"
    checkpoint_every: int = 200
    log_every: int = 10
    seed: int = 1234
    device: str = "cpu"
    ema_decay: float = 0.0
    precision: str = "fp32"
    tensorboard: bool = False
    progress: bool = True
    deterministic: bool = False
    sparse_embeddings: bool = False

    def __post_init__(self) -> None:
        # Every ConfigError carries field= this dataclass's field name, which the command
        # line maps back to its flag (max_minutes -> --minutes).
        validate.check_choice(_OWNER, "optimizer", self.optimizer, OPTIMIZERS)
        validate.check_positive(_OWNER, "lr", self.lr)
        validate.check_real(_OWNER, "weight_decay", self.weight_decay, least=0.0)
        validate.check_probability(_OWNER, "momentum", self.momentum)
        self._check_betas()
        validate.check_choice(_OWNER, "schedule", self.schedule, SCHEDULES)
        validate.check_real(_OWNER, "min_lr_ratio", self.min_lr_ratio, least=0.0, most=1.0)
        validate.check_int(_OWNER, "warmup_steps", self.warmup_steps, least=0)
        validate.check_positive(_OWNER, "clip_norm", self.clip_norm, optional=True)
        validate.check_positive(_OWNER, "clip_value", self.clip_value, optional=True)
        validate.check_int(_OWNER, "max_bad_steps", self.max_bad_steps, least=0)
        if self.clip_norm is not None and self.clip_value is not None:
            raise validate.fail(
                _OWNER,
                "clip_value",
                "cannot be combined with clipping the gradient norm (on by default, at "
                "5.0): choose one of the two clips",
            )
        self._check_budget()
        for name in ("eval_every", "checkpoint_every", "log_every"):
            validate.check_int(_OWNER, name, getattr(self, name), least=1)
        validate.check_int(_OWNER, "early_stopping", self.early_stopping, least=1, optional=True)
        validate.check_choice(_OWNER, "monitor", self.monitor, MONITORS)
        validate.check_int(_OWNER, "seed", self.seed, least=0)
        # Parsed only: a config saved on a GPU machine must still load on a CPU one; the
        # Trainer checks that the device is usable here.
        validate.parse_device(_OWNER, "device", self.device)
        if isinstance(self.device, torch.device):
            object.__setattr__(self, "device", str(self.device))  # JSON keeps strings
        if not validate.is_real(self.ema_decay) or not 0 <= self.ema_decay < 1:
            raise validate.fail(
                _OWNER,
                "ema_decay",
                f"must be 0 (off) or in (0, 1), e.g. 0.999, got {self.ema_decay!r}",
            )
        # The one check of the precision's name; whether the device can run it is the
        # Trainer's (rnnkit.train.precision.autocast_for).
        validate.check_choice(_OWNER, "precision", self.precision, PRECISIONS)
        validate.check_bool(_OWNER, "tensorboard", self.tensorboard)
        validate.check_bool(_OWNER, "progress", self.progress)
        validate.check_bool(_OWNER, "deterministic", self.deterministic)
        validate.check_bool(_OWNER, "sparse_embeddings", self.sparse_embeddings)
        if self.sparse_embeddings and self.optimizer not in ("adam", "adamw"):
            raise validate.fail(
                _OWNER,
                "sparse_embeddings",
                f"needs optimizer adam or adamw (the ones with a sparse update here), "
                f"not {self.optimizer}",
            )
        if self.deterministic and self.max_steps is None and self.max_epochs is None:
            raise validate.fail(
                _OWNER,
                "deterministic",
                "needs a step or epoch budget: a run with only a time budget stops and "
                "decays its learning rate by the clock, which no two runs share",
            )

    def _check_betas(self) -> None:
        betas = self.betas
        if (
            not isinstance(betas, tuple | list)
            or len(betas) != 2
            or not all(validate.is_real(b) and 0 <= b < 1 for b in betas)
        ):
            raise validate.fail(
                _OWNER, "betas", f"must be two numbers in [0, 1), e.g. (0.9, 0.999), got {betas!r}"
            )
        # JSON gives a list; keep one canonical type so configs compare equal.
        object.__setattr__(self, "betas", (float(betas[0]), float(betas[1])))

    def _check_budget(self) -> None:
        validate.check_int(_OWNER, "max_steps", self.max_steps, least=1, optional=True)
        validate.check_positive(_OWNER, "max_epochs", self.max_epochs, optional=True)
        validate.check_positive(_OWNER, "max_minutes", self.max_minutes, optional=True)
        if self.max_steps is None and self.max_epochs is None and self.max_minutes is None:
            raise validate.fail(
                _OWNER,
                "max_steps",
                "is None, and so are max_epochs and max_minutes: a run needs a budget, "
                "at least one of them (it stops at whichever comes first)",
            )

    def budget_steps(self, steps_per_epoch: int) -> tuple[int | None, int | None]:
        """(steps of the epoch budget, steps of the step and epoch budgets together), for
        epochs of ``steps_per_epoch`` steps; None where there is no such budget."""
        epoch_steps = None
        if self.max_epochs is not None:
            # The tolerance keeps 0.1 * 30 = 3.0000000000000004 at 3 steps, not 4.
            epoch_steps = max(1, math.ceil(self.max_epochs * steps_per_epoch - 1e-9))
        caps = [n for n in (self.max_steps, epoch_steps) if n is not None]
        return epoch_steps, (min(caps) if caps else None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; `from_dict` reads it back."""
        out = asdict(self)
        out["betas"] = list(self.betas)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from `to_dict()` output; unknown keys raise ConfigError."""
        return dataclass_from_dict(cls, data, "TrainConfig")
