"""A recurrent forecaster: features per time step -> Recurrent layers -> a forecast head
on every step, giving a point forecast or the parameters of a predictive distribution."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.config import dataclass_from_dict
from rnnkit.errors import InputError
from rnnkit.nn import Recurrent
from rnnkit.nn.registry import cell_class, cell_names
from rnnkit.validate import check_choice, check_int, check_probability

HEADS = ("direct", "step")
#: Distribution -> parameters per forecast step: point (the value), gaussian (mean,
#: scale), student_t (mean, scale, degrees of freedom).
DISTRIBUTIONS = {"point": 1, "gaussian": 2, "student_t": 3}
_OWNER = "ForecasterConfig"
_MIN_SCALE = 1e-4


@dataclass(frozen=True)
class ForecasterConfig:
    """Shape of a recurrent forecaster.

    input_size: D features per step (the scaled target, past covariates, calendar
      features of the step being forecast); filled from the data.
    forecast_steps: the horizon H the model is trained for (filled from the data).
    cell: "rnn" | "lstm" | "gru"; hidden_size: H; num_layers: L; dropout: in training,
      between the layers and on the last layer's output, before the head.
    recurrent_dropout: variational dropout on h_{t-1} before the recurrent matrix, one
      mask per sequence (Gal & Ghahramani 2016); zoneout: each state unit keeps its
      previous value with this probability (Krueger et al. 2017). See `Recurrent`.
    ensemble: K networks, initialised independently and trained on the same batches
      (each on its own loss); the forecast is their equal mixture: the mean of their
      means, and sample paths drawn from a member picked at random.
    head: "direct" (the next S = H values at once from each step; any horizon up to H)
      or "step" (S = 1 value ahead; longer forecasts roll out, feeding each forecast
      back in).
    distribution: "point" (trained on squared error, no intervals), "gaussian" or
      "student_t" (trained on negative log-likelihood; intervals from sample paths).
    """

    input_size: int = 1
    forecast_steps: int = 1
    cell: str = "lstm"
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    ensemble: int = 1
    head: str = "direct"
    distribution: str = "gaussian"
    recurrent_dropout: float = 0.0
    zoneout: float = 0.0

    def __post_init__(self) -> None:
        check_int(_OWNER, "input_size", self.input_size, least=1)
        check_int(_OWNER, "forecast_steps", self.forecast_steps, least=1)
        check_choice(_OWNER, "cell", self.cell, cell_names())
        check_int(_OWNER, "hidden_size", self.hidden_size, least=1)
        check_int(_OWNER, "num_layers", self.num_layers, least=1)
        check_probability(_OWNER, "dropout", self.dropout)
        check_probability(_OWNER, "recurrent_dropout", self.recurrent_dropout)
        check_probability(_OWNER, "zoneout", self.zoneout)
        check_int(_OWNER, "ensemble", self.ensemble, least=1)
        check_choice(_OWNER, "head", self.head, HEADS)
        check_choice(_OWNER, "distribution", self.distribution, DISTRIBUTIONS)

    @property
    def out_steps(self) -> int:
        """S, the values forecast from every step."""
        return self.forecast_steps if self.head == "direct" else 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ForecasterConfig:
        return dataclass_from_dict(cls, data, "forecaster config")


class Forecaster(nn.Module):
    r"""Forecasts of the next S values from every step of a (scaled) series.

    .. math::
        \begin{aligned}
        x_t &= [\,y_t;\ u_t;\ c_{t+1}\,] \quad
            \text{(target, past covariates, calendar of the step forecast)} \\
        h_{1..T} &= \mathrm{drop}(\mathrm{Recurrent}(x_{1..T})) \\
        \theta_{t,s} &= (W_o h_t + b_o)_s, \quad s = 1..S:\
            \hat y_{t+s} = \theta \ \text{(point)},\quad
            y_{t+s} \sim \mathcal N(\mu, \sigma^2) \ \text{or}\ t_\nu(\mu, \sigma)
        \end{aligned}

    with :math:`\sigma = \mathrm{softplus}(\cdot) + 10^{-4}` and
    :math:`\nu = 2 + \mathrm{softplus}(\cdot)` (a finite variance). Training uses every
    step's forecast (the window shifted by one, as in the classic recipe, and S steps
    ahead for the direct head): many targets per window, the forecast made from the
    last step at test time.

    ``forward(x, state=None) -> (params, state)``: ``x`` (B, T, D) -> ``params``
    (B, T, S, K, P): K ensemble members, P raw parameters per distribution (1, 2 or
    3; see ``distribution_params``); ``state`` is a tuple of the members' states.
    """

    def __init__(self, config: ForecasterConfig) -> None:
        super().__init__()
        self.config = config
        self.params_per_step = DISTRIBUTIONS[config.distribution]
        self.members = nn.ModuleList(
            _Member(config, self.params_per_step) for _ in range(config.ensemble)
        )

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[-1] != self.config.input_size:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise InputError(
                f"x: expected floats of shape (B, T, {self.config.input_size}), got {shape}"
            )
        states = state if state is not None else (None,) * len(self.members)
        outputs = [member(x, s) for member, s in zip(self.members, states, strict=True)]
        params = torch.stack([p for p, _ in outputs], dim=-2)  # (B, T, S, K, P)
        return params, tuple(s for _, s in outputs)

    def point(self, params: Tensor) -> Tensor:
        """The point forecast (…): the mean of the members' means."""
        return self.distribution_params(params.float())[0].mean(-1)

    def distribution_params(self, params: Tensor) -> tuple[Tensor, ...]:
        """(mean,) for point forecasts, (mean, scale) gaussian, (mean, scale, df) t."""
        mean = params[..., 0]
        if self.config.distribution == "point":
            return (mean,)
        scale = F.softplus(params[..., 1]) + _MIN_SCALE
        if self.config.distribution == "gaussian":
            return mean, scale
        return mean, scale, 2.0 + F.softplus(params[..., 2])

    def loss(self, params: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        r"""Mean over the (masked) forecasts: squared error for point forecasts, else the
        negative log-likelihood :math:`-\log p(y \mid \theta)`, in float32."""
        values = self.distribution_params(params.float())  # each (…, K)
        target = target.float().unsqueeze(-1)  # (…, 1): every member scored on it
        if self.config.distribution == "point":
            per_value = (values[0] - target) ** 2
        elif self.config.distribution == "gaussian":
            mean, scale = values
            z = (target - mean) / scale
            per_value = 0.5 * z**2 + torch.log(scale) + 0.5 * math.log(2 * math.pi)
        else:
            mean, scale, df = values
            per_value = -torch.distributions.StudentT(df, mean, scale).log_prob(target)
        if mask is None:
            return per_value.mean()
        mask = mask.to(per_value.dtype).unsqueeze(-1).expand_as(per_value)
        return (per_value * mask).sum() / mask.sum().clamp_min(1.0)

    def sample(self, params: Tensor, generator: torch.Generator) -> Tensor:
        """One draw per forecast (…) from the equal mixture of the members'
        distributions ``params`` (…, K, P) describe: a member at random, then its draw."""
        values = self.distribution_params(params.float())
        draws = values[0]  # (…, K)
        if self.config.distribution != "point":
            noise = torch.randn(draws.shape, generator=generator, device=draws.device)
            if self.config.distribution == "student_t":
                # t = z / sqrt(chi2_nu / nu), with chi2_nu = 2 * Gamma(nu / 2) (nu need
                # not be an integer).
                df = values[2]
                gamma = _standard_gamma(df / 2, generator)
                noise = noise / torch.sqrt(2 * gamma / df)
            draws = draws + values[1] * noise
        K = draws.shape[-1]
        if K == 1:
            return draws[..., 0]
        if self.config.distribution == "point":
            return draws.mean(-1)
        pick = torch.randint(K, draws.shape[:-1], generator=generator, device=draws.device)
        return draws.gather(-1, pick.unsqueeze(-1)).squeeze(-1)

    def extra_repr(self) -> str:
        c = self.config
        return f"head={c.head!r}, distribution={c.distribution!r}, out_steps={c.out_steps}"


class _Member(nn.Module):
    """One network of the ensemble: Recurrent layers, dropout, the forecast head."""

    def __init__(self, config: ForecasterConfig, params_per_step: int) -> None:
        super().__init__()
        self.out_steps, self.params_per_step = config.out_steps, params_per_step
        self.rnn = Recurrent(
            cell_class(config.cell),
            config.input_size,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
            recurrent_dropout=config.recurrent_dropout,
            zoneout=config.zoneout,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.out_steps * params_per_step)

    def forward(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        h, state = self.rnn(x.to(self.head.weight.dtype), state)  # (B, T, H)
        B, T = x.shape[0], x.shape[1]
        params = self.head(self.drop(h)).view(B, T, self.out_steps, self.params_per_step)
        return params, state  # (B, T, S, P)


def _standard_gamma(shape: Tensor, generator: torch.Generator) -> Tensor:
    """Gamma(shape, 1) draws by Marsaglia and Tsang's method (shape >= 1 here, since
    nu > 2), with the given generator so forecasts are repeatable."""
    d = shape - 1.0 / 3.0
    c = 1.0 / torch.sqrt(9.0 * d)
    out = torch.empty_like(shape)
    todo = torch.ones_like(shape, dtype=torch.bool)
    while bool(todo.any()):
        z = torch.randn(shape.shape, generator=generator, device=shape.device)
        u = torch.rand(shape.shape, generator=generator, device=shape.device)
        v = (1.0 + c * z) ** 3
        ok = (v > 0) & (
            torch.log(u.clamp_min(1e-30))
            < 0.5 * z**2 + d - d * v + d * torch.log(v.clamp_min(1e-30))
        )
        take = ok & todo
        out = torch.where(take, d * v, out)
        todo = todo & ~ok
    return out
