"""Which path runs and why; bad arguments give typed errors naming the argument."""

from __future__ import annotations

import pytest
import torch

from rnnkit.errors import ConfigError, InputError
from rnnkit.nn import GRU, LSTM, RNN, LayerNormGRUCell, LayerNormLSTMCell, LSTMCell, Recurrent


class PeepholeFreeLSTMCell(LSTMCell):
    """A subclass may change the step, so it must not take the fused kernel."""


def test_path_is_reported():
    layer = LSTM(3, 4)
    layer(torch.randn(2, 1, 3))
    assert layer.last_path.name == "fused"
    assert "LSTMCell" in layer.last_path.reason
    layer.impl = "reference"
    layer(torch.randn(2, 1, 3))
    assert layer.last_path == ("reference", "impl='reference' was requested")


def test_custom_cell_falls_back_to_reference_and_fused_refuses():
    layer = Recurrent(PeepholeFreeLSTMCell, 3, 4)
    layer(torch.randn(2, 1, 3))
    assert layer.last_path.name == "reference"
    assert "PeepholeFreeLSTMCell has no fused kernel" in layer.last_path.reason
    with pytest.raises(ConfigError, match="impl='fused' cannot run"):
        Recurrent(PeepholeFreeLSTMCell, 3, 4, impl="fused")(torch.randn(2, 1, 3))


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: LSTM(0, 4), ConfigError, "input_size"),
        (lambda: LSTM(3, 4.0), TypeError, "hidden_size"),
        (lambda: LSTM(3, 4, num_layers=0), ConfigError, "num_layers"),
        (lambda: LSTM(3, 4, dropout=1.5), ConfigError, "dropout"),
        (lambda: LSTM(3, 4, bidirectional="yes"), TypeError, "bidirectional"),
        (lambda: LSTM(3, 4, impl="fast"), ConfigError, "impl"),
        (lambda: LSTM(3, 4, proj_size=4), ConfigError, "proj_size"),
        (lambda: RNN(3, 4, nonlinearity="sigmoid"), ConfigError, "nonlinearity"),
        (lambda: Recurrent(torch.nn.LSTM, 3, 4), TypeError, "cell"),
        # One check for both LSTM cells: a bool is not a bias (Keras' True means 1.0).
        (lambda: LSTM(3, 4, forget_bias=True), TypeError, "forget_bias"),
        (lambda: LSTMCell(3, 4, forget_bias="1"), TypeError, "forget_bias"),
        (lambda: LayerNormLSTMCell(3, 4, forget_bias=True), TypeError, "forget_bias"),
    ],
)
def test_bad_constructor_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()
    assert issubclass(error, (ValueError, TypeError))


def test_dropout_with_one_layer_warns_like_torch():
    with pytest.warns(UserWarning, match="between stacked layers"):
        GRU(3, 4, dropout=0.3)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda m: m(torch.randn(5, 2, 7)), InputError, "input_size = 3"),
        (lambda m: m(torch.randn(5, 2, 3, 1)), InputError, r"\(T, B, D\)"),
        (lambda m: m(torch.ones(5, 2, 3, dtype=torch.long)), TypeError, "floating-point"),
        (lambda m: m([[1.0]]), TypeError, "torch.Tensor"),
        (lambda m: m(torch.randn(5, 2, 3), torch.zeros(3, 2, 4)), InputError, r"\(2, B, H\)"),
        (lambda m: m(torch.randn(5, 2, 3), (torch.zeros(2, 9, 4),)), InputError, "state"),
    ],
)
def test_bad_forward_inputs(call, error, message):
    layer = GRU(3, 4, num_layers=2)
    with pytest.raises(error, match=message):
        call(layer)


@pytest.mark.parametrize("bf16_cpu", [True, False])
def test_bf16_autocast_lstm_runs_on_every_cpu(bf16_cpu, monkeypatch):
    """oneDNN has no bf16 LSTM primitive on CPUs without AVX512-BF16/AMX; the layer then
    runs rnnkit's fast loop in float32 (and says so) instead of failing (a CPU without
    them is simulated where this one has them)."""
    if not bf16_cpu:
        for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
            monkeypatch.setattr(torch.cpu, name, lambda: False, raising=False)
    lstm = LSTM(8, 16, num_layers=2, batch_first=True)
    x = torch.randn(4, 5, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = lstm(x)
    out.float().sum().backward()
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert lstm.last_path.name == ("fused" if native else "loop")
    if not native:
        assert "no fused bf16 LSTM kernel" in lstm.last_path.reason
        assert "float32 under CPU autocast" in lstm.last_path.reason
    with torch.no_grad():
        full, _ = lstm(x)  # outside autocast the fused kernel runs everywhere
    assert lstm.last_path.name == "fused"
    assert (out.float() - full).abs().max() < 0.1  # the same function, at bf16 precision


def test_one_lstm_step_on_cpu_runs_the_cells_step_and_matches_the_kernel():
    """oneDNN sets up a primitive per call, so a single LSTM step (decoders, generation)
    runs the cell's own step under impl='auto'; it is the same function as the kernel."""
    torch.manual_seed(0)
    lstm = LSTM(3, 5, num_layers=2, batch_first=True)
    x = torch.randn(4, 1, 3)
    state = lstm.init_state(4)
    auto, auto_state = lstm(x, state)
    assert lstm.last_path.name == "reference"
    assert "one LSTM step on CPU" in lstm.last_path.reason
    lstm.impl = "fused"
    kernel, kernel_state = lstm(x, state)
    assert lstm.last_path.name == "fused"
    assert torch.allclose(auto, kernel, atol=1e-6)
    for a, b in zip(auto_state, kernel_state, strict=True):
        assert all(torch.allclose(s, t, atol=1e-6) for s, t in zip(a, b, strict=True))
    lstm.impl = "auto"
    lstm(torch.randn(4, 2, 3))  # two steps: the kernel again
    assert lstm.last_path.name == "fused"


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda l: l(torch.randn(2, 5, 3, dtype=torch.float64)),
            TypeError,
            r"x: dtype torch.float64 does not match the layer's torch.float32 weights",
        ),
        (lambda l: l(torch.randn(2, 0, 3)), InputError, "x: has 0 time steps"),
        (
            lambda l: l(torch.randn(2, 5, 3), mask=torch.ones(2, 4, dtype=torch.bool)),
            InputError,
            r"mask: expected shape \(B, T\) = \(2, 5\)",
        ),
        (
            lambda l: l(torch.randn(2, 5, 3), torch.zeros(1, 2, 4)),
            InputError,
            r"state: a LSTMState has 2 field\(s\) \('h', 'c'\), got 1 tensor",
        ),
        (
            lambda l: l(torch.randn(2, 5, 3), (torch.zeros(1, 2, 4).double(),) * 2),
            TypeError,
            "state: dtype torch.float64 does not match x's torch.float32",
        ),
        (
            lambda l: l(torch.randn(2, 5, 3), lengths=torch.tensor([5, 3], device="meta")),
            InputError,
            "lengths: on the meta device",
        ),
        (
            lambda l: l(torch.randn(2, 5, 3, device="meta")),
            InputError,
            "x: on meta but the layer's weights are on cpu",
        ),
    ],
    ids=["dtype", "no-steps", "mask-shape", "bare-tensor-lstm-state", "state-dtype",
         "lengths-device", "x-device"],
)  # fmt: skip
def test_mistakes_torch_reports_cryptically_are_typed_errors_naming_the_argument(
    call, error, message
):
    """torch.nn answers these with 'expected m1 and m2 to have the same dtype',
    'get_mkldnn_dtype: unsupported data type', a NamedTuple's missing argument, or not
    at all (a mask of the wrong width was taken silently)."""
    with pytest.raises(error, match=message):
        call(LSTM(3, 4, batch_first=True))


def test_autocast_still_takes_another_dtype():
    lstm = LSTM(3, 4, batch_first=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = lstm(torch.randn(2, 5, 3).bfloat16())
    assert out.shape == (2, 5, 4)


@pytest.mark.parametrize(
    "cell, kw",
    [(LayerNormLSTMCell, {}), (LSTMCell, {"zoneout": 0.1}), (LayerNormGRUCell, {})],
)
def test_cpu_autocast_keeps_the_fast_loop_in_float32(cell, kw):
    """Under CPU bf16 autocast the fast loop runs in float32 with autocast off (the
    reference loop in bf16 took 3x as long): the same outputs and gradients as without
    autocast, from bfloat16 inputs and state too."""
    torch.manual_seed(0)
    layer = Recurrent(cell, 6, 8, 2, batch_first=True, **kw)
    x = torch.randn(3, 7, 6).bfloat16().float()  # exactly representable in bf16
    runs = []
    for autocast in (False, True):
        torch.manual_seed(1)  # the same zoneout masks
        xin = (x.bfloat16() if autocast else x).requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out, final = layer(xin)
        assert layer.last_path.name == "loop"
        assert ("float32 under CPU autocast" in layer.last_path.reason) == autocast
        assert out.dtype == torch.float32
        loss = (out * torch.linspace(-1, 1, 8)).square().sum()
        grads = torch.autograd.grad(loss, [xin, *layer.parameters()])
        runs.append([out, *grads])
    (out, dx, *dw), (out_ac, dx_ac, *dw_ac) = runs
    assert dx_ac.dtype == torch.bfloat16  # a leaf's gradient takes its dtype
    torch.testing.assert_close(dx_ac, dx.bfloat16())
    for a, b in zip([out, *dw], [out_ac, *dw_ac], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "state, message",
    [
        (
            (torch.zeros(2, 5), torch.zeros(2, 4)),
            r"state.h: expected shape \(batch, size\) = \(2, 4\), got \(2, 5\)",
        ),
        ((torch.zeros(3, 4), torch.zeros(3, 4)), r"state.h: .* = \(2, 4\), got \(3, 4\)"),
        ((torch.zeros(2, 4), torch.zeros(4)), r"state.c: .* = \(2, 4\), got \(4,\)"),
        ((torch.zeros(2, 4),), r"LSTMState has 2 field\(s\).*got 1 tensor"),
        ((torch.zeros(2, 4), "c"), r"state.c: .* got str"),
    ],
)
def test_a_cell_called_alone_checks_its_state(state, message):
    """A cell called on its own (one step) names the state field and the shape it
    expected, where torch raised a shape error from inside the step."""
    with pytest.raises(InputError, match=message):
        LSTMCell(3, 4)(torch.randn(2, 3), state)
