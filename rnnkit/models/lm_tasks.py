"""Language-model training tasks, as the task-agnostic trainer sees them.

`StreamLMTask`: truncated BPTT over B parallel streams of the corpus; the hidden
state is carried from window to window, detached, and reset at each epoch start.
`WindowLMTask`: the next-word tutorial's set-up; every run of N tokens predicts
the token after it, each window from a fresh state, in shuffled mini-batches.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.data import NgramWindows, StreamBatcher, iter_eval_windows
from rnnkit.models.language_model import LanguageModel
from rnnkit.nn import detach_state
from rnnkit.train import StepOutput


def display_for(level: str, loss: float) -> dict[str, float]:
    """Bits per character for characters, perplexity for words (from a loss in nats)."""
    if level == "char":
        return {"bpc": loss / math.log(2)}
    return {"ppl": math.exp(min(loss, 50.0))}


#: Validation reads the held-out text as at most EVAL_STREAMS streams, and each stream
#: but the first first reads the EVAL_WARMUP_WINDOWS * T tokens before its segment,
#: unscored, so that it does not score its opening tokens from a zero state (see
#: `rnnkit.data.eval_windows`). Every target counts once, and the number measured does
#: not depend on the training batch size.
EVAL_STREAMS = 64
EVAL_WARMUP_WINDOWS = 4


def eval_plan(num_tokens: int, seq_len: int) -> tuple[int, int]:
    """(streams, warm-up tokens) for evaluating ``num_tokens`` with windows of ``seq_len``:
    at most EVAL_STREAMS, and few enough that warm-up re-reads at most a quarter of the
    text (one stream, a plain pass, for short texts)."""
    warmup = EVAL_WARMUP_WINDOWS * seq_len
    streams = max(1, min(EVAL_STREAMS, (num_tokens - 1) // (4 * warmup)))
    return streams, warmup


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


class StreamLMTask:
    """Truncated-BPTT language modelling over a token stream."""

    unit = "tokens"

    def __init__(
        self,
        model: LanguageModel,
        train_ids: list[int],
        val_ids: list[int],
        *,
        batch_size: int,
        seq_len: int,
        level: str,
        rotate_seed: int | None = None,
    ) -> None:
        self.model = model
        self.level = level
        self.batcher = StreamBatcher(train_ids, batch_size, seq_len, rotate_seed=rotate_seed)
        # Without held-out text, evaluation scores the training text (named train_*).
        self.on_train = len(val_ids) < 2
        self.held_out = not self.on_train
        self.val_ids = train_ids if self.on_train else val_ids
        self.seq_len = seq_len
        self.carry: Any = None  # the hidden state carried into the next window

    def steps_per_epoch(self) -> int:
        return len(self.batcher)

    def next_batch(self):
        return self.batcher.next_batch()

    def training_loss(self, batch) -> StepOutput:
        device = _device(self.model)
        if batch.reset:
            self.carry = None  # a new pass over the text starts from zeros
        x, y = batch.x.to(device), batch.y.to(device)  # (B, T)
        logits, state = self.model(x, self.carry)  # (B, T, V)
        self.carry = detach_state(state)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        return StepOutput(loss, y.numel())

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        result = evaluate_stream(self.model, self.val_ids, self.seq_len)
        if self.on_train:
            result = {"loss": result["loss"]} | {f"train_{k}": v for k, v in result.items()}
        return result

    def display(self, loss: float) -> dict[str, float]:
        return display_for(self.level, loss)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"batcher": self.batcher.state_dict(), "carry_fields": None}
        if self.carry is not None:
            state["carry_fields"] = [len(s) for s in self.carry]
            for k, s in enumerate(self.carry):
                for j, t in enumerate(s):
                    state[f"carry.{k}.{j}"] = t
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batcher.load_state_dict(state["batcher"])
        layout = state.get("carry_fields")
        if layout is None:
            self.carry = None
            return
        kinds = [c.state_type for c in self.model.rnn.cells]
        self.carry = tuple(
            kinds[k](*(state[f"carry.{k}.{j}"] for j in range(n))) for k, n in enumerate(layout)
        )


@torch.no_grad()
def evaluate_stream(
    model: LanguageModel,
    ids: list[int],
    seq_len: int,
    *,
    streams: int | None = None,
    warmup: int | None = None,
) -> dict[str, float]:
    """Mean loss (nats/token) and next-token accuracy over every target of ``ids``, with
    the state carried across windows as in training; ``streams`` and ``warmup`` default
    to `eval_plan`'s."""
    planned_streams, planned_warmup = eval_plan(len(ids), seq_len)
    streams = planned_streams if streams is None else streams
    warmup = planned_warmup if warmup is None else warmup
    was_training = model.training
    model.eval()
    device = _device(model)
    total, correct, count, state = 0.0, 0, 0, None
    for x, y, scored in iter_eval_windows(ids, streams, seq_len, warmup=warmup):
        logits, state = model(x.to(device), state)  # (S, T, V)
        y, scored = y.to(device), scored.to(device)
        nll = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
        total += nll[scored.flatten()].sum().item()
        correct += int(((logits.argmax(-1) == y) & scored).sum())
        count += int(scored.sum())
    model.train(was_training)
    return {"loss": total / count, "accuracy": correct / count}


class WindowLMTask:
    """Next-token prediction from every run of ``n`` tokens (shuffled mini-batches)."""

    unit = "tokens"

    def __init__(
        self,
        model: LanguageModel,
        train_ids: list[int],
        val_ids: list[int],
        *,
        window: int,
        batch_size: int,
        level: str,
        seed: int,
    ) -> None:
        self.model = model
        self.level = level
        self.window = window
        self.train = NgramWindows(train_ids, window)
        self.val = NgramWindows(val_ids, window) if len(val_ids) > window else None
        self.held_out = self.val is not None
        self.batch_size = min(batch_size, len(self.train))
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(self.train))
        self.cursor = 0

    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.train) / self.batch_size)

    def next_batch(self) -> tuple[Tensor, Tensor]:
        if self.cursor >= len(self.order):
            self.order = self.rng.permutation(len(self.train))
            self.cursor = 0
        rows = torch.from_numpy(self.order[self.cursor : self.cursor + self.batch_size])
        self.cursor += self.batch_size
        return self.train.x[rows], self.train.y[rows]

    def training_loss(self, batch) -> StepOutput:
        device = _device(self.model)
        x, y = batch[0].to(device), batch[1].to(device)  # (B, n), (B,)
        logits, _ = self.model(x)
        last = logits[:, -1]  # (B, V): the prediction after the whole window
        loss = F.cross_entropy(last, y)
        accuracy = (last.argmax(-1) == y).float().mean().item()
        return StepOutput(loss, y.numel(), {"accuracy": accuracy})

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        result = {}
        for name, data in (("train", self.train), ("val", self.val)):
            if data is None:
                continue
            loss, acc = window_loss(self.model, data)
            result[f"{name}_accuracy"] = acc
            result["loss" if name == "val" else "train_loss"] = loss
        result.setdefault("loss", result["train_loss"])
        return result

    def display(self, loss: float) -> dict[str, float]:
        return display_for(self.level, loss)

    def state_dict(self) -> dict[str, Any]:
        return {
            "rng": self.rng.bit_generator.state,
            # A tensor, not a JSON list: a large corpus has millions of windows.
            "order": torch.from_numpy(self.order.copy()),
            "cursor": self.cursor,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.order = state["order"].cpu().numpy().astype(np.int64)
        self.cursor = int(state["cursor"])


@torch.no_grad()
def window_loss(model: LanguageModel, data: NgramWindows, chunk: int = 4096) -> tuple[float, float]:
    """Mean loss and accuracy of predicting each window's next token."""
    was_training = model.training
    model.eval()
    device = _device(model)
    total, correct = 0.0, 0
    for start in range(0, len(data), chunk):
        x = data.x[start : start + chunk].to(device)
        y = data.y[start : start + chunk].to(device)
        last = model(x)[0][:, -1]
        total += F.cross_entropy(last, y, reduction="sum").item()
        correct += int((last.argmax(-1) == y).sum())
    model.train(was_training)
    return total / len(data), correct / len(data)
