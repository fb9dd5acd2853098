"""Stanford Sentiment Treebank: the PTB tree parser, SST-5/SST-2 and all-phrase examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnkit.data.sst import load_sst, load_sst_split, parse_ptb_tree
from rnnkit.errors import ConfigError, DataError

# The real datasets live beside the repository (never inside it), as in conftest.py.
SHARED_DATA = (Path(__file__).parents[2] / ".." / "shared" / "data").resolve()

TREES = [
    "(3 (2 (2 The) (2 Rock)) (4 (3 (2 is) (4 great)) (2 .)))",
    "(1 (2 It) (0 (1 (2 was) (0 awful)) (2 .)))",
    "(2 (2 (2 8 1\\/2) (2 -LRB-) ) (2 -RRB-))",
]


def test_parse_lists_every_subtree_root_first():
    assert parse_ptb_tree(TREES[0]) == [
        ("The Rock is great .", 3),
        ("The Rock", 2),
        ("The", 2),
        ("Rock", 2),
        ("is great .", 4),
        ("is great", 3),
        ("is", 2),
        ("great", 4),
        (".", 2),
    ]


def test_a_leaf_may_hold_several_tokens_and_escapes_are_kept():
    assert parse_ptb_tree(TREES[2])[0] == ("8 1\\/2 -LRB- -RRB-", 2)
    assert parse_ptb_tree(TREES[2])[2] == ("8 1\\/2", 2)


@pytest.mark.parametrize(
    ("tree", "needle"),
    [
        ("(3 (2 a) (2 b)", "never closed"),
        ("(3 (2 a) (2 b)))", "closes no open"),
        ("(x (2 a))", "label is 'x'"),
        ("(3 word (2 a))", "both the word 'word' and a subtree"),
        ("(3 (2 a)) (2 b)", "one tree per line"),
        ("(3)", "no label or no content"),
        ("word", "outside any parentheses"),
    ],
)
def test_malformed_trees_are_refused(tree, needle):
    with pytest.raises(DataError, match=needle):
        parse_ptb_tree(tree)


def write_trees(tmp_path, lines=TREES):
    path = tmp_path / "train.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_sst5_sentences_sst2_and_phrases(tmp_path):
    path = write_trees(tmp_path)
    sst5 = load_sst(path)
    assert sst5.texts == ["The Rock is great .", "It was awful .", "8 1\\/2 -LRB- -RRB-"]
    assert sst5.labels == ["3", "1", "2"]
    sst2 = load_sst(path, classes=2)
    assert (sst2.texts, sst2.labels) == (sst5.texts[:2], ["positive", "negative"])
    phrases = load_sst(path, phrases=True)
    assert len(phrases) == 9 + 7 + 5
    assert phrases.texts[:2] == ["The Rock is great .", "The Rock"]
    phrases2 = load_sst(path, classes=2, phrases=True)
    assert list(zip(phrases2.texts, phrases2.labels, strict=True)) == [
        ("The Rock is great .", "positive"),
        ("is great .", "positive"),
        ("is great", "positive"),
        ("great", "positive"),
        ("It was awful .", "negative"),
        ("was awful .", "negative"),
        ("was awful", "negative"),
        ("awful", "negative"),
    ]


def test_bad_tree_files_name_file_and_line(tmp_path):
    path = write_trees(tmp_path, [TREES[0], "(3 (2 a) (2 b)"])
    with pytest.raises(DataError, match=r"train.txt' line 2 is not a PTB tree") as err:
        load_sst(path)
    assert str(path) in str(err.value)
    path = write_trees(tmp_path, [TREES[0], "(7 (2 a) (2 b))"])
    with pytest.raises(DataError, match="line 2 has the label 7"):
        load_sst(path)
    with pytest.raises(ConfigError, match="classes"):
        load_sst(path, classes=3)
    with pytest.raises(DataError, match="SST dev split not found"):
        load_sst_split("dev", data_dir=tmp_path)


@pytest.fixture(scope="module")
def sst_dir():
    if not (SHARED_DATA / "sst" / "train.txt").is_file():
        pytest.skip(f"real dataset sst/ not found under {SHARED_DATA}")
    return SHARED_DATA


def test_real_sst_sentence_counts(sst_dir):
    counts = {s: len(load_sst_split(s, data_dir=sst_dir)) for s in ("train", "dev", "test")}
    assert counts == {"train": 8544, "dev": 1101, "test": 2210}
    sst5 = load_sst_split("test", data_dir=sst_dir)
    sst2 = load_sst_split("test", classes=2, data_dir=sst_dir)
    assert sst5.class_counts() == {"0": 279, "1": 633, "2": 389, "3": 510, "4": 399}
    assert sst2.class_counts() == {"negative": 279 + 633, "positive": 510 + 399}
    assert len(sst2) == 1821


def test_real_sst_phrases_start_with_each_sentence(sst_dir):
    sentences = load_sst_split("dev", data_dir=sst_dir)
    phrases = load_sst_split("dev", phrases=True, data_dir=sst_dir)
    assert len(phrases) == 41447  # every node of the 1,101 dev trees
    assert phrases.texts[0] == sentences.texts[0]
    assert set(sentences.texts) <= set(phrases.texts)
