"""Shared helpers for the nn tests: building matched rnnkit / torch.nn pairs."""

from __future__ import annotations

import torch

from rnnkit.nn import GRU, LSTM, RNN, GRUCell, LayerNormGRUCell, LayerNormLSTMCell, LSTMCell

KINDS = ("rnn_tanh", "rnn_relu", "lstm", "gru")
# The cells of the fast loop (rnnkit.nn.fast_loop) and the noise its tests run with.
LOOP_CELLS = [LSTMCell, LayerNormLSTMCell, GRUCell, LayerNormGRUCell]
LOOP_NOISE = [  # (recurrent_dropout, zoneout, training)
    (0.0, 0.0, True),
    (0.3, 0.0, True),
    (0.0, 0.3, True),
    (0.3, 0.3, True),
    (0.3, 0.3, False),
]
TOL = {torch.float32: dict(atol=1e-5, rtol=1e-5), torch.float64: dict(atol=1e-10, rtol=1e-10)}


def make_pair(kind: str, D: int, H: int, *, dtype=torch.float64, impl="auto", seed=0, **kw):
    """An rnnkit layer and a torch.nn layer with identical weights."""
    torch.manual_seed(seed)
    if kind.startswith("rnn"):
        nonlin = kind.split("_")[1]
        ours = RNN(D, H, nonlinearity=nonlin, impl=impl, dtype=dtype, **kw)
        ref = torch.nn.RNN(D, H, nonlinearity=nonlin, dtype=dtype, **kw)
    elif kind == "lstm":
        ours = LSTM(D, H, impl=impl, dtype=dtype, **kw)
        ref = torch.nn.LSTM(D, H, dtype=dtype, **kw)
    else:
        ours = GRU(D, H, impl=impl, dtype=dtype, **kw)
        ref = torch.nn.GRU(D, H, dtype=dtype, **kw)
    ref.load_state_dict(ours.state_dict())
    return ours, ref


def grads(module, *tensors):
    """Gradients of all parameters (by name) and of the given tensors; then zero them."""
    out = {n: p.grad.clone() for n, p in module.named_parameters()}
    out |= {f"input{i}": t.grad.clone() for i, t in enumerate(tensors)}
    module.zero_grad()
    for t in tensors:
        t.grad = None
    return out


def assert_close_dicts(a: dict, b: dict, **tol) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], **tol, msg=lambda m, k=k: f"{k}: {m}")
