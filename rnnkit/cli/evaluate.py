"""`rnnkit evaluate RUN DATA`: the task's figures for a trained run on new data."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from rnnkit.cli.options import add_device_option, add_json_option, add_weights_option
from rnnkit.runs import load_run
from rnnkit.validate import check_output_folder


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="score a trained run on new data")
    p.add_argument("run_dir", metavar="RUN", help="run directory written by `rnnkit train`")
    p.add_argument("data", metavar="DATA", help="data in the form the run's task reads")
    add_weights_option(p)
    p.add_argument("--report", metavar="DIR", help="also write the task's report files here")
    p.add_argument(
        "--encoding",
        help="how DATA is decoded: utf-8, auto (by byte-order mark), latin-1, ... "
        "(default: the run's own --encoding)",
    )
    add_device_option(p)
    add_json_option(p, "one JSON object of the figures")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_output_folder(args.report, "--report")
    run_ = load_run(args.run_dir, weights=args.weights, device=args.device)
    created = args.report is not None and not Path(args.report).exists()
    try:
        figures = run_.evaluate(args.data, report_dir=args.report, encoding=args.encoding)
    except BaseException:
        if created:  # a failed command leaves no half-written report behind
            shutil.rmtree(args.report, ignore_errors=True)
        raise
    if args.json:
        print(json.dumps(figures))
    else:
        print(run_.plugin.describe_figures(figures))
    return 0
