"""The `rnnkit` console command: `rnnkit.cli.main.main`, with what only the outermost
frame can handle. Importing the commands loads torch (a second or more); Ctrl-C in
that time ends with one line, not a traceback from inside the import. This module
imports nothing heavy for that reason."""

from __future__ import annotations

import signal
import sys


def run() -> int:
    try:
        from rnnkit.cli.main import main
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130
    code = main()
    # A second Ctrl-C while the interpreter shuts down (torch's exit handlers) would
    # print "Exception ignored in atexit callback"; the command has already answered.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


if __name__ == "__main__":
    sys.exit(run())
