"""The fast loop: one layer and direction of an LSTM- or GRU-family cell as a single
autograd node, with a hand-written backward pass.

Where torch's fused kernels cannot run (layer norm inside the cell, recurrent
dropout, zoneout), the reference loop pays autograd's bookkeeping for every small
op of every step, forward and backward. Here the input projection is already done
for all steps in one matmul (``project_input``), the forward loop runs under
``no_grad`` writing into preallocated buffers, and the backward loop is written out
by hand, every factor that does not depend on the incoming gradient computed for
all steps before it and ``weight_hh``'s gradient with ONE matmul after it, as cuDNN
does. :func:`rnnkit.nn.noise.step_loop` is the specification (tests: outputs and
every gradient against it, ``gradcheck`` in float64).

Covered: :class:`~rnnkit.nn.LSTMCell` (without ``proj_size``),
:class:`~rnnkit.nn.LayerNormLSTMCell`, :class:`~rnnkit.nn.GRUCell`,
:class:`~rnnkit.nn.LayerNormGRUCell`, with lengths, recurrent dropout and zoneout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnkit.nn import buffers, native, native_loop
from rnnkit.nn.cell import RecurrentCell, Weights
from rnnkit.nn.fast_steps import (
    LN_BACKWARD,
    Product,
    doubled,
    from_sigmoid,
    layer_norm,
    layer_output,
    ln_hh_backward,
    mix_state,
    old_weight,
    per_step,
    recurrent_grad,
    split_grad,
    state_buffers,
    sum_steps,
    tanh_by_sigmoid,
    weight_hh_grad,
)
from rnnkit.nn.gru_cell import GRUCell
from rnnkit.nn.layernorm_cells import LayerNormGRUCell, LayerNormLSTMCell
from rnnkit.nn.lstm_cell import LSTMCell
from rnnkit.nn.noise import CellNoise
from rnnkit.nn.state import GRUState, LSTMState


def supports(cells: Sequence[RecurrentCell], x: Tensor) -> str | None:
    """Why the fast loop can run these cells on ``x``, or None if it cannot."""
    kind = type(cells[0])
    if kind not in (LSTMCell, LayerNormLSTMCell, GRUCell, LayerNormGRUCell):
        return None
    if any(type(c) is not kind or getattr(c, "proj_size", 0) for c in cells):
        return None
    reason = f"rnnkit's fast loop for {kind.__name__} (hand-written backward)"
    if torch.is_autocast_enabled(x.device.type):
        if x.device.type != "cpu":
            return None  # the hand-written backward knows no autocast casts
        reason += ", in float32 under CPU autocast"  # see run
    return reason


class _Plan(NamedTuple):
    """What the loop needs besides the differentiable tensors (none of it has grads)."""

    keep: Tensor | None  # (B, H) recurrent dropout mask
    sel: tuple[Tensor | None, ...]  # per state field (T, B, S) bool: keep the old value
    zone_p: float  # evaluation zoneout weight of the old value
    valid: Tensor | None  # (T, B, 1) bool, valid steps
    ln: bool


def _plan(noise: CellNoise | None, mask: Tensor | None, fields: int, ln: bool) -> _Plan:
    zone = noise.zone if noise is not None else None
    sel: list[Tensor | None] = []
    for k in range(fields):
        s = zone[k] if zone is not None else None
        if mask is not None:
            s = ~mask if s is None else s | ~mask  # padded steps keep the old state
        sel.append(s)
    keep = noise.keep if noise is not None else None
    return _Plan(keep, tuple(sel), noise.zone_p if noise is not None else 0.0, mask, ln)


class _LSTMLoop(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gx, h0, c0, w_hh, ln_hh, ln_c, ln_c_bias, plan: _Plan):
        T, B, G = gx.shape
        H = G // 4
        (hs, cs), (h_new, c_new), (direct_h, direct_c) = state_buffers(
            gx, T, (h0, c0), plan.sel, plan.zone_p
        )  # states after zoneout and padding; the new values
        acts, tcs = buffers.empty(gx, T, B, G), buffers.empty(gx, T, B, H)
        sel_h, sel_c = plan.sel
        ln_saved: list[tuple[Tensor, ...]] = []
        scale = doubled(G, slice(2 * H, 3 * H), gx)  # the g gate's pre-activation, x2
        gx = gx * scale
        ln_g = ln_hh * scale if plan.ln else None
        ln_c2 = ln_c * 2 if plan.ln else None
        ln_c_bias2 = ln_c_bias * 2 if ln_c_bias is not None else None
        product = Product(w_hh if plan.ln else w_hh * scale.unsqueeze(1), B)  # h_in W^T
        minus_one = gx.new_full((), -1.0)
        i_s, f_s, g_s, o_s = (per_step(x, T) for x in acts.chunk(4, 2))
        gx_s, acts_s, tcs_s, hs_s, cs_s = (per_step(x, T) for x in (gx, acts, tcs, hs, cs))
        h_new_s, c_new_s, sel_h_s, sel_c_s = (per_step(x, T) for x in (h_new, c_new, sel_h, sel_c))
        for t in range(T):
            h, c, a = hs_s[t], cs_s[t], acts_s[t]  # a: the pre-activations, then activations
            h_in = h * plan.keep if plan.keep is not None else h
            if plan.ln:
                z = product(h_in)  # (B, 4H)
                n, mu, rs = layer_norm(z, ln_g, None)  # the LN statistics do not change
                torch.add(gx_s[t], n, out=a)
                ln_saved.append((z, mu, rs))
            else:
                product.addmm(gx_s[t], h_in, out=a)  # (B, 4H), g part doubled
            a.sigmoid_()
            from_sigmoid(g_s[t], minus_one)  # g = tanh_by_sigmoid(pre_g)
            cn = torch.mul(f_s[t], c, out=c_new_s[t]).addcmul_(i_s[t], g_s[t])  # (B, H)
            if plan.ln:
                chat2, mu_c, rs_c = layer_norm(cn, ln_c2, ln_c_bias2)  # 2 LN(c)
                ln_saved.append((mu_c, rs_c))
                tanh_by_sigmoid(chat2, tcs_s[t], minus_one)
            else:
                tanh_by_sigmoid(cn * 2, tcs_s[t], minus_one)
            torch.mul(o_s[t], tcs_s[t], out=h_new_s[t])
            if not direct_h:
                mix_state(h, h_new_s[t], sel_h_s[t], plan.zone_p, hs_s[t + 1])
            if not direct_c:
                mix_state(c, cn, sel_c_s[t], plan.zone_p, cs_s[t + 1])
        ctx.plan, ctx.ln_saved = plan, ln_saved
        ctx.save_for_backward(w_hh, ln_hh, ln_c, ln_c_bias, hs, cs, acts, tcs, c_new)
        out = layer_output(hs, plan.valid)  # (T, B, H)
        return out, hs[T].clone(), cs[T].clone()

    @staticmethod
    @once_differentiable  # the hand-written backward is not itself differentiable
    def backward(ctx, d_out, d_hT, d_cT):
        w_hh, ln_hh, ln_c, ln_c_bias, hs, cs, acts, tcs, c_new = ctx.saved_tensors
        plan: _Plan = ctx.plan
        T, B, G = acts.shape
        H = G // 4
        i, f, g, o = acts.chunk(4, 2)
        # Per-step factors that do not depend on the incoming gradient, for all steps:
        # d pre_i = dc g i(1-i), d pre_f = dc c_{t-1} f(1-f), d pre_g = dc i (1-g^2),
        # d pre_o = dh tanh_by_sigmoid(c) o(1-o), and d c (from h) = dh o (1-tanh_by_sigmoid(c)^2).
        k_c = (1 - tcs * tcs).mul_(o)
        p_ifg = buffers.empty(acts, T, B, 3 * H)
        torch.mul(1 - i, i, out=p_ifg[..., :H]).mul_(g)
        torch.mul(1 - f, f, out=p_ifg[..., H : 2 * H]).mul_(cs[:-1])
        torch.mul(1 - g * g, i, out=p_ifg[..., 2 * H :])
        q_o = (1 - o).mul_(o).mul_(tcs)
        a_h, a_c = (old_weight(s, plan.zone_p, acts.dtype, T) for s in plan.sel)
        if plan.valid is not None:
            d_out = d_out * plan.valid
        d_pre = buffers.empty(acts, T, B, G)  # d gate pre-activations
        d_zs: list[Tensor] = []  # d (W_hh h_in) per step, last first (LN only)
        ln_parts: tuple[list[Tensor], ...] = ([], [], [])  # ln_hh, ln_c, ln_c_bias per step
        with_bias = ln_c_bias is not None
        k_c_s, q_o_s, f_s, d_out_s, c_new_s, d_pre_s = (
            per_step(x, T) for x in (k_c, q_o, f, d_out, c_new, d_pre)
        )
        p_ifg_s = per_step(p_ifg.view(T, B, 3, H), T)
        d_ifg_s = per_step(d_pre[..., : 3 * H].view(T, B, 3, H), T)
        d_o_s = per_step(d_pre[..., 3 * H :], T)
        product = Product(w_hh.t(), B)  # d_z W_hh
        dh = d_out_s[T - 1] + d_hT
        dc = d_cT
        for t in range(T - 1, -1, -1):
            dh_new, dh_old = split_grad(dh, a_h[t])
            dc_new, dc_old = split_grad(dc, a_c[t])
            if plan.ln:
                z_c_mu, z_c_rs = ctx.ln_saved[2 * t + 1]
                d_c, *d_ln_c = LN_BACKWARD(
                    dh_new * k_c_s[t], c_new_s[t], (H,), z_c_mu, z_c_rs, ln_c, ln_c_bias,
                    [True, True, with_bias],
                )  # fmt: skip
                for part, grad in zip(ln_parts[1:], d_ln_c[: 1 + with_bias], strict=False):
                    part.append(grad)
                dcn = d_c.add_(dc_new)
            else:
                dcn = torch.addcmul(dc_new, dh_new, k_c_s[t])
            torch.mul(dcn.unsqueeze(1), p_ifg_s[t], out=d_ifg_s[t])
            torch.mul(dh_new, q_o_s[t], out=d_o_s[t])
            d_zt = ln_hh_backward(
                d_pre_s[t], ctx.ln_saved[2 * t] if plan.ln else None, ln_hh, d_zs, ln_parts[0]
            )
            dh = recurrent_grad(d_zt, product, plan.keep, d_out_s[t - 1] if t else None)
            if dh_old is not None:
                dh = dh.add_(dh_old)
            dc = dcn * f_s[t]
            if dc_old is not None:
                dc = dc.add_(dc_old)
        d_z = torch.stack(d_zs[::-1]) if plan.ln else d_pre  # (T, B, 4H)
        d_w = weight_hh_grad(d_z, hs, plan.keep)
        return d_pre, dh, dc, d_w, *sum_steps(ln_parts), None


class _GRULoop(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gx, h0, w_hh, b_hh, ln_hh, plan: _Plan):
        T, B, G = gx.shape
        H = G // 3
        (hs,), (h_new,), (direct,) = state_buffers(gx, T, (h0,), plan.sel, plan.zone_p)
        (sel_h,) = plan.sel
        rz, ns, ghs = (buffers.empty(gx, T, B, n) for n in (2 * H, H, G))
        ln_saved: list[tuple[Tensor, ...]] = []
        gx = gx * doubled(G, slice(2 * H, G), gx)  # the candidate's input term, x2
        minus_one = gx.new_full((), -1.0)
        product = Product(w_hh, B)  # h_in W_hh^T
        hs_s, h_new_s, sel_s, ghs_s, ns_s, rz_s = (
            per_step(x, T) for x in (hs, h_new, sel_h, ghs, ns, rz)
        )
        gx_rz_s, gx_n_s = per_step(gx[..., : 2 * H], T), per_step(gx[..., 2 * H :], T)
        r_s, z_s = (per_step(x, T) for x in rz.chunk(2, 2))
        gh_rz_s, gh_n_s = per_step(ghs[..., : 2 * H], T), per_step(ghs[..., 2 * H :], T)
        for t in range(T):
            h = hs_s[t]
            h_in = h * plan.keep if plan.keep is not None else h
            if plan.ln:
                z = product(h_in)  # (B, 3H)
                gh, mu, rs = layer_norm(z, ln_hh, None)
                ln_saved.append((z, mu, rs))
                if b_hh is not None:
                    torch.add(gh, b_hh, out=ghs_s[t])
                else:
                    ghs_s[t].copy_(gh)
            elif b_hh is not None:
                product.addmm(b_hh, h_in, out=ghs_s[t])  # (B, 3H)
            else:
                product(h_in, out=ghs_s[t])
            torch.sigmoid(torch.add(gx_rz_s[t], gh_rz_s[t]), out=rz_s[t])
            pre_n2 = torch.addcmul(gx_n_s[t], r_s[t], gh_n_s[t], value=2)
            n = tanh_by_sigmoid(pre_n2, ns_s[t], minus_one)
            torch.lerp(n, h, z_s[t], out=h_new_s[t])  # (1 - z) n + z h
            if not direct:
                mix_state(h, h_new_s[t], sel_s[t], plan.zone_p, hs_s[t + 1])
        ctx.plan, ctx.ln_saved = plan, ln_saved
        ctx.has_bias = b_hh is not None
        ctx.save_for_backward(w_hh, ln_hh, hs, rz, ns, ghs)
        out = layer_output(hs, plan.valid)  # (T, B, H)
        return out, hs[T].clone()

    @staticmethod
    @once_differentiable  # the hand-written backward is not itself differentiable
    def backward(ctx, d_out, d_hT):
        w_hh, ln_hh, hs, rz, ns, ghs = ctx.saved_tensors
        plan: _Plan = ctx.plan
        T, B, H = ns.shape
        G = 3 * H
        r, zg = rz.chunk(2, 2)
        # d pre_n = dh (1-z)(1-n^2), d pre_z = dh (h_{t-1} - n) z(1-z),
        # d pre_r = d pre_n (W_hn h + b_hn) r(1-r), d (W_hn h + b_hn) = d pre_n r.
        k_n = (1 - ns * ns).mul_(1 - zg)
        k_z = (hs[:-1] - ns).mul_(zg).mul_(1 - zg)
        k_r = (1 - r).mul_(r).mul_(ghs[..., 2 * H :])
        a_h = old_weight(plan.sel[0], plan.zone_p, ns.dtype, T)
        if plan.valid is not None:
            d_out = d_out * plan.valid
        d_gx = buffers.empty(ns, T, B, G)
        d_gh = buffers.empty(ns, T, B, G)  # d (LN'd) recurrent term, b_hh included
        d_zs: list[Tensor] = []  # d (W_hh h_in) per step, last first (LN only)
        ln_parts: tuple[list[Tensor]] = ([],)
        k_n_s, k_z_s, k_r_s, r_s, z_s, d_out_s, d_gh_s = (
            per_step(x, T) for x in (k_n, k_z, k_r, r, zg, d_out, d_gh)
        )
        d_r_s, d_z_s, d_n_s = (per_step(x, T) for x in d_gx.chunk(3, 2))
        d_gx_rz_s, d_gh_rz_s = per_step(d_gx[..., : 2 * H], T), per_step(d_gh[..., : 2 * H], T)
        d_gh_n_s = per_step(d_gh[..., 2 * H :], T)
        back = Product(w_hh.t(), B)  # d_z W_hh
        dh = d_out_s[T - 1] + d_hT
        for t in range(T - 1, -1, -1):
            dh_new, dh_old = split_grad(dh, a_h[t])
            d_pre_n = torch.mul(dh_new, k_n_s[t], out=d_n_s[t])
            torch.mul(d_pre_n, k_r_s[t], out=d_r_s[t])
            torch.mul(dh_new, k_z_s[t], out=d_z_s[t])
            d_gh_rz_s[t].copy_(d_gx_rz_s[t])
            torch.mul(d_pre_n, r_s[t], out=d_gh_n_s[t])
            d_zt = ln_hh_backward(
                d_gh_s[t], ctx.ln_saved[t] if plan.ln else None, ln_hh, d_zs, ln_parts[0]
            )
            dh_prev = recurrent_grad(d_zt, back, plan.keep, d_out_s[t - 1] if t else None)
            dh = dh_prev.addcmul_(dh_new, z_s[t])
            if dh_old is not None:
                dh = dh.add_(dh_old)
        d_z = torch.stack(d_zs[::-1]) if plan.ln else d_gh  # (T, B, 3H)
        d_w = weight_hh_grad(d_z, hs, plan.keep)
        d_b = d_gh.sum((0, 1)) if ctx.has_bias else None
        return d_gx, dh, d_w, d_b, sum_steps(ln_parts)[0], None


def _up(t: Tensor) -> Tensor:
    """A half-precision tensor cast up to float32 (others as they are)."""
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


def run(
    cell: RecurrentCell,
    seq: Tensor,
    state: Any,
    w: Weights,
    mask: Tensor | None,
    noise: CellNoise | None,
) -> tuple[Tensor, Any]:
    """One layer and direction over ``seq`` (T, B, D), as :func:`noise.step_loop` over
    ``cell.project_input(seq, w)``.

    Under CPU autocast the loop runs in float32 with autocast off (its hand-written
    backward knows no autocast casts): bfloat16 or float16 inputs, state and weights
    are cast up, and the output and final state are float32, as the reference loop's
    are there. That keeps the native kernels (float32 only): measured on the 2-core
    EPYC at B=32, T=128, H=256, two layers, forward + backward, LayerNorm-LSTM 590 ms
    on the reference loop under bf16 autocast against 196 ms here."""
    if torch.is_autocast_enabled(seq.device.type):
        with torch.autocast(seq.device.type, enabled=False):
            w32 = {k: _up(v) for k, v in w.items()}
            return run(cell, _up(seq), type(state)(*map(_up, state)), w32, mask, noise)
    ln = isinstance(cell, (LayerNormLSTMCell, LayerNormGRUCell))
    use_native = native.usable(seq)  # the C kernels for each step's pointwise part
    if use_native and ln:  # the kernels normalise the projection step by step, add bias_ih
        gx = F.linear(seq, w["weight_ih"])  # (T, B, G*H)
        ln_in: tuple[Tensor | None, ...] = (w["ln_ih_weight"], w.get("bias_ih"))
    else:
        gx, ln_in = cell.project_input(seq, w), (None, None)
    if isinstance(cell, (LSTMCell, LayerNormLSTMCell)):
        plan = _plan(noise, mask, 2, ln)
        ln_w = w.get("ln_hh_weight"), w.get("ln_cell_weight"), w.get("ln_cell_bias")
        if use_native:  # the kernel adds bias_hh as it reads each step
            out, h, c = native_loop.LSTMLoop.apply(
                gx, state.h, state.c, w["weight_hh"], w.get("bias_hh"), *ln_w, *ln_in, plan
            )
            return out, LSTMState(h, c)
        if "bias_hh" in w:
            gx = gx + w["bias_hh"]  # outside the loop: one add for all steps
        out, h, c = _LSTMLoop.apply(gx, state.h, state.c, w["weight_hh"], *ln_w, plan)
        return out, LSTMState(h, c)
    plan = _plan(noise, mask, 1, ln)
    args = (gx, state.h, w["weight_hh"], w.get("bias_hh"), w.get("ln_hh_weight"))
    if use_native:
        out, h = native_loop.GRULoop.apply(*args, *ln_in, plan)
    else:
        out, h = _GRULoop.apply(*args, plan)
    return out, GRUState(h)
