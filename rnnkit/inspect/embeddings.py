r"""Which tokens a language model takes in alike: nearest neighbours and a 2-D map.

A language model's input embedding gives every token a vector e_v (a row of E, V x D).
Tokens the model treats alike end up with vectors pointing the same way, so the
neighbours of a word by cosine similarity

.. math::
    \cos(u, v) = \frac{e_u \cdot e_v}{\lVert e_u \rVert \, \lVert e_v \rVert}

show what the model learned about it. A word-level run is the interesting case (king,
queen, prince ...); a character-level one works the same with characters as the words.
The map projects the vectors of the most frequent tokens onto their first two principal
axes (PCA by the SVD of the centred matrix).

    run = load_run("runs/words")
    nearest_tokens(run, "king", top=5)       # [("queen", 0.81), ...]
    write_embedding_map("king.png", run, "king", [t for t, _ in nearest_tokens(run, "king")])

Shapes: ``V`` vocabulary, ``D`` embedding width, ``N`` tokens on the map.
"""

from __future__ import annotations

import difflib
import io
import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.atomic import atomic_write_bytes
from rnnkit.errors import VocabularyError
from rnnkit.models.language_model import LanguageModel
from rnnkit.runs import Run
from rnnkit.tasks.lm_text import TextModel
from rnnkit.train.plots import require_matplotlib
from rnnkit.validate import check_int, check_output_path

__all__ = [
    "FREQUENT",
    "embedding_matrix",
    "find_token",
    "nearest_tokens",
    "pca_2d",
    "shown",
    "write_embedding_map",
]

#: How many of the most frequent tokens the map shows by default.
FREQUENT = 100


def embedding_matrix(model: LanguageModel) -> Tensor:
    """(V, D): row v is how the model takes in token v.

    That is the embedding matrix E (V, E); a model fed one-hot vectors
    (``embedding_size`` 0) has none, but its first layer computes W_ih onehot(v), which
    is column v of W_ih (G*H, V), so W_ih transposed plays the part of E.
    """
    if model.embedding is not None:
        return model.embedding.weight.detach()
    return model.rnn.weight_ih_l0.detach().T  # (V, G*H)


def find_token(lm: TextModel, word: str) -> int:
    """The id of ``word`` (lower-cased if the run folds case); a VocabularyError that
    suggests close spellings if the run never saw it, or if it is a special token."""
    vocab = lm.vocab
    token = word.lower() if lm.corpus.lowercase else word
    if token in vocab.specials:
        raise VocabularyError(f"{word!r} is a special token, not a {lm.level} of the text")
    if token not in vocab:
        ordinary = vocab.tokens[len(vocab.specials) :]
        close = difflib.get_close_matches(token, ordinary, n=5)
        hint = f"; close: {', '.join(repr(t) for t in close)}" if close else ""
        raise VocabularyError(
            f"{word!r} is not among the {len(ordinary)} {lm.level}s the run knows{hint}"
        )
    return vocab.token_to_id(token)


@torch.no_grad()
def nearest_tokens(run: Run, word: str, top: int = 10) -> list[tuple[str, float]]:
    """The ``top`` tokens whose embedding rows have the largest cosine similarity with
    ``word``'s, most similar first, as (token, similarity); the word itself and special
    tokens ([UNK]) are left out.

    Raises:
        ConfigError: not a language-model run, or ``top`` < 1.
        VocabularyError: the run does not know ``word``.
    """
    lm = TextModel(run)
    check_int("", "top", top, least=1)
    query = find_token(lm, word)
    unit = F.normalize(embedding_matrix(lm.model).float().cpu(), dim=1)  # (V, D)
    similarity = unit @ unit[query]  # (V,)
    first = len(lm.vocab.specials)  # the specials hold the first ids
    candidates = torch.tensor([i for i in range(first, len(lm.vocab)) if i != query])
    if len(candidates) == 0:
        return []
    best = torch.topk(similarity[candidates], min(top, len(candidates)))
    return [
        (lm.vocab.id_to_token(int(candidates[i])), float(s))
        for s, i in zip(best.values, best.indices, strict=True)
    ]


def pca_2d(vectors: Tensor) -> tuple[Tensor, Tensor]:
    """Project ``vectors`` (N, D) onto their first two principal axes.

    With the centred matrix X = U S V^T (SVD), the coordinates are X V[:, :2], so the
    first axis carries the most variance (S_1^2 / (N - 1)). Returns the coordinates
    (N, 2) and each axis's share of the total variance (2,). SVD signs are arbitrary;
    each axis is turned so that its largest loading is positive, which makes the map
    the same from run to run. Fewer than two axes (D = 1, or N <= 2) leave zeros.
    """
    X = vectors.double()
    X = X - X.mean(dim=0)  # (N, D)
    _, S, Vh = torch.linalg.svd(X, full_matrices=False)
    k = min(2, Vh.shape[0])
    axes = Vh[:k]  # (k, D)
    biggest = axes.gather(1, axes.abs().argmax(dim=1, keepdim=True))  # (k, 1)
    axes = axes * torch.where(biggest < 0, -1.0, 1.0).to(axes.dtype)
    coords = torch.zeros(X.shape[0], 2, dtype=X.dtype)
    coords[:, :k] = X @ axes.T  # (N, k)
    total = (S**2).sum()
    explained = torch.zeros(2, dtype=X.dtype)
    if total > 0:
        explained[:k] = S[:k] ** 2 / total
    return coords, explained


def shown(token: str) -> str:
    """A token as a reader can see it: whitespace and invisible characters quoted."""
    return token if token.isprintable() and not token.isspace() else repr(token)


@torch.no_grad()
def write_embedding_map(
    path: str | os.PathLike[str],
    run: Run,
    word: str,
    neighbours: Sequence[str] = (),
    *,
    frequent: int = FREQUENT,
) -> Path:
    """A PNG of the ``frequent`` most frequent tokens (by training count) on the first
    two principal axes of their embedding rows, labelled, with ``word`` and
    ``neighbours`` added if missing and highlighted. Written only after every check
    (folder, matplotlib, run, word) has passed."""
    check_output_path(path, "path")
    Figure = require_matplotlib("path")
    check_int("", "frequent", frequent, least=1)
    lm = TextModel(run)
    query = find_token(lm, word)
    vocab = lm.vocab
    near = [vocab.token_to_id(t) for t in neighbours]
    first = len(vocab.specials)
    counts = vocab.counts
    by_count = sorted(range(first, len(vocab)), key=lambda i: -counts[i])  # stable: id order
    ids = list(dict.fromkeys([*by_count[:frequent], query, *near]))
    coords, explained = pca_2d(embedding_matrix(lm.model).float().cpu()[ids])

    figure = Figure(figsize=(9, 7), dpi=100, layout="tight")
    axes = figure.add_subplot()
    role = {i: "other" for i in ids} | {i: "near" for i in near} | {query: "query"}
    styles = {
        "other": ("#9a9a9a", 7, 12),
        "near": ("tab:orange", 9, 30),
        "query": ("tab:red", 11, 45),
    }
    for kind in ("other", "near", "query"):  # highlighted points drawn last, on top
        chosen = [n for n, i in enumerate(ids) if role[i] == kind]
        colour, size, area = styles[kind]
        axes.scatter(coords[chosen, 0], coords[chosen, 1], s=area, color=colour)
        for n in chosen:
            # "$" would start matplotlib's mathtext; escaped, it is a dollar sign.
            label = shown(vocab.id_to_token(ids[n])).replace("$", r"\$")
            axes.annotate(
                label,
                (float(coords[n, 0]), float(coords[n, 1])),
                xytext=(3, 3),
                textcoords="offset points",
                fontsize=size,
                color="black" if kind == "other" else colour,
            )
    axes.set_xlabel(f"first principal axis ({float(explained[0]):.0%} of the variance)")
    axes.set_ylabel(f"second principal axis ({float(explained[1]):.0%})")
    axes.set_title(
        f"input embeddings of the {min(frequent, len(by_count))} most frequent {lm.level}s: "
        f"{shown(vocab.id_to_token(query))} (red) and its {len(near)} nearest (orange)"
    )
    axes.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)
