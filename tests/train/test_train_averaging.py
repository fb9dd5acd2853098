"""Weight averaging (ema_decay): the recurrence, what is evaluated and saved, resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from train_toys import SequenceRegressionTask

from rnnkit.errors import CheckpointError, ConfigError
from rnnkit.train import TrainConfig, Trainer
from rnnkit.train.averaging import WeightAverage

CONFIG = TrainConfig(
    max_steps=30, lr=5e-3, eval_every=10, checkpoint_every=10, progress=False, ema_decay=0.9
)


@pytest.fixture(autouse=True)
def _no_loss_plot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rnnkit.train.trainer.write_loss_plot", lambda *args: False)


def test_average_follows_the_recurrence_of_a_plain_loop():
    model = torch.nn.Linear(3, 2)
    average = WeightAverage(model, decay=0.8)
    expected = [p.detach().clone() for p in model.parameters()]
    torch.manual_seed(0)
    for step in range(1, 40):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        average.update(step)
        beta = min(0.8, (1 + step) / (10 + step))
        expected = [
            beta * e + (1 - beta) * p.detach()
            for e, p in zip(expected, model.parameters(), strict=True)
        ]
    for got, want in zip(average.average, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    assert average.beta(1) == pytest.approx(2 / 11) and average.beta(1000) == 0.8


def test_applied_swaps_the_average_in_and_restores_the_weights_even_on_error():
    model = torch.nn.Linear(3, 2)
    average = WeightAverage(model, decay=0.5)
    trained = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for a in average.average:
            a.fill_(7.0)
    with pytest.raises(RuntimeError), average.applied():
        assert all(bool((p == 7.0).all()) for p in model.parameters())
        raise RuntimeError("evaluation failed")
    assert all(torch.equal(p, t) for p, t in zip(model.parameters(), trained, strict=True))


def test_trainer_evaluates_and_saves_the_average_and_trains_the_weights(tmp_path: Path):
    task = SequenceRegressionTask(dropout=0.0)
    calls = []
    evaluate = task.evaluate

    def spying_evaluate():
        calls.append({k: v.clone() for k, v in task.model.state_dict().items()})
        return evaluate()

    task.evaluate = spying_evaluate
    trainer = Trainer(task, CONFIG, tmp_path)
    trainer.fit()
    average = dict(zip(trainer.average.names, trainer.average.average, strict=True))
    last = load_file(tmp_path / "last.safetensors")
    for name, tensor in average.items():
        assert torch.equal(last[name], tensor)  # last = the average after step 30
        assert torch.equal(calls[-1][name], tensor)  # and that is what was evaluated
        assert not torch.equal(task.model.state_dict()[name], tensor)  # training weights
    checkpoint = load_file(tmp_path / "checkpoint.safetensors")
    for name, tensor in task.model.state_dict().items():
        assert torch.equal(checkpoint[f"model.{name}"], tensor)
        assert torch.equal(checkpoint[f"ema.{name}"], average[name])
    best = load_file(tmp_path / "best.safetensors")
    evaluated_at_best = calls[trainer.state.best_step // 10 - 1]  # evaluations every 10
    assert all(torch.equal(best[n], evaluated_at_best[n]) for n in best)


def test_resume_with_averaging_is_exact(tmp_path: Path):
    # A constant schedule, so that a 20-step run extended to 30 must match a 30-step one.
    config = TrainConfig(**{**CONFIG.to_dict(), "schedule": "constant"})
    Trainer(SequenceRegressionTask(), config, tmp_path / "whole").fit()
    short = TrainConfig(**{**config.to_dict(), "max_steps": 20})
    Trainer(SequenceRegressionTask(), short, tmp_path / "split").fit()
    Trainer(SequenceRegressionTask(model_seed=5), config, tmp_path / "split", resume=True).fit()
    for name in ("last.safetensors", "best.safetensors", "checkpoint.safetensors"):
        a = load_file(tmp_path / "whole" / name)
        b = load_file(tmp_path / "split" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


@pytest.mark.parametrize(
    ("first", "then", "message"), [(0.9, 0.0, "ema_decay=0"), (0.0, 0.9, "without")]
)
def test_resuming_with_another_averaging_setting_is_refused(tmp_path: Path, first, then, message):
    Trainer(
        SequenceRegressionTask(), TrainConfig(**{**CONFIG.to_dict(), "ema_decay": first}), tmp_path
    ).fit()
    config = TrainConfig(**{**CONFIG.to_dict(), "ema_decay": then, "max_steps": 40})
    with pytest.raises(CheckpointError, match=message):
        Trainer(SequenceRegressionTask(), config, tmp_path, resume=True)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, "0.9", True, float("nan")])
def test_bad_ema_decay_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="ema_decay"):
        TrainConfig(max_steps=1, ema_decay=bad)
