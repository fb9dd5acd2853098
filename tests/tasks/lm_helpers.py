"""Small, fast language-model runs for the tests."""

from __future__ import annotations

from pathlib import Path

from rnnkit.runs import train_run

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


def tiny_corpus(**overrides) -> dict:
    return {"batch_size": 4, "seq_len": 20} | overrides


def tiny_train(**overrides) -> dict:
    return {
        "lr": 1e-2,
        "max_steps": 60,
        "eval_every": 20,
        "checkpoint_every": 20,
        "progress": False,
    } | overrides


def train_lm(text: str, run_dir, corpus: dict, model: dict, train: dict):
    """`train_run` of the language-model task on ``text``; returns the TrainResult."""
    return train_run("lm", run_dir, raw=text, data=corpus, model=model, train=train).result
