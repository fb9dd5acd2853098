"""Exact resume: an interrupted and resumed run ends bit-identical to an uninterrupted one.

The toy task uses dropout (torch RNG), numpy's and python's global RNGs, its own
shuffling Generator and a carried LSTM state, so forgetting to restore any of them, the
optimizer state or the partial log window changes the final weights or metrics.csv.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from train_toys import SequenceRegressionTask

from rnnkit.errors import CheckpointError
from rnnkit.train import (
    TrainConfig,
    Trainer,
    TrainingInterrupted,
    atomic_save_safetensors,
    checkpoint_step,
    read_safetensors,
)

# checkpoint_every is not a multiple of log_every, so the checkpoint at 30 falls in the
# middle of a log window; the toy's groups are 7 windows long, so an LSTM state is being
# carried at steps 30 and 37; an epoch is 28 steps, so the reshuffle at step 56 comes
# after the resume.
CONFIG = TrainConfig(
    max_steps=60,
    lr=5e-3,
    warmup_steps=5,
    eval_every=10,
    checkpoint_every=10,
    log_every=4,
    progress=False,
)
TIMING = ("elapsed_s", "time_steps_per_s")


class SimulatedKill(BaseException):
    """Stands for `kill -9`: not an Exception, not a KeyboardInterrupt; nothing catches it."""


@pytest.fixture(autouse=True)
def _no_loss_plot(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rendering loss.png costs ~0.1 s per evaluation and is tested in test_trainer.py.
    monkeypatch.setattr("rnnkit.train.trainer.write_loss_plot", lambda *args: False)


def read_metrics(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def header(run_dir: Path) -> list[str]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return next(csv.reader(handle))


def final_weights(task: SequenceRegressionTask) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in task.model.state_dict().items()}


def uninterrupted(tmp_path: Path, config: TrainConfig) -> tuple[dict, Path]:
    run_dir = tmp_path / "uninterrupted"
    task = SequenceRegressionTask()
    Trainer(task, config, run_dir).fit()
    return final_weights(task), run_dir


def resume(run_dir: Path, config: TrainConfig) -> SequenceRegressionTask:
    # Different model init and data seed for the new process' task: everything that
    # matters must come from the checkpoint.
    task = SequenceRegressionTask(model_seed=99)
    task.rng = np.random.default_rng(7)
    Trainer(task, config, run_dir, resume=True).fit()
    return task


def assert_same_run(
    weights_a: dict,
    dir_a: Path,
    task_b: SequenceRegressionTask,
    dir_b: Path,
    rows: int = 15 + 6,  # 60/4 train rows, 60/10 val rows
):
    weights_b = final_weights(task_b)
    assert weights_a.keys() == weights_b.keys()
    for name in weights_a:
        assert torch.equal(weights_a[name], weights_b[name]), name
    assert header(dir_a) == header(dir_b)
    rows_a, rows_b = read_metrics(dir_a), read_metrics(dir_b)
    assert len(rows_a) == len(rows_b) == rows
    assert rows_a == rows_b
    for name in ("best.safetensors", "last.safetensors"):
        assert (dir_a / name).read_bytes() == (dir_b / name).read_bytes()


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_kill_after_step_37_resumes_from_checkpoint_30_exactly(
    tmp_path: Path, ema_decay: float
) -> None:
    config = TrainConfig(**{**CONFIG.to_dict(), "ema_decay": ema_decay})
    weights_a, dir_a = uninterrupted(tmp_path, config)
    dir_b = tmp_path / "killed"

    def kill_at_37(step: int) -> None:
        if step == 37:
            raise SimulatedKill

    with pytest.raises(SimulatedKill):
        Trainer(SequenceRegressionTask(), config, dir_b, on_step_end=kill_at_37).fit()
    # Rows up to step 36 were written after the checkpoint of step 30; resume drops them.
    steps_logged = [int(r["step"]) for r in read_metrics(dir_b)]
    assert max(steps_logged) == 36
    task_b = resume(dir_b, config)
    assert_same_run(weights_a, dir_a, task_b, dir_b)


def test_max_steps_30_then_resume_to_60_is_exact(tmp_path: Path) -> None:
    # The cosine schedule depends on the budget, so extending it changes the lr; with a
    # constant schedule (after warm-up) the two runs must agree bit for bit.
    config = TrainConfig(**{**CONFIG.to_dict(), "schedule": "constant"})
    weights_a, dir_a = uninterrupted(tmp_path, config)
    dir_b = tmp_path / "extended"
    short = TrainConfig(**{**config.to_dict(), "max_steps": 30})
    result = Trainer(SequenceRegressionTask(), short, dir_b).fit()
    assert (result.steps, result.stopped_because) == (30, "max_steps")
    task_b = resume(dir_b, config)
    assert_same_run(weights_a, dir_a, task_b, dir_b)


def test_ctrl_c_checkpoints_at_the_step_boundary_and_resumes_exactly(tmp_path: Path) -> None:
    weights_a, dir_a = uninterrupted(tmp_path, CONFIG)
    dir_b = tmp_path / "ctrl_c"

    def press_ctrl_c_at_37(step: int) -> None:
        if step == 37:
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(TrainingInterrupted, match="resume=True") as info:
        Trainer(SequenceRegressionTask(), CONFIG, dir_b, on_step_end=press_ctrl_c_at_37).fit()
    assert (info.value.step, info.value.checkpoint_step) == (37, 37)
    # The trainer's handler is gone again once fit returns.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    task_b = resume(dir_b, CONFIG)
    assert_same_run(weights_a, dir_a, task_b, dir_b)


def test_keyboard_interrupt_between_steps_also_checkpoints(tmp_path: Path) -> None:
    weights_a, dir_a = uninterrupted(tmp_path, CONFIG)
    dir_b = tmp_path / "interrupt"

    def interrupt_at_37(step: int) -> None:
        if step == 37:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted, match="step 37"):
        Trainer(SequenceRegressionTask(), CONFIG, dir_b, on_step_end=interrupt_at_37).fit()
    task_b = resume(dir_b, CONFIG)
    assert_same_run(weights_a, dir_a, task_b, dir_b)


class InterruptMidStep(SequenceRegressionTask):
    def __init__(self, at_call: int) -> None:
        super().__init__()
        self.calls, self.at_call = 0, at_call

    def training_loss(self, batch):
        self.calls += 1
        if self.calls == self.at_call:
            raise KeyboardInterrupt
        return super().training_loss(batch)


def test_interrupt_inside_a_step_keeps_the_last_checkpoint(tmp_path: Path) -> None:
    weights_a, dir_a = uninterrupted(tmp_path, CONFIG)
    dir_b = tmp_path / "mid_step"
    with pytest.raises(TrainingInterrupted, match="checkpoint of step 30") as info:
        Trainer(InterruptMidStep(at_call=38), CONFIG, dir_b).fit()
    assert (info.value.step, info.value.checkpoint_step) == (37, 30)
    task_b = resume(dir_b, CONFIG)
    assert_same_run(weights_a, dir_a, task_b, dir_b)


def test_resume_without_a_checkpoint_is_a_checkpoint_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        Trainer(SequenceRegressionTask(), CONFIG, tmp_path, resume=True)


def test_a_new_run_refuses_to_overwrite_a_checkpoint(tmp_path: Path) -> None:
    short = TrainConfig(**{**CONFIG.to_dict(), "max_steps": 10})
    Trainer(SequenceRegressionTask(), short, tmp_path).fit()
    with pytest.raises(CheckpointError, match="resume=True"):
        Trainer(SequenceRegressionTask(), short, tmp_path)


class PressCtrlC(SequenceRegressionTask):
    """Sends itself SIGINT inside its `in_step`-th training step or `in_eval`-th
    evaluation; an evaluation then runs on until a deadline that fails the test, so
    only a Ctrl-C that stops it at once lets the run end in time."""

    def __init__(self, in_step: int | None = None, in_eval: int | None = None) -> None:
        super().__init__()
        self.in_step, self.in_eval = in_step, in_eval
        self.steps = self.evaluations = 0
        self.pressed_at: float | None = None

    def press(self) -> None:
        self.pressed_at = time.monotonic()
        os.kill(os.getpid(), signal.SIGINT)

    def training_loss(self, batch):
        self.steps += 1
        if self.steps == self.in_step:
            self.press()
        return super().training_loss(batch)

    def evaluate(self):
        self.evaluations += 1
        if self.evaluations == self.in_eval:
            self.press()
            deadline = time.monotonic() + 30.0
            while time.monotonic() < deadline:
                pass
            pytest.fail("Ctrl-C did not stop the evaluation: the trainer waited for it")
        return super().evaluate()


def interrupted(task: PressCtrlC, config: TrainConfig, run_dir: Path) -> TrainingInterrupted:
    with pytest.raises(TrainingInterrupted) as info:
        Trainer(task, config, run_dir).fit()
    assert task.pressed_at is not None
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    return info.value


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_ctrl_c_stops_an_evaluation_at_once_and_resumes_exactly(
    tmp_path: Path, ema_decay: float
) -> None:
    config = TrainConfig(**{**CONFIG.to_dict(), "ema_decay": ema_decay})
    weights_a, dir_a = uninterrupted(tmp_path, config)
    dir_b = tmp_path / "ctrl_c_in_eval"
    task = PressCtrlC(in_eval=4)  # the evaluation of step 40
    stop = interrupted(task, config, dir_b)
    # The step was complete: its checkpoint is written (the periodic one of step 40
    # comes after the evaluation, so this is the interrupt's own).
    assert (stop.step, stop.checkpoint_step) == (40, 40)
    assert "its evaluation was stopped" in str(stop)
    assert checkpoint_step(dir_b / "checkpoint.safetensors") == 40
    rows = read_metrics(dir_b)
    assert max(int(r["step"]) for r in rows if r["split"] == "val") == 30
    assert max(int(r["step"]) for r in rows if r["split"] == "train") == 40
    # The resumed run evaluates step 40 first; then everything matches, best.safetensors
    # and the val rows included.
    task_b = resume(dir_b, config)
    assert_same_run(weights_a, dir_a, task_b, dir_b)


def test_ctrl_c_in_a_step_skips_that_steps_evaluation_and_resumes_exactly(
    tmp_path: Path,
) -> None:
    weights_a, dir_a = uninterrupted(tmp_path, CONFIG)
    dir_b = tmp_path / "ctrl_c_before_eval"
    task = PressCtrlC(in_step=40)  # the evaluation of step 40 is due right after it
    stop = interrupted(task, CONFIG, dir_b)
    assert (stop.step, stop.checkpoint_step) == (40, 40)
    assert task.evaluations == 3  # steps 10, 20 and 30: step 40's was not even started
    task_b = resume(dir_b, CONFIG)
    assert_same_run(weights_a, dir_a, task_b, dir_b)


def test_ctrl_c_in_the_final_evaluation_resumes_to_the_same_end(tmp_path: Path) -> None:
    # Evaluations at 25 and 50, the final one at 60 (after the periodic checkpoint of 60).
    config = TrainConfig(**{**CONFIG.to_dict(), "eval_every": 25})
    weights_a, dir_a = uninterrupted(tmp_path, config)
    dir_b = tmp_path / "ctrl_c_in_final_eval"
    stop = interrupted(PressCtrlC(in_eval=3), config, dir_b)
    assert (stop.step, stop.checkpoint_step) == (60, 60)
    task_b = resume(dir_b, config)
    assert_same_run(weights_a, dir_a, task_b, dir_b, rows=15 + 3)


def test_a_format_1_checkpoint_resumes_exactly(tmp_path: Path) -> None:
    weights_a, dir_a = uninterrupted(tmp_path, CONFIG)
    dir_b = tmp_path / "old"

    def kill_at_37(step: int) -> None:
        if step == 37:
            raise SimulatedKill

    with pytest.raises(SimulatedKill):
        Trainer(SequenceRegressionTask(), CONFIG, dir_b, on_step_end=kill_at_37).fit()
    # Turn the checkpoint of step 30 and metrics.csv into what format 1 wrote.
    path = dir_b / "checkpoint.safetensors"
    tensors, metadata = read_safetensors(path)
    record = json.loads(metadata["rnnkit.train"])
    window = record["run"]["window"]
    assert window["count"] == 2 * 4 * 8  # steps 29 and 30 of 4 streams x 8 time steps
    window["tokens"] = window.pop("count")
    del record["run"]["eval_pending"]
    record["format"] = 1
    record["metrics"]["columns"][-1] = "tokens_per_s"
    atomic_save_safetensors(tensors, path, {"rnnkit.train": json.dumps(record)})
    metrics = dir_b / "metrics.csv"
    metrics.write_text(metrics.read_text().replace("time_steps_per_s", "tokens_per_s"))
    assert checkpoint_step(path) == 30
    task_b = resume(dir_b, CONFIG)
    assert_same_run(weights_a, dir_a, task_b, dir_b)
