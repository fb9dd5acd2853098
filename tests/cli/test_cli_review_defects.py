"""Regression tests for the language-model defects found on review (the run-layer issue):
each failed before its fix."""

from __future__ import annotations

import io
import json
import shlex

import pytest
from cli_helpers import SMALL, run_cli

from rnnkit.cli.main import main

TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 30


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text with space") / "cats.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def word_run(tmp_path_factory, text_file):
    run_dir = tmp_path_factory.mktemp("runs") / "word run"
    args = ["train", "lm", text_file, "--out", run_dir, "--steps", "60", "--level", "word"]
    assert main([str(a) for a in [*args, "--window", "3", *SMALL]]) == 0
    return run_dir


@pytest.fixture(scope="module")
def char_run(tmp_path_factory, text_file):
    run_dir = tmp_path_factory.mktemp("runs") / "char"
    assert (
        main(
            [str(a) for a in ["train", "lm", text_file, "--out", run_dir, "--steps", "60", *SMALL]]
        )
        == 0
    )
    return run_dir


@pytest.mark.parametrize("device", ["foo", "cuda:7"])
def test_1_bad_devices_are_one_line_in_every_command(
    char_run, word_run, text_file, capsys, device, monkeypatch
):
    monkeypatch.setattr("sys.stdin", io.StringIO("the cat sat\n"))
    for args in (
        ["generate", char_run, "--length", "5"],
        ["evaluate", char_run, text_file],
        ["complete", word_run],
        ["predict", char_run, "the"],
    ):
        code, _, err = run_cli([*args, "--device", device], capsys)
        assert code == 2 and err.count("\n") == 1, (args, err)
        assert err.startswith("rnnkit: error: --device "), err


def test_4_resume_names_the_flags_it_cannot_honour(char_run, capsys):
    for flag, value in (
        ("--cell", "lstm"),
        ("--level", "word"),
        ("--hidden", "32"),
        ("--lr", "0.5"),
    ):
        code, _, err = run_cli(
            ["train", "lm", "--resume", char_run, "--steps", "70", flag, value], capsys
        )
        assert code == 2 and err.count("\n") == 1 and err.startswith(f"rnnkit: error: {flag} "), err


def test_5_temperature_zero_is_greedy_in_generate_and_complete(
    char_run, word_run, capsys, monkeypatch
):
    _, greedy, _ = run_cli(
        ["generate", char_run, "--prime", "the ", "--length", "40", "--greedy"], capsys
    )
    code, zero, _ = run_cli(
        ["generate", char_run, "--prime", "the ", "--length", "40", "--temperature", "0"], capsys
    )
    assert code == 0 and zero == greedy
    answers = []
    for extra in ([], ["--temperature", "0"]):
        monkeypatch.setattr("sys.stdin", io.StringIO("the cat sat\n"))
        code, out, _ = run_cli(["complete", word_run, "--words", "12", *extra], capsys)
        assert code == 0
        answers.append(out)
    assert answers[0] == answers[1]


def test_10_without_validation_the_summary_says_training_loss(text_file, tmp_path, capsys):
    code, out, _ = run_cli(
        [
            "train",
            "lm",
            text_file,
            "--out",
            tmp_path / "r",
            "--steps",
            "5",
            "--val-fraction",
            "0",
            *SMALL,
        ],
        capsys,
    )
    assert code == 0 and "best loss on the training data (nothing was held out" in out
    assert "best validation loss" not in out
    assert "stopped by --steps;" in out  # the flag, not the field max_steps


def test_11_stop_escapes_hints_and_quoting(char_run, word_run, text_file, tmp_path, capsys):
    base = ["generate", char_run, "--prime", "the", "--length", "200", "--greedy", "--json"]
    _, out, _ = run_cli(base, capsys)
    whole = json.loads(out)["sample"]
    stop = whole[4:8]  # typed on the shell with escapes: a space as \u0020, a newline as \n
    typed = stop.replace("\\", "\\\\").replace(" ", "\\u0020").replace("\n", "\\n")
    assert typed != stop  # the escapes are really read
    code, out, _ = run_cli([*base, "--stop", typed], capsys)
    assert code == 0 and json.loads(out)["sample"] == whole[: whole.index(stop) + len(stop)]
    run_dir = tmp_path / "a run"
    args = [
        "train",
        "lm",
        text_file,
        "--out",
        run_dir,
        "--steps",
        "5",
        "--level",
        "word",
        "--window",
        "3",
    ]
    code, out, _ = run_cli([*args, *SMALL], capsys)
    assert code == 0
    assert f"next: {shlex.join(['rnnkit', 'complete', str(run_dir)])}" in out  # not generate
    assert f"run: {shlex.quote(str(run_dir))}" in out


def test_11_demo_checks_its_flags_before_training(tmp_path, capsys, monkeypatch):
    trained = []
    monkeypatch.setattr("rnnkit.cli.demo.train_run", lambda *a, **k: trained.append(1))
    for flag in ("--samples", "--length"):
        code, _, err = run_cli(["demo", "--out", tmp_path / "demo", flag, "0"], capsys)
        assert code == 2 and err.startswith(f"rnnkit: error: {flag} must be"), err
    assert not trained and not (tmp_path / "demo").exists()


def test_11_demo_validates_on_a_capped_part_of_the_plays(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("rnnkit.cli.demo.shakespeare_plays", lambda: TEXT * 4)
    out = tmp_path / "demo"
    assert main(["demo", "--minutes", "0.002", "--out", str(out), "--length", "10"]) == 0
    assert json.loads((out / "config.json").read_text())["data"]["max_eval_tokens"] == 100_000


def test_11_resume_with_a_budget_already_spent_is_refused(char_run, capsys):
    code, _, err = run_cli(["train", "lm", "--resume", char_run, "--steps", "60"], capsys)
    assert code == 2 and "--steps 60 is not above the 60 steps" in err


@pytest.mark.parametrize(
    "args, flag",
    [
        (["generate", "RUN", "--length", "0"], "--length"),
        (["generate", "RUN", "--samples", "0"], "--samples"),
        (["generate", "RUN", "--top-p", "1.5"], "--top-p"),
        (["train", "lm", "TEXT", "--minutes", "-1"], "--minutes"),
        (["train", "lm", "TEXT", "--max-vocab", "1"], "--max-vocab"),
        (["train", "lm", "TEXT", "--dropout", "1.2"], "--dropout"),
        (["train", "lm", "TEXT", "--clip-norm", "0"], "--clip-norm"),
    ],
)
def test_12_messages_name_the_flags_typed(char_run, text_file, tmp_path, capsys, args, flag):
    args = [char_run if a == "RUN" else text_file if a == "TEXT" else a for a in args]
    if args[0] == "train":
        args += ["--out", tmp_path / "x", *SMALL]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"rnnkit: error: {flag} "), err
    assert "Config." not in err and "max_new_tokens" not in err


def test_the_next_command_fits_the_model(tmp_path, text_file, capsys):
    # A character model with a fixed window is still read by `generate`: `complete`
    # takes words and refuses it.
    run_dir = tmp_path / "char-window"
    args = ["train", "lm", text_file, "--out", run_dir, "--steps", "2", "--window", "5", *SMALL]
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and f"next: rnnkit generate {run_dir}" in out, out
    assert "rnnkit complete" not in out


def test_a_run_trained_on_standard_input_asks_for_its_data_on_resume(
    tmp_path, text_file, capsys, monkeypatch
):
    piped = io.TextIOWrapper(io.BytesIO(text_file.read_bytes()))
    monkeypatch.setattr("sys.stdin", piped)
    run_dir = tmp_path / "from-stdin"
    code, _, _ = run_cli(["train", "lm", "-", "--out", run_dir, "--steps", "2", *SMALL], capsys)
    assert code == 0
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"")))
    code, _, err = run_cli(["train", "lm", "--resume", run_dir, "--steps", "4"], capsys)
    assert code == 2 and err.count("\n") == 1 and "trained on standard input" in err, err
    # Given the same data again, it continues.
    code, out, _ = run_cli(
        ["train", "lm", "--resume", run_dir, str(text_file), "--steps", "4"], capsys
    )
    assert code == 0 and "trained 4 steps" in out, out
