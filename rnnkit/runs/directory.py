"""The run directory on disk: what is written when, and reading it back with checks.

    config.json            the RunSpec (task, configs, data identity, artifact digests)
    NAME.json              one per artifact of the task (vocab.json, labels.json, ...)
    checkpoint.safetensors everything needed to resume exactly   (the trainer's files)
    best.safetensors       weights with the best validation loss
    last.safetensors       weights at the last checkpoint
    metrics.csv, loss.png  the training curve; train_config.json, the latest (re)start

Artifacts are written before config.json, so a folder with a config.json has all its
artifacts; config.json records a digest of each, so a vocabulary edited or swapped
between runs is refused at load instead of making a model speak nonsense.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from rnnkit.atomic import atomic_write_json
from rnnkit.errors import CheckpointError
from rnnkit.runs.registry import canonical_json, content_digest
from rnnkit.runs.spec import RunSpec

CONFIG = "config.json"
CHECKPOINT = "checkpoint.safetensors"


def artifact_digest(value: Any) -> str:
    """The SHA-256 config.json records for an artifact's JSON value."""
    return content_digest(canonical_json(value))


def holds_run(run_dir: Path) -> bool:
    return (run_dir / CONFIG).exists() or (run_dir / CHECKPOINT).exists()


def check_new_run_dir(run_dir: Path) -> None:
    """A new run goes into a folder that does not exist yet or is empty."""
    if run_dir.exists() and not run_dir.is_dir():
        raise CheckpointError(f"{run_dir} is a file; choose a new folder for the run")
    above = next(p for p in run_dir.absolute().parents if p.exists())
    if not above.is_dir():
        raise CheckpointError(
            f"{run_dir} cannot be created: {above} is a file, not a folder; choose another --out"
        )
    if holds_run(run_dir):
        raise CheckpointError(
            f"{run_dir} already holds a run; continue it with --resume {run_dir}, "
            "or choose a new --out"
        )
    if run_dir.is_dir() and any(run_dir.iterdir()):
        raise CheckpointError(f"{run_dir} is not empty; choose a new or empty folder with --out")


def write_spec(run_dir: Path, spec: RunSpec, artifacts: dict[str, Any]) -> None:
    """Write the artifacts, then config.json with their digests (recorded in ``spec``).

    A new ``run_dir`` is written as a hidden folder beside it, renamed into place at the
    end: a run killed while its files are written leaves no ``run_dir``, so the same
    command works again, instead of a folder of artifacts without config.json that
    could be neither resumed nor trained into. An empty folder that already exists (it
    may be a mount point, which cannot be renamed over) is written in place.
    """
    staging = None
    try:
        staging = _staging_folder(run_dir)
        target = run_dir if staging is None else staging
        target.mkdir(parents=True, exist_ok=True)
        for name, value in artifacts.items():
            atomic_write_json(target / f"{name}.json", value)
            spec.artifacts[name] = artifact_digest(value)
        atomic_write_json(target / CONFIG, spec.to_dict())
        if staging is not None:
            os.replace(staging, run_dir)
    except BaseException as exc:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):  # a full disk, a folder we may not write to, ...
            raise CheckpointError(
                f"cannot write the run into {run_dir} ({exc.strerror or exc}); choose another --out"
            ) from exc
        raise


def _staging_folder(run_dir: Path) -> Path | None:
    if run_dir.exists():
        return None
    parent = run_dir.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    return parent / f".{run_dir.name}.{uuid.uuid4().hex}.tmp"


def rewrite_config(run_dir: Path, spec: RunSpec) -> None:
    atomic_write_json(run_dir / CONFIG, spec.to_dict())


def read_spec(run_dir: Path) -> tuple[RunSpec, dict[str, Any]]:
    """The RunSpec and the artifacts' JSON values; CheckpointError naming what is wrong."""
    if not run_dir.exists():
        raise CheckpointError(f"run directory {run_dir} does not exist")
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir} is a file, not a run directory")
    config_path = run_dir / CONFIG
    if not config_path.exists():
        raise CheckpointError(f"{run_dir} is not a run directory: {CONFIG} is missing")
    spec = RunSpec.from_dict(_read_json(config_path), str(config_path))
    artifacts = {}
    for name, digest in spec.artifacts.items():
        path = run_dir / f"{name}.json"
        if not path.exists():
            raise CheckpointError(f"{run_dir} is missing {path.name}, which the run needs")
        value = _read_json(path)
        if digest is not None and artifact_digest(value) != digest:
            raise CheckpointError(
                f"{path} is not the {name} this run was trained with (its content changed); "
                "restore the original file from the run"
            )
        artifacts[name] = value
    return spec, artifacts


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is corrupt: {err}") from None
