"""The translation task end to end: encoding, learning, attention masks, decoding, CLI."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from kill_helpers import crash_at_step, same_weights

from rnnkit.cli.main import main
from rnnkit.data.parallel import Pairs
from rnnkit.decode import SamplingConfig
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.runs import load_run, resume_run, train_run
from rnnkit.tasks.translate_data import (
    EOS,
    GO,
    PAD,
    UNK,
    TranslateData,
    batch_of,
    encode_pairs,
    fit_encoders,
)
from rnnkit.tasks.translate_decode import sample_translations, source_ids, translate_texts

pytest.importorskip("sacrebleu")
QUIET = {"progress": False}
WORDS = "ab cd ef gh ij kl".split()


def sequences(n: int, seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    return [list(rng.choice(WORDS, size=rng.integers(2, 5))) for _ in range(n)]


def pairs_of(kind: str, n: int = 300, seed: int = 0) -> Pairs:
    rows = sequences(n, seed)
    targets = [r[::-1] if kind == "reverse" else r for r in rows]
    return Pairs(tuple(" ".join(r) for r in rows), tuple(" ".join(t) for t in targets))


def test_batches_decode_back_to_the_sentences():
    pairs = Pairs(("Hello there!", "How are you?"), ("Salut !", "Comment vas-tu ?"))
    config = TranslateData(val_fraction=0.0, test_fraction=0.0, min_freq=1)
    encoders = fit_encoders(pairs, config)
    encoded = encode_pairs(pairs, encoders, config)
    source, lengths, target_in, target_out = batch_of(encoded, [0, 1])
    assert lengths.tolist() == [3, 4] and int(source[0, 3]) == PAD
    assert target_in[:, 0].tolist() == [GO, GO]
    # Words are joined by the word tokenizer's rule: no space before "!" or "?".
    for row, expected in zip(target_out.tolist(), ["salut!", "comment vas-tu?"], strict=True):
        ids = row[: row.index(EOS)]
        assert encoders["target"].decode(ids) == expected
    for row, n, expected in zip(
        source.tolist(), lengths.tolist(), ["hello there!", "how are you?"], strict=True
    ):
        assert encoders["source"].decode(row[:n]) == expected


def test_reverse_source_and_unknown_words():
    pairs = Pairs(("a b c",), ("x y z",))
    config = TranslateData(val_fraction=0.0, test_fraction=0.0, reverse_source=True, min_freq=1)
    encoders = fit_encoders(pairs, config)
    encoded = encode_pairs(Pairs(("a b q",), ("x y z",)), encoders, config)
    vocab = encoders["source"].vocabulary
    assert [vocab[i] for i in encoded.sources[0].tolist()] == ["<unk>", "b", "a"]
    assert int(encoded.sources[0][0]) == UNK


@pytest.mark.parametrize("kind", ["reverse", "copy"])
def test_a_tiny_model_learns_to_reverse_and_copy_perfectly(tmp_path, kind):
    pairs = pairs_of(kind)
    outcome = train_run(
        "translate", tmp_path / kind, raw=pairs,
        data={"val_fraction": 0.0, "test_fraction": 0.0, "max_len": 6, "beam": 3},
        model={"hidden_size": 48, "embedding_size": 16},
        train={"max_steps": 500, "lr": 0.01, "eval_every": 250, **QUIET},
    )  # fmt: skip
    run = load_run(outcome.run_dir)
    figures = run.evaluate(raw=pairs)  # learnt perfectly, by beam search
    assert figures["exact_match"] == 1.0 and figures["bleu"] > 99.9
    new = run.evaluate(raw=pairs_of(kind, n=60, seed=1))  # and mostly generalised
    assert new["exact_match"] >= 0.9


@pytest.mark.parametrize("attention", ["dot", "general", "additive"])
def test_padding_gets_zero_attention_and_a_sentence_alone_translates_as_in_a_batch(attention):
    torch.manual_seed(0)
    config = Seq2SeqConfig(
        source_vocab_size=9, target_vocab_size=7, embedding_size=8, hidden_size=12,
        attention=attention, num_layers=2,
    )  # fmt: skip
    model = Seq2Seq(config).eval()
    source = torch.tensor([[4, 5, 6, PAD, PAD], [4, 7, 8, 5, 6]])
    lengths = torch.tensor([3, 5])
    state = model.encode(source, lengths)
    tokens = torch.tensor([GO, GO])
    for _ in range(3):
        features, state, weights = model.step_with_attention(tokens, state)
        assert torch.equal(weights[0, 3:], torch.zeros(2))  # exactly zero on padding
        assert torch.allclose(weights.sum(-1), torch.ones(2))
        tokens = model.project(features).argmax(-1)
    target_in = torch.tensor([[GO, 4, 5, 6], [GO, 5, 4, 6]])
    batch = model(source, lengths, target_in)
    alone = model(source[:1, :3], None, target_in[:1])
    assert torch.allclose(batch[:1], alone, atol=1e-6)


@pytest.mark.parametrize("attention", ["none", "dot", "general", "additive"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_whole_target_path_equals_a_loop_of_decoder_steps(attention, cell):
    """Without input feeding, teacher-forced training runs the decoder over the whole
    target in one call; it must be the same function as feeding the steps one by one
    (the path translation and beam search use)."""
    torch.manual_seed(0)
    config = Seq2SeqConfig(
        source_vocab_size=9, target_vocab_size=7, embedding_size=8, hidden_size=12,
        attention=attention, num_layers=2, cell=cell, input_feeding=False,
    )  # fmt: skip
    model = Seq2Seq(config).eval()
    source = torch.tensor([[4, 5, 6, PAD, PAD], [4, 7, 8, 5, 6]])
    lengths = torch.tensor([3, 5])
    target_in = torch.tensor([[GO, 4, 5, 6, 5], [GO, 5, 4, 6, 6]])
    weight = model.decoder.weight_hh_l0
    whole = model(source, lengths, target_in)
    (whole_grad,) = torch.autograd.grad(whole.square().sum(), weight)
    state, steps = model.encode(source, lengths), []
    for t in range(target_in.shape[1]):  # by hand: one decoder step per target token
        logits, state = model.step(target_in[:, t], state)
        steps.append(logits)
    looped = torch.stack(steps, dim=1)
    (looped_grad,) = torch.autograd.grad(looped.square().sum(), weight)
    assert torch.allclose(whole, looped, atol=1e-5)
    assert torch.allclose(whole_grad, looped_grad, atol=1e-4)
    assert model.decoder.input_size == 8  # no attentional vector fed back


def test_a_crashed_run_with_scheduled_sampling_resumes_exactly(tmp_path):
    settings = {
        "data": {"val_fraction": 0.0, "test_fraction": 0.0, "max_len": 6, "teacher_forcing": 0.5},
        "model": {"hidden_size": 16, "embedding_size": 8, "dropout": 0.1},
        "train": {"max_steps": 30, "checkpoint_every": 10, "eval_every": 10, **QUIET},
    }
    train_run("translate", tmp_path / "whole", raw=pairs_of("reverse", 80), **settings)

    with crash_at_step(25), pytest.raises(RuntimeError, match="simulated crash"):
        train_run("translate", tmp_path / "part", raw=pairs_of("reverse", 80), **settings)
    resume_run(tmp_path / "part", raw=pairs_of("reverse", 80))
    for name in ("last.safetensors", "best.safetensors"):
        assert not same_weights(tmp_path / "whole" / name, tmp_path / "part" / name)


@pytest.fixture(scope="module")
def tsv_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tsv")
    pairs = pairs_of("reverse", 400)
    lines = [f"{s}\t{t}\tCC-BY note" for s, t in zip(pairs.sources, pairs.targets, strict=True)]
    (folder / "pairs.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run_dir = folder / "run"
    args = ["train", "translate", str(folder / "pairs.tsv"), "--out", str(run_dir)]
    args += ["--hidden", "48", "--embedding", "16", "--steps", "500", "--lr", "0.01"]
    assert main([*args, "--max-len", "6", "--no-progress"]) == 0
    return folder / "pairs.tsv", run_dir


def test_translate_command_json_n_best_file_and_attention(tsv_run, tmp_path, capsys):
    _, run_dir = tsv_run
    capsys.readouterr()
    assert main(["translate", str(run_dir), "ab cd ef", "--json", "--n-best", "2"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["translation"] == "ef cd ab" and len(record["n_best"]) == 2
    assert record["n_best"][0]["score"] >= record["n_best"][1]["score"]
    (tmp_path / "in.txt").write_text("gh ij\nkl ab cd\n")
    png = tmp_path / "att.png"
    assert (
        main(
            ["translate", str(run_dir), "--file", str(tmp_path / "in.txt"), "--attention", str(png)]
        )
        == 0
    )
    assert capsys.readouterr().out.splitlines() == ["ij gh", "cd ab kl"]
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_output_lines_match_input_lines_from_a_file_or_a_pipe(
    tsv_run, tmp_path, capsys, monkeypatch
):
    _, run_dir = tsv_run
    text = "gh ij\n\n  \nkl ab cd\n"
    (tmp_path / "in.txt").write_text(text)
    capsys.readouterr()
    assert main(["translate", str(run_dir), "--file", str(tmp_path / "in.txt")]) == 0
    assert capsys.readouterr().out.split("\n") == ["ij gh", "", "", "cd ab kl", ""]
    piped = io.TextIOWrapper(io.BytesIO(text.encode("utf-8")))  # not a terminal
    monkeypatch.setattr("sys.stdin", piped)
    assert main(["translate", str(run_dir), "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["translation"] for r in records] == ["ij gh", "", "", "cd ab kl"]
    assert [r["input"] for r in records] == text.splitlines()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert main(["translate", str(run_dir)]) == 2
    assert "standard input is empty" in capsys.readouterr().err


def test_evaluate_prints_bleu_chrf_and_exact_match(tsv_run, capsys):
    source, run_dir = tsv_run
    test = json.loads((run_dir / "test.json").read_text())  # the held-out pairs
    assert test["pairs"] > 0 and test["exact_match"] > 0.9
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), str(source), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert set(figures) >= {"bleu", "chrf", "exact_match", "loss", "pairs"}
    assert figures["pairs"] == 400 and figures["exact_match"] > 0.9


@pytest.mark.parametrize(
    ("text", "extra", "message"),
    [
        ("ab cd\n", [], "line 1"),
        ("ab\tcd\n", ["--shared-embeddings"], "--shared-vocab"),
        ("ab\tcd\n", ["--beam", "0"], "--beam"),
        ("ab\tcd\n", ["--max-len", "0"], "--max-len"),
        ("ab\t\n", [], "line 1"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, text, extra, message):
    (tmp_path / "pairs.tsv").write_text(text * 20)
    run_dir = tmp_path / "run"
    args = ["train", "translate", str(tmp_path / "pairs.tsv"), "--out", str(run_dir)]
    code = main([*args, "--steps", "2", "--no-progress", *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not run_dir.exists()


def test_sentences_may_follow_the_options(tsv_run, capsys):
    _, run_dir = tsv_run
    capsys.readouterr()
    assert main(["translate", str(run_dir), "--beam", "3", "ab cd ef", "gh ij"]) == 0
    assert capsys.readouterr().out.splitlines() == ["ef cd ab", "ij gh"]
    with pytest.raises(SystemExit) as stop:
        main(["translate", str(run_dir), "--bogus", "ab"])
    assert stop.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_sampling_with_top_k_one_is_the_greedy_search_for_every_sample(tsv_run):
    """Sampling keeps each text's rows together and in order: with only the likeliest
    word allowed, every sample of every text is the greedy translation."""
    _, run_dir = tsv_run
    run = load_run(run_dir)
    texts = ["ab cd ef", "gh ij", "kl ab cd ef"]
    greedy = [h[0]["translation"] for h in translate_texts(run, texts, beam=1)]
    drawn = sample_translations(run, texts, SamplingConfig(top_k=1, num_samples=3, seed=5))
    assert [[s["translation"] for s in samples] for samples in drawn] == [[g] * 3 for g in greedy]
    assert all(s["finished"] for samples in drawn for s in samples)


def test_sampled_first_words_follow_the_models_tempered_probabilities(tsv_run):
    """4,000 samples of one sentence at temperature 6 (the trained model is sure of
    its first word; at 6 it has 42% and every other word 6-11%): the first words'
    frequencies match softmax(logits / 6) of the decoder's first step within 3 points
    (about 4 standard errors), with <pad> and <go> never
    drawn (their mass renormalised away); a seed repeats the samples exactly."""
    _, run_dir = tsv_run
    run = load_run(run_dir)
    model, target = run.model.eval(), run.artifacts["target_vocab"]
    with torch.no_grad():
        source = torch.tensor(source_ids(run, ["ab cd ef"]))
        logits, _ = model.step(torch.tensor([GO]), model.encode(source))
    logits = logits[0] / 6.0
    logits[[PAD, GO]] = -float("inf")
    probs = torch.softmax(logits, dim=-1)
    n = 4000
    config = SamplingConfig(temperature=6.0, num_samples=n, seed=11)
    samples = sample_translations(run, ["ab cd ef"], config)[0]
    firsts = [(s["translation"].split() or [""])[0] for s in samples]
    for i, p in enumerate(probs.tolist()):
        word = target.decode([i])  # "" for <eos>
        if i in (PAD, GO):
            continue
        seen = sum(f == word for f in firsts) / n
        assert abs(seen - p) < 0.03, (word, seen, p)
    again = sample_translations(run, ["ab cd ef"], config)[0]
    assert again == samples


def test_translate_sample_command_and_its_flag_errors(tsv_run, capsys):
    _, run_dir = tsv_run
    capsys.readouterr()
    args = ["translate", str(run_dir), "ab cd ef"]
    assert main([*args, "--sample", "--top-k", "1", "--samples", "2", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["translation"] == "ef cd ab"
    assert [s["translation"] for s in record["samples"]] == ["ef cd ab"] * 2
    assert main([*args, "--sample", "--seed", "1", "--samples", "3"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    for extra, message in (
        (["--temperature", "2"], "--temperature works with --sample"),
        (["--sample", "--beam", "3"], "--beam is for beam search, not --sample"),
        (["--sample", "--n-best", "2"], "--samples N draws N"),
        (["--sample", "--temperature", "-1"], "--temperature must be"),
        (["--sample", "--samples", "0"], "--samples must be"),
    ):
        assert main([*args, *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
