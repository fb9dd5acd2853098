"""Sampling shared by every generating model: token choice, stopping, generation loops.

Generic by design: models are seen only through ``step``/``prime`` callables, so this
package never imports `rnnkit.data` or `rnnkit.models`.
"""

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
    "PrimeFn",
    "SamplingConfig",
    "StepFn",
    "StopCondition",
    "StopWhen",
    "ban_tokens",
    "filter_logits",
    "generate",
    "sample_next",
    "stream",
    "truncate_at_stop",
    "unescape_stop",
]
