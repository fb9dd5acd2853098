"""The fast loop's native kernels (rnnkit/nn/kernels.c) against the reference step loop
and the torch-op fast loop, in float32 on CPU; the fallback without them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from nn_helpers import LOOP_CELLS, LOOP_NOISE

from rnnkit.nn import (
    GRUCell,
    LayerNormGRUCell,
    LayerNormLSTMCell,
    LSTMCell,
    MinGRUCell,
    MinLSTMCell,
    Recurrent,
    native,
)

CELLS, NOISE = LOOP_CELLS, LOOP_NOISE

needs_kernels = pytest.mark.skipif(
    native.kernels() is None, reason=f"native kernels unavailable: {native.status()}"
)


def _layers(cell, noise, H=16, bias=True, num_layers=2):
    recurrent_dropout, zoneout, training = noise
    kw = dict(recurrent_dropout=recurrent_dropout, zoneout=zoneout, bias=bias)
    torch.manual_seed(0)  # the same weights whatever ran before
    layers = {
        impl: Recurrent(
            cell, 5, H, num_layers, batch_first=True, bidirectional=True, impl=impl, **kw
        )
        for impl in ("auto", "reference")
    }
    torch.manual_seed(1)
    with torch.no_grad():
        for p in layers["auto"].parameters():  # non-trivial LN gains and biases
            p.add_(torch.randn_like(p) * 0.3)
    layers["reference"].load_state_dict(layers["auto"].state_dict())
    for layer in layers.values():
        layer.train(training)
    return layers


def _forward_backward(layer, x, h0, lengths):
    torch.manual_seed(3)  # the same masks on every path
    out, final = layer(x, h0, lengths=lengths)
    loss = (out * torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)).pow(2).sum()
    loss = loss + sum((t * t).sum() * 0.3 + t.sum() for s in final for t in s)
    inputs = [x, *[t for s in h0 for t in s], *layer.parameters()]
    return [out, *[t for s in final for t in s], *torch.autograd.grad(loss, inputs)]


def _inputs(layer, B=4, T=9):
    torch.manual_seed(2)
    x = torch.randn(B, T, 5, requires_grad=True)
    h0 = tuple(
        type(s)(*(torch.randn_like(t).requires_grad_() for t in s)) for s in layer.init_state(B)
    )
    return x, h0


def _assert_close(got, expected):
    """float32 paths agree to rounding, relative to each tensor's scale."""
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert a.shape == b.shape
        assert (a - b).abs().max() <= 1e-5 * b.abs().max() + 1e-6


@needs_kernels
@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("noise", NOISE, ids=str)
@pytest.mark.parametrize("lengths", [None, [9, 5, 1, 3]], ids=["full", "padded"])
def test_native_loop_equals_reference(cell, noise, lengths, monkeypatch):
    layers = _layers(cell, noise)
    x, h0 = _inputs(layers["reference"])
    calls = []
    real = native.kernels
    monkeypatch.setattr(native, "kernels", lambda: calls.append(1) or real())
    got = _forward_backward(layers["auto"], x, h0, lengths)
    plain = cell in (LSTMCell, GRUCell) and not noise[1] and not (noise[0] and noise[2])
    assert layers["auto"].last_path.name == ("fused" if plain else "loop")
    assert plain or calls, "the native kernels did not run"
    monkeypatch.setattr(native, "kernels", real)
    _assert_close(got, _forward_backward(layers["reference"], x, h0, lengths))


@needs_kernels
@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_native_loop_is_as_exact_as_the_torch_op_loop(cell, bias, monkeypatch):
    """Both float32 fast loops against the float64 reference (the torch-op loop is
    itself gradchecked in float64): every output and gradient of each within 1e-4 (native)
    and 2e-4 (torch ops) of the tensor's scale (measured: up to 4.5e-5 native, 1.2e-4
    torch ops, both on the input's gradient through two bidirectional LayerNorm-LSTM
    layers; the native path usually the closer)."""
    layers = _layers(cell, (0.2, 0.2, True), H=24, bias=bias)
    x, h0 = _inputs(layers["auto"], B=6, T=12)
    lengths = [12, 12, 7, 3, 1, 12]
    got = _forward_backward(layers["auto"], x, h0, lengths)
    monkeypatch.setattr(native, "usable", lambda x: False)
    torch_ops = _forward_backward(layers["auto"], x, h0, lengths)
    assert layers["auto"].last_path.name == "loop"
    exact = layers["reference"].double()
    x64 = x.detach().double().requires_grad_()
    h64 = tuple(type(s)(*(t.detach().double().requires_grad_() for t in s)) for s in h0)
    truth = _forward_backward(exact, x64, h64, lengths)
    for a, b, c in zip(got, torch_ops, truth, strict=True):
        scale = c.abs().max().item()
        err_native = (a.double() - c).abs().max().item() / scale
        err_torch = (b.double() - c).abs().max().item() / scale
        assert err_native <= 1e-4
        assert err_torch <= 2e-4  # the bound float32 rounding meets on the torch-op path


def _on_one_thread_and_two(run):
    """``run()`` with torch (and so the kernels) on one thread, then on two."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = run()
        torch.set_num_threads(2)
        return one, run()
    finally:
        torch.set_num_threads(threads)


@needs_kernels
@pytest.mark.parametrize("cell", [LayerNormLSTMCell, LayerNormGRUCell], ids=lambda c: c.__name__)
def test_native_loop_is_the_same_on_one_thread_and_two(cell):
    """Rows are split over threads and shared gradients summed by columns in a fixed
    order: the result is bitwise the same whatever the thread count (B x H >= 4096
    here, so two threads do split the rows). Compared: what the loop computes, the
    input projection's layer norm and bias included; the gradients of ``weight_ih`` and
    of the input are torch's own matmuls, which do depend on the threads. One layer: a
    second one's input comes from the first."""
    layers = _layers(cell, (0.1, 0.1, True), H=128, num_layers=1)
    layer = layers["auto"]
    x, h0 = _inputs(layer, B=40, T=11)
    one, two = _on_one_thread_and_two(lambda: _forward_backward(layer, x, h0, None))
    states = sum(len(s) for s in h0)
    names = ["out", *["final"] * states, "x", *["h0"] * states]
    names += [name for name, _ in layer.named_parameters()]
    assert len(names) == len(one)
    for name, a, b in zip(names, one, two, strict=True):
        if name.startswith(OWN):
            assert torch.equal(a, b), name


OWN = ("out", "final", "h0", "weight_hh", "bias_hh", "bias_ih", "ln_hh", "ln_ih", "ln_cell")


def _min_layers(cell, H=70):
    """minGRU/minLSTM with scan "auto" (native in float32 on CPU) and "loop" (torch ops),
    the same weights, scaled up so that gates saturate and g's two branches both run."""
    torch.manual_seed(0)
    layers = {
        scan: Recurrent(
            cell, 5, H, 2, batch_first=True, bidirectional=True, cell_kwargs={"scan": scan}
        )
        for scan in ("auto", "loop")
    }
    with torch.no_grad():
        for p in layers["auto"].parameters():
            p.mul_(3.0)
    layers["loop"].load_state_dict(layers["auto"].state_dict())
    return layers


@needs_kernels
@pytest.mark.parametrize("cell", [MinGRUCell, MinLSTMCell], ids=lambda c: c.__name__)
@pytest.mark.parametrize("lengths", [None, [40, 23, 1, 39]], ids=["full", "padded"])
def test_native_min_cells_equal_their_loop_and_float64(cell, lengths, monkeypatch):
    """The native pass (gates, recurrence, backward recurrence in C) against the torch-op
    multiply-add loop in float32 (within 1e-6 of each tensor's scale; measured ~3e-7)
    and both against the float64 loop (within 1e-5; the loop is itself checked against
    the step-by-step reference in tests/nn/test_min_cells.py)."""
    layers = _min_layers(cell)
    x, h0 = _inputs(layers["auto"], B=4, T=40)
    calls = []
    real = native.kernels
    monkeypatch.setattr(native, "kernels", lambda: calls.append(1) or real())
    got = _forward_backward(layers["auto"], x, h0, lengths)
    assert calls, "the native kernels did not run"
    monkeypatch.setattr(native, "kernels", real)
    loop = _forward_backward(layers["loop"], x, h0, lengths)
    exact = layers["loop"].double()
    x64 = x.detach().double().requires_grad_()
    h64 = tuple(type(s)(*(t.detach().double().requires_grad_() for t in s)) for s in h0)
    truth = _forward_backward(exact, x64, h64, lengths)
    for a, b, c in zip(got, loop, truth, strict=True):
        scale = c.abs().max().item()
        assert (a - b).abs().max().item() <= 1e-6 * scale
        assert (a.double() - c).abs().max().item() <= 1e-5 * scale


@needs_kernels
def test_native_min_cells_are_the_same_on_one_thread_and_two():
    """Each unit is its own recurrence, run by one thread: no sum depends on the split."""
    layer = _min_layers(MinLSTMCell, H=256)["auto"]
    x, h0 = _inputs(layer, B=8, T=30)
    one, two = _on_one_thread_and_two(lambda: _forward_backward(layer, x, h0, None))
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])  # out, final h


@needs_kernels
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 1.0])
def test_zoneout_masks_drawn_by_the_kernels(p):
    """Each element True with probability p (within 5 standard errors over 2^20 draws,
    next to torch.rand's masks), neighbours uncorrelated, repeated by torch.manual_seed,
    fresh on each call, and the same on one thread and two."""
    n = 1 << 20

    def draw():
        torch.manual_seed(7)
        return native.bernoulli((n,), p)

    one, two = _on_one_thread_and_two(draw)
    assert one.dtype == torch.bool and torch.equal(one, two)
    rate = one.double().mean().item()
    assert abs(rate - p) <= 5 * (p * (1 - p) / n) ** 0.5
    assert abs((torch.rand(n) < p).double().mean().item() - rate) <= 10 * (p * (1 - p) / n) ** 0.5
    if 0 < p < 1:
        m = one.double()
        assert abs(torch.corrcoef(torch.stack([m[:-1], m[1:]]))[0, 1].item()) < 0.01
        assert not torch.equal(one, native.bernoulli((n,), p))


def _probe(env: dict[str, str]) -> str:
    code = (
        "import torch; from rnnkit.nn import native, LayerNormLSTMCell, Recurrent;"
        "layer = Recurrent(LayerNormLSTMCell, 3, 4);"
        "out, _ = layer(torch.randn(5, 2, 3));"
        "print(native.kernels() is not None, layer.last_path.name, native.status(), sep='|')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_without_kernels_the_fast_loop_keeps_its_torch_ops(tmp_path):
    off = _probe({"RNNKIT_NATIVE": "0", "RNNKIT_CACHE": str(tmp_path)})
    assert off == "False|loop|off (RNNKIT_NATIVE=0)"
    missing = _probe({"CC": str(tmp_path / "no-such-compiler"), "RNNKIT_CACHE": str(tmp_path)})
    assert missing == "False|loop|no C compiler found (set CC)"
    assert list(tmp_path.iterdir()) == []  # nothing written


@needs_kernels
def test_kernels_are_compiled_once_into_the_cache(tmp_path):
    first = _probe({"RNNKIT_CACHE": str(tmp_path)})
    built = sorted(p.name for p in tmp_path.iterdir())
    assert first.startswith("True|loop|loaded from")
    assert len(built) == 1 and built[0].startswith("kernels-") and built[0].endswith(".so")
    stamp = (tmp_path / built[0]).stat().st_mtime_ns
    assert _probe({"RNNKIT_CACHE": str(tmp_path)}) == first
    assert (tmp_path / built[0]).stat().st_mtime_ns == stamp  # loaded, not rebuilt


@needs_kernels
def test_a_damaged_cached_library_is_built_again(tmp_path):
    first = _probe({"RNNKIT_CACHE": str(tmp_path)})
    (built,) = tmp_path.iterdir()
    built.write_bytes(b"not a library")
    assert _probe({"RNNKIT_CACHE": str(tmp_path)}) == first
    assert built.stat().st_size > 1000
