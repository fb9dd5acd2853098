"""Beam search and greedy search for models that map a source to an output sequence.

The model is seen only through ``step(tokens, state) -> (logits, state)`` (see
`rnnkit.decode.generate`): ``tokens`` ``(N,)`` int64, ``logits`` ``(N, V)``. Decoding
starts from ``start_state``, the state for ``B`` sources (an encoder's memory, a
decoder's initial hidden state, anything the step needs), fed ``go_id`` first. The
state contract:

* ``start_state`` is ``None`` or a pytree of tensors: tensors inside (nested) tuples,
  NamedTuples and lists, as `rnnkit.nn.state.map_state` walks them;
* **every tensor has the batch as dim 0**: ``B`` rows in ``start_state``, one per
  source, and ``N`` rows in the state that ``step`` returns for ``N`` input rows.
  Beam search runs ``N = B * width`` rows, row ``b * width + k`` being beam ``k`` of
  source ``b``, and reorders the beams with ``index_select`` along dim 0. A state
  with the batch elsewhere (torch.nn's ``h_n`` is ``(L, B, H)``) must be kept
  batch-first in the state and transposed inside ``step``.

Scores (``y`` an output, ``|y|`` its length counting the final eos when it has one)::

    log_prob(y) = sum_t log softmax(logits_t)[y_t]         (the eos term included)
    lp(y)       = ((5 + |y|) / 6) ** alpha                  (GNMT, Wu et al. 2016, eq. 14)
    score(y)    = log_prob(y) / lp(y)                       (alpha = 0: score = log_prob)
"""

from __future__ import annotations

import bisect
from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnkit.decode.generate import StepFn
from rnnkit.errors import InputError
from rnnkit.nn.state import map_state
from rnnkit.validate import check_int, check_real, fail

_NEG_INF = float("-inf")


class Hypothesis(NamedTuple):
    """One decoded output.

    Attributes:
        tokens: the output ids, without the leading go and without the final eos.
        score: the length-normalised score used for ranking, ``log_prob / lp``.
        log_prob: sum of the token log-probabilities, the eos one included when it ended.
        finished: True if it ended with eos, False if it was cut at ``max_len`` tokens.
    """

    tokens: list[int]
    score: float
    log_prob: float
    finished: bool


def _penalty(length: int, alpha: float) -> float:
    """GNMT's length penalty ``lp = ((5 + length) / 6) ** alpha``; 1 for ``alpha = 0``."""
    return ((5 + length) / 6) ** alpha


@torch.no_grad()
def beam_search(
    step: StepFn,
    start_state: Any,
    *,
    batch_size: int,
    go_id: int,
    eos_id: int | None,
    width: int,
    max_len: int,
    length_penalty: float = 0.0,
    n_best: int = 1,
    device: torch.device | str = "cpu",
) -> list[list[Hypothesis]]:
    """The ``n_best`` best outputs of each of ``batch_size`` sources, by beam search.

    Every source keeps ``width`` live prefixes (beams); at step ``t`` (output length
    ``t``) each live beam is extended by every token, giving ``width * V`` candidates
    ranked by log-probability (all of length ``t``, so the ranking is the same by
    score). Of these:

    * eos candidates that rank among the ``width`` best end: they join the source's
      finished hypotheses (``finished=True``, ``|y| = t``);
    * the ``width`` best non-eos candidates are the live beams of step ``t + 1``. At
      ``t = max_len`` they end instead, unfinished (``finished=False``, ``|y| = max_len``).

    At the first step only one beam per source is live (the others start at
    log-probability ``-inf``), so no output is found twice; candidates of probability
    0 are never kept. Width 1 with ``length_penalty=0`` is greedy decoding.

    Stopping (exact): log-probabilities are ``<= 0``, so any hypothesis found later
    descends from a live beam and has ``log_prob <= l``, ``l`` the best live
    log-probability, and ``|y| <= max_len``; with ``alpha >= 0`` its score is at most
    ``bound = l / lp(max_len)`` (``= l`` for ``alpha = 0``). A source is done when it
    has no live beam, or holds ``n_best`` hypotheses and the ``n_best``-th best score
    is ``>= bound``: nothing found later could enter its top ``n_best``, so the result
    is the one running to ``max_len`` would give. A done source is frozen (its beams
    dropped); the search ends when every source is done or at ``max_len``.

    A beam explores only part of the ``V ** max_len`` outputs and may miss the best one
    (a likely first token can lead to unlikely continuations). A beam at least as wide
    as the number of outputs, ``sum_{n < max_len} (V-1)^n + (V-1)^max_len``, keeps every
    candidate of every step and returns exactly the ``n_best`` best outputs.

    Args:
        step: incremental model step over ``N`` rows, see the module docstring.
        start_state: state for the ``batch_size`` sources, batch first in every tensor.
        batch_size: the number of sources ``B``.
        go_id: the first input token of every beam; it may also be generated.
        eos_id: the token that ends an output, or None for none (a language model
            continuing a text: every output then has ``max_len`` tokens). Both ids are
            checked against the ``V`` of the first logits (a step whose embedding
            rejects ``go_id`` fails first).
        width: beams kept per source (``>= 1``).
        max_len: most output tokens, the eos included (``>= 1``).
        length_penalty: ``alpha >= 0`` of ``lp``; 0 ranks by raw log-probability.
        n_best: hypotheses returned per source, ``1 <= n_best <= width``.
        device: where the token and index tensors are built; the model's device.

    Returns:
        per source, its best hypotheses, best score first (ties: found first), at most
        ``n_best``; fewer only if fewer outputs have non-zero probability.

    Raises:
        ConfigError: an argument out of range, ``n_best > width``, or go/eos id not in
            the vocabulary ``0..V-1`` of the first logits.
        InputError: a state tensor or the logits do not have the expected batch rows.
    """
    owner = "beam_search"
    _check_common(owner, batch_size, go_id, eos_id, max_len)
    check_int(owner, "width", width, least=1)
    check_int(owner, "n_best", n_best, least=1)
    check_real(owner, "length_penalty", length_penalty, least=0.0)
    if n_best > width:
        raise fail(
            owner,
            "n_best",
            f"is {n_best} but width is {width}; n_best must be <= width, "
            "the beam returns at most width hypotheses per source",
        )
    B, W = batch_size, width
    rows = B * W
    _check_batch(start_state, B, "start_state")
    # Row b * W + k is beam k of source b: each source's state repeated W times.
    state = map_state(lambda x: x.repeat_interleave(W, dim=0), start_state)
    tokens = torch.full((rows,), go_id, dtype=torch.long, device=device)  # (B*W,)
    history = torch.empty(B, W, 0, dtype=torch.long, device=device)  # (B, W, t-1)
    source_base = torch.arange(B, device=device).unsqueeze(-1) * W  # (B, 1)
    bound_penalty = _penalty(max_len, length_penalty)
    pools: list[list[Hypothesis]] = [[] for _ in range(B)]  # each best first, <= n_best
    done = [False] * B
    # Log-probability of each live beam; one live beam per source at first, so the W
    # identical copies of a source do not yield the same output W times.
    beam_lp = torch.full((B, W), _NEG_INF, device=device)  # (B, W)
    beam_lp[:, 0] = 0.0
    vocab = 0
    for t in range(1, max_len + 1):
        logits, state = step(tokens, state)
        if t == 1:
            vocab = _check_first_logits(owner, logits, rows, go_id, eos_id)
        _check_logits(logits, rows, vocab)
        work = torch.promote_types(logits.dtype, torch.float32)
        log_probs = torch.log_softmax(logits.to(work), dim=-1)  # (B*W, V)
        cand = beam_lp.to(log_probs).unsqueeze(-1) + log_probs.view(B, W, vocab)  # (B, W, V)
        top_lp, top_idx = cand.view(B, W * vocab).topk(W, dim=-1)  # (B, W)
        if eos_id is not None:
            cand[..., eos_id] = _NEG_INF
        live_lp, live_idx = cand.view(B, W * vocab).topk(W, dim=-1)  # (B, W), best first
        live_beam = (live_idx // vocab).to(device)  # (B, W) parent beam of each new beam
        live_token = (live_idx % vocab).to(device)  # (B, W)
        last = t == max_len
        penalty = _penalty(t, length_penalty)
        ends = (
            ((top_idx % vocab == eos_id) & torch.isfinite(top_lp)).nonzero().tolist()
            if eos_id is not None
            else []
        )
        if ends:
            hist, ends_lp, ends_beam = history.cpu(), top_lp.tolist(), (top_idx // vocab).tolist()
        for b, k in ends:
            log_prob, prefix = ends_lp[b][k], hist[b, ends_beam[b][k]].tolist()
            _keep(pools[b], Hypothesis(prefix, log_prob / penalty, log_prob, True), n_best)
        if last:
            # Cut at max_len: the beams that would have gone on end unfinished.
            outs = torch.cat([history.gather(1, _parents(live_beam, t)), live_token[..., None]], -1)
            outs_lp = live_lp.tolist()
            for b, k in torch.isfinite(live_lp).nonzero().tolist():
                log_prob, out = outs_lp[b][k], outs[b, k].tolist()
                _keep(pools[b], Hypothesis(out, log_prob / penalty, log_prob, False), n_best)
            break
        for b, best in enumerate(live_lp[:, 0].tolist()):
            pool, bound = pools[b], best / bound_penalty
            if bound == _NEG_INF or (len(pool) >= n_best and pool[n_best - 1].score >= bound):
                done[b] = True
        if all(done):
            break
        # Frozen sources keep stepping with the batch, but at -inf nothing of theirs is kept.
        frozen = torch.tensor(done, device=live_lp.device).unsqueeze(-1)  # (B, 1)
        beam_lp = live_lp.masked_fill(frozen, _NEG_INF)  # (B, W)
        state = _reorder(state, (source_base + live_beam).view(rows), rows)
        history = torch.cat([history.gather(1, _parents(live_beam, t)), live_token[..., None]], -1)
        tokens = live_token.view(rows)  # (B*W,)
    return pools


@torch.no_grad()
def greedy_search(
    step: StepFn,
    start_state: Any,
    *,
    batch_size: int,
    go_id: int,
    eos_id: int | None,
    max_len: int,
    device: torch.device | str = "cpu",
) -> list[Hypothesis]:
    """The argmax output of each of ``batch_size`` sources, decoded as one batch.

    Each row feeds ``go_id``, then its argmax token, until it emits ``eos_id``
    (``finished=True``) or has ``max_len`` tokens (``finished=False``). Finished rows
    keep stepping with the batch, their tokens discarded; the loop ends when all rows
    have finished. No length penalty: ``score == log_prob``. Same state contract,
    arguments and errors as `beam_search`; equal to it with ``width=1`` and
    ``length_penalty=0`` (up to argmax ties).

    Returns:
        one `Hypothesis` per source.
    """
    owner = "greedy_search"
    _check_common(owner, batch_size, go_id, eos_id, max_len)
    _check_batch(start_state, batch_size, "start_state")
    state = start_state
    tokens = torch.full((batch_size,), go_id, dtype=torch.long, device=device)  # (B,)
    outputs: list[list[int]] = [[] for _ in range(batch_size)]
    log_probs = [0.0] * batch_size
    finished = [False] * batch_size
    vocab = 0
    for t in range(1, max_len + 1):
        logits, state = step(tokens, state)
        if t == 1:
            vocab = _check_first_logits(owner, logits, batch_size, go_id, eos_id)
        _check_logits(logits, batch_size, vocab)
        work = torch.promote_types(logits.dtype, torch.float32)
        token_lp, tokens = torch.log_softmax(logits.to(work), dim=-1).max(dim=-1)  # (B,)
        for b, (token, lp) in enumerate(zip(tokens.tolist(), token_lp.tolist(), strict=True)):
            if finished[b]:
                continue
            log_probs[b] += lp
            if token == eos_id:
                finished[b] = True
            else:
                outputs[b].append(token)
        if all(finished):
            break
    return [
        Hypothesis(out, lp, lp, done)
        for out, lp, done in zip(outputs, log_probs, finished, strict=True)
    ]


def _check_common(
    owner: str, batch_size: object, go_id: object, eos_id: object, max_len: object
) -> None:
    check_int(owner, "batch_size", batch_size, least=1)
    check_int(owner, "go_id", go_id, least=0)
    check_int(owner, "eos_id", eos_id, least=0, optional=True)
    check_int(owner, "max_len", max_len, least=1)


def _check_batch(state: Any, batch: int, name: str) -> None:
    """Every tensor of ``state`` has ``batch`` rows along dim 0, else an InputError."""

    def check(x: Tensor) -> Tensor:
        if x.dim() == 0 or x.shape[0] != batch:
            raise InputError(
                f"{name}: every tensor must have the batch ({batch} rows) as dim 0, got "
                f"shape {tuple(x.shape)}"
            )
        return x

    try:
        map_state(check, state)
    except TypeError as exc:
        raise InputError(str(exc)) from exc


def _check_first_logits(
    owner: str, logits: Tensor, rows: int, go_id: int, eos_id: int | None
) -> int:
    """The vocabulary size ``V`` of the first logits, after checking the ids against it."""
    _check_logits(logits, rows, None)
    vocab = logits.shape[-1]
    for field, value in (("go_id", go_id), ("eos_id", eos_id)):
        if value is not None and value >= vocab:
            raise fail(owner, field, f"is {value} but the model's vocabulary is 0..{vocab - 1}")
    return vocab


def _check_logits(logits: Tensor, rows: int, vocab: int | None) -> None:
    if (
        not isinstance(logits, Tensor)
        or logits.dim() != 2
        or logits.shape[0] != rows
        or logits.shape[1] == 0
        or (vocab is not None and logits.shape[1] != vocab)
    ):
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        width = "V" if vocab is None else str(vocab)
        raise InputError(f"step must return logits of shape ({rows}, {width}), got {shape}")
    if not logits.is_floating_point():
        raise InputError(f"step must return floating-point logits, got {logits.dtype}")


def _reorder(state: Any, parent: Tensor, rows: int) -> Any:
    """Row ``i`` of the new state is row ``parent[i]`` of ``state`` (beams follow parents)."""

    def pick(x: Tensor) -> Tensor:
        if x.dim() == 0 or x.shape[0] != rows:
            raise InputError(
                f"step must return a state whose tensors have the batch ({rows} rows) as "
                f"dim 0, got shape {tuple(x.shape)}"
            )
        return x.index_select(0, parent.to(x.device))

    return map_state(pick, state)


def _parents(beam: Tensor, t: int) -> Tensor:
    """``(B, W)`` parent beams as a gather index over the ``(B, W, t-1)`` history."""
    return beam.unsqueeze(-1).expand(-1, -1, t - 1)


def _keep(pool: list[Hypothesis], hyp: Hypothesis, n_best: int) -> None:
    """Insert ``hyp`` into ``pool`` (best score first, ties after) and keep ``n_best``."""
    at = bisect.bisect_right([-h.score for h in pool], -hyp.score)
    if at < n_best:
        pool.insert(at, hyp)
        del pool[n_best:]
