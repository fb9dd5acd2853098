"""`rnnkit evaluate RUN TEXT`: loss and bits/char (or perplexity) of a model on a text."""

from __future__ import annotations

import argparse

from rnnkit.cli.options import add_device_option
from rnnkit.data import read_text
from rnnkit.models.lm_run import LMRun


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="score a language model on a text")
    p.add_argument("run_dir", metavar="RUN")
    p.add_argument("text", metavar="TEXT", help="UTF-8 text file or folder")
    p.add_argument("--weights", choices=["best", "last"], default="best")
    add_device_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    lm = LMRun(args.run_dir, weights=args.weights, device=args.device)
    result = lm.evaluate(read_text(args.text))
    print(
        "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items())
    )
    return 0
