"""`deterministic`: the switches that make a training run repeatable bit for bit.

PyTorch's CPU kernels give the same bits for the same inputs on the same machine,
torch version and thread count; what varies between runs is chosen by the user (a
time budget follows the clock) or by the library (an algorithm torch may pick
nondeterministically, notably on GPUs). With ``TrainConfig.deterministic`` the trainer
runs under `deterministic_algorithms`, which asks torch for deterministic kernels
(raising on an operation that has none, rather than silently varying), turns off
cuDNN's benchmark-chosen algorithms, and sets the cuBLAS workspace that deterministic
GPU matrix products need; the config refuses a time budget. GPU runs are then
repeatable as far as torch's deterministic mode makes them; CPU runs are, bit for bit
(tests/train/test_distributed.py checks it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

#: The cuBLAS setting torch's deterministic mode asks for on CUDA >= 10.2.
CUBLAS_WORKSPACE = ":4096:8"


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool) -> Iterator[None]:
    """Within the block, torch uses deterministic algorithms only (if ``enabled``);
    the previous settings come back afterwards."""
    if not enabled:
        yield
        return
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before[2:]
