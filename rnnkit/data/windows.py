"""Fixed-length next-token windows: n ids in, the following id out.

The layout of the classic next-word tutorials (e.g. three words of Aesop's fable predict
the fourth): every position of the text gives one independent example, unlike the
streaming layout of `batching.py` where the state is carried across windows.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from rnnkit.data.ids import as_token_ids
from rnnkit.errors import DataError
from rnnkit.validate import check_int

__all__ = ["NgramWindows"]


class NgramWindows:
    """All (n ids, next id) pairs of a token sequence, as two tensors.

    For ids t_0 .. t_{N-1}: X[j] = t_j .. t_{j+n-1} and Y[j] = t_{j+n}, j = 0 .. N-n-1.
    Indexing gives one pair, so the object works as a map-style `torch.utils.data.Dataset`.

    Args:
        ids: the encoded text, 1-D integer tensor (N,) or a sequence of ints.
        n: the context length.

    Attributes:
        x: (M, n) int64 contexts, M = N - n.
        y: (M,) int64 next ids.

    Raises:
        ConfigError: `n` is not a positive integer.
        DataError: the text has N <= n tokens, so not a single pair.
    """

    def __init__(self, ids: Tensor | Sequence[int], n: int) -> None:
        check_int("NgramWindows", "n", n, least=1)
        ids = as_token_ids(ids)
        if ids.numel() <= n:
            raise DataError(
                f"the text is {ids.numel()} tokens long; {n}-token windows need at least "
                f"{n + 1} tokens (a window plus the token after it); use a longer text or "
                "a smaller window"
            )
        self.n = n
        m = ids.numel() - n
        # unfold gives every length-n slice as a view; clone so X owns compact memory.
        self.x = ids.unfold(0, n, 1)[:m].clone()  # (M, n)
        self.y = ids[n:].clone()  # (M,)

    def __len__(self) -> int:
        return self.y.shape[0]

    def __getitem__(self, j: int) -> tuple[Tensor, Tensor]:
        return self.x[j], self.y[j]

    def tensors(self) -> tuple[Tensor, Tensor]:
        """(X, Y) for `torch.utils.data.TensorDataset` or full-batch training."""
        return self.x, self.y
