"""Layer-normalised cells: LayerNorm-LSTM and LayerNorm-GRU (Ba et al. 2016)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.nn.cell import RecurrentCell, Weights
from rnnkit.nn.gru_cell import gru_update
from rnnkit.nn.lstm_cell import check_forget_bias, init_forget_bias, lstm_gates
from rnnkit.nn.state import GRUState, LSTMState

LN_EPS = 1e-5  # as torch.nn.LayerNorm


class _LayerNormCell(RecurrentCell):
    """What both cells share: the normalised input projection and the LN init."""

    def project_input(self, x: Tensor, w: Weights) -> Tensor:
        """``LN(W_ih x; gain ln_ih_weight) + b_ih`` for any leading shape: (..., D) -> (..., G*H).

        The statistics are per step, so this runs over all T steps in one go."""
        gx = F.linear(x, w["weight_ih"])  # (..., G*H)
        gx = F.layer_norm(gx, gx.shape[-1:], w["ln_ih_weight"], None, LN_EPS)
        return gx + w["bias_ih"] if self.bias else gx

    def recurrent_term(self, h_rec: Tensor, w: Weights) -> Tensor:
        """``LN(W_hh h; gain ln_hh_weight) + b_hh``: (B, H) -> (B, G*H)."""
        gh = F.linear(h_rec, w["weight_hh"])  # (B, G*H)
        gh = F.layer_norm(gh, gh.shape[-1:], w["ln_hh_weight"], None, LN_EPS)
        return gh + w["bias_hh"] if self.bias else gh

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        G, H = self.num_gates, self.hidden_size
        return super().weight_shapes() | {"ln_ih_weight": (G * H,), "ln_hh_weight": (G * H,)}

    def init_weights(self, w: Weights) -> None:
        """Matrices and biases U(-1/sqrt(H), 1/sqrt(H)) as torch.nn; LN gains 1 and
        LN biases 0, so each LN starts as a plain standardisation."""
        super().init_weights(w)
        with torch.no_grad():
            for name, tensor in w.items():
                if name.startswith("ln_"):
                    tensor.fill_(1.0 if name.endswith("_weight") else 0.0)


class LayerNormLSTMCell(_LayerNormCell):
    r"""LSTM with layer normalisation (Ba, Kiros & Hinton 2016, section 3.1 and the
    LSTM equations of their appendix / Table 3).

    .. math::
        \begin{aligned}
        (i, f, g, o)_t &= \mathrm{LN}(W_{ih} x_t;\ \gamma_{ih}) + b_{ih}
            + \mathrm{LN}(W_{hh} h_{t-1};\ \gamma_{hh}) + b_{hh} \\
        c_t &= \sigma(f_t) \odot c_{t-1} + \sigma(i_t) \odot \tanh(g_t) \\
        h_t &= \sigma(o_t) \odot \tanh(\mathrm{LN}(c_t;\ \gamma_c, \beta_c))
        \end{aligned}

    where :math:`\mathrm{LN}(z; \gamma, \beta) = \gamma \odot (z - \mu(z)) /
    \sqrt{\mathrm{var}(z) + 10^{-5}} + \beta`, the statistics taken over the features of
    each example and step. The two projections are normalised over all 4H gate
    pre-activations together, as in the paper; the cell state over its H units. The
    state carried to the next step is the *un*-normalised :math:`c_t`.

    Exactly which LNs have which parameters: the projections' LNs have a gain only
    (``ln_ih_weight``, ``ln_hh_weight``, both (4H,)): their shift is torch.nn's
    ``bias_ih`` / ``bias_hh``, and an LN bias there would only add to them. The cell
    state's LN has a gain ``ln_cell_weight`` (H,) and, when ``bias``, a bias
    ``ln_cell_bias`` (H,). Gate order and the other shapes are torch.nn's:
    ``weight_ih`` (4H, D), ``weight_hh`` (4H, H), ``bias_ih``, ``bias_hh`` (4H,).

    Init: as :class:`~rnnkit.nn.LSTMCell` (forget-gate bias ``forget_bias``, default 1),
    LN gains 1 and LN biases 0.
    """

    state_type = LSTMState
    num_gates = 4

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        forget_bias: float | None = 1.0,
        *,
        owns_weights: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(
            input_size, hidden_size, bias, owns_weights=owns_weights, device=device, dtype=dtype
        )
        self.forget_bias = check_forget_bias(forget_bias)
        self._create_weights()

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = super().weight_shapes() | {"ln_cell_weight": (self.hidden_size,)}
        if self.bias:
            shapes["ln_cell_bias"] = (self.hidden_size,)
        return shapes

    def state_shapes(self, batch_size: int) -> list[tuple[int, int]]:
        return [(batch_size, self.hidden_size), (batch_size, self.hidden_size)]

    def init_weights(self, w: Weights) -> None:
        super().init_weights(w)
        init_forget_bias(w, self.hidden_size, self.forget_bias)

    def step(
        self, gx: Tensor, state: LSTMState, w: Weights, h_rec: Tensor | None = None
    ) -> tuple[Tensor, LSTMState]:
        """One step; ``h_rec`` replaces ``h_{t-1}`` as the recurrent matrix's input
        (recurrent dropout hands the masked state here)."""
        h_prev, c_prev = state
        gates = gx + self.recurrent_term(h_prev if h_rec is None else h_rec, w)  # (B, 4H)
        o, c_next = lstm_gates(gates, c_prev)
        c_norm = F.layer_norm(
            c_next, c_next.shape[-1:], w["ln_cell_weight"], w.get("ln_cell_bias"), LN_EPS
        )
        h_next = o * torch.tanh(c_norm)  # (B, H)
        return h_next, LSTMState(h_next, c_next)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, forget_bias={self.forget_bias}"


class LayerNormGRUCell(_LayerNormCell):
    r"""GRU (torch.nn's reset-after form, see :class:`~rnnkit.nn.GRUCell`) with layer
    normalisation on its two projections.

    .. math::
        \begin{aligned}
        a_t &= \mathrm{LN}(W_{ih} x_t;\ \gamma_{ih}) + b_{ih}, \qquad
        b_t = \mathrm{LN}(W_{hh} h_{t-1};\ \gamma_{hh}) + b_{hh} \\
        r_t &= \sigma(a^r_t + b^r_t), \qquad z_t = \sigma(a^z_t + b^z_t) \\
        n_t &= \tanh(a^n_t + r_t \odot b^n_t) \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}
        \end{aligned}

    Placement: each projection is normalised over all 3H pre-activations together
    (as the LSTM's in Ba et al. 2016), with a gain only (``ln_ih_weight``,
    ``ln_hh_weight``, (3H,)); torch.nn's ``bias_ih`` / ``bias_hh`` are the shifts. The
    reset gate multiplies the *normalised* recurrent candidate term ``b^n``. The state
    itself is not normalised: a GRU's ``h`` is both its output and its memory, and
    the convex update keeps it in [-1, 1] already. Gate order ``r, z, n``; the other
    shapes are torch.nn's. Init: U(-1/sqrt(H), 1/sqrt(H)), LN gains 1.
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
        """One step; ``h_rec`` replaces ``h_{t-1}`` as the recurrent matrix's input only
        (recurrent dropout), while the update still mixes in the unmasked ``h_{t-1}``."""
        h_prev = state.h
        gh = self.recurrent_term(h_prev if h_rec is None else h_rec, w)  # (B, 3H)
        h_next = gru_update(gx, gh, h_prev)
        return h_next, GRUState(h_next)
