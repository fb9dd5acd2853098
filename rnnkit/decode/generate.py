"""Autoregressive generation from any model exposing an incremental step.

A generating model is seen only through callables, so this module knows nothing of
language models, vocabularies or recurrent layers:

* ``step(tokens, state) -> (logits, state)``: ``tokens`` ``(B,)`` int64, ``logits``
  ``(B, V)`` for the token after them, ``state`` any pytree of tensors (``None`` means
  start fresh). Generation is incremental: the state is carried step to step and the
  prefix is never re-run.
* ``prime(prime_ids) -> (logits, state)`` (optional): ``prime_ids`` ``(B, P)``; consumes
  the whole prime at once (one pass of the recurrent layer, which can use a fused
  kernel) and returns the logits after its last token. Without it the prime is fed
  through ``step`` one token at a time; both must give the same result.

With ``x_1..x_P`` the prime, generation draws ``y_t ~ sample(logits_t)`` where
``logits_1, s_1 = prime(x)`` and ``logits_{t+1}, s_{t+1} = step(y_t, s_t)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from rnnkit.decode.config import SamplingConfig
from rnnkit.decode.sampling import sample_next
from rnnkit.decode.stopping import DecodeFn, StopCondition, StopWhen
from rnnkit.errors import InputError
from rnnkit.validate import fail, is_int

StepFn = Callable[[Tensor, Any], tuple[Tensor, Any]]
PrimeFn = Callable[[Tensor], tuple[Tensor, Any]]


def generate(
    step: StepFn,
    prime_ids: Sequence[int],
    config: SamplingConfig,
    decode_fn: DecodeFn | None = None,
    *,
    prime: PrimeFn | None = None,
    stop_when: StopWhen | None = None,
    device: torch.device | str = "cpu",
) -> list[list[int]]:
    """Sample ``config.num_samples`` continuations of ``prime_ids`` as one batch.

    Each row ``b`` of the batch (``B = num_samples``) starts from the same prime and
    samples independently. A row finishes at its first stop (``config.stop_ids``,
    ``stop_when``, or ``config.stop`` found in ``decode_fn(generated)``; see
    `StopCondition`), keeping the stopping token; finished rows are still stepped
    with the batch but their tokens are discarded. The loop ends when every row has
    finished or after ``config.max_new_tokens`` tokens; ``step`` is never called for a
    token that will not be sampled from.

    Args:
        step: incremental model step, see the module docstring.
        prime_ids: the prompt's token ids, at least one (the model needs an input).
        config: sampling and stopping settings; ``seed`` makes the result repeatable.
        decode_fn: ``ids -> text``, required when ``config.stop`` is set.
        prime: optional whole-prompt pass, ``(B, P) -> ((B, V), state)``.
        stop_when: optional predicate on a row's generated ids.
        device: where the prime tensor is built; the model's device.

    Returns:
        ``num_samples`` lists of generated ids (prime excluded), each of length
        ``<= max_new_tokens``.
    """
    stop_condition = StopCondition.from_config(config, decode_fn, stop_when)
    # The token generator runs to its end inside this block, so grad mode is switched
    # once, not around every yield (a few us of a batch-1 step's ~200).
    with torch.no_grad():
        tokens = _sample_tokens(step, prime_ids, config, prime, device)
        if not stop_condition.enabled:
            # No per-token decisions: keep tokens on the device, one transfer at the end.
            return torch.stack(list(tokens), dim=1).tolist()  # (B, max_new_tokens)
        outputs: list[list[int]] = [[] for _ in range(config.num_samples)]
        finished = [False] * config.num_samples
        for new in tokens:
            for row, token in enumerate(new.tolist()):
                if finished[row]:
                    continue
                outputs[row].append(token)
                finished[row] = stop_condition(outputs[row])
            if all(finished):
                break
    return outputs


def stream(
    step: StepFn,
    prime_ids: Sequence[int],
    config: SamplingConfig,
    decode_fn: DecodeFn | None = None,
    *,
    prime: PrimeFn | None = None,
    stop_when: StopWhen | None = None,
    device: torch.device | str = "cpu",
) -> Iterator[int]:
    """Yield the generated ids of one sequence as they are sampled (``B = 1``).

    Same arguments, stopping rules and random stream as `generate` with
    ``num_samples=1``: for a fixed seed, ``list(stream(...)) == generate(...)[0]``.
    The model steps lazily, only when the next id is asked for, so a caller can print
    text as it is produced and stop early by breaking out of the loop.
    """
    if config.num_samples != 1:
        raise fail(
            "SamplingConfig",
            "num_samples",
            f"is {config.num_samples} but stream produces one sequence; use generate for "
            "several samples",
        )
    stop_condition = StopCondition.from_config(config, decode_fn, stop_when)
    generated: list[int] = []
    # torch's no_grad on a generator function enters and leaves it around each resume:
    # the caller's grad mode holds between the tokens it takes.
    for new in torch.no_grad()(_sample_tokens)(step, prime_ids, config, prime, device):
        token = int(new.item())
        generated.append(token)
        yield token
        if stop_condition(generated):
            return


def _prime_tensor(prime_ids: Sequence[int], batch: int, device: torch.device | str) -> Tensor:
    ids = list(prime_ids)
    if not ids:
        raise fail(
            "",
            "prime_ids",
            "is empty; generation needs at least one input token, e.g. a start-of-text "
            "or newline id",
        )
    if not all(is_int(i) and i >= 0 for i in ids):
        raise fail("", "prime_ids", f"must be token ids (ints >= 0), got {ids[:10]!r}")
    return torch.tensor(ids, dtype=torch.long, device=device).repeat(batch, 1)  # (B, P)


def _check_step_logits(logits: Tensor, batch: int, source: str) -> None:
    if logits.dim() != 2 or logits.shape[0] != batch:
        raise InputError(
            f"{source} must return logits of shape (B, V) with B = num_samples = {batch}, "
            f"got {tuple(logits.shape)}"
        )


def _sample_tokens(
    step: StepFn,
    prime_ids: Sequence[int],
    config: SamplingConfig,
    prime: PrimeFn | None,
    device: torch.device | str,
) -> Iterator[Tensor]:
    """Yield ``(B,)`` sampled ids, stepping the model lazily between yields; the
    caller sets grad mode (no_grad) around it."""
    batch = config.num_samples
    prime_batch = _prime_tensor(prime_ids, batch, device)  # (B, P)
    if prime is not None:
        logits, state = prime(prime_batch)
        _check_step_logits(logits, batch, "prime")
    else:
        state = None
        for t in range(prime_batch.shape[1]):
            logits, state = step(prime_batch[:, t], state)
        _check_step_logits(logits, batch, "step")
    # The generator lives with the logits, where multinomial draws; it is private so
    # a seed fixes the output no matter what else consumed the global RNG.
    generator = torch.Generator(device=logits.device)
    if config.seed is None:
        generator.seed()
    else:
        generator.manual_seed(config.seed)
    for t in range(config.max_new_tokens):
        tokens = sample_next(logits, config, generator)  # (B,)
        yield tokens
        if t + 1 < config.max_new_tokens:
            logits, state = step(tokens, state)
            _check_step_logits(logits, batch, "step")
