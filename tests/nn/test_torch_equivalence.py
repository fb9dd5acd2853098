"""rnnkit's RNN/LSTM/GRU equal torch.nn's: outputs, final states, all gradients."""

from __future__ import annotations

import pytest
import torch
from nn_helpers import KINDS, TOL, assert_close_dicts, grads, make_pair

from rnnkit.nn import LSTM, stack_states, unstack_states


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_matches_torch_nn(kind, num_layers, bidirectional, batch_first, impl, dtype):
    B, T, D, H = 3, 5, 4, 6
    ours, ref = make_pair(
        kind,
        D,
        H,
        dtype=dtype,
        impl=impl,
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
    )
    K = 2 if bidirectional else 1
    torch.manual_seed(1)
    x = torch.randn((B, T, D) if batch_first else (T, B, D), dtype=dtype, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    init = ours.init_state(B, dtype=dtype)
    init = tuple(type(s)(*(torch.randn_like(t) for t in s)) for s in init)
    init_ref = tuple(type(s)(*(t.clone() for t in s)) for s in init)

    out, state = ours(x, init)
    assert ours.last_path.name == impl
    ref_hx = tuple(stack_states(init_ref))
    ref_out, ref_final = ref(x_ref, ref_hx if kind == "lstm" else ref_hx[0])
    ref_final = ref_final if kind == "lstm" else (ref_final,)

    tol = TOL[dtype]
    torch.testing.assert_close(out, ref_out, **tol)
    assert out.shape == ((B, T, K * H) if batch_first else (T, B, K * H))
    for ours_field, ref_field in zip(stack_states(state), ref_final, strict=True):
        torch.testing.assert_close(ours_field, ref_field, **tol)

    # One loss touching outputs and every final-state field.
    torch.manual_seed(2)
    w_out = torch.randn_like(out)
    w_state = [torch.randn_like(f) for f in ref_final]
    loss = (out * w_out).sum() + sum(
        (f * w).sum() for f, w in zip(stack_states(state), w_state, strict=True)
    )
    ref_loss = (ref_out * w_out).sum() + sum(
        (f * w).sum() for f, w in zip(ref_final, w_state, strict=True)
    )
    loss.backward()
    ref_loss.backward()
    assert_close_dicts(grads(ours, x), grads(ref, x_ref), **tol)


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_lstm_projection_matches_torch(impl):
    ours, ref = make_pair("lstm", 4, 8, impl=impl, num_layers=2, proj_size=3, bidirectional=True)
    x = torch.randn(5, 2, 4, dtype=torch.float64)
    out, state = ours(x)
    ref_out, (h, c) = ref(x)
    torch.testing.assert_close(out, ref_out, **TOL[torch.float64])
    torch.testing.assert_close(stack_states(state).h, h, **TOL[torch.float64])
    torch.testing.assert_close(stack_states(state).c, c, **TOL[torch.float64])
    assert out.shape == (5, 2, 6)


def test_state_dict_loads_both_ways():
    ours, ref = make_pair("lstm", 3, 5, num_layers=2, bidirectional=True)
    assert list(ours.state_dict()) == list(ref.state_dict())
    torch.manual_seed(9)
    fresh = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, dtype=torch.float64)
    ours.load_state_dict(fresh.state_dict())
    for name, p in fresh.named_parameters():
        assert torch.equal(getattr(ours, name), p)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in fresh.named_parameters()]


def test_torch_style_initial_state_is_accepted():
    ours, ref = make_pair("lstm", 3, 4, num_layers=2)
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    h0 = torch.randn(2, 2, 4, dtype=torch.float64)
    c0 = torch.randn(2, 2, 4, dtype=torch.float64)
    out_a, state_a = ours(x, (h0, c0))
    out_b, state_b = ours(x, unstack_states(type(state_a[0])(h0, c0)))
    ref_out, _ = ref(x, (h0, c0))
    torch.testing.assert_close(out_a, ref_out, **TOL[torch.float64])
    assert torch.equal(out_a, out_b)


def test_unbatched_input_matches_batched():
    ours, ref = make_pair("gru", 3, 4, num_layers=2, bidirectional=True)
    x = torch.randn(7, 3, dtype=torch.float64)
    out, state = ours(x)
    ref_out, ref_h = ref(x)
    torch.testing.assert_close(out, ref_out, **TOL[torch.float64])
    torch.testing.assert_close(stack_states(state).h, ref_h, **TOL[torch.float64])
    assert out.shape == (7, 8) and state[0].h.shape == (4,)


def test_default_lstm_forget_bias_is_one():
    layer = LSTM(3, 5, num_layers=2, bidirectional=True)
    for name, p in layer.named_parameters():
        if name.startswith("bias_ih"):
            assert torch.all(p[5:10] == 1.0), name
        if name.startswith("bias_hh"):
            assert torch.all(p[5:10] == 0.0), name
    plain = LSTM(3, 5, forget_bias=None)
    assert not torch.all(plain.bias_ih_l0[5:10] == 1.0)
