"""SamplingConfig: defaults, validation naming the field, normalisation."""

import dataclasses
import json

import pytest

from rnnkit.decode import SamplingConfig
from rnnkit.errors import ConfigError


def test_defaults():
    config = SamplingConfig()
    assert config.temperature == 1.0
    assert config.top_k is None and config.top_p is None
    assert config.greedy is False and config.seed is None
    assert config.max_new_tokens == 200
    assert config.stop is None and config.stop_ids == () and config.banned_ids == ()
    assert config.num_samples == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", -1.0),
        ("temperature", -1e-12),
        ("temperature", float("nan")),
        ("temperature", float("inf")),
        ("temperature", "1.0"),
        ("top_k", 0),
        ("top_k", 2.5),
        ("top_k", True),
        ("top_p", 0.0),
        ("top_p", 1.5),
        ("top_p", float("nan")),
        ("greedy", 1),
        ("seed", -1),
        ("seed", 2**64),
        ("seed", 1.0),
        ("max_new_tokens", 0),
        ("max_new_tokens", 10.0),
        ("max_new_tokens", 10**11),
        ("stop", ""),
        ("stop", 5),
        ("stop_ids", "ab"),
        ("stop_ids", (1, -2)),
        ("stop_ids", 3),
        ("banned_ids", "ab"),
        ("banned_ids", (0, -1)),
        ("banned_ids", (True,)),
        ("banned_ids", 3),
        ("banned_ids", None),
        ("num_samples", 0),
    ],
)
def test_invalid_value_names_the_field(field, value):
    with pytest.raises(ConfigError, match=rf"SamplingConfig\.{field} ") as info:
        SamplingConfig(**{field: value})
    # The CLI restates the error with the user's flag: the field must be the bare name.
    assert info.value.field == field
    assert info.value.problem and str(info.value).endswith(info.value.problem)


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError):
        SamplingConfig(top_p=2.0)


def test_boundary_values_are_accepted():
    config = SamplingConfig(top_k=1, top_p=1.0, seed=0, max_new_tokens=1, temperature=1e-6)
    assert (config.top_k, config.top_p, config.seed, config.max_new_tokens) == (1, 1.0, 0, 1)


def test_stop_ids_list_becomes_tuple_and_config_is_hashable():
    config = SamplingConfig(stop_ids=[3, 0], banned_ids=[1])
    assert config.stop_ids == (3, 0) and config.banned_ids == (1,)
    assert hash(config) == hash(SamplingConfig(stop_ids=(3, 0), banned_ids=(1,)))


def test_temperature_zero_is_accepted_and_means_greedy():
    assert SamplingConfig(temperature=0.0).is_greedy
    assert SamplingConfig(temperature=0).is_greedy
    assert SamplingConfig(greedy=True).is_greedy
    assert not SamplingConfig(temperature=1e-6).is_greedy
    # is_greedy is derived, not stored: raising the temperature again samples.
    assert not dataclasses.replace(SamplingConfig(temperature=0.0), temperature=0.8).is_greedy


def test_json_round_trip():
    config = SamplingConfig(
        temperature=0.8, top_k=5, top_p=0.9, seed=7, stop="\n", stop_ids=(2,), banned_ids=(0,)
    )
    restored = SamplingConfig(**json.loads(json.dumps(dataclasses.asdict(config))))
    assert restored == config


def test_frozen_and_replace_revalidates():
    config = SamplingConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.temperature = 0.0  # type: ignore[misc]
    with pytest.raises(ConfigError, match="temperature"):
        dataclasses.replace(config, temperature=-0.5)
