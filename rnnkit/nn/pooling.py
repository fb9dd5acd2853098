"""Pooling over time: one vector per sequence from a padded batch of per-step outputs.

A sequence classifier (or any model that reads a whole sequence into one vector)
turns the recurrent layer's outputs ``h_1 .. h_n`` (each (F,), F = K*H) into a
single ``z`` (F,), where ``n`` is the sequence's *own* length. Padded steps
``t > n`` never reach ``z``: they are replaced before any arithmetic (zero for
sums, -inf before max and softmax), so even NaN padding changes nothing.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnkit.errors import InputError
from rnnkit.nn.lengths import check_lengths
from rnnkit.validate import check_choice, check_int, fail

POOLINGS = ("last", "mean", "max", "attention")


def valid_steps(lengths: Tensor, max_len: int, device: torch.device) -> Tensor:
    """Boolean (B, T): True where step t is inside sequence b (batch-first)."""
    positions = torch.arange(max_len, device=device)  # (T,)
    return positions.unsqueeze(0) < lengths.to(device).unsqueeze(1)  # (B, T)


class TimePooling(nn.Module):
    r"""Pool a padded batch of outputs (B, T, F) into (B, F) over each sequence's real steps.

    With :math:`n` the length of a sequence and :math:`h_t` its output at step t:

    * ``"last"``: the final state of each direction,
      :math:`z = [\overrightarrow{h}_n;\ \overleftarrow{h}_1]`. The forward half is the
      output at the real last step; the reverse direction starts at step n and ends
      at step 1, so its final state is its output there. With ``num_directions=1``
      this is just :math:`h_n`.
    * ``"mean"``: :math:`z = \frac{1}{n} \sum_{t=1}^{n} h_t` (divided by the true length).
    * ``"max"``: :math:`z_j = \max_{t \le n} h_{t,j}`, per feature.
    * ``"attention"``: a learned scoring vector :math:`u` (F,),
      :math:`s_t = u^\top h_t`, :math:`\alpha = \mathrm{softmax}(s_1 .. s_n)` over the real
      steps only, :math:`z = \sum_{t=1}^{n} \alpha_t h_t` (feed-forward attention,
      Raffel & Ellis 2015, with a linear score). :math:`u` starts U(-1/sqrt(F), 1/sqrt(F)).

    Args:
        kind: one of ``POOLINGS``.
        features: F, the width of each step's output (needed for ``"attention"``).
        num_directions: K, 2 when the outputs are a bidirectional layer's
            ``[forward; reverse]`` concatenation (it matters for ``"last"`` only).

    ``forward(output (B, T, F), lengths (B,) integer, each in [1, T]) -> (B, F)``.
    """

    def __init__(self, kind: str, features: int, num_directions: int = 1) -> None:
        super().__init__()
        check_choice("TimePooling", "kind", kind, POOLINGS)
        check_int("TimePooling", "features", features, least=1)
        check_int("TimePooling", "num_directions", num_directions, least=1, most=2)
        if kind == "last" and features % num_directions:
            raise fail(
                "TimePooling",
                "features",
                f"must split evenly into {num_directions} directions, got {features}",
            )
        self.kind, self.features, self.num_directions = kind, features, num_directions
        self.score = nn.Linear(features, 1, bias=False) if kind == "attention" else None
        if self.score is not None:
            bound = 1.0 / math.sqrt(features)
            nn.init.uniform_(self.score.weight, -bound, bound)

    def forward(self, output: Tensor, lengths: Tensor | list[int]) -> Tensor:
        if output.dim() != 3 or output.shape[-1] != self.features:
            raise InputError(
                f"output: expected shape (B, T, {self.features}), got {tuple(output.shape)}"
            )
        B, T, F = output.shape
        lengths = check_lengths(lengths, B, T).to(output.device)  # 1 <= each <= T
        return self.pooled(output, lengths)

    def pooled(self, output: Tensor, lengths: Tensor) -> Tensor:
        """`forward` without its checks: for lengths already checked, or symbolic ones
        in a graph being exported (a check of their values cannot be traced)."""
        T = output.shape[1]
        valid = valid_steps(lengths, T, output.device).unsqueeze(-1)  # (B, T, 1)
        # Padding is replaced, not multiplied by zero: 0 * NaN would still be NaN.
        h = output.masked_fill(~valid, 0.0)  # (B, T, F)
        if self.kind == "mean":
            return h.sum(dim=1) / lengths.unsqueeze(1).to(h.dtype)  # (B, F)
        if self.kind == "max":
            return output.masked_fill(~valid, float("-inf")).amax(dim=1)  # (B, F)
        if self.kind == "attention":
            scores = self.score(h).masked_fill(~valid, float("-inf"))  # (B, T, 1)
            # At least float32: under bf16 autocast the scores arrive in bfloat16.
            wide = torch.promote_types(scores.dtype, torch.float32)
            alpha = torch.softmax(scores.to(wide), dim=1)  # (B, T, 1), zero at padding
            return (alpha * h).sum(dim=1)  # (B, F)
        return self._last(h, lengths)

    def _last(self, h: Tensor, lengths: Tensor) -> Tensor:
        B, _, F = h.shape
        H = F // self.num_directions
        last = (lengths - 1).view(B, 1, 1).expand(B, 1, H)  # (B, 1, H)
        forward = h[..., :H].gather(1, last).squeeze(1)  # (B, H)
        if self.num_directions == 1:
            return forward
        reverse = h[:, 0, H:]  # (B, H): the reverse pass ends at step 1
        return torch.cat([forward, reverse], dim=-1)  # (B, 2H)

    def extra_repr(self) -> str:
        return f"{self.kind!r}, features={self.features}, num_directions={self.num_directions}"
