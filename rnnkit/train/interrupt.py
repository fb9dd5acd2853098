"""Ctrl-C that waits for the end of the current step, but never for an evaluation.

A KeyboardInterrupt raised in the middle of a step would leave the task's data position,
the RNGs and the weights out of step with each other, and a checkpoint written then
would not resume exactly. So while training runs in the main thread, the first Ctrl-C
only sets a flag that the trainer reads between steps; a second Ctrl-C raises
KeyboardInterrupt at once, for a user who does not want to wait.

Evaluation changes no training state, so it need not be waited for (the final one can
take minutes on a large validation set): inside `InterruptRequest.immediate()` a Ctrl-C
raises KeyboardInterrupt at once, and one that came earlier raises on entry.
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
        self.interrupts_at_once = False

    @contextlib.contextmanager
    def immediate(self) -> Iterator[None]:
        """Within the block, Ctrl-C raises KeyboardInterrupt at once; a Ctrl-C already
        requested raises on entry, so the block does not even start."""
        self.interrupts_at_once = True
        try:
            if self.requested:
                raise KeyboardInterrupt
            yield
        except KeyboardInterrupt:
            self.requested = True  # a further Ctrl-C, while saving, stops at once
            raise
        finally:
            self.interrupts_at_once = False


@contextlib.contextmanager
def deferred_sigint() -> Iterator[InterruptRequest]:
    """Within the block, the first SIGINT sets `.requested` instead of raising (except
    inside `.immediate()`).

    Only the main thread can own signal handlers, and a handler someone else installed
    (a notebook kernel, a server) is left alone; in both cases Ctrl-C raises
    KeyboardInterrupt as usual: the trainer keeps its last periodic checkpoint, or
    checkpoints the completed step if the Ctrl-C stopped an evaluation.
    """
    request = InterruptRequest()
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield request
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if request.interrupts_at_once:
            sys.stderr.write("\nCtrl-C: stopping the evaluation, then saving a checkpoint\n")
            raise KeyboardInterrupt
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
