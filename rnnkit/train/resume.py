"""The resume checkpoint: one safetensors file holding a whole training run's state.

Tensors: "model.*" weights, "optim.*" optimizer state, "rng.*" torch RNG states,
"task.*" task tensors and, with weight averaging, "ema.*" averaged weights, all on CPU. Metadata: one JSON string under "rnnkit.train" with
the counters, optimizer param_groups and scalars, python/numpy RNG states, the task's
JSON values, the metrics.csv row count and header, and the config (for the record).
The file is replaced atomically, so it is always either the old or the new checkpoint.

Format 2 renamed the log window's `tokens` to `count` and added `eval_pending`; a
format 1 checkpoint is read through `_MIGRATIONS`, one small step per format.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rnnkit.errors import CheckpointError
from rnnkit.train.checkpoint import (
    atomic_save_safetensors,
    load_state_checked,
    read_metadata,
    read_safetensors,
    save_weights,
)
from rnnkit.train.config import TrainConfig
from rnnkit.train.optim import apply_hyperparameters
from rnnkit.train.state import (
    RunState,
    capture_rng,
    merge_task_state,
    pack_optimizer,
    split_task_state,
    unpack_optimizer,
)

CHECKPOINT_FORMAT = 2
METADATA_KEY = "rnnkit.train"


def _from_format_1(record: dict[str, Any]) -> dict[str, Any]:
    # The log window's "tokens" became "count"; eval_pending takes its default.
    window = record["run"]["window"]
    window["count"] = window.pop("tokens")
    return record


# Format n -> n + 1, applied in order up to CHECKPOINT_FORMAT.
_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_format_1}


def _training_record(path: Path, metadata: dict[str, str]) -> dict[str, Any]:
    """The "rnnkit.train" metadata of `path`, migrated to CHECKPOINT_FORMAT."""
    if METADATA_KEY not in metadata:
        raise CheckpointError(
            f"{path} holds no training state (is it a weights-only file?); "
            "resume from a checkpoint.safetensors written by rnnkit.train"
        )
    try:
        record = json.loads(metadata[METADATA_KEY])
        version = record.get("format")
        if version not in _MIGRATIONS and version != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"{path} has checkpoint format {version!r}; this rnnkit reads formats "
                f"1 to {CHECKPOINT_FORMAT}: resume with the rnnkit version that wrote it"
            )
        while version != CHECKPOINT_FORMAT:
            record = _MIGRATIONS[version](record)
            version += 1
        record["format"] = version
        return record
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _incomplete(path, exc) from exc


def _incomplete(path: Path, exc: Exception) -> CheckpointError:
    return CheckpointError(
        f"{path} is not a complete rnnkit training checkpoint ({type(exc).__name__}: "
        f"{exc}); start a new run, or resume from a checkpoint rnnkit.train wrote"
    )


def checkpoint_step(path: str | os.PathLike[str]) -> int | None:
    """How many steps the training checkpoint at `path` has completed, or None if there
    is no file there; read from its metadata alone, without loading a tensor.

    CheckpointError if the file is unreadable or not an rnnkit.train checkpoint.
    """
    path = Path(path)
    if not path.exists():
        return None
    record = _training_record(path, read_metadata(path))
    try:
        step = record["run"]["step"]
    except (KeyError, TypeError) as exc:
        raise _incomplete(path, exc) from exc
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise CheckpointError(f"{path} records step {step!r}, not a step count")
    return step


@dataclass
class ResumePoint:
    """What `read_checkpoint` restores beyond the model and optimizer it loads in place."""

    state: RunState
    rng_tensors: dict[str, torch.Tensor]
    rng_values: dict[str, Any]
    task_state: dict[str, Any]
    averaged: dict[str, torch.Tensor]  # "ema.*" tensors; empty without weight averaging
    metrics_rows: int
    metrics_columns: list[str]


def write_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    task_state: dict[str, Any],
    state: RunState,
    metrics_rows: int,
    metrics_columns: list[str],
    config: TrainConfig,
    averaged: dict[str, torch.Tensor] | None = None,
    last_weights: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write the resume checkpoint to `path`, with `averaged` ("ema.*") tensors if given,
    and `last_weights` (default: the model's) to last.safetensors beside it."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update(averaged or {})
    optim_tensors, optim_values = pack_optimizer(optimizer)
    rng_tensors, rng_values = capture_rng()
    task_tensors, task_values = split_task_state(task_state)
    tensors.update(optim_tensors)
    tensors.update(rng_tensors)
    tensors.update(task_tensors)
    record = {
        "format": CHECKPOINT_FORMAT,
        "run": state.to_json(),
        "optimizer": optim_values,
        "rng": rng_values,
        "task": task_values,
        "metrics": {"rows": metrics_rows, "columns": metrics_columns},
        "config": config.to_dict(),
    }
    atomic_save_safetensors(tensors, path, {METADATA_KEY: json.dumps(record)})
    if last_weights is None:
        save_weights(model, path.parent / "last.safetensors")
    else:
        atomic_save_safetensors(last_weights, path.parent / "last.safetensors")


def read_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    device: torch.device,
) -> ResumePoint:
    """Load weights and optimizer state from `path` in place; return everything else.

    Tensors are read to the CPU and moved where they belong (model and optimizer state
    to the parameters' device, task tensors to `device`), so a checkpoint written on one
    device resumes on another. CheckpointError for missing, corrupt, foreign or
    mismatched checkpoints.
    """
    if not path.is_file():
        raise CheckpointError(
            f"resume=True but {path} does not exist; start without resume, "
            "or point run_dir at the directory of the run to continue"
        )
    tensors, metadata = read_safetensors(path, "cpu")
    record = _training_record(path, metadata)
    try:
        point = ResumePoint(
            state=RunState.from_json(record["run"]),
            rng_tensors={k: v for k, v in tensors.items() if k.startswith("rng.")},
            rng_values=record["rng"],
            task_state=merge_task_state(tensors, record["task"], device),
            averaged={k: v for k, v in tensors.items() if k.startswith("ema.")},
            metrics_rows=int(record["metrics"]["rows"]),
            metrics_columns=list(record["metrics"]["columns"]),
        )
        optimizer_values = record["optimizer"]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _incomplete(path, exc) from exc
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    load_state_checked(model, model_state, str(path))
    unpack_optimizer(optimizer, tensors, optimizer_values)
    apply_hyperparameters(optimizer, config)
    return point
