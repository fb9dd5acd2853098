"""From the settings a user gave to the configs of a run, in one place.

`rnnkit train TASK` and library users alike pass only what they chose (a dict per
section: data, model, train); everything else comes, in order of precedence, from the
user, the task's budget tier (`BudgetTiers`), the task's training preferences and the
config dataclasses' own defaults. On resume, `resume_overrides` compares what the user
gave with the saved run and refuses what it cannot honour, naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from rnnkit.config import field_names
from rnnkit.errors import ConfigError
from rnnkit.runs.recipes import Recipe
from rnnkit.runs.registry import TaskPlugin
from rnnkit.train import TrainConfig
from rnnkit.train.precision import auto_precision
from rnnkit.validate import check_choice, parse_device

BUDGET_FIELDS = ("max_steps", "max_epochs", "max_minutes")
#: What `--resume` may change: a longer budget, another device or precision (checkpoints
#: are device-independent), and how progress is shown. Anything else would make the rest
#: of the run a different run.
RESUMABLE_TRAIN_FIELDS = frozenset(
    (*BUDGET_FIELDS, "device", "precision", "progress", "tensorboard")
)
PRECISION_CHOICES = ("auto", "fp32", "bf16")


def given(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The settings actually given (None means "not given")."""
    return {k: v for k, v in (settings or {}).items() if v is not None}


def _check_keys(section: str, settings: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown {section} settings {', '.join(map(repr, unknown))}; "
            f"valid ones are {', '.join(sorted(allowed))}",
            field=unknown[0],
            problem=f"is not a {section} setting",
        )


def user_model_fields(plugin: TaskPlugin) -> set[str]:
    return field_names(plugin.model_config) - set(plugin.derived_model_fields)


def resolve_train(plugin: TaskPlugin, train: Mapping[str, Any]) -> tuple[TrainConfig, Recipe]:
    """The TrainConfig of a new run and the budget tier it picked."""
    train = given(train)
    _check_keys("training", train, field_names(TrainConfig))
    if not any(k in train for k in BUDGET_FIELDS):
        train["max_minutes"] = plugin.default_minutes
    train.setdefault("device", "cpu")
    parse_device("TrainConfig", "device", train["device"])
    precision = train.get("precision", "auto")
    check_choice("TrainConfig", "precision", precision, PRECISION_CHOICES)
    if precision == "auto":
        precision = auto_precision(train["device"])
    train["precision"] = precision
    recipe = plugin.tiers.pick(train.get("max_minutes"), precision) if plugin.tiers else Recipe()
    merged = {**plugin.train_defaults, **recipe.train, **train}
    if "clip_value" in train and "clip_norm" not in train:
        merged["clip_norm"] = None  # clipping by value replaces the default norm clipping
    if "weight_decay" not in train and merged.get("optimizer", TrainConfig.optimizer) != "adamw":
        # A tier's weight decay is tuned for AdamW's decoupled decay; with another
        # optimizer it would be an L2 penalty of another scale.
        merged["weight_decay"] = 0.0
    return TrainConfig(**merged), recipe


def resolve_data(plugin: TaskPlugin, data: Mapping[str, Any], recipe: Recipe) -> Any:
    data = given(data)
    _check_keys("data", data, field_names(plugin.data_config))
    return plugin.data_config(**{**recipe.data, **data})


def resolve_model_settings(
    plugin: TaskPlugin, model: Mapping[str, Any], recipe: Recipe
) -> dict[str, Any]:
    """Model settings without the derived fields (those come from the prepared data)."""
    model = given(model)
    _check_keys("model", model, user_model_fields(plugin))
    return {**recipe.model, **model}


def resume_overrides(
    plugin: TaskPlugin,
    saved_data: Any,
    saved_model: Any,
    saved_train: TrainConfig,
    data: Mapping[str, Any] | None,
    model: Mapping[str, Any] | None,
    train: Mapping[str, Any] | None,
) -> TrainConfig:
    """The TrainConfig to resume with; ConfigError naming the first setting that
    differs from the saved run and cannot change on resume (field= that setting)."""
    data, model, train = given(data), given(model), given(train)
    _check_keys("data", data, field_names(plugin.data_config))
    _check_keys("model", model, user_model_fields(plugin))
    _check_keys("training", train, field_names(TrainConfig))
    if train.get("precision") == "auto":
        train["precision"] = auto_precision(train.get("device", saved_train.device))
    for section, wanted, saved in (
        ("data", data, saved_data),
        ("model", model, saved_model),
        (
            "training",
            {k: v for k, v in train.items() if k not in RESUMABLE_TRAIN_FIELDS},
            saved_train,
        ),
    ):
        for name, value in wanted.items():
            before = getattr(saved, name)
            if _normal(value) != _normal(before):
                differs = f"{_shown(value)} differs from the run's {_shown(before)}"
                if isinstance(before, bool) and isinstance(value, bool):  # a switch flag
                    differs = f"is {_switch(before)} in the run and {_switch(value)} here"
                raise ConfigError(
                    f"{section} setting {name} is {before!r} in the run; it cannot change on "
                    f"resume (only the budget, device, precision and progress display can); "
                    "start a new run to change it",
                    field=name,
                    problem=f"{differs}: on resume only the "
                    "budget, device, precision and progress display can change; "
                    "start a new run to change it",
                )
    changes = {k: v for k, v in train.items() if k in RESUMABLE_TRAIN_FIELDS}
    if any(k in changes for k in BUDGET_FIELDS):
        # A budget given on resume is the whole new budget, not one more limit beside
        # the old ones (which may already be spent).
        changes = {k: None for k in BUDGET_FIELDS} | changes
    return replace(saved_train, **changes) if changes else saved_train


def _shown(value: Any) -> str:
    """A setting as it is typed after its flag: `--dense 64 32` or `--dense none`."""
    if isinstance(value, tuple | list):
        return " ".join(map(str, value)) or "none"
    return repr(value)


def _switch(value: bool) -> str:
    return "on" if value else "off"


def _normal(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
