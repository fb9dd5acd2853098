"""Cells against torch.nn's cells, the layer against a plain loop, init and state helpers."""

from __future__ import annotations

import pytest
import torch

from rnnkit.nn import (
    GRU,
    LSTM,
    GRUCell,
    LSTMCell,
    LSTMState,
    Recurrent,
    RNNCell,
    stack_states,
    unstack_states,
)

F64 = dict(atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize(
    "ours_cls, ref_cls, kwargs",
    [
        (RNNCell, torch.nn.RNNCell, {}),
        (RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
        (LSTMCell, torch.nn.LSTMCell, {}),
        (GRUCell, torch.nn.GRUCell, {}),
    ],
)
def test_cell_matches_torch_cell(ours_cls, ref_cls, kwargs):
    torch.manual_seed(0)
    ours = ours_cls(3, 5, dtype=torch.float64, **kwargs)
    ref = ref_cls(3, 5, dtype=torch.float64, **kwargs)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(4, 3, dtype=torch.float64)
    state = ours.init_state(4, dtype=torch.float64)
    state = type(state)(*(torch.randn_like(t) for t in state))
    h, new_state = ours(x, state)
    expected = ref(x, tuple(state) if len(state) > 1 else state[0])
    expected = expected if isinstance(expected, tuple) else (expected,)
    torch.testing.assert_close(h, expected[0], **F64)
    for got, want in zip(new_state, expected, strict=True):
        torch.testing.assert_close(got, want, **F64)


def test_gru_cell_follows_its_documented_equations():
    torch.manual_seed(1)
    cell = GRUCell(2, 3, dtype=torch.float64)
    x, h = torch.randn(1, 2, dtype=torch.float64), torch.randn(1, 3, dtype=torch.float64)
    Wi, Wh = cell.weight_ih.split(3), cell.weight_hh.split(3)
    bi, bh = cell.bias_ih.split(3), cell.bias_hh.split(3)
    r = torch.sigmoid(x @ Wi[0].T + bi[0] + h @ Wh[0].T + bh[0])
    z = torch.sigmoid(x @ Wi[1].T + bi[1] + h @ Wh[1].T + bh[1])
    n = torch.tanh(x @ Wi[2].T + bi[2] + r * (h @ Wh[2].T + bh[2]))
    torch.testing.assert_close(cell(x, (h,))[0], (1 - z) * n + z * h, **F64)


@pytest.mark.parametrize("cell_cls", [RNNCell, LSTMCell, GRUCell])
def test_layer_equals_a_plain_loop_over_its_cell(cell_cls):
    """The Recurrent layer is exactly `for t: h, s = cell(x_t, s)`."""
    torch.manual_seed(2)
    layer = Recurrent(cell_cls, 3, 4, impl="reference", dtype=torch.float64)
    cell = cell_cls(3, 4, dtype=torch.float64)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in layer.state_dict().items()})
    x = torch.randn(9, 2, 3, dtype=torch.float64)
    state, outs = None, []
    for t in range(9):
        h, state = cell(x[t], state)
        outs.append(h)
    out, final = layer(x)
    torch.testing.assert_close(out, torch.stack(outs), **F64)
    for a, b in zip(final[0], state, strict=True):
        torch.testing.assert_close(a, b, **F64)


def test_lstm_cell_forget_bias_init():
    cell = LSTMCell(3, 4)
    assert torch.all(cell.bias_ih[4:8] == 1.0) and torch.all(cell.bias_hh[4:8] == 0.0)
    custom = LSTMCell(3, 4, forget_bias=2.5)
    assert torch.all(custom.bias_ih[4:8] == 2.5)
    bound = 1 / 4**0.5
    assert cell.weight_hh.abs().max() <= bound and cell.bias_ih[:4].abs().max() <= bound


def test_stack_and_unstack_states_round_trip():
    layer = LSTM(3, 4, num_layers=3, bidirectional=True)
    _, state = layer(torch.randn(5, 2, 3))
    assert len(state) == 6 and all(isinstance(s, LSTMState) for s in state)
    stacked = stack_states(state)
    assert stacked.h.shape == (6, 2, 4) and stacked.c.shape == (6, 2, 4)
    again = unstack_states(stacked)
    assert all(
        torch.equal(a.h, b.h) and torch.equal(a.c, b.c) for a, b in zip(again, state, strict=True)
    )
    # index layer * K + direction: the last entry is the top layer's reverse direction
    ref = torch.nn.LSTM(3, 4, num_layers=3, bidirectional=True)
    ref.load_state_dict(layer.state_dict())
    x = torch.randn(5, 2, 3)
    _, state = layer(x)
    _, (h, _) = ref(x)
    torch.testing.assert_close(state[5].h, h[5])


def test_dropout_between_layers_only_in_training():
    layer = GRU(3, 8, num_layers=2, dropout=0.5, impl="reference")
    x = torch.randn(4, 2, 3)
    layer.eval()
    a, _ = layer(x)
    b, _ = layer(x)
    assert torch.equal(a, b)
    layer.train()
    torch.manual_seed(0)
    c, _ = layer(x)
    torch.manual_seed(0)
    d, _ = layer(x)
    assert torch.equal(c, d) and not torch.allclose(a, c)
