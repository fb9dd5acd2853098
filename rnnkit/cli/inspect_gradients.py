"""`rnnkit inspect gradients [RUN]`: gradient norms through time, fresh cells or a trained LM."""

from __future__ import annotations

import argparse
import json

from rnnkit.cli.options import add_json_option
from rnnkit.errors import ConfigError, VocabularyError

#: Flags that shape fresh cells; a trained run fixes these itself.
FRESH_ONLY = {
    "cells": "--cells",
    "hidden_size": "--hidden",
    "input_size": "--input-size",
    "nonlinearity": "--nonlinearity",
    "recurrent_scale": "--recurrent-scale",
}


def add_parser(views) -> None:
    p = views.add_parser(
        "gradients",
        help="how the gradient of a last-step loss decays or grows back through time",
        description="Norm of dLoss/dh_t and dLoss/dx_t at every step t for a loss on the "
        "last step only: fresh rnn/lstm/gru cells side by side, or a trained "
        "language-model run (per layer). See docs/inspect.md.",
    )
    p.add_argument(
        "run_dir", metavar="RUN", nargs="?", help="a language-model run (default: fresh cells)"
    )
    p.add_argument("--cells", nargs="+", metavar="CELL", help="fresh cells (default rnn lstm gru)")
    p.add_argument("--length", type=int, default=50, metavar="T", help="steps (default 50)")
    p.add_argument("--hidden", dest="hidden_size", type=int, metavar="H", help="default 32")
    p.add_argument("--input-size", dest="input_size", type=int, metavar="D", help="default 16")
    p.add_argument("--nonlinearity", help="tanh (default) or relu, for the rnn cell")
    p.add_argument(
        "--recurrent-scale",
        dest="recurrent_scale",
        type=float,
        metavar="S",
        help="multiply the fresh recurrent weights (default 1; 3 makes a tanh RNN explode)",
    )
    p.add_argument(
        "--batch",
        dest="batch_size",
        type=int,
        default=16,
        metavar="B",
        help="sequences averaged over (default 16; a --text is one sequence)",
    )
    p.add_argument("--seed", type=int, default=0, help="inputs and fresh weights (default 0)")
    p.add_argument(
        "--text", metavar="FILE", help="with RUN: read this text instead of random tokens"
    )
    p.add_argument("--clip", type=float, default=1.0, help="clipping max norm shown (default 1)")
    p.add_argument(
        "--threshold",
        type=float,
        default=10.0,
        help="dh(1)/dh(T) above this counts as exploding (default 10)",
    )
    p.add_argument("--csv", metavar="CSV", help="write the norms here, one row per step")
    p.add_argument("--png", metavar="PNG", help="write the log-scale plot here")
    add_json_option(p, "the report as one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.inspect.gradient_report import (
        format_gradient_report,
        write_gradient_csv,
        write_gradient_plot,
    )
    from rnnkit.inspect.gradients import (
        FreshCells,
        GradientConfig,
        compare_cells,
        lm_gradient_flow,
    )
    from rnnkit.train.plots import require_matplotlib
    from rnnkit.validate import check_output_path

    config = GradientConfig(
        length=args.length,
        batch_size=args.batch_size,
        seed=args.seed,
        clip=args.clip,
        threshold=args.threshold,
    )
    check_output_path(args.csv, "csv")
    check_output_path(args.png, "png")
    if args.png:
        require_matplotlib("png")
    fresh_given = {k: getattr(args, k) for k in FRESH_ONLY if getattr(args, k) is not None}
    if args.run_dir is None:
        if args.text is not None:
            raise ConfigError("--text needs a RUN (a language-model run) to read it")
        if args.cells is not None:
            fresh_given["cells"] = tuple(args.cells)
        report = compare_cells(FreshCells(**fresh_given), config)
    else:
        if fresh_given:
            flags = ", ".join(FRESH_ONLY[k] for k in fresh_given)
            raise ConfigError(f"{flags}: for fresh cells only; a RUN brings its own cell and sizes")
        run_ = _load_lm_run(args.run_dir)
        text = _read(args.text) if args.text is not None else None
        try:
            report = lm_gradient_flow(run_, config, text)
        except VocabularyError as err:  # only the text's tokens can be unknown
            raise VocabularyError(f"--text: {err}") from err
    if args.csv:
        write_gradient_csv(args.csv, report)
    if args.png:
        write_gradient_plot(args.png, report)
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        print(format_gradient_report(report))
    return 0


def _read(path: str) -> str:
    from rnnkit.data import read_text
    from rnnkit.errors import DataError

    try:
        return read_text(path)
    except DataError as err:
        raise DataError(f"--text: {err}") from err


def _load_lm_run(run_dir: str):
    from rnnkit.runs import load_run

    run_ = load_run(run_dir)
    if run_.task != "lm":
        raise ConfigError(
            f"RUN {run_dir} is a {run_.task!r} run; inspect gradients reads language-model "
            "runs (of `rnnkit train lm`) or, without RUN, fresh cells"
        )
    return run_
