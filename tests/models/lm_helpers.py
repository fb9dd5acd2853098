"""Small, fast language-model runs for the tests."""

from __future__ import annotations

from pathlib import Path

from rnnkit.data.corpus import CorpusConfig
from rnnkit.train import TrainConfig

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"

TINY_TEXT = (
    "the cat sat on the mat. the dog sat on the log. " * 20
    + "a bird sang in the tree and the cat looked up. " * 10
)


def tiny_model(**overrides):
    return {
        "cell": "lstm",
        "num_layers": 1,
        "hidden_size": 32,
        "embedding_size": 16,
        "dropout": 0.0,
        "tie_weights": False,
    } | overrides


def tiny_corpus(**overrides) -> CorpusConfig:
    return CorpusConfig(**({"batch_size": 4, "seq_len": 20} | overrides))


def tiny_train(**overrides) -> TrainConfig:
    return TrainConfig(
        **(
            {
                "lr": 1e-2,
                "max_steps": 60,
                "eval_every": 20,
                "checkpoint_every": 20,
                "progress": False,
            }
            | overrides
        )
    )
