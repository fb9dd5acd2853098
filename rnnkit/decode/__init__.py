"""Decoding shared by every generating model: token choice, stopping, generation loops,
greedy and beam search.

Generic by design: models are seen only through ``step``/``prime`` callables, so this
package never imports `rnnkit.data` or `rnnkit.models`.
"""

from rnnkit.decode.beam import Hypothesis, beam_search, greedy_search
from rnnkit.decode.config import SamplingConfig
from rnnkit.decode.generate import PrimeFn, StepFn, generate, stream
from rnnkit.decode.sampling import ban_tokens, filter_logits, sample_next
from rnnkit.decode.stopping import (
    DecodeFn,
    StopCondition,
    StopWhen,
    truncate_at_stop,
    unescape_stop,
)

__all__ = [
    "DecodeFn",
    "Hypothesis",
    "PrimeFn",
    "SamplingConfig",
    "StepFn",
    "StopCondition",
    "StopWhen",
    "ban_tokens",
    "beam_search",
    "filter_logits",
    "generate",
    "greedy_search",
    "sample_next",
    "stream",
    "truncate_at_stop",
    "unescape_stop",
]
