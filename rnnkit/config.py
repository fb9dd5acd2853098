"""Building config dataclasses back from JSON, strictly."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from rnnkit.errors import ConfigError

C = TypeVar("C")


def field_names(cls: type) -> set[str]:
    """The field names of a dataclass (a class or an instance)."""
    return {f.name for f in fields(cls)}


def dataclass_from_dict(cls: type[C], data: Any, what: str) -> C:
    """``cls(**data)``, but a key the dataclass lacks (a typo, a file from another
    version) is a ConfigError naming it, not a TypeError or a silently ignored value.
    The dataclass's own ``__post_init__`` then validates the values."""
    if not isinstance(data, dict):
        raise ConfigError(f"{what}: expected a JSON object, got {type(data).__name__}")
    known = field_names(cls)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{what}: unknown keys {', '.join(map(repr, unknown))}; "
            f"valid fields are {', '.join(sorted(known))}"
        )
    return cls(**data)
