"""Recurrent state as explicit NamedTuples, and the helpers that move it around.

Shape vocabulary, used across rnnkit: ``B`` batch, ``T`` time, ``D`` input size,
``H`` hidden size, ``L`` layers, ``V`` vocabulary, ``K`` directions (1 or 2).

A cell's state is one NamedTuple of ``(B, H)`` tensors (``LSTMState(h, c)``).
A layer's state is a tuple of them, one per layer and direction, in torch.nn's
order: index ``layer * K + direction`` (direction 1 is the reverse pass).

torch.nn instead returns the "concatenated" view: each field stacked into an
``(L*K, B, H)`` tensor. :func:`stack_states` and :func:`unstack_states` convert
between the two, so ``stack_states(state).h`` is exactly ``nn.LSTM``'s ``h_n``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

import torch
from torch import Tensor

from rnnkit.errors import InputError


class RNNState(NamedTuple):
    """State of an Elman RNN cell: the hidden vector ``h`` (B, H)."""

    h: Tensor


class GRUState(NamedTuple):
    """State of a GRU cell: the hidden vector ``h`` (B, H)."""

    h: Tensor


class LSTMState(NamedTuple):
    """State of an LSTM cell: hidden ``h`` (B, H or proj_size) and cell ``c`` (B, H)."""

    h: Tensor
    c: Tensor


class MinGRUState(NamedTuple):
    """State of a minGRU cell: the hidden vector ``h`` (B, H)."""

    h: Tensor


class MinLSTMState(NamedTuple):
    """State of a minLSTM cell: the hidden vector ``h`` (B, H); it has no separate ``c``."""

    h: Tensor


S = TypeVar("S", bound=tuple)

#: A layer's state: one cell state per layer and direction, index ``layer * K + direction``.
LayerState = tuple[Any, ...]


def map_state(fn: Callable[[Tensor], Tensor], state: Any) -> Any:
    """Apply ``fn`` to every tensor in a (nested) state, keeping its NamedTuple types."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return fn(state)
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(map_state(fn, s) for s in state))
    if isinstance(state, (tuple, list)):
        return type(state)(map_state(fn, s) for s in state)
    raise TypeError(f"state: expected tensors in (named) tuples, got {type(state).__name__}")


def detach_state(state: Any) -> Any:
    """Cut the graph at a truncated-BPTT window edge: same values, no history."""
    return map_state(Tensor.detach, state)


def stack_states(state: Sequence[S]) -> S:
    """Per-layer states -> torch.nn's concatenated view.

    ``(LSTMState(h (B,H), c (B,H)), ...)`` of length ``L*K`` becomes
    ``LSTMState(h (L*K, B, H), c (L*K, B, H))``.
    """
    if len(state) == 0:
        raise ValueError("state: expected at least one layer state, got an empty sequence")
    kind = type(state[0])
    return kind(*(torch.stack(fields) for fields in zip(*state, strict=True)))


def unstack_states(stacked: S) -> tuple[S, ...]:
    """torch.nn's concatenated view -> one NamedTuple per layer and direction."""
    kind = type(stacked)
    return tuple(kind(*fields) for fields in zip(*(f.unbind(0) for f in stacked), strict=True))


def select_rows(state: Any, rows: Tensor) -> Any:
    """Keep batch rows ``rows`` of every tensor in a state (e.g. to reorder a batch)."""
    return map_state(lambda t: t.index_select(-2, rows), state)


def reset_rows(state: Any, mask: Tensor) -> Any:
    """Zero the state of batch rows where ``mask`` (B,) is True, e.g. at document edges."""
    keep = (~mask).unsqueeze(-1)  # (B, 1)
    return map_state(lambda t: t * keep.to(t.dtype), state)


def normalise_state(
    state: Any,
    cells: Sequence[Any],
    batch_size: int,
    unbatched: bool,
    num_layers: int,
    num_directions: int,
) -> LayerState | None:
    """A layer's initial state in per-layer or torch.nn-stacked form -> per-layer
    NamedTuples, checked against each cell's state shapes (for `Recurrent`)."""
    if state is None:
        return None
    kind = cells[0].state_type
    n = len(cells)
    if isinstance(state, Tensor):
        state = (state,)
    if isinstance(state, tuple) and state and all(isinstance(s, Tensor) for s in state):
        stacked = kind(*(s.unsqueeze(1) if unbatched else s for s in state))
        if any(t.dim() != 3 or t.shape[0] != n for t in stacked):
            raise InputError(
                f"state: stacked tensors must be ({n}, B, H) for {num_layers} layer(s) "
                f"x {num_directions} direction(s), got "
                f"{[tuple(t.shape) for t in state]}"
            )
        state = unstack_states(stacked)
    elif unbatched:
        state = tuple(type(s)(*(t.unsqueeze(0) for t in s)) for s in state)
    if not isinstance(state, (tuple, list)) or len(state) != n:
        raise InputError(
            f"state: expected {n} {kind.__name__} (one per layer and direction), "
            f"got {type(state).__name__} of length {len(state) if hasattr(state, '__len__') else '?'}"
        )
    checked = []
    for k, (s, cell) in enumerate(zip(state, cells, strict=True)):
        s = s if isinstance(s, kind) else kind(*s)
        expected = cell.state_shapes(batch_size)
        got = [tuple(t.shape) for t in s]
        if got != [tuple(e) for e in expected]:
            raise InputError(f"state[{k}]: expected shapes {expected}, got {got}")
        checked.append(s)
    return tuple(checked)
