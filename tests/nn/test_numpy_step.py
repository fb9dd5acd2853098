"""`NumpyStack` against the `Recurrent` layer it copies: outputs and states within float
rounding, step after step, for every cell it takes; everything else refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.errors import ConfigError
from rnnkit.nn import Recurrent
from rnnkit.nn.numpy_step import NumpyStack, unsupported
from rnnkit.nn.registry import CELLS
from rnnkit.nn.state import GRUState, LSTMState, RNNState

CASES = {
    "lstm": ("lstm", {}),
    "lstm-no-bias": ("lstm", {"bias": False}),
    "lstm-forget-bias-3": ("lstm", {"cell_kwargs": {"forget_bias": 3.0}}),
    "gru": ("gru", {}),
    "gru-no-bias": ("gru", {"bias": False}),
    "rnn-tanh": ("rnn", {}),
    "rnn-relu": ("rnn", {"cell_kwargs": {"nonlinearity": "relu"}}),
}


def layer(case: str, num_layers: int, seed: int = 0) -> Recurrent:
    cell, kwargs = CASES[case]
    torch.manual_seed(seed)
    rnn = Recurrent(CELLS[cell], 12, 24, num_layers=num_layers, batch_first=True, **kwargs)
    # Large weights saturate gates and vary the states; a ReLU stack would blow up.
    gain = 1.0 if "relu" in case else 2.5
    with torch.no_grad():
        for p in rnn.parameters():
            p.mul_(gain)
    return rnn.eval()


@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("batch", [1, 4])
def test_steps_equal_the_layer_over_a_sequence(case, num_layers, batch):
    rnn = layer(case, num_layers)
    stack = NumpyStack(rnn)
    steps = 40
    x = torch.randn(batch, steps, 12, generator=torch.Generator().manual_seed(1))
    h0 = rnn.init_state(batch)
    h0 = tuple(type(s)(*(torch.randn_like(t) for t in s)) for s in h0)  # a carried state
    with torch.no_grad():
        out, final = rnn(x, h0)  # (B, T, H), the layer's whole-sequence path
    state = stack.from_torch(h0, batch)
    xs = x.numpy()
    for t in range(steps):
        h, state = stack.step(stack.input_term(xs[:, t]), state)
        np.testing.assert_allclose(h, out[:, t].numpy(), rtol=1e-5, atol=2e-5, err_msg=f"step {t}")
    for ours, theirs in zip(stack.to_torch(state), final, strict=True):
        assert type(ours) is type(theirs)
        for a, b in zip(ours, theirs, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=2e-5)
    assert out.abs().max() > 0.5  # the states move: not a comparison of near-zeros


def test_state_types_and_zero_state():
    for case, kind in (("lstm", LSTMState), ("gru", GRUState), ("rnn-tanh", RNNState)):
        stack = NumpyStack(layer(case, 2))
        state = stack.to_torch(stack.zero_state(3))
        assert all(type(s) is kind for s in state)
        assert all(t.shape == (3, 24) and not t.any() for s in state for t in s)
        assert stack.from_torch(None, 3)[0][0].shape == (3, 24)


def test_the_input_table_is_the_input_term_of_each_row():
    stack = NumpyStack(layer("lstm", 2))
    emb = np.random.default_rng(0).standard_normal((7, 12)).astype(np.float32)
    table = stack.input_table(emb)  # (7, 4H)
    np.testing.assert_allclose(table[3], stack.input_term(emb[3:4])[0], rtol=0, atol=1e-6)
    one_hot = stack.input_table(None)  # one-hot inputs of width D = 12
    np.testing.assert_allclose(
        one_hot[5], stack.input_term(np.eye(12, dtype=np.float32)[5:6])[0], atol=1e-6
    )


def test_old_states_are_never_written_again():
    stack = NumpyStack(layer("lstm", 2))
    state = stack.zero_state(1)
    gx = stack.input_term(np.ones((1, 12), np.float32))
    _, first = stack.step(gx, state)
    kept = [a.copy() for s in first for a in s]
    current = first
    for _ in range(5):
        _, current = stack.step(gx, current)
    assert all(
        np.array_equal(a, b) for a, b in zip([a for s in first for a in s], kept, strict=True)
    )


def test_the_stack_copies_the_weights_and_leaves_the_layer_alone():
    rnn = layer("lstm", 2)
    before = {k: v.clone() for k, v in rnn.state_dict().items()}
    stack = NumpyStack(rnn)  # halves the sigmoid rows of its own copy
    assert all(torch.equal(before[k], v) for k, v in rnn.state_dict().items())
    gx = stack.input_term(np.ones((1, 12), np.float32))
    h_before, _ = stack.step(gx, stack.zero_state(1))
    with torch.no_grad():
        rnn.weight_ih_l0.zero_()  # the copy is a snapshot
    h_after, _ = stack.step(stack.input_term(np.ones((1, 12), np.float32)), stack.zero_state(1))
    np.testing.assert_array_equal(h_before, h_after)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Recurrent(CELLS["lnlstm"], 8, 16), "LayerNormLSTMCell"),
        (lambda: Recurrent(CELLS["mingru"], 8, 16), "MinGRUCell"),
        (lambda: Recurrent(CELLS["lstm"], 8, 16, cell_kwargs={"proj_size": 4}), "proj_size"),
        (lambda: Recurrent(CELLS["gru"], 8, 16, bidirectional=True), "bidirectional"),
        (lambda: Recurrent(CELLS["gru"], 8, 16, zoneout=0.1).eval(), "zoneout"),
        (lambda: Recurrent(CELLS["gru"], 8, 16, num_layers=2, dropout=0.3), "dropout"),
        (lambda: Recurrent(CELLS["gru"], 8, 16).double(), "float32"),
    ],
)
def test_what_it_cannot_step_is_refused_with_the_reason(make, match):
    rnn = make()
    assert match in unsupported(rnn)
    with pytest.raises(ConfigError, match=match):
        NumpyStack(rnn)


def test_dropout_in_eval_mode_is_no_obstacle():
    rnn = Recurrent(CELLS["gru"], 8, 16, num_layers=2, dropout=0.3, recurrent_dropout=0.2)
    assert unsupported(rnn.eval()) is None
