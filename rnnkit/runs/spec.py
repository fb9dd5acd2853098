"""`RunSpec`: what a run directory's config.json says, and the formats it reads.

config.json::

    {"format": "rnnkit.run", "version": 1, "rnnkit_version": "...", "task": "lm",
     "data_source": "/abs/path/input.txt" or null, "data_digest": "<sha256>",
     "held_out_digest": "<sha256 of the validation file>" or null,
     "data": {...}, "model": {...}, "train": {...},
     "artifacts": {"vocab": "<sha256 of vocab.json's content>"}}

Older formats are read through `MIGRATIONS`, small ordered steps that each turn one
format into the next; new config fields take their dataclass defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rnnkit import __version__
from rnnkit.errors import CheckpointError, ConfigError
from rnnkit.runs.registry import TaskPlugin, get_task
from rnnkit.train import TrainConfig

RUN_FORMAT = "rnnkit.run"
RUN_VERSION = 1


@dataclass
class RunSpec:
    """Everything that defines a run: its task, configs, data identity and artifacts."""

    task: str
    data: Any
    model: Any
    train: TrainConfig
    data_source: str | None
    data_digest: str
    artifacts: dict[str, str | None] = field(default_factory=dict)
    #: The digest of validation data read from its own file (classify's ``--val``);
    #: None when validation is held out of the training data (or for older runs).
    held_out_digest: str | None = None

    @property
    def plugin(self) -> TaskPlugin:
        return get_task(self.task)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": RUN_FORMAT,
            "version": RUN_VERSION,
            "rnnkit_version": __version__,
            "task": self.task,
            "data_source": self.data_source,
            "data_digest": self.data_digest,
            "held_out_digest": self.held_out_digest,
            "data": self.data.to_dict(),
            "model": self.model.to_dict(),
            "train": self.train.to_dict(),
            "artifacts": dict(self.artifacts),
        }

    @classmethod
    def from_dict(cls, data: Any, source: str) -> RunSpec:
        """Read a config.json value of any known format; CheckpointError if it is not one."""
        data = migrate(data, source)
        try:
            plugin = get_task(data["task"])
            return cls(
                task=data["task"],
                data=plugin.data_config.from_dict(data["data"]),
                model=plugin.model_config.from_dict(data["model"]),
                train=TrainConfig.from_dict(data["train"]),
                data_source=data.get("data_source"),
                data_digest=data["data_digest"],
                artifacts=dict(data.get("artifacts") or {}),
                held_out_digest=data.get("held_out_digest"),
            )
        except ConfigError as err:
            raise CheckpointError(
                f"{source} is corrupt or from an incompatible version: {err}"
            ) from None
        except (KeyError, TypeError) as err:
            raise CheckpointError(f"{source} is corrupt: missing or wrong entry {err}") from None


def _from_lm_run(data: dict[str, Any]) -> dict[str, Any]:
    """`rnnkit.lm-run` (rnnkit 0.1 `train lm`) -> `rnnkit.run` version 1."""
    return {
        "format": RUN_FORMAT,
        "version": 1,
        "rnnkit_version": data.get("rnnkit_version"),
        "task": "lm",
        "data_source": data.get("text_path"),
        "data_digest": data["text_sha256"],
        "data": data["data"],
        "model": data["model"],
        "train": data["train"],
        "artifacts": {"vocab": None},  # recorded without a digest: not checked
    }


#: (format, version) -> the step that turns it into the next format.
MIGRATIONS: dict[tuple[str, int | None], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("rnnkit.lm-run", None): _from_lm_run,
}


def migrate(data: Any, source: str) -> dict[str, Any]:
    if not isinstance(data, dict) or "format" not in data:
        raise CheckpointError(f"{source} is not an rnnkit run config (it has no 'format')")
    seen = 0
    while (data.get("format"), data.get("version")) != (RUN_FORMAT, RUN_VERSION):
        step = MIGRATIONS.get((data.get("format"), data.get("version")))
        if step is None or seen > len(MIGRATIONS):
            raise CheckpointError(
                f"{source} has format {data.get('format')!r} version {data.get('version')!r}, "
                f"which this rnnkit ({__version__}) cannot read; use the rnnkit version that "
                f"wrote it ({data.get('rnnkit_version')})"
            )
        try:
            data = step(data)
        except (KeyError, TypeError) as err:
            raise CheckpointError(f"{source} is corrupt: missing or wrong entry {err}") from None
        seen += 1
    return data
