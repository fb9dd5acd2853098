"""Weight averaging: evaluate and keep an exponential moving average of the weights.

With `TrainConfig.ema_decay = d > 0` the trainer keeps, beside the weights w it trains,
their exponential moving average, updated after optimizer step t = 1, 2, ...:

    beta_t = min(d, (1 + t) / (10 + t))
    a_t    = beta_t * a_{t-1} + (1 - beta_t) * w_t,      a_0 = w_0

The ramp in beta_t lets the average follow the fast-moving early weights instead of
dragging in the random initialisation (TensorFlow's ExponentialMovingAverage does the
same with `num_updates`); later the average spans about 1 / (1 - d) steps.
Evaluation, `best.safetensors` and `last.safetensors` use the average; training goes on
with w, and the resume checkpoint holds both. The average smooths out the step-to-step
noise of the last iterates, the idea behind Polyak averaging, AWD-LSTM's averaged SGD
and Keras' `use_ema`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch

from rnnkit.errors import CheckpointError

PREFIX = "ema."


class WeightAverage:
    """The moving average of ``model``'s parameters (buffers are not averaged)."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay!r}")
        self.decay = decay
        named = list(model.named_parameters())
        self.names = [name for name, _ in named]
        self.params = [p for _, p in named]
        self.average = [p.detach().clone() for p in self.params]

    def beta(self, step: int) -> float:
        """The weight kept on the old average at optimizer step ``step`` (>= 1)."""
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Fold in the weights after optimizer step ``step`` (the count of steps taken)."""
        weight = 1.0 - self.beta(step)
        for average, param in zip(self.average, self.params, strict=True):
            average.lerp_(param, weight)

    @contextmanager
    def applied(self) -> Iterator[None]:
        """Put the averaged weights into the model for the duration; the trained ones
        come back afterwards, bit for bit, even if the body raises."""
        trained = [p.detach().clone() for p in self.params]
        try:
            with torch.no_grad():
                for param, average in zip(self.params, self.average, strict=True):
                    param.copy_(average)
            yield
        finally:
            with torch.no_grad():
                for param, kept in zip(self.params, trained, strict=True):
                    param.copy_(kept)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averages on CPU, as checkpoint tensors named ``ema.<parameter>``."""
        return {PREFIX + n: a.detach().cpu() for n, a in zip(self.names, self.average, strict=True)}

    def load_state_dict(self, tensors: dict[str, torch.Tensor], source: str) -> None:
        """Load ``ema.*`` tensors (others are ignored); CheckpointError if they do not
        match the model's parameters."""
        found = {k[len(PREFIX) :]: v for k, v in tensors.items() if k.startswith(PREFIX)}
        if set(found) != set(self.names):
            raise CheckpointError(
                f"{source} holds averaged weights for {sorted(found)[:3]}... but the model "
                f"has {sorted(self.names)[:3]}...; resume with the model that wrote it"
            )
        with torch.no_grad():
            for name, average in zip(self.names, self.average, strict=True):
                if found[name].shape != average.shape:
                    raise CheckpointError(
                        f"{source}: averaged {name} has shape {tuple(found[name].shape)}, "
                        f"the model's is {tuple(average.shape)}"
                    )
                average.copy_(found[name])


def averaged_weights(average: WeightAverage | None) -> AbstractContextManager[None]:
    """`average.applied()`, or nothing to do without averaging."""
    return nullcontext() if average is None else average.applied()


def checkpoint_average(
    average: WeightAverage | None, model: torch.nn.Module
) -> tuple[dict[str, torch.Tensor] | None, dict[str, torch.Tensor] | None]:
    """What a checkpoint stores of ``average``: its ``ema.*`` tensors, and the averaged
    weights for last.safetensors; (None, None) without averaging."""
    if average is None:
        return None, None
    with average.applied():
        last = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return average.state_dict(), last


def restore_average(
    average: WeightAverage | None, tensors: dict[str, torch.Tensor], source: str
) -> None:
    """Load a checkpoint's ``ema.*`` tensors into ``average``; CheckpointError when the
    checkpoint and the config disagree on whether weights are averaged."""
    if average is None:
        if tensors:
            raise CheckpointError(
                f"{source} was written with weight averaging (ema_decay > 0) but this "
                "TrainConfig has ema_decay=0; resume with the run's own ema_decay"
            )
        return
    if not tensors:
        raise CheckpointError(
            f"{source} was written without weight averaging but this TrainConfig has "
            f"ema_decay={average.decay}; resume with ema_decay=0"
        )
    average.load_state_dict(tensors, source)
