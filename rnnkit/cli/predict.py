"""`rnnkit predict RUN INPUT... | --file F`: the trained run's prediction for each input."""

from __future__ import annotations

import argparse
import json

from rnnkit.cli.options import (
    add_device_option,
    add_input_file_options,
    add_json_option,
    add_weights_option,
    input_file_lines,
)
from rnnkit.errors import DataError
from rnnkit.runs import load_run


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("predict", help="predict with a trained run")
    p.add_argument(
        "run_dir", metavar="RUN", help="run directory written by `rnnkit train classify`"
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="inputs as text")
    add_input_file_options(p, "read inputs from this file")
    add_weights_option(p)
    add_device_option(p)
    add_json_option(p, "one JSON line per input")
    p.set_defaults(run=run, trailing="inputs")


def run(args: argparse.Namespace) -> int:
    inputs = list(args.inputs) + input_file_lines(args)
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
