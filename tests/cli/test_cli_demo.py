"""`rnnkit demo`: trains the issue's char-level LSTM and writes samples.

The plays corpus itself is tested in tests/data/test_shakespeare_source.py; here a
short play stands in for it so the command runs in seconds.
"""

from __future__ import annotations

import json

from rnnkit.cli.main import main
from rnnkit.models.lm_recipes import LM_TIERS
from rnnkit.train.precision import auto_precision

PLAY = (
    "ROMEO:\nBut soft, what light through yonder window breaks?\n\n"
    "JULIET:\nO Romeo, Romeo, wherefore art thou Romeo?\n\n"
) * 120


def run_demo(tmp_path, monkeypatch, capsys, *extra: str) -> tuple[dict, str]:
    monkeypatch.setattr("rnnkit.cli.demo.shakespeare_plays", lambda: PLAY)
    out = tmp_path / "demo"
    args = ["demo", "--minutes", "0.005", "--out", str(out), "--samples", "2", "--length", "30"]
    assert main([*args, *extra]) == 0
    return json.loads((out / "config.json").read_text()), capsys.readouterr().out


def test_demo_trains_a_char_lstm_and_prints_samples(tmp_path, monkeypatch, capsys) -> None:
    config, printed = run_demo(tmp_path, monkeypatch, capsys)
    precision = auto_precision("cpu")
    assert config["model"]["cell"] == "lstm"
    assert config["data"]["level"] == "char"
    assert config["model"]["hidden_size"] == LM_TIERS.pick(0.005, precision).model["hidden_size"]
    assert config["train"]["precision"] == precision
    assert "character-level LSTM" in printed
    assert printed.count("--- sample ") == 2
    assert "rnnkit generate" in printed


def test_demo_cell_can_be_chosen(tmp_path, monkeypatch, capsys) -> None:
    config, printed = run_demo(tmp_path, monkeypatch, capsys, "--cell", "gru")
    assert config["model"]["cell"] == "gru"
    assert "character-level GRU" in printed


def test_demo_json_prints_one_object(tmp_path, monkeypatch, capsys) -> None:
    config, printed = run_demo(tmp_path, monkeypatch, capsys, "--json")
    out = json.loads(printed)  # the whole of stdout: one JSON object, nothing else
    assert out["run"] == str(tmp_path / "demo") and out["stopped_early"] is False
    assert out["steps"] >= 1 and out["best_val_loss"] > 0
    assert len(out["samples"]) == 2 and all(isinstance(s, str) for s in out["samples"])
    assert config["model"]["cell"] == "lstm"
