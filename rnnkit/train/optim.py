"""Optimizer factory and the learning-rate schedule.

The schedule is a pure function of (step, progress): nothing in it accumulates, so a
resumed run recomputes exactly the learning rate an uninterrupted one would use.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from rnnkit.train.config import TrainConfig


def build_optimizer(
    params: Iterable[torch.nn.Parameter], config: TrainConfig
) -> torch.optim.Optimizer:
    """The torch optimizer `config.optimizer` names, with the config's hyper-parameters.

    One parameter group; weight decay applies to every parameter, biases included.
    """
    params = [p for p in params if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    # TrainConfig validated the name, so past sgd and rmsprop it is adam or adamw.
    kind = LazyAdam if config.optimizer == "adam" else LazyAdamW
    options = {"lr": config.lr, "betas": config.betas, "weight_decay": config.weight_decay}
    if _fusable(params):
        # One fused kernel for every parameter instead of a dozen tensor-wide ops per
        # step: on the 2-core CPU a classifier with a 18,000 x 300 embedding (x3
        # networks) spent 72 ms of a 163 ms step in AdamW's update, 8.5 ms fused.
        return kind(params, fused=True, **options)
    return kind(params, **options)


def make_embeddings_sparse(model: torch.nn.Module) -> int:
    """Give ``model``'s embedding tables sparse gradients (`TrainConfig.sparse_embeddings`);
    returns how many. A table whose weight another module also uses (a language model's
    tied output layer) keeps its dense gradient: the other use fills every row anyway."""
    owners: dict[int, int] = {}
    for module in model.modules():
        for param in module.parameters(recurse=False):
            owners[id(param)] = owners.get(id(param), 0) + 1
    count = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Embedding) and owners[id(module.weight)] == 1:
            module.sparse = True
            count += 1
    return count


class _LazyRows:
    """Adam's update for the parameters whose gradient is sparse (the rows of an
    embedding a batch used, `nn.Embedding(sparse=True)`), torch's for the rest.

    A sparse gradient's rows i get Adam's update with their own moments; rows absent
    from the batch are left alone, moments included ("lazy" Adam, as TensorFlow's
    LazyAdam and `torch.optim.SparseAdam`). With g the gradient's rows, t the
    parameter's step count, lr the rate and wd the weight decay:

        adam (L2):   g <- g + wd * p[i]
        adamw:       p[i] <- p[i] * (1 - lr * wd)
        m[i] <- b1 m[i] + (1 - b1) g;   v[i] <- b2 v[i] + (1 - b2) g^2
        p[i] <- p[i] - lr * (m[i] / (1 - b1^t)) / (sqrt(v[i] / (1 - b2^t)) + eps)

    A row that appears in every batch therefore follows dense Adam exactly; a rare
    word's row costs nothing in the steps without it, where dense Adam would rewrite
    the whole table (on the 2-core CPU, 3 x 16,000 x 300 weights: zeroing, clipping and
    updating them took 29 ms of a 67 ms step). The state keys are torch's ("step",
    "exp_avg", "exp_avg_sq"), so checkpoints load either way.
    """

    decoupled = False

    @torch.no_grad()
    def step(self, closure=None):
        """The sparse rows' update, then torch's step for every dense gradient."""
        held = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and p.grad.is_sparse:
                    self._sparse_update(p, p.grad, group)
                    held.append((p, p.grad))
                    p.grad = None  # torch's step skips parameters without a gradient
        try:
            return super().step(closure)
        finally:
            for p, grad in held:
                p.grad = grad

    def _sparse_update(self, p: torch.Tensor, grad: torch.Tensor, group: dict) -> None:
        if group.get("amsgrad") or group.get("maximize"):
            raise ValueError("sparse gradients take neither amsgrad nor maximize")
        grad = grad.coalesce()
        rows, g = grad.indices()[0], grad.values()
        state = self.state[p]
        if not state:
            state["step"] = torch.tensor(0.0, dtype=torch.float32, device=p.device)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["step"] += 1
        t = float(state["step"])
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        weights = p.index_select(0, rows)
        if wd:
            if self.decoupled:
                weights.mul_(1 - lr * wd)
            else:
                g = g + wd * weights
        m = state["exp_avg"].index_select(0, rows).mul_(beta1).add_(g, alpha=1 - beta1)
        v = state["exp_avg_sq"].index_select(0, rows).mul_(beta2).addcmul_(g, g, value=1 - beta2)
        state["exp_avg"].index_copy_(0, rows, m)
        state["exp_avg_sq"].index_copy_(0, rows, v)
        denom = (v / (1 - beta2**t)).sqrt_().add_(eps)
        weights.addcdiv_(m, denom, value=-lr / (1 - beta1**t))
        p.index_copy_(0, rows, weights)


class LazyAdam(_LazyRows, torch.optim.Adam):
    """`torch.optim.Adam` that also takes sparse gradients (`_LazyRows`)."""


class LazyAdamW(_LazyRows, torch.optim.AdamW):
    """`torch.optim.AdamW` that also takes sparse gradients (`_LazyRows`)."""

    decoupled = True


def _fusable(params: list[torch.nn.Parameter]) -> bool:
    """Whether torch's fused Adam kernel takes these parameters: float32/float16/bf16
    (or float64 on CPU) on the CPU or a CUDA device, all on one device."""
    devices = {p.device.type for p in params}
    if len(devices) != 1 or devices - {"cpu", "cuda"}:
        return False
    return all(p.is_floating_point() for p in params)


def apply_hyperparameters(optimizer: torch.optim.Optimizer, config: TrainConfig) -> None:
    """Set the config's hyper-parameters on every group (after loading a checkpoint).

    Loading an optimizer state also loads its old hyper-parameters; the config given to
    the resumed run is the one that should hold.
    """
    for group in optimizer.param_groups:
        group["weight_decay"] = config.weight_decay
        if "momentum" in group:
            group["momentum"] = config.momentum
        if "betas" in group:
            group["betas"] = config.betas


@dataclass(frozen=True)
class LRSchedule:
    """lr(step, progress) = peak_lr * warm-up(step) * decay(progress).

    warm-up(step) = (step + 1) / warmup_steps for the first `warmup_steps` steps, then 1
    (`step` counts optimizer steps already taken, so the first step uses peak/warmup).
    decay(p) for p in [0, 1] goes from 1 to `min_lr_ratio`:
      constant: 1;  linear: 1 - (1 - r) p;  cosine: r + (1 - r) (1 + cos(pi p)) / 2.
    """

    peak_lr: float
    schedule: str
    warmup_steps: int
    min_lr_ratio: float

    @classmethod
    def from_config(cls, config: TrainConfig) -> LRSchedule:
        """The schedule a `TrainConfig` describes."""
        return cls(config.lr, config.schedule, config.warmup_steps, config.min_lr_ratio)

    def __call__(self, step: int, progress: float) -> float:
        """The learning rate for optimizer step `step` at budget fraction `progress`."""
        warm = 1.0
        if step < self.warmup_steps:
            warm = (step + 1) / self.warmup_steps
        p = min(max(progress, 0.0), 1.0)
        r = self.min_lr_ratio
        if self.schedule == "constant":
            decay = 1.0
        elif self.schedule == "linear":
            decay = 1.0 - (1.0 - r) * p
        else:
            decay = r + (1.0 - r) * 0.5 * (1.0 + math.cos(math.pi * p))
        return self.peak_lr * warm * decay


def step_progress(step: int, total_steps: int, warmup_steps: int) -> float:
    """Decay progress by steps: 0 at the first step after warm-up, 1 at the last step.

    The last step (`total_steps - 1`) therefore trains at exactly lr * min_lr_ratio.
    """
    span = max(1, total_steps - warmup_steps - 1)
    return min(max((step - warmup_steps) / span, 0.0), 1.0)


def time_progress(elapsed_s: float, max_minutes: float) -> float:
    """Decay progress by wall time, for runs whose only budget is minutes."""
    return min(max(elapsed_s / (60.0 * max_minutes), 0.0), 1.0)


def clip_gradients(parameters: Iterable[torch.nn.Parameter], config: TrainConfig) -> float:
    """Clip gradients as ``config`` (a TrainConfig) says: the global norm to
    ``clip_norm`` or each element to ``clip_value``. Returns the global norm before
    clipping, which the trainer checks for NaN/inf."""
    params = [p for p in parameters if p.grad is not None]
    max_norm = config.clip_norm if config.clip_norm is not None else math.inf
    if any(p.grad.is_sparse for p in params):
        return _clip_with_sparse(params, max_norm, config.clip_value)
    norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    if config.clip_value is not None:
        torch.nn.utils.clip_grad_value_(params, config.clip_value)
    return norm


def _clip_with_sparse(
    params: list[torch.nn.Parameter], max_norm: float, clip_value: float | None
) -> float:
    """`clip_gradients` where some gradients are sparse (torch's clipping takes dense
    ones only): a sparse gradient is coalesced (each row once, duplicates summed) and
    its stored rows stand in for it, as its absent rows are zero."""
    grads = []
    for p in params:
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()
            grads.append(p.grad._values())  # a view: scaling it scales the gradient
        else:
            grads.append(p.grad)
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    total = float(norm)
    scale = min(max_norm / (total + 1e-6), 1.0)  # torch's clip_grad_norm_ coefficient
    if scale < 1.0:
        for g in grads:
            g.mul_(scale)
    if clip_value is not None:
        for g in grads:
            g.clamp_(-clip_value, clip_value)
    return total
