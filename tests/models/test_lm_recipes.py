"""Budget-dependent defaults of `rnnkit train lm`."""

from __future__ import annotations

import json

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.models.language_model import LanguageModelConfig
from rnnkit.models.lm_recipes import MIN_LR_RATIO, default_recipe
from rnnkit.train import TrainConfig
from rnnkit.train.optim import build_optimizer
from rnnkit.train.precision import auto_precision


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_default_model_grows_with_the_time_budget(precision):
    budgets = (1, 5, 5.01, 15, 16, 120)
    sizes = [
        default_recipe(m, precision).model["hidden_size"]
        * default_recipe(m, precision).model["num_layers"]
        for m in budgets
    ]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    lrs = [default_recipe(m, precision).lr for m in (3, 10, 30)]
    assert lrs == sorted(lrs, reverse=True)  # bigger networks, gentler steps
    drops = [default_recipe(m, precision).model["dropout"] for m in (3, 10, 30)]
    assert drops == sorted(drops) and drops[0] < drops[-1]  # more regularisation with time
    decays = [default_recipe(m, precision).weight_decay for m in (3, 10, 30)]
    assert decays == sorted(decays) and decays[0] == 0.0
    for minutes in (3, 10, 30, None):
        LanguageModelConfig(vocab_size=65, **default_recipe(minutes, precision).model)


def test_bf16_budgets_train_networks_at_least_as_big():
    # bf16 runs ~3x more characters per second, so every tier can afford more.
    for minutes in (3, 10, 30):
        fp32, bf16 = default_recipe(minutes, "fp32"), default_recipe(minutes, "bf16")
        size = lambda r: r.model["hidden_size"] * r.model["num_layers"]  # noqa: E731
        assert size(bf16) >= size(fp32)
        assert bf16.batch_size >= fp32.batch_size


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
    expected, lr, batch_size, weight_decay = default_recipe(0.01, auto_precision("cpu"))
    assert config["model"]["hidden_size"] == 16  # given
    assert config["data"]["batch_size"] == 2
    assert config["model"]["cell"] == expected["cell"]  # default
    assert config["train"]["lr"] == lr and config["train"]["min_lr_ratio"] == MIN_LR_RATIO
    assert config["train"]["optimizer"] == "adamw"
    assert config["train"]["weight_decay"] == weight_decay
    # --precision auto is resolved when the run starts, so config.json says what ran.
    assert config["train"]["precision"] == auto_precision("cpu")
    assert main([*args[:4], str(tmp_path / "run32"), *args[5:], "--precision", "fp32"]) == 0
    config = json.loads((tmp_path / "run32" / "config.json").read_text())
    assert config["train"]["precision"] == "fp32"


def test_weight_decay_defaults_by_budget_for_adamw_only(tmp_path):
    # The long bf16 budget decays its weights; a step budget inside it trains fast.
    text = tmp_path / "t.txt"
    text.write_text("to be or not to be, that is the question. " * 40)
    tuned = default_recipe(60, "bf16").weight_decay
    assert tuned > 0

    def trained(name, *flags):
        base = ["train", "lm", str(text), "--out", str(tmp_path / name), "--minutes", "60"]
        small = ["--steps", "1", "--hidden", "8", "--layers", "1", "--batch-size", "2"]
        rest = ["--seq-len", "8", "--precision", "bf16", "--no-progress"]
        assert main([*base, *small, *rest, *flags]) == 0
        return json.loads((tmp_path / name / "config.json").read_text())["train"]

    default = trained("default")
    assert (default["optimizer"], default["weight_decay"]) == ("adamw", tuned)
    # Adam's weight decay is an L2 penalty of another scale: not the budget's value.
    assert trained("adam", "--optimizer", "adam")["weight_decay"] == 0.0
    assert trained("given", "--weight-decay", "0.05")["weight_decay"] == 0.05


def test_adamw_without_decay_takes_adams_steps():
    # The budgets without weight decay were measured with Adam; AdamW(0) is the same.
    torch.manual_seed(0)
    start = torch.randn(5, 3)
    grads = [torch.randn(5, 3) for _ in range(4)]
    finals = []
    for name in ("adam", "adamw"):
        w = torch.nn.Parameter(start.clone())
        opt = build_optimizer([w], TrainConfig(optimizer=name, lr=0.01, max_steps=1))
        for g in grads:
            w.grad = g.clone()
            opt.step()
        finals.append(w.detach())
    assert torch.equal(finals[0], finals[1])
    assert not torch.equal(finals[0], start)
