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

from rnnkit.data import read_text
from rnnkit.decode import SamplingConfig
from rnnkit.runs import load_run, train_run
from rnnkit.tasks.lm_text import TextModel

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
    p.add_argument("--seq-len", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--optimizer", default=None, help="default: the task's (adamw)")
    p.add_argument("--weight-decay", type=float, default=None, help="default by budget")
    p.add_argument("--schedule", default=None)
    p.add_argument("--min-lr-ratio", type=float, default=None)
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--ema", type=float, default=None, help="weight-average decay; 0 = off")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--rotate", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
    p.add_argument("--out", type=Path, default=None, help="keep the runs here")
    args = p.parse_args()
    if not args.text.exists():
        sys.exit(f"missing {args.text}: this benchmark reads ../shared/data/tinyshakespeare.txt")
    text = read_text(args.text)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{len(text):,} chars, last 10% held out"
    )
    results = []
    for minutes in args.minutes:
        # Only what was given; `train_run` fills in `rnnkit train lm --minutes M`'s defaults.
        data = {"batch_size": args.batch_size, "seq_len": args.seq_len, "rotate": args.rotate}
        model = {
            "cell": args.cell,
            "num_layers": args.layers,
            "hidden_size": args.hidden,
            "embedding_size": args.embedding,
            "dropout": args.dropout,
            "weight_dropout": args.weight_dropout,
        }
        train = {
            "max_minutes": minutes,
            "optimizer": args.optimizer,
            "lr": args.lr,
            "weight_decay": args.weight_decay,
            "schedule": args.schedule,
            "min_lr_ratio": args.min_lr_ratio,
            "warmup_steps": args.warmup,
            "ema_decay": args.ema,
            "seed": args.seed,
            "precision": args.precision,
            "progress": False,
        }
        root = args.out or Path(tempfile.mkdtemp(prefix="rnnkit-bench-"))
        run_dir = root / f"shakespeare-{minutes:g}min-{time.strftime('%H%M%S')}"
        outcome = train_run("lm", run_dir, raw=text, data=data, model=model, train=train)
        result, spec = outcome.result, outcome.spec
        rows = (run_dir / "metrics.csv").read_text().splitlines()
        header = rows[0].split(",")
        column = header.index("tokens_per_s")
        tps = [float(r.split(",")[column]) for r in rows[1:] if ",train," in r]
        lm = TextModel(load_run(run_dir, weights="last"))
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
            "config": {"data": spec.data.to_dict(), "model": spec.model.to_dict()}
            | {"train": spec.train.to_dict()},
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
