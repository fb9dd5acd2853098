"""MetricsLog (metrics.csv) and the log window that averages train rows."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from rnnkit.errors import CheckpointError
from rnnkit.train import MetricsLog
from rnnkit.train.state import LogWindow


def read(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_new_figures_add_columns_before_lr(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path / "metrics.csv", unit="tokens")
    log.append({"step": 1, "epoch": 0.5, "elapsed_s": 0.25, "split": "train", "loss": 0.1,
                "bpc": 0.2, "lr": 0.01, "tokens_per_s": 1234.56})  # fmt: skip
    log.append({"step": 1, "epoch": 0.5, "elapsed_s": 0.5, "split": "val", "loss": 1 / 3,
                "accuracy": 0.75, "lr": 0.01})  # fmt: skip
    assert read(tmp_path / "metrics.csv") == [
        ["step", "epoch", "elapsed_s", "split", "loss", "bpc", "accuracy", "lr", "tokens_per_s"],
        ["1", "0.5000", "0.250", "train", "0.1", "0.2", "", "0.01", "1234.6"],
        ["1", "0.5000", "0.500", "val", "0.3333333333333333", "", "0.75", "0.01", ""],
    ]
    assert log.series("val") == ([1], [1 / 3])
    assert log.series("train", "bpc") == ([1], [0.2])


def test_restore_keeps_the_checkpointed_rows(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path / "metrics.csv")
    for step in range(1, 6):
        log.append({"step": step, "split": "train", "loss": 1.0 / step})
    columns = list(log.columns)
    restored = MetricsLog.restore(tmp_path / "metrics.csv", 3, columns)
    assert len(restored) == 3
    assert [row[0] for row in read(tmp_path / "metrics.csv")] == ["step", "1", "2", "3"]
    restored.append({"step": 4, "split": "train", "loss": 0.25})
    assert [row[0] for row in read(tmp_path / "metrics.csv")] == ["step", "1", "2", "3", "4"]
    with pytest.raises(CheckpointError, match="has 4 rows but the checkpoint was written after 9"):
        MetricsLog.restore(tmp_path / "metrics.csv", 9, columns)


def test_the_throughput_column_follows_the_unit(tmp_path: Path) -> None:
    assert MetricsLog(tmp_path / "a.csv").columns[-2:] == ["lr", "examples_per_s"]
    log = MetricsLog(tmp_path / "b.csv", unit="time_steps")
    log.append({"step": 1, "split": "train", "loss": 0.5, "time_steps_per_s": 12.345})
    assert read(tmp_path / "b.csv")[1][-2:] == ["", "12.3"]  # rounded like a rate


def test_restore_renames_an_old_throughput_column(tmp_path: Path) -> None:
    # Checkpoint format 1 called the throughput tokens_per_s whatever the task counted.
    old = MetricsLog(tmp_path / "metrics.csv", unit="tokens")
    old.append({"step": 2, "split": "train", "loss": 0.5, "acc": 0.25, "tokens_per_s": 1234.5})
    old.append({"step": 2, "split": "val", "loss": 0.75})
    restored = MetricsLog.restore(tmp_path / "metrics.csv", 2, old.columns, unit="examples")
    restored.append({"step": 4, "split": "train", "loss": 0.25, "examples_per_s": 99.0})
    assert read(tmp_path / "metrics.csv") == [
        ["step", "epoch", "elapsed_s", "split", "loss", "acc", "lr", "examples_per_s"],
        ["2", "", "", "train", "0.5", "0.25", "", "1234.5"],
        ["2", "", "", "val", "0.75", "", "", ""],
        ["4", "", "", "train", "0.25", "", "", "99.0"],
    ]


def test_restore_refuses_a_foreign_header(tmp_path: Path) -> None:
    MetricsLog(tmp_path / "metrics.csv")
    with pytest.raises(CheckpointError, match="not one rnnkit.train writes"):
        MetricsLog.restore(tmp_path / "metrics.csv", 0, ["step", "loss"])


def test_window_mean_is_count_weighted() -> None:
    window = LogWindow()
    window.add(1.0, 10, {"acc": 0.5}, seconds=0.1)
    window.add(4.0, 30, {"acc": 1.0}, seconds=0.3)
    assert window.mean_loss() == pytest.approx((1.0 * 10 + 4.0 * 30) / 40)  # 3.25, not 2.5
    assert window.mean_extras() == {"acc": 0.75}
    assert (window.count, window.seconds) == (40, pytest.approx(0.4))
    assert window.rate() == pytest.approx(100.0)  # 40 predictions in 0.4 s
    uncounted = LogWindow()
    uncounted.add(1.0, 0, {}, seconds=0.1)
    uncounted.add(4.0, 0, {}, seconds=0.1)
    assert uncounted.mean_loss() == 2.5
    assert uncounted.rate() == 0.0
