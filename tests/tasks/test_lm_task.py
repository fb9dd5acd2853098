"""Language-model runs: overfitting, exact resume, generation, evaluation, bad runs."""

from __future__ import annotations

import json

import pytest
import torch
from lm_helpers import TINY_TEXT, tiny_corpus, tiny_model, tiny_train, train_lm
from safetensors.torch import load_file

from rnnkit.decode import SamplingConfig
from rnnkit.errors import CheckpointError, DataError, VocabularyError
from rnnkit.runs import load_run, resume_run
from rnnkit.tasks.lm_text import TextModel


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    result = train_lm(
        TINY_TEXT, run_dir, tiny_corpus(), tiny_model(), tiny_train(max_steps=300, eval_every=100)
    )
    return run_dir, result


def test_tiny_model_overfits_tiny_text(trained):
    run_dir, result = trained
    # 27 symbols: chance is ln 27 = 3.3 nats; the text is nearly deterministic.
    rows = [r.split(",") for r in (run_dir / "metrics.csv").read_text().splitlines()]
    train_losses = [float(r[4]) for r in rows[1:] if r[3] == "train"]
    assert train_losses[0] > 2.0 and max(train_losses[-3:]) < 0.1  # memorised
    assert result.best_val_loss < 0.4  # and it generalises to the held-out tail
    for name in (
        "config.json",
        "vocab.json",
        "best.safetensors",
        "last.safetensors",
        "checkpoint.safetensors",
        "metrics.csv",
    ):
        assert (run_dir / name).exists(), name


def test_generation_is_seeded_and_top_k_one_is_greedy(trained):
    lm = TextModel(load_run(trained[0]))
    a = lm.generate("the c", SamplingConfig(seed=3, max_new_tokens=40))
    b = lm.generate("the c", SamplingConfig(seed=3, max_new_tokens=40))
    c = lm.generate("the c", SamplingConfig(seed=4, max_new_tokens=40, num_samples=3))
    assert a == b and len(a[0]) == 40
    assert len(c) == 3
    greedy = lm.generate("the c", SamplingConfig(greedy=True, max_new_tokens=40))
    top1 = lm.generate("the c", SamplingConfig(top_k=1, seed=9, max_new_tokens=40))
    assert greedy == top1
    assert greedy[0].startswith("at sat on the ")  # it learned the text


def test_generation_carries_state_instead_of_rerunning_the_prefix(trained):
    lm = TextModel(load_run(trained[0]))
    calls = []
    original = lm.model.forward

    def counting(tokens, state=None, **kw):
        calls.append(tokens.shape[1])
        return original(tokens, state, **kw)

    lm.model.forward = counting
    lm.generate("the cat sat", SamplingConfig(seed=1, max_new_tokens=10))
    assert calls[0] == len("the cat sat") and all(n == 1 for n in calls[1:])


def test_stop_string_ends_a_sample(trained):
    lm = TextModel(load_run(trained[0]))
    (text,) = lm.generate("the c", SamplingConfig(greedy=True, max_new_tokens=200, stop="."))
    assert text.endswith(".") and text.count(".") == 1


def test_evaluate_matches_training_validation(trained):
    run_dir, result = trained
    lm = TextModel(load_run(run_dir))
    held_out = TINY_TEXT[len(TINY_TEXT) - int(len(TINY_TEXT) * 0.1) :]
    figures = lm.evaluate(held_out)
    assert figures["loss"] == pytest.approx(result.best_val_loss, rel=1e-5)
    assert figures["bpc"] == pytest.approx(figures["loss"] / 0.6931471805599453)


def test_prime_outside_vocabulary_is_named(trained):
    lm = TextModel(load_run(trained[0]))
    with pytest.raises(VocabularyError, match=r"'Z'.*'!'|'!'.*'Z'"):
        lm.generate("Zebra!", SamplingConfig(max_new_tokens=5))


@pytest.mark.parametrize("window", [None, 4])
def test_resume_after_interruption_reproduces_the_run_exactly(tmp_path, window):
    """Streams carry a hidden state; windows carry a shuffled order: both must resume."""
    # Windows: 256 per batch, so the checkpoint falls after several reshuffles.
    corpus = tiny_corpus(window=window, batch_size=256 if window else 4)
    model = tiny_model(dropout=0.2, num_layers=2)  # dropout: the RNG must resume too
    whole = tmp_path / "whole"
    train_lm(TINY_TEXT, whole, corpus, model, tiny_train(max_steps=60))

    # The same run, stopped at step 25 by a "crash" (checkpoint at 20), then resumed.
    import rnnkit.runs.lifecycle as lm_run

    part = tmp_path / "part"
    real_trainer = lm_run.Trainer

    class CrashingTrainer(real_trainer):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("on_step_end", self._crash)
            super().__init__(*args, **kwargs)

        def _crash(self, step):
            if step == 25:
                raise RuntimeError("simulated crash")

    lm_run.Trainer = CrashingTrainer
    try:
        with pytest.raises(RuntimeError, match="simulated crash"):
            train_lm(TINY_TEXT, part, corpus, model, tiny_train(max_steps=60))
    finally:
        lm_run.Trainer = real_trainer
    resume_run(part, raw=TINY_TEXT)

    a, b = load_file(whole / "last.safetensors"), load_file(part / "last.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    strip = [_drop_timing(r) for r in (whole / "metrics.csv").read_text().splitlines()]
    assert strip == [_drop_timing(r) for r in (part / "metrics.csv").read_text().splitlines()]


def _drop_timing(row: str) -> list[str]:
    cells = row.split(",")
    return [c for i, c in enumerate(cells) if i not in (2, len(cells) - 1)]


def test_resume_refuses_a_different_text(trained, tmp_path):
    with pytest.raises(DataError, match="differs from the data the run was trained on"):
        resume_run(trained[0], raw=TINY_TEXT + "x")


def test_missing_and_corrupt_run_directories(tmp_path, trained):
    with pytest.raises(CheckpointError, match="does not exist"):
        TextModel(load_run(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="config.json is missing"):
        TextModel(load_run(tmp_path / "empty"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        TextModel(load_run(broken))


def test_weights_from_another_vocabulary_are_refused(trained, tmp_path):
    import shutil

    run_dir = tmp_path / "mixed"
    shutil.copytree(trained[0], run_dir)
    vocab = json.loads((run_dir / "vocab.json").read_text())
    vocab["tokens"].append("@")
    vocab["counts"].append(1)
    (run_dir / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(CheckpointError, match="not the vocab this run was trained with"):
        TextModel(load_run(run_dir))


def test_too_short_text_writes_nothing(tmp_path):
    with pytest.raises(DataError, match="needs at least"):
        train_lm("short text", tmp_path / "run", tiny_corpus(), tiny_model(), tiny_train())
    assert not (tmp_path / "run").exists()


def test_word_prime_names_unknown_words_even_with_unk(tmp_path):
    """A typo in a prime must not silently become [UNK]; scoring a text may."""
    text = "the cat sat on the mat . the dog sat on the log . " * 30
    run_dir = tmp_path / "words"
    train_lm(
        text, run_dir, tiny_corpus(level="word", seq_len=8), tiny_model(), tiny_train(max_steps=5)
    )
    lm = TextModel(load_run(run_dir))
    assert lm.vocab.unk_id is not None
    with pytest.raises(VocabularyError, match="'kat'"):
        lm.generate("the kat", SamplingConfig(max_new_tokens=3))
    assert "loss" in lm.evaluate("the kat sat on the mat .")  # [UNK] is fine for scoring
    (empty_prime,) = lm.generate("", SamplingConfig(max_new_tokens=3, seed=0))
    assert len(lm.tokenizer.tokenize(empty_prime)) == 3


def test_a_reordered_vocabulary_of_the_same_size_is_refused(trained, tmp_path):
    """Defect 8: the same tokens in another order load silently and make nonsense."""
    import shutil

    run_dir = tmp_path / "reordered"
    shutil.copytree(trained[0], run_dir)
    vocab = json.loads((run_dir / "vocab.json").read_text())
    vocab["tokens"][0], vocab["tokens"][1] = vocab["tokens"][1], vocab["tokens"][0]
    (run_dir / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(CheckpointError, match="vocab.json is not the vocab"):
        load_run(run_dir)


def test_evaluate_scores_unseen_words_as_unk_in_a_window_model(tmp_path):
    """Defect 7: a --window word model has [UNK]; evaluation scores unseen words with it,
    as validation does during training, instead of refusing them."""
    text = "the cat sat on the mat . the dog sat on the log . " * 30
    run_dir = tmp_path / "window"
    train_lm(
        text,
        run_dir,
        tiny_corpus(level="word", window=3, batch_size=16),
        tiny_model(),
        tiny_train(max_steps=5),
    )
    lm = TextModel(load_run(run_dir))
    figures = lm.evaluate("the kat sat on the mat . the dog sat")
    unk = lm.vocab.unk_id
    ids = lm.encode("the kat sat on the mat . the dog sat")
    assert ids[1] == unk and figures["tokens"] == len(ids) - 3


def test_a_run_written_by_rnnkit_0_1_still_loads_and_resumes(trained, tmp_path):
    """config.json of format `rnnkit.lm-run` (rnnkit 0.1 `train lm`) goes through the
    migration: it loads, writes the same text as the new-format run, and resumes."""
    import hashlib
    import shutil

    run_dir = tmp_path / "old"
    shutil.copytree(trained[0], run_dir)
    new = json.loads((run_dir / "config.json").read_text())
    old = {
        "format": "rnnkit.lm-run",
        "rnnkit_version": "0.1.0",
        "task": "lm",
        "text_path": None,
        "text_sha256": hashlib.sha256(TINY_TEXT.encode("utf-8")).hexdigest(),
        "data": new["data"],
        "model": new["model"],
        "train": new["train"],
    }
    (run_dir / "config.json").write_text(json.dumps(old))
    sampling = SamplingConfig(seed=5, max_new_tokens=30)
    then = TextModel(load_run(run_dir)).generate("the ", sampling)
    now = TextModel(load_run(trained[0])).generate("the ", sampling)
    assert then == now
    outcome = resume_run(run_dir, raw=TINY_TEXT, train={"max_steps": 310})
    assert outcome.result.steps == 310
    assert json.loads((run_dir / "config.json").read_text())["format"] == "rnnkit.run"
    with pytest.raises(DataError, match="differs"):
        resume_run(run_dir, raw=TINY_TEXT + "!", train={"max_steps": 320})


def test_an_unknown_format_says_which_rnnkit_wrote_it(trained, tmp_path):
    import shutil

    run_dir = tmp_path / "future"
    shutil.copytree(trained[0], run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    config.update(version=99, rnnkit_version="9.0")
    (run_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        CheckpointError, match=r"version 99.*use the rnnkit version that wrote it \(9.0\)"
    ):
        load_run(run_dir)
