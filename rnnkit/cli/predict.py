"""`rnnkit predict RUN INPUT... | --file F`: the trained run's prediction for each input."""

from __future__ import annotations

import argparse
import json

from rnnkit.cli.options import add_device_option, add_json_option
from rnnkit.data import read_text
from rnnkit.errors import DataError
from rnnkit.runs import load_run


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("predict", help="predict with a trained run")
    p.add_argument("run_dir", metavar="RUN")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="inputs as text")
    p.add_argument("--file", help="read inputs from this file, one per line")
    p.add_argument("--weights", choices=["best", "last"], default="best")
    add_device_option(p)
    add_json_option(p, "one JSON line per input")
    p.set_defaults(run=run, trailing="inputs")


def run(args: argparse.Namespace) -> int:
    inputs = list(args.inputs)
    if args.file:
        # The project's text reader: UTF-8 checked, binary and empty files refused.
        inputs += [line for line in read_text(args.file).splitlines() if line.strip()]
    if not inputs:
        raise DataError("give inputs to predict, as arguments or with --file F")
    run_ = load_run(args.run_dir, weights=args.weights, device=args.device)
    for record in run_.predict(inputs):
        print(
            json.dumps(record, ensure_ascii=False)
            if args.json
            else run_.plugin.describe_prediction(record)
        )
    return 0
