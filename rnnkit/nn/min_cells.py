r"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?").

Both cells drop the recurrent matrices: their gates read the input only, so one
step is the *linear* recurrence :math:`h_t = a_t \odot h_{t-1} + b_t` with
:math:`a_t, b_t` computed from :math:`x_t` alone. Training therefore runs all
steps at once with the parallel log-space scan of :mod:`rnnkit.nn.scan` (on a CPU,
by default, step by step, which is faster there: in float32 one pass of the native
kernels, :class:`rnnkit.nn.native_loop.MinLoop`, gates and recurrence together, else
that module's multiply-add loop), and
``Recurrent`` reports ``last_path.name == "cell"``; generation runs :meth:`step`
one token at a time, like any other cell.

The candidate :math:`\tilde h_t` goes through the paper's positive activation
(its section 3.3 and appendix B, the log-space version),

.. math::
    g(x) = \begin{cases} x + \tfrac12 & x \ge 0 \\ \sigma(x) & x < 0 \end{cases},

so that :math:`b_t > 0` and :math:`\log b_t` exists. We follow the paper here
(both in the scan *and* in :meth:`step`, which are one function): without ``g`` a
candidate of either sign would need two scans (positive and negative parts) and
would lose precision to cancellation. With ``g`` and a non-negative start the
hidden state stays positive; a carried state of any sign is still allowed.
The paper's appendix also takes :math:`\log g(h_0)` of the initial state; here
:math:`h_0` is used as given (zeros by default), entering the scan linearly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.errors import ConfigError
from rnnkit.nn import native, native_loop
from rnnkit.nn.cell import RecurrentCell, Weights
from rnnkit.nn.scan import linear_loop, log_linear_scan
from rnnkit.nn.state import MinGRUState, MinLSTMState


def g(x: Tensor) -> Tensor:
    """The paper's positive, continuous activation: ``x + 1/2`` for x >= 0, ``sigmoid(x)`` below."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: Tensor) -> Tensor:
    """``log g(x)``, computed without ever taking the log of a tiny number."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


#: How `run_sequence` solves the recurrence; see `rnnkit.nn.scan`.
SCANS = ("auto", "parallel", "loop")


class _MinCell(RecurrentCell):
    """What minGRU and minLSTM share: input weights only, and the scan over time.

    ``scan``: "parallel" (`~rnnkit.nn.scan.log_linear_scan`), "loop"
    (`~rnnkit.nn.scan.linear_loop`: one multiply-add per step, no graph) or "auto"
    (the scan on GPUs, the loop on CPUs, where it measured faster). All three compute
    the same function; the step loop of ``impl="reference"`` is their specification.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        scan: str = "auto",
        owns_weights: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(
            input_size, hidden_size, bias, owns_weights=owns_weights, device=device, dtype=dtype
        )
        if scan not in SCANS:
            raise ConfigError(f"scan: expected one of {tuple(SCANS)}, got {scan!r}")
        self.scan = scan
        self._create_weights()

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        # No hidden-to-hidden matrix: that is what makes the recurrence linear.
        shapes = {"weight_ih": (self.num_gates * self.hidden_size, self.input_size)}
        if self.bias:
            shapes["bias_ih"] = (self.num_gates * self.hidden_size,)
        return shapes

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", scan={self.scan!r}" if self.scan != "auto" else "")

    def coefficients(self, gx: Tensor) -> tuple[Tensor, Tensor]:
        """``(a_t, b_t)`` of the recurrence from ``gx`` (..., G*H)."""
        raise NotImplementedError

    def log_coefficients(self, gx: Tensor) -> tuple[Tensor, Tensor]:
        """``(log a_t, log b_t)``, computed in log space (no log of a tiny gate)."""
        raise NotImplementedError

    def sequence_path(self) -> str:
        if self.scan == "loop":
            return "the linear recurrence in one multiply-add loop (scan='loop')"
        return "parallel log-space scan over time" + (
            " (on CPU the recurrence step by step: native kernels or a multiply-add loop)"
            if self.scan == "auto"
            else ""
        )

    def run_sequence(
        self, gx: Tensor, state, w: Weights, mask: Tensor | None
    ) -> tuple[Tensor, tuple]:
        """The scan over ``gx`` (T, B, G*H) -> (T, B, H) and the final state.

        A single step (generation feeding tokens one by one) runs :meth:`step`.
        Padding needs no change to the coefficients: the recurrence is causal, so the
        steps after a sequence's end cannot affect its valid ones; their outputs are
        zeroed and the final state is read at each sequence's last valid step.
        """
        h0 = state.h
        if gx.shape[0] == 1:
            h = self.step(gx[0], state, w)[0].unsqueeze(0)  # (1, B, H)
        else:
            h = self._solve(gx, h0)  # (T, B, H)
        if mask is None:
            return h, self.state_type(h[-1])
        lengths = mask.sum(dim=0, keepdim=True)  # (1, B, 1)
        last = (lengths - 1).clamp_min(0).expand(1, *h0.shape)  # (1, B, H)
        final = torch.where(lengths[0] > 0, h.gather(0, last)[0], h0)  # (B, H)
        output = torch.where(mask, h, torch.zeros((), dtype=h.dtype, device=h.device))
        return output, self.state_type(final)

    def _solve(self, gx: Tensor, h0: Tensor) -> Tensor:
        parallel = self.scan == "parallel" or (self.scan == "auto" and gx.device.type != "cpu")
        if parallel:
            return log_linear_scan(*self.log_coefficients(gx), h0)
        if self.scan == "auto" and native.usable(gx) and h0.dtype == gx.dtype:
            return native_loop.MinLoop.apply(gx, h0, self.native_kind)
        if self.scan == "auto" and _half_under_cpu_autocast(gx) and native.kernels() is not None:
            # the projection ran in half precision; the recurrence takes the native pass
            # in float32 (1.5x the torch-op loop in bf16: 2 layers, B=64, H=512, T=100
            # and 1000, forward + backward on the 2-core EPYC), its output float32
            with torch.autocast("cpu", enabled=False):
                return native_loop.MinLoop.apply(gx.float(), h0.float(), self.native_kind)
        return linear_loop(*self.coefficients(gx), h0)


def _half_under_cpu_autocast(gx: Tensor) -> bool:
    return (
        gx.device.type == "cpu"
        and gx.dtype in (torch.bfloat16, torch.float16)
        and torch.is_autocast_enabled("cpu")
    )


class MinGRUCell(_MinCell):
    r"""minGRU (Feng et al. 2024, section 3.1): a GRU whose gates ignore :math:`h_{t-1}`.

    .. math::
        \begin{aligned}
        z_t &= \sigma(W_{iz} x_t + b_{iz}) \\
        \tilde h_t &= g(W_{i\tilde h} x_t + b_{i\tilde h}) \\
        h_t &= (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t
        \end{aligned}

    i.e. :math:`a_t = 1 - z_t`, :math:`b_t = z_t \odot \tilde h_t`; in log space
    :math:`\log z = -\mathrm{softplus}(-k)` and :math:`\log(1 - z) = -\mathrm{softplus}(k)`.
    ``g`` is the paper's positive activation (module docstring); ``z`` near 1 takes
    the new candidate, as in the paper (torch.nn's GRU keeps the old state there).

    Gate order in the packed weights is ``z, h``: ``weight_ih`` (2H, D),
    ``bias_ih`` (2H,); no recurrent weights. Init U(-1/sqrt(H), 1/sqrt(H)) as torch.nn.
    State: :class:`~rnnkit.nn.state.MinGRUState` ``(h,)``.
    """

    state_type = MinGRUState
    num_gates = 2
    native_kind = 0  # rnnkit_min_forward's cell

    def step(self, gx: Tensor, state: MinGRUState, w: Weights) -> tuple[Tensor, MinGRUState]:
        z_x, h_x = gx.chunk(2, dim=-1)  # 2 x (B, H)
        z = torch.sigmoid(z_x)
        h_tilde = g(h_x)
        h_next = (1 - z) * state.h + z * h_tilde  # (B, H)
        return h_next, MinGRUState(h_next)

    def coefficients(self, gx: Tensor) -> tuple[Tensor, Tensor]:
        z_x, h_x = gx.chunk(2, dim=-1)  # 2 x (T, B, H)
        z = torch.sigmoid(z_x)
        return 1 - z, z * g(h_x)

    def log_coefficients(self, gx: Tensor) -> tuple[Tensor, Tensor]:
        z_x, h_x = gx.chunk(2, dim=-1)  # 2 x (T, B, H)
        log_a = -F.softplus(z_x)  # log(1 - z)
        log_b = -F.softplus(-z_x) + log_g(h_x)  # log z + log h~
        return log_a, log_b


class MinLSTMCell(_MinCell):
    r"""minLSTM (Feng et al. 2024, section 3.2): an LSTM without output gate, without
    :math:`h_{t-1}` in its gates, and with forget and input gates normalised to sum to 1.

    .. math::
        \begin{aligned}
        f_t &= \sigma(W_{if} x_t + b_{if}), \qquad i_t = \sigma(W_{ii} x_t + b_{ii}) \\
        \tilde h_t &= g(W_{i\tilde h} x_t + b_{i\tilde h}) \\
        f'_t &= \frac{f_t}{f_t + i_t}, \qquad i'_t = \frac{i_t}{f_t + i_t} \\
        h_t &= f'_t \odot h_{t-1} + i'_t \odot \tilde h_t
        \end{aligned}

    In log space, with :math:`d = \log i_t - \log f_t =
    \mathrm{softplus}(-k_f) - \mathrm{softplus}(-k_i)`:
    :math:`\log f' = -\mathrm{softplus}(d)`, :math:`\log i' = -\mathrm{softplus}(-d)`
    (the paper's appendix B). The normalisation makes the state a convex mix of the
    past and the candidate, so it is time-independent in scale (paper, section 3.2).

    Gate order in the packed weights is ``f, i, h``: ``weight_ih`` (3H, D),
    ``bias_ih`` (3H,); no recurrent weights, no cell state (the paper's ``c`` *is*
    ``h``). Init U(-1/sqrt(H), 1/sqrt(H)) as torch.nn.
    State: :class:`~rnnkit.nn.state.MinLSTMState` ``(h,)``.
    """

    state_type = MinLSTMState
    num_gates = 3
    native_kind = 1  # rnnkit_min_forward's cell

    def step(self, gx: Tensor, state: MinLSTMState, w: Weights) -> tuple[Tensor, MinLSTMState]:
        f_x, i_x, h_x = gx.chunk(3, dim=-1)  # 3 x (B, H)
        f, i = torch.sigmoid(f_x), torch.sigmoid(i_x)
        f_norm, i_norm = f / (f + i), i / (f + i)
        h_next = f_norm * state.h + i_norm * g(h_x)  # (B, H)
        return h_next, MinLSTMState(h_next)

    def coefficients(self, gx: Tensor) -> tuple[Tensor, Tensor]:
        f_x, i_x, h_x = gx.chunk(3, dim=-1)  # 3 x (T, B, H)
        # f' = f / (f + i) = sigmoid(log f - log i), the same in one op and stable.
        d = F.softplus(-f_x) - F.softplus(-i_x)  # log i - log f
        f_norm = torch.sigmoid(-d)
        return f_norm, (1 - f_norm) * g(h_x)

    def log_coefficients(self, gx: Tensor) -> tuple[Tensor, Tensor]:
        f_x, i_x, h_x = gx.chunk(3, dim=-1)  # 3 x (T, B, H)
        d = F.softplus(-f_x) - F.softplus(-i_x)  # log i - log f
        log_a = -F.softplus(d)  # log f'
        log_b = -F.softplus(-d) + log_g(h_x)  # log i' + log h~
        return log_a, log_b
