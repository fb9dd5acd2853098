"""What `Recurrent.forward` checks before it runs: every mistake a caller can make with
the input, the padding or the state ends in a typed `rnnkit.errors` exception that
names the argument and the fix, never in a raw torch or oneDNN message."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnkit.errors import InputError


def check_input(x: Any, input_size: int, batch_first: bool, weight: Tensor) -> None:
    """``x``: a floating-point (B, T, D) / (T, B, D) or (T, D) tensor with D =
    ``input_size``, at least one step, and the weights' dtype (under autocast, any)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
    layout = "(B, T, D)" if batch_first else "(T, B, D)"
    if x.dim() not in (2, 3) or x.shape[-1] != input_size:
        raise InputError(
            f"x: expected shape {layout} or (T, D) with D = input_size = {input_size}, "
            f"got {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"x: expected a floating-point tensor, got dtype {x.dtype}")
    steps = x.shape[1 if batch_first and x.dim() == 3 else 0]
    if steps == 0:
        raise InputError(
            f"x: has 0 time steps (shape {tuple(x.shape)}, layout {layout}); a sequence "
            "needs at least one step"
        )
    if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
        raise TypeError(
            f"x: dtype {x.dtype} does not match the layer's {weight.dtype} weights; convert "
            f"one of them (x.to({weight.dtype}) or layer.to({x.dtype}))"
        )
    if x.device != weight.device:
        raise InputError(
            f"x: on {x.device} but the layer's weights are on {weight.device}; move one "
            f"of them (x.to('{weight.device}') or layer.to('{x.device}'))"
        )


def check_mask_shape(mask: Tensor, batch: int, steps: int, batch_first: bool) -> None:
    """A padding mask has the first two dims of x: (B, T) or (T, B)."""
    expected = (batch, steps) if batch_first else (steps, batch)
    if isinstance(mask, Tensor) and mask.dim() == 2 and tuple(mask.shape) != expected:
        layout = "(B, T)" if batch_first else "(T, B)"
        raise InputError(
            f"mask: expected shape {layout} = {expected}, the first two dims of x, got "
            f"{tuple(mask.shape)}"
        )


def check_state_tensors(state: Any, kind: type, x: Tensor) -> None:
    """An initial state given as bare tensors has one per field of the cell's state
    (``h`` and ``c`` for an LSTM), in x's dtype and on x's device."""
    tensors = (state,) if isinstance(state, Tensor) else state
    if not (isinstance(tensors, tuple) and tensors):
        return
    flat = [t for s in tensors for t in (s if isinstance(s, tuple) else (s,))]
    if not all(isinstance(t, Tensor) for t in flat):
        return
    fields = kind._fields
    if all(isinstance(t, Tensor) for t in tensors) and len(tensors) != len(fields):
        raise InputError(
            f"state: a {kind.__name__} has {len(fields)} field(s) {fields}, got "
            f"{len(tensors)} tensor(s); pass {kind.__name__}({', '.join(fields)}) "
            "(or None for zeros)"
        )
    for t in flat:
        if t.dtype != x.dtype and not torch.is_autocast_enabled(x.device.type):
            raise TypeError(f"state: dtype {t.dtype} does not match x's {x.dtype}")
        if t.device != x.device:
            raise InputError(f"state: on {t.device} but x is on {x.device}; move it")
