"""`SamplingConfig`: how the next token is chosen and when generation stops.

One frozen dataclass, validated on construction, so a config read back from a run
directory (JSON lists and all) is checked the same way as one built in code;
`dataclasses.replace` re-validates too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rnnkit.errors import ConfigError

# torch.Generator.manual_seed takes an unsigned 64-bit seed.
_MAX_SEED = 2**64 - 1


def _is_int(value: object) -> bool:
    # bool is an int subclass; `top_k=True` is a mistake, not 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class SamplingConfig:
    """Settings for `sample_next`, `generate` and `stream`.

    Attributes:
        temperature: divides the logits before the softmax, ``p = softmax(z / T)``;
            ``T < 1`` sharpens, ``T > 1`` flattens, ``T -> 0`` approaches argmax.
            Finite and ``> 0``; ignored when ``greedy``.
        top_k: keep only the ``k`` most probable tokens (``>= 1``); ``None`` keeps all.
        top_p: nucleus sampling, keep the smallest set of most probable tokens whose
            probability mass reaches ``p`` (in ``(0, 1]``); ``None`` keeps all.
        greedy: take ``argmax z`` at every step; temperature, top_k, top_p and seed
            are then ignored.
        seed: seeds the private ``torch.Generator`` used for sampling, so a seed gives
            the same tokens whatever else used the global RNG; ``None`` draws a fresh
            seed from the operating system.
        max_new_tokens: upper bound on generated tokens per sequence (``>= 1``).
        stop: text-level stop string; a sequence ends at the first token after which
            its generated text contains it (needs a ``decode_fn``). ``None``: no stop string.
        stop_ids: token ids that end a sequence; the stop token is kept as its last token.
        num_samples: independent sequences drawn in one batch (``B = num_samples``).
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    greedy: bool = False
    seed: int | None = None
    max_new_tokens: int = 200
    stop: str | None = None
    stop_ids: tuple[int, ...] = ()
    num_samples: int = 1

    def __post_init__(self) -> None:
        if not _is_real(self.temperature) or not (
            math.isfinite(self.temperature) and self.temperature > 0
        ):
            raise ConfigError(
                f"SamplingConfig.temperature must be a finite number > 0, got "
                f"{self.temperature!r}; for argmax decoding set greedy=True instead"
            )
        if self.top_k is not None and not (_is_int(self.top_k) and self.top_k >= 1):
            raise ConfigError(
                f"SamplingConfig.top_k must be an int >= 1 or None (no top-k filter), "
                f"got {self.top_k!r}"
            )
        if self.top_p is not None and not (_is_real(self.top_p) and 0 < self.top_p <= 1):
            raise ConfigError(
                f"SamplingConfig.top_p must be a number in (0, 1] or None (no nucleus "
                f"filter), got {self.top_p!r}"
            )
        if not isinstance(self.greedy, bool):
            raise ConfigError(f"SamplingConfig.greedy must be True or False, got {self.greedy!r}")
        if self.seed is not None and not (_is_int(self.seed) and 0 <= self.seed <= _MAX_SEED):
            raise ConfigError(
                f"SamplingConfig.seed must be an int in [0, 2**64 - 1] or None (random "
                f"seed), got {self.seed!r}"
            )
        if not (_is_int(self.max_new_tokens) and self.max_new_tokens >= 1):
            raise ConfigError(
                f"SamplingConfig.max_new_tokens must be an int >= 1, got {self.max_new_tokens!r}"
            )
        if self.stop is not None and not (isinstance(self.stop, str) and self.stop):
            raise ConfigError(
                f"SamplingConfig.stop must be a non-empty string or None (no stop string), "
                f"got {self.stop!r}"
            )
        if isinstance(self.stop_ids, str | bytes) or not _all_token_ids(self.stop_ids):
            raise ConfigError(
                f"SamplingConfig.stop_ids must be a sequence of token ids (ints >= 0), "
                f"got {self.stop_ids!r}"
            )
        # Normalise a list (e.g. read back from JSON) to a tuple: the config stays hashable.
        object.__setattr__(self, "stop_ids", tuple(self.stop_ids))
        if not (_is_int(self.num_samples) and self.num_samples >= 1):
            raise ConfigError(
                f"SamplingConfig.num_samples must be an int >= 1, got {self.num_samples!r}"
            )


def _all_token_ids(values: object) -> bool:
    try:
        items = list(values)  # type: ignore[call-overload]
    except TypeError:
        return False
    return all(_is_int(v) and v >= 0 for v in items)
