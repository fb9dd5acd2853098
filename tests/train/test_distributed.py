"""Several training processes (torchrun, DDP on gloo) and deterministic training.

The truth for two processes is one process trained on the same global batch: after the
same steps the weights must agree to float rounding (DDP averages the two shards'
gradients, which equals the gradient of the global mean up to the order of additions).
The 2-process runs are real torchrun subprocesses, single-threaded, on tiny models.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.cli.main import main
from rnnkit.errors import CheckpointError
from rnnkit.train import TrainConfig, checkpoint_step
from rnnkit.train.distributed import SOLO, WORLD_KEY, Team, _pack, _unpack
from rnnkit.train.resume import ResumePoint
from rnnkit.train.state import RunState, capture_rng, restore_rng

LM = ["--layers", "1", "--hidden", "16", "--embedding", "8", "--batch-size", "4"]
LM += ["--seq-len", "8", "--dropout", "0", "--no-rotate", "--val-fraction", "0.1"]
#: 23 examples in batches of 5: each epoch ends with a batch of 3, which two processes
#: split 2 + 1, so the loss weighting for unequal shards is exercised.
CLASSIFY = ["--hidden", "12", "--embedding", "8", "--batch-size", "5", "--val-fraction", "0"]
COMMON = ["--no-progress", "--lr", "0.02", "--precision", "fp32", "--seed", "7"]
COMMON += ["--eval-every", "3", "--checkpoint-every", "3"]
WORDS = "the cat sat on a mat and a dog ran far from home to the cat".split()


def start_two(args: list[str], launcher: str = "torchrun") -> subprocess.Popen:
    """Start ``rnnkit ARGS`` as two single-threaded processes: under torchrun, or with
    --nproc (which runs torchrun itself)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if launcher == "torchrun":
        head = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
        command = [sys.executable, *head, "-m", "rnnkit", *args]
    else:
        command = [sys.executable, "-m", "rnnkit", *args, "--nproc", "2"]
    pipe = subprocess.PIPE
    return subprocess.Popen(command, env=env, stdout=pipe, stderr=pipe, text=True)


def finish(process: subprocess.Popen) -> str:
    """Wait for a `start_two` run; its standard output."""
    out, err = process.communicate(timeout=240)
    assert process.returncode == 0, err[-3000:]
    return out


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "last.safetensors"))


def assert_close_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5, msg=name)


def metric_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("data")
    text = folder / "text.txt"
    generator = torch.Generator().manual_seed(0)
    picks = torch.randint(len(WORDS), (1500,), generator=generator).tolist()
    text.write_text(" ".join(WORDS[i] for i in picks), encoding="utf-8")
    table = folder / "reviews.csv"
    good, bad = ["a great film", "fine and great"], ["a dull film", "bad and dull"]
    rows = [(t, "pos") for t in good] * 6 + [(t, "neg") for t in bad] * 6 + [("a film", "neg")]
    with open(table, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("text", "label"), *rows])
    return {"lm": text, "classify": table}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data):
    """Two-process runs (with the same runs done alone): the LM for 3 steps under
    torchrun, resumed to 6; classification for 6 steps with --nproc 2, meanwhile."""
    folder = tmp_path_factory.mktemp("runs")
    classify = ["train", "classify", str(data["classify"]), *CLASSIFY, *COMMON, "--steps", "6"]
    background = start_two([*classify, "--out", str(folder / "classify2")], launcher="nproc")
    try:
        lm = ["train", "lm", str(data["lm"]), *LM, *COMMON]
        two, one = folder / "lm2", folder / "lm1"
        first = finish(start_two([*lm, "--out", str(two), "--steps", "3"]))
        stopped = {"step": checkpoint_step(two / "checkpoint.safetensors"), "out": first}
        stopped["files"] = sorted(p.name for p in two.iterdir())
        resume = ["--steps", "6", "--no-progress"]
        again = finish(start_two(["train", "lm", "--resume", str(two), *resume]))
        # The same history alone (the schedule follows the budget: 3 steps, then 6).
        assert main([*lm, "--out", str(one), "--steps", "3"]) == 0
        assert main(["train", "lm", "--resume", str(one), *resume]) == 0
        assert main([*classify, "--out", str(folder / "classify1")]) == 0
        finish(background)
    finally:
        if background.poll() is None:  # a failure above: stop it (--nproc passes the
            background.terminate()  # SIGTERM on to torchrun and the processes)
            background.communicate(timeout=120)
    return {"folder": folder, "lm": (two, one, stopped, again)}


def test_two_processes_train_the_lm_as_one_process_on_the_global_batch(runs):
    two, one, stopped, _ = runs["lm"]
    assert stopped["step"] == 3 and checkpoint_step(two / "checkpoint.safetensors") == 6
    # Resumed at step 3: each rank's carried hidden state (its own rows) came back.
    assert_close_weights(weights(two), weights(one))
    a, b = metric_rows(two), metric_rows(one)
    assert [r["step"] for r in a] == [r["step"] for r in b] == ["3", "6"]
    for x, y in zip(a, b, strict=True):
        assert float(x["loss"]) == pytest.approx(float(y["loss"]), rel=1e-5)


def test_only_rank_0_writes_and_prints(runs):
    two, _, stopped, again = runs["lm"]
    # Two writers would append each row twice and print the outcome twice.
    assert stopped["out"].count("trained 3 steps") == 1
    assert again.count("trained 6 steps") == 1
    assert stopped["files"] == sorted(
        ["best.safetensors", "checkpoint.safetensors", "config.json", "last.safetensors"]
        + ["loss.png", "metrics.csv", "train_config.json", "vocab.json"]
    )


def test_a_two_process_checkpoint_holds_both_ranks_and_refuses_one_process(runs, capsys):
    two, *_ = runs["lm"]
    from rnnkit.train.checkpoint import read_safetensors

    tensors, _ = read_safetensors(two / "checkpoint.safetensors", "cpu")
    assert "task.rank1/state" in tensors and "task.rank2/state" not in tensors
    code = main(["train", "lm", "--resume", str(two), "--steps", "9", "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "written by 2 training process(es)" in err and "Traceback" not in err


def test_nproc_2_trains_classification_as_one_process_does(runs):
    two, one = runs["folder"] / "classify2", runs["folder"] / "classify1"
    assert_close_weights(weights(two), weights(one))
    # Step 5 ends the first epoch with 3 examples, split 2 + 1: weighted, still equal.
    assert float(metric_rows(two)[-1]["loss"]) == pytest.approx(
        float(metric_rows(one)[-1]["loss"]), rel=1e-5
    )


# ---- in one process: sharding, packed rank state, determinism ---------------------------


class Window(NamedTuple):
    x: torch.Tensor
    y: torch.Tensor
    reset: bool


def test_shard_keeps_rows_rank_modulo_world_of_every_tensor():
    batch = Window(torch.arange(10).view(5, 2), torch.arange(5), True)
    part, borrowed = Team(rank=1, world=2).shard(object(), batch)
    assert isinstance(part, Window) and part.reset is True and not borrowed
    assert part.x.tolist() == [[2, 3], [6, 7]] and part.y.tolist() == [1, 3]
    assert SOLO.shard(object(), batch) == (batch, False)
    # Fewer rows than processes: a borrowed row, which the loss weighs at 0.
    part, borrowed = Team(rank=2, world=3).shard(object(), (torch.ones(2, 4), torch.zeros(2)))
    assert borrowed and part[0].shape == (1, 4)


def test_shard_refuses_a_batch_it_cannot_split_by_rows():
    with pytest.raises(TypeError, match="shard_batch"):
        Team(rank=0, world=2).shard(object(), (torch.ones(4, 3), torch.ones(3, 4)))


def test_a_rank_state_packs_without_pickle_and_unpacks_exactly():
    state = {"cursor": 7, "order": torch.arange(5), "rng": {"state": 2**70}}
    task, (rng_tensors, rng_values) = _unpack(_pack(state), torch.device("cpu"))
    assert task["cursor"] == 7 and task["rng"] == {"state": 2**70}
    assert torch.equal(task["order"], torch.arange(5))
    now_tensors, now_values = capture_rng()
    assert torch.equal(rng_tensors["rng.torch"], now_tensors["rng.torch"])
    assert rng_values == now_values
    point = ResumePoint(RunState(), now_tensors, now_values, {"cursor": 1}, {}, 0, [])
    own, rng = SOLO.own_state(point, torch.device("cpu"))
    assert own == {"cursor": 1} and rng == (now_tensors, now_values)
    point.task_state = {WORLD_KEY: 2, "rank1/state": torch.zeros(1, dtype=torch.uint8)}
    with pytest.raises(CheckpointError, match="written by 2"):
        SOLO.own_state(point, torch.device("cpu"))


def test_a_follower_resumes_its_own_rngs_and_task_state():
    torch.manual_seed(11)
    packed = _pack({"carry.0.0": torch.full((2, 3), 5.0), "cursor": 4})  # rank 1's, saved
    expected = torch.rand(3)  # what rank 1 drew next
    torch.manual_seed(99)  # rank 0's own state, elsewhere in the checkpoint
    rng = capture_rng()
    task_state = {
        "cursor": 4,
        WORLD_KEY: 2,
        "rank1/state": torch.frombuffer(bytearray(packed), dtype=torch.uint8),
    }
    point = ResumePoint(RunState(), *rng, task_state, {}, 0, [])
    own, (tensors, values) = Team(rank=1, world=2).own_state(point, torch.device("cpu"))
    assert own["cursor"] == 4 and torch.equal(own["carry.0.0"], torch.full((2, 3), 5.0))
    restore_rng(tensors, values)
    assert torch.equal(torch.rand(3), expected)
    own, _ = Team(rank=0, world=2).own_state(point, torch.device("cpu"))
    assert own == {"cursor": 4}  # rank 0 keeps the checkpoint's own state


@pytest.mark.parametrize("task", ["lm", "classify"])
def test_deterministic_runs_give_bitwise_equal_weights(task, tmp_path, data):
    flags = LM if task == "lm" else CLASSIFY
    base = ["train", task, str(data[task]), *flags, *COMMON, "--steps", "4", "--deterministic"]
    for name in ("a", "b"):
        assert main([*base, "--dropout", "0.2", "--out", str(tmp_path / name)]) == 0
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.are_deterministic_algorithms_enabled()  # put back after the run


def test_deterministic_needs_a_step_or_epoch_budget(tmp_path, data, capsys):
    with pytest.raises(Exception, match="deterministic needs a step or epoch budget"):
        TrainConfig(max_minutes=1.0, max_steps=None, deterministic=True)
    args = ["train", "lm", str(data["lm"]), *LM, "--minutes", "1", "--deterministic"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 2
    assert "--deterministic needs a step or epoch budget" in capsys.readouterr().err


def test_nproc_checks_the_output_folder_and_settings_before_starting_processes(
    tmp_path, capsys, monkeypatch
):
    """A mistake is one line from the launcher, not one per process plus torchrun's
    failure report; no process is started."""
    import rnnkit.cli.train as cli_train

    started = []
    monkeypatch.setattr(cli_train, "launch", lambda *args: started.append(args) or 0)
    text = tmp_path / "t.txt"
    text.write_text("some text to train on. " * 200)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "config.json").write_text("{}")
    for extra, message in (
        (["--out", taken], f"{taken} already holds a run"),
        (["--out", tmp_path / "new", "--steps", "0"], "--steps must be an integer >= 1"),
    ):
        assert main(["train", "lm", str(text), "--nproc", "2", *map(str, extra)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err
    assert started == [] and not (tmp_path / "new").exists()


def test_a_mistake_found_inside_the_processes_is_one_line_with_their_exit_code(tmp_path):
    """A bad model setting, missing data or a bad --resume is found by the processes
    torchrun starts: the first prints the one line, the other stays quiet, and
    torchrun's failure report is kept out (exit 2, as without --nproc)."""
    text = tmp_path / "t.txt"
    text.write_text("some text to train on. " * 400)
    cases = (
        (["lm", str(text), "--zoneout", "2"], "--zoneout must be a number in [0, 1), got 2.0"),
        (["lm", str(tmp_path / "absent.txt")], "absent.txt' does not exist"),
        (["lm", "--resume", str(tmp_path / "nowhere")], "nowhere does not exist"),
    )
    for args, message in cases:
        out = [] if "--resume" in args else ["--out", str(tmp_path / "run")]
        process = start_two(["train", *args, *out], launcher="nproc")
        _, err = process.communicate(timeout=240)
        assert process.returncode == 2, err[-3000:]
        assert len(err.splitlines()) == 1 and err.startswith("rnnkit: error: "), err[-3000:]
        assert message in err
        assert not (tmp_path / "run").exists()


def test_ctrl_c_under_nproc_is_one_message_and_a_resume_hint_then_resumes(tmp_path):
    """Ctrl-C reaches the launcher, torchrun and both processes (one process group, as
    from a terminal): one notice, one resume hint, no torchrun traceback, exit 130;
    the hint's command continues the run."""
    import signal
    import time

    text = tmp_path / "t.txt"
    text.write_text("some text to train on and on. " * 3000)
    run = tmp_path / "run"
    command = [sys.executable, "-m", "rnnkit", "train", "lm", str(text), *LM, *COMMON]
    command += ["--minutes", "5", "--out", str(run), "--nproc", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    pipe = subprocess.PIPE
    process = subprocess.Popen(
        command, env=env, stdout=pipe, stderr=pipe, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while not (run / "checkpoint.safetensors").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-3000:]
    assert err.count("finishing this step") == 1 and "Traceback" not in err, err[-3000:]
    hint = [line for line in err.splitlines() if line.startswith("rnnkit: stopped at step")]
    assert len(hint) == 1 and hint[0].endswith(f"--resume {run} --nproc 2"), err[-3000:]
    done = int(hint[0].split()[4].rstrip(";"))
    resumed = subprocess.run(
        [sys.executable, "-m", "rnnkit", "train", "lm", "--resume", str(run), "--nproc", "2",
         "--steps", str(done + 3), "--no-progress"],
        env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert checkpoint_step(run / "checkpoint.safetensors") == done + 3
