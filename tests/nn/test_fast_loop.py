"""rnnkit's fast loop (hand-written backward) equals the reference step loop."""

from __future__ import annotations

import pytest
import torch
from nn_helpers import LOOP_CELLS, LOOP_NOISE

from rnnkit.nn import (
    GRUCell,
    LayerNormGRUCell,
    LayerNormLSTMCell,
    LSTMCell,
    LSTMState,
    Recurrent,
    fast_loop,
)
from rnnkit.nn.lengths import step_mask
from rnnkit.nn.noise import CellNoise

CELLS, NOISE = LOOP_CELLS, LOOP_NOISE


def randomise(module, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.4 + (1.0 if p.dim() == 1 else 0.0) * 0.2)


def forward_backward(layer, x, h0, lengths, seed):
    """Outputs and the gradients of inputs, initial state and every parameter."""
    torch.manual_seed(seed)  # the same masks on both paths
    out, final = layer(x, h0, lengths=lengths)
    loss = (out * torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)).pow(2).sum()
    loss = loss + sum((t * t).sum() * 0.3 + t.sum() for s in final for t in s)
    inputs = [x, *[t for s in h0 for t in s], *layer.parameters()]
    return [out, *[t for s in final for t in s], *torch.autograd.grad(loss, inputs)]


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("noise", NOISE, ids=str)
@pytest.mark.parametrize("lengths", [None, [7, 4, 1]], ids=["full", "padded"])
def test_fast_loop_equals_reference(cell, noise, lengths):
    recurrent_dropout, zoneout, training = noise
    kw = dict(recurrent_dropout=recurrent_dropout, zoneout=zoneout, dtype=torch.float64)
    fast = Recurrent(cell, 3, 4, 2, batch_first=True, bidirectional=True, **kw)
    ref = Recurrent(cell, 3, 4, 2, batch_first=True, bidirectional=True, impl="reference", **kw)
    randomise(fast, seed=1)
    ref.load_state_dict(fast.state_dict())
    fast.train(training), ref.train(training)
    torch.manual_seed(2)
    x = torch.randn(3, 7, 3, dtype=torch.float64, requires_grad=True)
    h0 = tuple(
        type(s)(*(torch.randn_like(t).requires_grad_() for t in s))
        for s in ref.init_state(3, dtype=torch.float64)
    )
    got = forward_backward(fast, x, h0, lengths, seed=3)
    expected = forward_backward(ref, x, h0, lengths, seed=3)
    plain = cell in (LSTMCell, GRUCell) and not zoneout and not (recurrent_dropout and training)
    assert fast.last_path.name == ("fused" if plain else "loop")
    assert ref.last_path.name == "reference"
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def test_float32_agrees_and_one_step_takes_the_cell_step():
    layer = Recurrent(LayerNormLSTMCell, 6, 8, 2, zoneout=0.2, recurrent_dropout=0.2)
    ref = Recurrent(
        LayerNormLSTMCell, 6, 8, 2, zoneout=0.2, recurrent_dropout=0.2, impl="reference"
    )
    ref.load_state_dict(layer.state_dict())
    x = torch.randn(20, 5, 6)
    torch.manual_seed(0)
    out, _ = layer(x)
    torch.manual_seed(0)
    out_ref, _ = ref(x)
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)
    layer(x[:1])
    assert layer.last_path.name == "reference"  # T = 1: nothing to gain from the loop


def _fast_inputs(cell, T, B, seed):
    """Random float64 inputs of fast_loop.run, with every kind of noise and padding."""
    torch.manual_seed(seed)
    c = cell(3, 4, dtype=torch.float64)
    randomise(c, seed)
    x = torch.randn(T, B, 3, dtype=torch.float64, requires_grad=True)
    fields = 2 if c.state_type is LSTMState else 1
    state = [torch.randn(B, 4, dtype=torch.float64, requires_grad=True) for _ in range(fields)]
    keep = torch.bernoulli(torch.full((B, 4), 0.7, dtype=torch.float64)) / 0.7
    zone = tuple(torch.rand(T, B, 4) < 0.3 for _ in range(fields))
    mask = step_mask(torch.tensor([T, 2, 1][:B]), T, "cpu")
    return c, x, state, keep, zone, mask


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_gradcheck_custom_backward(cell, mode):
    c, x, state, keep, zone, mask = _fast_inputs(cell, T=4, B=3, seed=5)
    noise = CellNoise(keep, zone, 0.0) if mode == "train" else CellNoise(None, None, 0.25)
    weights = dict(c.weights())
    names = sorted(weights)
    kind = c.state_type

    def fn(x, *tensors):
        s = kind(*tensors[: len(state)])
        w = weights | dict(zip(names, tensors[len(state) :], strict=True))
        out, final = fast_loop.run(c, x, s, w, mask, noise)
        return out, *final

    tensors = [*state, *(weights[n] for n in names)]
    assert torch.autograd.gradcheck(fn, (x, *tensors))


def test_supports_only_what_it_implements():
    x = torch.zeros(2, 2, 3)
    lstm = Recurrent(LSTMCell, 3, 4, cell_kwargs={"proj_size": 2})
    assert fast_loop.supports(lstm.cells, x) is None  # a projected LSTM stays on the reference
    assert fast_loop.supports(Recurrent(GRUCell, 3, 4).cells, x)
    layer = Recurrent(LSTMCell, 3, 4, cell_kwargs={"proj_size": 2}, zoneout=0.1)
    layer(x)
    assert layer.last_path.name == "reference"
    assert "zoneout=0.1" in layer.last_path.reason


def test_with_weight_dropout_both_paths_drop_the_same_weights():
    kw = dict(recurrent_dropout=0.2, weight_dropout=0.3, dtype=torch.float64)
    fast = Recurrent(LayerNormGRUCell, 3, 4, 2, **kw)
    ref = Recurrent(LayerNormGRUCell, 3, 4, 2, impl="reference", **kw)
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = tuple(
        type(s)(*(t.requires_grad_() for t in s)) for s in ref.init_state(2, dtype=torch.float64)
    )
    got = forward_backward(fast, x, h0, None, seed=4)
    expected = forward_backward(ref, x, h0, None, seed=4)
    assert fast.last_path.name == "loop"
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.__name__)
def test_float32_wide_layers_use_the_packed_product_and_agree(cell):
    """At H >= 256 in float32 on CPU the per-step products may run on oneDNN's packed
    weights: the same function up to float32 rounding, relative to each tensor's scale
    (the layer norms' gradients reach 1e3 here; float32 paths differ by ~1e-6 of it)."""
    torch.manual_seed(0)
    kw = dict(recurrent_dropout=0.1, zoneout=0.1)
    fast = Recurrent(cell, 8, 256, 2, batch_first=True, **kw)
    ref = Recurrent(cell, 8, 256, 2, batch_first=True, impl="reference", **kw)
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(4, 12, 8, requires_grad=True)
    h0 = tuple(type(s)(*(t.requires_grad_() for t in s)) for s in ref.init_state(4))
    got = forward_backward(fast, x, h0, [12, 7, 3, 1], seed=6)
    expected = forward_backward(ref, x, h0, [12, 7, 3, 1], seed=6)
    assert fast.last_path.name == "loop"
    for a, b in zip(got, expected, strict=True):
        assert (a - b).abs().max() <= 2e-5 * b.abs().max() + 1e-6
