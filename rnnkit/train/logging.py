"""`MetricsLog`: the run's metrics.csv, one row per log or evaluation.

Columns: step, epoch, elapsed_s, split ("train" / "val"), loss, then every other figure
in the order it first appears (the task's display() figures, batch extras, evaluation
metrics), then lr and the throughput column, `<unit>_per_s` (the task's unit:
tokens_per_s for a language model, examples_per_s by default). A figure seen for the
first time adds a column and rewrites the file (atomically) with the wider header; rows
without it leave it blank.

Losses and other figures are written with `repr(float)`, the shortest text that reads
back to the same float, so two runs that compute the same numbers write the same file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from rnnkit.atomic import atomic_write_bytes
from rnnkit.errors import CheckpointError
from rnnkit.train.checkpoint import PathLike
from rnnkit.train.task import DEFAULT_UNIT

LEADING = ("step", "epoch", "elapsed_s", "split", "loss")


def rate_column(unit: str) -> str:
    """The throughput column for a task whose `StepOutput.count` counts `unit`."""
    return f"{unit}_per_s"


def _format(column: str, value: object, rate: str) -> str:
    if value is None:
        return ""
    if column == "elapsed_s":
        return f"{float(value):.3f}"
    if column == rate:
        return f"{float(value):.1f}"
    if column == "epoch":
        return f"{float(value):.4f}"
    if isinstance(value, bool | int | str):
        return str(value)
    return repr(float(value))  # type: ignore[arg-type]


class MetricsLog:
    """Append-only CSV of training and validation figures, restorable to a checkpoint."""

    def __init__(self, path: PathLike, unit: str = DEFAULT_UNIT) -> None:
        """Start a new, empty log at `path` (an existing file is replaced), whose
        throughput column counts `unit` per second."""
        self.path = Path(path)
        self.rate = rate_column(unit)
        self.columns: list[str] = [*LEADING, "lr", self.rate]
        self.rows: list[dict[str, str]] = []
        self._rewrite()

    @classmethod
    def restore(
        cls, path: PathLike, n_rows: int, columns: Sequence[str], unit: str = DEFAULT_UNIT
    ) -> MetricsLog:
        """Reopen `path` keeping its first `n_rows` rows and the given header.

        Rows written after the checkpoint being resumed are dropped, so the resumed run
        writes them again and the file ends up as an uninterrupted run's would. The last
        column, the throughput, is renamed after `unit` if the header names another
        (checkpoint format 1 always called it tokens_per_s).
        """
        path = Path(path)
        saved = list(columns)
        if saved[: len(LEADING)] != list(LEADING) or saved[-2:-1] != ["lr"]:
            raise CheckpointError(
                f"the checkpoint's metrics.csv header {saved} is not one rnnkit.train "
                "writes; start a new run without resume"
            )
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
        except OSError as exc:
            raise CheckpointError(
                f"cannot read {path} ({exc}); the checkpoint expects its first {n_rows} "
                "rows: restore the file, or start a new run without resume"
            ) from exc
        if len(rows) < n_rows:
            raise CheckpointError(
                f"{path} has {len(rows)} rows but the checkpoint was written after "
                f"{n_rows}; restore the file, or start a new run without resume"
            )
        log = cls.__new__(cls)
        log.path = path
        log.rate = rate_column(unit)
        log.columns = [*saved[:-1], log.rate]
        log.rows = [
            {new: row.get(old) or "" for old, new in zip(saved, log.columns, strict=True)}
            for row in rows[:n_rows]
        ]
        log._rewrite()
        return log

    def __len__(self) -> int:
        return len(self.rows)

    def append(self, values: Mapping[str, object]) -> None:
        """Add one row; keys not yet in the header become new columns."""
        new = [key for key in values if key not in self.columns]
        if new:
            at = len(self.columns) - 2  # before lr and the throughput
            self.columns[at:at] = new
        row = {c: _format(c, values.get(c), self.rate) for c in self.columns}
        self.rows.append(row)
        if new:
            self._rewrite()
            return
        with open(self.path, "a", newline="", encoding="utf-8") as handle:
            csv.DictWriter(handle, self.columns, lineterminator="\n").writerow(row)

    def series(self, split: str, column: str = "loss") -> tuple[list[int], list[float]]:
        """(steps, values) of `column` over the rows of `split`, skipping blanks."""
        steps, values = [], []
        for row in self.rows:
            if row.get("split") == split and row.get(column):
                steps.append(int(row["step"]))
                values.append(float(row[column]))
        return steps, values

    def _rewrite(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, self.columns, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({c: row.get(c, "") for c in self.columns})
        atomic_write_bytes(self.path, buffer.getvalue().encode("utf-8"))
