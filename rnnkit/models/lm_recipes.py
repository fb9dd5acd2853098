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

from typing import Any

from rnnkit.runs.recipes import BudgetTiers, Recipe

#: Shared by every tier unless the tier says otherwise.
BASE_MODEL: dict[str, Any] = {
    "cell": "gru",
    "num_layers": 2,
    "embedding_size": 64,
    "tie_weights": False,
}


def _tier(
    hidden: int,
    dropout: float,
    lr: float,
    batch_size: int,
    *,
    layers: int = 2,
    weight_decay: float = 0.0,
    seq_len: int = 100,
) -> Recipe:
    return Recipe(
        data={"batch_size": batch_size, "seq_len": seq_len},
        model=BASE_MODEL | {"hidden_size": hidden, "dropout": dropout, "num_layers": layers},
        train={"lr": lr, "weight_decay": weight_decay},
    )


#: Per precision: (largest budget in minutes, recipe), from small to large; a step or
#: epoch budget uses the 10-minute tier.
LM_TIERS = BudgetTiers(
    {
        "bf16": (
            (5.0, _tier(256, 0.0, 4e-3, 32)),
            (15.0, _tier(512, 0.2, 2e-3, 64)),
            (float("inf"), _tier(512, 0.25, 2e-3, 64, layers=3, weight_decay=0.6)),
        ),
        "fp32": (
            # Re-tuned on an AVX2-only EPYC (no bf16), where fp32 is the default: 1.498
            # nats/char in 3 minutes, against 1.539 with lr 4e-3 and windows of 100.
            (5.0, _tier(256, 0.0, 6e-3, 32, seq_len=64)),
            (15.0, _tier(256, 0.1, 4e-3, 32)),
            (float("inf"), _tier(512, 0.2, 2e-3, 32)),
        ),
    },
    step_budget_minutes=10.0,
)

#: AdamW: with weight decay 0 it takes exactly Adam's steps. The learning rate decays
#: to 5% of its peak over the budget. Cadence in steps: evaluation counts against a time
#: budget (a 3x512 GRU reads Tiny Shakespeare's 111k validation characters in ~9 s, the
#: time of ~15 training steps), so it runs every 500 steps, about every 5 minutes at the
#: 30-minute size; checkpoints are cheap and come more often, so a killed run loses little.
LM_TRAIN_DEFAULTS: dict[str, Any] = {
    "optimizer": "adamw",
    "min_lr_ratio": 0.05,
    "eval_every": 500,
    "checkpoint_every": 200,
}

#: The demo trains the classic char-rnn network, an LSTM, at the 3-minute size, and
#: evaluates more often (its budget is short).
DEMO_CELL = "lstm"
DEMO_TRAIN: dict[str, Any] = {"eval_every": 250, "checkpoint_every": 250}
#: The plays' held-out tenth is 530k characters; validating on its first 100k keeps each
#: evaluation to seconds, so even a very short demo ends soon after its budget.
DEMO_DATA: dict[str, Any] = {"max_eval_tokens": 100_000}
