"""`rnnkit evaluate RUN DATA`: the task's figures for a trained run on new data."""

from __future__ import annotations

import argparse
import json

from rnnkit.cli.options import add_device_option, add_json_option
from rnnkit.runs import load_run


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="score a trained run on new data")
    p.add_argument("run_dir", metavar="RUN")
    p.add_argument("data", metavar="DATA", help="data in the form the run's task reads")
    p.add_argument("--weights", choices=["best", "last"], default="best")
    add_device_option(p)
    add_json_option(p, "one JSON object of the figures")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    figures = load_run(args.run_dir, weights=args.weights, device=args.device).evaluate(args.data)
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            "  ".join(
                f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()
            )
        )
    return 0
