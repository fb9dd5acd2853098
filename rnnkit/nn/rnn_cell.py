"""The Elman (vanilla) RNN cell."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.errors import ConfigError
from rnnkit.nn.cell import RecurrentCell, Weights
from rnnkit.nn.state import RNNState


class RNNCell(RecurrentCell):
    r"""Elman RNN cell (Elman 1990), as ``torch.nn.RNNCell``.

    .. math::
        h_t = \phi(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})

    with :math:`\phi` = ``tanh`` (default) or ``relu`` (``nonlinearity="relu"``).

    Weights: ``weight_ih`` (H, D), ``weight_hh`` (H, H), ``bias_ih`` (H,), ``bias_hh`` (H,);
    initialised U(-1/sqrt(H), 1/sqrt(H)) as torch.nn. The two biases are redundant
    (only their sum matters) and are kept so weights load from torch.nn both ways.

    Gradients through ``tanh`` shrink by ``W_hh`` and ``tanh'`` at every step, which
    is why plain RNNs forget after some tens of steps (Bengio et al. 1994); the
    gated cells exist to fix that.
    """

    state_type = RNNState
    num_gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        owns_weights: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(
            input_size, hidden_size, bias, owns_weights=owns_weights, device=device, dtype=dtype
        )
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self._create_weights()

    def step(
        self, gx: Tensor, state: RNNState, w: Weights, h_rec: Tensor | None = None
    ) -> tuple[Tensor, RNNState]:
        """One step; ``h_rec`` (recurrent dropout's masked ``h_{t-1}``) replaces
        ``h_{t-1}`` as the input of the recurrent matrix."""
        h_rec = state.h if h_rec is None else h_rec
        pre = gx + F.linear(h_rec, w["weight_hh"], w.get("bias_hh"))  # (B, H)
        h_next = torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)
        return h_next, RNNState(h_next)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, nonlinearity={self.nonlinearity!r}"
