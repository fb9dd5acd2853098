"""`rnnkit generate RUN`: sample text from a trained language model."""

from __future__ import annotations

import argparse
import json

from rnnkit.cli.options import (
    add_device_option,
    add_json_option,
    add_sampling_options,
    sampling_from_args,
)
from rnnkit.runs import load_run
from rnnkit.tasks.lm_text import TextModel


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("generate", help="sample text from a trained language model")
    p.add_argument("run_dir", metavar="RUN", help="run directory written by `rnnkit train lm`")
    p.add_argument("--prime", default="", help="text to start from (default: a new line)")
    p.add_argument("--weights", choices=["best", "last"], default="best")
    p.add_argument(
        "--reference-path",
        action="store_true",
        help="step through the model's reference layer path instead of the fast "
        "incremental one (same text for the same seed, slower; for checks and timing)",
    )
    add_sampling_options(p)
    add_device_option(p)
    add_json_option(p, "one JSON line per sample")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    sampling = sampling_from_args(args)  # checked before the model loads
    lm = TextModel(load_run(args.run_dir, weights=args.weights, device=args.device))
    samples = lm.generate(args.prime, sampling, reference=args.reference_path)
    joiner = "" if lm.level == "char" else " "
    for i, text in enumerate(samples):
        if args.json:
            print(json.dumps({"prime": args.prime, "sample": text}, ensure_ascii=False))
            continue
        if len(samples) > 1:
            print(f"--- sample {i + 1} ---")
        print(f"{args.prime}{joiner if args.prime else ''}{text}")
    return 0
