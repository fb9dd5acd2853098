"""Sequence classification data: the data config, features fitted on the training part,
padded batches bucketed by length, and the trainer task.

Text is turned into token ids by a `TextEncoder` fitted on the training part; numeric
series are standardised per feature with the mean and standard deviation of the
training part's steps. Validation is a seeded random share of the training data; the
test data, if any, is never seen before the end.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnkit.config import dataclass_from_dict
from rnnkit.data.augment import ShiftAugment
from rnnkit.data.decoding import check_encoding
from rnnkit.data.labelled import LabelledSeries, LabelledTexts
from rnnkit.data.shuffle import EpochBatches, ShuffledTaskMixin, pad_batch
from rnnkit.errors import DataError
from rnnkit.tasks.classify_report import classification_figures
from rnnkit.train import StepOutput
from rnnkit.validate import check_bool, check_choice, check_int, check_real, check_str, fail

_OWNER = "ClassifyData"
TOKENS = ("word", "char", "bpe", "wordpiece")
_VAL_FRACTION = 0.1  # the default share held out


@dataclass(frozen=True)
class ClassifyData:
    """How labelled data becomes batches for a sequence classifier.

    text_col / label_col: the columns of a CSV/TSV/JSONL table (default text, label).
    test: data scored once with the best weights after training (any form DATA takes).
    phrases: Stanford Sentiment Treebank files: train on every labelled phrase (test,
      validation and evaluated data are still read as whole sentences).
    val_fraction / split_seed: the seeded random share of the data held out for
      validation (model choice); 0 holds nothing out.
    cross_fit: for an ensemble of K networks: network k holds out its own share
      ``val_fraction`` of the data (fold k of the seeded permutation; fold 0 is the
      share a run without ``cross_fit`` holds out) and trains on the rest, so the
      ensemble as a whole learns from every example. Validation scores each held-out
      example with the one network that never trained on it (out-of-fold), a single
      network's figure. The vocabulary or scaler is fitted on all of the data.
    val: separate validation data (any form DATA takes, such as ``sst2:dev``): the
      model is chosen on it, and every training example is trained on (so a
      ``val_fraction`` other than its default or 0 is refused).
    batch_size; bucket: batches of similar lengths (less padding, same results).
    tokens: "word" | "char" | "bpe" | "wordpiece" (subwords trained on the training part);
      lowercase, normalise (numbers -> [NUM], links -> [URL]), min_freq, max_vocab and
      max_len (keep the first max_len tokens) shape the text; vectors: a GloVe-format
      file of pretrained word vectors to start the embedding from.
    standardise: numeric series are scaled per feature by the training part's statistics.
    shift / shift_features: numeric series only: each training example is shifted by up
      to this many steps in time / places along its features (images read row by row),
      a new random shift every time it is drawn (`rnnkit.data.augment`).
    encoding / encoding_errors: how text files are decoded; skip_bad_files: leave out a
      class folder's binary or undecodable files (named) instead of stopping.
    """

    text_col: str | None = None
    label_col: str | None = None
    test: str | None = None
    phrases: bool = False
    val: str | None = None
    val_fraction: float = _VAL_FRACTION
    split_seed: int = 0
    cross_fit: bool = False
    batch_size: int = 32
    bucket: bool = True
    tokens: str = "word"
    lowercase: bool = True
    normalise: bool = True
    min_freq: int = 1
    max_vocab: int | None = 20000
    max_len: int | None = None
    vectors: str | None = None
    standardise: bool = True
    shift: int = 0
    shift_features: int = 0
    encoding: str = "utf-8"
    encoding_errors: str = "strict"
    skip_bad_files: bool = False

    def __post_init__(self) -> None:
        for name in ("text_col", "label_col", "test", "val", "vectors"):
            check_str(_OWNER, name, getattr(self, name), optional=True)
        for name in (
            "phrases",
            "cross_fit",
            "bucket",
            "lowercase",
            "normalise",
            "standardise",
            "skip_bad_files",
        ):
            check_bool(_OWNER, name, getattr(self, name))
        check_real(_OWNER, "val_fraction", self.val_fraction, least=0.0, below=1.0)
        if self.val is not None and self.val_fraction not in (0.0, _VAL_FRACTION):
            raise fail(
                _OWNER,
                "val_fraction",
                "is unused with --val (all of DATA trains); leave one of the two out",
            )
        check_int(_OWNER, "split_seed", self.split_seed, least=0)
        if self.cross_fit and (self.val is not None or self.val_fraction == 0):
            raise fail(
                _OWNER,
                "cross_fit",
                "holds out --val-fraction of DATA for each network: give a --val-fraction "
                "above 0 and no --val",
            )
        check_int(_OWNER, "batch_size", self.batch_size, least=1)
        check_choice(_OWNER, "tokens", self.tokens, TOKENS)
        check_int(_OWNER, "min_freq", self.min_freq, least=1)
        check_int(_OWNER, "max_vocab", self.max_vocab, least=3, optional=True)
        check_int(_OWNER, "max_len", self.max_len, least=1, optional=True)
        check_int(_OWNER, "shift", self.shift, least=0)
        check_int(_OWNER, "shift_features", self.shift_features, least=0)
        check_encoding(_OWNER, self.encoding, self.encoding_errors, errors_field="encoding_errors")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifyData:
        return dataclass_from_dict(cls, data, "classification data config")

    def loader_options(self, *, training: bool = True) -> dict[str, Any]:
        """The options `load_labelled` takes for a source (only those set); ``training``
        False: for data that is only scored (``phrases`` applies to training data)."""
        options: dict[str, Any] = {}
        if self.text_col is not None:
            options["text_col"] = self.text_col
        if self.label_col is not None:
            options["label_col"] = self.label_col
        if self.phrases and training:
            options["phrases"] = True
        if self.encoding != "utf-8" or self.encoding_errors != "strict":
            options.update(encoding=self.encoding, errors=self.encoding_errors)
        if self.skip_bad_files:
            options["skip_bad_files"] = True
        return options


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices: a seeded permutation, the first share held out."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = held_out_size(n, val_fraction)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def held_out_size(n: int, val_fraction: float) -> int:
    """Examples of ``n`` held out for ``val_fraction`` (at least one when above 0 and n > 1)."""
    n_val = round(n * val_fraction)
    return 1 if val_fraction > 0 and n_val == 0 and n > 1 else n_val


def fold_ids(n: int, val_fraction: float, seed: int) -> Tensor:
    """Fold of each of ``n`` examples (n,) int64 for cross-fitting: the seeded
    permutation of `split_indices` cut into runs of its held-out size, so fold 0 is
    exactly the share `split_indices` holds out (the last fold may be smaller)."""
    order = np.random.default_rng(seed).permutation(n)
    folds = np.empty(n, dtype=np.int64)
    folds[order] = np.arange(n) // max(held_out_size(n, val_fraction), 1)
    return torch.from_numpy(folds)


def fit_scaler(series: list[np.ndarray]) -> dict[str, list[float]]:
    """Per-feature mean and standard deviation over every step of ``series``."""
    steps = np.concatenate(series, axis=0).astype(np.float64)  # (sum T, D)
    std = steps.std(axis=0)
    return {"mean": steps.mean(axis=0).tolist(), "std": np.where(std > 0, std, 1.0).tolist()}


def scale(series: list[np.ndarray], scaler: dict[str, list[float]] | None) -> list[Tensor]:
    if scaler is None:
        return [torch.from_numpy(np.ascontiguousarray(s, dtype=np.float32)) for s in series]
    mean = np.asarray(scaler["mean"], dtype=np.float64)
    std = np.asarray(scaler["std"], dtype=np.float64)
    return [torch.from_numpy(((s - mean) / std).astype(np.float32)) for s in series]


def label_ids(labels: list[str], classes: list[str], where: str) -> Tensor:
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({label for label in labels if label not in index})
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5])
        raise DataError(
            f"{where} has label(s) the model was not trained on: {shown}; the model knows "
            f"{', '.join(repr(c) for c in classes)}"
        )
    return torch.tensor([index[label] for label in labels], dtype=torch.long)


@dataclass
class Examples:
    """Encoded examples: one tensor each (ids (T,) or features (T, D)) and label ids;
    with cross-fitting, each example's fold (N,): network k of the ensemble never
    trains on fold k's examples, and validation scores them with network k alone."""

    inputs: list[Tensor]
    labels: Tensor
    folds: Tensor | None = None

    def __len__(self) -> int:
        return len(self.inputs)

    def subset(self, rows: Tensor) -> Examples:
        """The examples at ``rows`` (int64 indices), in that order."""
        folds = None if self.folds is None else self.folds[rows]
        return Examples([self.inputs[i] for i in rows.tolist()], self.labels[rows], folds)


class ClassifyTask(ShuffledTaskMixin):
    """The trainer's view: shuffled (bucketed) padded batches, cross-entropy, accuracy."""

    unit = "examples"

    def __init__(
        self,
        model,
        train: Examples,
        val: Examples | None,
        config: ClassifyData,
        seed: int,
        scaler: dict[str, Any] | None = None,
    ):
        self.model = model
        self.train, self.val = train, val
        self.held_out = val is not None and len(val) > 0
        self.batch_size = min(config.batch_size, len(train))
        self.pad_id = 0
        lengths = [len(x) for x in train.inputs]
        self.order = EpochBatches(lengths, self.batch_size, seed, config.bucket)
        # Its own generator: the batch order is the same with and without augmentation.
        self.augment = ShiftAugment(config.shift, config.shift_features, scaler, seed + 1)

    def next_batch(self) -> tuple[Tensor, ...]:
        """(x, lengths, labels), and each example's fold when cross-fitting."""
        rows = self.order.next()
        examples = [self.train.inputs[i] for i in rows]
        if self.augment.active:
            examples = [self.augment(x) for x in examples]
        x, lengths = pad_batch(examples, self.pad_id)
        index = torch.from_numpy(rows)
        if self.train.folds is None:
            return x, lengths, self.train.labels[index]
        return x, lengths, self.train.labels[index], self.train.folds[index]

    def state_dict(self) -> dict[str, Any]:
        return {**self.order.state_dict(), "augment": self.augment.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.order.load_state_dict(state)
        if "augment" in state:  # checkpoints written before augmentation existed
            self.augment.load_state_dict(state["augment"])

    def training_loss(self, batch) -> StepOutput:
        device = next(self.model.parameters()).device
        x, lengths, y, *folds = (t.to(device) for t in batch)
        logits = self.model(x, lengths)
        accuracy = float(
            (self.model.logits_to_probabilities(logits.detach()).argmax(-1) == y).float().mean()
        )
        loss = self.model.loss(logits, y, held_out=folds[0] if folds else None)
        return StepOutput(loss, len(y), {"accuracy": accuracy})

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        data = self.val if self.held_out else self.train
        if data.folds is None:
            loss, probs = score(self.model, data.inputs, data.labels)
        else:
            loss, probs = score_out_of_fold(self.model, data)
        if self.held_out:
            classes = [str(k) for k in range(probs.shape[-1])]
            figures = classification_figures(data.labels, probs, classes)
            return {"loss": loss, "accuracy": figures["accuracy"], "macro_f1": figures["macro_f1"]}
        accuracy = float((probs.argmax(-1) == data.labels).float().mean())
        return {"loss": loss, "train_accuracy": accuracy}


@torch.no_grad()
def score_out_of_fold(model, data: Examples) -> tuple[float, Tensor]:
    """`score` of a cross-fitted ensemble's held-out examples: each scored by the one
    network that never trained on it (``data.folds``), as in `score`'s order."""
    probs = torch.empty(len(data), model.config.num_classes)
    total = 0.0
    for k, network in enumerate(model.networks()):
        rows = torch.nonzero(data.folds == k).squeeze(1)
        if len(rows):
            part = data.subset(rows)
            loss, probs[rows] = score(network, part.inputs, part.labels)
            total += loss * len(rows)
    return total / len(data), probs


@torch.no_grad()
def score(
    model, inputs: list[Tensor], labels: Tensor | None = None, chunk: int = 256
) -> tuple[float, Tensor]:
    """Mean loss (NaN without labels; an ensemble's is that of its averaged
    probabilities) and probabilities (N, C), in chunks of similar lengths; the results
    come back in the inputs' order."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    probs = [None] * len(inputs)
    total = 0.0
    for start in range(0, len(order), chunk):
        rows = order[start : start + chunk]
        x, lengths = pad_batch([inputs[i] for i in rows])
        logits = model(x.to(device), lengths.to(device))
        if labels is not None:
            loss = model.loss(logits, labels[rows].to(device), combined=True)
            total += float(loss) * len(rows)
        for i, p in zip(rows, model.logits_to_probabilities(logits).float().cpu(), strict=True):
            probs[i] = p
    model.train(was_training)
    loss = total / len(inputs) if labels is not None else math.nan
    return loss, torch.stack(probs)


def is_text(data: LabelledTexts | LabelledSeries) -> bool:
    return isinstance(data, LabelledTexts)
