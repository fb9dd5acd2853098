"""`SamplingConfig`: how the next token is chosen and when generation stops.

One frozen dataclass, validated on construction, so a config read back from a run
directory (JSON lists and all) is checked the same way as one built in code;
`dataclasses.replace` re-validates too.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnkit.validate import check_bool, check_int, check_real, check_str, fail, is_int

_OWNER = "SamplingConfig"
# torch.Generator.manual_seed takes an unsigned 64-bit seed.
_MAX_SEED = 2**64 - 1


#: The most tokens one sample may ask for.
MAX_NEW_TOKENS = 10_000_000


@dataclass(frozen=True)
class SamplingConfig:
    """Settings for `sample_next`, `generate` and `stream`.

    Attributes:
        temperature: divides the logits before the softmax, ``p = softmax(z / T)``;
            ``T < 1`` sharpens, ``T > 1`` flattens. Finite and ``>= 0``: ``T = 0`` is
            the limit ``T -> 0``, greedy decoding (``argmax z``), exactly as
            ``greedy=True``; see `is_greedy`. Ignored when ``greedy``.
        top_k: keep only the ``k`` most probable tokens (``>= 1``); ``None`` keeps all.
        top_p: nucleus sampling, keep the smallest set of most probable tokens whose
            probability mass reaches ``p`` (in ``(0, 1]``); ``None`` keeps all.
        greedy: take ``argmax z`` at every step; temperature, top_k, top_p and seed
            are then ignored (the argmax is always inside the top-k / nucleus set).
        seed: seeds the private ``torch.Generator`` used for sampling, so a seed gives
            the same tokens whatever else used the global RNG; ``None`` draws a fresh
            seed from the operating system.
        max_new_tokens: upper bound on generated tokens per sequence (1 to 10,000,000).
        stop: text-level stop string; a sequence ends at the first token after which
            its generated text contains it (needs a ``decode_fn``). ``None``: no stop string.
        stop_ids: token ids that end a sequence; the stop token is kept as its last token.
        banned_ids: token ids never produced, by sampling or greedy decoding: their
            logits are set to ``-inf`` before anything else (e.g. a language model's
            ``[UNK]``, which stands for no text at all).
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
    banned_ids: tuple[int, ...] = ()
    num_samples: int = 1

    def __post_init__(self) -> None:
        check_real(_OWNER, "temperature", self.temperature, least=0.0)
        check_int(_OWNER, "top_k", self.top_k, least=1, optional=True)
        check_real(_OWNER, "top_p", self.top_p, above=0.0, most=1.0, optional=True)
        check_bool(_OWNER, "greedy", self.greedy)
        check_int(_OWNER, "seed", self.seed, least=0, most=_MAX_SEED, optional=True)
        # A bound on typos (a length of 10^11 would run for years), far above real use.
        check_int(_OWNER, "max_new_tokens", self.max_new_tokens, least=1, most=MAX_NEW_TOKENS)
        check_str(_OWNER, "stop", self.stop, optional=True)
        # Normalise lists (e.g. read back from JSON) to tuples: the config stays hashable.
        object.__setattr__(self, "stop_ids", _token_ids("stop_ids", self.stop_ids))
        object.__setattr__(self, "banned_ids", _token_ids("banned_ids", self.banned_ids))
        check_int(_OWNER, "num_samples", self.num_samples, least=1)

    @property
    def is_greedy(self) -> bool:
        """Whether tokens are chosen by argmax: ``greedy=True`` or ``temperature == 0``."""
        return self.greedy or self.temperature == 0


def _token_ids(field: str, values: object) -> tuple[int, ...]:
    """``values`` as a tuple of token ids (ints >= 0), or a ConfigError naming ``field``."""
    items: list[object] | None = None
    if not isinstance(values, str | bytes):
        try:
            items = list(values)  # type: ignore[call-overload]
        except TypeError:
            items = None
    if items is None or not all(is_int(v) and v >= 0 for v in items):  # type: ignore[operator]
        raise fail(_OWNER, field, f"must be a sequence of token ids (ints >= 0), got {values!r}")
    return tuple(items)  # type: ignore[arg-type]
