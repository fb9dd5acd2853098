"""A recurrent language model: tokens -> embedding -> Recurrent -> logits over the vocabulary."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.config import dataclass_from_dict
from rnnkit.nn import Recurrent
from rnnkit.nn.registry import cell_class, cell_names
from rnnkit.validate import check_bool, check_choice, check_int, check_probability, fail

_OWNER = "LanguageModelConfig"


@dataclass(frozen=True)
class LanguageModelConfig:
    """Shape of a language model.

    vocab_size: V, tokens in the vocabulary.
    cell: "rnn" (Elman, tanh) | "lstm" | "gru".
    num_layers, hidden_size: the stacked recurrent layers (L, H).
    embedding_size: E, the token embedding width; 0 feeds one-hot vectors instead,
      as char-rnn does (sensible only for small character vocabularies).
    dropout: on the embeddings, between recurrent layers and before the output
      projection (Zaremba et al. 2014).
    weight_dropout: DropConnect on the recurrent (hidden-to-hidden) matrices, one mask
      per training batch (AWD-LSTM's weight drop); see `Recurrent`.
    recurrent_dropout: variational dropout on h_{t-1} before the recurrent matrix, one
      mask per sequence (Gal & Ghahramani 2016); zoneout: each state unit keeps its
      previous value with this probability (Krueger et al. 2017). See `Recurrent`.
    tie_weights: share the embedding matrix with the output projection (Press &
      Wolf 2017); needs embedding_size == hidden_size.
    """

    vocab_size: int
    cell: str = "lstm"
    num_layers: int = 2
    hidden_size: int = 512
    embedding_size: int = 64
    dropout: float = 0.0
    weight_dropout: float = 0.0
    tie_weights: bool = False
    recurrent_dropout: float = 0.0
    zoneout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "num_layers", "hidden_size"):
            check_int(_OWNER, name, getattr(self, name), least=1)
        check_int(_OWNER, "embedding_size", self.embedding_size, least=0)
        check_choice(_OWNER, "cell", self.cell, cell_names())
        check_probability(_OWNER, "dropout", self.dropout)
        check_probability(_OWNER, "weight_dropout", self.weight_dropout)
        check_probability(_OWNER, "recurrent_dropout", self.recurrent_dropout)
        check_probability(_OWNER, "zoneout", self.zoneout)
        check_bool(_OWNER, "tie_weights", self.tie_weights)
        if self.tie_weights and self.embedding_size != self.hidden_size:
            raise fail(
                _OWNER,
                "tie_weights",
                "needs an embedding as wide as the hidden layers, got widths "
                f"{self.embedding_size} and {self.hidden_size}",
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LanguageModelConfig:
        return dataclass_from_dict(cls, data, "model config")


class LanguageModel(nn.Module):
    r"""Next-token model :math:`p(x_{t+1} \mid x_{\le t})`.

    .. math::
        e_t = E[x_t],\quad (h_t, s_t) = \mathrm{Recurrent}(e_t, s_{t-1}),\quad
        \mathrm{logits}_t = W_o h_t + b_o

    ``forward(tokens (B, T), state)`` returns logits (B, T, V) and the final state,
    so a caller can carry it to the next window (truncated BPTT) or the next
    generated token. ``step`` is the one-token version used by generation.
    """

    def __init__(self, config: LanguageModelConfig) -> None:
        super().__init__()
        self.config = config
        V, E, H = config.vocab_size, config.embedding_size, config.hidden_size
        self.embedding = nn.Embedding(V, E) if E else None
        cell_kwargs = {"forget_bias": 1.0} if config.cell == "lstm" else {}
        self.rnn = Recurrent(
            cell_class(config.cell),
            E or V,
            H,
            config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            weight_dropout=config.weight_dropout,
            recurrent_dropout=config.recurrent_dropout,
            zoneout=config.zoneout,
            cell_kwargs=cell_kwargs,
        )
        self.drop = nn.Dropout(config.dropout)
        # With tied weights the projection reads the embedding matrix directly, so no
        # tensor is stored twice (safetensors refuses shared storage).
        self.decoder = None if config.tie_weights else nn.Linear(H, V)
        self.decoder_bias = nn.Parameter(torch.zeros(V)) if config.tie_weights else None

    def embed(self, tokens: Tensor) -> Tensor:
        if self.embedding is None:
            return F.one_hot(tokens, self.config.vocab_size).float()  # (B, T, V)
        return self.embedding(tokens)  # (B, T, E)

    def project(self, h: Tensor) -> Tensor:
        if self.decoder is None:
            return F.linear(h, self.embedding.weight, self.decoder_bias)  # (B, T, V)
        return self.decoder(h)  # (B, T, V)

    def forward(
        self, tokens: Tensor, state: Any = None, *, lengths: Tensor | None = None
    ) -> tuple[Tensor, Any]:
        x = self.drop(self.embed(tokens))  # (B, T, E)
        h, state = self.rnn(x, state, lengths=lengths)  # (B, T, H)
        return self.project(self.drop(h)), state

    def step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        """One token per row: ``tokens`` (B,) -> logits (B, V) and the next state."""
        logits, state = self(tokens.unsqueeze(1), state)
        return logits[:, -1], state

    def prime(self, tokens: Tensor) -> tuple[Tensor, Any]:
        """Run a whole prefix (B, P) at once; return the last logits (B, V) and the state."""
        logits, state = self(tokens)
        return logits[:, -1], state
