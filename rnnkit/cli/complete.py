"""`rnnkit complete RUN`: type a few words, get the next ones (word-level models)."""

from __future__ import annotations

import argparse
import itertools
import json
import sys

from rnnkit.cli.options import add_device_option, add_json_option
from rnnkit.decode import SamplingConfig
from rnnkit.errors import ConfigError, RnnkitError
from rnnkit.runs import load_run
from rnnkit.tasks.lm_text import TextModel
from rnnkit.validate import check_int


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("complete", help="interactive next-word completion")
    p.add_argument("run_dir", metavar="RUN", help="a word-level run directory")
    p.add_argument(
        "--words", dest="max_new_tokens", type=int, default=32, help="words to add (default 32)"
    )
    p.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="sample at this temperature instead of taking the likeliest word (0 = likeliest)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="fixed seed for --temperature: the same words each time",
    )
    p.add_argument("--beam", type=int, help="the likeliest completion by beam search with K beams")
    add_device_option(p)
    add_json_option(p, "one JSON line per completion")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.beam is not None:
        if args.temperature is not None:
            raise ConfigError("--temperature samples; --beam searches: give one of them")
        check_int("", "beam", args.beam, least=1)
    sampling = SamplingConfig(
        greedy=args.temperature is None,
        temperature=1.0 if args.temperature is None else args.temperature,
        seed=args.seed,
        max_new_tokens=args.max_new_tokens,
    )
    lm = TextModel(load_run(args.run_dir, device=args.device))
    if lm.level != "word":
        raise ConfigError(
            f"{args.run_dir} is a {lm.level}-level model; "
            "completion needs one trained with --level word"
        )
    need = lm.window or 1
    interactive = sys.stdin.isatty()
    if interactive:
        print(
            f"Type {need if lm.window else 'some'} word(s) and press Enter; "
            "an empty line or Ctrl-D ends."
        )
    failed = 0
    for number in itertools.count(1):
        if interactive:
            print("> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line or not line.strip():
            break
        words = line.strip()
        try:
            if lm.window and len(lm.tokenizer.tokenize(words)) != lm.window:
                raise ConfigError(
                    f"this model reads exactly {lm.window} words (its --window), got "
                    f"{len(lm.tokenizer.tokenize(words))}"
                )
            if args.beam is None:
                (continuation,) = lm.generate(words, sampling)
            else:
                width, length = args.beam, args.max_new_tokens
                continuation = lm.beam(words, width=width, length=length)[0]["text"]
        except RnnkitError as err:  # one bad line does not end the session
            where = "" if interactive else f"line {number}: "
            print(f"rnnkit: error: {where}{err}", file=sys.stderr, flush=True)
            failed += 1
            continue
        if args.json:
            print(json.dumps({"input": words, "completion": continuation}, ensure_ascii=False))
        else:
            print(f"{words} {continuation}", flush=True)
    # Typed at a terminal, a bad line was answered there; read from a pipe or file,
    # the exit status tells a script that some lines were not completed.
    return 2 if failed and not interactive else 0
