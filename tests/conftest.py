"""Test-wide set-up: tests/ has no packages, so its shared helper modules
(kill_helpers.py) are made importable from every test folder.

A suite started in the background of a non-interactive shell (``cmd &``, nohup)
inherits SIGINT ignored, and so would every child process it starts; the Ctrl-C tests
need Python's own handler, so it is put back here (the training code rightly leaves an
ignored SIGINT ignored)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent))  # last: its folders are no packages

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
