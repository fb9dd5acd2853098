"""`rnnkit train lm TEXT ...`: train a language model (or `--resume RUN`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rnnkit.cli.options import add_precision_option, model_flags, precision_from_args
from rnnkit.data import read_text
from rnnkit.data.corpus import CorpusConfig
from rnnkit.errors import ConfigError
from rnnkit.models.lm_recipes import (
    CHECKPOINT_EVERY,
    DEFAULT_OPTIMIZER,
    EVAL_EVERY,
    MIN_LR_RATIO,
    recipe_for_budget,
)
from rnnkit.models.lm_run import resume_language_model, train_language_model
from rnnkit.train import TrainConfig, TrainingInterrupted, TrainResult

DEFAULT_MINUTES = 10.0


def add_parser(subparsers) -> None:
    train = subparsers.add_parser("train", help="train a model on your data")
    tasks = train.add_subparsers(dest="task", metavar="TASK", required=True)
    lm = tasks.add_parser(
        "lm",
        help="language model on a text file or folder",
        description="Train a character- or word-level recurrent language model.",
    )
    lm.add_argument("text", nargs="?", help="UTF-8 text file, or a folder of them")
    lm.add_argument("--resume", metavar="RUN", help="continue an interrupted run exactly")
    lm.add_argument("--out", help="run directory (default runs/lm-<text>-<time>)")
    data = lm.add_argument_group("data")
    data.add_argument("--level", choices=["char", "word"], default="char")
    data.add_argument("--lowercase", action="store_true")
    data.add_argument("--min-freq", type=int, default=1, help="word level: rarer words -> [UNK]")
    data.add_argument("--max-vocab", type=int, default=None)
    data.add_argument("--val-fraction", type=float, default=0.1)
    data.add_argument("--batch-size", type=int, default=None, help="default by time budget")
    data.add_argument("--seq-len", type=int, default=100)
    data.add_argument(
        "--rotate",
        action=argparse.BooleanOptionalAction,
        default=CorpusConfig.rotate,
        help="start each epoch at another place of the text (stream training)",
    )
    data.add_argument(
        "--window",
        type=int,
        default=None,
        help="train on N-token windows -> next token (next-word completion)",
    )
    model = lm.add_argument_group("model")
    model.add_argument("--cell", choices=["rnn", "lstm", "gru"], default=None, help="default gru")
    model.add_argument(
        "--layers",
        type=int,
        default=None,
        help="default by time budget and precision (docs/language-models.md)",
    )
    model.add_argument(
        "--hidden",
        type=int,
        default=None,
        help="default by time budget and precision",
    )
    model.add_argument("--embedding", type=int, default=None, help="default 64; 0 = one-hot")
    model.add_argument(
        "--dropout", type=float, default=None, help="default by time budget and precision"
    )
    model.add_argument(
        "--weight-dropout",
        type=float,
        default=None,
        help="DropConnect on the recurrent matrices (AWD-LSTM's weight drop); default 0",
    )
    model.add_argument("--tie-weights", action="store_true")
    opt = lm.add_argument_group("training")
    opt.add_argument(
        "--optimizer", choices=["sgd", "rmsprop", "adam", "adamw"], default=DEFAULT_OPTIMIZER
    )
    opt.add_argument(
        "--lr", type=float, default=None, help="peak; default by time budget and precision"
    )
    opt.add_argument(
        "--weight-decay",
        type=float,
        default=None,
        help="default by time budget with adamw (decoupled), else 0",
    )
    opt.add_argument("--schedule", choices=["constant", "cosine", "linear"], default="cosine")
    opt.add_argument("--warmup", type=int, default=0, help="warm-up steps")
    opt.add_argument("--clip-norm", type=float, default=5.0)
    opt.add_argument("--clip-value", type=float, default=None)
    opt.add_argument(
        "--ema",
        type=float,
        default=0.0,
        metavar="DECAY",
        help="evaluate and save a moving average of the weights with this decay per "
        "step, e.g. 0.999; default 0 (off)",
    )
    opt.add_argument(
        "--minutes",
        type=float,
        default=None,
        help=f"time budget (default {DEFAULT_MINUTES:g} if no budget is given)",
    )
    opt.add_argument("--steps", type=int, default=None)
    opt.add_argument("--epochs", type=float, default=None)
    opt.add_argument("--eval-every", type=int, default=EVAL_EVERY)
    opt.add_argument("--early-stopping", type=int, default=None, metavar="EVALS")
    opt.add_argument("--checkpoint-every", type=int, default=CHECKPOINT_EVERY)
    opt.add_argument("--seed", type=int, default=1234)
    opt.add_argument(
        "--device",
        default=None,
        help="cpu (default), cuda, ...; on --resume, continue on another device",
    )
    add_precision_option(opt)
    opt.add_argument("--tensorboard", action="store_true")
    opt.add_argument("--no-progress", action="store_true")
    lm.set_defaults(run=run)


def _budget(args) -> dict:
    budget = {"max_minutes": args.minutes, "max_steps": args.steps, "max_epochs": args.epochs}
    return {k: v for k, v in budget.items() if v is not None}


def run(args: argparse.Namespace) -> int:
    try:
        return _train(args)
    except TrainingInterrupted as stop:
        run_dir = args.resume or args.out
        if stop.checkpoint_step is None:
            print(
                f"rnnkit: stopped at step {stop.step} before the first checkpoint", file=sys.stderr
            )
        else:
            print(
                f"rnnkit: stopped at step {stop.step}; continue from step "
                f"{stop.checkpoint_step} with: rnnkit train lm --resume {run_dir}",
                file=sys.stderr,
            )
        return 130


def _train(args: argparse.Namespace) -> int:
    if args.resume:
        text = read_text(args.text) if args.text else None
        overrides = _budget(args) | ({"device": args.device} if args.device else {})
        if args.precision != "auto":
            overrides["precision"] = args.precision
        result = resume_language_model(args.resume, text, overrides or None)
        return _report(result, Path(args.resume))
    if not args.text:
        raise ConfigError("train lm needs a TEXT file or folder, or --resume RUN")
    text = read_text(args.text)
    budget = _budget(args) or {"max_minutes": DEFAULT_MINUTES}
    device = args.device or "cpu"
    precision = precision_from_args(args, device)
    recipe = recipe_for_budget(
        budget.get("max_minutes"),
        precision,
        args.lr,
        args.batch_size,
        weight_decay=args.weight_decay,
        optimizer=args.optimizer,
        **model_flags(args),
    )
    corpus = CorpusConfig(
        level=args.level,
        lowercase=args.lowercase,
        min_freq=args.min_freq,
        max_vocab=args.max_vocab,
        val_fraction=args.val_fraction,
        batch_size=recipe.batch_size,
        seq_len=args.seq_len,
        window=args.window,
        rotate=args.rotate,
    )
    train = TrainConfig(
        optimizer=args.optimizer,
        lr=recipe.lr,
        min_lr_ratio=MIN_LR_RATIO,
        weight_decay=recipe.weight_decay,
        schedule=args.schedule,
        warmup_steps=args.warmup,
        clip_norm=args.clip_norm,
        clip_value=args.clip_value,
        ema_decay=args.ema,
        eval_every=args.eval_every,
        early_stopping=args.early_stopping,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
        device=device,
        precision=precision,
        tensorboard=args.tensorboard,
        progress=not args.no_progress,
        **budget,
    )
    out = Path(args.out) if args.out else default_run_dir("lm", Path(args.text).stem)
    args.out = str(out)  # for the resume hint if training is interrupted
    result = train_language_model(
        text, out, corpus, recipe.model, train, text_path=str(Path(args.text).resolve())
    )
    return _report(result, out)


def default_run_dir(task: str, name: str) -> Path:
    return Path("runs") / f"{task}-{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def _report(result: TrainResult, run_dir: Path) -> int:
    best = "n/a" if result.best_val_loss is None else f"{result.best_val_loss:.4f}"
    print(
        f"trained {result.steps} steps ({result.epochs:.2f} epochs) in "
        f"{result.elapsed_s / 60:.1f} min, stopped by {result.stopped_because}; "
        f"best validation loss {best}"
    )
    print(f"run: {run_dir}    next: rnnkit generate {run_dir}")
    return 0
