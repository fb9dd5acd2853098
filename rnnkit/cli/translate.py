"""`rnnkit translate RUN [SENTENCE...]`: translate with a trained translation run.

Sentences come from the arguments, from ``--file`` (one per line), or, with neither,
from standard input: typed at a prompt (one sentence per line, an empty line or Ctrl-D
ends it), or piped in (every line). A blank line of a file or pipe gets a blank line
of output, so output lines match input lines.
"""

from __future__ import annotations

import argparse
import json
import sys

from rnnkit.cli.options import (
    add_device_option,
    add_input_file_options,
    add_json_option,
    add_sampling_options,
    add_weights_option,
    input_file_lines,
    sampling_from_args,
    sampling_given,
)
from rnnkit.data import read_text
from rnnkit.errors import ConfigError
from rnnkit.runs import load_run
from rnnkit.train.plots import require_matplotlib
from rnnkit.validate import check_int, check_output_path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("translate", help="translate with a trained translation run")
    p.add_argument(
        "run_dir", metavar="RUN", help="run directory written by `rnnkit train translate`"
    )
    p.add_argument(
        "sentences", nargs="*", metavar="SENTENCE", help="sentences to translate (or --file)"
    )
    add_input_file_options(p, "translate the lines of this file")
    p.add_argument("--beam", type=int, help="beam width (default: the run's, 5)")
    p.add_argument("--n-best", type=int, help="print the N best translations (default 1)")
    p.add_argument(
        "--sample",
        action="store_true",
        help="draw translations from the model instead of searching (see sampling)",
    )
    p.add_argument(
        "--attention", metavar="PNG", help="write the attention heatmap of the first sentence"
    )
    add_weights_option(p)
    add_sampling_options(p, free_text=False)
    add_device_option(p)
    add_json_option(p, "one JSON line per sentence")
    p.set_defaults(run=run, trailing="sentences")


def run(args: argparse.Namespace) -> int:
    from rnnkit.tasks.translate_decode import sample_translations, translate_texts

    sampling = _sampling(args)  # checked before the model loads
    if args.beam is not None:
        check_int("", "beam", args.beam, least=1)
    n_best = 1 if args.n_best is None else args.n_best
    check_int("", "n_best", n_best, least=1)
    if args.attention is not None:
        check_output_path(args.attention, "attention")
        require_matplotlib("attention")
    lines = input_file_lines(args, keep_blank=True)  # one output line per input line
    if not args.sentences and not lines and not sys.stdin.isatty():
        # Piped in: every line, blank ones too.
        lines = read_text("-", encoding=args.encoding).splitlines()
    sentences = list(args.sentences) + lines
    run_ = load_run(args.run_dir, weights=args.weights, device=args.device)
    if run_.task != "translate":
        raise ConfigError(
            f"{args.run_dir} is a {run_.task!r} run; rnnkit translate needs a run of "
            "`rnnkit train translate`"
        )
    interactive = not sentences
    if interactive and args.attention:
        raise ConfigError("--attention needs a SENTENCE to draw")
    batches = _non_blank_runs(sentences, len(args.sentences)) if sentences else _prompt()
    for blank, batch in batches:
        if blank:  # blank lines of the input: blank lines of output, so the two line up
            for text in batch:
                print(json.dumps({"input": text, "translation": ""}) if args.json else "")
            continue
        if sampling is not None:
            _print_samples(batch, sample_translations(run_, batch, sampling), args.json)
            continue
        results = translate_texts(run_, batch, beam=args.beam, n_best=n_best)
        for text, hypotheses in zip(batch, results, strict=True):
            if args.json:
                print(
                    json.dumps(
                        {"input": text, **hypotheses[0], "n_best": hypotheses}, ensure_ascii=False
                    )
                )
            elif n_best == 1:
                print(hypotheses[0]["translation"])
            else:
                for h in hypotheses:
                    print(f"{h['score']:.3f}\t{h['translation']}")
            sys.stdout.flush()
    if args.attention:
        from rnnkit.tasks.translate_report import write_attention_png

        write_attention_png(run_, sentences[0], args.attention)
    return 0


def _sampling(args: argparse.Namespace):
    """The SamplingConfig with --sample, None without; sampling flags without --sample,
    or --sample with the beam's flags, are a one-line error."""
    given = sampling_given(args)
    if not args.sample:
        if given:
            raise ConfigError(f"{given[0]} works with --sample (drawing instead of beam search)")
        return None
    for flag, value in (("--beam", args.beam), ("--n-best", args.n_best)):
        if value is not None:
            hint = "; --samples N draws N" if flag == "--n-best" else ""
            raise ConfigError(f"{flag} is for beam search, not --sample{hint}")
    return sampling_from_args(args)


def _print_samples(batch: list[str], results: list[list[dict]], as_json: bool) -> None:
    """Each sentence's samples, one a line (as JSON: the first and the list)."""
    for text, samples in zip(batch, results, strict=True):
        if as_json:
            line = {"input": text, **samples[0], "samples": samples}
            print(json.dumps(line, ensure_ascii=False))
        else:
            print("\n".join(s["translation"] for s in samples))
        sys.stdout.flush()


def _non_blank_runs(sentences: list[str], typed: int) -> list[tuple[bool, list[str]]]:
    """The sentences as (blank, batch) pairs: runs of consecutive sentences, each run
    either all blank lines of the input or none (the first ``typed`` sentences were
    arguments: a blank one is not a blank line but a mistake, refused later)."""
    runs: list[tuple[bool, list[str]]] = []
    for i, text in enumerate(sentences):
        blank = i >= typed and not text.strip()
        if runs and runs[-1][0] == blank:
            runs[-1][1].append(text)
        else:
            runs.append((blank, [text]))
    return runs


def _prompt():
    """One-sentence batches typed at a prompt, until an empty line or end of input."""
    while True:
        try:
            line = input("> " if sys.stdin.isatty() else "")
        except EOFError:
            return
        if not line.strip():
            return
        yield False, [line]
