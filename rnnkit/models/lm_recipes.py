"""Default language-model settings, chosen by measurement (docs/language-models.md).

The best model for a fixed amount of training time depends on that time: a
small network learns faster at first, a larger one ends lower but needs more
steps, and dropout once it sees the text many times (on Tiny Shakespeare a
2x384 GRU without dropout is at train 1.09 / validation 1.45 nats/char after
seven epochs: memorising, not generalising). So when the user gives no model
flags, the defaults scale with the time budget.

They also depend on the precision, because bf16 autocast trains ~3x more
characters per second where the CPU runs it natively (2x512 GRU, batch 64:
19.9k vs 6.2k tokens/s at batch 32 in fp32 on the benchmark EPYC). Each table was
measured on Tiny Shakespeare on that 2-core CPU in its own precision. A GRU
learned more per character than an LSTM of the same width (1.478 vs 1.525
nats/char at 3 minutes, 2x256 fp32), hence the GRU default.

The longest bf16 budget reads Tiny Shakespeare about 20 times over, and there its
validation loss is limited by overfitting, not by time: AdamW's decoupled weight
decay (0.6) took the 30-minute result from 1.407 to 1.389 nats/char. The shorter
budgets, and fp32, were measured without it and keep 0 (where AdamW takes exactly
Adam's steps).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rnnkit.data.corpus import CorpusConfig
from rnnkit.train import TrainConfig
from rnnkit.train.precision import auto_precision


class Recipe(NamedTuple):
    """What a budget trains: LanguageModelConfig fields (all but vocab_size), the peak
    learning rate, the batch size and AdamW's (decoupled) weight decay."""

    model: dict[str, Any]
    lr: float
    batch_size: int
    weight_decay: float = 0.0


def _gru(hidden: int, dropout: float, layers: int = 2) -> dict[str, Any]:
    return {"hidden_size": hidden, "dropout": dropout, "num_layers": layers}


#: Per precision: (largest budget in minutes, recipe), from small to large.
BUDGET_TIERS: dict[str, tuple[tuple[float, Recipe], ...]] = {
    "bf16": (
        (5.0, Recipe(_gru(256, 0.0), 4e-3, 32)),
        (15.0, Recipe(_gru(512, 0.2), 2e-3, 64)),
        (float("inf"), Recipe(_gru(512, 0.25, layers=3), 2e-3, 64, weight_decay=0.6)),
    ),
    "fp32": (
        (5.0, Recipe(_gru(256, 0.0), 4e-3, 32)),
        (15.0, Recipe(_gru(256, 0.1), 4e-3, 32)),
        (float("inf"), Recipe(_gru(512, 0.2), 2e-3, 32)),
    ),
}
BASE_MODEL: dict[str, Any] = {
    "cell": "gru",
    "num_layers": 2,
    "embedding_size": 64,
    "tie_weights": False,
}
#: AdamW: with weight decay 0 it takes exactly Adam's steps.
DEFAULT_OPTIMIZER = "adamw"
#: The learning rate decays to this fraction of its peak over the budget.
MIN_LR_RATIO = 0.05
#: Cadence in steps. Evaluation counts against a time budget (a 3x512 GRU reads Tiny
#: Shakespeare's 111k validation characters in ~9 s, the time of ~15 training steps), so
#: it runs every 500 steps, about every 5 minutes at the 30-minute size; checkpoints
#: are cheap and come more often, so a killed run loses little.
EVAL_EVERY = 500
CHECKPOINT_EVERY = 200
#: Used for a step or epoch budget, where the time is not known in advance.
STEP_BUDGET_MINUTES = 10.0


def default_recipe(minutes: float | None, precision: str = "fp32") -> Recipe:
    """The defaults for a time budget (None: a step or epoch budget) in a precision."""
    budget = STEP_BUDGET_MINUTES if minutes is None else minutes
    for limit, recipe in BUDGET_TIERS[precision]:
        if budget <= limit:
            return recipe._replace(model=BASE_MODEL | recipe.model)
    raise AssertionError("the last tier has no limit")


def recipe_for_budget(
    minutes: float | None,
    precision: str = "fp32",
    lr: float | None = None,
    batch_size: int | None = None,
    weight_decay: float | None = None,
    optimizer: str = DEFAULT_OPTIMIZER,
    **given: Any,
) -> Recipe:
    """The budget's defaults with every given (non-None) setting taking precedence:
    what `rnnkit train lm` builds from its flags. ``given`` are model settings.

    The budget's weight decay was tuned for AdamW's decoupled decay; with another
    ``optimizer`` (where it would be an L2 penalty of another scale) it defaults to 0.
    """
    recipe = default_recipe(minutes, precision)
    if weight_decay is None:
        weight_decay = recipe.weight_decay if optimizer == "adamw" else 0.0
    return Recipe(
        recipe.model | {k: v for k, v in given.items() if v is not None},
        recipe.lr if lr is None else lr,
        recipe.batch_size if batch_size is None else batch_size,
        weight_decay,
    )


#: The demo trains the classic char-rnn network, an LSTM, at the 3-minute size.
DEMO_CELL = "lstm"


def demo_recipe(
    minutes: float, cell: str = DEMO_CELL
) -> tuple[CorpusConfig, dict[str, Any], TrainConfig]:
    """What the demo trains on Shakespeare's plays for ``minutes``."""
    precision = auto_precision("cpu")
    recipe = recipe_for_budget(minutes, precision, cell=cell)
    corpus = CorpusConfig(level="char", batch_size=recipe.batch_size, seq_len=100)
    train = TrainConfig(
        optimizer=DEFAULT_OPTIMIZER,
        lr=recipe.lr,
        weight_decay=recipe.weight_decay,
        min_lr_ratio=MIN_LR_RATIO,
        max_minutes=minutes,
        eval_every=250,
        checkpoint_every=250,
        precision=precision,
    )
    return corpus, recipe.model, train
