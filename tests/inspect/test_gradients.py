"""Gradient flow through time: hand-computed norms, vanishing vs gated cells, exploding
and clipping, trained language-model runs, and `rnnkit inspect gradients`."""

from __future__ import annotations

import csv
import json
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from rnnkit.cli.main import main
from rnnkit.errors import ConfigError
from rnnkit.inspect.gradients import (
    FreshCells,
    GradientConfig,
    compare_cells,
    gradient_flow,
    lm_gradient_flow,
)
from rnnkit.nn import Recurrent, RNNCell
from rnnkit.runs import load_run, train_run

TEXT = "the cat sat on the mat. the dog sat on the log. " * 20

# A 1-unit tanh RNN with fixed weights, and its inputs x_1..x_5.
W_IH, W_HH, B_IH, B_HH = 0.7, 0.9, 0.1, -0.05
XS = [0.5, -1.0, 0.3, 0.8, -0.2]


def one_unit_rnn() -> Recurrent:
    net = Recurrent(RNNCell, 1, 1, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        net.weight_ih_l0.fill_(W_IH)
        net.weight_hh_l0.fill_(W_HH)
        net.bias_ih_l0.fill_(B_IH)
        net.bias_hh_l0.fill_(B_HH)
    return net


def test_one_unit_rnn_matches_the_hand_computed_chain_rule():
    # Forward by hand: h_t = tanh(w_ih x_t + b_ih + w_hh h_{t-1} + b_hh), h_0 = 0.
    hs, h = [], 0.0
    for x in XS:
        h = math.tanh(W_IH * x + B_IH + W_HH * h + B_HH)
        hs.append(h)
    T = len(XS)
    # L = h_T, so dL/dh_T = 1 and dL/dh_t = prod_{k=t+1..T} w_hh (1 - h_k^2).
    dh = [math.prod(W_HH * (1 - hs[k] ** 2) for k in range(t + 1, T)) for t in range(T)]
    delta = [dh[t] * (1 - hs[t] ** 2) for t in range(T)]  # dL/d(pre-activation at t)
    dx = [abs(d * W_IH) for d in delta]
    h_prev = [0.0, *hs[:-1]]
    g_ih = sum(d * x for d, x in zip(delta, XS, strict=True))
    g_hh = sum(d * hp for d, hp in zip(delta, h_prev, strict=True))
    g_b = sum(delta)  # the same for b_ih and b_hh
    grad_norm = math.sqrt(g_ih**2 + g_hh**2 + 2 * g_b**2)

    x = torch.tensor(XS, dtype=torch.float64).reshape(1, T, 1)
    flow = gradient_flow(one_unit_rnn(), x, name="rnn", clip=0.05, threshold=10.0)

    assert flow.dh[0] == pytest.approx([abs(v) for v in dh], rel=1e-12)
    assert flow.dx == pytest.approx(dx, rel=1e-12)
    assert flow.grad_norm == pytest.approx(grad_norm, rel=1e-12)
    assert flow.growth == pytest.approx(abs(dh[0]), rel=1e-12)
    assert not flow.exploding
    assert flow.columns().keys() == {"rnn_dh", "rnn_dx"}

    # The clipped norm is what torch's clip_grad_norm_ leaves after a plain backward
    # through the layer's own forward.
    net = one_unit_rnn()
    output, _ = net(x)
    output[:, -1].sum().backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 0.05)
    after = math.sqrt(sum(float(p.grad.norm()) ** 2 for p in net.parameters()))
    assert grad_norm > 0.05
    assert flow.clipped_norm == pytest.approx(after, rel=1e-9)


def test_lstm_keeps_more_gradient_at_step_one_than_a_tanh_rnn():
    for seed in (0, 1):
        config = GradientConfig(length=50, batch_size=8, seed=seed)
        report = compare_cells(FreshCells(cells=("rnn", "lstm")), config)
        rnn, lstm = report.flows
        # Same loss, same gradient at the last step: ones over H = 32 units.
        assert rnn.dh[0][-1] == pytest.approx(math.sqrt(32), rel=1e-6)
        assert lstm.dh[0][-1] == pytest.approx(math.sqrt(32), rel=1e-6)
        assert lstm.dh[0][0] > 1e3 * rnn.dh[0][0]
        assert rnn.growth < 1e-6 and not rnn.exploding and not lstm.exploding


def test_large_recurrent_weights_explode_and_clipping_caps_the_norm():
    config = GradientConfig(length=50, batch_size=8, clip=0.5)
    tame = compare_cells(FreshCells(cells=("rnn",), nonlinearity="relu"), config).flows[0]
    wild = compare_cells(
        FreshCells(cells=("rnn",), nonlinearity="relu", recurrent_scale=3.0), config
    ).flows[0]
    assert not tame.exploding and tame.growth < 1.0
    assert wild.exploding and wild.growth > 100.0
    assert wild.grad_norm > 100.0
    assert wild.clipped_norm == pytest.approx(0.5, rel=1e-5)

    blown = compare_cells(
        FreshCells(cells=("rnn",), nonlinearity="relu", recurrent_scale=100.0), config
    )
    assert blown.flows[0].exploding
    assert not math.isfinite(blown.flows[0].dh[0][0])
    data = blown.to_dict()  # strict JSON: non-finite numbers become null
    json.dumps(data, allow_nan=False)
    assert data["columns"]["rnn_dh"][0] is None


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError) as err:
        GradientConfig(length=0)
    assert err.value.field == "length"
    with pytest.raises(ConfigError) as err:
        FreshCells(cells=("rnn", "transformer"))
    assert err.value.field == "cells"


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "lm"
    model = {"cell": "gru", "num_layers": 2, "hidden_size": 12, "embedding_size": 6}
    train = {"lr": 1e-2, "max_steps": 2, "eval_every": 2, "checkpoint_every": 2}
    data = {"batch_size": 2, "seq_len": 8, "max_eval_tokens": 64}
    train_run("lm", run_dir, raw=TEXT, data=data, model=model, train=train | {"progress": False})
    return run_dir


def test_lm_run_flow_per_layer_matches_the_models_own_forward(lm_run):
    run = load_run(lm_run)
    config = GradientConfig(length=12, batch_size=3, seed=5)
    report = lm_gradient_flow(run, config)
    (flow,) = report.flows
    assert list(report.columns()) == ["gru_dh_l0", "gru_dh_l1", "gru_dx"]
    assert len(flow.dh) == 2 and all(len(g) == 12 for g in flow.dh)

    # dL/d(embedding) through the model's own (fused) forward, for the same tokens.
    generator = torch.Generator().manual_seed(5)
    tokens = torch.randint(run.model.config.vocab_size, (3, 13), generator=generator)
    e = run.model.embed(tokens[:, :12]).detach().requires_grad_()
    h, _ = run.model.rnn(e)
    loss = F.cross_entropy(run.model.project(h[:, -1]), tokens[:, 12], reduction="sum")
    (grad,) = torch.autograd.grad(loss, [e])
    expected = grad.norm(dim=-1).mean(dim=0)  # (T,)
    assert flow.dx == pytest.approx(expected.tolist(), rel=1e-4, abs=1e-9)

    text_report = lm_gradient_flow(run, config, text=TEXT)
    assert text_report.to_dict()["batch_size"] == 1
    with pytest.raises(ConfigError) as err:
        lm_gradient_flow(run, GradientConfig(length=len(TEXT)), text=TEXT)
    assert err.value.field == "length"
    with pytest.raises(ConfigError):
        lm_gradient_flow(SimpleNamespace(task="forecast", run_dir="x"), config)


def cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_fresh_cells_write_csv_png_and_print_json(tmp_path, capsys):
    csv_path, png_path = tmp_path / "flow.csv", tmp_path / "flow.png"
    args = ["inspect", "gradients", "--cells", "rnn", "gru", "--length", "12", "--hidden", "8"]
    code, out, err = cli([*args, "--csv", csv_path, "--png", png_path, "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert [n["name"] for n in report["networks"]] == ["rnn", "gru"]
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["step", "rnn_dh", "rnn_dx", "gru_dh", "gru_dx"]
    assert [int(r["step"]) for r in rows] == list(range(1, 13))
    assert [float(r["gru_dh"]) for r in rows] == report["columns"]["gru_dh"]
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    code, out, _ = cli(args, capsys)
    assert code == 0
    assert "rnn_dh" in out and "exploding" in out


def test_cli_lm_run(lm_run, tmp_path, capsys):
    text = tmp_path / "cats.txt"
    text.write_text(TEXT.strip(), encoding="utf-8")
    code, out, err = cli(["inspect", "gradients", lm_run, "--length", "8", "--json"], capsys)
    assert code == 0, err
    assert list(json.loads(out)["columns"]) == ["gru_dh_l0", "gru_dh_l1", "gru_dx"]
    code, out, err = cli(["inspect", "gradients", lm_run, "--text", text, "--length", "8"], capsys)
    assert code == 0, err
    assert "gru_dh_l1" in out


BAD = [
    (["--length", "0"], "--length"),
    (["--cells", "rnn", "transformer"], "--cells"),
    (["--hidden", "0"], "--hidden"),
    (["--clip", "-1"], "--clip"),
    (["--nonlinearity", "sigmoid"], "--nonlinearity"),
    (["--text", "cats.txt"], "--text"),
    (["--csv", "missing/flow.csv"], "--csv"),
    (["--png", "."], "--png"),
    (["RUN", "--cells", "lstm"], "--cells"),
    (["RUN", "--length", "5000", "--text", "cats.txt"], "--length"),
    (["NOT_A_RUN"], "not a run directory"),
    (["FORECAST_RUN"], "RUN"),
]


@pytest.mark.parametrize(("args", "named"), BAD)
def test_cli_bad_input_is_one_line_naming_the_flag_and_writes_nothing(
    args, named, lm_run, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cats.txt").write_text(TEXT.strip(), encoding="utf-8")
    (tmp_path / "NOT_A_RUN").mkdir()
    if "FORECAST_RUN" in args:  # a loaded run of another task
        forecast_run = SimpleNamespace(task="forecast", run_dir="FORECAST_RUN")
        monkeypatch.setattr("rnnkit.runs.load_run", lambda path: forecast_run)
    args = [str(lm_run) if a == "RUN" else a for a in args]
    outputs = ["--csv", "out.csv", "--png", "out.png"]
    if "--csv" in args or "--png" in args:
        outputs = []
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = cli(["inspect", "gradients", *args, *outputs], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("rnnkit: error: ")
    assert named in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
