"""The sequence-classification task: labelled sequences in, a classifier out.

Text (sentiment, topics) is embedded token by token; numeric series (sensor data,
images read row by row) are projected step by step; both then run through
(bi)directional recurrent layers, a mask-aware pooling and dense layers
(`rnnkit.models.classifier`). Artifacts: ``labels.json`` (the classes, in id order),
and ``encoder.json`` (text) or ``scaler.json`` (numeric), all fitted on the training
part only and applied unchanged to validation, test and new data.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit import validate
from rnnkit.data.labelled import LabelledSeries, LabelledTexts
from rnnkit.data.labelled_load import load_labelled
from rnnkit.data.text_encoder import TextEncoder
from rnnkit.data.vectors import load_vectors
from rnnkit.errors import ConfigError, DataError, RnnkitWarning
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.nn.registry import cell_names
from rnnkit.runs.recipes import BudgetTiers, Recipe
from rnnkit.runs.registry import TEXT_FILE_FLAGS, Flag, Prepared, TaskPlugin, register_task
from rnnkit.tasks.classify_data import (
    ClassifyData,
    ClassifyTask,
    Examples,
    fit_scaler,
    fold_ids,
    is_text,
    label_ids,
    scale,
    score,
    split_indices,
)
from rnnkit.tasks.classify_report import classification_figures, confusion_text, write_report

#: One tier until benchmarks say otherwise: the tutorial's bidirectional LSTM(64) with a
#: Dense(64, relu) layer.
CLASSIFY_TIERS = BudgetTiers(
    {
        "fp32": (
            (
                float("inf"),
                Recipe(
                    model={
                        "cell": "lstm",
                        "bidirectional": True,
                        "hidden_size": 64,
                        "dense": (64,),
                    },
                    train={"lr": 2e-3},
                ),
            ),
        )
    }
)


@register_task
class ClassifyTaskPlugin(TaskPlugin):
    name = "classify"
    help = "sequence classification: labelled texts or numeric series"
    data_help = (
        "labelled data: a CSV/TSV/JSONL table, one file per class, a folder per class, "
        "SST trees, MNIST IDX, a .ts file, or a name such as sst2:train or ucr:GunPoint:train"
    )
    data_config = ClassifyData
    model_config = ClassifierConfig
    derived_model_fields = ("num_classes", "vocab_size", "input_size", "pad_id", "unk_id")
    path_fields = ("test", "val", "vectors")
    test_flag = "--test"
    unit = "examples"
    tiers = CLASSIFY_TIERS
    default_minutes = 5.0
    train_defaults = {"optimizer": "adamw", "eval_every": 100, "checkpoint_every": 100}
    flags = {
        "text_col": Flag(help="text column of a CSV/TSV/JSONL table (default text)"),
        "label_col": Flag(help="label column (default label)"),
        "test": Flag(help="score this data with the best weights after training"),
        "val": Flag(
            help="choose the model on this labelled data (e.g. sst2:dev) and train on all of "
            "DATA, instead of holding out --val-fraction of it"
        ),
        "phrases": Flag(help="SST trees: train on every labelled phrase (scored on sentences)"),
        "tokens": Flag(
            help="word (default), char, bpe or wordpiece",
            choices=("word", "char", "bpe", "wordpiece"),
        ),
        "normalise": Flag(help="numbers -> [NUM], links -> [URL] (default on)"),
        "max_len": Flag(help="text: keep the first N tokens of each text (default all)"),
        "vectors": Flag(help="GloVe-format text file of word vectors for the embedding"),
        **TEXT_FILE_FLAGS,
        "skip_bad_files": Flag(help="leave out a class folder's binary or undecodable files"),
        "shift": Flag(help="numeric series: train on copies shifted up to K steps in time"),
        "shift_features": Flag(help="images read row by row: shift up to K columns too"),
        "cell": Flag(help="default lstm", choices=cell_names()),
        "hidden_size": Flag("hidden", "units per layer, or one size per layer: --hidden 64 32"),
        "num_layers": Flag("layers", "default: 1, or one per --hidden size"),
        "embedding_size": Flag("embedding", "text: embedding width (default 64)"),
        "projection_size": Flag("projection", "numeric: project each step to this width first"),
        "input_dropout": Flag(help="dropout on the first layer's inputs (word vectors); default 0"),
        "word_dropout": Flag(
            help="text: in training, read each token as [UNK] with this probability; default 0"
        ),
        "recurrent_dropout": Flag(help="variational dropout on the recurrent state; default 0"),
        "zoneout": Flag(help="zoneout probability of the recurrent state; default 0"),
        "ensemble": Flag(help="train K networks at once and average their probabilities"),
        "cross_fit": Flag(
            help="with --ensemble K: network k holds out its own --val-fraction of DATA, so "
            "the ensemble trains on all of it; validation is out-of-fold"
        ),
        "bidirectional": Flag(help="read each sequence both ways (default on)"),
        "pooling": Flag(
            help="last (default), mean, max or attention",
            choices=("last", "mean", "max", "attention"),
        ),
        "dense": Flag(help="widths of ReLU layers after pooling (default 64; none: no such layer)"),
        "output": Flag(
            help="softmax (default) or binary_sigmoid", choices=("softmax", "binary_sigmoid")
        ),
    }

    # ---- data ----------------------------------------------------------------------------
    def read(self, source: str, config: ClassifyData) -> LabelledTexts | LabelledSeries:
        return load_labelled(source, **config.loader_options())

    def read_scored(self, source: str, config: ClassifyData) -> LabelledTexts | LabelledSeries:
        return load_labelled(source, **config.loader_options(training=False))

    def digest(self, raw) -> str:
        return raw.digest()

    def prepare(self, raw, config: ClassifyData, artifacts: Mapping[str, Any] | None) -> Prepared:
        folds = None
        if config.val is not None:  # every example trains; the model is chosen on --val
            train, val = raw, self.read_flagged("--val", config.val, config)
        else:
            train_rows, val_rows = split_indices(len(raw), config.val_fraction, config.split_seed)
            if len(train_rows) == 0:
                raise DataError(f"the data has {len(raw)} example(s): too few to train on")
            if config.cross_fit:  # every example trains; network k leaves out fold k
                folds = fold_ids(len(raw), config.val_fraction, config.split_seed)
                train = val = raw
            else:
                train, val = raw.subset(train_rows), raw.subset(val_rows) if len(val_rows) else None
        if artifacts is None:
            artifacts = self._fit(train, config)
        where = "the training data"
        inputs = self._encode(train, artifacts, config, where)
        parts = [Examples(inputs, label_ids(train.labels, artifacts["labels"], where), folds)]
        if folds is not None:  # trainer_task keeps the folds the ensemble's networks hold out
            parts.append(parts[0])
        elif val is None:
            parts.append(Examples([], torch.zeros(0, dtype=torch.long)))
        else:
            if config.val is not None:
                where = f"the validation data (--val {config.val})"
            width = None if "encoder" in artifacts else int(inputs[0].shape[-1])
            parts.append(Examples(*self._check_labelled(val, artifacts, config, where, width)))
        held_out = None if config.val is None else (f"--val {config.val}", val.digest())
        return Prepared(tuple(parts), dict(artifacts), held_out)

    def _fit(self, train, config: ClassifyData) -> dict[str, Any]:
        classes = train.classes
        if len(classes) < 2:
            raise DataError(
                f"the training data has {len(classes)} class(es) ({', '.join(classes)}); "
                "a classifier needs at least 2"
            )
        folded: dict[str, str] = {}
        for name in classes:
            other = folded.setdefault(name.casefold(), name)
            if other != name:
                warnings.warn(
                    f"the labels {other!r} and {name!r} differ only in case; they are "
                    "trained as two classes (make them the same if they are one)",
                    RnnkitWarning,
                    stacklevel=2,
                )
                break
        artifacts: dict[str, Any] = {"labels": classes}
        if is_text(train):
            if config.vectors is not None and not Path(config.vectors).is_file():
                raise DataError(f"--vectors file {config.vectors} does not exist")
            artifacts["encoder"] = TextEncoder.fit(
                train.texts,
                tokens=config.tokens,
                lowercase=config.lowercase,
                normalise=config.normalise,
                min_freq=config.min_freq,
                max_vocab=config.max_vocab,
            )
        elif config.standardise:
            artifacts["scaler"] = fit_scaler(train.series)
        return artifacts

    def _encode(
        self,
        data,
        artifacts: Mapping[str, Any],
        config: ClassifyData,
        where: str,
        width: int | None = None,
    ) -> list[torch.Tensor]:
        """The model's inputs for ``data``; ``width``: the values per step a numeric
        model reads (None: the training data, which sets it)."""
        if is_text(data):
            if "encoder" not in artifacts:
                raise DataError(f"{where} is text, but this model reads numeric series")
            ids = artifacts["encoder"].encode_batch(data.texts)
            if config.max_len is not None:
                ids = [seq[: config.max_len] for seq in ids]
            empty = [i for i, seq in enumerate(ids) if not seq]
            if empty:
                raise DataError(
                    f"{where}: example {empty[0] + 1} ({data.texts[empty[0]][:40]!r}) has no "
                    "tokens; remove empty texts"
                )
            return [torch.tensor(seq, dtype=torch.long) for seq in ids]
        if "encoder" in artifacts:
            raise DataError(f"{where} holds numeric series, but this model reads text")
        if width is not None:
            for i, series in enumerate(data.series):
                if series.shape[-1] != width:
                    raise DataError(
                        f"{where}: series {i + 1} has {series.shape[-1]} value(s) per step "
                        f"but the model reads {width} per step"
                    )
        return scale(data.series, artifacts.get("scaler"))

    def artifacts_to_json(self, artifacts: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"labels": list(artifacts["labels"])}
        if "encoder" in artifacts:
            out["encoder"] = artifacts["encoder"].to_json()
        if "scaler" in artifacts:
            out["scaler"] = artifacts["scaler"]
        return out

    def artifacts_from_json(self, data: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(data)
        if "encoder" in data:
            out["encoder"] = TextEncoder.from_json(data["encoder"])
        return out

    # ---- model and training ------------------------------------------------------------
    def derive_model_fields(self, config: ClassifyData, prepared: Prepared) -> dict[str, Any]:
        train, _ = prepared.data
        derived: dict[str, Any] = {"num_classes": len(prepared.artifacts["labels"])}
        if "encoder" in prepared.artifacts:
            encoder = prepared.artifacts["encoder"]
            return derived | {
                "vocab_size": encoder.vocab_size,
                "pad_id": encoder.pad_id,
                "unk_id": encoder.unk_id,
            }
        return derived | {"input_size": int(train.inputs[0].shape[-1])}

    def build_model(self, config: ClassifierConfig) -> SequenceClassifier:
        return SequenceClassifier(config)

    def trainer_task(self, spec, prepared: Prepared, model: SequenceClassifier) -> ClassifyTask:
        train, val = prepared.data
        if spec.data.vectors is not None and Path(spec.data.vectors).is_file():
            vectors, _ = load_vectors(spec.data.vectors, prepared.artifacts["encoder"])
            width = spec.model.embedding_size
            if vectors.shape[1] != width:
                raise ConfigError(
                    f"--vectors has {vectors.shape[1]}-wide vectors but the embedding is "
                    f"{width} wide; pass --embedding {vectors.shape[1]}",
                    field="embedding_size",
                    problem=f"must be {vectors.shape[1]} to match --vectors",
                )
            with torch.no_grad():
                for network in model.networks():  # every member of an ensemble
                    network.embedding.weight.copy_(vectors)
        if (spec.data.shift or spec.data.shift_features) and "encoder" in prepared.artifacts:
            raise ConfigError(
                "--shift and --shift-features move numeric series; this data is text",
                field="shift",
                problem="applies to numeric series only; this data is text",
            )
        if val.folds is not None:  # cross-fitted: validate on the K folds held out
            val = val.subset(torch.nonzero(val.folds < spec.model.ensemble).squeeze(1))
        scaler = prepared.artifacts.get("scaler")
        return ClassifyTask(
            model, train, val if len(val) else None, spec.data, spec.train.seed, scaler
        )

    def test_source(self, spec) -> str | None:
        return spec.data.test

    def check_spec(self, spec, prepared: Prepared) -> None:
        folds = prepared.data[0].folds
        if folds is not None:
            networks = spec.model.ensemble
            if networks < 2:
                raise validate.fail(
                    "ClassifyData",
                    "cross_fit",
                    "trains each network of an ensemble without its own part of DATA: "
                    "give --ensemble 2 or more",
                )
            parts = int(folds.max()) + 1
            if networks > parts:
                raise validate.fail(
                    "ClassifyData",
                    "cross_fit",
                    f"holds out --val-fraction {spec.data.val_fraction} of DATA for each of "
                    f"the --ensemble {networks} networks, but DATA has only {parts} such "
                    "parts; lower --ensemble or --val-fraction",
                )
            labels, classes = prepared.data[0].labels, prepared.artifacts["labels"]
            for k in range(networks):
                seen = torch.bincount(labels[folds != k], minlength=len(classes))
                if int(seen.min()) == 0:
                    missing = classes[int(torch.nonzero(seen == 0)[0])]
                    raise DataError(
                        f"--cross-fit: network {k + 1} of {networks} would train on no "
                        f"example of class {missing!r} (they are all in the part it holds "
                        "out); give more examples of it or a lower --val-fraction"
                    )
        if spec.train.monitor != "loss" and len(prepared.data[1]) == 0:
            raise validate.fail(
                "TrainConfig",
                "monitor",
                f"cannot be {spec.train.monitor!r} without held-out data to measure it on: "
                "give --val FILE or a --val-fraction above 0",
            )

    def check_test(self, spec, prepared: Prepared, raw) -> None:
        where = f"the test data (--test {spec.data.test})"
        self._check_labelled(raw, prepared.artifacts, spec.data, where, spec.model.input_size)

    def _check_labelled(
        self, raw, artifacts, config: ClassifyData, where: str, width: int | None
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The inputs and label ids of labelled data that is not the training data;
        ``width``: the values per step of the training series (None for text)."""
        inputs = self._encode(raw, artifacts, config, where, width)
        return inputs, label_ids(raw.labels, artifacts["labels"], where)

    # ---- a trained run ---------------------------------------------------------------------
    def evaluate(self, run, raw, report_dir: Path | None = None) -> dict[str, Any]:
        classes = run.artifacts["labels"]
        where = repr(raw.source) if raw.source else "the data"
        width = run.spec.model.input_size
        inputs, y = self._check_labelled(raw, run.artifacts, run.spec.data, where, width)
        loss, probs = score(run.model, inputs, y)
        figures = {"loss": loss, **classification_figures(y, probs, classes), "examples": len(y)}
        if report_dir is not None:
            shown = raw.texts if is_text(raw) else [f"series {i + 1}" for i in range(len(raw))]
            write_report(Path(report_dir), figures, classes, shown, y, probs)
        return figures

    def predict(self, run, inputs: Sequence[str]) -> list[dict[str, Any]]:
        classes = run.artifacts["labels"]
        for i, text in enumerate(inputs):
            if not text.strip():
                raise DataError(f"input {i + 1} is empty; give some text to classify")
        if "encoder" in run.artifacts:
            data = LabelledTexts(list(inputs), [classes[0]] * len(inputs))
        else:
            width = run.spec.model.input_size
            data = LabelledSeries(
                [parse_series(s, width, i + 1) for i, s in enumerate(inputs)],
                [classes[0]] * len(inputs),
            )
        _, probs = score(run.model, self._encode(data, run.artifacts, run.spec.data, "the input"))
        records = []
        for text, p in zip(inputs, probs.tolist(), strict=True):
            best = max(range(len(p)), key=p.__getitem__)
            records.append(
                {
                    "input": text,
                    "label": classes[best],
                    "probability": p[best],
                    "probabilities": dict(zip(classes, p, strict=True)),
                }
            )
        return records

    def describe_figures(self, figures: Mapping[str, Any]) -> str:
        lines = [
            f"accuracy {figures['accuracy']:.4f}  macro-F1 {figures['macro_f1']:.4f}  "
            f"loss {figures['loss']:.4f}  examples {figures['examples']}",
            f"{'class':>16} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}",
        ]
        for name, c in figures["per_class"].items():
            lines.append(
                f"{name[:16]:>16} {c['precision']:9.3f} {c['recall']:9.3f} {c['f1']:9.3f} {c['support']:8d}"
            )
        classes = list(figures["per_class"])
        return "\n".join([*lines, confusion_text(figures["confusion"], classes)])

    def describe_prediction(self, record: Mapping[str, Any]) -> str:
        return f"{record['label']}\t{record['probability']:.3f}\t{record['input']}"

    def next_commands(self, run_dir: str, spec) -> list[list[str]]:
        return [["rnnkit", "evaluate", run_dir, "DATA"], ["rnnkit", "predict", run_dir, "INPUT"]]


def parse_series(text: str, width: int, number: int) -> np.ndarray:
    """A series typed as text: steps separated by ';' (or new lines), the ``width``
    values of a step by ',' or spaces, e.g. ``"0.1,0.2; 0.3,0.4"``."""
    steps = [s for s in text.replace("\n", ";").split(";") if s.strip()]
    if not steps:
        raise DataError(f"input {number} is empty; give the series as steps separated by ';'")
    rows = []
    for k, step in enumerate(steps, start=1):
        try:
            values = [float(v) for v in step.replace(",", " ").split()]
        except ValueError:
            raise DataError(f"input {number}, step {k}: {step.strip()!r} is not numbers") from None
        if len(values) != width:
            raise DataError(
                f"input {number}, step {k} has {len(values)} value(s) but the model reads "
                f"{width} per step; separate steps with ';'"
            )
        if not all(np.isfinite(values)):
            raise DataError(f"input {number}, step {k} has a NaN or infinite value")
        rows.append(values)
    return np.asarray(rows, dtype=np.float32)
