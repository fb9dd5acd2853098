"""`rnnkit export`: the ONNX file run in onnxruntime and the TorchScript file run in
torch.jit give PyTorch's own scores and states, for every cell in the registry; bad
requests are one-line errors that write nothing."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch
from cli_helpers import run_cli

from rnnkit.cli.main import main
from rnnkit.data import Vocab
from rnnkit.errors import ConfigError
from rnnkit.export import LMStep, export_run
from rnnkit.export.formats import export
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.nn import GRUCell
from rnnkit.nn.registry import CELLS
from rnnkit.runs import load_run, train_run

onnxruntime = pytest.importorskip("onnxruntime", reason="needs the export extra")

TEXT = "the cat sat on the mat. the dog sat on the log. " * 20
TOL = 1e-5
#: Every registered cell with 2 stacked layers; plus one-hot input (no embedding) with
#: zoneout, whose evaluation-time average the exported step must apply too.
CASES = [(cell, {}) for cell in CELLS]
CASES += [("lstm", {"embedding_size": 0, "num_layers": 1, "zoneout": 0.25})]
#: torch 2.13 deprecates torch.jit (TorchScript); loading the file is what this test is about.
JIT_LOAD = "ignore:`torch.jit.load` is deprecated:DeprecationWarning"


def tiny_lm_run(run_dir, cell: str, **model) -> None:
    settings = {"cell": cell, "num_layers": 2, "hidden_size": 12, "embedding_size": 6} | model
    train = {"max_steps": 3, "eval_every": 3, "checkpoint_every": 3, "progress": False}
    data = {"batch_size": 4, "seq_len": 16}
    train_run("lm", run_dir, raw=TEXT, data=data, model=settings, train=train)


@pytest.fixture(scope="module", params=CASES, ids=[f"{c}-{'-'.join(m)}" for c, m in CASES])
def exported(request, tmp_path_factory):
    """A tiny run of the case's cell, exported to both formats."""
    cell, model = request.param
    run_dir = tmp_path_factory.mktemp("runs") / cell
    tiny_lm_run(run_dir, cell, **model)
    for fmt in ("onnx", "torchscript"):
        export_run(run_dir, fmt)
    return run_dir


def random_inputs(run, batch_size=5, steps=6):
    """Tokens (B, T) and a random start state, one (L, B, H) tensor per state field."""
    gen = torch.Generator().manual_seed(7)
    V = run.spec.model.vocab_size
    tokens = torch.randint(0, V, (batch_size, steps), generator=gen)
    manifest = json.loads((run.run_dir / "export" / "onnx" / "export.json").read_text())
    state = [
        0.5 * torch.randn(field["shape"][0], batch_size, field["shape"][2], generator=gen)
        for field in manifest["state"]
    ]
    return tokens, state, [field["name"] for field in manifest["state"]]


def pytorch_truth(model, tokens, state):
    """The library's own answers: ``model.step`` token by token, and ``model(tokens)``."""
    with torch.no_grad():
        carried, per_step = tuple(state), []
        for token in tokens.unbind(1):
            logits, carried = model.step(token, carried)
            per_step.append(logits)
        step_state = [torch.stack(f) for f in zip(*carried, strict=True)]
        seq_logits, seq_state = model(tokens, tuple(state))
        seq_state = [torch.stack(f) for f in zip(*seq_state, strict=True)]
    return (torch.stack(per_step, 1), step_state), (seq_logits, seq_state)


def assert_close(got, want):
    (got_logits, got_state), (want_logits, want_state) = got, want
    torch.testing.assert_close(got_logits, want_logits, atol=TOL, rtol=TOL)
    assert len(got_state) == len(want_state)
    for a, b in zip(got_state, want_state, strict=True):
        torch.testing.assert_close(a, b, atol=TOL, rtol=TOL)


def test_onnx_runs_in_onnxruntime_like_pytorch(exported):
    run = load_run(exported)
    tokens, state, names = random_inputs(run)
    step_truth, seq_truth = pytorch_truth(run.model, tokens, state)
    folder = exported / "export" / "onnx"
    step = onnxruntime.InferenceSession(str(folder / "step.onnx"))
    sequence = onnxruntime.InferenceSession(str(folder / "sequence.onnx"))
    assert [i.name for i in step.get_inputs()] == ["token", *names]
    carried, per_step = [s.numpy() for s in state], []
    for token in tokens.unbind(1):  # several steps, the state carried between them
        logits, *carried = step.run(
            None, {"token": token.numpy(), **dict(zip(names, carried, strict=True))}
        )
        per_step.append(torch.from_numpy(logits))
    assert_close((torch.stack(per_step, 1), [torch.from_numpy(c) for c in carried]), step_truth)
    feeds = {"tokens": tokens.numpy(), **{n: s.numpy() for n, s in zip(names, state, strict=True)}}
    logits, *final = sequence.run(None, feeds)
    assert_close((torch.from_numpy(logits), [torch.from_numpy(f) for f in final]), seq_truth)


@pytest.mark.filterwarnings(JIT_LOAD)
def test_torchscript_runs_in_torch_jit_like_pytorch(exported):
    run = load_run(exported)
    tokens, state, _ = random_inputs(run)
    step_truth, seq_truth = pytorch_truth(run.model, tokens, state)
    folder = exported / "export" / "torchscript"
    step = torch.jit.load(str(folder / "step.pt"))
    sequence = torch.jit.load(str(folder / "sequence.pt"))
    with torch.no_grad():
        carried, per_step = state, []
        for token in tokens.unbind(1):
            logits, carried = step(token, carried)
            per_step.append(logits)
        assert_close((torch.stack(per_step, 1), carried), step_truth)
        assert_close(sequence(tokens, state), seq_truth)


def test_vocabulary_and_manifest_beside_the_models(exported):
    run = load_run(exported)
    for fmt, suffix in (("onnx", "onnx"), ("torchscript", "pt")):
        folder = exported / "export" / fmt
        assert Vocab.load(folder / "vocab.json") == run.artifacts["vocab"]
        manifest = json.loads((folder / "export.json").read_text())
        assert manifest["files"]["step"] == f"step.{suffix}"
        assert manifest["model"]["cell"] == run.spec.model.cell
        assert manifest["model"]["vocab_size"] == len(run.artifacts["vocab"])
        assert sorted(p.name for p in folder.iterdir()) == sorted(manifest["files"].values())


class BranchyGRUCell(GRUCell):
    """A GRU that branches in Python on its state's values: no trace can capture that."""

    def step(self, gx, state, w):
        h, new = super().step(gx, state, w)
        if bool((state.h > 0).all()):
            return -h, type(new)(-h)
        return h, new


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_a_cell_that_cannot_be_exported_is_named(fmt, monkeypatch):
    monkeypatch.setitem(CELLS, "branchy", BranchyGRUCell)
    model = LanguageModel(LanguageModelConfig(vocab_size=7, cell="branchy", hidden_size=4))
    step = LMStep(model)
    with pytest.raises(ConfigError, match=f"(?i)the 'branchy' cell cannot be exported to {fmt}"):
        export(step, fmt, "branchy")


# --- the command line ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def gru_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cli") / "gru"
    tiny_lm_run(run_dir, "gru", num_layers=1)
    return run_dir


def export_json(run_dir, fmt: str, out, capsys) -> dict:
    """`rnnkit export RUN --format FMT --out OUT --json`, which must succeed: its record."""
    code, stdout, _ = run_cli(["export", run_dir, "--format", fmt, "--out", out, "--json"], capsys)
    assert code == 0
    return json.loads(stdout)


def test_cli_json_lists_the_files_written(gru_run, tmp_path, capsys):
    out = tmp_path / "deploy"
    record = export_json(gru_run, "torchscript", out, capsys)
    assert record["out"] == str(out)
    assert sorted(record["files"]) == ["manifest", "sequence", "step", "vocab"]
    assert all(Path(path).parent == out for path in record["files"].values())
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["step.pt", "sequence.pt", "vocab.json", "export.json"]
    )
    assert record["state"] == [{"name": "h", "shape": [1, "batch", 12]}]


def python_snippets() -> list[str]:
    guide = (Path(__file__).parents[2] / "docs" / "deployment.md").read_text()
    return re.findall(r"```python\n(.*?)```", guide, re.S)


@pytest.mark.filterwarnings(JIT_LOAD)
def test_the_deployment_guide_snippets_run(gru_run, tmp_path, capsys):
    snippets = [s for s in python_snippets() if "runs/shakespeare" in s]
    assert len(snippets) == 2
    for snippet, fmt in zip(snippets, ("onnx", "torchscript"), strict=True):
        export_run(gru_run, fmt, tmp_path / fmt)
        assert f'Path("runs/shakespeare/export/{fmt}")' in snippet
        code = snippet.replace(f'"runs/shakespeare/export/{fmt}"', repr(str(tmp_path / fmt)))
        exec(compile(code.replace('"ROMEO:"', '"the "'), f"deployment.md ({fmt})", "exec"), {})
        text = capsys.readouterr().out.rstrip("\n")
        assert len(text) == 200 and set(text) <= set(TEXT)  # 200 sampled characters


def one_line_error(code, stdout, stderr, *phrases):
    assert code == 2 and stdout == ""
    assert stderr.count("\n") == 1, stderr
    for phrase in phrases:
        assert phrase in stderr


def test_cli_refuses_a_missing_run_and_an_unknown_format(gru_run, tmp_path, capsys):
    missing = tmp_path / "nope"
    one_line_error(
        *run_cli(["export", missing, "--format", "onnx"], capsys), "nope", "does not exist"
    )
    assert not missing.exists()
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["export", gru_run, "--format", "tflite"], capsys)
    assert exit_info.value.code == 2
    assert "invalid choice: 'tflite'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="expected one of onnx, torchscript"):
        export_run(gru_run, "tflite")
    assert not (gru_run / "export").exists()


@pytest.fixture(scope="module")
def classify_run(tmp_path_factory):
    """A bidirectional LSTM text classifier with attention pooling."""
    folder = tmp_path_factory.mktemp("classify")
    rows = ["text,label"] + ["a great film,pos", "a dull film,neg", "fine and great,pos"] * 6
    (folder / "reviews.csv").write_text("\n".join(rows) + "\n")
    run_dir = folder / "run"
    flags = ["--steps", "3", "--no-progress", "--hidden", "8"]
    flags += ["--pooling", "attention", "--val-fraction", "0"]
    assert (
        main(["train", "classify", str(folder / "reviews.csv"), "--out", str(run_dir), *flags]) == 0
    )
    return run_dir


def test_classifier_onnx_runs_in_onnxruntime_like_pytorch(classify_run, tmp_path, capsys):
    out = tmp_path / "deploy"
    record = export_json(classify_run, "onnx", out, capsys)
    assert sorted(record["files"]) == ["artifacts", "manifest", "sequence"]
    run = load_run(classify_run)
    artifacts = json.loads((out / "artifacts.json").read_text())
    assert artifacts["labels"] == list(run.artifacts["labels"]) == ["neg", "pos"]
    gen = torch.Generator().manual_seed(3)
    x = torch.randint(1, run.spec.model.vocab_size, (4, 9), generator=gen)
    lengths = torch.tensor([9, 1, 5, 7])
    x[1, 1:] = 0  # padding
    session = onnxruntime.InferenceSession(str(out / "sequence.onnx"))
    got = session.run(None, {"x": x.numpy(), "lengths": lengths.numpy()})[0]
    with torch.no_grad():
        want = run.model(x, lengths)
    torch.testing.assert_close(torch.from_numpy(got), want, atol=TOL, rtol=TOL)


def test_numeric_classifier_onnx_runs_in_onnxruntime_like_pytorch(tmp_path, capsys):
    """A one-way minGRU on one value per step, mean pooling, NaN in the padding."""
    lines = [
        f"{'up' if i % 2 else 'down'}," + ",".join(["0.1", "0.5"] * (2 + i % 3)) for i in range(24)
    ]
    (tmp_path / "series.csv").write_text("\n".join(lines) + "\n")
    flags = ["--steps", "3", "--no-progress", "--hidden", "8", "--no-bidirectional"]
    flags += ["--cell", "mingru", "--pooling", "mean", "--out", tmp_path / "run"]
    assert run_cli(["train", "classify", tmp_path / "series.csv", *flags], capsys)[0] == 0
    result = export_run(tmp_path / "run", "onnx")
    assert result.manifest["shapes"]["x"] == ["batch", "time", 1]
    run = load_run(tmp_path / "run")
    x = torch.randn(3, 6, 1, generator=torch.Generator().manual_seed(4))
    lengths = torch.tensor([6, 2, 4])
    x[1, 2:] = float("nan")  # padding, never read
    session = onnxruntime.InferenceSession(str(result.files["sequence"]))
    got = session.run(None, {"x": x.numpy(), "lengths": lengths.numpy()})[0]
    with torch.no_grad():
        want = run.model(x, lengths)
    assert torch.isfinite(want).all()
    torch.testing.assert_close(torch.from_numpy(got), want, atol=TOL, rtol=TOL)
    (snippet,) = [s for s in python_snippets() if "runs/series" in s]  # the guide's example
    folder = repr(str(result.out_dir))
    exec(compile(snippet.replace('"runs/series/export/onnx"', folder), "guide", "exec"), {})
    assert set(ast.literal_eval(capsys.readouterr().out)) <= {"up", "down"}


def test_cli_refuses_a_classifier_in_torchscript(classify_run, capsys):
    one_line_error(
        *run_cli(["export", classify_run, "--format", "torchscript"], capsys),
        "a classifier exports to onnx only",
    )
    assert not (classify_run / "export" / "torchscript").exists()


def test_cli_refuses_a_run_of_another_task(tmp_path, capsys):
    rows = "".join(f"{i},{(i % 7) / 7}\n" for i in range(120))
    (tmp_path / "series.csv").write_text("t,y\n" + rows)
    run_dir = tmp_path / "forecast"
    flags = ["--target", "y", "--time-col", "t", "--horizon", "2", "--steps", "2"]
    flags += ["--hidden", "8", "--no-progress", "--out", run_dir]
    assert run_cli(["train", "forecast", tmp_path / "series.csv", *flags], capsys)[0] == 0
    one_line_error(
        *run_cli(["export", run_dir, "--format", "onnx"], capsys),
        "'forecast' run",
        "rnnkit train lm",
    )
    assert not (run_dir / "export").exists()


def test_cli_never_overwrites_an_export(gru_run, tmp_path, capsys):
    out = tmp_path / "deploy"
    assert run_cli(["export", gru_run, "--format", "onnx", "--out", out], capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    one_line_error(
        *run_cli(["export", gru_run, "--format", "onnx", "--out", out], capsys),
        "step.onnx already exists",
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    a_file = out / "step.onnx"
    one_line_error(
        *run_cli(["export", gru_run, "--format", "onnx", "--out", a_file], capsys), "is a file"
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    run_files = sorted(p.name for p in Path(gru_run).iterdir())
    one_line_error(
        *run_cli(["export", gru_run, "--format", "torchscript", "--out", gru_run], capsys),
        "holds a training run",
    )
    assert sorted(p.name for p in Path(gru_run).iterdir()) == run_files


def test_cli_names_the_fix_when_a_package_is_missing(gru_run, tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "onnxruntime" else real(name, *args),
    )
    out = tmp_path / "deploy"
    one_line_error(
        *run_cli(["export", gru_run, "--format", "onnx", "--out", out], capsys),
        "onnxruntime",
        "pip install 'rnnkit[export]'",
    )
    assert not out.exists()
