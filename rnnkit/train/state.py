"""Everything a resume checkpoint holds besides the model weights, as tensors + JSON.

safetensors stores tensors plus a string->string metadata dict, so each piece of
resumable state is split into the tensors it holds (stored under a name prefix) and
JSON-serialisable values (stored in one JSON string in the metadata):

  optimizer   "optim.<param index>.<key>" tensors; param_groups + non-tensor state in JSON
  RNGs        "rng.torch", "rng.cuda.<i>" uint8 tensors; python `random`, numpy in JSON
  task        "task.<key>" tensors; the task's other values in JSON
  counters    `RunState`, all JSON
"""

from __future__ import annotations

import contextlib
import json
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from rnnkit.errors import CheckpointError


def seed_everything(seed: int) -> None:
    """Seed python `random`, numpy's global RNG and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The global RNG states: torch's as uint8 tensors, python's and numpy's as JSON."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for index, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{index}"] = state
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]
    values = {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }
    return tensors, values


def restore_rng(tensors: Mapping[str, torch.Tensor], values: Mapping[str, Any]) -> None:
    """Undo `capture_rng`. CUDA states are restored for the devices both sides have
    (a checkpoint written on a GPU machine resumes on a CPU one, without them)."""
    torch.set_rng_state(tensors["rng.torch"].to("cpu", torch.uint8))
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            state = tensors.get(f"rng.cuda.{index}")
            if state is not None:
                torch.cuda.set_rng_state(state.to("cpu", torch.uint8), device=index)
    version, internal, gauss = values["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = values["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run the block, then put every global RNG back as it was, even on an exception:
    whatever evaluation draws, training sees the same random numbers."""
    tensors, values = capture_rng()
    try:
        yield
    finally:
        restore_rng(tensors, values)


def pack_optimizer(
    optimizer: torch.optim.Optimizer,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split `optimizer.state_dict()` into "optim.*" tensors and JSON values."""
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for index, param_state in state_dict["state"].items():
        for key, value in param_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value
            else:
                plain.setdefault(str(index), {})[key] = value
    values = {
        "class": optimizer_name(optimizer),
        "param_groups": state_dict["param_groups"],
        "state": plain,
    }
    return tensors, values


def optimizer_name(optimizer: torch.optim.Optimizer) -> str:
    """The torch class an optimizer is or extends ("Adam" for rnnkit's `LazyAdam`, whose
    state is Adam's), as checkpoints record it."""
    for cls in type(optimizer).__mro__:
        if cls.__module__.startswith("torch.optim"):
            return cls.__name__
    return type(optimizer).__name__


def unpack_optimizer(
    optimizer: torch.optim.Optimizer,
    tensors: Mapping[str, torch.Tensor],
    values: Mapping[str, Any],
) -> None:
    """Load what `pack_optimizer` produced into `optimizer`.

    Tensors may sit on any device: `Optimizer.load_state_dict` moves each one to its
    parameter's device (and keeps step counters where torch wants them).
    """
    saved_class = values["class"]
    if saved_class != optimizer_name(optimizer):
        raise CheckpointError(
            f"the checkpoint holds {saved_class} state but the config builds "
            f"{optimizer_name(optimizer)}; resume with the optimizer the run started with"
        )
    state: dict[int, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        if name.startswith("optim."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = tensor
    for index, param_state in values["state"].items():
        state.setdefault(int(index), {}).update(param_state)
    # JSON turned tuples such as Adam's betas into lists; give torch its own types back.
    groups = [
        {k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in group.items()}
        for group in values["param_groups"]
    ]
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(
            f"the checkpoint's optimizer state does not fit this model ({exc}); "
            "resume with the model and optimizer the run started with"
        ) from exc


def split_task_state(state: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split a task's `state_dict()` into "task.*" tensors and JSON values."""
    tensors: dict[str, torch.Tensor] = {}
    values: dict[str, Any] = {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise TypeError(f"task.state_dict() keys must be strings, got {key!r}")
        if isinstance(value, torch.Tensor):
            tensors[f"task.{key}"] = value
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"task.state_dict()[{key!r}] is a {type(value).__name__}, neither a tensor "
                "nor JSON-serialisable; store tensors under their own keys (e.g. 'h', 'c') "
                "and convert other values to numbers, strings or lists"
            ) from exc
        values[key] = value
    return tensors, values


def merge_task_state(
    tensors: Mapping[str, torch.Tensor], values: Mapping[str, Any], device: torch.device
) -> dict[str, Any]:
    """Undo `split_task_state`, with the tensors on `device`."""
    state = dict(values)
    for name, tensor in tensors.items():
        if name.startswith("task."):
            state[name[len("task.") :]] = tensor.to(device)
    return state


@dataclass
class LogWindow:
    """Sums over the steps since the last train row of metrics.csv.

    Kept in the checkpoint: a checkpoint need not fall on a log step, and the resumed
    run's next row must average the same steps as an uninterrupted run's. `count` sums
    `StepOutput.count` (predictions, in the task's unit); `seconds` counts time inside
    training steps only, so the throughput leaves out evaluation and checkpoint writing.
    """

    steps: int = 0
    count: int = 0
    loss_sum: float = 0.0
    weighted_loss_sum: float = 0.0
    extras_sum: dict[str, float] = field(default_factory=dict)
    extras_count: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, loss: float, count: int, extras: Mapping[str, float], seconds: float) -> None:
        """Account one step's mean loss over `count` predictions, its extras and duration."""
        self.steps += 1
        self.seconds += seconds
        self.count += count
        self.loss_sum += loss
        self.weighted_loss_sum += loss * count
        for key, value in extras.items():
            self.extras_sum[key] = self.extras_sum.get(key, 0.0) + float(value)
            self.extras_count[key] = self.extras_count.get(key, 0) + 1

    def mean_loss(self) -> float:
        """Count-weighted mean loss (plain mean when the task reports no count)."""
        if self.count > 0:
            return self.weighted_loss_sum / self.count
        return self.loss_sum / max(1, self.steps)

    def mean_extras(self) -> dict[str, float]:
        """Per-step mean of each extra figure."""
        return {k: v / self.extras_count[k] for k, v in self.extras_sum.items()}

    def rate(self) -> float:
        """Predictions per second of training-step time."""
        return self.count / max(self.seconds, 1e-9)


@dataclass
class RunState:
    """The trainer's counters; JSON round trip is exact (floats included).

    `lr` and `progress` are those of the last step taken (the schedule's state, kept
    for the record: the schedule itself is recomputed from step and budget).
    `eval_pending` is set when a Ctrl-C stopped the evaluation of step `step`: the step
    itself is complete, and a resumed run evaluates it before taking the next one.
    """

    step: int = 0
    elapsed_s: float = 0.0
    lr: float | None = None
    progress: float = 0.0
    best_val_loss: float | None = None
    best_step: int | None = None
    best_score: float | None = None
    last_val_loss: float | None = None
    last_eval_step: int | None = None
    evals_without_improvement: int = 0
    eval_pending: bool = False
    bad_steps: int = 0  # non-finite steps skipped in a row, up to the last step taken
    window: LogWindow = field(default_factory=LogWindow)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunState:
        """Undo `to_json`."""
        data = dict(data)
        # A checkpoint written before best_score existed monitored the loss.
        data.setdefault("best_score", data.get("best_val_loss"))
        window = LogWindow(**data.pop("window"))
        state = cls(**data, window=window)
        if state.step < 0 or not math.isfinite(state.elapsed_s):
            raise ValueError(f"step {state.step}, elapsed_s {state.elapsed_s}")
        return state

    def stop_reason(self, config: Any, epoch_steps: int | None) -> str | None:
        """Which budget or patience of ``config`` (a TrainConfig) is used up, or None;
        ``epoch_steps`` is the step count of an epoch budget."""
        if config.max_steps is not None and self.step >= config.max_steps:
            return "max_steps"
        if epoch_steps is not None and self.step >= epoch_steps:
            return "max_epochs"
        if config.max_minutes is not None and self.elapsed_s >= 60.0 * config.max_minutes:
            return "max_minutes"
        patience = config.early_stopping
        if patience is not None and self.evals_without_improvement >= patience:
            return "early_stopping"
        return None

    def record_eval(self, loss: float, score: float | None = None, higher: bool = False) -> bool:
        """Record a validation loss at this step, and the monitored figure ``score``
        (the loss itself if None; ``higher``: higher is better); True if the score
        strictly beats the best so far. `best_val_loss` is the loss at the best score."""
        if score is None:
            score = loss
        self.last_val_loss = loss
        self.last_eval_step = self.step
        self.eval_pending = False
        best = self.best_score
        if math.isfinite(score) and (best is None or (score > best if higher else score < best)):
            self.best_val_loss = loss
            self.best_score = score
            self.best_step = self.step
            self.evals_without_improvement = 0
            return True
        self.evals_without_improvement += 1
        return False


@dataclass(frozen=True)
class TrainResult:
    """How a `fit` ended. `stopped_because` is "max_steps", "max_epochs",
    "max_minutes" or "early_stopping"; val losses are None if nothing was evaluated."""

    steps: int
    epochs: float
    elapsed_s: float
    best_val_loss: float | None
    last_val_loss: float | None
    stopped_because: str
    #: The monitored figure (`TrainConfig.monitor`) of the kept weights; for the loss,
    #: best_val_loss again.
    best_score: float | None = None
