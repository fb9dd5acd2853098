"""Padded batches with lengths or masks behave exactly like each sequence alone."""

from __future__ import annotations

import pytest
import torch
from nn_helpers import KINDS, TOL, assert_close_dicts, grads, make_pair

from rnnkit.errors import InputError


def _loss(out, state, w_out, w_state):
    return (out * w_out).sum() + sum(
        (t * w).sum()
        for s, ws in zip(state, w_state, strict=True)
        for t, w in zip(s, ws, strict=True)
    )


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("kind", KINDS)
def test_padded_batch_equals_each_sequence_alone(kind, impl):
    T, D, H = 7, 3, 5
    lengths = torch.tensor([4, 7, 1, 5, 2])  # random order, includes 1 and T
    B = len(lengths)
    ours, _ = make_pair(kind, D, H, impl=impl, num_layers=2, bidirectional=True, batch_first=True)
    torch.manual_seed(3)
    x = torch.randn(B, T, D, dtype=torch.float64)
    for b in range(B):
        x[b, lengths[b] :] = 1e3  # padding garbage must not leak anywhere
    x.requires_grad_(True)
    out, state = ours(x, lengths=lengths)
    assert ours.last_path.name == impl

    w_out = torch.randn_like(out)
    w_state = [[torch.randn_like(t) for t in s] for s in state]
    _loss(out, state, w_out, w_state).backward()
    batched = grads(ours, x)

    expected_grads = None
    for b in range(B):
        n = int(lengths[b])
        xb = x.detach()[b : b + 1, :n].clone().requires_grad_(True)
        out_b, state_b = ours(xb)
        torch.testing.assert_close(out[b, :n], out_b[0], **TOL[torch.float64])
        assert torch.all(out[b, n:] == 0)  # padded outputs are exactly zero
        for s, sb in zip(state, state_b, strict=True):
            for t, tb in zip(s, sb, strict=True):
                torch.testing.assert_close(t[b], tb[0], **TOL[torch.float64])
        ws = [[w[b : b + 1] for w in ws] for ws in w_state]
        _loss(out_b, state_b, w_out[b : b + 1, :n], ws).backward()
        g = grads(ours, xb)
        torch.testing.assert_close(
            batched["input0"][b, :n], g.pop("input0")[0], **TOL[torch.float64]
        )
        expected_grads = g if expected_grads is None else {k: expected_grads[k] + g[k] for k in g}
        assert torch.all(batched["input0"][b, n:] == 0)
    batched.pop("input0")
    assert_close_dicts(batched, expected_grads, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_extra_padding_changes_nothing_at_valid_steps(impl):
    ours, _ = make_pair("lstm", 3, 4, impl=impl, num_layers=2, bidirectional=True)
    lengths = torch.tensor([3, 6, 2])
    x = torch.randn(6, 3, 3, dtype=torch.float64)
    out, state = ours(x, lengths=lengths)
    padded = torch.cat([x, torch.randn(4, 3, 3, dtype=torch.float64) * 50])  # T: 6 -> 10
    out_p, state_p = ours(padded, lengths=lengths)
    torch.testing.assert_close(out_p[:6], out, **TOL[torch.float64])
    assert torch.all(out_p[6:] == 0)
    for s, sp in zip(state, state_p, strict=True):
        for t, tp in zip(s, sp, strict=True):
            torch.testing.assert_close(t, tp, **TOL[torch.float64])


@pytest.mark.parametrize("batch_first", [False, True])
def test_mask_equals_lengths(batch_first):
    ours, _ = make_pair("gru", 3, 4, impl="reference", bidirectional=True, batch_first=batch_first)
    lengths = torch.tensor([2, 5, 3])
    mask = torch.arange(5).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
    x = torch.randn((3, 5, 3) if batch_first else (5, 3, 3), dtype=torch.float64)
    out_l, _ = ours(x, lengths=lengths)
    out_m, _ = ours(x, mask=mask if batch_first else mask.t())
    assert torch.equal(out_l, out_m)


def test_fused_and_reference_agree_with_lengths():
    fused, _ = make_pair("lstm", 3, 4, impl="fused", num_layers=3, bidirectional=True)
    ref, _ = make_pair("lstm", 3, 4, impl="reference", num_layers=3, bidirectional=True)
    x = torch.randn(8, 4, 3, dtype=torch.float64)
    lengths = [8, 3, 1, 6]
    a, sa = fused(x, lengths=lengths)
    b, sb = ref(x, lengths=lengths)
    torch.testing.assert_close(a, b, **TOL[torch.float64])


@pytest.mark.parametrize(
    "lengths, message",
    [
        ([3, 0, 2], "at least 1 step"),
        ([3, 6, 2], "longer than the padded input"),
        ([3, 2], r"expected shape \(3,\)"),
        (torch.tensor([1.0, 2.0, 3.0]), "integer"),
    ],
)
def test_bad_lengths_are_clear_errors(lengths, message):
    ours, _ = make_pair("lstm", 3, 4)
    x = torch.randn(5, 3, 3, dtype=torch.float64)
    with pytest.raises((InputError, TypeError), match=message):
        ours(x, lengths=lengths)


def test_mask_with_holes_is_rejected():
    ours, _ = make_pair("rnn_tanh", 3, 4, batch_first=True)
    mask = torch.tensor([[True, True, False], [True, False, True]])
    with pytest.raises(InputError, match=r"mask: rows \[1\] have holes"):
        ours(torch.randn(2, 3, 3, dtype=torch.float64), mask=mask)
    with pytest.raises(InputError, match="torch.bool"):
        ours(torch.randn(2, 3, 3, dtype=torch.float64), mask=mask.int())
    with pytest.raises(InputError, match="either lengths or mask"):
        ours(torch.randn(2, 3, 3, dtype=torch.float64), lengths=[1, 1], mask=mask)
