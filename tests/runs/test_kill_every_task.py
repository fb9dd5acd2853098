"""The kill test: a training process of every task is SIGKILLed at random moments, some
of them inside a checkpoint write, and `--resume` must end bit for bit where an
uninterrupted run with the same seed ends, from whatever the kill left behind.

The moments are drawn from a seeded generator: set RNNKIT_KILL_SEED to draw others; a
failure names the seed, the trial and the kill plan (see tests/kill_helpers.py), which
reproduce it. Each task's uninterrupted reference runs once, in a child process like
the killed ones; the resumes run in this process (single-threaded, like the children).
"""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from kill_helpers import run_child, same_weights, was_killed

from rnnkit.cli.main import main
from rnnkit.train import checkpoint_step

SEED = int(os.environ.get("RNNKIT_KILL_SEED", "20261204"))
TRIALS = 5  # per task: 20 in all
BUDGET = ["--steps", "40", "--checkpoint-every", "10", "--eval-every", "10", "--seed", "3"]
BUDGET += ["--no-progress", "--lr", "0.01"]
#: Each task's flags: tiny models, with dropout so that the RNG state must resume too.
FLAGS = {
    "lm": ["--layers", "1", "--hidden", "16", "--embedding", "8", "--batch-size", "4"]
    + ["--seq-len", "16", "--dropout", "0.1", "--weight-dropout", "0.1", "--rotate"],
    "classify": ["--hidden", "16", "--dropout", "0.2", "--word-dropout", "0.2"]
    + ["--val-fraction", "0.25", "--batch-size", "8", "--sparse-embeddings"]  # lazy Adam too
    + ["--ensemble", "2", "--cross-fit"],  # and batches that carry each example's fold
    "forecast": ["--target", "y", "--time-col", "t", "--horizon", "3", "--input-len", "12"]
    + ["--hidden", "8", "--layers", "2", "--dropout", "0.2"],
    "translate": ["--hidden", "16", "--embedding", "8", "--max-len", "6", "--dropout", "0.1"]
    + ["--teacher-forcing", "0.5"],
}
WEIGHT_FILES = ("last.safetensors", "best.safetensors")


def write_data(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    files = {}
    files["lm"] = folder / "cats.txt"
    files["lm"].write_text("the cat sat on the mat. the dog sat on the log. " * 30)
    files["classify"] = folder / "reviews.csv"
    good, bad = ["a great film", "fine and great"], ["a dull film", "bad and dull"]
    rows = [f"{t},pos" for t in good] * 8 + [f"{t},neg" for t in bad] * 8
    files["classify"].write_text("text,label\n" + "\n".join(rows) + "\n")
    files["forecast"] = folder / "sine.csv"
    values = np.sin(np.arange(200) / 4) + 0.1 * rng.standard_normal(200)
    files["forecast"].write_text(
        "t,y\n" + "".join(f"{i},{float(v)!r}\n" for i, v in enumerate(values))
    )
    files["translate"] = folder / "pairs.tsv"
    words = "ab cd ef gh ij kl".split()
    sources = [" ".join(rng.choice(words, size=rng.integers(2, 5))) for _ in range(80)]
    lines = [f"{s}\t{' '.join(reversed(s.split()))}" for s in sources]
    files["translate"].write_text("\n".join(lines) + "\n")
    return files


def train_args(task: str, data: Path, out: Path) -> list[str]:
    return ["train", task, str(data), "--out", str(out), *FLAGS[task], *BUDGET]


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """Per task, lazily: (data file, the uninterrupted run, the names of its atomic
    writes in order, how many seconds its training took)."""
    folder = tmp_path_factory.mktemp("kill")
    files = write_data(folder)
    done: dict[str, tuple[Path, Path, list[str], float]] = {}

    def get(task: str):
        if task not in done:
            run_dir, log = folder / f"{task}-whole", folder / f"{task}-writes.txt"
            proc = run_child(train_args(task, files[task], run_dir), kill=f"log:{log}")
            assert proc.returncode == 0, proc.stderr
            lines = log.read_text().split()
            seconds = float(next(line for line in lines if line.startswith("fit:"))[4:])
            writes = [line for line in lines if not line.startswith("fit:")]
            done[task] = (files[task], run_dir, writes, seconds)
        return done[task]

    return get


def kill_plan(rng: random.Random, trial: int, writes: list[str], seconds: float) -> str:
    """Trial 0 and 1: a random moment of training; 2 and 3: inside a random write of the
    checkpoint or of last.safetensors; 4: inside a random write of the run's start, up
    to its first checkpoint (artifacts, config.json, the first metrics and weights)."""
    if trial < 2:
        return f"after:{rng.uniform(0.0, seconds):.3f}"
    if trial < 4:
        names = ("checkpoint.safetensors", "last.safetensors")
        candidates = [i + 1 for i, name in enumerate(writes) if name in names]
    else:
        candidates = list(range(1, writes.index("checkpoint.safetensors") + 2))
    return f"write:{rng.choice(candidates)}:{rng.choice(['torn', 'written', 'renamed'])}"


def metric_rows(run_dir: Path) -> list[tuple[str, str, str]]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return [(r["step"], r["split"], r["loss"]) for r in csv.DictReader(handle)]


@pytest.mark.parametrize("trial", range(TRIALS))
@pytest.mark.parametrize("task", list(FLAGS))
def test_a_killed_run_resumes_to_the_uninterrupted_weights(
    references, task, trial, tmp_path, capsys
):
    data, whole, writes, seconds = references(task)
    rng = random.Random(f"{SEED}-{task}-{trial}")
    plan = kill_plan(rng, trial, writes, seconds)
    where = f"seed {SEED}, {task} trial {trial}, RNNKIT_TEST_KILL={plan}"
    part = tmp_path / "part"
    proc = run_child(train_args(task, data, part), kill=plan)
    # A write is always reached; a moment of time may come after a faster run ended.
    finished = plan.startswith("after:") and proc.returncode == 0
    assert was_killed(proc) or finished, f"{where}: {proc.returncode}, {proc.stderr}"

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the children: the same float sums
    try:
        if not (part / "config.json").exists():
            # Killed before the run was written: the same command must simply work again.
            code = main(train_args(task, data, part))
        elif checkpoint_step(part / "checkpoint.safetensors") == 40:
            code = 0  # killed after the last checkpoint: nothing left to train
        else:
            code = main(["train", task, "--resume", str(part)])
    finally:
        torch.set_num_threads(threads)
    err = capsys.readouterr().err
    assert code == 0, f"{where}: the run cannot be resumed: {err}"
    for name in WEIGHT_FILES:
        differ = same_weights(whole / name, part / name)
        assert not differ, f"{where}: {name} differs from the uninterrupted run in {differ}"
    assert metric_rows(part) == metric_rows(whole), f"{where}: metrics.csv differs"
