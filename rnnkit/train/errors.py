"""Errors a training run can end with, beyond the package-wide ones in `rnnkit.errors`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnkit.errors import RnnkitError


class TrainingInterrupted(RnnkitError):
    """Ctrl-C or SIGTERM stopped training; the message says which checkpoint to resume from.

    Carries `step` (the step training stopped at), `checkpoint_step` (the step the
    checkpoint on disk holds, or None when none was written yet) and `signal`
    ("Ctrl-C" or "SIGTERM").
    """

    def __init__(
        self, message: str, step: int, checkpoint_step: int | None, signal: str = "Ctrl-C"
    ) -> None:
        super().__init__(message)
        self.step = step
        self.checkpoint_step = checkpoint_step
        self.signal = signal


class TrainingDiverged(RnnkitError):
    """The training loss (or the gradient norm) became NaN or infinite."""


def diverged(
    what: str,
    step: int,
    epoch: float,
    lr: float,
    config: Any,
    checkpoint_step: int | None,
    in_a_row: int = 1,
) -> TrainingDiverged:
    """The error for a NaN/inf ``what`` at ``step`` (``in_a_row`` steps running), with
    the remedies and what is kept."""
    kept = (
        f"the checkpoint of step {checkpoint_step} is kept"
        if checkpoint_step is not None
        else "no checkpoint was written, so nothing is kept"
    )
    clip = f"now {config.clip_norm:g}" if config.clip_norm is not None else "now off"
    return TrainingDiverged(
        f"{what} at step {step} (epoch {epoch:.2f})"
        f"{f', {in_a_row} steps in a row' if in_a_row > 1 else ''}; "
        f"lower the learning rate (now {lr:.3g}), add warm-up, or clip the gradient "
        f"norm harder ({clip}); {kept}"
    )


def skipped_step(what: str, step: int, in_a_row: int, most: int) -> str:
    """The warning for a step skipped because ``what`` (a NaN/inf loss or gradient)."""
    return (
        f"warning: {what} at step {step}; step skipped, weights unchanged "
        f"({in_a_row} in a row; training stops after {most}, see --max-bad-steps)"
    )


def interrupted(
    step: int,
    checkpoint_step: int | None,
    busy: str | None,
    eval_pending: bool,
    checkpoint_path: Path,
    signal: str = "Ctrl-C",
) -> TrainingInterrupted:
    """The error for Ctrl-C (or SIGTERM) at ``step``: which checkpoint is on disk and how
    to resume."""
    how = f"Trainer(task, config, {str(checkpoint_path.parent)!r}, resume=True).fit()"
    if checkpoint_step == step:
        pending = " (its evaluation was stopped and runs on resume)" if eval_pending else ""
        message = (
            f"training interrupted at step {step}{pending}; checkpoint saved to "
            f"{checkpoint_path}. Resume with {how}"
        )
    elif checkpoint_step is not None:
        message = (
            f"training interrupted during {busy}; the checkpoint of step "
            f"{checkpoint_step} is kept in {checkpoint_path}. Resume with {how}"
        )
    else:
        message = (
            f"training interrupted during {busy}, before any checkpoint "
            "was written; start the run again"
        )
    return TrainingInterrupted(message, step, checkpoint_step, signal)
