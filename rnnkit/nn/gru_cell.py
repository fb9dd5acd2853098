"""The GRU cell."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.nn.cell import RecurrentCell, Weights
from rnnkit.nn.state import GRUState


def gru_update(gx: Tensor, gh: Tensor, h_prev: Tensor) -> Tensor:
    """The GRU's gates from the input terms ``gx`` and recurrent terms ``gh`` (B, 3H,
    order r, z, n) -> h_t."""
    r_x, z_x, n_x = gx.chunk(3, dim=-1)  # 3 x (B, H)
    r_h, z_h, n_h = gh.chunk(3, dim=-1)  # 3 x (B, H)
    r = torch.sigmoid(r_x + r_h)
    z = torch.sigmoid(z_x + z_h)
    n = torch.tanh(n_x + r * n_h)
    return (1 - z) * n + z * h_prev  # (B, H)


class GRUCell(RecurrentCell):
    r"""Gated recurrent unit, in torch.nn's (and cuDNN's) formulation.

    .. math::
        \begin{aligned}
        r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n_t &= \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}
        \end{aligned}

    Gate order in the packed weights is ``r, z, n``: ``weight_ih`` (3H, D),
    ``weight_hh`` (3H, H), ``bias_ih`` (3H,), ``bias_hh`` (3H,); init U(-1/sqrt(H), 1/sqrt(H)).

    Where it differs from Cho et al. 2014: the paper applies the reset gate *before*
    the recurrent matrix, :math:`n_t = \tanh(W x_t + U (r_t \odot h_{t-1}))`. Here it
    is applied *after* (:math:`r_t \odot (W_{hn} h_{t-1} + b_{hn})`), which lets all
    three recurrent products be one (B, H) x (H, 3H) matrix multiply per step; this
    is cuDNN's variant and Keras' ``reset_after=True``. The two are different
    functions, so weights do not transfer between them. The update gate convention
    matches the paper: ``z`` near 1 keeps the old state.
    """

    state_type = GRUState
    num_gates = 3

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        owns_weights: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(
            input_size, hidden_size, bias, owns_weights=owns_weights, device=device, dtype=dtype
        )
        self._create_weights()

    def step(
        self, gx: Tensor, state: GRUState, w: Weights, h_rec: Tensor | None = None
    ) -> tuple[Tensor, GRUState]:
        """One step; ``h_rec`` (recurrent dropout's masked ``h_{t-1}``) replaces
        ``h_{t-1}`` as the recurrent matrix's input only, not in the update."""
        h_prev = state.h
        h_rec = h_prev if h_rec is None else h_rec
        gh = F.linear(h_rec, w["weight_hh"], w.get("bias_hh"))  # (B, 3H)
        h_next = gru_update(gx, gh, h_prev)
        return h_next, GRUState(h_next)
