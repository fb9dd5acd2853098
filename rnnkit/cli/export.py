"""`rnnkit export RUN --format onnx|torchscript`: a language model or classifier for deployment."""

from __future__ import annotations

import argparse
import json

from rnnkit.cli.options import add_json_option, add_weights_option
from rnnkit.export import FORMATS, export_run


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a run's models for deployment (ONNX or TorchScript)",
        description="For a language model, write the step model (token and state in, "
        "scores and state out), the sequence model and the vocabulary; for a classifier "
        "(ONNX only), the sequence model and its labels; to run without rnnkit "
        "(docs/deployment.md).",
    )
    p.add_argument(
        "run_dir", metavar="RUN", help="run directory of `rnnkit train lm` or `train classify`"
    )
    p.add_argument("--format", required=True, choices=FORMATS, help="file format to write")
    p.add_argument("--out", metavar="DIR", help="folder to write into (default RUN/export/FORMAT)")
    add_weights_option(p)
    add_json_option(p, "the files written")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    result = export_run(args.run_dir, args.format, args.out, weights=args.weights)
    if args.json:
        files = {role: str(path) for role, path in result.files.items()}
        print(json.dumps({**result.manifest, "out": str(result.out_dir), "files": files}))
        return 0
    kind = "language model" if result.manifest["task"] == "lm" else "classifier"
    print(f"exported {result.manifest['model']['cell']} {kind} to {result.out_dir}:")
    for role, path in result.files.items():
        print(f"  {role:9s} {path}")
    diffs = result.manifest["max_abs_difference_from_pytorch"]
    print(f"checked against PyTorch: max |difference| {max(diffs.values()):.2g}")
    return 0
