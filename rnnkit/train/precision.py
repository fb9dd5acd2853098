"""Mixed precision for training steps: bfloat16 autocast over fp32 weights.

Under `precision="bf16"` the forward pass of each training step runs inside
`torch.autocast(device, torch.bfloat16)`: matrix products (including the fused
recurrent kernels) read and write bfloat16, while the weights, their gradients and
the optimizer state stay float32. bfloat16 keeps float32's exponent range, so unlike
float16 it needs no loss scaling. Evaluation and generation always run in float32,
so a reported validation loss is the loss of the saved weights, whatever precision
trained them.

Whether bf16 is faster depends on the hardware: CPUs with AVX512-BF16 or AMX run
bf16 matrix products natively (on the 2-core EPYC of the benchmarks a 2x512 GRU
language model trains 2.7x faster at batch 64); CPUs without them emulate bf16 and
may be slower than fp32. `auto_precision` picks bf16 only where it is native.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager

import torch

from rnnkit import validate

# The autocast dtype of each reduced precision; TrainConfig checks the name.
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16}


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 matrix products in hardware."""
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False
        try:
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # torch < 2.5 has no including_emulation
            return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)
    return False


def auto_precision(device: str | torch.device) -> str:
    """ "bf16" where `device` runs it natively, else "fp32"."""
    return "bf16" if native_bf16(torch.device(device)) else "fp32"


def autocast_for(
    precision: str, device: torch.device
) -> Callable[[], AbstractContextManager[None]]:
    """A factory of the context that training forward passes run in.

    `precision` is a validated `TrainConfig.precision` (its name is checked there, once);
    here only whether `device` can run it: ConfigError with field "precision" if not.
    """
    if precision == "fp32":
        return contextlib.nullcontext
    dtype = _AUTOCAST_DTYPES[precision]
    if device.type not in ("cpu", "cuda"):
        raise validate.fail(
            "TrainConfig",
            "precision",
            f"is {precision!r}, which runs on cpu and cuda devices, not {device.type!r}; use fp32",
        )
    return lambda: torch.autocast(device.type, dtype=dtype)
