"""A sequence classifier: tokens or feature vectors -> Recurrent layers -> pooling -> classes."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.config import dataclass_from_dict
from rnnkit.errors import InputError
from rnnkit.nn import Recurrent
from rnnkit.nn.lengths import check_lengths
from rnnkit.nn.pooling import POOLINGS, TimePooling, valid_steps
from rnnkit.nn.registry import cell_class, cell_names
from rnnkit.validate import (
    check_bool,
    check_choice,
    check_int,
    check_probability,
    fail,
    is_int,
)

OUTPUTS = ("softmax", "binary_sigmoid")
DEFAULT_EMBEDDING_SIZE = 64
_OWNER = "ClassifierConfig"


@dataclass(frozen=True)
class ClassifierConfig:
    """Shape of a sequence classifier.

    num_classes: C >= 2.
    Input, exactly one of:
      vocab_size: V, for text: (B, T) token ids, embedded by ``embedding``.
        embedding_size: E (default 64); pad_id: the padding token (default 0, its
        embedding row starts at zero and gets no gradient); unk_id: the unknown-word
        token (default 1). All three are text-only and stay None for numeric input.
      input_size: D, for numeric input: (B, T, D) floats per step.
        projection_size: P, a linear projection D -> P before the recurrence;
        0 (the default, and the only value for text) feeds the raw features.
    cell: "rnn" (Elman, tanh) | "lstm" | "gru".
    hidden_size: H for every layer, or one size per layer, e.g. (64, 32) stacks a
      64-unit layer under a 32-unit one.
    num_layers: L; None means 1 for an int hidden_size and len(hidden_size) for a
      tuple (a given value must then match the tuple's length).
    bidirectional: each layer also runs in reverse and outputs [forward; reverse].
    dropout: in training, on the input of every layer after the first: between the
      recurrent layers, on the pooled features and after each dense layer.
    input_dropout: in training, on the first recurrent layer's inputs (the word
      vectors, or the projected features), as Keras' ``LSTM(dropout=...)``: with few
      labelled texts, a large embedding learns the training sentences by heart
      without it.
    word_dropout: text only: in training, each token is read as the unknown word
      (``unk_id``) with this probability, drawn anew for every token of every batch
      and, in an ensemble, for every network (Iyyer et al. 2015's word dropout): a
      sentence's label must then follow from the words left, not from one rare word
      the network has learnt by heart.
    recurrent_dropout: variational dropout on h_{t-1} before the recurrent matrix, one
      mask per sequence (Gal & Ghahramani 2016); zoneout: each state unit keeps its
      previous value with this probability (Krueger et al. 2017). See `Recurrent`.
    pooling: "last" | "mean" | "max" | "attention"; see `rnnkit.nn.pooling.TimePooling`.
    dense: widths of the ReLU layers between pooling and the output, e.g. (64,).
    output: "softmax" (C logits) or, with C == 2, "binary_sigmoid" (one logit for
      class 1, as Keras' Dense(1, activation="sigmoid")).
    ensemble: K networks of this shape in one model, initialised independently and
      trained on the same batches, each on its own loss; the model's probabilities
      are the mean of theirs (a seed ensemble in one run). 1: a single network.
    """

    num_classes: int
    vocab_size: int | None = None
    embedding_size: int | None = None
    pad_id: int | None = None
    unk_id: int | None = None
    input_size: int | None = None
    projection_size: int = 0
    cell: str = "lstm"
    hidden_size: int | tuple[int, ...] = 64
    num_layers: int | None = None
    bidirectional: bool = False
    dropout: float = 0.0
    input_dropout: float = 0.0
    pooling: str = "last"
    dense: tuple[int, ...] = ()
    output: str = "softmax"
    recurrent_dropout: float = 0.0
    zoneout: float = 0.0
    ensemble: int = 1
    word_dropout: float = 0.0

    def __post_init__(self) -> None:
        check_int(_OWNER, "num_classes", self.num_classes, least=2)
        self._check_input()
        check_choice(_OWNER, "cell", self.cell, cell_names())
        self._check_layers()
        check_bool(_OWNER, "bidirectional", self.bidirectional)
        check_probability(_OWNER, "dropout", self.dropout)
        check_probability(_OWNER, "input_dropout", self.input_dropout)
        check_probability(_OWNER, "word_dropout", self.word_dropout)
        check_probability(_OWNER, "recurrent_dropout", self.recurrent_dropout)
        check_probability(_OWNER, "zoneout", self.zoneout)
        check_choice(_OWNER, "pooling", self.pooling, POOLINGS)
        self._set("dense", _int_tuple("dense", self.dense, allow_empty=True))
        check_choice(_OWNER, "output", self.output, OUTPUTS)
        check_int(_OWNER, "ensemble", self.ensemble, least=1)
        if self.output == "binary_sigmoid" and self.num_classes != 2:
            raise fail(
                _OWNER,
                "output",
                f"'binary_sigmoid' needs exactly 2 classes, the data has {self.num_classes}; "
                "use 'softmax'",
            )

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # frozen: normalise once, here

    def _check_input(self) -> None:
        text, numeric = self.vocab_size is not None, self.input_size is not None
        if text == numeric:
            problem = "and input_size are both set" if text else "or input_size must be set"
            raise fail(
                _OWNER,
                "vocab_size",
                f"{problem}: give vocab_size for token ids or input_size for feature vectors",
            )
        check_int(_OWNER, "projection_size", self.projection_size, least=0)
        if text:
            check_int(_OWNER, "vocab_size", self.vocab_size, least=2)
            if self.embedding_size is None:
                self._set("embedding_size", DEFAULT_EMBEDDING_SIZE)
            check_int(_OWNER, "embedding_size", self.embedding_size, least=1)
            if self.pad_id is None:
                self._set("pad_id", 0)
            check_int(_OWNER, "pad_id", self.pad_id, least=0, most=self.vocab_size - 1)
            if self.unk_id is None:
                self._set("unk_id", 1)
            check_int(_OWNER, "unk_id", self.unk_id, least=0, most=self.vocab_size - 1)
            if self.projection_size:
                raise fail(
                    _OWNER,
                    "projection_size",
                    f"applies to numeric input (input_size) only, got {self.projection_size}",
                )
            return
        check_int(_OWNER, "input_size", self.input_size, least=1)
        if self.word_dropout:
            raise fail(
                _OWNER,
                "word_dropout",
                f"drops words, so it applies to text only; this model reads numeric "
                f"features (got {self.word_dropout!r}); leave it at 0",
            )
        for name in ("embedding_size", "pad_id", "unk_id"):
            if getattr(self, name) is not None:
                raise fail(
                    _OWNER,
                    name,
                    f"applies to text input (vocab_size) only, got {getattr(self, name)!r}",
                )

    def _check_layers(self) -> None:
        if is_int(self.hidden_size):
            check_int(_OWNER, "hidden_size", self.hidden_size, least=1)
            if self.num_layers is None:
                self._set("num_layers", 1)
            check_int(_OWNER, "num_layers", self.num_layers, least=1)
            return
        sizes = _int_tuple("hidden_size", self.hidden_size, allow_empty=False)
        self._set("hidden_size", sizes)
        if self.num_layers is None:
            self._set("num_layers", len(sizes))
        if self.num_layers != len(sizes):
            raise fail(
                _OWNER,
                "num_layers",
                f"must match the {len(sizes)} per-layer hidden sizes {sizes}, "
                f"got {self.num_layers!r}",
            )

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Hidden size of each recurrent layer, bottom first."""
        if isinstance(self.hidden_size, tuple):
            return self.hidden_size
        return (self.hidden_size,) * self.num_layers

    @property
    def is_text(self) -> bool:
        return self.vocab_size is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifierConfig:
        return dataclass_from_dict(cls, data, "classifier config")


def _int_tuple(field: str, value: object, *, allow_empty: bool) -> tuple[int, ...]:
    """A tuple (or JSON list) of ints >= 1, as a tuple."""
    ok = isinstance(value, tuple | list) and (allow_empty or len(value) > 0)
    ok = ok and all(is_int(v) and v >= 1 for v in value)  # type: ignore[union-attr]
    if not ok:
        what = "integers >= 1 (or none)" if allow_empty else "an integer >= 1 or a non-empty tuple"
        shown = " ".join(map(repr, value)) if isinstance(value, tuple | list) else repr(value)
        raise fail(_OWNER, field, f"must be {what}, got {shown or 'nothing'}")
    return tuple(value)  # type: ignore[arg-type]


class SequenceClassifier(nn.Module):
    r"""Class probabilities :math:`p(y \mid x_1 .. x_n)` for variable-length sequences.

    .. math::
        \begin{aligned}
        e_t &= E[x_t] \ \text{(text)} \quad\text{or}\quad W_p x_t + b_p \ \text{(numeric)} \\
        h^{(l)}_{1..n} &= \mathrm{Recurrent}_l(\mathrm{drop}(h^{(l-1)}_{1..n})),
            \quad h^{(0)} = e \\
        a_0 &= \mathrm{pool}(h^{(L)}_{1..n}),
            \quad a_j = \mathrm{relu}(W_j\, \mathrm{drop}(a_{j-1}) + b_j) \\
        z &= W_o\, \mathrm{drop}(a_J) + b_o, \qquad
            p = \mathrm{softmax}(z) \ \text{or}\ [1 - \sigma(z),\ \sigma(z)]
        \end{aligned}

    Every step reads only a sequence's own n steps: the recurrent layers run each
    sequence to its own length (the reverse direction starts at step n), pooling
    ignores steps past n, and padded inputs are replaced before use (ids by
    ``pad_id``, features by 0), so padding values, even NaN, change nothing.
    With ``word_dropout`` q, training reads :math:`E[\tilde x_t]`, where
    :math:`\tilde x_t = \mathrm{unk}` with probability q and :math:`x_t` otherwise.
    LSTM layers start with forget-gate bias 1 (see `rnnkit.nn.LSTMCell`).

    ``forward(x, lengths=None) -> logits`` (B, C), or (B, 1) for ``binary_sigmoid``;
    ``x`` is (B, T) integer ids (text) or (B, T, D) floats (numeric), ``lengths``
    (B,) the real steps of each row (None: all T). ``probabilities`` always gives
    (B, C); ``loss`` is the matching mean negative log-likelihood.

    With ``ensemble`` K > 1 the model holds K such networks (`networks`), ``forward``
    gives their logits stacked (B, K, C or 1), ``probabilities`` the mean of their
    probabilities :math:`\bar p = \frac{1}{K}\sum_k p^{(k)}`, and ``loss`` the mean of
    their losses, so each network learns on its own (``combined=True``: the loss of
    :math:`\bar p`, the ensemble's own).
    """

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        self.members: nn.ModuleList | None = None
        if config.ensemble > 1:
            single = replace(config, ensemble=1)
            self.members = nn.ModuleList(SequenceClassifier(single) for _ in range(config.ensemble))
            return
        self.embedding = self.projection = None
        if config.is_text:
            self.embedding = nn.Embedding(
                config.vocab_size, config.embedding_size, padding_idx=config.pad_id
            )
            width = config.embedding_size
        elif config.projection_size:
            self.projection = nn.Linear(config.input_size, config.projection_size)
            width = config.projection_size
        else:
            width = config.input_size
        K = 2 if config.bidirectional else 1
        layers = []
        for size in config.layer_sizes:
            layers.append(
                Recurrent(
                    cell_class(config.cell),
                    width,
                    size,
                    batch_first=True,
                    bidirectional=config.bidirectional,
                    recurrent_dropout=config.recurrent_dropout,
                    zoneout=config.zoneout,
                )
            )
            width = K * size
        self.layers = nn.ModuleList(layers)
        self.pooling = TimePooling(config.pooling, width, K)
        self.drop = nn.Dropout(config.dropout)
        self.input_drop = nn.Dropout(config.input_dropout)
        dense: list[nn.Module] = []
        for size in config.dense:
            dense += [nn.Dropout(config.dropout), nn.Linear(width, size), nn.ReLU()]
            width = size
        self.dense = nn.Sequential(*dense)
        binary = config.output == "binary_sigmoid"
        self.output_layer = nn.Linear(width, 1 if binary else config.num_classes)

    def networks(self) -> list[SequenceClassifier]:
        """The single networks: the ensemble's members, or this model itself."""
        return list(self.members) if self.members is not None else [self]

    def forward(self, x: Tensor, lengths: Tensor | list[int] | None = None) -> Tensor:
        x, lengths = self._check_inputs(x, lengths)  # once, for every network
        if self.members is not None:
            return torch.stack([m._logits(x, lengths) for m in self.members], dim=1)  # (B, K, C)
        return self._logits(x, lengths)

    def _logits(self, x: Tensor, lengths: Tensor) -> Tensor:
        """One network's logits (B, C or 1) for checked inputs."""
        valid = valid_steps(lengths, x.shape[1], x.device)  # (B, T)
        h = self.input_drop(self.embed(x, valid))  # (B, T, E)
        for index, layer in enumerate(self.layers):
            if index:
                h = self.drop(h)
            h, _ = layer(h, lengths=lengths)  # (B, T, K*H_l)
        features = self.dense(self.pooling.pooled(h, lengths))  # (B, F); lengths checked
        return self.output_layer(self.drop(features))  # (B, C) or (B, 1)

    def embed(self, x: Tensor, valid: Tensor) -> Tensor:
        """Per-step inputs of the first recurrent layer, with padding replaced."""
        if self.embedding is not None:
            c = self.config
            if self.training and c.word_dropout > 0:
                dropped = torch.rand(x.shape, device=x.device) < c.word_dropout  # (B, T)
                x = x.masked_fill(dropped, c.unk_id)
            return self.embedding(x.masked_fill(~valid, c.pad_id))  # (B, T, E)
        x = x.to(self.output_layer.weight.dtype).masked_fill(~valid.unsqueeze(-1), 0.0)
        return x if self.projection is None else self.projection(x)  # (B, T, P or D)

    def probabilities(self, x: Tensor, lengths: Tensor | list[int] | None = None) -> Tensor:
        """Class probabilities (B, C); for ``binary_sigmoid`` ``[1 - sigma(z), sigma(z)]``."""
        return self.logits_to_probabilities(self(x, lengths))

    def logits_to_probabilities(self, logits: Tensor) -> Tensor:
        if self.config.output == "binary_sigmoid":
            # sigma(-z) = 1 - sigma(z), without the cancellation of 1 - p for p near 1.
            probs = torch.sigmoid(torch.cat([-logits, logits], dim=-1))  # (B, [K,] 2)
        else:
            probs = torch.softmax(logits, dim=-1)  # (B, [K,] C)
        return probs.mean(1) if self.members is not None else probs

    def combined_logits(self, logits: Tensor) -> Tensor:
        r"""One network's logits (B, C or 1) from ``forward``'s output: as they are for a
        single network; for an ensemble (B, K, C or 1) the logits whose softmax (or
        sigmoid) is the ensemble's mean probability,
        :math:`\log \frac{1}{K}\sum_k \mathrm{softmax}(z^{(k)})` or
        :math:`\mathrm{logit}\, \frac{1}{K}\sum_k \sigma(z^{(k)})`, in log space."""
        if self.members is None:
            return logits
        if self.config.output == "binary_sigmoid":  # log p1 - log p0 of the mean
            return torch.logsumexp(F.logsigmoid(logits), 1) - torch.logsumexp(
                F.logsigmoid(-logits), 1
            )
        return torch.logsumexp(torch.log_softmax(logits, -1), 1) - math.log(self.config.ensemble)

    def predict(self, x: Tensor, lengths: Tensor | list[int] | None = None) -> Tensor:
        """The most probable class of each sequence, (B,) int64."""
        return self.probabilities(x, lengths).argmax(dim=-1)

    def loss(
        self,
        logits: Tensor,
        labels: Tensor,
        *,
        combined: bool = False,
        held_out: Tensor | None = None,
    ) -> Tensor:
        r"""Mean negative log-likelihood of ``labels`` (B,) in [0, C):
        :math:`-\frac{1}{B}\sum_b \log p_b[y_b]`, computed from the logits in float32.

        For an ensemble, the mean of the networks' own losses
        :math:`\frac{1}{K}\sum_k -\frac{1}{B}\sum_b \log p^{(k)}_b[y_b]`, which training
        minimises so that each network learns on its own; with ``combined`` the
        ensemble's loss as one model, :math:`-\frac{1}{B}\sum_b \log \bar p_b[y_b]`,
        which validation and evaluation report (it is never above the members' mean).

        ``held_out`` (B,) integers, for a cross-fitted ensemble's training: network
        :math:`h_b` does not learn from example b (a value of K or more leaves it to
        all). The loss is the mean over the pairs kept,
        :math:`\sum_{b,k} m_{bk} \ell^{(k)}_b / \sum_{b,k} m_{bk}` with
        :math:`m_{bk} = [h_b \ne k]` and :math:`\ell^{(k)}_b = -\log p^{(k)}_b[y_b]`."""
        if labels.dim() != 1 or labels.shape[0] != logits.shape[0] or labels.is_floating_point():
            raise InputError(
                f"labels: expected integer class ids of shape ({logits.shape[0]},), "
                f"got {labels.dtype} {tuple(labels.shape)}"
            )
        if held_out is not None and (
            self.members is None or combined or held_out.shape != labels.shape
        ):
            raise InputError(
                "held_out: expected one network index per label, for the members' own "
                f"losses of an ensemble; got shape {tuple(held_out.shape)} for "
                f"{'an ensemble' if self.members is not None else 'a single network'}"
                f"{' (combined)' if combined else ''}"
            )
        if self.members is not None and combined:
            logits = self.combined_logits(logits.float())  # (B, C or 1)
        elif self.members is not None:  # every member scored on every label
            logits = logits.flatten(0, 1)  # (B*K, C or 1)
            labels = labels.repeat_interleave(self.config.ensemble)
        if held_out is None:
            return self._nll(logits, labels).mean()
        K = self.config.ensemble
        keep = held_out.unsqueeze(1) != torch.arange(K, device=held_out.device)  # (B, K)
        return (self._nll(logits, labels).view(-1, K) * keep).sum() / keep.sum()

    def _nll(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Each row's negative log-likelihood (N,), in float32."""
        if self.config.output == "binary_sigmoid":
            return F.binary_cross_entropy_with_logits(
                logits.float().squeeze(-1), labels.to(torch.float32), reduction="none"
            )
        return F.cross_entropy(logits.float(), labels, reduction="none")

    def _check_inputs(self, x: Tensor, lengths: Any) -> tuple[Tensor, Tensor]:
        """Validate ``x`` against the config; return it and CPU int64 lengths (B,)."""
        config = self.config
        if not isinstance(x, Tensor):
            raise InputError(f"x: expected a torch.Tensor, got {type(x).__name__}")
        if config.is_text:
            if x.dim() != 2 or x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
                raise InputError(
                    f"x: expected integer token ids of shape (B, T) for a text classifier, "
                    f"got {x.dtype} {tuple(x.shape)}"
                )
        elif x.dim() != 3 or x.shape[-1] != config.input_size or not x.is_floating_point():
            raise InputError(
                f"x: expected floats of shape (B, T, {config.input_size}) "
                f"(input_size = {config.input_size}), got {x.dtype} {tuple(x.shape)}"
            )
        B, T = x.shape[0], x.shape[1]
        if B == 0 or T == 0:
            raise InputError(f"x: expected at least one sequence and step, got {tuple(x.shape)}")
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.int64)
        else:
            try:
                lengths = check_lengths(lengths, B, T)
            except TypeError as err:  # a float or bool lengths tensor is bad input too
                raise InputError(str(err)) from err
        if config.is_text:
            real = x[valid_steps(lengths, T, x.device)]  # ids at real steps only
            low, high = int(real.min()), int(real.max())
            if low < 0 or high >= config.vocab_size:
                raise InputError(
                    f"x: token ids must be in [0, {config.vocab_size}) (vocab_size), "
                    f"got ids from {low} to {high}"
                )
        return x, lengths

    def extra_repr(self) -> str:
        return f"num_classes={self.config.num_classes}, output={self.config.output!r}"
