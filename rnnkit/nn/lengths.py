"""Variable-length batches: validating lengths and masks, and per-sequence reversal."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.errors import InputError


def lengths_from_mask(mask: Tensor, batch_first: bool) -> Tensor:
    """Turn a boolean mask (B, T) or (T, B) of valid steps into lengths (B,).

    Each row must be a run of True followed only by False: padding goes at the end.
    A mask with holes (False then True again) is rejected, because a recurrence
    cannot skip a step in the middle and stay the same function of the sequence.
    """
    if mask.dtype != torch.bool:
        raise InputError(f"mask: expected a torch.bool tensor, got dtype {mask.dtype}")
    if mask.dim() != 2:
        raise InputError(
            f"mask: expected 2 dims {'(B, T)' if batch_first else '(T, B)'}, "
            f"got shape {tuple(mask.shape)}"
        )
    rows = mask if batch_first else mask.t()  # (B, T)
    lengths = rows.sum(dim=1)
    positions = torch.arange(rows.shape[1], device=rows.device)  # (T,)
    prefix = positions.unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
    holes = (prefix != rows).any(dim=1)
    if bool(holes.any()):
        bad = holes.nonzero().flatten()[:5].tolist()
        raise InputError(
            f"mask: rows {bad} have holes (a False step followed by True); "
            "valid steps must come first and padding last"
        )
    return lengths


def check_lengths(lengths: Tensor | list[int], batch_size: int, max_len: int) -> Tensor:
    """Validate ``lengths`` against the padded batch and return a CPU int64 tensor (B,)."""
    if not isinstance(lengths, Tensor):
        try:
            lengths = torch.as_tensor(lengths)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"lengths: expected a 1-D tensor or list of ints ({err})") from None
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool or lengths.is_complex():
        raise TypeError(f"lengths: expected an integer tensor, got dtype {lengths.dtype}")
    if lengths.dim() != 1 or lengths.shape[0] != batch_size:
        raise InputError(
            f"lengths: expected shape ({batch_size},), one length per sequence, "
            f"got {tuple(lengths.shape)}"
        )
    if lengths.device.type == "meta":
        raise InputError(
            "lengths: on the meta device, which holds no values; pass real lengths "
            "(on the CPU or x's device)"
        )
    lengths = lengths.to("cpu", torch.int64)
    if batch_size and int(lengths.min()) < 1:
        raise InputError(
            f"lengths: every sequence needs at least 1 step, got minimum {int(lengths.min())}; "
            "drop empty sequences from the batch"
        )
    if batch_size and int(lengths.max()) > max_len:
        raise InputError(
            f"lengths: maximum {int(lengths.max())} is longer than the padded input ({max_len} steps)"
        )
    return lengths


def step_mask(lengths: Tensor, max_len: int, device: torch.device) -> Tensor:
    """Boolean (T, B, 1): True where step t is inside sequence b."""
    positions = torch.arange(max_len, device=device).unsqueeze(1)  # (T, 1)
    return (positions < lengths.to(device).unsqueeze(0)).unsqueeze(-1)  # (T, B, 1)


def reversal_index(lengths: Tensor, max_len: int, device: torch.device) -> Tensor:
    """Index (T, B) that reverses each sequence within its own length.

    Step t of sequence b maps to ``len_b - 1 - t`` while ``t < len_b``; padding
    steps stay where they are. Applying it twice is the identity, so the same index
    turns the reversed outputs back into input order.
    """
    t = torch.arange(max_len, device=device).unsqueeze(1)  # (T, 1)
    n = lengths.to(device).unsqueeze(0)  # (1, B)
    return torch.where(t < n, n - 1 - t, t)  # (T, B)


def reverse_in_time(x: Tensor, index: Tensor | None) -> Tensor:
    """Reverse time-major ``x`` (T, B, F) per sequence (``index``) or whole (None)."""
    if index is None:
        return x.flip(0)
    return x.gather(0, index.unsqueeze(-1).expand_as(x))  # (T, B, F)
