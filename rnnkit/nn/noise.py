"""Noise on the recurrence: variational (recurrent) dropout and zoneout, and the
reference step loop that applies them, the specification of every faster path.

* **Recurrent dropout** (Gal & Ghahramani 2016): in training, one mask per sequence
  and layer/direction zeroes units of :math:`h_{t-1}` where it enters the recurrent
  matrix, the same mask at every step; kept units are scaled by 1/(1-p). The state
  carried forward (and a GRU's update :math:`z \\odot h_{t-1}`) keeps the unmasked
  :math:`h_{t-1}`. Off at evaluation.
* **Zoneout** (Krueger et al. 2017): in training each unit of every state field
  (``h``, and ``c`` for an LSTM) keeps its previous value with probability p, a fresh
  mask at every step; at evaluation the expectation,
  :math:`s_t = p\\, s_{t-1} + (1-p)\\, s^{new}_t`. The step's output is the zoned ``h``.

Masks are drawn by :func:`draw_noise` once per forward call, in one order (for each
layer/direction ``k = layer * K + direction``: the dropout mask, then each state
field's zoneout masks for all T steps), so every path sees the same masks for the
same seed.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnkit.errors import ConfigError
from rnnkit.nn import native
from rnnkit.nn.cell import RecurrentCell, Weights


class CellNoise(NamedTuple):
    """The noise of one layer and direction for one forward call."""

    keep: Tensor | None  # (B, P): recurrent dropout's mask, 0 or 1/(1-p); None = off
    zone: tuple[Tensor, ...] | None  # per state field (T, B, S) bool, True = keep old
    zone_p: float  # at evaluation: the weight of the old state (0 = off)


def check_noise(cells: Sequence[RecurrentCell], recurrent_dropout: Any, zoneout: Any) -> None:
    """Validate the two probabilities, and that the cells can take recurrent dropout."""
    for name, p in (("recurrent_dropout", recurrent_dropout), ("zoneout", zoneout)):
        if isinstance(p, bool) or not isinstance(p, (int, float)):
            raise TypeError(f"{name}: expected a float in [0, 1), got {p!r}")
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"{name}: expected a probability in [0, 1), got {p}")
    if recurrent_dropout and "h_rec" not in inspect.signature(cells[0].step).parameters:
        raise ConfigError(
            f"recurrent_dropout: {type(cells[0]).__name__} has no recurrent matrix input "
            "(its step takes no h_rec); set recurrent_dropout to 0",
            field="recurrent_dropout",
            problem=f"needs a recurrent matrix, which the {type(cells[0]).__name__} has not; "
            "leave it out (dropout and zoneout work)",
        )


def noise_reason(recurrent_dropout: float, zoneout: float, training: bool) -> str | None:
    """What noise a forward call in this mode applies, in words, or None for none."""
    active = []
    if recurrent_dropout and training:
        active.append(f"recurrent_dropout={recurrent_dropout} in training")
    if zoneout:
        active.append(f"zoneout={zoneout} " + ("in training" if training else "at evaluation"))
    return " and ".join(active) or None


def draw_noise(layer: Any, x: Tensor) -> tuple[CellNoise, ...] | None:
    """Each cell's noise for one forward call of ``layer`` (a `Recurrent`) on its
    batched input ``x``, or None without noise (see the module docstring for the order)."""
    recurrent_dropout, zoneout, training = layer.recurrent_dropout, layer.zoneout, layer.training
    if noise_reason(recurrent_dropout, zoneout, training) is None:
        return None
    T, B = x.shape[:2] if not layer.batch_first else x.shape[:2][::-1]
    cells, device, dtype = layer.cells, x.device, x.dtype
    noises = []
    for cell in cells:
        keep = zone = None
        if recurrent_dropout and training:
            p = recurrent_dropout
            keep = torch.empty(B, cell.output_size, device=device, dtype=dtype)
            keep = keep.bernoulli_(1.0 - p).div_(1.0 - p)  # (B, P)
        if zoneout and training:
            zone = tuple(
                _zoneout_mask((T, *shape), zoneout, device) for shape in cell.state_shapes(B)
            )  # each (T, B, S), True with probability zoneout
        noises.append(CellNoise(keep, zone, 0.0 if training else float(zoneout)))
    return tuple(noises)


def _zoneout_mask(shape: tuple[int, ...], p: float, device: torch.device) -> Tensor:
    """True with probability ``p``: on CPU drawn by the native kernels where they
    compiled (torch.rand took ~25% of a zoneout LSTM's forward at H=128), else by
    ``torch.rand`` (~1.6x ``bernoulli_``'s speed)."""
    mask = native.bernoulli(shape, p) if device.type == "cpu" else None
    return mask if mask is not None else torch.rand(shape, device=device) < p


def zoneout_eval(state: Any, new_state: Any, p: float) -> Any:
    """Zoneout at evaluation, field by field: ``p * old + (1 - p) * new``. A stepper that
    runs a layer with ``zoneout`` one token at a time must apply this after each step."""
    return type(state)(*(p * o + (1 - p) * n for n, o in zip(new_state, state, strict=True)))


def step_loop(
    cell: RecurrentCell,
    gx: Tensor,
    state: Any,
    w: Weights,
    mask: Tensor | None,
    noise: CellNoise | None = None,
) -> tuple[Tensor, Any]:
    """The reference time loop of one layer and direction: ``gx`` (T, B, G*H) projected
    inputs -> outputs (T, B, H) and the final state. ``mask`` (T, B, 1) marks valid
    steps: past a sequence's end its state freezes and its output is zero."""
    outputs = []
    for t in range(gx.shape[0]):
        if noise is not None and noise.keep is not None:
            h, new_state = cell.step(gx[t], state, w, h_rec=state[0] * noise.keep)
        else:
            h, new_state = cell.step(gx[t], state, w)
        if noise is not None and noise.zone is not None:
            new_state = type(state)(
                *(
                    torch.where(z[t], o, n)
                    for z, n, o in zip(noise.zone, new_state, state, strict=True)
                )
            )
            h = new_state[0]
        elif noise is not None and noise.zone_p:
            new_state = zoneout_eval(state, new_state, noise.zone_p)
            h = new_state[0]
        if mask is not None:
            m = mask[t]  # (B, 1)
            new_state = type(state)(
                *(torch.where(m, n, o) for n, o in zip(new_state, state, strict=True))
            )
            h = torch.where(m, h, torch.zeros((), dtype=h.dtype, device=h.device))
        outputs.append(h)
        state = new_state
    return torch.stack(outputs), state  # (T, B, H)
