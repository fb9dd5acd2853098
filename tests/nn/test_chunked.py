"""Chunked == whole: carrying the state across calls is the same as one long pass."""

from __future__ import annotations

import pytest
import torch
from nn_helpers import KINDS, TOL, make_pair

from rnnkit.nn import TBPTT


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("kind", KINDS)
def test_chunks_with_carried_state_equal_one_pass(kind, impl):
    ours, _ = make_pair(kind, 3, 5, impl=impl, num_layers=2, batch_first=True)
    torch.manual_seed(4)
    x = torch.randn(2, 40, 3, dtype=torch.float64, requires_grad=True)
    whole, whole_state = ours(x)
    (whole.square().sum()).backward()
    whole_grad = x.grad.clone()
    whole_param_grads = [p.grad.clone() for p in ours.parameters()]
    ours.zero_grad()
    x.grad = None

    state, pieces = None, []
    for chunk in x.split([7, 13, 1, 19], dim=1):  # uneven windows
        out, state = ours(chunk, state)  # not detached: full BPTT through the chunks
        pieces.append(out)
    chunked = torch.cat(pieces, dim=1)
    torch.testing.assert_close(chunked, whole, **TOL[torch.float64])
    for s, w in zip(state, whole_state, strict=True):
        for t, tw in zip(s, w, strict=True):
            torch.testing.assert_close(t, tw, **TOL[torch.float64])
    chunked.square().sum().backward()
    torch.testing.assert_close(x.grad, whole_grad, **TOL[torch.float64])
    for p, g in zip(ours.parameters(), whole_param_grads, strict=True):
        torch.testing.assert_close(p.grad, g, **TOL[torch.float64])


def test_tbptt_carries_values_but_cuts_gradients():
    ours, _ = make_pair("lstm", 3, 4, num_layers=2, batch_first=True)
    x = torch.randn(2, 20, 3, dtype=torch.float64, requires_grad=True)
    whole, _ = ours(x)
    runner = TBPTT(ours)
    outs = [runner(chunk)[0] for chunk in x.split(5, dim=1)]
    torch.testing.assert_close(torch.cat(outs, 1), whole, **TOL[torch.float64])
    # The loss on the last window must not reach the first window's inputs.
    outs[-1].sum().backward()
    assert torch.all(x.grad[:, :15] == 0)
    assert torch.any(x.grad[:, 15:] != 0)
    assert all(not t.requires_grad for s in runner.state for t in s)


def test_tbptt_reset_all_and_some_rows():
    ours, _ = make_pair("gru", 3, 4, batch_first=True)
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    runner = TBPTT(ours)
    runner(x)
    runner.reset(torch.tensor([True, False, True]))
    (h,) = runner.state[0]
    assert torch.all(h[0] == 0) and torch.all(h[2] == 0) and torch.any(h[1] != 0)
    fresh_out, _ = ours(x)
    out, _ = runner(x)
    torch.testing.assert_close(out[0], fresh_out[0], **TOL[torch.float64])
    assert not torch.allclose(out[1], fresh_out[1])
    runner.reset()
    assert runner.state is None
