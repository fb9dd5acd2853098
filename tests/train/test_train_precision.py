"""bf16 mixed precision: autocast in training steps only, fp32 weights, exact resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_toys import SequenceRegressionTask

from rnnkit.errors import ConfigError
from rnnkit.train import TrainConfig, Trainer
from rnnkit.train.precision import auto_precision, autocast_for, native_bf16


class WatchedTask(SequenceRegressionTask):
    """Records whether autocast was on in each training step and evaluation, and the
    dtype of the model's output there."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.train_seen: list[tuple[bool, torch.dtype]] = []
        self.eval_seen: list[bool] = []

    def training_loss(self, batch):
        out = super().training_loss(batch)
        with torch.no_grad():
            probe = self.model.head(torch.zeros(1, self.model.head.in_features))
        self.train_seen.append((torch.is_autocast_enabled("cpu"), probe.dtype))
        return out

    def evaluate(self):
        self.eval_seen.append(torch.is_autocast_enabled("cpu"))
        return super().evaluate()


def fit(tmp_path: Path, precision: str, steps: int = 30) -> tuple[WatchedTask, Path]:
    run_dir = tmp_path / precision
    task = WatchedTask()
    config = TrainConfig(
        precision=precision, max_steps=steps, lr=5e-3, eval_every=10, progress=False
    )
    Trainer(task, config, run_dir).fit()
    return task, run_dir


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_autocast_covers_training_steps_only(tmp_path: Path, precision: str) -> None:
    task, _ = fit(tmp_path, precision, steps=10)
    on = precision == "bf16"
    dtype = torch.bfloat16 if on else torch.float32
    assert task.train_seen == [(on, dtype)] * 10
    assert task.eval_seen == [False]  # evaluation is fp32 whatever trained the weights
    assert all(p.dtype == torch.float32 for p in task.model.parameters())


def test_bf16_learns_as_well_as_fp32_but_not_identically(tmp_path: Path) -> None:
    task32, dir32 = fit(tmp_path, "fp32", steps=60)
    task16, dir16 = fit(tmp_path, "bf16", steps=60)
    w32 = torch.cat([p.detach().flatten() for p in task32.model.parameters()])
    w16 = torch.cat([p.detach().flatten() for p in task16.model.parameters()])
    assert not torch.equal(w32, w16)  # bf16 really ran
    # ... and stayed within bf16's rounding of the fp32 run after 60 Adam steps.
    assert (w32 - w16).abs().max() < 0.05
    with torch.no_grad():
        v32 = task32.evaluate()["loss"]
        v16 = task16.evaluate()["loss"]
    assert v16 == pytest.approx(v32, rel=0.1)


def test_bf16_run_resumes_exactly(tmp_path: Path) -> None:
    config = TrainConfig(
        precision="bf16",
        max_steps=40,
        lr=5e-3,
        checkpoint_every=10,
        eval_every=10,
        progress=False,
    )
    whole = SequenceRegressionTask()
    Trainer(whole, config, tmp_path / "whole").fit()

    class Kill(BaseException):
        pass

    def kill_at_25(step: int) -> None:
        if step == 25:
            raise Kill

    with pytest.raises(Kill):
        Trainer(SequenceRegressionTask(), config, tmp_path / "cut", on_step_end=kill_at_25).fit()
    resumed = SequenceRegressionTask(model_seed=99)
    Trainer(resumed, config, tmp_path / "cut", resume=True).fit()
    for (name, a), b in zip(
        whole.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_unknown_precision_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="precision must be one of fp32, bf16") as info:
        TrainConfig(max_steps=1, precision="fp16")
    assert info.value.field == "precision"


def test_bf16_on_an_unsupported_device_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="runs on cpu and cuda devices, not 'mps'") as info:
        autocast_for("bf16", torch.device("mps"))
    assert (info.value.field, info.value.problem[-8:]) == ("precision", "use fp32")


def test_auto_precision_follows_the_hardware() -> None:
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert native_bf16(torch.device("cpu")) == native
    assert auto_precision("cpu") == ("bf16" if native else "fp32")
    assert auto_precision("meta") == "fp32"
