"""Token-id sequences as the one tensor type the data pipeline passes around."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from rnnkit.errors import DataError

__all__ = ["as_token_ids"]


def as_token_ids(ids: Tensor | Sequence[int]) -> Tensor:
    """`ids` as a 1-D int64 tensor (N,); no copy if it already is one.

    Raises:
        DataError: `ids` is not 1-D, or not integers.
    """
    if not isinstance(ids, Tensor):
        try:
            ids = torch.as_tensor(ids, dtype=torch.long)
        except (TypeError, ValueError, RuntimeError) as err:
            raise DataError(f"token ids must be a sequence of integers ({err})") from None
    if ids.dim() != 1:
        raise DataError(f"token ids must be 1-D (N,), got shape {tuple(ids.shape)}")
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise DataError(f"token ids must be integers, got dtype {ids.dtype}")
    return ids.long()
