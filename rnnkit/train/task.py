"""The `Task` protocol: everything the trainer knows about what it trains.

The trainer owns the loop, the optimizer, checkpoints and logs; the task owns the model,
the data (its position and any state carried between batches, such as a truncated-BPTT
hidden state) and the meaning of the loss. Language models, classifiers and forecasters
all plug in through these few members, so `rnnkit.train` never imports a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

import torch

# A read-only empty mapping: a shared mutable `{}` default could be changed by one task
# and leak into every other StepOutput.
_NO_EXTRAS: Mapping[str, float] = MappingProxyType({})


#: The unit of `StepOutput.count` for a task that declares none.
DEFAULT_UNIT = "examples"


class StepOutput(NamedTuple):
    """What `Task.training_loss` returns for one batch.

    `loss` is the scalar to backpropagate (a mean over the batch); `count` how many
    predictions the loss averages over (tokens for a language model, examples for a
    classifier, time steps for a forecaster): it weights the logged mean loss and gives
    the throughput, in the task's `unit` per second; `extras` are further per-batch
    figures to log, e.g. {"accuracy": 0.93}.
    """

    loss: torch.Tensor
    count: int
    extras: Mapping[str, float] = _NO_EXTRAS


class Task(Protocol):
    """A trainable task as the `Trainer` sees it.

    The trainer moves `model` to the configured device before training starts; the task
    puts its batches on the model's device. `state_dict()` is a flat dict whose values
    are torch Tensors or JSON-serialisable values (ints, floats, strings, None, lists,
    dicts); `load_state_dict` receives the tensors on the training device.

    `unit` (optional class attribute, default "examples") names what `StepOutput.count`
    counts, in the plural: "tokens", "examples", "time_steps"... The progress bar shows
    `<unit>/s` and metrics.csv's throughput column is `<unit>_per_s`, so it must be a
    Python identifier. It is not a Protocol member because a task may leave it out.
    """

    model: torch.nn.Module

    def next_batch(self) -> Any:
        """The next training batch; advances the task's data position."""
        ...

    def training_loss(self, batch: Any) -> StepOutput:
        """Forward `batch` through the model in training mode and return its loss."""
        ...

    def evaluate(self) -> dict[str, float]:
        """Validation figures, at least {"loss": ...}; run under eval() and no_grad().

        It must leave the training state (data position, carried state) as it found it;
        the trainer restores the global RNGs around it. A Ctrl-C stops it at once (the
        trainer then checkpoints the completed step and evaluates again on resume).
        """
        ...

    def steps_per_epoch(self) -> int:
        """How many `next_batch` calls make one pass over the training data."""
        ...

    def display(self, loss: float) -> dict[str, float]:
        """Figures derived from a mean loss, e.g. {"bpc": loss / ln 2}; may be empty."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """The task's resumable state (data position, carried state, data RNGs)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        ...


_REQUIRED = (
    "model",
    "next_batch",
    "training_loss",
    "evaluate",
    "steps_per_epoch",
    "display",
    "state_dict",
    "load_state_dict",
)


def task_unit(task: object) -> str:
    """What `task`'s `StepOutput.count` counts: its `unit`, or "examples"."""
    unit = getattr(task, "unit", DEFAULT_UNIT)
    if not isinstance(unit, str) or not unit.isidentifier():
        raise TypeError(
            f"{type(task).__name__}.unit must be a plural noun usable as a column name, "
            f"such as 'tokens' or 'examples', got {unit!r}"
        )
    return unit


def check_task(task: object) -> None:
    """Raise TypeError naming every `Task` member that `task` lacks, or a bad `unit`."""
    missing = [name for name in _REQUIRED if not hasattr(task, name)]
    if missing:
        raise TypeError(
            f"{type(task).__name__} is not a Task: it lacks {', '.join(missing)} "
            "(see rnnkit.train.Task for the members the trainer calls)"
        )
    if not isinstance(task.model, torch.nn.Module):  # type: ignore[attr-defined]
        raise TypeError(
            f"{type(task).__name__}.model must be a torch.nn.Module, "
            f"got {type(task.model).__name__}"  # type: ignore[attr-defined]
        )
    task_unit(task)
