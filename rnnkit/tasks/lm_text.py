"""Using a trained language model: encode text, generate, complete, score, predict."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from rnnkit.data import NgramWindows, tokenizer_from_config
from rnnkit.decode import SamplingConfig, ban_tokens, beam_search, generate
from rnnkit.errors import ConfigError, DataError, VocabularyError
from rnnkit.models.lm_stepper import step_functions
from rnnkit.models.lm_tasks import display_for, evaluate_stream, window_loss
from rnnkit.runs.lifecycle import Run


class TextModel:
    """A language-model run with its tokenizer and vocabulary, ready to use."""

    def __init__(self, run: Run) -> None:
        if run.task != "lm":
            raise ConfigError(
                f"{run.run_dir} is a {run.task!r} run; this needs a language model "
                "(a run of `rnnkit train lm`)"
            )
        self.run = run
        self.model = run.model
        self.device = run.device
        self.vocab = run.artifacts["vocab"]
        self.corpus = run.spec.data
        self.tokenizer = tokenizer_from_config(
            {"level": self.corpus.level, "lowercase": self.corpus.lowercase}
        )

    @property
    def level(self) -> str:
        return self.corpus.level

    @property
    def window(self) -> int | None:
        return self.corpus.window

    def encode(self, text: str, what: str = "text", *, strict: bool = False) -> list[int]:
        """Tokens of ``text`` as ids.

        Unknown tokens become ``[UNK]`` where the vocabulary has one (scoring a text, as
        validation does during training), and are an error naming them otherwise, or when
        ``strict`` (a prime typed by a user, where a silent ``[UNK]`` would hide a typo).
        """
        tokens = self.tokenizer.tokenize(text)
        if strict or self.vocab.unk_id is None:
            unknown = self.vocab.unknown(tokens)
            if unknown:
                shown = ", ".join(repr(t) for t in unknown[:8])
                raise VocabularyError(
                    f"the {what} has {len(unknown)} {self.level}(s) the model never saw: "
                    f"{shown}; use only {self.level}s of its training text"
                )
        return self.vocab.encode(tokens)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.detokenize(self.vocab.decode(ids))

    def _step_fns(self, *, reference: bool = False):
        """``(step, prime)`` for `generate`: the fast incremental step unless
        ``reference`` (`LanguageModel.step`); both sample the same tokens."""
        if self.window is None:
            return step_functions(self.model, reference=reference)
        n = self.window

        def step(tokens, context):  # the context is the last n tokens, not a hidden state
            context = torch.cat([context[:, 1:], tokens.unsqueeze(1)], dim=1)  # (B, n)
            return self.model(context)[0][:, -1], context

        def prime(tokens):
            context = tokens[:, -n:]
            return self.model(context)[0][:, -1], context

        return step, prime

    @torch.no_grad()
    def generate(
        self, prime: str, sampling: SamplingConfig, *, reference: bool = False
    ) -> list[str]:
        """Continue ``prime`` ``sampling.num_samples`` times; returns the continuations.

        ``reference=True`` steps through `LanguageModel.step` instead of the fast
        incremental path: the same text for the same seed, slower (for checks and timing).
        """
        ids = self.encode(prime, "prime", strict=True) or [self._start_token()]
        self._check_window(ids, "prime")
        if self.vocab.unk_id is not None and self.vocab.unk_id not in sampling.banned_ids:
            # [UNK] stands for many tokens; writing it would be writing none of them.
            sampling = replace(sampling, banned_ids=(*sampling.banned_ids, self.vocab.unk_id))
        step, prime_fn = self._step_fns(reference=reference)
        out = generate(step, ids, sampling, self.decode, prime=prime_fn, device=self.device)
        return [self.decode(seq) for seq in out]

    @torch.no_grad()
    def beam(
        self,
        prime: str,
        *,
        width: int,
        length: int,
        n_best: int = 1,
        length_penalty: float = 0.0,
        stop: str | None = None,
    ) -> list[dict[str, Any]]:
        """The ``n_best`` likeliest continuations of ``prime`` by beam search
        (`rnnkit.decode.beam_search`, the translation's search), best first:
        {"text", "log_prob", "score", "finished"}.

        A continuation has ``length`` tokens, or ends at ``stop`` (one token of the
        vocabulary, e.g. ``"."``: ``finished`` is then True and the text ends with it).
        ``[UNK]`` is never chosen. Width 1 is greedy decoding, the same tokens as
        `generate` with ``greedy=True``.
        """
        ids = self.encode(prime, "prime", strict=True) or [self._start_token()]
        self._check_window(ids, "prime")
        eos = None if stop is None else self._stop_id(stop)
        step, prime_fn = self._step_fns()
        if self.window is not None:
            n = self.window
            # step() shifts the last prime token in; the context's first id drops out.
            state = torch.tensor([ids[-n:-1] + ids[-1:]], device=self.device).roll(1, 1)
        elif len(ids) > 1:
            _, state = prime_fn(torch.tensor([ids[:-1]], device=self.device))
        else:
            weights = next(self.model.parameters())
            state = self.model.rnn.init_state(1, device=weights.device, dtype=weights.dtype)
        banned = () if self.vocab.unk_id is None else (self.vocab.unk_id,)

        def search_step(tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
            logits, state = step(tokens, state)
            return ban_tokens(logits, banned), state

        (found,) = beam_search(
            search_step, state, batch_size=1, go_id=ids[-1], eos_id=eos, width=width,
            max_len=length, length_penalty=length_penalty, n_best=n_best, device=self.device,
        )  # fmt: skip
        return [
            {
                "text": self.decode(h.tokens + ([eos] if h.finished else [])),
                "log_prob": h.log_prob,
                "score": h.score,
                "finished": h.finished,
            }
            for h in found
        ]

    def _check_window(self, ids: list[int], what: str) -> None:
        """A window model needs at least its window of tokens to start from."""
        if self.window is not None and len(ids) < self.window:
            raise VocabularyError(
                f"this model reads {self.window} words at a time; the {what} has {len(ids)}"
            )

    def _stop_id(self, stop: str) -> int:
        """The id of a stop string that is one token of the vocabulary."""
        tokens = self.tokenizer.tokenize(stop) if self.level == "word" else list(stop)
        if len(tokens) != 1 or tokens[0] not in self.vocab:
            raise ConfigError(
                f"--stop {stop!r} with --beam must be one {self.level} the model knows",
                field="stop",
                problem=f"with --beam must be one {self.level} the model knows, got {stop!r}",
            )
        return self.vocab.token_to_id(tokens[0])

    def _start_token(self) -> int:
        """Where an empty prime starts: a line break or full stop, else the commonest token."""
        for token in ("\n", "."):
            if token in self.vocab:
                return self.vocab.token_to_id(token)
        return len(self.vocab.specials) % len(self.vocab)

    @torch.no_grad()
    def next_tokens(self, text: str, k: int = 5) -> list[dict[str, Any]]:
        """The ``k`` likeliest next tokens after ``text`` with their probabilities."""
        ids = self.encode(text, "input", strict=True)
        if not ids:
            raise DataError("an input is empty; give some text to continue")
        _, prime_fn = self._step_fns()
        self._check_window(ids, "input")
        logits, _ = prime_fn(torch.tensor([ids], device=self.device))
        probs = torch.softmax(logits[0].float(), -1)
        top = torch.topk(probs, min(k, probs.numel()))
        return [
            {"token": self.vocab.id_to_token(int(i)), "probability": float(p)}
            for p, i in zip(top.values, top.indices, strict=True)
        ]

    @torch.no_grad()
    def evaluate(self, text: str) -> dict[str, Any]:
        """Loss (nats/token) of the model on ``text``, plus bits/char or perplexity."""
        ids = self.encode(text)
        if self.window is not None:
            if len(ids) <= self.window:
                raise DataError(f"the text needs more than {self.window} tokens to evaluate")
            loss, accuracy = window_loss(self.model, NgramWindows(ids, self.window))
            figures = {"loss": loss, "accuracy": accuracy}
            return figures | display_for(self.level, loss) | {"tokens": len(ids) - self.window}
        if len(ids) < 2:
            raise DataError("the text needs at least 2 tokens to evaluate")
        result = evaluate_stream(self.model, ids, self.corpus.seq_len)
        return result | display_for(self.level, result["loss"]) | {"tokens": len(ids) - 1}
