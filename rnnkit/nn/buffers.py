"""A cache of the fast loops' large CPU buffers, so that a training step reuses the
memory of the step before instead of asking the kernel for fresh pages.

Why: glibc gives an allocation over its mmap threshold (32 MB at most) fresh pages
from the kernel, and takes them back when it is freed. The fast loop's buffers over a
long sequence are that size (T=1000, B=64, 4H=512: 131 MB each), so every step pays a
page fault per 4 KB and the kernel's zeroing of each page: profiled, about a fifth of a
LayerNorm-LSTM training step at T=1000 on the 2-core development VM went to
``clear_page`` and the fault handler. (Transparent huge pages cut the faults but not
the zeroing, which then ran on one thread while the other waited: slower.)

How: a buffer of ``MIN_BYTES`` or more is a tensor over an anonymous ``mmap`` block
(``torch.frombuffer``); the tensor's storage holds a reference to the block, so when
the last tensor or view over it is gone, only this cache refers to it and it is free
to lend again. A request takes the smallest free block that fits and is at most twice
its size, else maps a new one. Free blocks beyond ``KEEP_BYTES`` in all (an eighth of
the RAM, at most 4 GiB; set it to 0 to keep none) are let go, least recently lent
first; the environment variable ``RNNKIT_BUFFER_CACHE=0`` turns the cache off.
Contents are not cleared (as ``torch.empty``), and such a tensor cannot be resized in
place (``resize_``; its storage is the block's). What the cache keeps is memory a step
held at its peak anyway; it stays with the process between steps, as torch's CUDA
caching allocator keeps GPU memory.
"""

from __future__ import annotations

import math
import mmap
import os
import sys
import threading

import torch
from torch import Tensor

# smaller buffers come from torch's allocator; RNNKIT_BUFFER_CACHE=0 sends them all there
MIN_BYTES = 1 << 62 if os.environ.get("RNNKIT_BUFFER_CACHE", "1") == "0" else 1 << 20


def _ram_bytes() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


# free blocks kept for reuse, at most, in bytes (0: none kept): an eighth of the RAM, at
# most 4 GiB
KEEP_BYTES = min(4 << 30, _ram_bytes() // 8)
_ROUND = 1 << 16  # block sizes are multiples of this

# private: a forked process (a data loader's worker) gets copies, not the same pages
_PRIVATE = {"flags": mmap.MAP_PRIVATE} if hasattr(mmap, "MAP_PRIVATE") else {}
_blocks: list[mmap.mmap] = []  # every block lent or free, least recently lent first
_lock = threading.Lock()


def _counts(blocks: list[mmap.mmap]) -> list[int]:
    return [sys.getrefcount(b) for b in blocks]


_IDLE = _counts([mmap.mmap(-1, _ROUND, **_PRIVATE)])[0]  # the count of a block only a list holds


def _free_blocks() -> list[mmap.mmap]:
    """The blocks nothing but this cache refers to, least recently lent first."""
    return [b for b, n in zip(_blocks, _counts(_blocks), strict=True) if n <= _IDLE]


def _take(nbytes: int) -> mmap.mmap:
    """A free block of at least ``nbytes`` (at most twice that, or one rounding unit),
    or a new one."""
    size = -(-nbytes // _ROUND) * _ROUND
    with _lock:
        free = _free_blocks()
        fits = [b for b in free if nbytes <= len(b) <= max(2 * nbytes, size)]
        if fits:
            block = min(fits, key=len)
            _blocks.remove(block)
            free.remove(block)
        else:
            block = mmap.mmap(-1, size, **_PRIVATE)
        _blocks.append(block)  # the most recently lent last
        kept = sum(len(b) for b in free)
        for b in free:  # oldest first
            if kept <= KEEP_BYTES:
                break
            _blocks.remove(b)
            kept -= len(b)
        return block


def empty(like: Tensor, *shape: int) -> Tensor:
    """An uninitialised contiguous tensor of ``shape`` with ``like``'s dtype and device,
    as ``like.new_empty(shape)``; on CPU, from this cache when it is ``MIN_BYTES`` or
    more."""
    nbytes = math.prod(shape) * like.element_size()
    if like.device.type != "cpu" or nbytes < MIN_BYTES:
        return like.new_empty(shape)
    block = _take(nbytes)
    return torch.frombuffer(block, dtype=like.dtype, count=math.prod(shape)).view(shape)


def cached_bytes() -> int:
    """Bytes this cache holds, lent or free (for tests and diagnostics)."""
    with _lock:
        return sum(len(b) for b in _blocks)


def clear() -> None:
    """Let go of every free block (lent ones stay with their tensors)."""
    with _lock:
        free = _free_blocks()
        _blocks[:] = [b for b in _blocks if all(b is not f for f in free)]
