r"""Gradient flow through time: how much of a loss at the last step reaches each earlier step.

Definition. A recurrent network of ``L`` layers reads ``x_1 .. x_T`` and layer ``l``
emits ``h^{(l)}_1 .. h^{(l)}_T``. The loss depends only on the last step's top output,

.. math::
    \mathcal{L} = \sum_{b=1}^{B} \ell\big(h^{(L)}_{T,b}\big), \qquad
    \ell(h) = \textstyle\sum_j h_j \ \text{(fresh cells)}, \quad
    \ell(h) = -\log \mathrm{softmax}(W_o h + b_o)_{y_{T+1}} \ \text{(a language model)},

and for every step we report the batch-mean of the per-sequence gradient norms

.. math::
    g^{(l)}_t = \frac{1}{B}\sum_b \Big\| \frac{\partial \mathcal{L}}{\partial h^{(l)}_{t,b}} \Big\|_2,
    \qquad
    u_t = \frac{1}{B}\sum_b \Big\| \frac{\partial \mathcal{L}}{\partial x_{t,b}} \Big\|_2 .

Rows never mix, so each row's gradient is its own sequence's and the mean does not
depend on ``B``. The derivative is the *total* one: ``h_t`` feeds both the next step
and the layer above, and both paths count. For one layer it obeys the BPTT recursion
:math:`\partial\mathcal{L}/\partial h_t = (\partial h_{t+1}/\partial h_t)^\top\,
\partial\mathcal{L}/\partial h_{t+1}`; for a 1-unit tanh RNN that is
:math:`\partial\mathcal{L}/\partial h_t = \prod_{k=t+1}^{T} w_{hh}(1 - h_k^2)` times
:math:`\ell'`, the product whose factors below 1 make plain RNNs forget (Bengio et al.
1994; Pascanu et al. 2013).

How: the layer's cells are stepped one time step at a time with the layer's own weights
(the reference loop of `Recurrent`, dropout off as in evaluation), and one
``torch.autograd.grad`` call asks for the gradient with respect to every per-step output
``h^{(l)}_t``, the input ``x`` and the parameters at once; this is what ``retain_grad`` on
each output would give, without touching any ``.grad``.

Exploding: ``growth`` is :math:`\max_l g^{(l)}_1 / g^{(l)}_T`. A gradient that grows
going back in time (``growth`` above ``threshold``) or any non-finite number is flagged.
Clipping: the global norm of the parameter gradient :math:`\|\partial\mathcal{L}/
\partial\theta\|_2` is reported beside the norm ``clip_grad_norm_(max_norm=clip)`` would
leave, :math:`n \cdot \min(1, \mathrm{clip}/(n + 10^{-6}))`.

Trained runs: language-model runs are supported fully; the token sequence (a given text,
or random tokens) holds ``T + 1`` tokens, the first ``T`` are read and the last is the
target of the loss. ``x_t`` is then the embedding of token ``t`` (its one-hot vector for a
model without embeddings), and there is one ``g^{(l)}`` per recurrent layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.errors import ConfigError, InputError
from rnnkit.nn import GRUCell, LSTMCell, Recurrent, RNNCell
from rnnkit.validate import check_choice, check_int, check_positive, check_real, fail

#: The cell kinds a fresh network can be built from, by name.
CELL_KINDS = ("rnn", "lstm", "gru")
#: Their classes.
CELL_CLASSES = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}


@dataclass(frozen=True)
class GradientConfig:
    """What every gradient-flow measurement shares.

    length: T, steps read; batch_size: B, sequences averaged over (a trained run given
    a text reads that one text); seed: the inputs (and fresh weights); clip: the max norm
    of the clipping shown; threshold: ``growth`` above it counts as exploding.
    """

    length: int = 50
    batch_size: int = 16
    seed: int = 0
    clip: float = 1.0
    threshold: float = 10.0

    def __post_init__(self) -> None:
        check_int("GradientConfig", "length", self.length, least=1)
        check_int("GradientConfig", "batch_size", self.batch_size, least=1)
        check_int("GradientConfig", "seed", self.seed, least=0)
        check_positive("GradientConfig", "clip", self.clip)
        check_positive("GradientConfig", "threshold", self.threshold)


@dataclass(frozen=True)
class FreshCells:
    """Freshly initialised one-layer networks to compare, one per cell kind.

    Weights are each cell's usual init (LSTM forget bias 1), then ``weight_hh`` is
    multiplied by ``recurrent_scale`` (above ~2 a tanh RNN's gradient explodes).
    ``nonlinearity`` applies to ``rnn`` only. Inputs are N(0, 1).
    """

    cells: tuple[str, ...] = CELL_KINDS
    hidden_size: int = 32
    input_size: int = 16
    nonlinearity: str = "tanh"
    recurrent_scale: float = 1.0

    def __post_init__(self) -> None:
        owner = "FreshCells"
        if not isinstance(self.cells, tuple) or not self.cells:
            raise fail(owner, "cells", f"must name at least one cell kind, got {self.cells!r}")
        for kind in self.cells:
            check_choice(owner, "cells", kind, CELL_KINDS)
        if len(set(self.cells)) != len(self.cells):
            raise fail(owner, "cells", f"must not repeat a cell kind, got {' '.join(self.cells)}")
        check_int(owner, "hidden_size", self.hidden_size, least=1)
        check_int(owner, "input_size", self.input_size, least=1)
        check_choice(owner, "nonlinearity", self.nonlinearity, ("tanh", "relu"))
        check_real(owner, "recurrent_scale", self.recurrent_scale)


@dataclass(frozen=True)
class GradientFlow:
    """Gradient norms through time of one network.

    ``dh[l][t-1]`` is :math:`g^{(l)}_t` for layer l, ``dx[t-1]`` is :math:`u_t`;
    ``grad_norm`` the global parameter-gradient norm, ``clipped_norm`` the same after
    clipping; ``growth`` and ``exploding`` as in the module docstring.
    """

    name: str
    dh: tuple[tuple[float, ...], ...]
    dx: tuple[float, ...]
    grad_norm: float
    clipped_norm: float
    growth: float
    exploding: bool

    def columns(self) -> dict[str, tuple[float, ...]]:
        """``{name}_dh`` (``{name}_dh_l0``, ... with several layers) and ``{name}_dx``."""
        if len(self.dh) == 1:
            out = {f"{self.name}_dh": self.dh[0]}
        else:
            out = {f"{self.name}_dh_l{l}": g for l, g in enumerate(self.dh)}
        return out | {f"{self.name}_dx": self.dx}

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "growth": self.growth,
            "exploding": self.exploding,
            "grad_norm": self.grad_norm,
            "clipped_norm": self.clipped_norm,
        }


@dataclass(frozen=True)
class GradientReport:
    """The flows of one or more networks over the same T, with how they were measured."""

    source: str
    loss: str
    config: GradientConfig
    flows: tuple[GradientFlow, ...]
    settings: dict[str, Any]

    @property
    def steps(self) -> list[int]:
        return list(range(1, self.config.length + 1))

    def columns(self) -> dict[str, tuple[float, ...]]:
        """Every flow's columns, in flow order."""
        out: dict[str, tuple[float, ...]] = {}
        for flow in self.flows:
            out |= flow.columns()
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; a non-finite number becomes None (strict JSON has no NaN)."""
        return _finite_or_none(
            {
                "source": self.source,
                "loss": self.loss,
                "length": self.config.length,
                "batch_size": self.config.batch_size,
                "seed": self.config.seed,
                "clip": self.config.clip,
                "threshold": self.config.threshold,
                "settings": self.settings,
                "networks": [flow.summary() for flow in self.flows],
                "steps": self.steps,
                "columns": {k: list(v) for k, v in self.columns().items()},
            }
        )


def gradient_flow(
    net: Recurrent,
    x: Tensor,
    loss_fn: Callable[[Tensor], Tensor] | None = None,
    *,
    name: str,
    params: Iterable[Tensor] | None = None,
    clip: float = 1.0,
    threshold: float = 10.0,
) -> GradientFlow:
    """Measure the flow of ``net`` (one direction, any layers) on ``x`` (B, T, D).

    ``loss_fn`` maps the top layer's last output (B, H) to a scalar (default: its sum);
    ``params`` are the parameters of the reported global norm (default ``net``'s), and
    should include every parameter ``loss_fn`` uses.
    """
    if net.bidirectional:
        raise ConfigError("gradient flow is defined for one direction; got a bidirectional layer")
    if x.dim() != 3 or x.shape[-1] != net.input_size:
        raise InputError(f"x: expected (B, T, {net.input_size}), got {tuple(x.shape)}")
    if not x.requires_grad:
        x = x.detach().requires_grad_()
    params = [p for p in (net.parameters() if params is None else params) if p.requires_grad]
    per_layer = _trace(net, x)
    loss = (loss_fn or torch.sum)(per_layer[-1][-1])
    outputs = [h for layer in per_layer for h in layer]
    grads = torch.autograd.grad(loss, [*outputs, x, *params], allow_unused=True)
    T = x.shape[1]
    dh = tuple(tuple(_row_norm(grads[l * T + t]) for t in range(T)) for l in range(len(per_layer)))
    dx_grad = grads[len(outputs)]
    dx = tuple(_row_norm(dx_grad[:, t]) for t in range(T))
    param_grads = [g for g in grads[len(outputs) + 1 :] if g is not None]
    grad_norm = _global_norm(param_grads)
    growth = max(_ratio(g[0], g[-1]) for g in dh)
    finite = all(math.isfinite(v) for v in (*dx, grad_norm, *(v for g in dh for v in g)))
    return GradientFlow(
        name=name,
        dh=dh,
        dx=dx,
        grad_norm=grad_norm,
        clipped_norm=clipped_norm(grad_norm, clip),
        growth=growth,
        exploding=not finite or growth > threshold,
    )


def clipped_norm(norm: float, clip: float) -> float:
    """The global norm ``torch.nn.utils.clip_grad_norm_(max_norm=clip)`` leaves behind a
    gradient of norm ``norm``: it scales by ``clip / (norm + 1e-6)`` when that is below 1."""
    return norm * min(1.0, clip / (norm + 1e-6))


def fresh_network(kind: str, fresh: FreshCells, seed: int) -> Recurrent:
    """A one-layer `Recurrent` of cell ``kind`` with seeded init and the scaled recurrence.
    The global random state is left as it was."""
    check_choice("FreshCells", "cells", kind, CELL_KINDS)
    kwargs = {"nonlinearity": fresh.nonlinearity} if kind == "rnn" else {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = Recurrent(
            CELL_CLASSES[kind],
            fresh.input_size,
            fresh.hidden_size,
            batch_first=True,
            cell_kwargs=kwargs,
        )
    with torch.no_grad():
        net.weight_hh_l0.mul_(fresh.recurrent_scale)
    return net


def compare_cells(
    fresh: FreshCells | None = None, config: GradientConfig | None = None
) -> GradientReport:
    """The flow of a fresh network of each kind in ``fresh.cells``, all reading the same
    inputs x ~ N(0, 1) (B, T, D) drawn from ``config.seed``; loss: sum of the last output."""
    fresh = fresh or FreshCells()
    config = config or GradientConfig()
    generator = torch.Generator().manual_seed(config.seed)
    x = torch.randn(config.batch_size, config.length, fresh.input_size, generator=generator)
    flows = tuple(
        gradient_flow(
            fresh_network(kind, fresh, config.seed),
            x,
            name=kind,
            clip=config.clip,
            threshold=config.threshold,
        )
        for kind in fresh.cells
    )
    settings = {
        "hidden_size": fresh.hidden_size,
        "input_size": fresh.input_size,
        "nonlinearity": fresh.nonlinearity,
        "recurrent_scale": fresh.recurrent_scale,
    }
    return GradientReport("fresh cells", "sum of the last output", config, flows, settings)


def lm_gradient_flow(run: Any, config: GradientConfig | None = None, text: str | None = None):
    """The flow of a trained language-model run (`rnnkit.runs.load_run`), per layer.

    Reads the first T + 1 tokens of ``text`` (one sequence), or ``config.batch_size``
    random token sequences; the loss is the cross-entropy of the last prediction.
    """
    from rnnkit.tasks.lm_text import TextModel

    config = config or GradientConfig()
    T = config.length
    lm = TextModel(run)  # refuses a run of another task
    model = lm.model
    if text is not None:
        ids = lm.encode(text)
        if len(ids) < T + 1:
            raise ConfigError(
                f"length {T} needs a text of at least {T + 1} tokens, the text has {len(ids)}",
                field="length",
                problem=f"is {T} but the text has only {len(ids)} {lm.level} tokens "
                f"(needs length + 1 = {T + 1})",
            )
        tokens = torch.tensor([ids[: T + 1]], dtype=torch.long, device=lm.device)  # (1, T+1)
        config = replace(config, batch_size=1)
    else:
        generator = torch.Generator().manual_seed(config.seed)
        V = model.config.vocab_size
        tokens = torch.randint(V, (config.batch_size, T + 1), generator=generator)
        tokens = tokens.to(lm.device)  # (B, T+1)
    inputs, target = tokens[:, :T], tokens[:, T]
    was_training = model.training
    model.eval()
    try:
        x = model.embed(inputs)  # (B, T, E)

        def loss_fn(h_last: Tensor) -> Tensor:
            return F.cross_entropy(model.project(h_last), target, reduction="sum")

        flow = gradient_flow(
            model.rnn,
            x,
            loss_fn,
            name=model.config.cell,
            params=model.parameters(),
            clip=config.clip,
            threshold=config.threshold,
        )
    finally:
        model.train(was_training)
    settings = {
        "cell": model.config.cell,
        "num_layers": model.config.num_layers,
        "hidden_size": model.config.hidden_size,
        "tokens": "text" if text is not None else "random",
    }
    loss = "cross-entropy of the last prediction"
    return GradientReport(str(run.run_dir), loss, config, (flow,), settings)


def _trace(net: Recurrent, x: Tensor) -> list[list[Tensor]]:
    """Every layer's per-step outputs ``h^{(l)}_t`` (B, H), stepping the cells one time
    step at a time with the layer's weights; dropout is off (evaluation)."""
    per_layer: list[list[Tensor]] = []
    layer_input = x  # (B, T, D)
    for k, cell in enumerate(net.cells):
        w = net.cell_weights(k)
        gx = cell.project_input(layer_input, w)  # (B, T, G*H)
        state = cell.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        outputs = []
        for t in range(x.shape[1]):
            h, state = cell.step(gx[:, t], state, w)  # (B, H)
            outputs.append(h)
        per_layer.append(outputs)
        layer_input = torch.stack(outputs, dim=1)  # (B, T, H)
    return per_layer


def _row_norm(grad: Tensor | None) -> float:
    """Mean over rows of each row's L2 norm; 0 where nothing flowed back."""
    if grad is None:
        return 0.0
    return grad.flatten(1).norm(dim=1).mean().item()


def _global_norm(grads: list[Tensor]) -> float:
    """The L2 norm of all gradients together, as ``clip_grad_norm_`` measures it."""
    if not grads:
        return 0.0
    return torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item()


def _ratio(first: float, last: float) -> float:
    if last == 0.0:
        return 0.0 if first == 0.0 else math.inf
    return first / last


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value
