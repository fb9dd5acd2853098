"""The Stanford Sentiment Treebank (Socher et al. 2013) from its PTB-style tree files.

Each line of ``train.txt`` / ``dev.txt`` / ``test.txt`` is one sentence as a binarised tree
in which every node carries a sentiment label 0..4 (very negative .. very positive)::

    (3 (2 (2 The) (2 Rock)) (4 (3 (2 is) ...) (2 .)))

Two tasks are read from them:

- SST-5 (``classes=5``): the root label, as the string "0".."4".
- SST-2 (``classes=2``): neutral (2) dropped, 0 and 1 -> "negative", 3 and 4 -> "positive".

With ``phrases=True`` every labelled subtree (each word too) becomes an example, the way the
published models train (Socher et al. 2013; Tai et al. 2015); evaluation stays on sentences.
Tokens are kept as the trees give them: PTB escapes such as ``-LRB-``, ``-RRB-`` and ``\\/``
are not undone.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from rnnkit.data.decoding import decode, read_bytes
from rnnkit.data.labelled import LabelledTexts, shared_data_dir
from rnnkit.errors import DataError
from rnnkit.validate import check_bool, check_choice, fail

__all__ = ["SST2_LABELS", "SST_SPLITS", "load_sst", "load_sst_split", "parse_ptb_tree"]

PathLike = str | os.PathLike[str]

SST_SPLITS = ("train", "dev", "test")
# SST-2 from the five-way labels: neutral (2) has no binary label and is dropped.
SST2_LABELS = {0: "negative", 1: "negative", 3: "positive", 4: "positive"}

_TOKEN = re.compile(r"\(|\)|[^\s()]+")


class _TreeError(Exception):
    """A malformed tree; the caller adds the file and line."""


class _Node:
    __slots__ = ("children", "end", "label", "start", "word")

    def __init__(self, start: int) -> None:
        self.label = -1  # set by the token after "("
        self.start = start  # first word of the span
        self.end = start  # one past the last word, set when the node closes
        self.word = False
        self.children = False


def _parse(line: str) -> tuple[list[str], list[_Node]]:
    """The words of a PTB tree and its nodes in pre-order, each with its word span."""
    words: list[str] = []
    nodes: list[_Node] = []
    stack: list[_Node] = []
    want_label = False
    for token in _TOKEN.findall(line):
        if token == "(":
            if want_label:
                raise _TreeError("a '(' comes where a node's label should be")
            if not stack and nodes:
                raise _TreeError("text follows the end of the tree; give one tree per line")
            if stack:
                if stack[-1].word:
                    raise _TreeError(f"a node holds both the word {words[-1]!r} and a subtree")
                stack[-1].children = True
            node = _Node(len(words))
            nodes.append(node)
            stack.append(node)
            want_label = True
        elif token == ")":
            if not stack:
                raise _TreeError("a ')' closes no open '('")
            node = stack.pop()
            if want_label or not (node.word or node.children):
                raise _TreeError("a node has no label or no content")
            node.end = len(words)
        elif not stack:
            raise _TreeError(f"the word {token!r} lies outside any parentheses")
        elif want_label:
            try:
                stack[-1].label = int(token)
            except ValueError:
                raise _TreeError(f"a node's label is {token!r}, not an integer") from None
            want_label = False
        else:
            node = stack[-1]
            if node.children:
                raise _TreeError(f"the word {token!r} is not in a node of its own")
            if node.word:
                # A leaf may hold several tokens: SST has "(2 8 1\/2)", the film.
                words[-1] += " " + token
            else:
                node.word = True
                words.append(token)
    if stack:
        raise _TreeError(f"{len(stack)} '(' never closed")
    if not nodes:
        raise _TreeError("the line holds no tree")
    return words, nodes


def parse_ptb_tree(line: str) -> list[tuple[str, int]]:
    """Every labelled subtree of one PTB tree as ``(text, label)``, root first (pre-order).

    A subtree's text is its words joined by single spaces; the root's is the sentence.

    Raises:
        DataError: unbalanced parentheses, a missing or non-integer label, a node with both
            a word and subtrees, or text after the tree.
    """
    try:
        words, nodes = _parse(line)
    except _TreeError as err:
        raise DataError(f"malformed tree: {err}") from None
    return [(" ".join(words[n.start : n.end]), n.label) for n in nodes]


def load_sst(path: PathLike, *, classes: int = 5, phrases: bool = False) -> LabelledTexts:
    """SST-5 or SST-2 examples from one tree file (``train.txt``, ``dev.txt``, ``test.txt``).

    Args:
        path: a file of PTB trees, one sentence a line, labels 0..4.
        classes: 5 (labels "0".."4") or 2 ("negative"/"positive", neutral dropped).
        phrases: every labelled subtree becomes an example (duplicates across sentences
            kept, as in training on the treebank); by default one example per sentence.

    Returns:
        The examples in file order (per sentence: the root, then its subtrees in pre-order).
        The standard files give 8,544 / 1,101 / 2,210 sentences for SST-5 and 6,920 /
        872 / 1,821 for SST-2.

    Raises:
        DataError: the file is missing, not UTF-8 or empty; a line is not a well-formed
            tree or has a label outside 0..4 (the message gives the line).
        ConfigError: ``classes`` is not 2 or 5, or ``phrases`` not a bool.
    """
    if classes not in (2, 5) or isinstance(classes, bool):
        raise fail("load_sst", "classes", f"must be 5 (SST-5) or 2 (SST-2), got {classes!r}")
    check_bool("load_sst", "phrases", phrases)
    text = decode(read_bytes(path, "SST tree file"), path, "utf-8", "strict")
    texts: list[str] = []
    labels: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            words, nodes = _parse(line)
        except _TreeError as err:
            raise DataError(
                f"{str(path)!r} line {number} is not a PTB tree: {err}; each line must look "
                "like (3 (2 word) (4 word))"
            ) from None
        for node in nodes if phrases else nodes[:1]:
            if node.label not in range(5):
                raise DataError(
                    f"{str(path)!r} line {number} has the label {node.label}; SST labels are "
                    "0..4, so check this is a Sentiment Treebank file"
                )
            if classes == 2 and node.label == 2:
                continue
            texts.append(" ".join(words[node.start : node.end]))
            labels.append(SST2_LABELS[node.label] if classes == 2 else str(node.label))
    if not texts:
        raise DataError(f"SST tree file {str(path)!r} holds no examples; pass a tree file")
    return LabelledTexts(texts, labels, str(path))


def load_sst_split(
    split: str,
    *,
    classes: int = 5,
    phrases: bool = False,
    data_dir: PathLike | None = None,
) -> LabelledTexts:
    """`load_sst` on ``<data_dir>/sst/<split>.txt``.

    Args:
        split: "train", "dev" or "test".
        classes / phrases: as in `load_sst`.
        data_dir: the folder holding ``sst/``; by default `shared_data_dir()`.

    Raises:
        DataError: the split file is not there (the message names where it looked).
        ConfigError: an unknown split.
    """
    check_choice("load_sst_split", "split", split, SST_SPLITS)
    root = Path(data_dir) if data_dir is not None else shared_data_dir()
    path = root / "sst" / f"{split}.txt"
    if not path.is_file():
        raise DataError(
            f"SST {split} split not found at {str(path)!r}; put the treebank's PTB files "
            "there, or pass data_dir= (or set RNNKIT_DATA_DIR) to the folder holding sst/"
        )
    return load_sst(path, classes=classes, phrases=phrases)
