"""The LayerNorm cells and recurrent noise from the command line of two tasks."""

from __future__ import annotations

import csv
import json

from cli_helpers import SMALL, run_cli

from rnnkit.cli.main import main

NOISY = ["--recurrent-dropout", "0.2", "--zoneout", "0.1"]


def test_train_lm_with_lnlstm_and_noise(tmp_path, capsys):
    text = tmp_path / "cats.txt"
    text.write_text("the cat sat on the mat. the dog sat on the log. " * 20, encoding="utf-8")
    run = tmp_path / "run"
    args = ["train", "lm", text, "--out", run, "--steps", "12", *SMALL, "--cell", "lnlstm"]
    code, _, err = run_cli([*args, *NOISY], capsys)
    assert code == 0, err
    model = json.loads((run / "config.json").read_text())["model"]
    assert (model["cell"], model["recurrent_dropout"], model["zoneout"]) == ("lnlstm", 0.2, 0.1)
    code, out, err = run_cli(["evaluate", run, text, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["loss"] > 0


def test_train_classify_with_lngru_and_noise(tmp_path, capsys):
    table = tmp_path / "reviews.csv"
    with open(table, "w", newline="", encoding="utf-8") as handle:
        rows = [("a great film", "pos"), ("a dull film", "neg")] * 8
        csv.writer(handle).writerows([("text", "label"), *rows])
    run = tmp_path / "run"
    args = ["train", "classify", table, "--out", run, "--steps", "10", "--no-progress"]
    args += ["--hidden", "8", "--val-fraction", "0", "--cell", "lngru", *NOISY]
    assert main([str(a) for a in args]) == 0
    model = json.loads((run / "config.json").read_text())["model"]
    assert (model["cell"], model["recurrent_dropout"], model["zoneout"]) == ("lngru", 0.2, 0.1)


def test_bad_zoneout_is_one_line(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("abc " * 50, encoding="utf-8")
    code, _, err = run_cli(
        ["train", "lm", text, "--out", tmp_path / "r", *SMALL, "--zoneout", "1"], capsys
    )
    assert code != 0
    assert "--zoneout" in err and len(err.strip().splitlines()) == 1
