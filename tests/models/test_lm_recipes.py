"""Budget-dependent defaults of `rnnkit train lm`."""

from __future__ import annotations

import json

from rnnkit.cli.main import main
from rnnkit.models.language_model import LanguageModelConfig
from rnnkit.models.lm_recipes import MIN_LR_RATIO, default_model


def test_default_model_grows_with_the_time_budget():
    sizes = [default_model(m)[0]["hidden_size"] for m in (1, 5, 5.01, 15, 16, 120)]
    assert sizes == [256, 256, 256, 256, 512, 512]
    lrs = [default_model(m)[1] for m in (3, 10, 30)]
    assert lrs == sorted(lrs, reverse=True)  # bigger networks, gentler steps
    drops = [default_model(m)[0]["dropout"] for m in (3, 10, 30)]
    assert drops == sorted(drops) and drops[0] == 0 < drops[1]  # more regularisation with time
    for minutes in (3, 10, 30, None):
        LanguageModelConfig(vocab_size=65, **default_model(minutes)[0])  # valid configs


def test_cli_uses_the_defaults_and_explicit_flags_win(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("to be or not to be, that is the question. " * 40)
    run_dir = tmp_path / "run"
    args = [
        "train",
        "lm",
        str(text),
        "--out",
        str(run_dir),
        "--minutes",
        "0.01",
        "--hidden",
        "16",
        "--batch-size",
        "2",
        "--seq-len",
        "8",
        "--no-progress",
    ]
    assert main(args) == 0
    config = json.loads((run_dir / "config.json").read_text())
    expected, lr = default_model(0.01)
    assert config["model"]["hidden_size"] == 16  # given
    assert config["model"]["cell"] == expected["cell"]  # default
    assert config["train"]["lr"] == lr and config["train"]["min_lr_ratio"] == MIN_LR_RATIO
