"""The command line as a user meets it: one-line errors, exit codes, nothing half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from cli_helpers import SMALL, run_cli
from kill_helpers import run_child, same_weights, was_killed
from safetensors.torch import load_file

from rnnkit import __version__
from rnnkit.cli.main import main
from rnnkit.train import checkpoint_step

TEXT = "the cat sat on the mat. the dog sat on the log. " * 30
#: `rnnkit train lm` in a child process, for the tests that kill or interrupt it.
TRAIN_LM = [sys.executable, "-m", "rnnkit.cli.main", "train", "lm"]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "cats.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def char_run(tmp_path_factory, text_file):
    run_dir = tmp_path_factory.mktemp("runs") / "char"
    assert (
        main(["train", "lm", str(text_file), "--out", str(run_dir), "--steps", "40", *SMALL]) == 0
    )
    return run_dir


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out
    assert main([]) == 0
    assert "train" in capsys.readouterr().out


def test_train_generate_evaluate(char_run, text_file, capsys):
    code, out, _ = run_cli(
        [
            "generate",
            char_run,
            "--prime",
            "the ",
            "--length",
            "30",
            "--seed",
            "1",
            "--samples",
            "2",
        ],
        capsys,
    )
    assert code == 0 and out.count("--- sample") == 2
    code, out, _ = run_cli(["evaluate", char_run, text_file], capsys)
    assert code == 0 and "loss" in out and "bpc" in out


def _write(tmp_path, name, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"\x00\x01\x02binary\x00" * 50, "binary"),
        (b"caf\xe9 au lait " * 100, "UTF-8"),
        (b"too short", "needs at least"),
    ],
)
def test_bad_text_is_one_line_and_writes_nothing(tmp_path, capsys, content, message):
    path = _write(tmp_path, "input.txt", content)
    out_dir = tmp_path / "run"
    code, _, err = run_cli(["train", "lm", path, "--out", out_dir, "--steps", "5", *SMALL], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("rnnkit: error: ") and message in err
    assert not out_dir.exists()


def test_missing_text_and_missing_run(tmp_path, capsys):
    code, _, err = run_cli(["train", "lm"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--resume" in err
    code, _, err = run_cli(["train", "lm", tmp_path / "nope.txt", *SMALL], capsys)
    assert code == 2 and err.count("\n") == 1 and "nope.txt" in err
    code, _, err = run_cli(["generate", tmp_path / "no-run"], capsys)
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err
    out = tmp_path / "named"
    code, _, err = run_cli(["train", "lm", "--dataset", "shakspeare", "--out", out], capsys)
    assert code == 2 and err.count("\n") == 1 and "'shakspeare'" in err and "(shakespeare)" in err
    assert not out.exists()


def test_a_corpus_by_name_trains_and_resumes(tmp_path, capsys):
    run_dir = tmp_path / "plays"
    flags = ["--out", run_dir, "--steps", "2", "--val-fraction", "0.01", *SMALL]
    code, out, _ = run_cli(["train", "lm", "--dataset", "shakespeare", *flags, "--json"], capsys)
    assert code == 0 and json.loads(out)["steps"] == 2
    tokens = json.loads((run_dir / "vocab.json").read_text())["tokens"]
    assert len(tokens) > 60 and {"R", "O", "M", "E", "?", ";"} <= set(
        tokens
    )  # the plays' characters
    code, out, _ = run_cli(["train", "lm", "--resume", run_dir, "--steps", "3", "--json"], capsys)
    assert code == 0 and json.loads(out)["steps"] == 3


def test_ema_keeps_and_saves_the_averaged_weights(tmp_path, text_file, capsys):
    run_dir = tmp_path / "ema"
    args = ["train", "lm", text_file, "--out", run_dir, "--steps", "20", "--ema", "0.9", *SMALL]
    code, _, _ = run_cli(args, capsys)
    assert code == 0
    assert json.loads((run_dir / "train_config.json").read_text())["ema_decay"] == 0.9
    checkpoint = load_file(run_dir / "checkpoint.safetensors")
    last = load_file(run_dir / "last.safetensors")
    assert last.keys() == {k[len("ema.") :] for k in checkpoint if k.startswith("ema.")}
    for name, tensor in last.items():
        assert torch.equal(tensor, checkpoint[f"ema.{name}"])
        assert not torch.equal(tensor, checkpoint[f"model.{name}"])


def test_bad_ema_is_one_line(tmp_path, capsys, text_file):
    out_dir = tmp_path / "run"
    args = ["train", "lm", text_file, "--out", out_dir, "--steps", "5", "--ema", "1.5", *SMALL]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and err.count("\n") == 1 and "--ema must be" in err
    assert not out_dir.exists()


def test_corrupt_weights_are_a_one_line_error(char_run, tmp_path, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(char_run, broken)
    (broken / "best.safetensors").write_bytes(b"garbage")
    code, _, err = run_cli(["generate", broken, "--length", "5"], capsys)
    assert code == 2 and err.count("\n") == 1 and "best.safetensors" in err


def test_prime_outside_vocabulary(char_run, capsys):
    code, _, err = run_cli(["generate", char_run, "--prime", "QXZ"], capsys)
    assert code == 2 and err.count("\n") == 1 and "'Q'" in err


def test_resume_with_another_text_is_refused(char_run, tmp_path, capsys):
    other = _write(tmp_path, "other.txt", (TEXT + "!").encode())
    code, _, err = run_cli(["train", "lm", other, "--resume", char_run], capsys)
    assert code == 2 and "differs" in err


def test_killed_run_resumes_exactly(tmp_path, text_file):
    """SIGKILL a real training process mid-run; --resume ends where the whole run ends.

    With the default precision (bf16 on CPUs that have it), epochs rotated by the seed
    and weight dropout, so all of their randomness must come back from the checkpoint."""
    common = ["train", "lm", text_file, "--steps", "400", "--checkpoint-every", "25"]
    common += ["--eval-every", "50", "--rotate", "--weight-dropout", "0.1", *SMALL]
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert run_child([*common, "--out", whole]).returncode == 0
    # Killed at step 110: ten steps after the checkpoint at step 100, mid-evaluation-window.
    assert was_killed(run_child([*common, "--out", part], kill="step:110"))
    assert checkpoint_step(part / "checkpoint.safetensors") == 100
    resumed = run_child(["train", "lm", "--resume", part])
    assert resumed.returncode == 0, resumed.stderr

    for name in ("last.safetensors", "best.safetensors"):
        assert not same_weights(whole / name, part / name)
    rows = [r.split(",") for r in (whole / "metrics.csv").read_text().splitlines()]
    again = [r.split(",") for r in (part / "metrics.csv").read_text().splitlines()]
    assert len(rows) == len(again)
    for r, s in zip(rows, again, strict=True):  # all but the timing columns
        assert r[:2] + r[3:-1] == s[:2] + s[3:-1]


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "lm", "x.txt", "--hidden", "big"], "invalid int value: 'big'"),
        (["generate"], "the following arguments are required: RUN"),
        (["train"], "required: TASK"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_usage_mistakes_are_one_line(capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.count("\n") == 1 and message in err and "--help" in err


@pytest.mark.parametrize(
    "signum, name, code", [(signal.SIGINT, "Ctrl-C", 130), (signal.SIGTERM, "SIGTERM", 143)]
)
def test_ctrl_c_and_sigterm_checkpoint_and_say_how_to_resume(
    tmp_path, text_file, signum, name, code
):
    """A scheduler's SIGTERM is handled as Ctrl-C: the step ends, a checkpoint is saved."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [
            *TRAIN_LM,
            str(text_file),
            "--out",
            str(run_dir),
            "--steps",
            "100000",
            *SMALL,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics = run_dir / "metrics.csv"
    deadline = time.time() + 60
    while time.time() < deadline and not (
        metrics.exists() and len(metrics.read_text().splitlines()) > 3
    ):
        time.sleep(0.01)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code
    # An immediate acknowledgement of the signal, then one closing line with the fix.
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"{name}: finishing this step")
    assert lines[-1].startswith("rnnkit: stopped at step ")
    assert lines[-1].endswith(f"rnnkit train lm --resume {run_dir}")
    assert (run_dir / "checkpoint.safetensors").exists()


def _subparsers(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                for inner, subsub in _subparsers(sub):
                    yield f"{name} {inner}", subsub


def test_every_flag_of_every_command_has_help():
    """`rnnkit <command> --help` explains every flag and argument (classify's --max-len,
    the --weights of eight commands and five more had none)."""
    import argparse

    from rnnkit.cli.main import build_parser

    missing = [
        f"rnnkit {name} {(action.option_strings or [action.dest])[-1]}"
        for name, sub in _subparsers(build_parser())
        for action in sub._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]
    commands = [name for name, _ in _subparsers(build_parser())]
    assert "train classify" in commands and len(commands) > 8
    assert missing == []


def test_every_command_has_json():
    """Every command prints results, so every one takes --json (inspect activations and
    demo had none)."""
    import argparse

    from rnnkit.cli.main import build_parser

    leaves = [
        name
        for name, sub in _subparsers(build_parser())
        if not any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
    ]
    without = [
        name
        for name, sub in _subparsers(build_parser())
        if name in leaves and "--json" not in {o for a in sub._actions for o in a.option_strings}
    ]
    assert len(leaves) > 10 and without == []
