"""Tiny Shakespeare, character level: validation loss after a fixed training time.

Trains rnnkit's language model with the defaults of `rnnkit train lm --minutes M`
(which depend on M; or the settings given) for each time budget, on the last-10%-held-out split, and prints
the validation loss in nats/char, tokens/s and a sample. Reference points on the
same 2-core CPU are in docs/language-models.md.

    python benchmarks/lm_shakespeare.py --minutes 3 10 30
    python benchmarks/lm_shakespeare.py --minutes 3 --hidden 256 --lr 3e-3
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from rnnkit.cli.options import add_precision_option, model_flags, precision_from_args
from rnnkit.data import read_text
from rnnkit.data.corpus import CorpusConfig
from rnnkit.decode import SamplingConfig
from rnnkit.models.lm_recipes import (
    CHECKPOINT_EVERY,
    DEFAULT_OPTIMIZER,
    EVAL_EVERY,
    MIN_LR_RATIO,
    recipe_for_budget,
)
from rnnkit.models.lm_run import LMRun, train_language_model
from rnnkit.train import TrainConfig

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, nargs="+", default=[3.0, 10.0, 30.0])
    p.add_argument("--text", type=Path, default=DATA)
    p.add_argument("--cell", default=None)
    p.add_argument("--layers", type=int, default=None)
    p.add_argument("--hidden", type=int, default=None)
    p.add_argument("--embedding", type=int, default=None)
    p.add_argument("--dropout", type=float, default=None)
    p.add_argument("--weight-dropout", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--seq-len", type=int, default=CorpusConfig.seq_len)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--optimizer", default=DEFAULT_OPTIMIZER)
    p.add_argument("--weight-decay", type=float, default=None, help="default by budget")
    p.add_argument("--schedule", default=TrainConfig.schedule)
    p.add_argument("--min-lr-ratio", type=float, default=MIN_LR_RATIO)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--ema", type=float, default=0.0, help="weight-average decay; 0 = off")
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument("--rotate", action=argparse.BooleanOptionalAction, default=None)
    add_precision_option(p)
    p.add_argument("--out", type=Path, default=None, help="keep the runs here")
    args = p.parse_args()
    if not args.text.exists():
        sys.exit(f"missing {args.text}: this benchmark reads ../shared/data/tinyshakespeare.txt")
    text = read_text(args.text)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{len(text):,} chars, last 10% held out"
    )
    precision = precision_from_args(args, "cpu")
    print(f"precision {precision}")
    results = []
    for minutes in args.minutes:
        rotate = CorpusConfig.rotate if args.rotate is None else args.rotate
        model, lr, batch_size, weight_decay = recipe_for_budget(
            minutes,
            precision,
            args.lr,
            args.batch_size,
            weight_decay=args.weight_decay,
            optimizer=args.optimizer,
            **model_flags(args),
        )
        corpus = CorpusConfig(batch_size=batch_size, seq_len=args.seq_len, rotate=rotate)
        train = TrainConfig(
            optimizer=args.optimizer,
            lr=lr,
            weight_decay=weight_decay,
            schedule=args.schedule,
            min_lr_ratio=args.min_lr_ratio,
            warmup_steps=args.warmup,
            ema_decay=args.ema,
            seed=args.seed,
            precision=precision,
            max_minutes=minutes,
            eval_every=EVAL_EVERY,
            checkpoint_every=CHECKPOINT_EVERY,
            progress=False,
        )
        root = args.out or Path(tempfile.mkdtemp(prefix="rnnkit-bench-"))
        run_dir = root / f"shakespeare-{minutes:g}min-{time.strftime('%H%M%S')}"
        result = train_language_model(text, run_dir, corpus, model, train)
        rows = (run_dir / "metrics.csv").read_text().splitlines()
        tps = [float(r.split(",")[-1]) for r in rows[1:] if ",train," in r]
        lm = LMRun(run_dir, weights="last")
        sample = lm.generate("ROMEO:", SamplingConfig(temperature=0.8, seed=1, max_new_tokens=300))[
            0
        ]
        row = {
            "minutes": minutes,
            "val_loss": round(result.last_val_loss, 4),
            "best_val_loss": round(result.best_val_loss, 4),
            "steps": result.steps,
            "epochs": round(result.epochs, 2),
            "tokens_per_s": round(sum(tps) / max(len(tps), 1)),
            "config": {
                "model": model,
                "corpus": corpus.to_dict(),
                "optimizer": args.optimizer,
                "lr": lr,
                "weight_decay": weight_decay,
                "schedule": args.schedule,
                "min_lr_ratio": args.min_lr_ratio,
                "ema_decay": args.ema,
                "seed": args.seed,
                "precision": precision,
            },
        }
        results.append(row)
        print(json.dumps(row), flush=True)
        print("sample:\nROMEO:" + sample + "\n", flush=True)
    print("| minutes | val loss (nats/char) | steps | epochs | tokens/s |")
    print("|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['minutes']:g} | {r['val_loss']:.3f} | {r['steps']} | {r['epochs']} | "
            f"{r['tokens_per_s']:,} |"
        )


if __name__ == "__main__":
    main()
