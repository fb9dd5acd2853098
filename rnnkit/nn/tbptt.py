"""Truncated backpropagation through time: carry the state across calls, detached.

A long sequence is cut into windows of T steps. Each window starts from the
previous window's final state (so the network sees the whole history in the
forward pass) but gradients stop at the window edge (``detach``), so memory and
time per update stay O(T). Reset the state at document edges.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from rnnkit.nn.state import detach_state, reset_rows


class TBPTT:
    """Wrap a recurrent module so each call continues from the last one's state.

    >>> runner = TBPTT(LSTM(8, 16, batch_first=True))
    >>> for window in windows:            # (B, T, D) each, consecutive
    ...     out, _ = runner(window)        # starts where the last window ended
    ...     loss(out).backward()           # gradients stop at the window edge
    >>> runner.reset()                     # new documents: start from zeros

    ``state`` is the carried state (None before the first call or after a reset).
    """

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.state: Any = None

    def __call__(self, x: Tensor, **kwargs: Any) -> tuple[Tensor, Any]:
        """Run ``module(x, state, **kwargs)``; keep the final state, detached, for next time.

        Returns the module's ``(output, state)``; that state is still attached to
        the graph, for a caller that wants it.
        """
        output, state = self.module(x, self.state, **kwargs)
        self.state = detach_state(state)
        return output, state

    def reset(self, rows: Tensor | None = None) -> None:
        """Forget the carried state: all of it, or only batch rows where ``rows`` (B,) is True."""
        if rows is None or self.state is None:
            self.state = None
        else:
            self.state = reset_rows(self.state, rows)
