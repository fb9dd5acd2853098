"""What a failed or damaged run leaves behind: a new run that diverges before its first
checkpoint leaves no folder, a run whose checkpoint was deleted refuses to start over,
and temporary files of a killed writer are swept on resume."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import minimal_task  # registers the task "toy_sum"
import pytest
from safetensors.torch import load_file

from rnnkit.atomic import TMP_PREFIX, atomic_write_text
from rnnkit.cli.main import main
from rnnkit.errors import ConfigError
from rnnkit.runs import train_run

SMALL = ["--hidden-size", "12", "--batch-size", "8", "--lr", "0.02", "--no-progress"]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    return minimal_task.write_sums(tmp_path_factory.mktemp("data"), 100, seed=1)


def train(data_file: Path, out: Path, *flags: str) -> int:
    return main(["train", "toy_sum", str(data_file), "--out", str(out), *SMALL, *flags])


def test_a_run_that_diverges_before_its_first_checkpoint_leaves_no_folder(
    tmp_path, data_file, capsys
):
    out = tmp_path / "run"
    bad = ["--steps", "20", "--lr", "1e30", "--max-bad-steps", "0", "--clip-norm", "1e30"]
    assert train(data_file, out, *bad) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing is kept" in err and "clip_norm" not in err, err
    assert not out.exists()
    assert train(data_file, out, "--steps", "4") == 0  # the same --out works again
    assert (out / "checkpoint.safetensors").exists()


def test_a_run_without_its_checkpoint_does_not_start_over(tmp_path, data_file, capsys):
    out = tmp_path / "run"
    assert train(data_file, out, "--steps", "6", "--eval-every", "3") == 0
    (out / "checkpoint.safetensors").unlink()
    before = {n: (out / n).read_bytes() for n in ("last.safetensors", "metrics.csv")}
    capsys.readouterr()
    assert main(["train", "toy_sum", "--resume", str(out), "--steps", "9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "checkpoint.safetensors" in err and "--out" in err, err
    assert {n: (out / n).read_bytes() for n in before} == before


def test_resume_sweeps_the_temporary_files_of_a_killed_writer(tmp_path, data_file):
    out = tmp_path / "run"
    assert train(data_file, out, "--steps", "4") == 0
    stale = out / f"{TMP_PREFIX}checkpoint.safetensors.0123abcd.tmp"
    stale.write_bytes(b"half a checkpoint")
    assert main(["train", "toy_sum", "--resume", str(out), "--steps", "6"]) == 0
    assert not stale.exists()
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []
    assert load_file(out / "checkpoint.safetensors")  # a whole checkpoint


def test_the_writer_replaces_a_link_s_target_and_streams_into_a_fifo(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    atomic_write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    atomic_write_text(fifo, "through the pipe")
    reader.join(timeout=10)
    assert got == [b"through the pipe"]
    assert not fifo.is_file() and fifo.exists()  # still a FIFO, not replaced by a file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.txt", "pipe", "real.txt"]


def test_resume_refuses_another_task_and_out(tmp_path, data_file, capsys):
    out = tmp_path / "run"
    assert train(data_file, out, "--steps", "2") == 0
    capsys.readouterr()
    assert main(["train", "lm", "--resume", str(out), "--steps", "4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "toy_sum task, not lm" in err, err
    elsewhere = tmp_path / "elsewhere"
    args = ["train", "toy_sum", "--resume", str(out), "--steps", "4", "--out", str(elsewhere)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "leave out --out" in err, err
    assert not elsewhere.exists()


@pytest.mark.parametrize("section", ["data", "model", "train"])
def test_settings_that_are_not_a_dict_are_a_config_error(tmp_path, data_file, section):
    with pytest.raises(ConfigError, match=f"{section}= takes a dict of settings by name, got list"):
        train_run("toy_sum", tmp_path / "run", source=data_file, **{section: ["x"]})
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "task, expected",
    [
        ("lm", "str"),
        ("classify", "LabelledTexts or LabelledSeries"),
        ("translate", "Pairs"),
        ("forecast", "SeriesSet"),
    ],
)
def test_raw_data_of_the_wrong_kind_is_a_data_error(tmp_path, task, expected):
    """``train_run(raw=...)`` takes what the task's reader returns; a list was an
    AttributeError from inside ``prepare``. Nothing is written."""
    from rnnkit.errors import DataError

    out = tmp_path / "run"
    with pytest.raises(DataError, match=rf"raw: the {task} task takes {expected} .*got list"):
        train_run(task, out, raw=[1, 2, 3])
    assert not out.exists()
