"""minGRU and minLSTM: the parallel scan equals the step loop, and both cells work everywhere."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from nn_helpers import assert_close_dicts, grads

from rnnkit.errors import ConfigError
from rnnkit.nn import MinGRUCell, MinGRUState, MinLSTMCell, MinLSTMState, Recurrent
from rnnkit.nn.registry import cell_class
from rnnkit.nn.scan import linear_loop, log_linear_scan

CELLS = (MinGRUCell, MinLSTMCell)
F64 = dict(atol=1e-10, rtol=1e-10)
F32 = dict(atol=1e-4, rtol=1e-4)


def solve(log_a, log_b, h0, chunk, parallel):
    """The parallel scan, or the multiply-add loop, from log coefficients."""
    if parallel:
        return log_linear_scan(log_a, log_b, h0, chunk=chunk)
    return linear_loop(log_a.exp(), log_b.exp(), h0)


def loop(a, b, h0=None):
    """h_t = a_t * h_{t-1} + b_t, one step at a time: the scan's truth."""
    h = torch.zeros_like(b[0]) if h0 is None else h0
    out = []
    for a_t, b_t in zip(a.unbind(0), b.unbind(0), strict=True):
        h = a_t * h + b_t
        out.append(h)
    return torch.stack(out)


def by_hand(cell, x, h0, w):
    """The paper's equations written out with sigmoids, for one layer, x (T, B, D)."""
    H = h0.shape[-1]
    h, out = h0, []
    for x_t in x.unbind(0):
        k = (x_t @ w["weight_ih"].T + w["bias_ih"]).split(H, dim=-1)  # G x (B, H)
        cand = torch.where(k[-1] >= 0, k[-1] + 0.5, torch.sigmoid(k[-1]))
        if cell is MinGRUCell:
            z = torch.sigmoid(k[0])
            h = (1 - z) * h + z * cand
        else:
            f, i = torch.sigmoid(k[0]), torch.sigmoid(k[1])
            h = f / (f + i) * h + i / (f + i) * cand
        out.append(h)
    return torch.stack(out)


def pair(cell, D=3, H=5, dtype=torch.float64, seed=0, scan="parallel", **kw):
    """The same layer twice: the scan (impl auto) and the step loop (impl reference)."""
    torch.manual_seed(seed)
    fast = Recurrent(cell, D, H, dtype=dtype, cell_kwargs={"scan": scan}, **kw)
    ref = Recurrent(cell, D, H, dtype=dtype, impl="reference", **kw)
    ref.load_state_dict(fast.state_dict())
    return fast, ref


def random_state(net, B, dtype=torch.float64):
    return tuple(type(s)(torch.randn_like(s.h)) for s in net.init_state(B, dtype=dtype))


# --- the scan on its own ------------------------------------------------------------------
@pytest.mark.parametrize("chunk, parallel", [(1, True), (4, True), (64, True), (64, False)])
@pytest.mark.parametrize("with_h0", [False, True])
def test_scan_equals_loop(chunk, parallel, with_h0):
    torch.manual_seed(1)
    T, B, H = 37, 2, 3
    a = torch.rand(T, B, H, dtype=torch.float64) * 0.98 + 0.01
    b = torch.rand(T, B, H, dtype=torch.float64) + 1e-3
    h0 = torch.randn(B, H, dtype=torch.float64) if with_h0 else None
    got = solve(a.log(), b.log(), h0, chunk, parallel)
    torch.testing.assert_close(got, loop(a, b, h0), **F64)


def test_scan_gradcheck():
    torch.manual_seed(2)
    T, B, H = 11, 2, 2
    log_a = (-torch.rand(T, B, H, dtype=torch.float64) * 2).requires_grad_()
    log_b = torch.randn(T, B, H, dtype=torch.float64).requires_grad_()
    h0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    for chunk, parallel in ((4, True), (64, True), (64, False)):  # ragged chunks, one, loop
        assert torch.autograd.gradcheck(
            lambda la, lb, h, c=chunk, p=parallel: solve(la, lb, h, c, p),
            (log_a, log_b, h0),
        )


@pytest.mark.parametrize("parallel", [True, False])
def test_scan_long_and_sharp_gates_stay_finite_and_exact(parallel):
    # 2048 steps with gates from almost closed to almost open: A_t underflows to 0 long
    # before the end, so a direct cumprod/cumsum formula would give inf * 0 = NaN.
    torch.manual_seed(3)
    T, B, H = 2048, 2, 4
    k = torch.randn(T, B, H, dtype=torch.float64) * 8
    a = torch.sigmoid(k)
    b = torch.rand(T, B, H, dtype=torch.float64) + 0.1
    h0 = torch.zeros(B, H, dtype=torch.float64, requires_grad=True)
    log_a32 = F.logsigmoid(k).float().requires_grad_()
    got = solve(log_a32, b.log().float(), h0.float(), 64, parallel)
    torch.testing.assert_close(got.double(), loop(a, b), atol=1e-5, rtol=1e-4)
    got.sum().backward()
    assert torch.isfinite(log_a32.grad).all()
    assert float(a.prod(0).min()) == 0.0  # the case the log space is for


def test_scan_rejects_bad_shapes():
    with pytest.raises(ValueError, match="same shape"):
        log_linear_scan(torch.zeros(3, 2), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="chunk"):
        log_linear_scan(torch.zeros(3, 2), torch.zeros(3, 2), chunk=0)
    with pytest.raises(ValueError, match="h0"):
        linear_loop(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3))


# --- the cells ------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
def test_step_is_the_papers_equations(cell):
    torch.manual_seed(4)
    net = Recurrent(cell, 3, 5, impl="reference", dtype=torch.float64)
    x = torch.randn(9, 2, 3, dtype=torch.float64) * 3
    h0 = torch.randn(2, 5, dtype=torch.float64)
    out, _ = net(x, (cell.state_type(h0),))
    torch.testing.assert_close(out, by_hand(cell, x, h0, net.cell_weights(0)), **F64)


@pytest.mark.parametrize("cell", CELLS)
def test_standalone_cell_weights_and_state(cell):
    c = cell(4, 6)
    G = c.num_gates
    assert {n: tuple(p.shape) for n, p in c.named_parameters()} == {
        "weight_ih": (G * 6, 4),
        "bias_ih": (G * 6,),
    }
    assert all(p.abs().max() <= 6**-0.5 for p in c.parameters())  # U(-1/sqrt(H), 1/sqrt(H))
    h, state = c(torch.randn(2, 4))
    assert isinstance(state, (MinGRUState, MinLSTMState)) and state.h is h
    assert [n for n, _ in cell(4, 6, bias=False).named_parameters()] == ["weight_ih"]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("scan", ["parallel", "loop"])
@pytest.mark.parametrize(
    "dtype, tol, kw",
    [
        (torch.float64, F64, {}),
        (torch.float64, F64, {"num_layers": 2, "bidirectional": True}),
        (torch.float32, F32, {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    ],
)
def test_scan_equals_step_loop_outputs_and_gradients(cell, scan, dtype, tol, kw):
    scan, ref = pair(cell, dtype=dtype, scan=scan, **kw)
    torch.manual_seed(5)
    shape = (3, 150, 3) if kw.get("batch_first") else (150, 3, 3)
    x = torch.randn(*shape, dtype=dtype, requires_grad=True)
    s0 = random_state(scan, 3, dtype)  # a carried, non-zero initial state
    results = []
    for net in (scan, ref):
        out, final = net(x, s0)
        (out.square().sum() + sum(s.h.sum() for s in final)).backward()
        results.append((out, final, grads(net, x)))
    assert scan.last_path.name == "cell"
    assert ref.last_path.name == "reference"
    torch.testing.assert_close(results[0][0], results[1][0], **tol)
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(a.h, b.h, **tol)
    assert_close_dicts(results[0][2], results[1][2], **tol)


@pytest.mark.parametrize("cell", CELLS)
def test_zero_initial_state_has_finite_gradients(cell):
    scan, _ = pair(cell, dtype=torch.float32)
    h0 = torch.zeros(2, 5, requires_grad=True)
    out, _ = scan(torch.randn(40, 2, 3), (cell.state_type(h0),))
    out.sum().backward()
    assert torch.isfinite(h0.grad).all() and h0.grad.abs().sum() > 0
    assert all(torch.isfinite(p.grad).all() for p in scan.parameters())


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("scan", ["parallel", "loop"])
def test_long_sequence_float32_matches_float64_loop(cell, scan):
    scan, ref = pair(cell, D=4, H=8, dtype=torch.float32, scan=scan)
    ref = ref.double()
    x = torch.randn(2048, 2, 4) * 4  # sharp gates: many saturate
    out, _ = scan(x)
    expected, _ = ref(x.double())
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.double(), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_changes_nothing(cell, bidirectional):
    kw = {"num_layers": 2, "bidirectional": bidirectional, "batch_first": True}
    scan, ref = pair(cell, **kw)
    torch.manual_seed(6)
    lengths = torch.tensor([7, 3, 1, 5])
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    s0 = random_state(scan, 4)
    out, final = scan(x, s0, lengths=lengths)
    ref_out, ref_final = ref(x, s0, lengths=lengths)
    torch.testing.assert_close(out, ref_out, **F64)
    for b, n in enumerate(lengths.tolist()):
        assert (out[b, n:] == 0).all()  # padded steps: exactly zero
        alone, alone_final = scan(x[b : b + 1, :n], tuple(type(s)(s.h[b : b + 1]) for s in s0))
        torch.testing.assert_close(out[b : b + 1, :n], alone, **F64)
        for s, s_alone, s_ref in zip(final, alone_final, ref_final, strict=True):
            torch.testing.assert_close(s.h[b : b + 1], s_alone.h, **F64)
            torch.testing.assert_close(s.h, s_ref.h, **F64)


@pytest.mark.parametrize("cell", CELLS)
def test_chunked_equals_whole(cell):
    scan, _ = pair(cell, num_layers=2, batch_first=True)
    x = torch.randn(2, 200, 3, dtype=torch.float64)
    whole, whole_final = scan(x)
    first, state = scan(x[:, :77])
    second, final = scan(x[:, 77:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, **F64)
    for a, b in zip(final, whole_final, strict=True):
        torch.testing.assert_close(a.h, b.h, **F64)
    one, _ = scan(x[:, 77:78], state)  # a single step runs the cell's step
    torch.testing.assert_close(one, second[:, :1], **F64)


def test_paths_and_weight_dropout():
    with pytest.raises(ConfigError, match="impl='fused'"):
        Recurrent(MinGRUCell, 3, 4, impl="fused")(torch.randn(5, 1, 3))
    with pytest.raises(ConfigError, match="scan: expected one of"):
        MinGRUCell(3, 4, scan="fast")
    net = Recurrent(MinGRUCell, 3, 4)
    net(torch.randn(5, 1, 3))
    assert net.last_path.reason == (
        "parallel log-space scan over time (on CPU the recurrence ste"
        "p by step: native kernels or a multiply-add loop)"
    )
    # No hidden-to-hidden matrix: DropConnect on it would silently do nothing, so refuse.
    with pytest.raises(ConfigError, match="weight_dropout: MinLSTMCell has no hidden-to-hidden"):
        Recurrent(MinLSTMCell, 3, 4, weight_dropout=0.5)
    assert cell_class("mingru") is MinGRUCell and cell_class("minlstm") is MinLSTMCell


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_tiny_language_model_overfits(name):
    # "aab" repeated: after an "a" the next letter depends on the one before, so a
    # model without memory cannot go below (2/3) ln 2 ~ 0.46 nats per letter.
    from rnnkit.models.language_model import LanguageModel, LanguageModelConfig

    torch.manual_seed(7)
    config = LanguageModelConfig(
        vocab_size=2, cell=name, num_layers=1, hidden_size=16, embedding_size=4
    )
    model = LanguageModel(config)
    ids = torch.tensor([[0, 0, 1] * 10, [0, 1, 0] * 10])
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    for _ in range(150):
        logits, _ = model(ids[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


def _lm(cell):
    from rnnkit.models.language_model import LanguageModel, LanguageModelConfig

    model = LanguageModel(
        LanguageModelConfig(vocab_size=7, cell=cell, num_layers=2, hidden_size=8, embedding_size=4)
    )
    tokens = torch.randint(7, (3, 12))
    logits, state = model(tokens)
    step_logits, _ = model.step(tokens[:, -1], state)  # generation: one token at a time
    return model, logits.sum() + step_logits.sum()


def _classifier(cell):
    from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier

    config = ClassifierConfig(
        num_classes=3, input_size=2, cell=cell, hidden_size=8, bidirectional=True,
        num_layers=2, pooling="attention",
    )  # fmt: skip
    model = SequenceClassifier(config)
    logits = model(torch.randn(4, 9, 2), lengths=torch.tensor([9, 2, 5, 1]))
    return model, model.loss(logits, torch.tensor([0, 1, 2, 0]))


def _forecaster(cell):
    from rnnkit.models.forecaster import Forecaster, ForecasterConfig

    model = Forecaster(ForecasterConfig(input_size=2, forecast_steps=3, cell=cell, hidden_size=8))
    params, _ = model(torch.randn(4, 20, 2))
    return model, model.loss(params, torch.randn(4, 20, 3))


def _seq2seq(cell):
    from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig

    config = Seq2SeqConfig(
        source_vocab_size=9, target_vocab_size=8, embedding_size=6, cell=cell, hidden_size=8,
        bidirectional=True, attention="general", input_feeding=True,
    )  # fmt: skip
    model = Seq2Seq(config)
    source = torch.randint(1, 9, (3, 7))
    target = torch.randint(1, 8, (3, 5))
    logits = model(source, torch.tensor([7, 4, 2]), target)  # input feeding: step by step
    return model, model.loss(logits, target)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
@pytest.mark.parametrize("build", [_lm, _classifier, _forecaster, _seq2seq])
def test_every_model_builds_and_backprops(build, cell):
    torch.manual_seed(8)
    model, loss = build(cell)
    loss.backward()
    recurrent = {n: p for n, p in model.named_parameters() if "weight_ih_l" in n}
    assert recurrent and not any("weight_hh" in n for n, _ in model.named_parameters())
    for name, p in recurrent.items():
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_cli_trains_a_language_model_with_mingru(tmp_path, capsys):
    from rnnkit.cli.main import main

    text = tmp_path / "text.txt"
    text.write_text("the cat sat on the mat. " * 40, encoding="utf-8")
    small = ["--layers", "1", "--hidden", "16", "--batch-size", "4", "--seq-len", "16"]
    small += ["--steps", "5", "--no-progress"]
    out = tmp_path / "run"
    assert main(["train", "lm", str(text), "--out", str(out), "--cell", "mingru", *small]) == 0
    assert '"mingru"' in (out / "config.json").read_text()
    capsys.readouterr()
    bad = ["train", "lm", str(text), "--out", str(tmp_path / "bad"), "--cell", "minlstm"]
    assert main([*bad, "--weight-dropout", "0.3", *small]) != 0
    err = capsys.readouterr().err
    assert err.startswith("rnnkit: error: --weight-dropout needs a recurrent matrix")
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("cell", CELLS)
def test_cpu_autocast_runs_the_native_pass_in_float32(cell, monkeypatch):
    """Under CPU bf16 autocast the projection runs in bf16 and the recurrence takes the
    native pass in float32 (1.5x the bf16 torch-op loop): the output is float32, close
    to the fp32 run (to bf16's rounding of the projection), zero at padded steps."""
    from rnnkit.nn import native, native_loop

    if native.kernels() is None:
        pytest.skip(f"native kernels unavailable: {native.status()}")
    calls = []
    apply = native_loop.MinLoop.apply
    monkeypatch.setattr(
        native_loop.MinLoop, "apply", lambda *a: calls.append(a[0].dtype) or apply(*a)
    )
    torch.manual_seed(0)
    net = Recurrent(cell, 6, 16, 2, batch_first=True)
    x = torch.randn(3, 40, 6)
    lengths = torch.tensor([40, 25, 9])
    full, _ = net(x, lengths=lengths)
    assert calls == [torch.float32] * 2
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, final = net(x, lengths=lengths)
    assert calls[2:] == [torch.float32] * 2  # the native pass, in float32, both layers
    assert out.dtype == torch.float32 and final[-1].h.dtype == torch.float32
    torch.testing.assert_close(out, full, atol=3e-2, rtol=3e-2)
    assert (out[1, 25:] == 0).all() and (out[2, 9:] == 0).all()
    out.square().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
