"""Budget tiers and the precedence of settings: user > tier > task > dataclass."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from rnnkit.errors import ConfigError
from rnnkit.models.language_model import LanguageModelConfig
from rnnkit.models.lm_recipes import LM_TIERS
from rnnkit.runs import BudgetTiers, Recipe, TaskPlugin
from rnnkit.runs.settings import (
    resolve_data,
    resolve_model_settings,
    resolve_train,
    resume_overrides,
)

SMALL = Recipe(data={"width": 2}, model={"size": 8}, train={"lr": 0.1})
MEDIUM = Recipe(data={"width": 4}, model={"size": 16}, train={"lr": 0.05, "weight_decay": 0.3})
LARGE = Recipe(model={"size": 32}, train={"lr": 0.01})
TIERS = BudgetTiers(
    {
        "fp32": ((5.0, SMALL), (15.0, MEDIUM), (float("inf"), LARGE)),
        "bf16": ((float("inf"), LARGE),),
    },
    step_budget_minutes=10.0,
)


@dataclass(frozen=True)
class ToyData:
    width: int = 1
    depth: int = 3

    @classmethod
    def from_dict(cls, d):
        return cls(**d)


@dataclass(frozen=True)
class ToyModel:
    size: int = 4

    @classmethod
    def from_dict(cls, d):
        return cls(**d)


class Toy(TaskPlugin):
    name = "toy_settings"
    data_config = ToyData
    model_config = ToyModel
    tiers = TIERS
    train_defaults = {"optimizer": "adamw", "eval_every": 7}
    default_minutes = 3.0


@pytest.mark.parametrize(
    "minutes, precision, expected",
    [
        (0.5, "fp32", SMALL),
        (5.0, "fp32", SMALL),
        (5.01, "fp32", MEDIUM),
        (15.0, "fp32", MEDIUM),
        (15.5, "fp32", LARGE),
        (None, "fp32", MEDIUM),  # a step budget: the 10-minute tier
        (1.0, "bf16", LARGE),
        (1.0, "fp16", SMALL),  # no table of its own: the fallback's
    ],
)
def test_tier_boundaries(minutes, precision, expected):
    assert TIERS.pick(minutes, precision) is expected


def test_tiers_must_rise_and_end_unlimited():
    with pytest.raises(ConfigError, match="must rise"):
        BudgetTiers({"fp32": ((15.0, SMALL), (5.0, MEDIUM), (float("inf"), LARGE))})
    with pytest.raises(ConfigError, match="must rise"):
        BudgetTiers({"fp32": ((5.0, SMALL),)})


def test_precedence_user_then_tier_then_task_then_dataclass():
    config, recipe = resolve_train(Toy(), {"max_minutes": 12, "precision": "fp32", "seed": None})
    assert recipe is MEDIUM
    assert config.lr == 0.05 and config.weight_decay == 0.3  # the tier
    assert config.optimizer == "adamw" and config.eval_every == 7  # the task
    assert config.checkpoint_every == 200 and config.seed == 1234  # TrainConfig's own
    config, _ = resolve_train(Toy(), {"max_minutes": 12, "precision": "fp32", "lr": 0.2})
    assert config.lr == 0.2  # the user's
    assert resolve_data(Toy(), {"depth": 9}, MEDIUM) == ToyData(width=4, depth=9)
    assert resolve_model_settings(Toy(), {}, MEDIUM) == {"size": 16}
    assert resolve_model_settings(Toy(), {"size": 5}, MEDIUM) == {"size": 5}


def test_default_budget_and_auto_precision_are_resolved():
    config, _ = resolve_train(Toy(), {"precision": "fp32"})
    assert (config.max_minutes, config.max_steps) == (3.0, None)  # the task's default
    config, _ = resolve_train(Toy(), {"max_steps": 50})
    assert config.max_minutes is None and config.precision in ("fp32", "bf16")


def test_tier_weight_decay_is_for_adamw_only():
    base = {"max_minutes": 12, "precision": "fp32"}
    assert resolve_train(Toy(), base)[0].weight_decay == 0.3
    assert resolve_train(Toy(), base | {"optimizer": "adam"})[0].weight_decay == 0.0
    assert (
        resolve_train(Toy(), base | {"optimizer": "adam", "weight_decay": 0.1})[0].weight_decay
        == 0.1
    )


def test_clip_value_replaces_the_default_norm_clipping():
    config, _ = resolve_train(Toy(), {"max_steps": 5, "clip_value": 0.5})
    assert (config.clip_norm, config.clip_value) == (None, 0.5)


def test_unknown_settings_are_named():
    with pytest.raises(ConfigError, match="'colour'") as err:
        resolve_data(Toy(), {"colour": 1}, SMALL)
    assert err.value.field == "colour"
    with pytest.raises(ConfigError, match="'vocab_size'"):
        resolve_train(Toy(), {"vocab_size": 3})


def test_resume_refuses_what_it_cannot_honour_and_takes_the_rest():
    saved, _ = resolve_train(Toy(), {"max_minutes": 12, "precision": "fp32"})
    data, model = ToyData(), ToyModel()
    for section, settings, field in (
        ("data", {"depth": 4}, "depth"),
        ("model", {"size": 99}, "size"),
        ("train", {"lr": 1.0}, "lr"),
        ("train", {"optimizer": "sgd"}, "optimizer"),
    ):
        kwargs = {"data": None, "model": None, "train": None, section: settings}
        with pytest.raises(ConfigError) as err:
            resume_overrides(Toy(), data, model, saved, **kwargs)
        assert err.value.field == field and "cannot change" in str(err.value)
    saved_tf, _ = resolve_train(Toy(), {"max_minutes": 12, "deterministic": True, "max_steps": 9})
    with pytest.raises(ConfigError) as err:  # a switch reads as on / off, not True / False
        resume_overrides(Toy(), data, model, saved_tf, None, None, {"deterministic": False})
    assert err.value.problem.startswith("is on in the run and off here: ")
    # The same values as saved are fine; the budget given is the whole new budget.
    same = resume_overrides(Toy(), data, model, saved, {"depth": 3}, {"size": 4}, {"lr": 0.05})
    assert same == saved
    longer = resume_overrides(Toy(), data, model, saved, None, None, {"max_steps": 900})
    assert (longer.max_steps, longer.max_minutes, longer.lr) == (900, None, 0.05)
    moved = resume_overrides(Toy(), data, model, saved, None, None, {"precision": "bf16"})
    assert moved.precision == "bf16" and moved.max_minutes == 12


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("minutes", [1, 5, 10, 15, 30, None])
def test_every_language_model_tier_builds_a_valid_model(precision, minutes):
    recipe = LM_TIERS.pick(minutes, precision)
    LanguageModelConfig(vocab_size=65, **recipe.model)
    assert recipe.data["batch_size"] >= 1 and recipe.train["lr"] > 0
