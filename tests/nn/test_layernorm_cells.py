"""LayerNorm-LSTM and LayerNorm-GRU against the equations written out by hand."""

from __future__ import annotations

import pytest
import torch

from rnnkit.nn import LayerNormGRUCell, LayerNormLSTMCell, LSTMState, Recurrent
from rnnkit.nn.registry import cell_class

B, D, H = 3, 5, 4


def ln(z, gain, bias=None):
    """Layer norm from its definition: mean and biased variance over the features."""
    mean = z.mean(-1, keepdim=True)
    var = ((z - mean) ** 2).mean(-1, keepdim=True)
    out = (z - mean) / torch.sqrt(var + 1e-5) * gain
    return out if bias is None else out + bias


def randomise(module, seed=0):
    """Random values everywhere, LN gains and biases included (init sets them to 1/0)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5)


def lnlstm_by_hand(w, x, h, c):
    gates = (
        ln(x @ w["weight_ih"].T, w["ln_ih_weight"])
        + w["bias_ih"]
        + ln(h @ w["weight_hh"].T, w["ln_hh_weight"])
        + w["bias_hh"]
    )
    i, f, g, o = gates.split(H, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(ln(c, w["ln_cell_weight"], w["ln_cell_bias"]))
    return h, c


def lngru_by_hand(w, x, h):
    a = ln(x @ w["weight_ih"].T, w["ln_ih_weight"]) + w["bias_ih"]
    b = ln(h @ w["weight_hh"].T, w["ln_hh_weight"]) + w["bias_hh"]
    r = torch.sigmoid(a[:, :H] + b[:, :H])
    z = torch.sigmoid(a[:, H : 2 * H] + b[:, H : 2 * H])
    n = torch.tanh(a[:, 2 * H :] + r * b[:, 2 * H :])
    return (1 - z) * n + z * h


def test_lnlstm_step_is_the_equations():
    cell = LayerNormLSTMCell(D, H, dtype=torch.float64)
    randomise(cell)
    x, h, c = (torch.randn(B, n, dtype=torch.float64) for n in (D, H, H))
    out, state = cell(x, LSTMState(h, c))
    h_ref, c_ref = lnlstm_by_hand(cell.weights(), x, h, c)
    torch.testing.assert_close(out, h_ref)
    torch.testing.assert_close(state.c, c_ref)


def test_lngru_step_is_the_equations():
    cell = LayerNormGRUCell(D, H, dtype=torch.float64)
    randomise(cell, seed=1)
    x, h = torch.randn(B, D, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    out, state = cell(x, (h,))
    torch.testing.assert_close(out, lngru_by_hand(cell.weights(), x, h))
    torch.testing.assert_close(state.h, out)


@pytest.mark.parametrize("impl", ["auto", "reference"])
def test_layer_over_time_is_a_hand_loop(impl):
    """Two layers of LN-LSTM over 6 steps, on either path, equal the hand loop."""
    layer = Recurrent(LayerNormLSTMCell, D, H, 2, impl=impl, dtype=torch.float64)
    randomise(layer, seed=2)
    x = torch.randn(6, B, D, dtype=torch.float64)
    out, final = layer(x)
    seq = x
    for k in range(2):
        w = {n: p for n, p in layer.cell_weights(k).items()}
        h = c = torch.zeros(B, H, dtype=torch.float64)
        outs = []
        for t in range(6):
            h, c = lnlstm_by_hand(w, seq[t], h, c)
            outs.append(h)
        seq = torch.stack(outs)
        torch.testing.assert_close(final[k].h, h)
        torch.testing.assert_close(final[k].c, c)
    torch.testing.assert_close(out, seq)


def test_parameter_names_and_init():
    layer = Recurrent(LayerNormLSTMCell, D, H, 2, bidirectional=True)
    params = dict(layer.named_parameters())
    assert params["ln_ih_weight_l0"].shape == (4 * H,)
    assert params["ln_hh_weight_l1_reverse"].shape == (4 * H,)
    assert params["ln_cell_weight_l1"].shape == params["ln_cell_bias_l0_reverse"].shape == (H,)
    assert params["weight_hh_l1_reverse"].shape == (4 * H, H)
    for name, p in params.items():
        if name.startswith("ln_") and "weight" in name:
            assert bool((p == 1).all()), name
        elif name.startswith("ln_"):
            assert bool((p == 0).all()), name
    # forget gate starts at bias 1 in total, as the plain LSTM's
    total = params["bias_ih_l0"] + params["bias_hh_l0"]
    assert bool((total[H : 2 * H] == 1).all())
    gru = Recurrent(LayerNormGRUCell, D, H, bias=False)
    assert sorted(n for n, _ in gru.named_parameters()) == [
        "ln_hh_weight_l0",
        "ln_ih_weight_l0",
        "weight_hh_l0",
        "weight_ih_l0",
    ]


def test_without_bias_the_equations_drop_every_shift():
    cell = LayerNormLSTMCell(D, H, bias=False, dtype=torch.float64)
    randomise(cell, seed=3)
    w = dict(cell.weights()) | {
        "bias_ih": torch.zeros(4 * H, dtype=torch.float64),
        "bias_hh": torch.zeros(4 * H, dtype=torch.float64),
        "ln_cell_bias": torch.zeros(H, dtype=torch.float64),
    }
    x, h, c = (torch.randn(B, n, dtype=torch.float64) for n in (D, H, H))
    out, _ = cell(x, LSTMState(h, c))
    torch.testing.assert_close(out, lnlstm_by_hand(w, x, h, c)[0])


def test_registered_by_name():
    assert cell_class("lnlstm") is LayerNormLSTMCell
    assert cell_class("lngru") is LayerNormGRUCell


def test_gradcheck_layer_reference_float64():
    layer = Recurrent(LayerNormGRUCell, 3, 2, impl="reference", dtype=torch.float64)
    randomise(layer, seed=4)
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: layer(x)[0], (x,))
