"""The `rnnkit` command: a thin dispatcher over one module per subcommand.

Errors a user can cause (`RnnkitError`) end in one line on stderr and exit code 2;
Ctrl-C during training ends with the resume hint and exit code 130.
"""

from __future__ import annotations

import argparse
import sys

from rnnkit import __version__
from rnnkit.cli import complete, demo, evaluate, generate, train
from rnnkit.errors import RnnkitError

COMMANDS = (train, generate, complete, evaluate, demo)


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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args) or 0
    except RnnkitError as err:
        from rnnkit.train import TrainingInterrupted

        print(f"rnnkit: error: {err}", file=sys.stderr)
        return 130 if isinstance(err, TrainingInterrupted) else 2
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # a path we were given cannot be read or written
        print(
            f"rnnkit: error: {err.strerror or err}: {err.filename or ''}".rstrip(": "),
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
