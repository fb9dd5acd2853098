"""The `rnnkit` command: a thin dispatcher over one module per subcommand.

Errors a user can cause (`RnnkitError`) end in one line on stderr and exit code 2;
an error about a setting names the flag the user typed (`--minutes`, not
`TrainConfig.max_minutes`). Ctrl-C during training ends with the resume hint and exit
code 130 (SIGTERM: 143, after the same checkpoint).
"""

from __future__ import annotations

import argparse
import sys
import warnings

from rnnkit import __version__
from rnnkit.cli import (
    bench,
    complete,
    demo,
    evaluate,
    export,
    forecast,
    generate,
    inspect,
    predict,
    train,
    translate,
)
from rnnkit.errors import ConfigError, RnnkitError, RnnkitWarning
from rnnkit.train.launch import first_process

COMMANDS = (
    train,
    generate,
    complete,
    predict,
    forecast,
    translate,
    evaluate,
    export,
    inspect,
    bench,
    demo,
)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line naming the fix, not a usage dump."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="rnnkit", description="Recurrent neural networks on PyTorch.")
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers)
    _record_flags(parser)
    return parser


def _record_flags(parser: argparse.ArgumentParser) -> None:
    """Give every subcommand parser a map from setting (dest) to the flag that sets it."""

    # The longest spelling, but for an on/off flag the one that turns it on (not --no-X).
    def spelling(option: str) -> tuple[bool, int]:
        return (not option.startswith("--no-"), len(option))

    flags = {
        a.dest: max(a.option_strings, key=spelling) for a in parser._actions if a.option_strings
    }
    parser.set_defaults(flag_names=flags)
    # No abbreviations: --step must not quietly mean --steps (nor break when a flag
    # with the same start is added later).
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _record_flags(sub)


def user_message(err: RnnkitError, flags: dict[str, str]) -> str:
    """The error as the user should read it: a setting's error names its flag."""
    if isinstance(err, ConfigError) and err.field in flags and err.problem:
        return f"{flags[err.field]} {err.problem.replace(' or None', '')}"
    return str(err)


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """argparse, except that a command whose inputs are free text (``trailing``: the
    name of its list of positionals) also takes them after its options, as in
    ``rnnkit translate RUN --beam 3 "Hello."``, which argparse alone refuses."""
    args, extra = parser.parse_known_args(argv)
    field = getattr(args, "trailing", None)
    if extra and field and not any(e.startswith("-") for e in extra):
        setattr(args, field, [*getattr(args, field), *extra])
    elif extra:
        parser.parse_args(argv)  # the usual one-line error about the unknown arguments
    return args


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, RnnkitWarning):  # ours: one line, in the user's words
        print(f"rnnkit: warning: {message}", file=sys.stderr)
    else:
        _default_show_warning(message, category, filename, lineno, file, line)


_default_show_warning = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    with warnings.catch_warnings():  # put back as they were when the command returns
        warnings.simplefilter("default", RnnkitWarning)  # shown, even where others raise
        warnings.showwarning = _show_warning
        return _run_command(argv)


def _run_command(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args) or 0
    except RnnkitError as err:
        from rnnkit.train import TrainingInterrupted

        if first_process():
            print(f"rnnkit: error: {user_message(err, args.flag_names)}", file=sys.stderr)
        if isinstance(err, TrainingInterrupted):  # the shells' codes for the two signals
            return 143 if err.signal == "SIGTERM" else 130
        return 2
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130
    except (MemoryError, RuntimeError) as err:
        if not _out_of_memory(err):
            raise  # a bug: its traceback is what a report needs
        if first_process():
            print(
                "rnnkit: error: out of memory (the model or a batch is too large for this "
                "machine); try a smaller --hidden, --batch-size or --seq-len",
                file=sys.stderr,
            )
        return 2
    except OSError as err:  # a path we were given cannot be read or written
        if not first_process():
            return 2
        print(
            f"rnnkit: error: {err.strerror or err}: {err.filename or ''}".rstrip(": "),
            file=sys.stderr,
        )
        return 2


def _out_of_memory(err: BaseException) -> bool:
    text = str(err)
    return isinstance(err, MemoryError) or any(
        words in text for words in ("can't allocate memory", "out of memory", "Out of memory")
    )


if __name__ == "__main__":
    sys.exit(main())
