"""Choosing the next token from a batch of logits: filtering and sampling.

Shapes: ``B`` batch, ``V`` vocabulary. Logits are unnormalised log-probabilities
``z`` of shape ``(B, V)``; the model's distribution is ``p = softmax(z)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnnkit.decode.config import SamplingConfig
from rnnkit.errors import InputError
from rnnkit.validate import check_int, check_real, fail

# The nucleus cut compares a float cumulative sum with p. Without slack an exact
# boundary flips with rounding: in float32, probabilities [0.45, 0.35, 0.2] with
# p = 0.45 keep two tokens instead of one. 1e-6 is well above float32 rounding on
# such sums and far below any difference in p a user would mean.
_TOP_P_TOLERANCE = 1e-6

_WIDE = (torch.float32, torch.float64)


def _check_logits(logits: Tensor) -> None:
    if logits.dim() != 2 or logits.shape[-1] == 0:
        raise InputError(
            f"logits must have shape (B, V) with V >= 1, got {tuple(logits.shape)}; "
            "a step function returning (B, 1, V) should squeeze the time axis"
        )
    if not logits.is_floating_point():
        raise InputError(f"logits must be a floating-point tensor, got {logits.dtype}")


def filter_logits(logits: Tensor, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    """Set the logits of tokens outside the top-k / nucleus set to ``-inf``.

    Top-k keeps the ``k`` largest logits of each row (exactly ``k``: ties are broken by
    ``torch.topk``, so ``V - k`` entries are removed; ``k >= V`` removes nothing).

    Top-p (nucleus, Holtzman et al. 2020) sorts each row by probability
    ``p_(1) >= p_(2) >= ... >= p_(V)`` of ``p = softmax(z)`` and keeps the smallest
    prefix ``{(1), ..., (m)}`` with ``sum_{j<=m} p_(j) >= top_p``: token ``(i)`` is kept
    iff the mass strictly before it, ``sum_{j<i} p_(j)``, is ``< top_p``. The most
    probable token is always kept. Probabilities are those of the logits given, so
    apply temperature first. With both, top-k is applied first and top-p is computed
    on the renormalised top-k distribution.

    Args:
        logits: ``(B, V)`` floating-point logits; not modified.
        top_k: number of tokens to keep per row, or ``None``.
        top_p: nucleus mass in ``(0, 1]``, or ``None``; ``1`` keeps every token.

    Returns:
        ``(B, V)`` logits, same dtype, removed entries ``-inf``.
    """
    _check_logits(logits)
    check_int("filter_logits", "top_k", top_k, least=1, optional=True)
    check_real("filter_logits", "top_p", top_p, above=0.0, most=1.0, optional=True)
    filtered = logits
    vocab = logits.shape[-1]
    if top_k is not None and top_k < vocab:
        keep_idx = logits.topk(top_k, dim=-1).indices  # (B, k)
        remove = torch.ones_like(logits, dtype=torch.bool).scatter(-1, keep_idx, False)
        filtered = filtered.masked_fill(remove, float("-inf"))
    # p = 1 keeps everything; skipping it keeps the tolerance from trimming tiny tails.
    if top_p is not None and top_p < 1:
        work_dtype = torch.promote_types(logits.dtype, torch.float32)
        probs = torch.softmax(filtered.to(work_dtype), dim=-1)  # (B, V)
        sorted_probs, sorted_idx = probs.sort(dim=-1, descending=True)  # (B, V)
        mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs  # (B, V), exclusive
        remove_sorted = mass_before >= top_p - _TOP_P_TOLERANCE  # (B, V)
        remove_sorted[:, 0] = False
        remove = torch.zeros_like(remove_sorted).scatter(-1, sorted_idx, remove_sorted)
        filtered = filtered.masked_fill(remove, float("-inf"))
    return filtered


def ban_tokens(logits: Tensor, banned_ids: tuple[int, ...]) -> Tensor:
    """``logits`` with the columns ``banned_ids`` set to ``-inf`` (a copy; unchanged if
    there are none), so neither argmax nor sampling can pick them.

    Raises:
        ConfigError: an id is outside the vocabulary ``0..V-1``, or every id is banned.
    """
    if not banned_ids:
        return logits
    vocab = logits.shape[-1]
    outside = sorted({i for i in banned_ids if i >= vocab})
    if outside:
        raise fail(
            "SamplingConfig",
            "banned_ids",
            f"has id(s) {outside} outside the vocabulary 0..{vocab - 1}",
        )
    if len(set(banned_ids)) == vocab:
        raise fail(
            "SamplingConfig", "banned_ids", f"bans all {vocab} tokens; nothing is left to generate"
        )
    banned = torch.tensor(banned_ids, dtype=torch.long, device=logits.device)
    return logits.index_fill(-1, banned, float("-inf"))


def sample_next(logits: Tensor, config: SamplingConfig, generator: torch.Generator) -> Tensor:
    """Draw one token id per row of ``logits``.

    First ``config.banned_ids`` get logit ``-inf``. Greedy (``config.greedy`` or
    temperature 0, see `SamplingConfig.is_greedy`): ``y = argmax_v z_v``. Otherwise
    ``z' = filter(z / T)`` (top-k, then top-p, see `filter_logits`) and
    ``y ~ Categorical(softmax(z'))``, i.e.
    ``P(y = v) = exp(z_v / T) / sum_{u kept} exp(z_u / T)`` for kept ``v``, 0 otherwise.

    The draw is an exponential race: with ``q_v ~ Exp(1)`` independent,
    ``y = argmax_v p_v / q_v``. Each ``q_v / p_v`` is exponential with rate ``p_v``,
    and the first of independent exponential clocks to ring is ``v`` with probability
    ``p_v / sum_u p_u``. It is what ``torch.multinomial`` does for one sample, without
    its validity checks, which cost more than the rest of a batch-1 draw; a NaN
    (from NaN or infinite logits) is caught on the winners instead.

    Randomness comes only from ``generator`` (never the global RNG), so a seeded
    generator gives the same tokens whatever else ran in the process. The generator
    must live on the logits' device.

    Args:
        logits: ``(B, V)`` floating-point logits of the next token.
        config: temperature, top_k, top_p, greedy and banned_ids are read.
        generator: source of randomness; unused when greedy.

    Returns:
        ``(B,)`` int64 token ids on the logits' device.

    Raises:
        InputError: a row's logits hold NaN or ``+inf``, or are all ``-inf``.
    """
    _check_logits(logits)
    logits = ban_tokens(logits, config.banned_ids)
    if config.is_greedy:
        return _winners(logits, inf_wins=False)
    if generator.device != logits.device:
        raise fail(
            "sample_next",
            "generator",
            f"is on {generator.device} but the logits are on {logits.device}; create it "
            "with torch.Generator(device=logits.device)",
        )
    work = logits if logits.dtype in _WIDE else logits.float()  # bf16/fp16 logits: fp32 softmax
    if config.temperature != 1:
        # Shift by the row max before dividing: softmax is shift-invariant, and tiny
        # temperatures then give very negative logits instead of overflowing to inf.
        # (At T = 1 softmax subtracts the same max itself: the same numbers, two ops fewer.)
        work = (work - work.max(dim=-1, keepdim=True).values) / config.temperature  # (B, V)
    if config.top_k is not None or config.top_p is not None:
        work = filter_logits(work, config.top_k, config.top_p)
    probs = torch.softmax(work, dim=-1)  # (B, V)
    race = torch.empty_like(probs).exponential_(generator=generator)  # q ~ Exp(1), (B, V)
    return _winners(probs.div_(race), inf_wins=True)


def _winners(scores: Tensor, *, inf_wins: bool) -> Tensor:
    """``argmax`` of each row of ``scores`` (B, V). A NaN in a row is an InputError, and
    so is ``+inf`` unless ``inf_wins`` (in the race, ``p / q`` is ``inf`` when a draw
    ``q`` is 0, a legitimate win; a logit of ``+inf`` is a diverged model)."""
    best, index = scores.max(dim=-1)  # (B,), (B,): max propagates NaN
    # tolist, not torch's any(): a reduction here cost 10-15 us per batch-1 token.
    if any(b != b or (b == math.inf and not inf_wins) for b in best.tolist()):
        raise InputError(
            "the model's scores for the next token are NaN or infinite; the model's weights "
            "have probably diverged (retrain with a lower learning rate or --clip-norm)"
        )
    return index
