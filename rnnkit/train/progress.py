"""The tqdm progress bar: steps when the budget has a step count, seconds otherwise."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from tqdm import tqdm


class ProgressBar:
    """Shows progress through the budget, the latest figures, the throughput (in the
    task's unit, e.g. tokens/s) and the ETA.

    With a step or epoch budget the bar counts steps; with only `max_minutes` it counts
    seconds of the budget, so its ETA is the time left.
    """

    def __init__(
        self,
        enabled: bool,
        total_steps: int | None,
        max_minutes: float | None,
        step: int,
        elapsed_s: float,
    ) -> None:
        self._by_steps = total_steps is not None
        if self._by_steps:
            self._bar = tqdm(
                total=total_steps,
                initial=step,
                unit="step",
                disable=not enabled,
                dynamic_ncols=True,
            )
        else:
            total = 60.0 * float(max_minutes or 0.0)
            self._bar = tqdm(
                total=total,
                initial=min(elapsed_s, total),
                unit="s",
                disable=not enabled,
                dynamic_ncols=True,
                bar_format="{l_bar}{bar}| {elapsed}<{remaining}{postfix}",
            )

    def advance(self, step: int, elapsed_s: float) -> None:
        """Move the bar to `step` (or to `elapsed_s` for a time budget)."""
        if self._by_steps:
            self._bar.update(step - self._bar.n)
        else:
            self._bar.update(min(elapsed_s, float(self._bar.total)) - self._bar.n)

    def show(self, figures: Mapping[str, float]) -> None:
        """Replace the figures shown after the bar."""
        text = {k: f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}" for k, v in figures.items()}
        self._bar.set_postfix(text, refresh=False)

    def note(self, message: str) -> None:
        """Print a line above the bar (also when the bar is hidden)."""
        tqdm.write(message, file=sys.stderr)

    def close(self) -> None:
        """Finish the bar's line."""
        self._bar.close()
