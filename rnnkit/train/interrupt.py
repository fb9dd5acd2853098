"""Ctrl-C and SIGTERM that wait for the end of the current step, but never for an evaluation.

SIGTERM (what schedulers, ``kill`` and container runtimes send) is handled exactly like
Ctrl-C, so a run stopped by a scheduler checkpoints its last step and resumes exactly.

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

from rnnkit.train.launch import first_process


class InterruptRequest:
    """Set by the first Ctrl-C or SIGTERM; the trainer stops at the next step boundary.
    ``signal`` names the signal that asked ("Ctrl-C" or "SIGTERM"), None before."""

    def __init__(self) -> None:
        self.requested = False
        self.interrupts_at_once = False
        self.signal: str | None = None

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


#: The signals deferred to the step boundary, with the name a message gives each, and
#: the handler each must still have for rnnkit to take it over.
DEFERRED = {
    signal.SIGINT: ("Ctrl-C", signal.default_int_handler),
    signal.SIGTERM: ("SIGTERM", signal.SIG_DFL),
}


@contextlib.contextmanager
def deferred_sigint() -> Iterator[InterruptRequest]:
    """Within the block, the first SIGINT or SIGTERM sets `.requested` instead of
    stopping the process (except inside `.immediate()`); the second one raises
    KeyboardInterrupt at once.

    Only the main thread can own signal handlers, and a handler someone else installed
    (a notebook kernel, a server) is left alone; then that signal acts as usual: the
    trainer keeps its last periodic checkpoint, or checkpoints the completed step if a
    Ctrl-C stopped an evaluation.
    """
    request = InterruptRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        name = DEFERRED[signum][0]
        if request.interrupts_at_once:
            request.signal = request.signal or name
            sys.stderr.write(f"\n{name}: stopping the evaluation, then saving a checkpoint\n")
            raise KeyboardInterrupt
        if request.requested:
            raise KeyboardInterrupt
        request.requested = True
        request.signal = name
        if first_process():  # every process of a --nproc run gets the signal
            sys.stderr.write(
                f"\n{name}: finishing this step, then saving a checkpoint "
                f"(send {name} again to stop at once without saving)\n"
            )

    previous = {}
    for signum, (_, default) in DEFERRED.items():
        if signal.getsignal(signum) is default:
            previous[signum] = signal.signal(signum, handler)
    try:
        yield request
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
