"""The activation viewer: layer outputs, next-character guesses, feature correlations,
a self-contained page that escapes its text, and one-line errors that write nothing."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.inspect.activations import (
    FEATURES,
    correlate,
    render_page,
    strongest_neurons,
    text_features,
    trace_activations,
)
from rnnkit.runs import load_run, train_run

CHAR_TEXT = 'she said "hi <b>&</b>" (then [left]).\nhe said "no" (twice)!\n' * 30
WORDS = "the cat sat on the mat . the dog sat on the log . " * 20
SHOWN = 'he said "no <b>&</b>" (then [twice]).\nshe left!\n'


def tiny_lm(run_dir, text, level, steps=30, **model):
    model = {"cell": "lstm", "num_layers": 1, "hidden_size": 16, "embedding_size": 8} | model
    data = {"level": level, "batch_size": 4, "seq_len": 20 if level == "char" else 10}
    train = {"lr": 1e-2, "max_steps": steps, "eval_every": steps, "progress": False}
    train_run("lm", run_dir, raw=text, data=data, model=model, train=train)
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    classify_csv = root / "reviews.csv"
    with open(classify_csv, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(
            [("text", "label")] + [("a good film", "pos"), ("a bad film", "neg")] * 4
        )
    args = ["train", "classify", classify_csv, "--out", root / "classify", "--steps", "1"]
    assert main([str(a) for a in [*args, "--val-fraction", "0", "--no-progress"]]) == 0
    return {
        "char": tiny_lm(root / "char", CHAR_TEXT, "char", num_layers=2),
        "word": tiny_lm(root / "word", WORDS, "word", steps=2),  # only refused
        "classify": root / "classify",
    }


@pytest.fixture(scope="module")
def char_run(runs):
    return load_run(runs["char"])


def embedded_data(page: str) -> dict:
    found = re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(found.group(1))


def torch_nn_layers(model, ids) -> list[np.ndarray]:
    """Each layer's outputs from torch.nn.LSTM run over the whole text at once, one layer
    at a time with that layer's weights: independent of rnnkit's step-by-step loop."""
    rnn = model.rnn
    x = model.embed(torch.tensor([ids]))  # (1, T, E)
    outputs = []
    for layer in range(rnn.num_layers):
        reference = torch.nn.LSTM(x.shape[-1], rnn.hidden_size, batch_first=True)
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        reference.load_state_dict({f"{n}_l0": getattr(rnn, f"{n}_l{layer}") for n in names})
        x, _ = reference(x)  # (1, T, H)
        outputs.append(x[0].detach().numpy())
    return outputs


def test_the_trace_holds_every_layers_outputs_and_the_page_embeds_them(char_run):
    trace = trace_activations(char_run, SHOWN)
    ids = char_run.artifacts["vocab"].encode(list(SHOWN))
    expected = torch_nn_layers(char_run.model, ids)
    assert trace.tokens == list(SHOWN) and len(trace.layers) == 2
    for got, want in zip(trace.layers, expected, strict=True):
        assert got.shape == (len(SHOWN), 16)
        np.testing.assert_allclose(got, want, atol=1e-5)
        assert np.abs(want).max() > 0.1  # real signal, not a zero state compared with zeros
    data = embedded_data(render_page(trace))
    for layer, want in enumerate(expected):
        embedded = np.array(data["activations"][layer]).T / data["scale"]  # (T, H)
        assert np.abs(embedded - want).max() <= 5e-4 + 1e-6  # rounded to 3 decimals


def test_the_guesses_are_the_softmax_top_five_of_the_logits(char_run):
    trace = trace_activations(char_run, SHOWN)
    ids = char_run.artifacts["vocab"].encode(list(SHOWN))
    with torch.no_grad():
        logits, _ = char_run.model(torch.tensor([ids]))  # (1, T, V): the whole text at once
    top = torch.topk(torch.softmax(logits[0], dim=-1), 5, dim=-1)
    np.testing.assert_array_equal(trace.top_ids, top.indices.numpy())
    np.testing.assert_allclose(trace.top_probs, top.values.numpy(), atol=1e-5)
    assert len(set(trace.top_ids[:, 0].tolist())) > 1  # the guesses follow the text
    data = embedded_data(render_page(trace))
    assert data["top_ids"] == top.indices.tolist()
    probs = np.array(data["top_probs"]) / data["scale"]
    assert np.abs(probs - top.values.numpy()).max() <= 5e-4 + 1e-6


def test_features_of_a_hand_made_text():
    features = text_features(list('a "b (c)" d\nxy'))
    assert tuple(features) == FEATURES
    np.testing.assert_array_equal(
        features["inside quotes"], [0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    )
    np.testing.assert_array_equal(
        features["inside brackets"], [0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    )
    np.testing.assert_array_equal(
        features["position in line"], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2]
    )
    np.testing.assert_array_equal(
        features["start of a word"], [1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0]
    )


def test_correlations_equal_numpys_corrcoef(char_run):
    trace = trace_activations(char_run, SHOWN * 2)
    activations = trace.layers[1]
    made_up = (np.arange(len(trace.tokens)) % 7 < 3).astype(float)
    r = correlate(activations, made_up)
    for neuron in range(activations.shape[1]):
        want = np.corrcoef(activations[:, neuron].astype(np.float64), made_up)[0, 1]
        assert r[neuron] == pytest.approx(want, abs=1e-9)
    assert np.isnan(correlate(activations, np.ones(len(made_up)))).all()  # r undefined
    strongest = strongest_neurons(trace, {"made up": made_up}, top=3)["made up"]
    everything = [abs(correlate(a, made_up)) for a in trace.layers]
    best = sorted((v for values in everything for v in values), reverse=True)[:3]
    assert [abs(r) for _, _, r in strongest] == pytest.approx(best, abs=1e-12)
    layer, neuron, value = strongest[0]
    assert value == pytest.approx(correlate(trace.layers[layer], made_up)[neuron], abs=1e-12)


def test_the_page_lists_the_strongest_neurons_per_feature(char_run):
    trace = trace_activations(char_run, SHOWN)
    data = embedded_data(render_page(trace, layer=0, neuron=3))
    assert (data["layer"], data["neuron"]) == (0, 3)
    features = text_features(trace.tokens)
    for name in FEATURES:
        listed = data["features"][name]
        assert len(listed) == 10
        first = listed[0]
        want = correlate(trace.layers[first["layer"]], features[name])[first["neuron"]]
        assert first["r"] == pytest.approx(want, abs=5e-4)


def test_the_page_is_self_contained_and_escapes_the_text(char_run):
    trace = trace_activations(char_run, SHOWN)
    page = render_page(trace)
    for reference in ("http", "<script src", "<link", "@import", "url("):
        assert reference not in page
    assert "<b>" not in page and "</b>" not in page
    escaped = "<span>&lt;</span><span>b</span><span>&gt;</span><span>&amp;</span>"
    assert escaped in page and "<span>&quot;</span>" in page
    text = re.search(r'<div id="text">(.*?)</div>', page, re.S).group(1)
    assert text.count("<span") == len(SHOWN)
    raw = re.search(r'type="application/json">(.*?)</script>', page, re.S).group(1)
    assert "<" not in raw and "&" not in raw
    assert set('<>&"') <= set(embedded_data(page)["vocab"])


def test_max_chars_cuts_the_text(char_run):
    trace = trace_activations(char_run, SHOWN, max_chars=10)
    assert trace.tokens == list(SHOWN[:10]) and trace.layers[0].shape == (10, 16)
    assert trace.total_chars == len(SHOWN)
    assert f"10 characters, cut from {len(SHOWN)}" in render_page(trace)


def test_the_command_writes_the_page(runs, tmp_path, capsys):
    text = tmp_path / "text.txt"
    text.write_text(SHOWN, encoding="utf-8")
    page = tmp_path / "page.html"
    args = ["inspect", "activations", runs["char"], "--text", text, "--html", page]
    assert main([str(a) for a in [*args, "--layer", "0", "--neuron", "5"]]) == 0
    assert capsys.readouterr().out == f"wrote {page}: {len(SHOWN)} characters, 2 layer(s)\n"
    data = embedded_data(page.read_text(encoding="utf-8"))
    assert (data["layer"], data["neuron"]) == (0, 5)
    assert len(data["activations"]) == 2 and len(data["activations"][0][0]) == len(SHOWN)


def test_the_command_prints_json(runs, tmp_path, capsys):
    """--json: the page, the sizes and each feature's strongest neurons, the same
    (layer, neuron, r) as strongest_neurons computes from the trace."""
    text = tmp_path / "text.txt"
    text.write_text(SHOWN, encoding="utf-8")
    page = tmp_path / "page.html"
    args = ["inspect", "activations", runs["char"], "--text", text, "--html", page, "--json"]
    assert main([str(a) for a in args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["page"] == str(page) and page.exists()
    assert (out["characters"], out["total_characters"]) == (len(SHOWN), len(SHOWN))
    assert (out["layers"], out["neurons_per_layer"]) == (2, 16)
    trace = trace_activations(load_run(runs["char"]), SHOWN)
    for name, found in strongest_neurons(trace).items():
        got = [(d["layer"], d["neuron"], d["r"]) for d in out["strongest"][name]]
        assert [(layer, k) for layer, k, _ in got] == [(layer, k) for layer, k, _ in found]
        assert all(abs(a[2] - b[2]) < 1e-4 for a, b in zip(got, found, strict=True))


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("word run", "word-level language model; the activation viewer colours characters"),
        ("classify run", "is a 'classify' run; this needs a language model"),
        ("missing text", "does not exist; pass an existing file or folder"),
        ("missing folder", "--html is '"),
        ("layer too big", "--layer must be an integer in [0, 1], got 2"),
        ("neuron too big", "--neuron must be an integer in [0, 15], got 16"),
        ("unseen character", "the text has 1 char(s) the model never saw: 'z'"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(runs, tmp_path, capsys, case, message):
    text = tmp_path / "text.txt"
    text.write_text("zz" if case == "unseen character" else SHOWN, encoding="utf-8")
    run_dir = {"word run": runs["word"], "classify run": runs["classify"]}.get(case, runs["char"])
    page = tmp_path / ("no/page.html" if case == "missing folder" else "page.html")
    args = ["inspect", "activations", run_dir, "--html", page]
    args += ["--text", tmp_path / "gone.txt" if case == "missing text" else text]
    args += {"layer too big": ["--layer", "2"], "neuron too big": ["--neuron", "16"]}.get(case, [])
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnkit: error: ") and err.count("\n") == 1 and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.txt"]
