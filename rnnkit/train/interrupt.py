"""Ctrl-C that waits for the end of the current step.

A KeyboardInterrupt raised in the middle of a step would leave the task's data position,
the RNGs and the weights out of step with each other, and a checkpoint written then
would not resume exactly. So while training runs in the main thread, the first Ctrl-C
only sets a flag that the trainer reads between steps; a second Ctrl-C raises
KeyboardInterrupt at once, for a user who does not want to wait.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType


class InterruptRequest:
    """Set by the first Ctrl-C; the trainer stops at the next step boundary."""

    def __init__(self) -> None:
        self.requested = False


@contextlib.contextmanager
def deferred_sigint() -> Iterator[InterruptRequest]:
    """Within the block, the first SIGINT sets `.requested` instead of raising.

    Only the main thread can own signal handlers, and a handler someone else installed
    (a notebook kernel, a server) is left alone; in both cases Ctrl-C raises
    KeyboardInterrupt as usual and the trainer keeps its last periodic checkpoint.
    """
    request = InterruptRequest()
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield request
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if request.requested:
            raise KeyboardInterrupt
        request.requested = True
        sys.stderr.write(
            "\nCtrl-C: finishing this step, then saving a checkpoint "
            "(press Ctrl-C again to stop at once without saving)\n"
        )

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, previous)
