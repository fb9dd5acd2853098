"""`rnnkit inspect activations RUN --text FILE --html PAGE`: neuron activations over a text."""

from __future__ import annotations

import argparse
import json

from rnnkit.cli.options import add_device_option, add_json_option, add_weights_option
from rnnkit.data.text import read_text
from rnnkit.inspect.activations import (
    MAX_CHARS,
    strongest_neurons,
    trace_activations,
    write_activation_page,
)
from rnnkit.runs import load_run
from rnnkit.validate import check_int, check_output_path


def add_parser(views) -> None:
    p = views.add_parser(
        "activations",
        help="a web page of a char-level language model's neurons over a text",
        description="Run a text through a character-level language model and write one "
        "self-contained HTML page: the text coloured by a neuron's output, the model's "
        "likeliest next characters on hover, and the neurons that follow quotes, "
        "brackets, the position in the line and word starts.",
    )
    p.add_argument("run_dir", metavar="RUN", help="run directory of `rnnkit train lm --level char`")
    p.add_argument("--text", required=True, metavar="FILE", help="the text to read (- for stdin)")
    p.add_argument(
        "--encoding", default="utf-8", help="of --text: utf-8 (default), auto, latin-1, ..."
    )
    p.add_argument("--html", required=True, metavar="PAGE", help="write the page here")
    p.add_argument(
        "--max-chars",
        dest="max_chars",
        type=int,
        default=MAX_CHARS,
        help=f"read at most this many characters of the text (default {MAX_CHARS})",
    )
    p.add_argument("--layer", type=int, help="layer the page opens on, from 0 (default: the last)")
    p.add_argument("--neuron", type=int, default=0, help="neuron it opens on, from 0 (default 0)")
    add_weights_option(p)
    add_device_option(p)
    add_json_option(p, "the page's path, sizes and each feature's strongest neurons")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_output_path(args.html, "html")
    check_int("", "max_chars", args.max_chars, least=1)
    text = read_text(args.text, encoding=args.encoding)
    run_ = load_run(args.run_dir, weights=args.weights, device=args.device)
    trace = trace_activations(run_, text, max_chars=args.max_chars)
    page = write_activation_page(
        args.html, trace, layer=args.layer, neuron=args.neuron, title=run_.run_dir.resolve().name
    )
    if args.json:
        strongest = {
            name: [{"layer": layer, "neuron": k, "r": round(r, 4)} for layer, k, r in found]
            for name, found in strongest_neurons(trace).items()
        }
        print(
            json.dumps(
                {
                    "page": str(page),
                    "characters": len(trace.tokens),
                    "total_characters": trace.total_chars,
                    "layers": len(trace.layers),
                    "neurons_per_layer": int(trace.layers[0].shape[1]),
                    "strongest": strongest,
                }
            )
        )
        return 0
    cut = f" (the first of {trace.total_chars})" if trace.total_chars > len(trace.tokens) else ""
    print(f"wrote {page}: {len(trace.tokens)} characters{cut}, {len(trace.layers)} layer(s)")
    return 0
