"""The worked examples in examples/: each runs, and the numbers it returns match
an independent truth (numpy, torch.nn, each sequence run alone)."""

from __future__ import annotations

import importlib.util
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = ["manual_unroll", "hello_chars", "deep_rnn_states", "variable_lengths"]


def load(name: str):
    """Import examples/<name>.py by path (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_manual_unroll_matches_numpy():
    result = load("manual_unroll").main()
    x, w_ih, w_hh = (result[k].astype(np.float64) for k in ("x", "weight_ih", "weight_hh"))
    b = result["bias_ih"].astype(np.float64) + result["bias_hh"].astype(np.float64)
    assert x.shape == (2, 3) and w_ih.shape == (5, 3) and w_hh.shape == (5, 5)
    h, expected = np.zeros(5), []
    for x_t in x:
        h = np.tanh(w_ih @ x_t + w_hh @ h + b)
        expected.append(h)
    expected = np.stack(expected)  # (T, H)
    np.testing.assert_allclose(result["manual"], expected, atol=1e-6)
    np.testing.assert_allclose(result["layer"], expected, atol=1e-6)
    np.testing.assert_allclose(result["final_h"], expected[-1], atol=1e-6)


def test_hello_chars_predicts_ello():
    result = load("hello_chars").main()
    probs, vocab = result["probs"], result["vocab"]
    assert vocab == ["e", "h", "l", "o"]
    assert probs.shape == (4, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert "".join(vocab[i] for i in probs.argmax(axis=1)) == "ello"
    assert result["predicted"] == "ello"
    # Confident, not just right: the target letter gets most of the mass at every step.
    target_probs = [probs[t, vocab.index(ch)] for t, ch in enumerate("ello")]
    assert min(target_probs) > 0.9


def test_hello_chars_check_fails_untrained():
    with pytest.raises(AssertionError, match="expected 'ello'"):
        load("hello_chars").main(steps=0)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_deep_rnn_states_match_torch_nn(bidirectional):
    result = load("deep_rnn_states").main(bidirectional=bidirectional)
    K, H = (2 if bidirectional else 1), 3
    ref = nn.LSTM(4, H, num_layers=3, bidirectional=bidirectional, batch_first=True)
    ref.load_state_dict(result["state_dict"])
    with torch.no_grad():
        ref_out, (h_n, c_n) = ref(result["x"])
    assert result["h_n"].shape == (3 * K, 2, H)
    torch.testing.assert_close(result["output"], ref_out, atol=1e-6, rtol=0)
    torch.testing.assert_close(result["h_n"], h_n, atol=1e-6, rtol=0)
    torch.testing.assert_close(result["c_n"], c_n, atol=1e-6, rtol=0)
    for k, s in enumerate(result["state"]):  # per-layer states are the rows of h_n, c_n
        torch.testing.assert_close(s.h, h_n[k], atol=1e-6, rtol=0)
        torch.testing.assert_close(s.c, c_n[k], atol=1e-6, rtol=0)
    torch.testing.assert_close(h_n[(3 - 1) * K], ref_out[:, -1, :H], atol=1e-6, rtol=0)


def test_variable_lengths_match_each_sequence_alone():
    result = load("variable_lengths").main()
    x, lengths, output = result["x"], result["lengths"].tolist(), result["output"]
    ref = nn.GRU(2, 3, batch_first=True)
    ref.load_state_dict(result["state_dict"])
    for b, n in enumerate(lengths):
        with torch.no_grad():
            alone, h_n = ref(x[b : b + 1, :n])  # the row without its padding
        torch.testing.assert_close(output[b, :n], alone[0], atol=1e-6, rtol=0)
        torch.testing.assert_close(result["final_h"][b], h_n[0, 0], atol=1e-6, rtol=0)
        assert torch.count_nonzero(output[b, n:]) == 0  # exactly zero past the end
        assert (result["x_junk"][b, n:] == 99.0).all()
    torch.testing.assert_close(result["output_junk"], output, atol=1e-6, rtol=0)
    torch.testing.assert_close(result["final_h_junk"], result["final_h"], atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_runs_as_main(name, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [f"{name}.py"])
    runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="__main__")
    assert capsys.readouterr().out.strip()


def test_deep_rnn_states_cli_flag(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["deep_rnn_states.py", "--bidirectional"])
    runpy.run_path(str(EXAMPLES / "deep_rnn_states.py"), run_name="__main__")
    assert "layer 2 reverse" in capsys.readouterr().out


def test_readme_lists_every_example():
    readme = (EXAMPLES / "README.md").read_text()
    for name in SCRIPTS:
        assert f"{name}.py" in readme
