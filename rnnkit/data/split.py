"""Train/validation split of one token stream.

A language model's validation text must be text it never trained on, and a random split of
windows would leak neighbouring context across the two sets. So the split is contiguous:
the last `val_fraction` of the corpus is validation (as char-rnn and nanoGPT do).
"""

from __future__ import annotations

from typing import TypeVar

from rnnkit.errors import ConfigError, DataError

__all__ = ["split_contiguous"]

# Works on anything sliceable with a length: list[int], a 1-D tensor, a numpy array.
S = TypeVar("S")


def split_contiguous(ids: S, val_fraction: float = 0.1, min_len: int = 1) -> tuple[S, S]:
    """Split `ids` into (train, val): the first part and the last `val_fraction` of it.

    The validation length is `round(len(ids) * val_fraction)`; both parts are slices
    (views for tensors). With `val_fraction == 0` the validation part is empty and only
    the training part is checked against `min_len`.

    Args:
        ids: the encoded corpus (list, 1-D tensor or array).
        val_fraction: share of tokens for validation, in [0, 1).
        min_len: the fewest tokens each non-empty part must have for the caller's use
            (e.g. `batch_size * (seq_len + 1)` for `StreamBatcher`).

    Raises:
        ConfigError: `val_fraction` outside [0, 1) or `min_len` < 1.
        DataError: a part would be shorter than `min_len`.
    """
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, int | float):
        raise ConfigError(f"val_fraction must be a number in [0, 1), got {val_fraction!r}")
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    if isinstance(min_len, bool) or not isinstance(min_len, int) or min_len < 1:
        raise ConfigError(f"min_len must be an integer >= 1, got {min_len!r}")
    n = len(ids)  # type: ignore[arg-type]
    n_val = round(n * val_fraction)
    n_train = n - n_val
    if n_train < min_len:
        raise DataError(
            f"the training part would have {n_train} of {n} tokens but at least {min_len} "
            "are needed; use a longer text, a smaller val_fraction, or a smaller "
            "--batch-size/--seq-len"
        )
    if val_fraction > 0 and n_val < min_len:
        raise DataError(
            f"the validation part would have {n_val} of {n} tokens (val_fraction="
            f"{val_fraction}) but at least {min_len} are needed; use a longer text, a larger "
            "val_fraction, or a smaller --batch-size/--seq-len"
        )
    return ids[:n_train], ids[n_train:]  # type: ignore[index]
