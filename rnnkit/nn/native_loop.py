"""The fast loop with native pointwise steps: the same loops as :mod:`rnnkit.nn.fast_loop`
(a matrix product per step in torch, a hand-written backward with ``weight_hh``'s
gradient in one matmul after it), with each step's pointwise part (gates, cell update,
layer norms, ``bias_hh``, forward and backward; for the LayerNorm cells also the input
projection's layer norm and ``bias_ih``, the loop getting the bare ``W_ih x``; for the
LSTM also the state mixing of zoneout and padding, which the GRU does with torch ops)
in one call of a C kernel (:mod:`rnnkit.nn.native`) instead of a dozen torch ops.

Used on CPU in float32 when the kernels compiled; `fast_loop.run` chooses. Tests:
outputs and every gradient against the reference step loop and the torch-op fast loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnkit.nn import buffers, native
from rnnkit.nn.fast_steps import (
    Product,
    layer_output,
    mix_state,
    old_weight,
    per_step,
    recurrent_grad,
    split_grad,
    state_buffers,
    weight_hh_grad,
)
from rnnkit.nn.layernorm_cells import LN_EPS

if TYPE_CHECKING:
    from rnnkit.nn.fast_loop import _Plan

_F32 = 4  # bytes per float32


class _Rows:
    """Per-step addresses into a (K, T, B) float32 buffer of row statistics."""

    def __init__(self, stats: Tensor | None, T: int, B: int) -> None:
        self.base = stats.data_ptr() if stats is not None else None
        self.T, self.B = T, B

    def __call__(self, k: int, t: int) -> int | None:
        if self.base is None:
            return None
        return self.base + (k * self.T + t) * self.B * _F32


def _ptrs(x: Tensor | None, T: int) -> list[int | None]:
    """The data address of each step of a contiguous (T, ...) tensor (None: NULLs); a
    (1, ...) tensor is one step's buffer that every step reuses: its address T times."""
    if x is None:
        return [None] * T
    step = 0 if x.shape[0] == 1 else x[0].numel() * x.element_size()
    return [x.data_ptr() + t * step for t in range(T)]


def _bytes(sel: Tensor | None, H: int) -> Tensor | None:
    """A (T, B, H or 1) bool mask as the kernels read it: (T, B, H), contiguous, one
    byte per element, 1 = true (a padding mask alone is (T, B, 1))."""
    return sel.expand(*sel.shape[:2], H).contiguous() if sel is not None else None


def _grad(acc: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    return acc.to(dtype) if acc is not None else None


class _Products:
    """Each step's recurrent product ``W_hh h_in`` (B, N), and, with ``save`` (the layer
    norm's backward reads them again), their addresses: written into one (T, B, N)
    buffer, or with oneDNN's packed weights (``Product.packed``) kept as returned (a copy
    into the buffer would cost a pass; the product allocates its output anyway)."""

    def __init__(self, like: Tensor, product: Product, T: int, save: bool) -> None:
        self.product, self.save = product, save
        n_steps, N = (T if save else 1), product.w_t.shape[1]
        packed = product.packed is not None
        self.steps = (
            None if packed else per_step(buffers.empty(like, n_steps, like.shape[1], N), n_steps)
        )
        self.kept: list[Tensor] = []
        self.last: Tensor | None = None
        self.saved: list[int | None] = [None] * T  # data addresses, for the backward

    def step(self, h_in: Tensor, t: int) -> int:
        if self.steps is None:
            z = self.product(h_in)
            if self.save:
                self.kept.append(z)
        else:
            z = self.product(h_in, out=self.steps[t if self.save else 0])
        self.last = z  # alive until the kernel has read it
        if self.save:
            self.saved[t] = z.data_ptr()
        return z.data_ptr()


class LSTMLoop(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gx, h0, c0, w_hh, b_hh, ln_hh, ln_c, ln_c_bias, ln_ih, b_ih, plan: _Plan):
        lib = native.kernels()
        T, B, G = gx.shape
        H = G // 4
        gx = gx.contiguous()
        (hs, cs), (_, c_new), (_, direct_c) = state_buffers(
            gx, T, (h0, c0), plan.sel, plan.zone_p
        )  # states after zoneout and padding (the kernel mixes them); the new cells
        acts, tcs = buffers.empty(gx, T, B, G), buffers.empty(gx, T, B, H)
        sels = [_bytes(s, H) for s in plan.sel]  # held while the kernels read them
        p_sel_h, p_sel_c = (_ptrs(s, T) for s in sels)
        stats = gx.new_empty(6, T, B) if plan.ln else None  # mean, rstd of z, of c, of gx
        rows = _Rows(stats, T, B)
        fold = ln_ih is not None  # the kernel normalises gx and adds b_ih
        tmp = native.scratch(gx, B, H)
        product = Product(w_hh, B)
        products = _Products(gx, product, T, plan.ln)  # W_hh h_in per step
        p_gx, p_acts, p_tcs, p_cs = (_ptrs(x, T) for x in (gx, acts, tcs, cs))
        p_hs = _ptrs(hs, T + 1)
        p_c_new = _ptrs(c_new, T)
        p_c_state = _ptrs(None if direct_c else cs[1:], T)
        hs_s = per_step(hs, T)
        ln_ptrs = [native.ptr(x) for x in (ln_hh, ln_c, ln_c_bias)] if plan.ln else [None] * 3
        p_b, p_ln_ih, p_b_ih = native.ptr(b_hh), native.ptr(ln_ih), native.ptr(b_ih)
        for t in range(T):
            h = hs_s[t]
            h_in = h * plan.keep if plan.keep is not None else h
            z = products.step(h_in, t)  # (B, 4H)
            lib.rnnkit_lstm_forward(
                B, H, LN_EPS, z, p_gx[t], p_ln_ih, p_b_ih, rows(4, t), rows(5, t), p_b,
                ln_ptrs[0], p_cs[t], ln_ptrs[1], ln_ptrs[2],
                p_acts[t], rows(0, t), rows(1, t), p_c_new[t], rows(2, t), rows(3, t), p_tcs[t],
                p_hs[t + 1], tmp.data_ptr(), p_hs[t], p_sel_h[t], p_sel_c[t], plan.zone_p,
                p_c_state[t],
            )  # fmt: skip
        ctx.plan, ctx.products, ctx.has_bias = plan, products, b_hh is not None
        ctx.has_b_ih = b_ih is not None
        ctx.save_for_backward(
            w_hh,
            ln_hh,
            ln_c,
            ln_c_bias,
            hs,
            cs,
            acts,
            tcs,
            c_new,
            stats,
            *((gx, ln_ih) if fold else ()),
        )
        out = layer_output(hs, plan.valid)  # (T, B, H)
        return out, hs[T].clone(), cs[T].clone()

    @staticmethod
    @once_differentiable  # the hand-written backward is not itself differentiable
    def backward(ctx, d_out, d_hT, d_cT):
        lib = native.kernels()
        w_hh, ln_hh, ln_c, ln_c_bias, hs, cs, acts, tcs, c_new, stats, *folded = ctx.saved_tensors
        gx, ln_ih = folded if folded else (None, None)
        plan: _Plan = ctx.plan
        T, B, G = acts.shape
        H = G // 4
        sels = [_bytes(s, H) for s in plan.sel]  # held while the kernels read them
        p_sel_h, p_sel_c = (_ptrs(s, T) for s in sels)
        mixed = plan.sel[0] is not None or bool(plan.zone_p)  # h's gradient skips to h_{t-1}
        if plan.valid is not None:
            d_out = d_out * plan.valid
        d_out = d_out.contiguous()
        # d gate pre-activations: d gx itself, or, when the kernel normalises gx, one
        # step's worth on the way to d gx
        d_pre = acts.new_empty(1 if gx is not None else T, B, G)
        d_gx = buffers.empty(acts, T, B, G) if gx is not None else d_pre
        d_z = buffers.empty(acts, T, B, G) if plan.ln else d_pre  # d (W_hh h_in)
        shared = (
            ("b", G, ctx.has_bias),
            ("ih", G, gx is not None),
            ("hh", G, plan.ln),
            ("c", H, plan.ln),
            ("c_bias", H, plan.ln and ln_c_bias is not None),
        )  # b_hh's and the layer norms' gradients, summed over rows and steps by the kernel
        acc = {k: torch.zeros(n, dtype=torch.float64) if on else None for k, n, on in shared}
        rows = _Rows(stats, T, B)
        tmp = native.scratch(acts, B, H)
        p_acts, p_tcs, p_cs, p_c_new = (_ptrs(x, T) for x in (acts, tcs, cs, c_new))
        p_zs = ctx.products.saved
        p_d_pre, p_gx = _ptrs(d_pre, T), _ptrs(gx, T)
        p_d_z = _ptrs(d_z if plan.ln else None, T)
        p_d_gx = _ptrs(d_gx if gx is not None else None, T)
        ln_ptrs = [native.ptr(x) for x in (ln_c, ln_hh)] if plan.ln else [None] * 2
        p_ln_ih = native.ptr(ln_ih)
        acc_ptrs = [native.ptr(acc[k]) for k in ("b", "ih", "hh", "c", "c_bias")]
        d_out_s, d_z_s = per_step(d_out, T), per_step(d_z, T)
        product = Product(w_hh.t(), B)  # d_z W_hh
        dh = (d_out_s[T - 1] + d_hT).contiguous()
        dc = d_cT.contiguous()
        for t in range(T - 1, -1, -1):
            dc_prev = torch.empty_like(dc)  # the kernel splits dh and dc at the state mix
            dh_skip = torch.empty_like(dh) if mixed else None
            lib.rnnkit_lstm_backward(
                B, H, dh.data_ptr(), dc.data_ptr(), p_acts[t], p_tcs[t], p_cs[t],
                p_c_new[t], ln_ptrs[0], rows(2, t), rows(3, t), p_zs[t], ln_ptrs[1],
                rows(0, t), rows(1, t), p_gx[t], p_ln_ih, rows(4, t), rows(5, t), p_d_pre[t],
                p_d_gx[t], p_d_z[t], dc_prev.data_ptr(), *acc_ptrs,
                tmp.data_ptr(), p_sel_h[t], p_sel_c[t], plan.zone_p, native.ptr(dh_skip),
            )  # fmt: skip
            dh = recurrent_grad(d_z_s[t], product, plan.keep, d_out_s[t - 1] if t else None)
            if dh_skip is not None:
                dh = dh.add_(dh_skip)
            dc = dc_prev
        d_w = weight_hh_grad(d_z, hs, plan.keep)
        d_b, *grads = (_grad(acc[k], acts.dtype) for k in ("b", "hh", "c", "c_bias", "ih"))
        d_b_ih = _grad(acc["b"], acts.dtype) if ctx.has_b_ih else None  # = b_hh's
        return d_gx, dh, dc, d_w, d_b, *grads, d_b_ih, None


class GRULoop(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gx, h0, w_hh, b_hh, ln_hh, ln_ih, b_ih, plan: _Plan):
        lib = native.kernels()
        T, B, G = gx.shape
        H = G // 3
        gx = gx.contiguous()
        (hs,), (h_new,), (direct,) = state_buffers(gx, T, (h0,), plan.sel, plan.zone_p)
        (sel_h,) = plan.sel
        rz, ns, ghs = (buffers.empty(gx, T, B, n) for n in (2 * H, H, G))
        stats = gx.new_empty(4, T, B) if plan.ln else None  # mean, rstd of z, then of gx
        rows = _Rows(stats, T, B)
        fold = ln_ih is not None  # the kernel normalises gx and adds b_ih
        tmp = native.scratch(gx, B, H)
        product = Product(w_hh, B)  # h_in W_hh^T
        products = _Products(gx, product, T, plan.ln)  # W_hh h_in per step
        p_gx, p_hs, p_h_new, p_rz, p_ns, p_ghs = (_ptrs(x, T) for x in (gx, hs, h_new, rz, ns, ghs))
        hs_s, h_new_s, sel_s = (per_step(x, T) for x in (hs, h_new, sel_h))
        p_ln, p_b = native.ptr(ln_hh) if plan.ln else None, native.ptr(b_hh)
        p_ln_ih, p_b_ih = native.ptr(ln_ih), native.ptr(b_ih)
        for t in range(T):
            h = hs_s[t]
            h_in = h * plan.keep if plan.keep is not None else h
            z = products.step(h_in, t)  # (B, 3H)
            lib.rnnkit_gru_forward(
                B, H, LN_EPS, z, p_gx[t], p_ln_ih, p_b_ih, rows(2, t), rows(3, t), p_ln, p_b,
                p_hs[t], p_ghs[t], p_rz[t],
                p_ns[t], rows(0, t), rows(1, t), p_h_new[t], tmp.data_ptr(),
            )  # fmt: skip
            if not direct:
                mix_state(h, h_new_s[t], sel_s[t], plan.zone_p, hs_s[t + 1])
        ctx.plan, ctx.products, ctx.has_bias = plan, products, b_hh is not None
        ctx.has_b_ih = b_ih is not None
        ctx.save_for_backward(w_hh, ln_hh, hs, rz, ns, ghs, stats, *((gx, ln_ih) if fold else ()))
        out = layer_output(hs, plan.valid)  # (T, B, H)
        return out, hs[T].clone()

    @staticmethod
    @once_differentiable  # the hand-written backward is not itself differentiable
    def backward(ctx, d_out, d_hT):
        lib = native.kernels()
        w_hh, ln_hh, hs, rz, ns, ghs, stats, *folded = ctx.saved_tensors
        gx, ln_ih = folded if folded else (None, None)
        plan: _Plan = ctx.plan
        T, B, H = ns.shape
        G = 3 * H
        a_h = old_weight(plan.sel[0], plan.zone_p, ns.dtype, T)
        if plan.valid is not None:
            d_out = d_out * plan.valid
        d_out = d_out.contiguous()
        d_gx = buffers.empty(ns, T, B, G)
        # d gh (b_hh included): d (W_hh h_in) itself, or, with layer norm, one step's
        # worth on the way to it (d_z)
        d_gh = ns.new_empty(1 if plan.ln else T, B, G)
        d_z = buffers.empty(ns, T, B, G) if plan.ln else d_gh
        # d of the input term: d gx itself, or, when the kernel normalises gx, one step's
        # worth on the way to d gx
        d_x = ns.new_empty(1, B, G) if gx is not None else d_gx

        def zeros(on: bool) -> Tensor | None:  # a gradient the kernel sums in double
            return torch.zeros(G, dtype=torch.float64) if on else None

        acc, d_b = zeros(plan.ln), zeros(ctx.has_bias)  # the LN gain's, b_hh's
        acc_ih, d_b_ih = zeros(gx is not None), zeros(ctx.has_b_ih)
        rows = _Rows(stats, T, B)
        tmp = native.scratch(ns, B, H)
        p_hs, p_ghs, p_rz, p_ns, p_d_x, p_d_gh = (_ptrs(x, T) for x in (hs, ghs, rz, ns, d_x, d_gh))
        p_d_gx = _ptrs(d_gx if gx is not None else None, T)  # when d_x leads to it
        p_zs, p_d_z = ctx.products.saved, _ptrs(d_z if plan.ln else None, T)
        p_gx = _ptrs(gx, T)
        p_ln_ih = native.ptr(ln_ih)
        p_ln, p_acc, p_d_b = (
            (native.ptr(ln_hh) if plan.ln else None),
            native.ptr(acc),
            native.ptr(d_b),
        )
        d_out_s, d_z_s = per_step(d_out, T), per_step(d_z, T)
        back = Product(w_hh.t(), B)  # d_z W_hh
        dh = (d_out_s[T - 1] + d_hT).contiguous()
        for t in range(T - 1, -1, -1):
            dh_new, dh_old = split_grad(dh, a_h[t])
            dh_skip = torch.empty_like(dh_new)  # dh u: the part that skips W_hh
            lib.rnnkit_gru_backward(
                B, H, dh_new.data_ptr(), p_hs[t], p_ghs[t], p_rz[t], p_ns[t], p_zs[t], p_ln,
                rows(0, t), rows(1, t), p_gx[t], p_ln_ih, rows(2, t), rows(3, t), p_d_x[t],
                p_d_gx[t], p_d_gh[t], p_d_z[t],
                dh_skip.data_ptr(), native.ptr(d_b_ih), native.ptr(acc_ih), p_d_b, p_acc,
                tmp.data_ptr(),
            )  # fmt: skip
            dh_prev = recurrent_grad(d_z_s[t], back, plan.keep, d_out_s[t - 1] if t else None)
            dh = dh_prev.add_(dh_skip)
            if dh_old is not None:
                dh = dh.add_(dh_old)
        d_w = weight_hh_grad(d_z, hs, plan.keep)
        grads = (_grad(x, ns.dtype) for x in (d_b, acc, acc_ih, d_b_ih))
        return d_gx, dh, d_w, *grads, None


class MinLoop(torch.autograd.Function):
    """minGRU (``kind`` 0) or minLSTM (1) over a whole sequence in one kernel call each
    way: gates, recurrence and their gradients in one pass over ``gx`` (T, B, G*H),
    where the torch-op loop makes a dozen passes and a call per step."""

    @staticmethod
    def forward(ctx, gx: Tensor, h0: Tensor, kind: int) -> Tensor:
        T, B, _ = gx.shape
        H = h0.shape[-1]
        gx, h0 = gx.contiguous(), h0.contiguous()
        h = buffers.empty(gx, T, B, H)
        native.kernels().rnnkit_min_forward(
            kind, T, B, H, gx.data_ptr(), h0.data_ptr(), h.data_ptr()
        )
        ctx.kind = kind
        ctx.save_for_backward(gx, h0, h)
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h: Tensor):
        gx, h0, h = ctx.saved_tensors
        T, B, H = h.shape
        grad_h = grad_h.contiguous()
        d_gx, d_h0 = buffers.empty(gx, *gx.shape), torch.empty_like(h0)
        native.kernels().rnnkit_min_backward(
            ctx.kind, T, B, H, *(x.data_ptr() for x in (gx, h0, h, grad_h, d_gx, d_h0))
        )
        return d_gx, d_h0, None
