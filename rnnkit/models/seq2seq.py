"""An encoder-decoder (sequence-to-sequence) model with optional attention.

The encoder reads the source with (bi)directional recurrent layers; a bridge turns its
final states into the decoder's first state; the decoder writes the target one token
at a time, from ``<go>`` to ``<eos>``, fed the previous token (the reference in
training, its own choice at inference) and, with attention, the previous attentional
vector (Luong et al. 2015's input feeding).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.config import dataclass_from_dict
from rnnkit.errors import InputError
from rnnkit.nn import Recurrent
from rnnkit.nn.lengths import check_lengths
from rnnkit.nn.pooling import valid_steps
from rnnkit.nn.registry import cell_class, cell_names
from rnnkit.validate import check_bool, check_choice, check_int, check_probability, fail

ATTENTIONS = ("none", "dot", "general", "additive")
#: One decoder step of the recurrent layers: ``(x (B, D), layers) -> (h (B, H), layers)``.
RNNStep = Callable[[Tensor, Any], tuple[Tensor, Any]]
_OWNER = "Seq2SeqConfig"


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Shape of an encoder-decoder.

    source_vocab_size / target_vocab_size: filled from the data's vocabularies;
      pad_id: the padding id of both (0).
    embedding_size: E; shared_embeddings: one embedding for both sides (needs one
      vocabulary for both) and tied to the output layer's weights.
    cell: "rnn" | "lstm" | "gru"; hidden_size: H (the decoder's, and the encoder's per
      direction); num_layers: L for both; bidirectional: the encoder reads both ways.
    attention: "none" (the decoder sees the source only through its first state),
      "dot" / "general" (Luong's scores h^T m and h^T W m) or "additive" (Bahdanau's
      v^T tanh(W h + U m), computed at Luong's place, after the decoder step).
    input_feeding: the decoder also reads the previous attentional vector (Luong's
      input feeding). Without it, teacher-forced training runs the decoder over the
      whole target in one call and attends for every step at once (much faster).
    dropout: on embeddings, between layers and on the attentional vector.
    recurrent_dropout, zoneout: variational dropout on h_{t-1} before the recurrent
      matrix and zoneout of the state (see `Recurrent`), in the encoder only: the
      decoder runs one step per call with input feeding, where a per-sequence mask
      would be redrawn every step.
    """

    source_vocab_size: int = 4
    target_vocab_size: int = 4
    pad_id: int = 0
    embedding_size: int = 128
    shared_embeddings: bool = False
    cell: str = "lstm"
    hidden_size: int = 256
    num_layers: int = 1
    bidirectional: bool = True
    attention: str = "general"
    input_feeding: bool = True
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    zoneout: float = 0.0

    def __post_init__(self) -> None:
        check_int(_OWNER, "source_vocab_size", self.source_vocab_size, least=2)
        check_int(_OWNER, "target_vocab_size", self.target_vocab_size, least=2)
        check_int(_OWNER, "pad_id", self.pad_id, least=0)
        check_int(_OWNER, "embedding_size", self.embedding_size, least=1)
        check_bool(_OWNER, "shared_embeddings", self.shared_embeddings)
        check_choice(_OWNER, "cell", self.cell, cell_names())
        check_int(_OWNER, "hidden_size", self.hidden_size, least=1)
        check_int(_OWNER, "num_layers", self.num_layers, least=1)
        check_bool(_OWNER, "bidirectional", self.bidirectional)
        check_choice(_OWNER, "attention", self.attention, ATTENTIONS)
        check_bool(_OWNER, "input_feeding", self.input_feeding)
        check_probability(_OWNER, "dropout", self.dropout)
        check_probability(_OWNER, "recurrent_dropout", self.recurrent_dropout)
        check_probability(_OWNER, "zoneout", self.zoneout)
        if self.shared_embeddings and self.source_vocab_size != self.target_vocab_size:
            raise fail(
                _OWNER,
                "shared_embeddings",
                "needs one vocabulary for both sides (--shared-vocab)",
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Seq2SeqConfig:
        return dataclass_from_dict(cls, data, "encoder-decoder config")


class DecoderState(NamedTuple):
    """Everything one decoder step needs, batch first in every tensor (so a beam
    search can reorder it row by row): the decoder layers' states, the previous
    attentional vector (input feeding), the source memory and its padding mask."""

    layers: tuple[Any, ...]
    feed: Tensor  # (B, H); zeros without attention
    memory: Tensor  # (B, S, K*H)
    mask: Tensor  # (B, S) True at real source steps


class Seq2Seq(nn.Module):
    r"""Target probabilities :math:`p(y_t \mid y_{<t}, x)`.

    .. math::
        \begin{aligned}
        m_{1..S},\ s &= \mathrm{Encoder}(E_x[x_{1..S}]), \qquad
            d_0 = \tanh(W_b\, s) \ \text{(per layer; the bridge)} \\
        d_t &= \mathrm{Decoder}([E_y[y_{t-1}];\ \tilde h_{t-1}],\ d_{t-1}) \\
        a_{t,s} &= \mathrm{softmax}_s\, \mathrm{score}(d_t, m_s)
            \ \text{over real source steps only} \\
        c_t &= \textstyle\sum_s a_{t,s} m_s, \qquad
            \tilde h_t = \tanh(W_c [c_t; d_t]), \qquad
            p(y_t) = \mathrm{softmax}(W_o \tilde h_t)
        \end{aligned}

    Without attention :math:`\tilde h_t = d_t` and no feed; without input feeding the
    decoder reads :math:`E_y[y_{t-1}]` alone. Padded source steps get
    exactly zero weight (their scores are :math:`-\infty`), so a sentence alone
    translates exactly as inside a padded batch.
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        H, K = c.hidden_size, 2 if c.bidirectional else 1
        self.source_embedding = nn.Embedding(c.source_vocab_size, c.embedding_size, c.pad_id)
        self.target_embedding = (
            self.source_embedding
            if c.shared_embeddings
            else nn.Embedding(c.target_vocab_size, c.embedding_size, c.pad_id)
        )
        cell = cell_class(c.cell)
        inter = c.dropout if c.num_layers > 1 else 0.0
        self.encoder = Recurrent(
            cell, c.embedding_size, H, num_layers=c.num_layers, dropout=inter,
            batch_first=True, bidirectional=c.bidirectional,
            recurrent_dropout=c.recurrent_dropout, zoneout=c.zoneout,
        )  # fmt: skip
        self.attends = c.attention != "none"
        self.feeds = self.attends and c.input_feeding
        feed = H if self.feeds else 0
        self.decoder = Recurrent(
            cell, c.embedding_size + feed, H, num_layers=c.num_layers, dropout=inter,
            batch_first=True,
        )  # fmt: skip
        self.is_lstm = "c" in cell.state_type._fields  # lstm and lnlstm carry a cell state
        self.bridge_h = nn.Linear(K * H, H)
        self.bridge_c = nn.Linear(K * H, H) if self.is_lstm else None
        if c.attention == "dot" and K * H != H:
            self.memory_projection = nn.Linear(K * H, H, bias=False)
        else:
            self.memory_projection = None
        if c.attention == "general":
            self.score_weight = nn.Linear(K * H, H, bias=False)
        if c.attention == "additive":
            self.query_layer = nn.Linear(H, H, bias=False)
            self.key_layer = nn.Linear(K * H, H)
            self.score_vector = nn.Linear(H, 1, bias=False)
        if self.attends:
            self.combine = nn.Linear(K * H + H, H, bias=False)
        self.drop = nn.Dropout(c.dropout)
        if c.shared_embeddings and c.embedding_size == H:
            self.output_layer = nn.Linear(H, c.target_vocab_size)
            self.output_layer.weight = self.target_embedding.weight  # tied
        else:
            self.output_layer = nn.Linear(H, c.target_vocab_size)

    # ---- encoder --------------------------------------------------------------------------
    def encode(self, source: Tensor, lengths: Tensor | list[int] | None = None) -> DecoderState:
        """Read ``source`` (B, S) ids; the decoder's first state."""
        if not isinstance(source, Tensor) or source.dim() != 2 or source.is_floating_point():
            shape = tuple(source.shape) if isinstance(source, Tensor) else type(source).__name__
            raise InputError(f"source: expected integer ids of shape (B, S), got {shape}")
        B, S = source.shape
        lengths = (
            torch.full((B,), S, dtype=torch.int64)
            if lengths is None
            else check_lengths(lengths, B, S)
        )
        mask = valid_steps(lengths, S, source.device)  # (B, S)
        x = self.drop(self.source_embedding(source.masked_fill(~mask, self.config.pad_id)))
        memory, final = self.encoder(x, lengths=lengths)  # (B, S, K*H)
        K = 2 if self.config.bidirectional else 1
        layers = []
        for layer in range(self.config.num_layers):
            states = final[layer * K : (layer + 1) * K]
            h = torch.tanh(self.bridge_h(torch.cat([s.h for s in states], dim=-1)))  # (B, H)
            if self.is_lstm:
                cell = torch.tanh(self.bridge_c(torch.cat([s.c for s in states], dim=-1)))
                layers.append(type(states[0])(h, cell))
            else:
                layers.append(type(states[0])(h))
        feed = memory.new_zeros(B, self.config.hidden_size)
        return DecoderState(tuple(layers), feed, memory, mask)

    # ---- decoder ---------------------------------------------------------------------------
    def step(
        self, tokens: Tensor, state: DecoderState, rnn_step: RNNStep | None = None
    ) -> tuple[Tensor, DecoderState]:
        """One decoder step: previous tokens (B,) -> logits (B, V) and the next state.
        ``rnn_step``: see `step_with_attention`."""
        features, state, _ = self.step_with_attention(tokens, state, rnn_step)
        return self.project(features), state

    def project(self, features: Tensor) -> Tensor:
        """Logits (…, V) of the attentional vectors (or decoder outputs) (…, H)."""
        return self.output_layer(self.drop(features))

    def step_with_attention(
        self, tokens: Tensor, state: DecoderState, rnn_step: RNNStep | None = None
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One decoder step before the output layer: the attentional vector (B, H) (the
        decoder output without attention), the next state, and the attention weights
        (B, S) (None without attention). ``rnn_step(x (B, D), layers) -> (h (B, H),
        layers)`` replaces the decoder layer's call, e.g. an `IncrementalRecurrent`'s
        ``step`` for decoding (the same numbers, less work per call)."""
        x = self.drop(self.target_embedding(tokens))  # (B, E)
        if self.feeds:
            x = torch.cat([x, state.feed], dim=-1)
        if rnn_step is None:
            out, layers = self.decoder(x.unsqueeze(1), state.layers)  # (B, 1, H)
        else:
            h, layers = rnn_step(x, state.layers)
            out = h.unsqueeze(1)  # (B, 1, H)
        if not self.attends:
            return out[:, 0], state._replace(layers=layers), None
        attentional, weights = self.attend(out, state.memory, state.mask)
        return (
            attentional[:, 0],
            DecoderState(layers, attentional[:, 0], state.memory, state.mask),
            weights[:, 0],
        )

    def attend(self, queries: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Attentional vectors (B, T, H) and weights (B, T, S) for decoder outputs
        ``queries`` (B, T, H): one step or, without input feeding, all of them."""
        weights = self.attention_weights(queries, memory, mask)  # (B, T, S)
        context = torch.bmm(weights, memory)  # (B, T, K*H)
        return torch.tanh(self.combine(torch.cat([context, queries], dim=-1))), weights

    def attention_weights(self, query: Tensor, memory: Tensor, mask: Tensor) -> Tensor:
        """softmax over real source steps of score(query, m_s): (B, S) for a query (B, H),
        (B, T, S) for queries (B, T, H); exactly 0 on padding."""
        kind = self.config.attention
        q = query.unsqueeze(1) if query.dim() == 2 else query  # (B, T, H)
        if kind == "dot":
            keys = memory if self.memory_projection is None else self.memory_projection(memory)
            scores = torch.bmm(q, keys.transpose(1, 2))  # (B, T, S)
        elif kind == "general":
            scores = torch.bmm(q, self.score_weight(memory).transpose(1, 2))
        else:
            hidden = torch.tanh(
                self.key_layer(memory).unsqueeze(1) + self.query_layer(q).unsqueeze(2)
            )
            scores = self.score_vector(hidden)[..., 0]  # (B, T, S)
        weights = torch.softmax(scores.masked_fill(~mask.unsqueeze(1), float("-inf")), dim=-1)
        return weights[:, 0] if query.dim() == 2 else weights

    def forward(
        self,
        source: Tensor,
        source_lengths: Tensor | list[int] | None,
        target_in: Tensor,
        teacher_forcing: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Logits (B, T, V) for ``target_in`` (B, T) = ``<go> y_1 .. y_{T-1}``. With
        ``teacher_forcing`` < 1, each step after the first is fed the reference token
        with that probability and the model's own greedy choice otherwise."""
        state = self.encode(source, source_lengths)
        if teacher_forcing >= 1.0 and not self.feeds:
            # Every step's input is known: one decoder call over the whole target (padding
            # sits after the real tokens, so it never reaches them), attention for all
            # steps at once.
            x = self.drop(self.target_embedding(target_in))  # (B, T, E)
            out, _ = self.decoder(x, state.layers)  # (B, T, H)
            if self.attends:
                out, _ = self.attend(out, state.memory, state.mask)
            return self.project(out)
        tokens = target_in[:, 0]
        steps = []
        for t in range(target_in.shape[1]):
            features, state, _ = self.step_with_attention(tokens, state)
            steps.append(features)
            if t + 1 < target_in.shape[1]:
                tokens = target_in[:, t + 1]
                if teacher_forcing < 1.0:
                    own = self.project(features).argmax(-1)
                    draw = torch.rand(tokens.shape, generator=generator, device=tokens.device)
                    tokens = torch.where(draw < teacher_forcing, tokens, own)
        # One output projection for every step: a large vocabulary makes it the costliest
        # part, and one big matrix product runs much faster than T small ones.
        return self.project(torch.stack(steps, dim=1))  # (B, T, V)

    def loss(self, logits: Tensor, target_out: Tensor) -> Tensor:
        """Mean cross-entropy over the real (non-padding) target tokens, in float32."""
        return F.cross_entropy(
            logits.float().flatten(0, 1), target_out.flatten(), ignore_index=self.config.pad_id
        )
