"""`export_run`: a run's exported models, the artifacts needed to feed them (vocabulary,
labels) and a manifest describing both, written into one folder for use without rnnkit."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit import __version__
from rnnkit.atomic import atomic_write_bytes, atomic_write_json
from rnnkit.errors import ConfigError
from rnnkit.export.classifier import check_classifier_onnx, classifier_io, export_classifier_onnx
from rnnkit.export.formats import FILES, check_export, check_format, export, io_names
from rnnkit.export.modules import LMStep
from rnnkit.runs import load_run
from rnnkit.runs.directory import holds_run

VOCAB_FILE = "vocab.json"
ARTIFACTS_FILE = "artifacts.json"
MANIFEST_FILE = "export.json"
EXPORT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class ExportResult:
    """Where an export went: the folder, each file by role, and the manifest's content."""

    out_dir: Path
    files: dict[str, Path]
    manifest: dict[str, Any]


def default_out_dir(run_dir: str | Path, fmt: str) -> Path:
    """``RUN/export/FORMAT``: beside the weights it was made from."""
    return Path(run_dir) / "export" / fmt


def export_run(
    run_dir: str | Path, fmt: str, out: str | Path | None = None, *, weights: str = "best"
) -> ExportResult:
    """Export the run in ``run_dir`` to ``fmt`` ("onnx" or "torchscript") into ``out``
    (default ``RUN/export/FORMAT``).

    A language model (`rnnkit train lm`) gives ``step.*``, ``sequence.*``, ``vocab.json``
    and ``export.json``; a classifier (`rnnkit train classify`, ONNX only) gives
    ``sequence.onnx``, ``artifacts.json`` (labels, text encoder or feature scaler) and
    ``export.json``.

    Everything is checked before the first file is written: the format and its
    packages, the run, the folder (no file in it may be overwritten), and the exported
    models themselves, which must agree with PyTorch on a random batch. A failure
    raises an `RnnkitError` and writes nothing.
    """
    check_format(fmt)
    run = load_run(run_dir, weights=weights)
    if run.task not in ("lm", "classify"):
        raise ConfigError(
            f"{run_dir} is a {run.task!r} run; rnnkit export needs a language model "
            "(a run of `rnnkit train lm`) or a classifier (`rnnkit train classify`)"
        )
    if run.task == "classify" and fmt != "onnx":
        raise ConfigError(
            f"a classifier exports to onnx only, not {fmt} (tracing would freeze its "
            "pooling's shape checks); use --format onnx"
        )
    out_dir = Path(out) if out is not None else default_out_dir(run_dir, fmt)
    if run.task == "lm":
        targets = {**FILES[fmt], "vocab": VOCAB_FILE, "manifest": MANIFEST_FILE}
    else:
        targets = {"sequence": "sequence.onnx", "artifacts": ARTIFACTS_FILE}
        targets["manifest"] = MANIFEST_FILE
    paths = {role: out_dir / name for role, name in targets.items()}
    _check_out_dir(out_dir, paths)
    export_task = _export_lm if run.task == "lm" else _export_classifier
    models, json_files, described = export_task(run, fmt)
    manifest = {
        "format": fmt,
        "export_version": EXPORT_FORMAT_VERSION,
        "rnnkit_version": __version__,
        "task": run.task,
        "run": str(Path(run.run_dir).resolve()),
        "weights": weights,
        "files": dict(targets),
        **described,
    }
    for role, content in models.items():
        atomic_write_bytes(paths[role], content)
    for role, content in json_files.items():
        atomic_write_json(paths[role], content)
    atomic_write_json(paths["manifest"], manifest)
    return ExportResult(out_dir, paths, manifest)


def _export_lm(run, fmt: str):
    """The models, the JSON files and the manifest's description of a language model."""
    config, data = run.spec.model, run.spec.data
    step = LMStep(run.model)
    models = export(step, fmt, config.cell)
    diffs = check_export(models, fmt, step, config.cell)
    shapes = step.state_shapes(1)
    described = {
        "model": {
            "cell": config.cell,
            "num_layers": config.num_layers,
            "hidden_size": config.hidden_size,
            "vocab_size": config.vocab_size,
        },
        "state": [
            {"name": name, "shape": [L, "batch", H]}
            for name, (L, _, H) in zip(step.fields, shapes, strict=True)
        ],
        **io_names(step),
        "tokens": {"level": data.level, "lowercase": data.lowercase, "window": data.window},
        "max_abs_difference_from_pytorch": diffs,
    }
    return models, {"vocab": run.artifacts["vocab"].to_dict()}, described


def _export_classifier(run, fmt: str):
    """The model, the JSON files and the manifest's description of a classifier."""
    config, model = run.spec.model, run.model
    content = export_classifier_onnx(model, config.cell)
    diff = check_classifier_onnx(content, model, config.cell)
    described = {
        "model": {
            "cell": config.cell,
            "hidden_size": list(config.layer_sizes),
            "bidirectional": config.bidirectional,
            "pooling": config.pooling,
            "num_classes": config.num_classes,
            "output": config.output,
            "ensemble": config.ensemble,
        },
        "labels": list(run.artifacts["labels"]),
        **classifier_io(model),
        "max_abs_difference_from_pytorch": {"sequence": diff},
    }
    artifacts = run.plugin.artifacts_to_json(run.artifacts)
    return {"sequence": content}, {"artifacts": artifacts}, described


def _check_out_dir(out_dir: Path, paths: dict[str, Path]) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} is a file; give a folder")
    if holds_run(out_dir):
        raise ConfigError(
            f"--out {out_dir} holds a training run; export into a folder of its own "
            "(by default RUN/export/FORMAT)"
        )
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing:
        raise ConfigError(
            f"{existing[0]} already exists and would be overwritten; remove it or choose "
            "another folder with --out"
        )
    # The folder may not exist yet (it is created): the nearest one that does must be writable.
    parent = out_dir
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(
            f"cannot write the export into {out_dir}: {parent} is not a writable folder; "
            "choose another with --out"
        )
