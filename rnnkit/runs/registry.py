"""Tasks register here by name; the run layer finds them by the name a run stores.

A task is a plug-in: a `TaskPlugin` subclass that says how its data is read and
prepared, which model it builds, how the trainer trains it (a `rnnkit.train.Task`),
and how a trained run evaluates and predicts. Everything else (the run directory,
configs, recipes, resume, the `train`/`evaluate`/`predict` commands) is shared.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from torch import nn

from rnnkit import validate
from rnnkit.config import field_names
from rnnkit.errors import ConfigError, DataError
from rnnkit.runs.recipes import BudgetTiers
from rnnkit.train import TrainConfig

if TYPE_CHECKING:
    from rnnkit.runs.lifecycle import Run
    from rnnkit.runs.spec import RunSpec
    from rnnkit.train import Task


class Flag(NamedTuple):
    """How a config field appears on the command line: `--name`, help, choices."""

    name: str | None = None
    help: str | None = None
    choices: tuple[str, ...] | None = None


#: The flags of a task that reads text files (`rnnkit.data.decoding`), one wording.
TEXT_FILE_FLAGS = {
    "encoding": Flag(
        help="text encoding: utf-8 (default), auto (by byte-order mark), latin-1, ..."
    ),
    "encoding_errors": Flag(
        help="undecodable bytes: strict (default, an error naming the place), replace, ignore, "
        "backslashreplace or surrogateescape"
    ),
}


@dataclass
class Prepared:
    """What `TaskPlugin.prepare` returns: the task's data, ready for its trainer task,
    and the artifacts fitted on the training part (vocabularies, label lists, scaling
    statistics) that the run stores and reuses for resume, evaluation and prediction."""

    data: Any
    artifacts: dict[str, Any] = field(default_factory=dict)
    #: Validation data read from a file of its own rather than held out of DATA: how
    #: the user named it (``"--val dev.csv"``) and its digest. The run records the
    #: digest, and a resume that reads different validation data stops, since the kept
    #: weights were chosen on the original.
    held_out: tuple[str, str] | None = None


class TaskPlugin:
    """Base class of a task. Subclasses set the class attributes and the methods below.

    Class attributes:
        name: the registry key, stored in every run ("lm", "classify", ...).
        data_config / model_config: frozen config dataclasses with ``to_dict`` and
            ``from_dict``; model fields listed in ``derived_model_fields`` are filled from
            the prepared data (a vocabulary size), never by the user.
        unit: what the loss averages over ("tokens", "examples", "steps").
        tiers: budget-dependent defaults (`BudgetTiers`), or None.
        train_defaults: TrainConfig settings this task prefers over TrainConfig's own.
        flags: per config field, its command-line name, help and choices.
        data_help: what the DATA argument of `rnnkit train NAME DATA` is.
        path_fields: data config fields that name files (a test set, word vectors):
            recorded as absolute paths, so a run resumes from any folder.
        test_flag: the flag that names `test_source` (``"--test"``), so that an error
            reading it says which flag gave the file; None when the test data is the
            training data (forecasting scores the end of its own series).
    """

    name: ClassVar[str]
    data_config: ClassVar[type]
    model_config: ClassVar[type]
    derived_model_fields: ClassVar[tuple[str, ...]] = ()
    unit: ClassVar[str] = "examples"
    tiers: ClassVar[BudgetTiers | None] = None
    train_defaults: ClassVar[Mapping[str, Any]] = {}
    default_minutes: ClassVar[float] = 10.0
    flags: ClassVar[Mapping[str, Flag]] = {}
    data_help: ClassVar[str] = "the data file"
    path_fields: ClassVar[tuple[str, ...]] = ()
    test_flag: ClassVar[str | None] = None
    help: ClassVar[str] = ""

    # ---- data ------------------------------------------------------------------------
    def read(self, source: str, config: Any) -> Any:
        """Read the raw data at ``source`` (a path, or a name the task knows)."""
        raise NotImplementedError

    def read_scored(self, source: str, config: Any) -> Any:
        """Read data that is scored, never trained on (``--test``, a validation file,
        ``rnnkit evaluate``): as `read` unless a task reads its training data differently
        (SST with ``--phrases`` trains on phrases but is scored on sentences)."""
        return self.read(source, config)

    def read_flagged(self, flag: str | None, source: str, config: Any) -> Any:
        """`read_scored` for data a flag named (``--test FILE``): a DataError raised
        while reading starts with the flag, since the message names only the file."""
        try:
            return self.read_scored(source, config)
        except DataError as err:
            if flag is None:
                raise
            raise DataError(f"{flag}: {err}") from err

    def digest(self, raw: Any) -> str:
        """The data's identity: a hex SHA-256 of what was read (see `content_digest`)."""
        return content_digest(raw)

    def prepare(self, raw: Any, config: Any, artifacts: Mapping[str, Any] | None) -> Prepared:
        """Split ``raw`` and fit artifacts on the training part, or apply the given
        ``artifacts`` (resume, evaluation) without refitting them."""
        raise NotImplementedError

    def artifacts_to_json(self, artifacts: Mapping[str, Any]) -> dict[str, Any]:
        """JSON values of the artifacts, one file ``NAME.json`` each."""
        return dict(artifacts)

    def artifacts_from_json(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The artifact objects back from their JSON values."""
        return dict(data)

    def check_run(self, spec: RunSpec, artifacts: Mapping[str, Any], where: str) -> None:
        """Raise CheckpointError if a loaded run's artifacts do not fit its model."""

    # ---- model and training ------------------------------------------------------------
    def derive_model_fields(self, config: Any, prepared: Prepared) -> dict[str, Any]:
        """Values of ``derived_model_fields`` from the prepared data."""
        return {}

    def build_model(self, config: Any) -> nn.Module:
        raise NotImplementedError

    def trainer_task(self, spec: RunSpec, prepared: Prepared, model: nn.Module) -> Task:
        """The `rnnkit.train.Task` that trains ``model`` on ``prepared``."""
        raise NotImplementedError

    def check_spec(self, spec: RunSpec, prepared: Prepared) -> None:
        """ConfigError unless the settings fit together on the prepared data; checked
        before anything is written. Here: the evaluation must give the figure
        ``spec.train.monitor`` names (field ``monitor``). Every task's evaluation gives
        its loss; a task that gives more, or has settings that depend on each other or on
        the data, says so in its own version."""
        if spec.train.monitor != "loss":
            raise validate.fail(
                "TrainConfig",
                "monitor",
                f"cannot be {spec.train.monitor!r} for the {self.name} task, whose "
                "evaluation gives only its loss; use loss",
            )

    # ---- a trained run -------------------------------------------------------------------
    def evaluate(self, run: Run, raw: Any, report_dir: Path | None = None) -> dict[str, Any]:
        """Figures of the trained model on new data, with the run's artifacts applied;
        with ``report_dir``, also files for a person (plots, per-example predictions).
        A task that writes no report may leave ``report_dir`` out of its signature."""
        raise NotImplementedError

    def held_out_test(self, spec: RunSpec, prepared: Prepared) -> Any | None:
        """Test data the task held out of its own data in `prepare`, scored with the best
        weights once training ends (before `test_source`); None if there is none."""
        return None

    def test_source(self, spec: RunSpec) -> str | None:
        """Data to score with the best weights once training ends (the task's ``test``)."""
        return None

    def check_test(self, spec: RunSpec, prepared: Prepared, raw: Any) -> None:
        """Check the data read from `test_source` against the prepared training data
        (labels, widths, vocabulary), before training: a bad test file fails at once
        and writes nothing, instead of failing after the whole budget."""
        return None

    def predict(self, run: Run, inputs: Sequence[str]) -> list[dict[str, Any]]:
        """One JSON-able record per input (given as text on the command line)."""
        raise ConfigError(f"the {self.name!r} task has no predict")

    def describe_figures(self, figures: Mapping[str, Any]) -> str:
        """`evaluate`'s figures as text (``--json`` prints them as they are)."""
        return "  ".join(
            f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in figures.items()
            if isinstance(v, int | float | str)
        )

    def describe_prediction(self, record: Mapping[str, Any]) -> str:
        """One line of text for a `predict` record (``--json`` prints the record)."""
        return json.dumps(record, ensure_ascii=False)

    def next_commands(self, run_dir: str, spec: RunSpec) -> list[list[str]]:
        """Commands to suggest after training (argv lists)."""
        return [["rnnkit", "evaluate", run_dir, "DATA"]]


_REGISTRY: dict[str, TaskPlugin] = {}


def register_task(cls: type[TaskPlugin]) -> type[TaskPlugin]:
    """Class decorator: register a TaskPlugin subclass under ``cls.name``.

    A second task of the same name, or a class that is not a complete TaskPlugin, is a
    TypeError (a programming mistake, found at import time)."""
    if not (isinstance(cls, type) and issubclass(cls, TaskPlugin)):
        raise TypeError(f"register_task needs a TaskPlugin subclass, got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(f"{cls.__name__}.name must be an identifier string, got {name!r}")
    if name in _REGISTRY and type(_REGISTRY[name]) is not cls:
        raise TypeError(
            f"a task named {name!r} is already registered ({type(_REGISTRY[name]).__name__})"
        )
    for attr in ("data_config", "model_config"):
        config = getattr(cls, attr, None)
        if not (is_dataclass(config) and hasattr(config, "from_dict")):
            raise TypeError(f"{cls.__name__}.{attr} must be a config dataclass with from_dict")
    missing = [
        m
        for m in ("read", "prepare", "build_model", "trainer_task", "evaluate")
        if getattr(cls, m) is getattr(TaskPlugin, m)
    ]
    if missing:
        raise TypeError(f"{cls.__name__} does not implement {', '.join(missing)}")
    data_fields = field_names(cls.data_config)
    model_fields = field_names(cls.model_config)
    unknown = set(cls.flags) - data_fields - model_fields
    if unknown:
        raise TypeError(f"{cls.__name__}.flags names unknown fields {sorted(unknown)}")
    # One name, one meaning: a setting is found by its name alone (and so is its flag).
    clashes = (data_fields & model_fields) | (
        (data_fields | model_fields) & field_names(TrainConfig)
    )
    if clashes:
        raise TypeError(
            f"{cls.__name__}: settings {sorted(clashes)} appear in more than one of the "
            "data, model and training configs; rename them"
        )
    _REGISTRY[name] = cls()
    return cls


def unregister_task(name: str) -> None:
    """Remove a task (for tests that register their own)."""
    _REGISTRY.pop(name, None)


def get_task(name: str) -> TaskPlugin:
    _load_builtin_tasks()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise ConfigError(f"unknown task {name!r}; the tasks are: {known}", field="task")
    return _REGISTRY[name]


def task_names() -> list[str]:
    _load_builtin_tasks()
    return list(_REGISTRY)


def _load_builtin_tasks() -> None:
    import rnnkit.tasks  # noqa: F401  (imports each built-in task module explicitly)


def content_digest(value: Any) -> str:
    """A hex SHA-256 of text, bytes, or JSON-able data (keys sorted), as a data identity."""
    h = hashlib.sha256()
    if isinstance(value, bytes):
        h.update(value)
    elif isinstance(value, str):
        h.update(value.encode("utf-8"))
    else:
        h.update(canonical_json(value).encode("utf-8"))
    return h.hexdigest()


def canonical_json(value: Any) -> str:
    """One spelling of a JSON value, so equal content has one digest."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
