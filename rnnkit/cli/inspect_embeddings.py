"""`rnnkit inspect embeddings RUN --word WORD`: a word's nearest words in the embedding."""

from __future__ import annotations

import argparse
import json

from rnnkit.cli.options import add_device_option, add_json_option, add_weights_option
from rnnkit.inspect.embeddings import FREQUENT, nearest_tokens, shown, write_embedding_map
from rnnkit.inspect.table import format_table
from rnnkit.runs import load_run
from rnnkit.train.plots import require_matplotlib
from rnnkit.validate import check_int, check_output_path


def add_parser(views) -> None:
    p = views.add_parser(
        "embeddings",
        help="a word's nearest words by cosine similarity of the input embeddings",
        description="The nearest words to --word by cosine similarity of a language "
        "model's input embedding rows, and optionally a 2-D PCA map of the most frequent "
        "words. Word-level runs are the interesting case; a char-level run works too, "
        "with characters as the words.",
    )
    p.add_argument("run_dir", metavar="RUN", help="run directory of `rnnkit train lm`")
    p.add_argument("--word", required=True, help="the word (a character for a char-level run)")
    p.add_argument("--top", type=int, default=10, help="how many neighbours (default 10)")
    p.add_argument("--png", metavar="PNG", help="also write a 2-D map of the embeddings here")
    p.add_argument(
        "--frequent",
        type=int,
        default=FREQUENT,
        metavar="N",
        help=f"the map shows the N most frequent words (default {FREQUENT})",
    )
    add_weights_option(p)
    add_device_option(p)
    add_json_option(p, "the neighbours")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_int("", "top", args.top, least=1)
    check_int("", "frequent", args.frequent, least=1)
    check_output_path(args.png, "png")
    if args.png:
        require_matplotlib("png")
    run_ = load_run(args.run_dir, weights=args.weights, device=args.device)
    neighbours = nearest_tokens(run_, args.word, args.top)
    if args.png:
        write_embedding_map(
            args.png, run_, args.word, [t for t, _ in neighbours], frequent=args.frequent
        )
    if args.json:
        rows = [{"word": t, "similarity": s} for t, s in neighbours]
        print(json.dumps({"word": args.word, "neighbours": rows, "png": args.png}))
        return 0
    print(f"nearest to {shown(args.word)} (cosine similarity of the input embeddings):")
    print(format_table(("word", "cosine"), [(shown(t), f"{s:+.3f}") for t, s in neighbours]))
    if args.png:
        print(f"wrote {args.png}")
    return 0
