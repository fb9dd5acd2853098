"""Train/validation split of one token stream.

A language model's validation text must be text it never trained on, and a random split of
windows would leak neighbouring context across the two sets. So the split is contiguous:
the last `val_fraction` of the corpus is validation (as char-rnn and nanoGPT do).

`split_point` is the one place the boundary is computed: the corpus builds its
vocabulary from exactly the tokens before it, and `split_contiguous` cuts there.
"""

from __future__ import annotations

from typing import TypeVar

from rnnkit.errors import DataError
from rnnkit.validate import check_int, check_real

__all__ = ["split_contiguous", "split_point"]

# Works on anything sliceable with a length: list[int], a 1-D tensor, a numpy array.
S = TypeVar("S")


def split_point(num_tokens: int, val_fraction: float) -> int:
    """How many of ``num_tokens`` tokens are training: ``n - round(n * val_fraction)``.

    The validation length is rounded to the nearest integer (Python's `round`, ties to
    even), so a fraction that is a hair off in floating point (``0.29 * 100 =
    28.999...``) still gives the intended count.

    Raises:
        ConfigError: ``num_tokens`` is not an integer >= 0, or ``val_fraction`` is
            not a number in [0, 1).
    """
    check_int("split_point", "num_tokens", num_tokens, least=0)
    check_real("split_point", "val_fraction", val_fraction, least=0.0, below=1.0)
    return num_tokens - round(num_tokens * val_fraction)


def split_contiguous(ids: S, val_fraction: float = 0.1, min_len: int = 1) -> tuple[S, S]:
    """Split `ids` into (train, val): the first part and the last `val_fraction` of it.

    The cut is at `split_point(len(ids), val_fraction)`, i.e. the validation length is
    `round(len(ids) * val_fraction)`; both parts are slices (views for tensors). With
    `val_fraction == 0` the validation part is empty and only the training part is
    checked against `min_len`.

    Args:
        ids: the encoded corpus (list, 1-D tensor or array).
        val_fraction: share of tokens for validation, in [0, 1).
        min_len: the fewest tokens each non-empty part must have for the caller's use
            (e.g. `batch_size * (seq_len + 1)` for `StreamBatcher`).

    Raises:
        ConfigError: `val_fraction` outside [0, 1) or `min_len` < 1.
        DataError: a part would be shorter than `min_len`.
    """
    check_real("split_contiguous", "val_fraction", val_fraction, least=0.0, below=1.0)
    check_int("split_contiguous", "min_len", min_len, least=1)
    n = len(ids)  # type: ignore[arg-type]
    n_train = split_point(n, val_fraction)
    n_val = n - n_train
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
