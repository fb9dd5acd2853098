"""A run's life: train it into a new directory, resume it, load it to evaluate or predict.

Every task goes through these functions; what differs between tasks is asked of its
`TaskPlugin`. Everything a command could trip over (settings, device, data, the
folder) is checked before the first file is written, so a failed command leaves
nothing behind; a run stopped before its first checkpoint resumes from step 0.
"""

from __future__ import annotations

import inspect
import shutil
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit.atomic import atomic_write_json, remove_stale_temporaries
from rnnkit.errors import CheckpointError, ConfigError, DataError
from rnnkit.runs import directory
from rnnkit.runs.registry import Prepared, TaskPlugin, get_task
from rnnkit.runs.settings import (
    BUDGET_FIELDS,
    resolve_data,
    resolve_model_settings,
    resolve_train,
    resume_overrides,
)
from rnnkit.runs.spec import RunSpec
from rnnkit.train import TrainConfig, Trainer, TrainResult, checkpoint_step, load_weights
from rnnkit.train.distributed import join
from rnnkit.train.errors import TrainingInterrupted
from rnnkit.train.tensorboard import require_summary_writer
from rnnkit.validate import require_device


@dataclass(frozen=True)
class RunResult:
    """How `train_run` / `resume_run` ended: the trainer's result and where the run is.
    ``held_out`` is False when validation had no data of its own (it then scored the
    training data, so "best validation loss" would be the wrong name)."""

    run_dir: Path
    spec: RunSpec
    result: TrainResult
    held_out: bool
    test: dict[str, Any] | None = None


def train_run(
    task: str,
    out: str | Path,
    *,
    source: str | Path | None = None,
    raw: Any = None,
    data: Mapping[str, Any] | None = None,
    model: Mapping[str, Any] | None = None,
    train: Mapping[str, Any] | None = None,
) -> RunResult:
    """Train a new run of ``task`` into the new (or empty) folder ``out``.

    The data is read from ``source``, or given already read as ``raw`` (then ``source``
    is recorded if given, and a resume must pass the data again). ``data``, ``model`` and
    ``train`` hold only the settings chosen; None values count as not given.
    """
    plugin = get_task(task)
    run_dir = Path(out)
    data = _absolute_paths(plugin, data)
    train_config, data_config, model_settings = check_new_run(task, out, data, model, train)
    if raw is None:
        if source is None:
            raise DataError("train_run needs the data: a source path or the raw data")
        raw = plugin.read(str(source), data_config)
    check_raw(plugin, raw)
    prepared = plugin.prepare(raw, data_config, None)
    model_config = plugin.model_config(
        **model_settings, **plugin.derive_model_fields(data_config, prepared)
    )
    spec = RunSpec(
        task=plugin.name,
        data=data_config,
        model=model_config,
        train=train_config,
        data_source=_recorded_source(source),
        data_digest=plugin.digest(raw),
        held_out_digest=prepared.held_out[1] if prepared.held_out else None,
    )
    plugin.check_spec(spec, prepared)
    test = _read_test(plugin, spec, prepared)
    existed = run_dir.exists()
    trainer = _trainer(plugin, spec, prepared, run_dir, resume=False, new=True)
    try:
        return _fit(trainer, spec, prepared, test)
    except TrainingInterrupted:
        raise  # the run starts again from step 0 on resume: its folder stays
    except Exception:
        # Failed before its first checkpoint (a diverged loss, out of memory): nothing
        # can be resumed, so the folder goes and the same command can run again.
        if trainer.team.leader and not (run_dir / directory.CHECKPOINT).exists():
            _discard(run_dir, existed)
        raise


def check_raw(plugin: TaskPlugin, raw: Any) -> None:
    """Data given already read (``raw=``) must be what the task's reader returns from a
    file (a ``str`` for lm, ``Pairs`` for translate, ...): anything else is a
    DataError naming both, not an AttributeError from deep in ``prepare``."""
    try:
        expected = typing.get_type_hints(type(plugin).read).get("return")
        ok = expected is None or isinstance(raw, expected)
    except (NameError, TypeError):  # a hint that cannot be checked at run time
        return
    if not ok:
        kinds = typing.get_args(expected) or (expected,)
        names = " or ".join(getattr(k, "__name__", str(k)) for k in kinds)
        raise DataError(
            f"raw: the {plugin.name} task takes {names} (what its reader returns from a "
            f"file), got {type(raw).__name__}"
        )


def check_new_run(
    task: str,
    out: str | Path,
    data: Mapping[str, Any] | None = None,
    model: Mapping[str, Any] | None = None,
    train: Mapping[str, Any] | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """The checks of `train_run` that need no data: the output folder and every
    setting. Returns the resolved training and data configs and the model settings;
    a launcher of several processes calls it first, so a mistake is one line."""
    plugin = get_task(task)
    _check_mappings(data=data, model=model, train=train)
    directory.check_new_run_dir(Path(out))
    train_config, recipe = resolve_train(plugin, train or {})
    _check_can_train(train_config)
    data_config = resolve_data(plugin, data or {}, recipe)
    return train_config, data_config, resolve_model_settings(plugin, model or {}, recipe)


def resume_run(
    run_dir: str | Path,
    *,
    source: str | Path | None = None,
    raw: Any = None,
    data: Mapping[str, Any] | None = None,
    model: Mapping[str, Any] | None = None,
    train: Mapping[str, Any] | None = None,
    task: str | None = None,
) -> RunResult:
    """Continue a run exactly where its last checkpoint left it (from step 0 if it
    stopped before its first checkpoint).

    The data defaults to the recorded source and must be the very data the run started
    on (its digest is checked). Settings given must equal the run's, except the budget
    (given, it is the whole new budget), device, precision and progress display.
    ``task``, given, must be the run's task.
    """
    run_dir = Path(run_dir)
    _check_mappings(data=data, model=model, train=train)
    spec, artifacts_json = directory.read_spec(run_dir)
    if task is not None and task != spec.task:
        raise ConfigError(
            f"{run_dir} holds a run of the {spec.task} task, not {task}; continue it with "
            f"rnnkit train {spec.task} --resume {run_dir}"
        )
    plugin = spec.plugin
    data = _absolute_paths(plugin, data)
    new_train = resume_overrides(plugin, spec.data, spec.model, spec.train, data, model, train)
    _check_can_train(new_train)
    has_checkpoint = (run_dir / directory.CHECKPOINT).exists()
    if not has_checkpoint:
        _check_nothing_trained(run_dir)
    if raw is None:
        raw = _read_recorded(plugin, spec, source)
    check_raw(plugin, raw)
    if plugin.digest(raw) != spec.data_digest:
        raise DataError(
            "this data differs from the data the run was trained on; resume with the original data"
        )
    if has_checkpoint:
        budget_given = any(v is not None for k, v in (train or {}).items() if k in BUDGET_FIELDS)
        _check_budget_left(run_dir, new_train, budget_given)
    artifacts = plugin.artifacts_from_json(artifacts_json)
    plugin.check_run(spec, artifacts, str(run_dir))
    prepared = plugin.prepare(raw, spec.data, artifacts)
    _check_held_out(spec, prepared)
    test = _read_test(plugin, spec, prepared)
    changed = new_train != spec.train
    spec.train = new_train
    trainer = _trainer(plugin, spec, prepared, run_dir, resume=has_checkpoint, new=False)
    if changed and trainer.team.leader:
        directory.rewrite_config(run_dir, spec)
    return _fit(trainer, spec, prepared, test)


def _check_held_out(spec: RunSpec, prepared: Prepared) -> None:
    """Validation data from a file of its own must be what the run chose its weights
    on: the best score in the checkpoint was measured on it."""
    if spec.held_out_digest is None:  # held out of the data (checked above), or an older run
        return
    if prepared.held_out is None or prepared.held_out[1] != spec.held_out_digest:
        name = prepared.held_out[0] if prepared.held_out else "the validation data"
        raise DataError(
            f"{name}: this file differs from the validation data the run was trained with "
            "(the kept weights were chosen on that); restore the original file to resume"
        )


def _check_nothing_trained(run_dir: Path) -> None:
    """A run without its checkpoint may only start from step 0 if it never wrote one:
    last.safetensors is written with every checkpoint, so finding it alone means the
    checkpoint was deleted (or lost), and starting over would overwrite the run."""
    if (run_dir / "last.safetensors").exists():
        raise CheckpointError(
            f"{run_dir} holds trained weights (last.safetensors) but no {directory.CHECKPOINT}, so "
            "it cannot continue where it stopped; restore that file, or start a new run with "
            "another --out (evaluate and predict still use the weights)"
        )


def _recorded_source(source: str | Path | None) -> str | None:
    """The data's path made absolute, so resume works from another folder; a name a
    task knows (``sunspots``, ``ucr:GunPoint:train``) is kept as it is."""
    if source is None or source == "":  # Path("") is the current folder: "" is no path
        return source
    path = Path(source)
    return str(path.resolve()) if path.exists() else str(source)


def _check_mappings(**settings: Any) -> None:
    for name, value in settings.items():
        if value is not None and not isinstance(value, Mapping):
            raise ConfigError(
                f"{name}= takes a dict of settings by name, got {type(value).__name__}",
                field=name,
                problem=f"must be a dict of settings by name, got {type(value).__name__}",
            )


def _absolute_paths(plugin: TaskPlugin, data: Mapping[str, Any] | None) -> dict[str, Any]:
    """The data settings with the files the task names in ``path_fields`` made absolute."""
    _check_mappings(data=data)
    data = dict(data or {})
    for name in plugin.path_fields:
        if data.get(name) is not None:
            data[name] = _recorded_source(data[name])
    return data


def _check_can_train(config: TrainConfig) -> None:
    """What the Trainer would find wrong only after the run directory is written."""
    require_device("TrainConfig", "device", config.device)
    if config.tensorboard:
        require_summary_writer()


def _check_budget_left(run_dir: Path, train: Any, budget_given: bool) -> None:
    done = checkpoint_step(run_dir / directory.CHECKPOINT) or 0
    if train.max_steps is None or train.max_steps > done:
        return
    if not budget_given:
        raise ConfigError(
            f"the run in {run_dir} has finished its budget ({done} of {train.max_steps} "
            "steps); to train on, give a larger budget, e.g. --steps "
            f"{2 * train.max_steps}"
        )
    raise ConfigError(
        f"max_steps {train.max_steps} is not above the {done} steps the run has done",
        field="max_steps",
        problem=f"{train.max_steps} is not above the {done} steps the run has already "
        "done; give a larger number to train on",
    )


def _read_recorded(plugin: TaskPlugin, spec: RunSpec, source: str | Path | None) -> Any:
    if source is None:
        recorded = spec.data_source
        if recorded == "-":
            raise DataError(
                "the run was trained on standard input, which cannot be read again by "
                "itself; pass the same data (its file as DATA, or - with it piped in)"
            )
        if recorded is None or (Path(recorded).is_absolute() and not Path(recorded).exists()):
            raise DataError(
                f"the run's data ({spec.data_source or 'given in memory'}) is not there; "
                "pass the data again"
            )
        source = spec.data_source
    return plugin.read(str(source), spec.data)


def _trainer(
    plugin: TaskPlugin, spec: RunSpec, prepared: Prepared, run_dir: Path, *, resume: bool, new: bool
) -> Trainer:
    """Build the model, its trainer task and the Trainer; for a new run write the spec
    and artifacts first (after every check), and remove the folder again if the trainer
    cannot start. Under torchrun (`rnnkit.train.distributed`) only rank 0 writes."""
    team = join()
    torch.manual_seed(spec.train.seed)  # the initial weights are part of the run
    model = plugin.build_model(spec.model)
    task = plugin.trainer_task(spec, prepared, model)
    if not new:
        if team.leader:
            remove_stale_temporaries(run_dir)  # left by a writer that was killed
        team.barrier()
        return Trainer(task, spec.train, run_dir, resume=resume)
    team.barrier()  # every rank has checked the folder before rank 0 writes into it
    existed = run_dir.exists()
    try:
        if team.leader:
            directory.write_spec(run_dir, spec, plugin.artifacts_to_json(prepared.artifacts))
        return Trainer(task, spec.train, run_dir, resume=False)
    except BaseException:
        if team.leader:
            _discard(run_dir, existed)
        raise


def _discard(run_dir: Path, existed: bool) -> None:
    """Remove a new run's files: its folder, or only its contents when the (empty)
    folder was there before (it may be a mount point)."""
    if existed:
        for child in run_dir.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    else:
        shutil.rmtree(run_dir, ignore_errors=True)


def _read_test(plugin: TaskPlugin, spec: RunSpec, prepared: Prepared) -> Any | None:
    """The task's separate test data (`TaskPlugin.test_source`), read and checked
    before training starts; None if there is none."""
    source = plugin.test_source(spec)
    if source is None:
        return None
    raw = plugin.read_flagged(plugin.test_flag, str(source), spec.data)
    plugin.check_test(spec, prepared, raw)
    return raw


def _fit(trainer: Trainer, spec: RunSpec, prepared: Prepared, test_raw: Any) -> RunResult:
    result = trainer.fit()
    run_dir = trainer.run_dir
    held_out = bool(getattr(trainer.task, "held_out", True))
    test = None
    # Scored once, with the best weights, after every choice was made on validation:
    # a part the task held out of the data, or the separate test data read before.
    held = spec.plugin.held_out_test(spec, prepared)
    if held is None:
        held = test_raw
    if trainer.team.leader and held is not None:
        test = Run(run_dir, device=spec.train.device).evaluate(raw=held)
        atomic_write_json(run_dir / "test.json", test)
    return RunResult(run_dir, spec, result, held_out, test)


class Run:
    """A trained run loaded from its directory alone: spec, artifacts and model."""

    def __init__(
        self, run_dir: str | Path, *, weights: str = "best", device: str | torch.device = "cpu"
    ) -> None:
        self.run_dir = Path(run_dir)
        if weights not in ("best", "last"):
            raise ConfigError(
                f"weights must be 'best' or 'last', got {weights!r}",
                field="weights",
                problem=f"must be best or last, got {weights!r}",
            )
        self.device = require_device("", "device", str(device))
        self.spec, artifacts_json = directory.read_spec(self.run_dir)
        self.plugin = self.spec.plugin
        self.artifacts = self.plugin.artifacts_from_json(artifacts_json)
        self.plugin.check_run(self.spec, self.artifacts, str(self.run_dir))
        self.model: nn.Module = self.plugin.build_model(self.spec.model)
        path = self.run_dir / f"{weights}.safetensors"
        if not path.exists():
            other = self.run_dir / "last.safetensors"
            if weights == "best" and other.exists():
                path = other
            else:
                raise CheckpointError(f"{path} is missing: the run has not saved weights yet")
        load_weights(path, self.model, map_location=self.device)
        self.model.to(self.device).eval()

    @property
    def task(self) -> str:
        return self.spec.task

    def read(self, source: str | Path, *, encoding: str | None = None) -> Any:
        """New data in the form the run's task reads, decoded as the run's own data
        was, or as ``encoding`` says (a file of another origin)."""
        config = self.spec.data
        if encoding is not None:
            if "encoding" not in {f.name for f in fields(config)}:
                raise ConfigError(
                    f"the {self.task!r} task reads no text file; leave out --encoding",
                    field="encoding",
                    problem="applies to text data only",
                )
            config = replace(config, encoding=encoding)
        return self.plugin.read_scored(str(source), config)

    def evaluate(
        self,
        source: str | Path | None = None,
        *,
        raw: Any = None,
        report_dir: Path | None = None,
        encoding: str | None = None,
    ) -> dict[str, Any]:
        """The task's figures on new data, read from ``source`` (decoded with the run's
        encoding, or ``encoding``) or given as ``raw``, with the run's saved artifacts
        applied (never refitted); ``report_dir`` also gets the task's report files."""
        if raw is None:
            raw = self.read(source, encoding=encoding)  # type: ignore[arg-type]
        if report_dir is None:
            with torch.no_grad():
                return self.plugin.evaluate(self, raw)
        if "report_dir" not in inspect.signature(self.plugin.evaluate).parameters:
            raise ConfigError(f"the {self.task!r} task writes no report; leave out --report")
        with torch.no_grad():
            return self.plugin.evaluate(self, raw, report_dir=Path(report_dir))

    def predict(self, inputs: Sequence[str]) -> list[dict[str, Any]]:
        """One record per input; ``inputs`` is a list of strings as typed on the command
        line (a text, or a numeric series written out)."""
        if isinstance(inputs, str) or not isinstance(inputs, Sequence):
            raise DataError(
                f"predict takes a list of inputs (strings), got {type(inputs).__name__}; "
                "for one input pass [input]"
            )
        for number, item in enumerate(inputs, start=1):
            if not isinstance(item, str):
                raise DataError(f"input {number} is {type(item).__name__}; inputs are strings")
        with torch.no_grad():
            return self.plugin.predict(self, list(inputs))


def load_run(run_dir: str | Path, *, weights: str = "best", device: str = "cpu") -> Run:
    return Run(run_dir, weights=weights, device=device)
