"""Default language-model settings, chosen by measurement (see docs/language-models.md)."""

from __future__ import annotations

from typing import Any

from rnnkit.data.corpus import CorpusConfig
from rnnkit.train import TrainConfig

#: The model `rnnkit train lm` builds when no model flag is given.
DEFAULT_MODEL: dict[str, Any] = {
    "cell": "lstm",
    "num_layers": 2,
    "hidden_size": 512,
    "embedding_size": 64,
    "dropout": 0.0,
    "tie_weights": False,
}


def demo_recipe(minutes: float) -> tuple[CorpusConfig, dict[str, Any], TrainConfig]:
    """The char-LSTM the demo trains on Shakespeare's plays for ``minutes``."""
    corpus = CorpusConfig(level="char", batch_size=32, seq_len=100)
    model = dict(DEFAULT_MODEL)
    train = TrainConfig(lr=2e-3, max_minutes=minutes, eval_every=200, checkpoint_every=200)
    return corpus, model, train
