"""Default language-model settings, chosen by measurement (docs/language-models.md).

The best model for a fixed amount of training time depends on that time: a
small network learns faster at first, a larger one ends lower but needs more
steps, and dropout once it sees the text many times (on Tiny Shakespeare a
2x384 GRU without dropout is at train 1.09 / validation 1.45 nats/char after
seven epochs: memorising, not generalising; a 2x256 GRU with dropout 0.1 did
better in 10 minutes, 1.449). So when the user gives
no model flags, the defaults scale with the time budget. They were picked on
Tiny Shakespeare on a 2-core CPU, where a GRU learned more per character than
an LSTM of the same width in the same time (1.478 vs 1.525 nats/char at 3 min).
"""

from __future__ import annotations

from typing import Any

from rnnkit.data.corpus import CorpusConfig
from rnnkit.train import TrainConfig

#: (largest budget in minutes, model settings, learning rate) from small to large.
BUDGET_TIERS: tuple[tuple[float, dict[str, Any], float], ...] = (
    (5.0, {"hidden_size": 256, "dropout": 0.0}, 4e-3),
    (15.0, {"hidden_size": 256, "dropout": 0.1}, 4e-3),
    (float("inf"), {"hidden_size": 512, "dropout": 0.2}, 2e-3),
)
BASE_MODEL: dict[str, Any] = {
    "cell": "gru",
    "num_layers": 2,
    "embedding_size": 64,
    "tie_weights": False,
}
#: The learning rate decays to this fraction of its peak over the budget.
MIN_LR_RATIO = 0.05
#: Used for a step or epoch budget, where the time is not known in advance.
STEP_BUDGET_MINUTES = 10.0


def default_model(minutes: float | None) -> tuple[dict[str, Any], float]:
    """Model settings and learning rate for a time budget (None: a step budget)."""
    budget = STEP_BUDGET_MINUTES if minutes is None else minutes
    for limit, model, lr in BUDGET_TIERS:
        if budget <= limit:
            return BASE_MODEL | model, lr
    raise AssertionError("the last tier has no limit")


def model_for_budget(
    minutes: float | None, lr: float | None = None, **given: Any
) -> tuple[dict[str, Any], float]:
    """The budget's default model and learning rate, with every given (non-None)
    setting taking precedence: what `rnnkit train lm` builds from its flags."""
    model, default_lr = default_model(minutes)
    model |= {k: v for k, v in given.items() if v is not None}
    return model, default_lr if lr is None else lr


def demo_recipe(minutes: float) -> tuple[CorpusConfig, dict[str, Any], TrainConfig]:
    """What the demo trains on Shakespeare's plays for ``minutes``."""
    model, lr = default_model(minutes)
    corpus = CorpusConfig(level="char", batch_size=32, seq_len=100)
    train = TrainConfig(
        lr=lr, min_lr_ratio=MIN_LR_RATIO, max_minutes=minutes, eval_every=250, checkpoint_every=250
    )
    return corpus, model, train
