"""Optional TensorBoard scalars (needs the `tensorboard` extra)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rnnkit.errors import ConfigError
from rnnkit.train.checkpoint import PathLike


def require_summary_writer() -> Any:
    """torch's SummaryWriter class; ConfigError saying what to install if it is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        problem = "needs the tensorboard package: pip install 'rnnkit[tensorboard]'"
        raise ConfigError(
            f"TrainConfig.tensorboard {problem} (or leave it off)",
            field="tensorboard",
            problem=f"{problem}, or leave it out",
        ) from exc
    return SummaryWriter


class TensorBoardLog:
    """Writes "<split>/<figure>" scalars against the step."""

    def __init__(self, log_dir: PathLike, resume_step: int | None) -> None:
        """`resume_step`: events after it (from the interrupted run) are purged."""
        writer_class = require_summary_writer()
        purge = None if resume_step is None else resume_step + 1
        self._writer = writer_class(log_dir=str(log_dir), purge_step=purge)

    def scalars(self, split: str, step: int, figures: Mapping[str, float | None]) -> None:
        """Add one scalar per figure (figures that are None are skipped)."""
        for name, value in figures.items():
            if value is not None:
                self._writer.add_scalar(f"{split}/{name}", value, step)

    def close(self) -> None:
        """Flush and close the event file."""
        self._writer.close()
