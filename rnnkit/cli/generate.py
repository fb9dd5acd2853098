"""`rnnkit generate RUN`: sample text from a trained language model."""

from __future__ import annotations

import argparse
import json

from rnnkit.cli.options import (
    add_device_option,
    add_json_option,
    add_sampling_options,
    add_weights_option,
    sampling_from_args,
    sampling_given,
)
from rnnkit.errors import ConfigError
from rnnkit.runs import load_run
from rnnkit.tasks.lm_text import TextModel
from rnnkit.validate import check_int, check_real


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("generate", help="sample text from a trained language model")
    p.add_argument("run_dir", metavar="RUN", help="run directory written by `rnnkit train lm`")
    p.add_argument("--prime", default="", help="text to start from (default: a new line)")
    add_weights_option(p)
    p.add_argument(
        "--reference-path",
        action="store_true",
        help="step through the model's reference layer path instead of the fast "
        "incremental one (same text for the same seed, slower; for checks and timing)",
    )
    add_sampling_options(p)
    search = p.add_argument_group("beam search (instead of sampling)")
    search.add_argument(
        "--beam", type=int, help="the likeliest continuation of --length tokens, K beams"
    )
    search.add_argument("--n-best", type=int, help="print the N best continuations (default 1)")
    search.add_argument(
        "--length-penalty",
        type=float,
        help="GNMT length penalty alpha with --stop: higher favours longer outputs (default 0)",
    )
    add_device_option(p)
    add_json_option(p, "one JSON line per sample")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.beam is not None or args.n_best is not None or args.length_penalty is not None:
        return _beam(args)
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


def _beam(args: argparse.Namespace) -> int:
    """``--beam K``: the likeliest continuations by beam search instead of samples."""
    sampling = sampling_given(args) + ["--greedy"] * args.greedy
    if sampling:
        raise ConfigError(f"{sampling[0]} is for sampling; --beam searches instead")
    if args.beam is None:
        flag = "--n-best" if args.n_best is not None else "--length-penalty"
        raise ConfigError(f"{flag} needs --beam K")
    check_int("", "beam", args.beam, least=1)
    n_best = 1 if args.n_best is None else args.n_best
    check_int("", "n_best", n_best, least=1, most=args.beam)
    settings = sampling_from_args(args)  # --length and --stop, before the model loads
    if args.length_penalty is not None:
        check_real("", "length_penalty", args.length_penalty, least=0.0)
    lm = TextModel(load_run(args.run_dir, weights=args.weights, device=args.device))
    alpha = 0.0 if args.length_penalty is None else args.length_penalty
    found = lm.beam(
        args.prime, width=args.beam, length=settings.max_new_tokens, n_best=n_best,
        stop=settings.stop,  # escapes read: "\n" is a new line
        length_penalty=alpha,
    )  # fmt: skip
    joiner = "" if lm.level == "char" else " "
    if args.json:
        print(json.dumps({"prime": args.prime, "sample": found[0]["text"], "n_best": found},
                         ensure_ascii=False))  # fmt: skip
        return 0
    for h in found:
        text = f"{args.prime}{joiner if args.prime else ''}{h['text']}"
        print(text if n_best == 1 else f"{h['score']:.3f}\t{text}")
    return 0
