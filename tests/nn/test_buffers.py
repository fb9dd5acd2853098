"""The cache of large CPU buffers (rnnkit/nn/buffers.py): a block is lent again only
when no tensor or view over it is left, within its size bounds and memory cap; the
fast loops give the same results from cached buffers, with several graphs alive."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from rnnkit.nn import LayerNormGRUCell, LayerNormLSTMCell, LSTMCell, Recurrent, buffers

F32 = torch.zeros(1)


@pytest.fixture
def cache(monkeypatch):
    """An empty cache that lends every buffer (no size floor), cleared afterwards."""
    buffers.clear()
    monkeypatch.setattr(buffers, "MIN_BYTES", 0)
    yield buffers
    buffers.clear()


def test_a_block_is_lent_again_once_its_tensors_are_gone(cache):
    a = cache.empty(F32, 1000, 300)
    address = a.data_ptr()
    assert a.shape == (1000, 300) and a.dtype == torch.float32 and a.is_contiguous()
    del a
    b = cache.empty(F32, 1000, 300)
    assert b.data_ptr() == address
    assert cache.cached_bytes() == -(-1000 * 300 * 4 // (1 << 16)) * (1 << 16)  # 64 KiB units


def test_a_live_view_keeps_its_block(cache):
    a = cache.empty(F32, 1000, 300)
    a.fill_(7.0)
    view = a[10:20].unbind(0)[3]  # a view of a view, the base dropped
    address = a.data_ptr()
    del a
    b = cache.empty(F32, 1000, 300)
    assert b.data_ptr() != address
    b.fill_(-1.0)
    assert torch.equal(view, torch.full((300,), 7.0))
    other = b.data_ptr()
    del view, b
    assert cache.empty(F32, 1000, 300).data_ptr() in {address, other}  # both free now


def test_size_bounds_and_the_smallest_fitting_block(cache):
    small, large = cache.empty(F32, 100_000), cache.empty(F32, 400_000)
    p_small, p_large = small.data_ptr(), large.data_ptr()
    del small, large
    assert cache.empty(F32, 250_000).data_ptr() == p_large  # small does not fit; large <= 2x
    tiny = cache.empty(F32, 30_000)  # 4x smaller than the free block: a new one
    assert tiny.data_ptr() not in (p_small, p_large)
    assert cache.empty(F32, 90_000).data_ptr() == p_small


def test_free_blocks_beyond_the_cap_are_let_go(cache, monkeypatch):
    blocks = [cache.empty(F32, 250_000) for _ in range(4)]  # 1 MB each, lent
    one = cache.cached_bytes() // 4
    monkeypatch.setattr(cache, "KEEP_BYTES", one)
    del blocks
    kept = cache.empty(F32, 250_000)  # takes one free block, keeps one of the other three
    assert cache.cached_bytes() == 2 * one
    monkeypatch.setattr(cache, "KEEP_BYTES", 0)
    cache.clear()
    assert cache.cached_bytes() == one  # the lent one stays
    del kept


def test_other_devices_and_small_buffers_bypass_the_cache():
    buffers.clear()
    assert buffers.empty(torch.zeros(1, device="meta"), 4000, 4000).device.type == "meta"
    small = buffers.empty(F32, 10)
    assert small.shape == (10,) and buffers.cached_bytes() == 0
    big = buffers.empty(torch.zeros(1, dtype=torch.float64), 1 << 18)  # 2 MB
    assert big.dtype == torch.float64 and buffers.cached_bytes() >= 2 << 20
    del big
    buffers.clear()
    assert buffers.cached_bytes() == 0


@pytest.mark.parametrize("cell", [LSTMCell, LayerNormLSTMCell, LayerNormGRUCell])
def test_fast_loop_on_cached_buffers_with_two_graphs_alive(cell, cache, monkeypatch):
    """Two forwards before their backwards (gradient accumulation over one graph each),
    every buffer from the cache: each graph keeps its own buffers, and the gradients
    equal those of the same computation on torch's allocator (to float rounding: a
    matrix product's rounding may depend on its operands' alignment); then a second
    step reuses the first one's blocks."""
    torch.manual_seed(0)
    layer = Recurrent(cell, 6, 24, 2, batch_first=True, zoneout=0.1, recurrent_dropout=0.2)
    xs = [torch.randn(5, 13, 6) for _ in range(2)]

    def grads() -> list[torch.Tensor]:
        torch.manual_seed(1)
        losses = [layer(x)[0].square().mean() for x in xs]  # both graphs alive
        return list(torch.autograd.grad(sum(losses), list(layer.parameters())))

    cached = grads()
    assert cache.cached_bytes() > 0
    size = cache.cached_bytes()
    again = grads()
    assert cache.cached_bytes() == size  # the second step lent the same blocks
    monkeypatch.setattr(cache, "MIN_BYTES", 1 << 62)
    plain = grads()
    for a, b, c in zip(cached, again, plain, strict=True):
        torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(b, c, rtol=1e-5, atol=1e-7)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_process_writes_its_own_copy(cache):
    """A data loader's worker is a fork: its writes to a block it takes from the cache
    it inherited must not reach the parent's block (private, copy-on-write pages)."""
    a = cache.empty(F32, 300_000)
    a.fill_(1.0)
    address = a.data_ptr()
    del a  # free in the parent (and so in the child)
    pid = os.fork()
    if pid == 0:  # the child: no torch ops after a fork (OpenMP), only the raw block
        block = cache._take(1_200_000)
        memoryview(block)[:4096] = b"\x05" * 4096
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    b = cache.empty(F32, 300_000)
    assert b.data_ptr() == address
    assert torch.equal(b, torch.ones(300_000))


def test_the_environment_can_turn_the_cache_off():
    code = (
        "import torch; from rnnkit.nn import buffers; "
        "t = buffers.empty(torch.zeros(1), 1 << 22); print(buffers.cached_bytes())"
    )
    for value, cached in (("0", "0"), ("1", str(1 << 24))):
        env = {**os.environ, "RNNKIT_BUFFER_CACHE": value, "OMP_NUM_THREADS": "1"}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == [cached]
