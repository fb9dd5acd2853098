"""Embeddings: cosine neighbours against brute force, the PCA map's axes, the printed
table, and one-line errors that write nothing."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.inspect.embeddings import embedding_matrix, nearest_tokens, pca_2d
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.runs import load_run, train_run

WORDS = (
    "the cat sat on the mat . the dog sat on the log . " * 20
    + "a bird sang in the tree and the cat looked up . " * 10
)
FAST = {"lr": 1e-2, "max_steps": 30, "eval_every": 30, "checkpoint_every": 30, "progress": False}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    model = {"cell": "gru", "num_layers": 1, "hidden_size": 16, "embedding_size": 8}
    data = {"level": "word", "batch_size": 4, "seq_len": 10}
    train_run("lm", root / "word", raw=WORDS, data=data, model=model, train=FAST)
    classify_csv = root / "reviews.csv"
    with open(classify_csv, "w", newline="", encoding="utf-8") as handle:
        rows = [("a good film", "pos"), ("a bad film", "neg")] * 4
        csv.writer(handle).writerows([("text", "label"), *rows])
    args = ["train", "classify", classify_csv, "--out", root / "classify", "--steps", "1"]
    assert main([str(a) for a in [*args, "--val-fraction", "0", "--no-progress"]]) == 0
    return {"word": root / "word", "classify": root / "classify"}


@pytest.fixture(scope="module")
def word_run(runs):
    return load_run(runs["word"])


def brute_force_neighbours(run, word: str) -> list[tuple[str, float]]:
    """Cosine similarity with every other ordinary word, in numpy, one pair at a time."""
    vocab = run.artifacts["vocab"]
    vectors = run.model.embedding.weight.detach().numpy().astype(np.float64)
    q = vectors[vocab.token_to_id(word)]
    scored = []
    for token in vocab.tokens:
        if token == word or token in vocab.specials:
            continue
        v = vectors[vocab.token_to_id(token)]
        scored.append((token, float(q @ v / (np.linalg.norm(q) * np.linalg.norm(v)))))
    return sorted(scored, key=lambda item: -item[1])


def test_neighbours_equal_brute_force_cosine_similarity(word_run):
    vocab = word_run.artifacts["vocab"]
    assert vocab.specials == ["[UNK]"]
    want = brute_force_neighbours(word_run, "cat")
    everything = nearest_tokens(word_run, "cat", top=len(vocab))
    assert len(everything) == len(vocab) - 2  # all but the word itself and [UNK]
    assert [t for t, _ in everything] == [t for t, _ in want]
    np.testing.assert_allclose([s for _, s in everything], [s for _, s in want], atol=1e-5)
    assert nearest_tokens(word_run, "cat", top=3) == everything[:3]
    assert want[0][1] - want[-1][1] > 0.3  # the similarities differ: the order means something


def test_a_one_hot_model_uses_its_input_weights_as_embedding():
    torch.manual_seed(0)
    config = LanguageModelConfig(vocab_size=5, num_layers=1, hidden_size=3, embedding_size=0)
    model = LanguageModel(config)
    rows = embedding_matrix(model)  # (V, 4H)
    for token in range(5):
        one_hot = torch.nn.functional.one_hot(torch.tensor(token), 5).float()
        torch.testing.assert_close(rows[token], model.rnn.weight_ih_l0 @ one_hot)


def test_pca_puts_the_most_variance_on_the_first_axis():
    generator = torch.Generator().manual_seed(0)
    mixing = torch.randn(6, 6, generator=generator, dtype=torch.float64)
    points = torch.randn(80, 6, generator=generator, dtype=torch.float64)
    points = points * torch.tensor([0.2, 3.0, 0.5, 1.5, 0.1, 0.3], dtype=torch.float64) @ mixing
    coords, explained = pca_2d(points)
    variances = coords.var(dim=0).numpy()
    assert variances[0] > variances[1] > 0
    eigen = np.sort(np.linalg.eigvalsh(np.cov(points.numpy(), rowvar=False)))[::-1]
    np.testing.assert_allclose(variances, eigen[:2], rtol=1e-9)
    np.testing.assert_allclose(explained.numpy(), eigen[:2] / eigen.sum(), rtol=1e-9)
    np.testing.assert_allclose(coords.mean(dim=0).numpy(), 0.0, atol=1e-12)
    flipped, _ = pca_2d(-points)  # the sign convention: the same map either way
    torch.testing.assert_close(flipped, -coords)


def test_pca_of_the_runs_embeddings(word_run):
    vectors = embedding_matrix(word_run.model)
    coords, explained = pca_2d(vectors)
    assert coords.shape == (len(vectors), 2)
    assert coords[:, 0].var() >= coords[:, 1].var() and explained[0] >= explained[1]


def test_the_command_prints_an_aligned_table(runs, word_run, capsys):
    assert main(["inspect", "embeddings", str(runs["word"]), "--word", "cat", "--top", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "nearest to cat (cosine similarity of the input embeddings):"
    assert lines[1].split() == ["word", "cosine"]
    want = nearest_tokens(word_run, "cat", top=4)
    rows = [line.split() for line in lines[2:]]
    assert [r[0] for r in rows] == [t for t, _ in want]
    assert [float(r[1]) for r in rows] == pytest.approx([s for _, s in want], abs=5e-4)
    assert len({len(line) for line in lines[1:]}) == 1  # numbers right-aligned in one column


def test_the_command_writes_json_and_a_map(runs, word_run, tmp_path, capsys):
    png = tmp_path / "map.png"
    args = ["inspect", "embeddings", runs["word"], "--word", "dog", "--top", "3", "--json"]
    assert main([str(a) for a in [*args, "--png", png, "--frequent", "10"]]) == 0
    record = json.loads(capsys.readouterr().out)
    want = nearest_tokens(word_run, "dog", top=3)
    assert [(r["word"], r["similarity"]) for r in record["neighbours"]] == want
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown word", "'cta' is not among the 16 words the run knows; close: 'cat'"),
        ("special token", "'[UNK]' is a special token, not a word of the text"),
        ("classify run", "is a 'classify' run; this needs a language model"),
        ("missing folder", "--png is '"),
        ("no neighbours", "--top must be an integer >= 1, got 0"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(runs, tmp_path, capsys, case, message):
    word = {"unknown word": "cta", "special token": "[UNK]"}.get(case, "cat")
    run_dir = runs["classify"] if case == "classify run" else runs["word"]
    png = tmp_path / ("no/map.png" if case == "missing folder" else "map.png")
    args = ["inspect", "embeddings", run_dir, "--word", word, "--png", png]
    args += ["--top", "0"] if case == "no neighbours" else []
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnkit: error: ") and err.count("\n") == 1 and message in err
    assert list(tmp_path.iterdir()) == []
