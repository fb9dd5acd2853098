"""Budget tiers: the defaults a task trains with, chosen by the time budget.

The best model for a fixed amount of training time depends on that time (a small
network learns faster at first, a larger one ends lower but needs more steps), and on
the precision (bf16 trains more examples per second where it is native). A task fills
a `BudgetTiers` with `Recipe`s measured on its benchmark; the run layer picks one and
lets every setting the user gives take precedence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from rnnkit.errors import ConfigError


def _frozen(value: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


@dataclass(frozen=True)
class Recipe:
    """Settings for one budget tier: data, model and TrainConfig fields."""

    data: Mapping[str, Any] = field(default_factory=_frozen)
    model: Mapping[str, Any] = field(default_factory=_frozen)
    train: Mapping[str, Any] = field(default_factory=_frozen)

    def __post_init__(self) -> None:
        for name in ("data", "model", "train"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))


class BudgetTiers:
    """Per precision, tiers ``(largest budget in minutes, Recipe)`` from small to large.

    A step or epoch budget (no minutes) uses the tier of ``step_budget_minutes``; a
    precision without its own table uses ``fallback``'s.
    """

    def __init__(
        self,
        tiers: Mapping[str, Sequence[tuple[float, Recipe]]],
        *,
        step_budget_minutes: float = 10.0,
        fallback: str = "fp32",
    ) -> None:
        for precision, table in tiers.items():
            limits = [limit for limit, _ in table]
            if not table or limits != sorted(limits) or limits[-1] != float("inf"):
                raise ConfigError(
                    f"budget tiers for {precision!r} must rise and end with an unlimited tier"
                )
        if fallback not in tiers:
            raise ConfigError(f"budget tiers have no table for the fallback {fallback!r}")
        self.tiers = {p: tuple(t) for p, t in tiers.items()}
        self.step_budget_minutes = step_budget_minutes
        self.fallback = fallback

    def pick(self, minutes: float | None, precision: str) -> Recipe:
        budget = self.step_budget_minutes if minutes is None else minutes
        for limit, recipe in self.tiers.get(precision, self.tiers[self.fallback]):
            if budget <= limit:
                return recipe
        raise AssertionError("the last tier has no limit")
