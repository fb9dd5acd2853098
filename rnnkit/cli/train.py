"""`rnnkit train TASK DATA ...`: train a model of any registered task (or `--resume RUN`).

Each task gets the same subcommand: its DATA argument, a flag per data and model
setting (from its config dataclasses), and the training flags every task shares.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from rnnkit.cli.options import add_config_flags, add_training_options, settings
from rnnkit.errors import ConfigError
from rnnkit.runs import RunResult, get_task, resume_run, task_names, train_run
from rnnkit.runs.lifecycle import check_new_run
from rnnkit.train import TrainingInterrupted
from rnnkit.train.distributed import join, launched, leave
from rnnkit.train.launch import launch

#: How the summary line names a `--monitor` figure spelt otherwise in prose.
MONITOR_NAMES = {"macro_f1": "macro-F1"}


def add_parser(subparsers) -> None:
    train = subparsers.add_parser("train", help="train a model on your data")
    tasks = train.add_subparsers(dest="task", metavar="TASK", required=True)
    for name in task_names():
        plugin = get_task(name)
        p = tasks.add_parser(name, help=plugin.help, description=plugin.help)
        p.add_argument("data", nargs="?", metavar="DATA", help=plugin.data_help)
        p.add_argument("--dataset", metavar="NAME", help="a data set by name, instead of DATA")
        p.add_argument("--resume", metavar="RUN", help="continue a stopped or killed run")
        p.add_argument("--out", help=f"run directory (default runs/{name}-<data>-<time>)")
        p.add_argument("--json", action="store_true", help="print the outcome as JSON")
        p.add_argument(
            "--nproc",
            type=int,
            metavar="N",
            help="train with N processes on this machine (torchrun; see docs/runs.md)",
        )
        data = add_config_flags(p.add_argument_group("data"), plugin.data_config, plugin.flags)
        model = add_config_flags(
            p.add_argument_group("model"),
            plugin.model_config,
            plugin.flags,
            skip=plugin.derived_model_fields,
        )
        train_dests = add_training_options(p.add_argument_group("training"))
        p.set_defaults(run=run, dests=(data, model, train_dests))


def run(args: argparse.Namespace) -> int:
    if args.nproc is not None and _check_nproc(args.nproc) > 1 and not launched():
        if args.sparse_embeddings:
            raise ConfigError(
                "--sparse-embeddings works in one process only: leave out --nproc or it",
                field="sparse_embeddings",
                problem="works in one process only: leave out --nproc or it",
            )
        if not args.resume and args.out:  # one line for a mistake, not one per process
            chosen = [settings(args, dests) for dests in args.dests]
            check_new_run(args.task, args.out, *chosen)
        return launch(args.nproc, _argv_without_nproc(args))
    try:
        return _train(args)
    finally:
        leave()


def _train(args: argparse.Namespace) -> int:
    data_dests, model_dests, train_dests = args.dests
    team = join()  # one of several processes under torchrun, or alone
    chosen = {
        "data": settings(args, data_dests),
        "model": settings(args, model_dests),
        "train": settings(args, train_dests),
    }
    if args.dataset is not None:
        if args.data is not None:
            raise ConfigError(f"give DATA ({args.data}) or --dataset {args.dataset}, not both")
        args.data = args.dataset
    run_dir = args.resume or args.out
    try:
        if args.resume:
            if args.out is not None:
                raise ConfigError(
                    f"--resume continues {args.resume} in its own folder; leave out --out "
                    f"{args.out} (to train elsewhere, start a new run)"
                )
            outcome = resume_run(args.resume, source=args.data, task=args.task, **chosen)
        else:
            if not args.data:
                raise ConfigError(
                    f"train {args.task} needs DATA ({get_task(args.task).data_help}), "
                    "or --resume RUN"
                )
            default = str(default_run_dir(args.task, Path(args.data).stem))
            run_dir = args.out or team.broadcast_text(default)  # rank 0's clock
            outcome = train_run(args.task, run_dir, source=args.data, **chosen)
    except TrainingInterrupted as stop:
        if not team.leader:
            return 143 if stop.signal == "SIGTERM" else 130
        team_flag = ["--nproc", str(team.world)] if team.many else []
        again = shlex.join(["rnnkit", "train", args.task, "--resume", str(run_dir), *team_flag])
        where = (
            "before the first checkpoint; it starts again from step 0"
            if stop.checkpoint_step is None
            else f"; it continues from step {stop.checkpoint_step}"
        )
        print(f"rnnkit: stopped at step {stop.step}{where} with: {again}", file=sys.stderr)
        return 143 if stop.signal == "SIGTERM" else 130  # the shells' codes for the signals
    if team.leader:
        _report(outcome, args.json, args.flag_names)
    return 0


def _check_nproc(nproc: int) -> int:
    if nproc < 1:
        raise ConfigError(
            f"--nproc must be a number of processes, 1 or more, got {nproc}",
            field="nproc",
            problem=f"must be 1 or more, got {nproc}",
        )
    return nproc


def _argv_without_nproc(args: argparse.Namespace) -> list[str]:
    """This command line, without --nproc, for the processes torchrun starts."""
    argv = sys.argv[1:]
    if argv[:2] != ["train", args.task]:
        raise ConfigError(
            "--nproc works on the rnnkit command line; from Python, start the training "
            "processes with torchrun (see docs/runs.md)"
        )
    out, skip = [], False
    for word in argv:
        if skip or word.startswith("--nproc="):
            skip = False
            continue
        skip = word == "--nproc"
        if not skip:
            out.append(word)
    return out


def default_run_dir(task: str, name: str) -> Path:
    return Path("runs") / f"{task}-{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def _report(outcome: RunResult, as_json: bool, flags: dict[str, str]) -> None:
    r = outcome.result
    run_dir = str(outcome.run_dir)
    if as_json:
        record = {
            "run": run_dir,
            "task": outcome.spec.task,
            "steps": r.steps,
            "epochs": r.epochs,
            "elapsed_s": r.elapsed_s,
            "stopped_because": r.stopped_because,
            "held_out": outcome.held_out,
            "monitor": outcome.spec.train.monitor,  # what chose the kept weights
            "best_val_loss": r.best_val_loss,
            "best_val_score": r.best_score,  # the monitored figure of the kept weights
            "last_val_loss": r.last_val_loss,
            "test": outcome.test,
        }
        print(json.dumps(record))
        return
    best = "n/a" if r.best_val_loss is None else f"{r.best_val_loss:.4f}"
    if not outcome.held_out:
        what = "best loss on the training data (nothing was held out for validation)"
    elif outcome.spec.train.monitor == "loss":
        what = "best validation loss"
    else:  # the kept weights were chosen on another figure (--monitor)
        name = MONITOR_NAMES.get(outcome.spec.train.monitor, outcome.spec.train.monitor)
        score = "n/a" if r.best_score is None else f"{r.best_score:.4f}"
        what = f"validation {name} of the kept weights {score}, their validation loss"
    print(
        f"trained {r.steps} steps ({r.epochs:.2f} epochs) in {r.elapsed_s / 60:.1f} min, "
        f"stopped by {flags.get(r.stopped_because, r.stopped_because)}; {what} {best}"
    )
    if outcome.test is not None:
        print("test data, scored with the best weights:")
        print(outcome.spec.plugin.describe_figures(outcome.test))
    hints = "    ".join(
        shlex.join(c) for c in outcome.spec.plugin.next_commands(run_dir, outcome.spec)
    )
    print(f"run: {shlex.quote(run_dir)}    next: {hints}")
