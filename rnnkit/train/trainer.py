"""`Trainer`: the task-agnostic training loop, with exact resume.

One step: lr from the schedule -> `task.next_batch()` -> `task.training_loss(batch)` ->
backward -> clip -> optimizer step. Between steps the trainer logs (metrics.csv with
the throughput in the task's unit, progress bar, TensorBoard), evaluates, keeps
`best.safetensors` (with `ema_decay`, of the averaged weights), checkpoints
(`checkpoint.safetensors`, `last.safetensors`) and checks the budget; docs/runs.md
lists the files. Under torchrun, several processes train one run together, each on its
rows of every batch, and rank 0 alone writes (`rnnkit.train.distributed`).

A resumed run continues bit for bit as if never stopped: the checkpoint holds the
weights, optimizer, all global RNGs, the task's data position and carried state, the
counters and the partial log window, and metrics.csv is cut back to the checkpoint.
Time-budget runs are the exception (their schedule and stopping follow the clock).

A step whose loss or gradient norm is NaN/inf is skipped with a warning (its batch is
used up, the weights are not touched); more than `max_bad_steps` in a row stop the run.

Ctrl-C or SIGTERM (`rnnkit.train.interrupt`) lets the current step finish, then
checkpoints it; an evaluation is not waited for but stopped at once, since it changes
no training state (the global RNGs are put back around it): the completed step is
checkpointed with its evaluation marked pending, and a resumed run evaluates it first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from rnnkit import validate
from rnnkit.atomic import atomic_write_json
from rnnkit.errors import CheckpointError, DataError
from rnnkit.train import averaging, errors, optim
from rnnkit.train.averaging import WeightAverage, averaged_weights, restore_average
from rnnkit.train.checkpoint import PathLike, save_weights
from rnnkit.train.config import MONITORS, TrainConfig
from rnnkit.train.determinism import deterministic_algorithms
from rnnkit.train.distributed import join
from rnnkit.train.interrupt import InterruptRequest, deferred_sigint
from rnnkit.train.logging import MetricsLog
from rnnkit.train.plots import write_loss_plot
from rnnkit.train.precision import autocast_for
from rnnkit.train.progress import ProgressBar
from rnnkit.train.resume import read_checkpoint, write_checkpoint
from rnnkit.train.state import (
    LogWindow,
    RunState,
    TrainResult,
    preserved_rng,
    restore_rng,
    seed_everything,
)
from rnnkit.train.task import Task, check_task, task_unit
from rnnkit.train.tensorboard import TensorBoardLog, require_summary_writer


class Trainer:
    """Trains `task.model` on `task` under `config`, writing into `run_dir`.

    resume=True continues from `run_dir/checkpoint.safetensors`; without it an existing
    checkpoint is an error rather than something to overwrite. `on_step_end(step)` runs
    after every completed step (after its logging, evaluation and checkpoint).
    ConfigError (field "device") if `config.device` is not usable on this machine.
    """

    def __init__(
        self,
        task: Task,
        config: TrainConfig,
        run_dir: PathLike,
        *,
        resume: bool = False,
        on_step_end: Callable[[int], None] | None = None,
    ) -> None:
        check_task(task)
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        self.task = task
        self.unit = task_unit(task)
        self.config = config
        self.run_dir = Path(run_dir)
        self.checkpoint_path = self.run_dir / "checkpoint.safetensors"  # the resume checkpoint
        self.on_step_end = on_step_end
        self.team = join()  # the processes training together (one, without torchrun)
        self.device = self.team.place(config.device)
        self._autocast = autocast_for(config.precision, self.device)
        if config.tensorboard:
            require_summary_writer()  # fail now, not after the first eval
        self.model = task.model.to(self.device)
        if config.sparse_embeddings:
            if self.team.many:
                raise validate.fail(
                    "TrainConfig",
                    "sparse_embeddings",
                    "works in one process only: leave it out to train with several",
                )
            optim.make_embeddings_sparse(self.model)
        self.optimizer = optim.build_optimizer(self.model.parameters(), config)
        self.schedule = optim.LRSchedule.from_config(config)
        self.average = WeightAverage(self.model, config.ema_decay) if config.ema_decay else None
        self.steps_per_epoch = int(task.steps_per_epoch())
        if self.steps_per_epoch < 1:
            raise DataError(
                f"task.steps_per_epoch() is {self.steps_per_epoch}: the training data "
                "gives no batch; use more data or smaller batches / windows"
            )
        self.epoch_steps, self.total_steps = config.budget_steps(self.steps_per_epoch)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.state = RunState()
        self._rng_values: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None
        self._fresh = not resume
        self.metrics: MetricsLog | None = None  # in a team, only rank 0 writes files
        if resume:
            self._load_checkpoint()
        elif self.checkpoint_path.exists():
            raise CheckpointError(
                f"{self.run_dir} already holds a checkpoint; pass resume=True to "
                "continue that run, or choose an empty run directory"
            )
        elif self.team.leader:
            self.metrics = MetricsLog(self.run_dir / "metrics.csv", self.unit)
        self._checkpoint_step: int | None = self.state.step if resume else None
        # Replaced by the live one while `fit` runs; this one only marks evaluations.
        self._sigint = InterruptRequest()
        if self.team.leader:
            atomic_write_json(self.run_dir / "train_config.json", config.to_dict())
        task.model = self.team.wrap(self.model)  # DDP averages a team's gradients

    # ---- the loop -------------------------------------------------------------------

    def fit(self) -> TrainResult:
        """Train until a budget is spent or early stopping; return how it ended.

        Raises TrainingInterrupted after Ctrl-C (having checkpointed at a step boundary,
        or the completed step whose evaluation it stopped) and TrainingDiverged on a
        NaN/inf loss (keeping the last checkpoint).
        """
        if self._fresh:
            seed_everything(self.team.seed(self.config.seed))
            self._fresh = False
        elif self._rng_values is not None:
            restore_rng(*self._rng_values)
            self._rng_values = None
        self._clock_start = time.perf_counter()
        self._elapsed_at_start = self.state.elapsed_s
        # What is in progress, for the Ctrl-C message; None between steps, where a
        # checkpoint captures a consistent state.
        self._busy: str | None = None
        self.model.train()
        self._bar = ProgressBar(
            self.config.progress and self.team.leader,
            self.total_steps,
            self.config.max_minutes,
            self.state.step,
            self.state.elapsed_s,
        )
        self._board = None
        if self.config.tensorboard and self.team.leader:
            resume_step = None if self.state.step == 0 else self.state.step
            self._board = TensorBoardLog(self.run_dir / "tensorboard", resume_step)
        try:
            with deferred_sigint() as sigint, deterministic_algorithms(self.config.deterministic):
                self._sigint = sigint
                stop = self._stop_reason()
                pending = self.state.eval_pending
                while pending or stop is None:
                    if pending:  # a Ctrl-C stopped this step's evaluation: finish the step
                        self._busy = f"step {self.state.step}"
                        stop = self._close_step()
                        pending = False
                    else:
                        self._busy = f"step {self.state.step + 1}"
                        stop = self._after_step() if self._train_step() else self._skipped()
                    self._busy = None
                    if self.on_step_end is not None:
                        self.on_step_end(self.state.step)
                    if self.team.agree(sigint.requested):
                        raise KeyboardInterrupt
                self._busy = "the final evaluation"
                self._finish()
        except KeyboardInterrupt:
            raise self._interrupted() from None
        finally:
            self._sigint = InterruptRequest()
            self._bar.close()
            if self._board is not None:
                self._board.close()
        st = self.state
        return TrainResult(
            steps=st.step,
            epochs=st.step / self.steps_per_epoch,
            elapsed_s=st.elapsed_s,
            best_val_loss=st.best_val_loss,
            last_val_loss=st.last_val_loss,
            stopped_because=stop,
            best_score=st.best_score,
        )

    def _train_step(self) -> bool:
        """One optimizer step; False if it was skipped for a non-finite loss or gradient."""
        st = self.state
        started = time.perf_counter()
        progress = self._progress()
        lr = self.schedule(st.step, progress)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        batch, borrowed = self.team.shard(self.task, self.task.next_batch())
        with self._autocast():
            out = self.task.training_loss(batch)
        # One host sync per step, so that a NaN never reaches the weights (in a team, of
        # the global mean loss, and this rank's share of it to backpropagate).
        loss, value, count, extras = self.team.combine(out, borrowed)
        if not math.isfinite(value):
            return self._bad_step(f"the training loss is {value}", lr)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = optim.clip_gradients(self.model.parameters(), self.config)
        if not math.isfinite(norm):
            return self._bad_step(f"the gradient norm is {norm}", lr)
        st.bad_steps = 0
        self.optimizer.step()
        st.step += 1
        if self.average is not None:
            self.average.update(st.step)
        st.lr, st.progress = lr, progress
        st.window.add(value, count, extras, time.perf_counter() - started)
        return True

    def _bad_step(self, what: str, lr: float) -> bool:
        """Skip a step with a NaN/inf loss or gradient, or stop after too many in a row."""
        st, most = self.state, self.config.max_bad_steps
        st.bad_steps += 1
        if st.bad_steps > most:
            raise self._diverged(what, lr)
        self.optimizer.zero_grad(set_to_none=True)
        self._bar.note(errors.skipped_step(what, st.step + 1, st.bad_steps, most))
        return False

    def _skipped(self) -> str | None:
        self.state.elapsed_s = self._elapsed()
        return self._stop_reason()

    def _after_step(self) -> str | None:
        st = self.state
        st.elapsed_s = self._elapsed()
        if st.step % self.config.log_every == 0 and self.team.leader:
            self._log_train()
        return self._close_step()

    def _close_step(self) -> str | None:
        # The evaluation, checkpoint and progress of the step just taken (or, on resume,
        # of the checkpointed step whose evaluation a Ctrl-C stopped); then whether to stop.
        st = self.state
        if st.eval_pending or st.step % self.config.eval_every == 0:
            self._evaluate()
        if st.step % self.config.checkpoint_every == 0:
            self._save_checkpoint()
        self._bar.advance(st.step, st.elapsed_s)
        return self._stop_reason()

    def _finish(self) -> None:
        # The final evaluation and checkpoint, unless this step already had them.
        st = self.state
        st.elapsed_s = self._elapsed()
        if st.last_eval_step != st.step:
            self._evaluate()
        if self._checkpoint_step != st.step:
            self._save_checkpoint()
        if self.team.leader:
            self._plot()

    def _stop_reason(self) -> str | None:
        return self.state.stop_reason(self.config, self.epoch_steps)

    def _elapsed(self) -> float:
        return self.team.clock(self._elapsed_at_start + (time.perf_counter() - self._clock_start))

    def _progress(self) -> float:
        if self.total_steps is not None:
            return optim.step_progress(self.state.step, self.total_steps, self.config.warmup_steps)
        return optim.time_progress(self._elapsed(), float(self.config.max_minutes or 0.0))

    # ---- logging and evaluation ------------------------------------------------------

    def _row(self, split: str, loss: float) -> dict[str, Any]:
        st = self.state
        return {
            "step": st.step,
            "epoch": st.step / self.steps_per_epoch,
            "elapsed_s": st.elapsed_s,
            "split": split,
            "loss": loss,
            **self.task.display(loss),
        }

    def _log_train(self) -> None:
        st = self.state
        loss = st.window.mean_loss()
        row = self._row("train", loss)
        row.update(st.window.mean_extras())
        rate = st.window.rate()
        row.update({"lr": st.lr, self.metrics.rate: rate})
        self.metrics.append(row)
        figures = {k: v for k, v in row.items() if k not in _ROW_KEYS}
        shown = {k: v for k, v in figures.items() if k != self.metrics.rate}
        val = {} if st.last_val_loss is None else {"val_loss": st.last_val_loss}
        self._bar.show({**shown, **val, f"{self.unit}/s": rate})
        if self._board is not None:
            self._board.scalars("train", st.step, figures)
        st.window = LogWindow()

    def _evaluate(self) -> None:
        with averaged_weights(self.average):  # what evaluation and best.safetensors use
            self._evaluate_current()

    def _evaluate_current(self) -> None:
        st = self.state
        self.model.eval()
        try:
            # Evaluation must leave training as it was: the RNGs are put back, and a
            # Ctrl-C stops it at once; the completed step is then checkpointed, with its
            # evaluation pending for the resumed run. The weights, best.safetensors and
            # metrics.csv change only after evaluate() has returned.
            with preserved_rng():
                try:
                    with self.team.interruptible(self._sigint), torch.no_grad():
                        results = dict(self.task.evaluate())
                except KeyboardInterrupt:
                    st.eval_pending = True
                    self._busy = None
                    raise
        finally:
            self.model.train()
        if "loss" not in results:
            raise TypeError(f"task.evaluate() must return a 'loss'; it returned {sorted(results)}")
        monitor = self.config.monitor
        if monitor not in results:
            raise TypeError(f"task.evaluate() returned {sorted(results)}, not {monitor!r}")
        score = float(results[monitor])
        loss = float(results.pop("loss"))
        if st.record_eval(loss, score, MONITORS[monitor]) and self.team.leader:
            save_weights(self.model, self.run_dir / "best.safetensors")
        if not self.team.leader:
            return
        row = self._row("val", loss)
        row.update({k: float(v) for k, v in results.items()}, lr=st.lr)
        self.metrics.append(row)
        if self._board is not None:
            self._board.scalars("val", st.step, {k: row[k] for k in row if k not in _ROW_KEYS})
        self._plot()

    def _plot(self) -> None:
        write_loss_plot(
            self.run_dir / "loss.png", self.metrics.series("train"), self.metrics.series("val")
        )

    # ---- checkpoints -----------------------------------------------------------------

    def _save_checkpoint(self) -> None:
        task_state = self.team.gather_state(self.task.state_dict())  # every rank's
        self._checkpoint_step = self.state.step
        if not self.team.leader:
            return
        averaged, last = averaging.checkpoint_average(self.average, self.model)
        write_checkpoint(
            self.checkpoint_path,
            self.model,
            self.optimizer,
            task_state,
            self.state,
            len(self.metrics),
            self.metrics.columns,
            self.config,
            averaged,
            last,
        )

    def _load_checkpoint(self) -> None:
        point = read_checkpoint(
            self.checkpoint_path, self.model, self.optimizer, self.config, self.device
        )
        if self.team.leader:
            self.metrics = MetricsLog.restore(
                self.run_dir / "metrics.csv", point.metrics_rows, point.metrics_columns, self.unit
            )
        restore_average(self.average, point.averaged, str(self.checkpoint_path))
        task_state, self._rng_values = self.team.own_state(point, self.device)
        self.task.load_state_dict(task_state)
        self.state = point.state

    # ---- errors ----------------------------------------------------------------------

    def _diverged(self, what: str, lr: float) -> errors.TrainingDiverged:
        epoch = self.state.step / self.steps_per_epoch
        st = self.state
        at = (st.step + 1, epoch, lr, self.config, self._checkpoint_step, st.bad_steps)
        return errors.diverged(what, *at)

    def _interrupted(self) -> errors.TrainingInterrupted:
        st, signal = self.state, self._sigint.signal or "Ctrl-C"
        if self._busy is None and (self._checkpoint_step != st.step or st.eval_pending):
            self._save_checkpoint()
        at = (self._checkpoint_step, self._busy, st.eval_pending, self.checkpoint_path)
        return errors.interrupted(st.step, *at, signal)


_ROW_KEYS = ("step", "epoch", "elapsed_s", "split")
