"""The next-word tutorial on the real fable: 3 words in, the next word out."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest

from rnnkit.cli.main import main
from rnnkit.data import WordTokenizer
from rnnkit.runs import load_run
from rnnkit.tasks.lm_text import TextModel

AESOP = Path(__file__).resolve().parents[3] / "shared" / "data" / "aesop-bell-the-cat.txt"
pytestmark = pytest.mark.skipif(not AESOP.exists(), reason=f"{AESOP} is missing")


def _train(run_dir, *extra):
    code = main(
        [
            "train",
            "lm",
            str(AESOP),
            "--level",
            "word",
            "--val-fraction",
            "0",
            "--cell",
            "lstm",  # the tutorial's cell
            "--layers",
            "2",
            "--hidden",
            "512",
            "--embedding",
            "64",
            "--lr",
            "3e-3",
            "--no-progress",
            "--out",
            str(run_dir),
            *extra,
        ]
    )
    assert code == 0
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    final = dict(zip(rows[0].split(","), rows[-1].split(","), strict=True))
    assert final["split"] == "val"  # the end-of-run evaluation (of the training text)
    return final


def _window_ceiling(tokens: list[str], n: int) -> float:
    """Best possible accuracy from n-word windows: a context that the fable follows
    with different words can only be right for one of them."""
    seen: dict[tuple, Counter] = {}
    for i in range(len(tokens) - n):
        seen.setdefault(tuple(tokens[i : i + n]), Counter())[tokens[i + n]] += 1
    best = sum(c.most_common(1)[0][1] for c in seen.values())
    return best / (len(tokens) - n)


@pytest.fixture(scope="module")
def aesop_run(tmp_path_factory):
    # The tutorial's model (2 x 512 LSTM) on all 201 windows, full batch; 300 steps
    # take ~15 s on the 2-core CI CPU (timing in docs/language-models.md).
    run_dir = tmp_path_factory.mktemp("aesop") / "window"
    final = _train(
        run_dir, "--window", "3", "--batch-size", "256", "--steps", "300", "--eval-every", "100"
    )
    return run_dir, final


def test_window_model_reaches_the_best_possible_training_accuracy(aesop_run):
    run_dir, final = aesop_run
    tokens = WordTokenizer().tokenize(AESOP.read_text())
    ceiling = _window_ceiling(tokens, 3)
    assert ceiling == pytest.approx(199 / 201)  # ('the','cat','.') and ('up','and','said')
    assert float(final["train_accuracy"]) == pytest.approx(ceiling)
    assert TextModel(load_run(run_dir)).evaluate(AESOP.read_text())["accuracy"] == pytest.approx(
        ceiling
    )


def test_stream_model_reaches_100_percent_training_accuracy(tmp_path):
    """With the state carried through the whole fable every next word is determined."""
    final = _train(
        tmp_path / "stream",
        "--batch-size",
        "1",
        "--seq-len",
        "50",
        "--steps",
        "300",
        "--eval-every",
        "100",
    )
    assert float(final["train_accuracy"]) == 1.0


def test_complete_continues_three_words_with_32_more(aesop_run, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("had a general\nhad a kat\nhad a\n\n"))
    # Read from a pipe, the bad lines are errors on stderr (the good one is completed)
    # and the exit status says that not every line was.
    assert main(["complete", str(aesop_run[0])]) == 2
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    errors = captured.err.splitlines()
    assert len(lines) == 1 and len(errors) == 2
    words = WordTokenizer().tokenize(lines[0])
    assert words[:3] == ["had", "a", "general"] and len(words) == 3 + 32
    # A memorised model continues along the text: every 3 words and the word after
    # them occur together in the fable (where a context occurs twice with different
    # next words, either one is right).
    text_tokens = WordTokenizer().tokenize(AESOP.read_text())
    fourgrams = {tuple(text_tokens[i : i + 4]) for i in range(len(text_tokens) - 3)}
    assert all(tuple(words[i - 3 : i + 1]) in fourgrams for i in range(3, len(words)))
    assert errors[0].startswith("rnnkit: error: line 2: ") and "'kat'" in errors[0]
    assert "never saw" in errors[0]
    assert errors[1].startswith("rnnkit: error: line 3: ") and "exactly 3 words" in errors[1]


def test_complete_refuses_a_character_model(tmp_path, capsys):
    run_dir = tmp_path / "char"
    text = tmp_path / "t.txt"
    text.write_text("abc abd abe " * 60)
    assert (
        main(
            [
                "train",
                "lm",
                str(text),
                "--out",
                str(run_dir),
                "--steps",
                "2",
                "--layers",
                "1",
                "--hidden",
                "8",
                "--batch-size",
                "2",
                "--seq-len",
                "8",
                "--no-progress",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["complete", str(run_dir)]) == 2
    assert "--level word" in capsys.readouterr().err
    assert json.loads((run_dir / "config.json").read_text())["data"]["level"] == "char"
