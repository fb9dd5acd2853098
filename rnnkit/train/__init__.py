"""The task-agnostic trainer: loop, optimizers and schedules, checkpoints, logging.

A task (language model, classifier, forecaster...) implements the `Task` protocol; the
`Trainer` runs it under a `TrainConfig` and writes a resumable run directory.
"""

from rnnkit.train.checkpoint import (
    atomic_save_safetensors,
    atomic_write_bytes,
    load_state_checked,
    load_weights,
    read_safetensors,
    save_weights,
)
from rnnkit.train.config import OPTIMIZERS, SCHEDULES, TrainConfig
from rnnkit.train.errors import TrainingDiverged, TrainingInterrupted
from rnnkit.train.logging import MetricsLog
from rnnkit.train.optim import LRSchedule, build_optimizer, step_progress, time_progress
from rnnkit.train.resume import checkpoint_step
from rnnkit.train.task import StepOutput, Task
from rnnkit.train.trainer import Trainer, TrainResult

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "LRSchedule",
    "MetricsLog",
    "StepOutput",
    "Task",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingDiverged",
    "TrainingInterrupted",
    "atomic_save_safetensors",
    "atomic_write_bytes",
    "build_optimizer",
    "checkpoint_step",
    "load_state_checked",
    "load_weights",
    "read_safetensors",
    "save_weights",
    "step_progress",
    "time_progress",
]
