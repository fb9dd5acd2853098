"""Ctrl-C handling: deferred to the step boundary, except inside an evaluation."""

from __future__ import annotations

import os
import signal
import time

import pytest

from rnnkit.train.interrupt import deferred_sigint


def press_ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def wait_for_the_handler(seconds: float = 20.0) -> None:
    """Spin (the handler runs between bytecodes) until a deadline that fails the test."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass
    pytest.fail(f"no KeyboardInterrupt within {seconds:g} s of Ctrl-C")


def test_first_ctrl_c_is_deferred_and_the_second_raises() -> None:
    with deferred_sigint() as request:
        press_ctrl_c()
        time.sleep(0.01)  # let the handler run: it must not raise
        assert request.requested
        with pytest.raises(KeyboardInterrupt):
            press_ctrl_c()
            wait_for_the_handler()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_inside_immediate_raises_at_once() -> None:
    with deferred_sigint() as request:
        with pytest.raises(KeyboardInterrupt), request.immediate():
            press_ctrl_c()
            wait_for_the_handler()
        assert request.requested  # a further Ctrl-C (while saving) stops at once
        assert not request.interrupts_at_once
        with pytest.raises(KeyboardInterrupt):
            press_ctrl_c()
            wait_for_the_handler()


def test_a_pending_ctrl_c_stops_an_immediate_block_before_it_starts() -> None:
    ran = []
    with deferred_sigint() as request:
        press_ctrl_c()
        time.sleep(0.01)
        with pytest.raises(KeyboardInterrupt), request.immediate():
            ran.append(True)
    assert ran == []


def test_after_an_immediate_block_ctrl_c_is_deferred_again() -> None:
    with deferred_sigint() as request:
        with request.immediate():
            pass
        press_ctrl_c()
        time.sleep(0.01)
        assert request.requested


def test_sigterm_is_deferred_like_ctrl_c_and_the_handlers_are_put_back() -> None:
    with deferred_sigint() as request:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)  # the default action would have ended the process
        assert request.requested and request.signal == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            wait_for_the_handler()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
