"""torch.autograd.gradcheck in float64 on every cell and on a deep bidirectional layer."""

from __future__ import annotations

import pytest
import torch

from rnnkit.nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell


@pytest.mark.parametrize(
    "make",
    [
        lambda: RNNCell(3, 4, dtype=torch.float64),
        lambda: RNNCell(3, 4, nonlinearity="relu", dtype=torch.float64),
        lambda: LSTMCell(3, 4, dtype=torch.float64),
        lambda: LSTMCell(3, 4, proj_size=2, dtype=torch.float64),
        lambda: GRUCell(3, 4, dtype=torch.float64),
    ],
)
def test_cell_gradcheck(make):
    torch.manual_seed(0)
    cell = make()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    state = tuple(
        torch.randn(s, dtype=torch.float64, requires_grad=True) for s in cell.state_shapes(2)
    )
    params = tuple(cell.parameters())

    def f(x, *rest):
        h, new_state = cell(x, cell.state_type(*rest))
        return h, *new_state

    assert torch.autograd.gradcheck(f, (x, *state))
    # Parameters too: gradcheck differentiates with respect to its inputs only,
    # so pass the weights in through functional_call.
    names = [n for n, _ in cell.named_parameters()]

    def g(*ws):
        h, new_state = torch.func.functional_call(
            cell, dict(zip(names, ws, strict=True)), (x.detach(),)
        )
        return h, *new_state

    assert torch.autograd.gradcheck(g, tuple(p.detach().requires_grad_(True) for p in params))


@pytest.mark.parametrize("layer_cls", [RNN, LSTM, GRU])
@pytest.mark.parametrize("impl", ["reference", "fused"])
def test_two_layer_bidirectional_with_lengths_gradcheck(layer_cls, impl):
    torch.manual_seed(0)
    layer = layer_cls(
        3, 4, num_layers=2, bidirectional=True, batch_first=True, impl=impl, dtype=torch.float64
    )
    lengths = torch.tensor([4, 2, 3])
    x = torch.randn(3, 4, 3, dtype=torch.float64, requires_grad=True)
    names = [n for n, _ in layer.named_parameters()]

    def f(x, *ws):
        out, state = torch.func.functional_call(
            layer, dict(zip(names, ws, strict=True)), (x,), {"lengths": lengths}
        )
        return out, *[t for s in state for t in s]

    weights = tuple(p.detach().clone().requires_grad_(True) for p in layer.parameters())
    assert torch.autograd.gradcheck(f, (x, *weights))
