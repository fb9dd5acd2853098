"""The per-step pieces shared by the fast loops of :mod:`rnnkit.nn.fast_loop`: state
mixing for zoneout and padding (forward) and its gradient split (backward), tanh from
a sigmoid, the packed per-step matrix product, and the layer norm's backward."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from rnnkit.nn import buffers
from rnnkit.nn.layernorm_cells import LN_EPS

LN_BACKWARD = torch.ops.aten.native_layer_norm_backward
_PACKED = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def mix_state(old: Tensor, new: Tensor, sel_t: Tensor | None, p: float, out: Tensor) -> None:
    """Write the state after zoneout and padding into ``out``, as the reference loop;
    ``sel_t`` (B, S) marks the units that keep their old value at this step."""
    if p:
        new = p * old + (1 - p) * new
    if sel_t is None:
        out.copy_(new)
    else:
        torch.where(sel_t, old, new, out=out)


def state_buffers(
    like: Tensor, T: int, init: Sequence[Tensor], sel: Sequence[Tensor | None], zone_p: float
) -> tuple[list[Tensor], list[Tensor], list[bool]]:
    """For each state field: its values at steps 0..T (T+1, B, S), after zoneout and
    padding, from ``init``; the buffer each step's new value is written to (the same
    buffer's [1:] where nothing mixes it, else one of its own); and whether it is that."""
    states, new, direct = [], [], []
    for x0, s in zip(init, sel, strict=True):
        buf = buffers.empty(like, T + 1, *x0.shape)
        buf[0] = x0
        d = s is None and not zone_p
        states.append(buf)
        new.append(buf[1:] if d else buffers.empty(like, T, *x0.shape))
        direct.append(d)
    return states, new, direct


def layer_output(hs: Tensor, valid: Tensor | None) -> Tensor:
    """The layer's output (T, B, H) from its states at steps 0..T (T+1, B, H): the
    states after each step, zero at padded steps (``valid`` (T, B, 1) False), in a
    buffer of its own (not a view of the saved states)."""
    out = buffers.empty(hs, hs.shape[0] - 1, *hs.shape[1:])
    return out.copy_(hs[1:]) if valid is None else torch.mul(hs[1:], valid, out=out)


def per_step(x: Tensor | None, T: int) -> Sequence[Tensor | None]:
    """``x``'s per-step views (one unbind instead of T index ops), or T Nones."""
    return x.unbind(0) if x is not None else (None,) * T


def old_weight(sel: Tensor | None, p: float, dtype: torch.dtype, T: int) -> Sequence[Any]:
    """Per step: d state_t / d state_{t-1} through the mix and 1 minus it, as a pair of
    (B, S) tensors, or the float ``p`` when it is the same everywhere (backward)."""
    if sel is None:
        return (p,) * T
    a = (
        sel.to(dtype)
        if not p
        else torch.full(sel.shape, p, dtype=dtype, device=sel.device).masked_fill_(sel, 1.0)
    )
    return tuple(zip(a.unbind(0), (1 - a).unbind(0), strict=True))


def split_grad(grad: Tensor, a_t: tuple[Tensor, Tensor] | float) -> tuple[Tensor, Tensor | None]:
    """Split a state's gradient into (to the new value, straight to the old one)."""
    if isinstance(a_t, float):
        return (grad, None) if not a_t else (grad * (1 - a_t), grad * a_t)
    return grad * a_t[1], grad * a_t[0]


def tanh_by_sigmoid(x2: Tensor, out: Tensor, minus_one: Tensor) -> Tensor:
    """tanh(x) = 2 sigmoid(2x) - 1 from ``x2`` = 2x, into ``out``: on CPU torch's tanh
    runs ~9x slower than its sigmoid (AVX512, torch 2.13); same values to float ulps."""
    return from_sigmoid(torch.sigmoid(x2, out=out), minus_one)


def from_sigmoid(s: Tensor, minus_one: Tensor) -> Tensor:
    return torch.add(minus_one, s, alpha=2, out=s)  # 2 s - 1 in place, in one op


def doubled(n: int, part: slice, like: Tensor) -> Tensor:
    """A (n,) vector of ones with 2 in ``part``: it doubles the pre-activations that
    go through tanh, which then comes from a sigmoid (see :func:`tanh_by_sigmoid`)."""
    scale = like.new_ones(n)
    scale[part] = 2.0
    return scale


def layer_norm(z: Tensor, gain: Tensor, bias: Tensor | None):
    return torch.native_layer_norm(z, z.shape[-1:], gain, bias, LN_EPS)  # (out, mean, rstd)


class Product:
    """``x -> x @ w.T`` for the per-step products of one loop, ``w`` (N, K) fixed. On
    CPU in float32 with N, K >= 256 it runs oneDNN's linear on ``w`` packed once, as
    oneDNN's own LSTM does: ~25% faster than torch.mm at H=512 (measured; equal at 128)."""

    def __init__(self, w: Tensor, batch: int) -> None:
        self.w_t, self.packed = w.t(), None
        if _PACKED and w.device.type == "cpu" and w.dtype == torch.float32 and min(w.shape) >= 256:
            self.packed = torch.ops.mkldnn._reorder_linear_weight(w.contiguous(), batch)

    def __call__(self, x: Tensor, out: Tensor | None = None) -> Tensor:
        if self.packed is None:
            return torch.mm(x, self.w_t, out=out)
        y = torch.ops.mkldnn._linear_pointwise(x, self.packed, None, "none", [], "")
        return y if out is None else out.copy_(y)

    def addmm(self, base: Tensor, x: Tensor, out: Tensor | None = None) -> Tensor:
        """``base + x @ w.T``."""
        if self.packed is None:
            return torch.addmm(base, x, self.w_t, out=out)
        return torch.add(base, self(x), out=out)


def sum_steps(parts: Sequence[list[Tensor]]) -> list[Tensor | None]:
    """Each LN parameter's gradient: its per-step parts summed in one op (None if none)."""
    return [torch.stack(p).sum(0) if p else None for p in parts]


def ln_hh_backward(
    grad: Tensor, saved: tuple[Tensor, ...] | None, gain: Tensor, d_zs: list, gains: list
) -> Tensor:
    """d (W_hh h_in) from the gradient of the recurrent term, through its LN when
    ``saved`` holds the LN's (input, mean, rstd); appends the step's parts to the lists."""
    if saved is None:
        return grad
    z, mu, rs = saved
    d_z, d_gain, _ = LN_BACKWARD(grad, z, z.shape[-1:], mu, rs, gain, None, [True, True, False])
    d_zs.append(d_z)
    gains.append(d_gain)
    return d_z


def weight_hh_grad(d_z: Tensor, hs: Tensor, keep: Tensor | None) -> Tensor:
    """``weight_hh``'s gradient over all steps in one matmul, as cuDNN does: ``d_z``
    (T, B, N) the gradients of each step's ``W_hh h_in``, ``hs`` (T+1, B, H) the states,
    ``h_in`` the state each step read (through recurrent dropout's ``keep``)."""
    T, B, N = d_z.shape
    h_in = hs[:-1] * keep if keep is not None else hs[:-1]  # (T, B, H)
    return torch.mm(d_z.reshape(T * B, N).t(), h_in.reshape(T * B, -1))


def recurrent_grad(d_z: Tensor, product: Product, keep: Tensor | None, d_out: Tensor | None):
    """d h_{t-1} through the recurrent matrix (``product``: x -> x W_hh) and recurrent
    dropout, plus the output's gradient at t-1: one fused op where possible."""
    if keep is None:
        return product(d_z) if d_out is None else product.addmm(d_out, d_z)
    dh_in = product(d_z)  # (B, H)
    return dh_in.mul_(keep) if d_out is None else torch.addcmul(d_out, dh_in, keep)
