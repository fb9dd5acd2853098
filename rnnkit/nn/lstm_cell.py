"""The LSTM cell."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.errors import ConfigError
from rnnkit.nn.cell import RecurrentCell, Weights
from rnnkit.nn.state import LSTMState


def lstm_gates(gates: Tensor, c_prev: Tensor) -> tuple[Tensor, Tensor]:
    """Gate pre-activations (B, 4H) in order i, f, g, o and c_{t-1} -> (o, c_t)."""
    i, f, g, o = gates.chunk(4, dim=-1)  # 4 x (B, H)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    return o, f * c_prev + i * g  # (B, H) each


def check_forget_bias(forget_bias: object) -> float | None:
    """The forget-gate bias as a float, or None; TypeError for anything else, a bool
    included (Keras' ``unit_forget_bias=True`` means 1.0 here: pass the number)."""
    if forget_bias is not None and (
        isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float))
    ):
        raise TypeError(
            f"forget_bias: expected a float (the bias, e.g. 1.0) or None, got {forget_bias!r}"
        )
    return None if forget_bias is None else float(forget_bias)


def init_forget_bias(w: Weights, hidden_size: int, forget_bias: float | None) -> None:
    """Set the forget gate's total bias to ``forget_bias`` (in ``bias_ih``; ``bias_hh`` 0)."""
    if forget_bias is not None and "bias_ih" in w:
        H = hidden_size
        with torch.no_grad():
            w["bias_ih"][H : 2 * H].fill_(forget_bias)
            w["bias_hh"][H : 2 * H].zero_()


class LSTMCell(RecurrentCell):
    r"""Long short-term memory cell (Hochreiter & Schmidhuber 1997, with the forget
    gate of Gers et al. 2000), as ``torch.nn.LSTMCell``.

    .. math::
        \begin{aligned}
        i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) \\
        f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) \\
        g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
        o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        h_t &= o_t \odot \tanh(c_t) \quad (\text{then } h_t = W_{hr} h_t
               \text{ if } \texttt{proj\_size} > 0)
        \end{aligned}

    Gate order in the packed weights is ``i, f, g, o`` (torch.nn and cuDNN):
    ``weight_ih`` (4H, D), ``weight_hh`` (4H, P), ``bias_ih`` (4H,), ``bias_hh`` (4H,),
    and ``weight_hr`` (P, H) when ``proj_size`` P > 0 (Sak et al. 2014), else P = H.

    Init: every weight U(-1/sqrt(H), 1/sqrt(H)) as torch.nn, except the forget gate's
    bias: ``bias_ih[H:2H] = forget_bias`` (default 1) and ``bias_hh[H:2H] = 0``, so the
    sum the gate sees is exactly ``forget_bias``. With a bias near 0 the forget gate
    starts half-closed and the cell state decays by ~0.5 per step, so gradients
    vanish before the network learns to remember; a bias of 1 starts it mostly open
    (sigma(1) ~ 0.73). Jozefowicz et al. 2015 found this helps almost every task,
    and Keras does the same (``unit_forget_bias``). ``forget_bias=None`` keeps
    torch.nn's plain uniform init.

    The additive update of ``c`` is what keeps gradients alive over long spans: its
    Jacobian along the cell path is ``diag(f_t)``, not a squashed matrix product.
    """

    state_type = LSTMState
    num_gates = 4

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        forget_bias: float | None = 1.0,
        proj_size: int = 0,
        *,
        owns_weights: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(
            input_size, hidden_size, bias, owns_weights=owns_weights, device=device, dtype=dtype
        )
        self.forget_bias = check_forget_bias(forget_bias)
        if isinstance(proj_size, bool) or not isinstance(proj_size, int):
            raise TypeError(f"proj_size: expected an int >= 0, got {proj_size!r}")
        if proj_size < 0 or proj_size >= hidden_size:
            raise ConfigError(
                f"proj_size: expected 0 <= proj_size < hidden_size ({hidden_size}), got {proj_size}"
            )
        self.proj_size = proj_size
        self._create_weights()

    @property
    def output_size(self) -> int:
        return self.proj_size or self.hidden_size

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = super().weight_shapes()
        if self.proj_size:
            shapes["weight_hr"] = (self.proj_size, self.hidden_size)
        return shapes

    def state_shapes(self, batch_size: int) -> list[tuple[int, int]]:
        return [(batch_size, self.output_size), (batch_size, self.hidden_size)]

    def init_weights(self, w: Weights) -> None:
        super().init_weights(w)
        init_forget_bias(w, self.hidden_size, self.forget_bias)

    def step(
        self, gx: Tensor, state: LSTMState, w: Weights, h_rec: Tensor | None = None
    ) -> tuple[Tensor, LSTMState]:
        """One step; ``h_rec`` (recurrent dropout's masked ``h_{t-1}``) replaces
        ``h_{t-1}`` as the input of the recurrent matrix."""
        h_prev, c_prev = state
        h_rec = h_prev if h_rec is None else h_rec
        gates = gx + F.linear(h_rec, w["weight_hh"], w.get("bias_hh"))  # (B, 4H)
        o, c_next = lstm_gates(gates, c_prev)
        h_next = o * torch.tanh(c_next)  # (B, H)
        if self.proj_size:
            h_next = F.linear(h_next, w["weight_hr"])  # (B, P)
        return h_next, LSTMState(h_next, c_next)

    def extra_repr(self) -> str:
        extra = f", proj_size={self.proj_size}" if self.proj_size else ""
        return f"{super().extra_repr()}, forget_bias={self.forget_bias}{extra}"
