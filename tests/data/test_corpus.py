"""prepare_corpus: one split point, a vocabulary from the training part only, config checks."""

from __future__ import annotations

import math

import pytest

from rnnkit.data import UNK, split_contiguous
from rnnkit.data.corpus import CorpusConfig, prepare_corpus
from rnnkit.data.split import split_point
from rnnkit.errors import ConfigError

# The smallest layout, so a 37-token text is long enough: one stream, windows of one.
TINY = {"batch_size": 1, "seq_len": 1, "val_fraction": 0.1}


@pytest.mark.parametrize(
    ("n", "fraction", "train"),
    [
        (37, 0.1, 33),  # 3.7 validation tokens round to 4 (a floor would hold out 3)
        (100, 0.29, 71),  # 100 * 0.29 is 28.999... in floating point; int() gave 28
        (10, 0.0, 10),
        (0, 0.5, 0),
        (5, 0.5, 3),  # 2.5 rounds half to even: 2 held out
    ],
)
def test_split_point(n: int, fraction: float, train: int) -> None:
    assert split_point(n, fraction) == train


def test_split_contiguous_cuts_at_split_point() -> None:
    for n in range(2, 120):
        for fraction in (0.1, 0.29, 0.5):
            if round(n * fraction) == 0:
                continue
            train, val = split_contiguous(list(range(n)), fraction)
            assert len(train) == split_point(n, fraction) and train + val == list(range(n))


@pytest.mark.parametrize(
    ("args", "field"),
    [((-1, 0.1), "num_tokens"), ((10, 1.0), "val_fraction"), ((10, math.nan), "val_fraction")],
)
def test_split_point_checks_its_arguments(args: tuple, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        split_point(*args)
    assert info.value.field == field


def test_word_vocabulary_comes_from_exactly_the_training_part() -> None:
    # 37 words: the first 33 cycle "the cat sat"; "zebra" is word 34 and "emu" word 37.
    # round(3.7) = 4 words are held out, so "zebra" is validation text, not training.
    text = " ".join(["the cat sat"] * 11) + " zebra the cat emu"
    corpus = prepare_corpus(text, CorpusConfig(level="word", **TINY))
    assert corpus.vocab.tokens == [UNK, "the", "cat", "sat"]
    assert corpus.vocab.counts == [0, 11, 11, 11]
    assert "zebra" not in corpus.vocab and "emu" not in corpus.vocab
    assert corpus.train_ids == [1, 2, 3] * 11
    assert corpus.val_ids == [0, 1, 2, 0]  # zebra the cat emu


def test_char_vocabulary_comes_from_the_training_part_with_unk_for_unseen() -> None:
    # 37 characters; the last 4, "Zaéb", are held out and bring "Z" and "é", which the
    # training part never has: they must score as [UNK], not join the vocabulary.
    text = "abc" * 11 + "Zaéb"
    corpus = prepare_corpus(text, CorpusConfig(level="char", **TINY))
    assert corpus.vocab.tokens == [UNK, "a", "b", "c"]
    assert corpus.vocab.specials == [UNK] and corpus.vocab.unk_id == 0
    assert "Z" not in corpus.vocab and "é" not in corpus.vocab
    assert corpus.train_ids == [1, 2, 3] * 11
    assert corpus.val_ids == [0, 1, 0, 2]


def test_char_vocabulary_without_unseen_characters_has_no_unk() -> None:
    text = "abc" * 11 + "abca"
    corpus = prepare_corpus(text, CorpusConfig(level="char", **TINY))
    assert corpus.vocab.tokens == ["a", "b", "c"] and corpus.vocab.unk_id is None
    # Counted on the 33 training characters only (the whole text has 13 a's).
    assert corpus.vocab.counts == [11, 11, 11]
    assert corpus.val_ids == [0, 1, 2, 0]


@pytest.mark.parametrize(
    ("limits", "tokens", "counts", "ids"),
    [
        # a x5, b x4, c x2, d x1; [UNK] counts the characters it stands for.
        ({"min_freq": 2}, [UNK, "a", "b", "c"], [1, 5, 4, 2], [1] * 5 + [2] * 4 + [3, 3, 0]),
        ({"max_vocab": 3}, [UNK, "a", "b"], [3, 5, 4], [1] * 5 + [2] * 4 + [0, 0, 0]),
        ({"min_freq": 5, "max_vocab": 10}, [UNK, "a"], [7, 5], [1] * 5 + [0] * 7),
    ],
)
def test_min_freq_and_max_vocab_apply_to_characters(
    limits: dict, tokens: list[str], counts: list[int], ids: list[int]
) -> None:
    config = CorpusConfig(level="char", batch_size=1, seq_len=1, val_fraction=0.0, **limits)
    corpus = prepare_corpus("aaaaabbbbccd", config)
    assert corpus.vocab.tokens == tokens
    assert corpus.vocab.counts == counts
    assert corpus.train_ids == ids and corpus.val_ids == []


def test_a_given_vocabulary_is_reused() -> None:
    text = "abc" * 11 + "Zaéb"
    first = prepare_corpus(text, CorpusConfig(**TINY))
    again = prepare_corpus(text, CorpusConfig(**TINY), vocab=first.vocab)
    assert again.vocab is first.vocab and again.val_ids == first.val_ids


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("level", "bpe"),
        ("lowercase", "yes"),
        ("min_freq", 0),
        ("min_freq", True),
        ("max_vocab", 1),  # only [UNK] would be left
        ("max_vocab", 2.0),
        ("val_fraction", 1.0),
        ("val_fraction", -0.1),
        ("val_fraction", math.nan),
        ("val_fraction", "0.1"),
        ("batch_size", 0),
        ("seq_len", 2.5),
        ("window", 0),
        ("rotate", 1),
    ],
)
def test_bad_config_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"CorpusConfig\.{field} must be") as info:
        CorpusConfig(**{field: value})
    assert info.value.field == field
    assert str(value) in info.value.problem or repr(value) in info.value.problem


def test_boundary_config_values_are_accepted() -> None:
    config = CorpusConfig(min_freq=1, max_vocab=2, val_fraction=0.0, window=1, seq_len=1)
    assert (config.max_vocab, config.val_fraction, config.window) == (2, 0.0, 1)
