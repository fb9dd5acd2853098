"""Errors a training run can end with, beyond the package-wide ones in `rnnkit.errors`."""

from __future__ import annotations

from rnnkit.errors import RnnkitError


class TrainingInterrupted(RnnkitError):
    """The user pressed Ctrl-C; the message says which checkpoint to resume from.

    Carries `step` (the step training stopped at) and `checkpoint_step` (the step the
    checkpoint on disk holds, or None when none was written yet).
    """

    def __init__(self, message: str, step: int, checkpoint_step: int | None) -> None:
        super().__init__(message)
        self.step = step
        self.checkpoint_step = checkpoint_step


class TrainingDiverged(RnnkitError):
    """The training loss (or the gradient norm) became NaN or infinite."""
