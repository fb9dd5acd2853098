r"""A parallel scan for the linear recurrence :math:`h_t = a_t \odot h_{t-1} + b_t`, in log space.

When the coefficients depend on the inputs only (not on :math:`h`), the recurrence
has the closed form

.. math::
    h_t = A_t \odot h_0 + \sum_{k \le t} \frac{A_t}{A_k} \odot b_k,
    \qquad A_t = \prod_{j \le t} a_j ,

so every :math:`h_t` can be computed at once instead of one step after another.
With :math:`a^*_t = \sum_{j \le t} \log a_j` (a cumulative sum) the sum is a
log-cumulative-sum-exp (Heinsen 2023; Feng et al. 2024, appendix B):

.. math::
    h_t = e^{a^*_t} \odot h_0 + \exp\big(a^*_t + \mathrm{logcumsumexp}_{k \le t}
          (\log b_k - a^*_k)\big).

Why log space: :math:`A_t` underflows (and :math:`1/A_k` overflows) after a few
hundred steps of gates below 1, while :math:`a^*_t` only grows linearly in
magnitude. Why chunks: the float error of :math:`a^*_t + \mathrm{logcumsumexp}(\cdot)`
grows with :math:`|a^*_t|`, i.e. with the length scanned, so the scan runs over
chunks of ``chunk`` steps at once and carries :math:`h` from chunk to chunk with one
multiply-add per chunk. The chunks are scanned in parallel, the carries after.

Gradients come from the backward recurrence, not from differentiating the formula:
with :math:`g_t = \partial L / \partial h_t` in total,

.. math::
    g_t = \bar g_t + a_{t+1} \odot g_{t+1}, \quad
    \frac{\partial L}{\partial \log b_t} = g_t \odot b_t, \quad
    \frac{\partial L}{\partial \log a_t} = g_t \odot a_t \odot h_{t-1}, \quad
    \frac{\partial L}{\partial h_0} = a_1 \odot g_1,

where :math:`\bar g_t` is the gradient arriving at output t. That is the same kind
of scan run backwards in time; its inputs :math:`\bar g_t` have either sign, so it
runs twice, on their positive and negative parts. Autograd through
``logcumsumexp`` instead subtracts terms of size :math:`e^{|a^*|}` that cancel, and
lost three digits in float32 at T = 150 in our tests.

The initial state enters as the first term :math:`e^{a^*_t} \odot h_0`, linearly
rather than through :math:`\log h_0`: a zero (or negative) :math:`h_0`, e.g. the
usual all-zero start or a carried state from a tanh bridge, then gives no
:math:`\log 0` and no NaN gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

#: Steps scanned at once: small enough that |a*| stays small (float32 keeps ~1e-6
#: relative error for gates near 0.5), large enough that the carry loop is short.
DEFAULT_CHUNK = 64


def log_linear_scan(
    log_a: Tensor, log_b: Tensor, h0: Tensor | None = None, *, chunk: int = DEFAULT_CHUNK
) -> Tensor:
    r"""All :math:`h_t = a_t \odot h_{t-1} + b_t`, t = 1..T, along dim 0, in parallel.

    Args:
        log_a: (T, ...) :math:`\log a_t`, finite and <= 0 for a stable scan (gates in (0, 1]).
        log_b: (T, ...) :math:`\log b_t`, finite (so :math:`b_t > 0`).
        h0: (...) the state before the first step, any sign; None means zeros.
        chunk: steps scanned at once (see the module's docstring); >= 1.

    Returns:
        (T, ...) every :math:`h_t`, in ``log_b``'s dtype; differentiable (once).
    """
    h0 = _check(log_a, log_b, h0)
    if chunk < 1:
        raise ValueError(f"chunk: expected an int >= 1, got {chunk}")
    return _LogLinearScan.apply(log_a, log_b, h0, chunk)


def linear_loop(a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    r"""The same recurrence as :func:`log_linear_scan`, from ``a`` and ``b`` themselves
    (any sign), as one multiply-add per step with no autograd graph, and the backward
    recurrence of the module docstring as its backward.

    On a CPU this beats the scan: ``logcumsumexp`` costs ~30 ns an element there (one
    thread), the loop ~2 ns plus ~5 us a step; on a GPU the T kernel launches lose.
    """
    h0 = _check(a, b, h0)
    return _LinearLoop.apply(a, b, h0)


def _check(a: Tensor, b: Tensor, h0: Tensor | None) -> Tensor:
    if a.shape != b.shape or a.dim() < 1:
        raise ValueError(
            f"a and b: expected the same shape (T, ...), got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if h0 is not None and h0.shape != a.shape[1:]:
        raise ValueError(f"h0: expected shape {tuple(a.shape[1:])}, got {tuple(h0.shape)}")
    return h0 if h0 is not None else b.new_zeros(b.shape[1:])


class _LogLinearScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, log_a: Tensor, log_b: Tensor, h0: Tensor, chunk: int) -> Tensor:
        h = _scan(log_a, log_b, h0, chunk)
        ctx.chunk = chunk
        ctx.save_for_backward(log_a, log_b, h0, h)
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h: Tensor):
        log_a, log_b, h0, h = ctx.saved_tensors
        g = _backward_scan(log_a, grad_h, ctx.chunk)
        a = log_a.exp()
        return _times_h_prev(g, h0, h) * a, g * log_b.exp(), a[0] * g[0], None


class _LinearLoop(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
        h = _loop(a, b, h0)
        ctx.save_for_backward(a, h0, h)
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h: Tensor):
        a, h0, h = ctx.saved_tensors
        g = _backward_loop(a, grad_h)
        return _times_h_prev(g, h0, h), g, a[0] * g[0]


def _times_h_prev(g: Tensor, h0: Tensor, h: Tensor) -> Tensor:
    """``g_t * h_{t-1}`` for every t (with h_0 first), without building the shifted h."""
    out = torch.empty_like(g)
    torch.mul(g[0], h0, out=out[0])
    torch.mul(g[1:], h[:-1], out=out[1:])
    return out


def _loop(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    """``h_t = a_t h_{t-1} + b_t`` step by step, written into one preallocated output."""
    h, out = h0, torch.empty_like(b)
    for a_t, b_t, out_t in zip(a.unbind(0), b.unbind(0), out.unbind(0), strict=True):
        h = torch.addcmul(b_t, a_t, h, out=out_t)
    return out


def _backward_loop(a: Tensor, grad_h: Tensor) -> Tensor:
    """``g_t = grad_t + a_{t+1} g_{t+1}``, from t = T down to 1."""
    g = torch.empty_like(grad_h)
    g[-1] = grad_h[-1]
    steps = zip(a[1:].unbind(0), grad_h[:-1].unbind(0), g[:-1].unbind(0), strict=True)
    g_next = g[-1]
    for a_next, grad_t, g_t in reversed(list(steps)):
        g_next = torch.addcmul(grad_t, a_next, g_next, out=g_t)
    return g


def _backward_scan(log_a: Tensor, grad_h: Tensor, chunk: int) -> Tensor:
    """``g_t = grad_t + a_{t+1} g_{t+1}`` as two log-space scans in reversed time (the
    gradient has either sign); the first reversed step multiplies a zero state."""
    log_a_next = torch.cat([log_a[1:], torch.zeros_like(log_a[:1])]).flip(0)  # (T, ...)
    grad_rev = grad_h.flip(0)
    zero = torch.zeros_like(grad_h[0])
    g = _scan(log_a_next, _log_positive(grad_rev), zero, chunk)
    g = g - _scan(log_a_next, _log_positive(-grad_rev), zero, chunk)
    return g.flip(0)


def _log_positive(x: Tensor) -> Tensor:
    """``log(max(x, 0))``, with -inf where x <= 0 (no gradient is taken of this)."""
    return torch.where(x > 0, x.clamp_min(torch.finfo(x.dtype).tiny).log(), -torch.inf)


def _scan(log_a: Tensor, log_b: Tensor, h0: Tensor, chunk: int) -> Tensor:
    """The chunked scan of the module docstring; ``log_b`` may hold -inf (b = 0)."""
    T, rest = log_a.shape[0], log_a.shape[1:]
    if T <= chunk:
        local, decay = _zero_start_scan(log_a, log_b, dim=0)
        return torch.addcmul(local, decay, h0.unsqueeze(0))
    # Pad the tail to whole chunks with a = b = 1; by causality the padding cannot
    # change the real steps, and it is cut off again at the end.
    N = -(-T // chunk)
    pad = (0, 0) * len(rest) + (0, N * chunk - T)
    log_a_c = F.pad(log_a, pad).reshape(N, chunk, *rest)  # (N, C, ...)
    log_b_c = F.pad(log_b, pad).reshape(N, chunk, *rest)  # (N, C, ...)
    local, decay = _zero_start_scan(log_a_c, log_b_c, dim=1)  # 2 x (N, C, ...)
    # The carry: the state entering each chunk, one multiply-add per chunk.
    carry, starts = h0, []
    for local_end, decay_end in zip(local[:, -1].unbind(0), decay[:, -1].unbind(0), strict=True):
        starts.append(carry)
        carry = torch.addcmul(local_end, decay_end, carry)
    h = torch.addcmul(local, decay, torch.stack(starts).unsqueeze(1))  # (N, C, ...)
    return h.reshape(N * chunk, *rest)[:T]


def _zero_start_scan(log_a: Tensor, log_b: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """The scan from a zero state, and the decay ``exp(a*)`` of the state carried in."""
    a_star = torch.cumsum(log_a, dim=dim)
    local = torch.exp(a_star + torch.logcumsumexp(log_b - a_star, dim=dim))
    return local, torch.exp(a_star)
