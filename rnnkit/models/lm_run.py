"""Language-model runs end to end: train or resume into a run directory, then load
it back to generate, complete or evaluate, with no flags needed.

A run directory holds::

    config.json            what was trained on and how (data, model, train, text hash)
    vocab.json             the vocabulary
    checkpoint.safetensors everything needed to resume exactly (written by the trainer)
    best.safetensors       weights with the best validation loss
    last.safetensors       weights at the last checkpoint
    metrics.csv, loss.png  the training curve
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rnnkit import __version__
from rnnkit.data import Vocab, read_text, tokenizer_from_config
from rnnkit.data.corpus import Corpus, CorpusConfig, prepare_corpus
from rnnkit.decode import SamplingConfig, generate
from rnnkit.errors import CheckpointError, ConfigError, DataError, VocabularyError
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.models.lm_tasks import (
    StreamLMTask,
    WindowLMTask,
    display_for,
    evaluate_stream,
    window_loss,
)
from rnnkit.train import TrainConfig, Trainer, TrainResult, atomic_write_bytes, load_weights

RUN_FORMAT = "rnnkit.lm-run"


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class LMSpec:
    """Everything that defines a language-model run (what config.json stores)."""

    corpus: CorpusConfig
    model: LanguageModelConfig
    train: TrainConfig
    text_path: str | None
    text_sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": RUN_FORMAT,
            "rnnkit_version": __version__,
            "task": "lm",
            "text_path": self.text_path,
            "text_sha256": self.text_sha256,
            "data": self.corpus.to_dict(),
            "model": self.model.to_dict(),
            "train": self.train.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any, source: str) -> LMSpec:
        if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
            raise CheckpointError(f"{source} is not an rnnkit language-model run config")
        try:
            return cls(
                CorpusConfig.from_dict(data["data"]),
                LanguageModelConfig.from_dict(data["model"]),
                TrainConfig.from_dict(data["train"]),
                data.get("text_path"),
                data["text_sha256"],
            )
        except (KeyError, TypeError, ConfigError) as err:
            raise CheckpointError(f"{source} is corrupt: {err}") from None


def make_task(spec: LMSpec, corpus: Corpus, model: LanguageModel):
    c = spec.corpus
    if c.window is not None:
        return WindowLMTask(
            model,
            corpus.train_ids,
            corpus.val_ids,
            window=c.window,
            batch_size=c.batch_size,
            level=c.level,
            seed=spec.train.seed,
        )
    return StreamLMTask(
        model,
        corpus.train_ids,
        corpus.val_ids,
        batch_size=c.batch_size,
        seq_len=c.seq_len,
        level=c.level,
        rotate_seed=spec.train.seed if c.rotate else None,
    )


def train_language_model(
    text: str,
    run_dir: str | Path,
    corpus: CorpusConfig,
    model: dict[str, Any],
    train: TrainConfig,
    *,
    text_path: str | None = None,
) -> TrainResult:
    """Train a new language model on ``text`` into the empty ``run_dir``.

    ``model`` holds LanguageModelConfig fields except ``vocab_size`` (set from the
    data). All input is checked before anything is written to ``run_dir``.
    """
    run_dir = Path(run_dir)
    if (run_dir / "checkpoint.safetensors").exists() or (run_dir / "config.json").exists():
        raise CheckpointError(
            f"{run_dir} already holds a run; resume it with --resume {run_dir} or pick a new --out"
        )
    prepared = prepare_corpus(text, corpus)
    model_config = LanguageModelConfig(vocab_size=len(prepared.vocab), **model)
    spec = LMSpec(corpus, model_config, train, text_path, text_digest(text))
    torch.manual_seed(train.seed)  # the initial weights are part of the run
    lm = LanguageModel(model_config)
    task = make_task(spec, prepared, lm)
    run_dir.mkdir(parents=True, exist_ok=True)
    prepared.vocab.save(run_dir / "vocab.json")
    _write_json(run_dir / "config.json", spec.to_dict())
    return Trainer(task, train, run_dir).fit()


def resume_language_model(
    run_dir: str | Path, text: str | None = None, overrides: dict[str, Any] | None = None
) -> TrainResult:
    """Continue an interrupted run exactly where its checkpoint left it.

    ``text`` defaults to the file recorded in config.json; either way it must be the
    very text the run started on (its SHA-256 is checked). ``overrides`` may raise
    max_steps / max_epochs / max_minutes to train for longer, or set ``device`` (and
    ``precision``) to continue on another device (checkpoints are device-independent).
    """
    run_dir = Path(run_dir)
    spec, vocab = _read_spec(run_dir)
    if not (run_dir / "checkpoint.safetensors").exists():
        raise CheckpointError(f"{run_dir} has no checkpoint.safetensors to resume from")
    if text is None:
        if spec.text_path is None or not Path(spec.text_path).exists():
            raise DataError(
                f"the run's text ({spec.text_path}) is not there; pass the text file again"
            )
        text = read_text(spec.text_path)
    if text_digest(text) != spec.text_sha256:
        raise DataError(
            "this text differs from the one the run was trained on; resume with the original text"
        )
    allowed = {"max_steps", "max_epochs", "max_minutes", "device", "precision"}
    if overrides and set(overrides) - allowed:
        raise ConfigError(
            f"on resume only {sorted(allowed)} may change, not {sorted(set(overrides) - allowed)}"
        )
    if overrides:
        spec.train = TrainConfig.from_dict(spec.train.to_dict() | overrides)
        _write_json(run_dir / "config.json", spec.to_dict())
    prepared = prepare_corpus(text, spec.corpus, vocab=vocab)
    lm = LanguageModel(spec.model)
    task = make_task(spec, prepared, lm)
    return Trainer(task, spec.train, run_dir, resume=True).fit()


def _write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))


def _read_spec(run_dir: Path) -> tuple[LMSpec, Vocab]:
    if not run_dir.is_dir():
        raise CheckpointError(f"run directory {run_dir} does not exist")
    config_path = run_dir / "config.json"
    if not config_path.exists():
        raise CheckpointError(f"{run_dir} is not a run directory: config.json is missing")
    try:
        data = json.loads(config_path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{config_path} is corrupt: {err}") from None
    spec = LMSpec.from_dict(data, str(config_path))
    vocab_path = run_dir / "vocab.json"
    if not vocab_path.exists():
        raise CheckpointError(f"{run_dir} is missing vocab.json")
    vocab = Vocab.load(vocab_path)
    if len(vocab) != spec.model.vocab_size:
        raise CheckpointError(
            f"{vocab_path} has {len(vocab)} tokens but the model was built for "
            f"{spec.model.vocab_size}: the run directory mixes files from different runs"
        )
    return spec, vocab


class LMRun:
    """A trained language model loaded from its run directory."""

    def __init__(
        self, run_dir: str | Path, *, weights: str = "best", device: str | torch.device = "cpu"
    ) -> None:
        self.run_dir = Path(run_dir)
        self.spec, self.vocab = _read_spec(self.run_dir)
        self.tokenizer = tokenizer_from_config(
            {"level": self.spec.corpus.level, "lowercase": self.spec.corpus.lowercase}
        )
        self.device = torch.device(device)
        self.model = LanguageModel(self.spec.model)
        path = self.run_dir / f"{weights}.safetensors"
        if not path.exists():
            other = self.run_dir / "last.safetensors"
            if weights == "best" and other.exists():
                path = other
            else:
                raise CheckpointError(f"{path} is missing: the run has not saved weights yet")
        load_weights(path, self.model, map_location=self.device)
        self.model.to(self.device).eval()

    @property
    def level(self) -> str:
        return self.spec.corpus.level

    @property
    def window(self) -> int | None:
        return self.spec.corpus.window

    def encode(self, text: str, what: str = "text", *, strict: bool = False) -> list[int]:
        """Tokens of ``text`` as ids.

        Unknown tokens become ``[UNK]`` where the vocabulary has one (scoring a text),
        and are an error naming them otherwise, or when ``strict`` (a prime typed by
        a user, where a silent ``[UNK]`` would hide a typo).
        """
        tokens = self.tokenizer.tokenize(text)
        if strict or self.vocab.unk_id is None or self.window is not None:
            unknown = self.vocab.unknown(tokens)
            if unknown:
                shown = ", ".join(repr(t) for t in unknown[:8])
                raise VocabularyError(
                    f"the {what} has {len(unknown)} {self.level}(s) the model never saw: {shown}"
                )
        return self.vocab.encode(tokens)

    def _step_fns(self):
        if self.window is None:
            return self.model.step, self.model.prime
        n = self.window

        def step(tokens, context):  # the context is the last n tokens, not a hidden state
            context = torch.cat([context[:, 1:], tokens.unsqueeze(1)], dim=1)  # (B, n)
            return self.model(context)[0][:, -1], context

        def prime(tokens):
            context = tokens[:, -n:]
            return self.model(context)[0][:, -1], context

        return step, prime

    @torch.no_grad()
    def generate(self, prime: str, sampling: SamplingConfig) -> list[str]:
        """Continue ``prime`` ``sampling.num_samples`` times; returns the continuations."""
        ids = self.encode(prime, "prime", strict=True) or [self._start_token()]
        if self.window is not None and len(ids) < self.window:
            raise VocabularyError(
                f"this model reads {self.window} words at a time; the prime has {len(ids)}"
            )
        step, prime_fn = self._step_fns()
        out = generate(step, ids, sampling, self.decode, prime=prime_fn, device=self.device)
        return [self.decode(seq) for seq in out]

    def _start_token(self) -> int:
        """Where an empty prime starts: a line break or full stop, else the commonest token."""
        for token in ("\n", "."):
            if token in self.vocab:
                return self.vocab.token_to_id(token)
        return len(self.vocab.specials) % len(self.vocab)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.detokenize(self.vocab.decode(ids))

    @torch.no_grad()
    def evaluate(self, text: str) -> dict[str, float]:
        """Loss (nats/token) of the model on ``text``, plus bits/char or perplexity."""
        ids = self.encode(text)
        if self.window is not None:
            from rnnkit.data import NgramWindows

            if len(ids) <= self.window:
                raise DataError(f"the text needs more than {self.window} tokens to evaluate")
            loss, accuracy = window_loss(self.model, NgramWindows(ids, self.window))
            return {"loss": loss, "accuracy": accuracy, **display_for(self.level, loss)}
        if len(ids) < 2:
            raise DataError("the text needs at least 2 tokens to evaluate")
        result = evaluate_stream(self.model, ids, self.spec.corpus.seq_len)
        return result | display_for(self.level, result["loss"]) | {"tokens": len(ids)}
