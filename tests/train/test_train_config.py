"""TrainConfig: validation on construction and the JSON round trip."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from rnnkit.errors import ConfigError
from rnnkit.train import TrainConfig


def test_defaults_match_the_documented_values() -> None:
    config = TrainConfig(max_steps=10)
    assert (config.optimizer, config.lr, config.schedule) == ("adam", 2e-3, "cosine")
    assert (config.clip_norm, config.clip_value, config.min_lr_ratio) == (5.0, None, 0.1)
    assert (config.eval_every, config.checkpoint_every, config.log_every) == (200, 200, 10)
    assert (config.seed, config.device, config.betas) == (1234, "cpu", (0.9, 0.999))


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"optimizer": "adagrad"}, "optimizer", "sgd, rmsprop, adam, adamw"),
        ({"lr": -0.1}, "lr", "positive number"),
        ({"lr": float("nan")}, "lr", "positive number"),
        ({"weight_decay": -1.0}, "weight_decay", ">= 0"),
        ({"momentum": 1.0}, "momentum", "[0, 1)"),
        ({"betas": (0.9,)}, "betas", "two numbers"),
        ({"schedule": "step"}, "schedule", "constant, cosine, linear"),
        ({"min_lr_ratio": 1.5}, "min_lr_ratio", "[0, 1]"),
        ({"warmup_steps": -1}, "warmup_steps", "integer >= 0"),
        ({"clip_norm": 0.0}, "clip_norm", "positive number or None"),
        ({"clip_value": 0.5}, "clip_value", "choose one of the two clips"),
        ({"max_steps": 0}, "max_steps", "integer >= 1"),
        ({"max_steps": True}, "max_steps", "integer >= 1"),
        ({"max_epochs": -2.0}, "max_epochs", "positive number"),
        ({"max_minutes": 0}, "max_minutes", "positive number or None, got 0"),
        ({"eval_every": 0}, "eval_every", "integer >= 1"),
        ({"checkpoint_every": 1.5}, "checkpoint_every", "integer >= 1"),
        ({"early_stopping": 0}, "early_stopping", "integer >= 1 or None"),
        ({"seed": -1}, "seed", "integer >= 0"),
        ({"device": "gpu"}, "device", "not a torch device"),
        ({"device": 0}, "device", "device name"),
        ({"ema_decay": 1.0}, "ema_decay", "0 (off) or in (0, 1)"),
        ({"precision": "fp16"}, "precision", "one of fp32, bf16"),
        ({"tensorboard": 1}, "tensorboard", "True or False"),
        ({"progress": "yes"}, "progress", "True or False"),
    ],
)
def test_bad_values_raise_config_error_naming_the_field(changes, field, expected) -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig(**{"max_steps": 10, **changes})
    error = info.value
    # The command line restates `problem` with the flag of `field` (max_minutes -> --minutes).
    assert error.field == field
    assert expected in error.problem
    assert str(error) == f"TrainConfig.{field} {error.problem}"


def test_a_budget_is_required() -> None:
    with pytest.raises(
        ConfigError, match="max_epochs and max_minutes: a run needs a budget"
    ) as info:
        TrainConfig()
    assert info.value.field == "max_steps"
    assert TrainConfig(max_minutes=0.5).max_minutes == 0.5
    assert TrainConfig(max_epochs=1.5).max_epochs == 1.5


def test_device_is_parsed_but_not_required_to_exist_here() -> None:
    # A config saved on a GPU machine must load on a CPU one; the Trainer checks usability.
    for name in ("cuda", "cuda:7", "mps"):
        assert TrainConfig.from_dict({"max_steps": 1, "device": name}).device == name
    config = TrainConfig(max_steps=1, device=torch.device("cpu"))
    assert config.device == "cpu"  # stored as the string JSON keeps
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_clip_by_value_needs_clip_norm_off() -> None:
    config = TrainConfig(max_steps=1, clip_norm=None, clip_value=0.5)
    assert (config.clip_norm, config.clip_value) == (None, 0.5)


def test_json_round_trip_is_exact() -> None:
    config = TrainConfig(
        optimizer="sgd", lr=0.3, betas=(0.8, 0.99), max_epochs=2.5, early_stopping=3
    )
    text = json.dumps(config.to_dict())
    back = TrainConfig.from_dict(json.loads(text))
    assert back == config
    assert back.betas == (0.8, 0.99)


def test_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigError, match="'learning_rate'.*valid fields are"):
        TrainConfig.from_dict({"max_steps": 5, "learning_rate": 0.1})


def test_replace_revalidates() -> None:
    config = TrainConfig(max_steps=5)
    with pytest.raises(ConfigError, match="lr"):
        dataclasses.replace(config, lr=0.0)
