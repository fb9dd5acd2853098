"""The training loop: fitting, budgets, early stopping, divergence, logs and plots."""

from __future__ import annotations

import csv
import math
import random
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from train_toys import LinearTask, SequenceRegressionTask

from rnnkit.errors import ConfigError, DataError
from rnnkit.train import StepOutput, TrainConfig, Trainer, TrainingDiverged


def quiet(**changes) -> TrainConfig:
    return TrainConfig(**{"progress": False, **changes})


def read_rows(run_dir: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    return list(reader.fieldnames or []), rows


def test_a_tiny_lstm_fits_a_tiny_regression(tmp_path: Path) -> None:
    task = SequenceRegressionTask(dropout=0.0, noise=0.0)
    config = quiet(lr=1e-2, max_steps=200, log_every=10, eval_every=100)
    result = Trainer(task, config, tmp_path).fit()
    _, rows = read_rows(tmp_path)
    train = [float(r["loss"]) for r in rows if r["split"] == "train"]
    assert train[0] / train[-1] > 10
    assert result.best_val_loss is not None
    assert result.best_val_loss < train[0] / 10
    assert (result.steps, result.stopped_because) == (200, "max_steps")
    assert result.epochs == pytest.approx(200 / 28)


def test_metrics_csv_columns_and_rows(tmp_path: Path) -> None:
    config = quiet(max_steps=20, log_every=5, eval_every=10)
    Trainer(SequenceRegressionTask(), config, tmp_path).fit()
    columns, rows = read_rows(tmp_path)
    assert columns == [
        "step", "epoch", "elapsed_s", "split", "loss",
        "rmse", "mae", "val_mae",  # display(), batch extras, evaluate() extras
        "lr", "time_steps_per_s",  # the task's unit
    ]  # fmt: skip
    assert [(r["step"], r["split"]) for r in rows] == [
        ("5", "train"), ("10", "train"), ("10", "val"),
        ("15", "train"), ("20", "train"), ("20", "val"),
    ]  # fmt: skip
    for row in rows:
        assert float(row["rmse"]) == pytest.approx(math.sqrt(float(row["loss"])))
        assert float(row["epoch"]) == pytest.approx(int(row["step"]) / 28, abs=1e-4)
        assert float(row["lr"]) > 0
        if row["split"] == "train":
            assert float(row["time_steps_per_s"]) > 0
            assert float(row["mae"]) > 0 and row["val_mae"] == ""
        else:
            assert row["time_steps_per_s"] == "" and row["mae"] == ""
            assert float(row["val_mae"]) > 0
    elapsed = [float(r["elapsed_s"]) for r in rows]
    assert elapsed == sorted(elapsed)


def test_early_stopping_after_patience_evaluations(tmp_path: Path) -> None:
    task = LinearTask(val_losses=[1.0, 0.9, 0.95, 0.96, 0.97, 0.5])
    config = quiet(max_steps=100, eval_every=2, early_stopping=3)
    result = Trainer(task, config, tmp_path).fit()
    # Evaluations at steps 6, 8 and 10 do not beat 0.9 (step 4): patience 3 is spent.
    assert (result.steps, result.stopped_because) == (10, "early_stopping")
    assert (result.best_val_loss, result.last_val_loss) == (0.9, 0.97)
    assert task.evaluations == 5  # no extra evaluation at the end: step 10 had one
    _, rows = read_rows(tmp_path)
    assert [float(r["loss"]) for r in rows if r["split"] == "val"] == [1.0, 0.9, 0.95, 0.96, 0.97]


class ScriptedAccuracy(LinearTask):
    """LinearTask whose evaluations also give scripted accuracies."""

    def __init__(self, val_losses: list[float], accuracies: list[float]) -> None:
        super().__init__(val_losses=val_losses)
        self.accuracies = accuracies

    def evaluate(self) -> dict[str, float]:
        return super().evaluate() | {"accuracy": self.accuracies[self.evaluations - 1]}


def test_monitor_accuracy_keeps_the_weights_of_the_highest_accuracy(tmp_path: Path) -> None:
    task = ScriptedAccuracy([1.0, 0.9, 0.95, 0.96, 0.97], [0.5, 0.6, 0.8, 0.7, 0.8])
    config = quiet(max_steps=100, eval_every=2, early_stopping=2, monitor="accuracy")
    result = Trainer(task, config, tmp_path).fit()
    # The best is step 6 (accuracy 0.8), not step 4's lowest loss; step 8 is worse and
    # step 10 only ties, so patience 2 ends the run there.
    assert (result.steps, result.stopped_because) == (10, "early_stopping")
    assert (result.best_val_loss, result.last_val_loss) == (0.95, 0.97)
    best = safetensors.torch.load_file(str(tmp_path / "best.safetensors"))
    for name, tensor in task.snapshots[3].items():
        assert torch.equal(best[name], tensor)
        assert not torch.equal(best[name], task.snapshots[2][name])


def test_monitor_names_a_figure_the_evaluation_must_give(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="monitor must be one of loss, accuracy"):
        quiet(max_steps=2, monitor="f1")
    task = LinearTask(val_losses=[1.0])
    with pytest.raises(TypeError, match="not 'accuracy'"):
        Trainer(task, quiet(max_steps=2, eval_every=2, monitor="accuracy"), tmp_path).fit()


class RandomEvaluation(SequenceRegressionTask):
    """Evaluation that draws from every global RNG (e.g. sampling validation windows)."""

    def evaluate(self) -> dict[str, float]:
        torch.rand(5)
        np.random.standard_normal(5)
        random.random()
        return super().evaluate()


def test_evaluation_does_not_change_the_random_numbers_training_sees(tmp_path: Path) -> None:
    # Dropout (torch), input noise (numpy) and target jitter (random) draw in training.
    config = quiet(max_steps=30, eval_every=5)
    plain, drawing = SequenceRegressionTask(), RandomEvaluation()
    Trainer(plain, config, tmp_path / "plain").fit()
    Trainer(drawing, config, tmp_path / "drawing").fit()
    for (name, a), b in zip(
        plain.model.state_dict().items(), drawing.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_epoch_and_minute_budgets(tmp_path: Path) -> None:
    result = Trainer(LinearTask(), quiet(max_epochs=1.5), tmp_path / "epochs").fit()
    assert (result.steps, result.stopped_because) == (8, "max_epochs")  # ceil(1.5 * 5)
    assert result.epochs == pytest.approx(1.6)
    config = quiet(max_minutes=0.002, max_steps=10**9, eval_every=10**6)
    result = Trainer(LinearTask(), config, tmp_path / "minutes").fit()
    assert result.stopped_because == "max_minutes"
    assert result.elapsed_s >= 0.12
    assert result.steps > 0
    assert result.last_val_loss is not None  # the run still evaluates at the end


def test_time_budget_decays_the_lr_with_the_clock(tmp_path: Path) -> None:
    config = quiet(max_minutes=0.003, schedule="linear", min_lr_ratio=0.0, lr=1e-3, log_every=1)
    Trainer(LinearTask(), config, tmp_path).fit()
    _, rows = read_rows(tmp_path)
    lrs = [float(r["lr"]) for r in rows if r["split"] == "train"]
    assert lrs == sorted(lrs, reverse=True)
    assert lrs[0] > 0.9e-3 and lrs[-1] < 0.2e-3


@pytest.mark.parametrize("max_bad_steps, calls", [(0, 7), (3, 10)])
def test_nan_loss_stops_with_advice_and_clean_weights(
    tmp_path: Path, max_bad_steps: int, calls: int
) -> None:
    """NaN from step 7 on: skipped up to max_bad_steps times in a row, then the run stops."""
    task = LinearTask(nan_at=7)
    config = quiet(max_steps=20, checkpoint_every=5, eval_every=5, max_bad_steps=max_bad_steps)
    with pytest.raises(TrainingDiverged) as info:
        Trainer(task, config, tmp_path).fit()
    assert task.steps == calls  # the batches tried: 6 good ones, then the bad ones
    message = str(info.value)
    assert "nan at step 7" in message
    assert (f"{calls - 6} steps in a row" in message) == (max_bad_steps > 0)
    assert "lower the learning rate" in message and "clip" in message
    assert "checkpoint of step 5" in message
    assert all(torch.isfinite(p).all() for p in task.model.parameters())


def test_loss_plot_is_written(tmp_path: Path) -> None:
    Trainer(LinearTask(), quiet(max_steps=6, eval_every=3, log_every=1), tmp_path).fit()
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_matplotlib_is_skipped_silently(tmp_path: Path, monkeypatch) -> None:
    for name in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)
    result = Trainer(LinearTask(), quiet(max_steps=4, eval_every=2), tmp_path).fit()
    assert result.steps == 4
    assert not (tmp_path / "loss.png").exists()


def test_missing_tensorboard_is_a_config_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ConfigError, match=r"pip install 'rnnkit\[tensorboard\]'") as caught:
        Trainer(LinearTask(), quiet(max_steps=2, tensorboard=True), tmp_path)
    assert caught.value.field == "tensorboard"  # the CLI names --tensorboard


def test_progress_bar_counts_steps(tmp_path: Path, capsys) -> None:
    Trainer(LinearTask(), TrainConfig(max_steps=12, log_every=3), tmp_path).fit()
    err = capsys.readouterr().err
    assert "12/12" in err
    assert "loss=" in err
    assert "examples/s=" in err  # LinearTask declares no unit
    assert "tok" not in err


class FakeClock:
    """Stands in for the trainer's `time` module: time moves only when a task says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


class CountingTask(LinearTask):
    """LinearTask in a declared unit: 100 tokens per step, each step taking 0.5 s."""

    unit = "tokens"

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    def training_loss(self, batch):
        loss, _, extras = super().training_loss(batch)
        self.clock.now += 0.5
        return StepOutput(loss, count=100, extras=extras)


def test_throughput_is_counted_in_the_tasks_unit(tmp_path: Path, monkeypatch, capsys) -> None:
    clock = FakeClock()
    monkeypatch.setattr("rnnkit.train.trainer.time", clock)
    Trainer(CountingTask(clock), TrainConfig(max_steps=4, log_every=2), tmp_path).fit()
    columns, rows = read_rows(tmp_path)
    assert columns[-2:] == ["lr", "tokens_per_s"]
    train = [r for r in rows if r["split"] == "train"]
    assert [r["tokens_per_s"] for r in train] == ["200.0", "200.0"]  # 2 x 100 in 2 x 0.5 s
    assert "tokens/s=200" in capsys.readouterr().err


def test_a_unit_that_cannot_name_a_column_is_rejected(tmp_path: Path) -> None:
    task = LinearTask()
    task.unit = "tok/s"  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="LinearTask.unit must be .* got 'tok/s'"):
        Trainer(task, quiet(max_steps=1), tmp_path)


def test_task_without_the_protocol_is_rejected(tmp_path: Path) -> None:
    class NotATask:
        model = torch.nn.Linear(1, 1)

        def next_batch(self):
            return None

    with pytest.raises(TypeError, match="lacks training_loss, evaluate, steps_per_epoch"):
        Trainer(NotATask(), quiet(max_steps=1), tmp_path)  # type: ignore[arg-type]


def test_task_without_batches_is_a_data_error(tmp_path: Path) -> None:
    task = LinearTask()
    task.steps_per_epoch = lambda: 0  # type: ignore[method-assign]
    with pytest.raises(DataError, match="no batch"):
        Trainer(task, quiet(max_steps=1), tmp_path)


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        pytest.param(
            "cuda",
            "has no usable CUDA",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is usable here"),
        ),
        pytest.param(
            "cuda:7",
            "CUDA",
            marks=pytest.mark.skipif(torch.cuda.device_count() > 7, reason="cuda:7 exists"),
        ),
        ("xla", "not usable here"),
    ],
)
def test_unusable_device_is_a_config_error_naming_the_field(
    tmp_path: Path, device: str, expected: str
) -> None:
    config = quiet(max_steps=1, device=device)  # parses: it could exist elsewhere
    with pytest.raises(ConfigError, match=expected) as info:
        Trainer(LinearTask(), config, tmp_path)
    assert info.value.field == "device"
    assert not (tmp_path / "train_config.json").exists()  # refused before writing


class FakeSummaryWriter:
    """Records what the trainer writes, standing in for torch's SummaryWriter."""

    made: list[FakeSummaryWriter] = []

    def __init__(self, log_dir: str, purge_step: int | None = None) -> None:
        self.log_dir, self.purge_step = log_dir, purge_step
        self.scalars: list[tuple[str, float, int]] = []
        self.closed = False
        FakeSummaryWriter.made.append(self)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, value, step))

    def close(self) -> None:
        self.closed = True


def test_tensorboard_scalars_and_purge_on_resume(tmp_path: Path, monkeypatch) -> None:
    module = types.ModuleType("torch.utils.tensorboard")
    module.SummaryWriter = FakeSummaryWriter  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", module)
    FakeSummaryWriter.made.clear()
    config = quiet(max_steps=4, log_every=2, eval_every=4, tensorboard=True)
    Trainer(SequenceRegressionTask(), config, tmp_path).fit()
    writer = FakeSummaryWriter.made[0]
    assert writer.log_dir == str(tmp_path / "tensorboard")
    assert writer.purge_step is None and writer.closed
    tags = {(tag, step) for tag, _, step in writer.scalars}
    assert {("train/loss", 2), ("train/rmse", 4), ("train/lr", 4), ("val/loss", 4)} <= tags
    assert ("val/val_mae", 4) in tags
    longer = quiet(max_steps=6, log_every=2, eval_every=4, tensorboard=True)
    Trainer(SequenceRegressionTask(), longer, tmp_path, resume=True).fit()
    assert FakeSummaryWriter.made[1].purge_step == 5  # drops events logged after step 4


def test_a_few_nan_steps_are_skipped_and_training_goes_on(tmp_path: Path, capsys) -> None:
    """Bad steps leave the weights alone and do not count as steps; the good ones are
    exactly the updates of a run that never saw the bad batches (a fixed batch here)."""
    task = LinearTask(nan_calls=(3, 4, 9))
    result = Trainer(task, quiet(max_steps=10, eval_every=100), tmp_path / "a").fit()
    clean = LinearTask()
    Trainer(clean, quiet(max_steps=10, eval_every=100), tmp_path / "b").fit()
    assert result.steps == 10 and task.steps == 13
    for name, value in task.model.state_dict().items():
        assert torch.equal(value, clean.model.state_dict()[name])
    warnings = [line for line in capsys.readouterr().err.splitlines() if "skipped" in line]
    assert len(warnings) == 3
    assert warnings[1].startswith("warning: the training loss is nan at step 3; step skipped")
    assert "(2 in a row; training stops after 10, see --max-bad-steps)" in warnings[1]


def test_an_infinite_gradient_is_skipped_like_a_nan_loss(tmp_path: Path, capsys) -> None:
    task = LinearTask()
    calls = {"n": 0}

    def poison(grad: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        return grad * float("inf") if calls["n"] == 2 else grad

    task.model.weight.register_hook(poison)
    before = {}
    for clip in ({}, {"clip_norm": None}, {"clip_norm": None, "clip_value": 1.0}):
        calls["n"] = 0
        Trainer(task, quiet(max_steps=3, eval_every=100, **clip), tmp_path / str(len(before))).fit()
        before[len(before)] = True
        assert all(torch.isfinite(p).all() for p in task.model.parameters())
    err = capsys.readouterr().err
    assert err.count("the gradient norm is inf at step 2; step skipped") == 3
