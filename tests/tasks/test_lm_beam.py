"""Beam search for language models (`TextModel.beam`, `generate --beam`, `complete
--beam`): the translation's search, fed the prime's last token."""

from __future__ import annotations

import itertools
import json

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.decode import SamplingConfig
from rnnkit.runs import load_run, train_run
from rnnkit.tasks.lm_text import TextModel

CHARS = "abcab\ncab\nbca\nacb\n" * 40  # four symbols: 4**3 = 64 outputs of 3 tokens
WORDS = "the cat sat on the mat . the dog sat on the log . a cat ran . " * 30


def tiny_run(root, name, text, **model) -> TextModel:
    settings = {"num_layers": 2, "hidden_size": 10, "embedding_size": 5} | model
    data = {"batch_size": 4, "seq_len": 16} | model.pop("data", {})
    settings.pop("data", None)
    train = {"max_steps": 25, "lr": 0.02, "progress": False, "seed": 3}
    train_run("lm", root / name, raw=text, data=data, model=settings, train=train)
    return TextModel(load_run(root / name))


@pytest.fixture(scope="module", params=["lstm", "gru"])
def char_lm(request, tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("beam"), request.param, CHARS, cell=request.param)


@pytest.fixture(scope="module")
def word_lm(tmp_path_factory):
    root = tmp_path_factory.mktemp("beam-words")
    return tiny_run(root, "words", WORDS, cell="lstm", data={"level": "word"})


def sequence_log_prob(lm: TextModel, prime: list[int], output: list[int]) -> float:
    """log p(output | prime) from one forward pass over the whole sequence (the layer's
    own sequence path, not the incremental step the search uses)."""
    ids = torch.tensor([prime + output])
    with torch.no_grad():
        logits, _ = lm.model(ids[:, :-1])
    log_probs = torch.log_softmax(logits[0].double(), dim=-1)  # (T-1, V)
    n = len(prime)
    return float(sum(log_probs[n - 1 + i, t] for i, t in enumerate(output)))


def test_width_one_is_greedy_generation_token_for_token(char_lm):
    greedy = char_lm.generate("ab", SamplingConfig(greedy=True, max_new_tokens=12))
    assert char_lm.beam("ab", width=1, length=12)[0]["text"] == greedy[0]


def test_a_beam_as_wide_as_all_outputs_finds_exactly_the_best_five(char_lm):
    """Every 3-token continuation scored by a full forward pass; the beam of width 64
    (all outputs) returns exactly the 5 best, in order, with their log-probabilities."""
    prime = char_lm.encode("ab")
    scored = sorted(
        ((sequence_log_prob(char_lm, prime, list(y)), list(y))
         for y in itertools.product(range(4), repeat=3)),
        reverse=True,
    )  # fmt: skip
    found = char_lm.beam("ab", width=64, length=3, n_best=5)
    assert [h["text"] for h in found] == [char_lm.decode(y) for _, y in scored[:5]]
    for h, (log_prob, _) in zip(found, scored, strict=False):
        assert h["log_prob"] == pytest.approx(log_prob, abs=1e-5)
        assert not h["finished"]


def test_a_stop_token_ends_continuations_and_unk_is_never_chosen(word_lm):
    found = word_lm.beam("the cat", width=4, length=12, n_best=3, stop=".")
    assert found and all(h["finished"] and h["text"].endswith(".") for h in found)
    assert all("[UNK]" not in h["text"] for h in found)
    assert [h["score"] for h in found] == sorted((h["score"] for h in found), reverse=True)


def test_generate_and_complete_beam_commands(word_lm, capsys, monkeypatch):
    run_dir = str(word_lm.run.run_dir)
    capsys.readouterr()
    assert main(["generate", run_dir, "--prime", "the dog", "--beam", "3", "--n-best", "2",
                 "--length", "5", "--json"]) == 0  # fmt: skip
    record = json.loads(capsys.readouterr().out)
    expected = word_lm.beam("the dog", width=3, length=5, n_best=2)
    assert record["n_best"] == expected and record["sample"] == expected[0]["text"]
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("the cat\n"))
    assert main(["complete", run_dir, "--beam", "2", "--words", "4", "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["completion"] == word_lm.beam("the cat", width=2, length=4)[0]["text"]


def test_generate_beam_reads_the_stop_escape_and_takes_a_length_penalty(char_lm, capsys):
    """--stop "\\n" is a new line (as for sampling); --length-penalty reaches the
    search (alpha 2 favours long outputs: some run to --length unfinished)."""
    run_dir = str(char_lm.run.run_dir)
    capsys.readouterr()
    found = {}
    for alpha in (0.0, 2.0):
        args = ["generate", run_dir, "--prime", "ab", "--beam", "4", "--n-best", "2"]
        args += ["--stop", "\\n", "--length", "30", "--length-penalty", str(alpha)]
        assert main([*args, "--json"]) == 0
        record = json.loads(capsys.readouterr().out)
        expected = char_lm.beam("ab", width=4, length=30, n_best=2, stop="\n", length_penalty=alpha)
        assert record["n_best"] == expected
        found[alpha] = expected
    assert all(h["finished"] and h["text"].endswith("\n") for h in found[0.0])
    assert not all(h["finished"] for h in found[2.0])  # some run to --length


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--beam", "2", "--temperature", "1"], "--temperature is for sampling; --beam"),
        (["--beam", "2", "--greedy"], "--greedy is for sampling"),
        (["--n-best", "2"], "--n-best needs --beam"),
        (["--length-penalty", "1"], "--length-penalty needs --beam"),
        (["--beam", "2", "--length-penalty", "-1"], "--length-penalty must be"),
        (["--beam", "2", "--n-best", "3"], "--n-best must be"),
        (["--beam", "0"], "--beam must be"),
        (["--beam", "2", "--stop", "the cat"], "--stop with --beam must be one word the model"),
    ],
)
def test_generate_beam_flag_errors_are_one_line(word_lm, capsys, extra, message):
    capsys.readouterr()
    assert main(["generate", str(word_lm.run.run_dir), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
