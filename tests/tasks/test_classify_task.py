"""The classification task end to end: train, evaluate, predict, reports, bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.data.labelled import LabelledSeries
from rnnkit.data.labelled_load import load_labelled
from rnnkit.errors import ConfigError, DataError
from rnnkit.runs import get_task, load_run, train_run
from rnnkit.tasks.classify_data import (
    ClassifyData,
    fit_scaler,
    fold_ids,
    pad_batch,
    score,
    split_indices,
)

POSITIVE = ["a great film", "great acting and a fine story", "fine and great", "a fine film"]
NEGATIVE = ["a dull film", "dull acting and a bad story", "bad and dull", "a bad film"]
FAST = ["--steps", "150", "--eval-every", "50", "--no-progress", "--lr", "0.01", "--hidden", "16"]


def write_table(path, rows, header=("text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(header)
        out.writerows(rows)
    return path


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reviews")
    rows = [(t, "pos") for t in POSITIVE] * 6 + [(t, "neg") for t in NEGATIVE] * 6
    return write_table(folder / "reviews.csv", rows)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory, reviews):
    run_dir = tmp_path_factory.mktemp("runs") / "reviews"
    assert (
        main(
            ["train", "classify", str(reviews), "--out", str(run_dir), "--val-fraction", "0", *FAST]
        )
        == 0
    )
    return run_dir


def test_a_tiny_model_learns_a_tiny_text_set(text_run, reviews, capsys):
    assert main(["evaluate", str(text_run), str(reviews), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["accuracy"] == 1.0 and figures["macro_f1"] == 1.0
    assert figures["confusion"] == [[24, 0], [0, 24]]  # classes in sorted order: neg, pos
    assert json.loads((text_run / "labels.json").read_text()) == ["neg", "pos"]
    assert (text_run / "encoder.json").exists()


def test_predict_prints_label_and_probability(text_run, capsys):
    assert main(["predict", str(text_run), "a great story", "a dull story", "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["label"] for r in records] == ["pos", "neg"]
    for r in records:
        assert abs(sum(r["probabilities"].values()) - 1) < 1e-6
        assert r["probability"] == max(r["probabilities"].values()) > 0.5
    assert main(["predict", str(text_run), "   "]) == 2
    assert "input 1 is empty" in capsys.readouterr().err


def test_predict_reads_a_file_of_inputs_and_refuses_a_binary_one(text_run, tmp_path, capsys):
    good = tmp_path / "inputs.txt"
    good.write_text("a great story\n\na dull story\n", encoding="utf-8")
    assert main(["predict", str(text_run), "--file", str(good), "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["label"] for r in records] == ["pos", "neg"]  # the blank line is skipped
    binary = tmp_path / "inputs.bin"
    binary.write_bytes(b"\x00\x01\x02 not text \x00")
    assert main(["predict", str(text_run), "--file", str(binary)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "binary" in err and "inputs.bin" in err


def test_report_files(text_run, reviews, tmp_path, capsys):
    report = tmp_path / "report"
    assert main(["evaluate", str(text_run), str(reviews), "--report", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "accuracy 1.0000" in printed and "true \\ predicted" in printed
    with open(report / "predictions.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 48 and all(r["label"] == r["predicted"] for r in rows)
    assert all(abs(float(r["p_neg"]) + float(r["p_pos"]) - 1) < 1e-5 for r in rows)
    assert (report / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert "24" in (report / "confusion.txt").read_text()


def test_scoring_in_sorted_chunks_equals_one_example_at_a_time(text_run):
    """Chunked, length-sorted, padded scoring gives each example exactly what it gets alone."""
    run = load_run(text_run)
    encoder = run.artifacts["encoder"]
    texts = POSITIVE + NEGATIVE + ["great great great great fine fine film and story"]
    inputs = [torch.tensor(encoder.encode(t)) for t in texts]
    _, together = score(run.model, inputs, chunk=4)
    for x, p in zip(inputs, together, strict=True):
        alone = run.model.probabilities(x.unsqueeze(0), torch.tensor([len(x)]))[0]
        assert torch.allclose(alone, p, atol=1e-6, rtol=0)


def test_standardisation_sees_the_training_part_only():
    rng = np.random.default_rng(0)
    series = [
        rng.normal(3.0, 2.0, size=(rng.integers(4, 9), 2)).astype(np.float32) for _ in range(40)
    ]
    data = LabelledSeries(series, ["a", "b"] * 20)
    config = ClassifyData(val_fraction=0.25, split_seed=3)
    prepared = get_task("classify").prepare(data, config, None)
    train_rows, val_rows = split_indices(40, 0.25, 3)
    steps = np.concatenate([series[i] for i in train_rows]).astype(np.float64)
    assert np.allclose(prepared.artifacts["scaler"]["mean"], steps.mean(0))
    assert np.allclose(prepared.artifacts["scaler"]["std"], steps.std(0))
    # Changing the held-out series changes nothing that was fitted.
    changed = [s * 100 if i in set(val_rows) else s for i, s in enumerate(series)]
    again = get_task("classify").prepare(LabelledSeries(changed, data.labels), config, None)
    assert again.artifacts["scaler"] == prepared.artifacts["scaler"]
    assert fit_scaler([np.ones((3, 1), np.float32)])["std"] == [1.0]  # constant: no division by 0


def test_numeric_series_train_and_predict(tmp_path, capsys):
    # Class "up" rises, class "down" falls; one value per step, lengths 5..9.
    rng = np.random.default_rng(1)
    lines = []
    for i in range(60):
        n = int(rng.integers(5, 10))
        values = np.linspace(0, 1, n) if i % 2 else np.linspace(1, 0, n)
        lines.append(
            ",".join(
                ["up" if i % 2 else "down", *(f"{v + rng.normal(0, 0.05):.3f}" for v in values)]
            )
        )
    data = tmp_path / "series.csv"
    data.write_text("\n".join(lines) + "\n")
    run_dir = tmp_path / "run"
    code = main(
        [
            "train",
            "classify",
            str(data),
            "--out",
            str(run_dir),
            "--no-bidirectional",
            "--cell",
            "gru",
            *FAST,
        ]
    )
    assert code == 0
    capsys.readouterr()
    assert json.loads((run_dir / "config.json").read_text())["model"]["input_size"] == 1
    assert main(["predict", str(run_dir), "0;0.2;0.5;0.7;1", "1;0.7;0.4;0.1;0", "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["label"] for r in records] == ["up", "down"]
    assert main(["predict", str(run_dir), "0,1;2,3"]) == 2
    assert "has 2 value(s) but the model reads 1 per step" in capsys.readouterr().err
    # Series two values wide, to a model that reads one: one line, at evaluate and
    # as --test (before any training, so no run folder).
    wide = tmp_path / "wide.ts"
    wide.write_text(
        "@problemName wide\n@univariate false\n@dimensions 2\n@equalLength true\n"
        "@seriesLength 3\n@classLabel true up down\n@data\n"
        "0,0.5,1:1,1,1:up\n1,0.5,0:1,1,1:down\n"
    )
    assert main(["evaluate", str(run_dir), str(wide)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "series 1 has 2 value(s) per step" in err and "reads 1" in err
    other = tmp_path / "other"
    assert main(["train", "classify", str(data), "--out", str(other), "--test", str(wide)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the test data" in err and "reads 1 per step" in err
    assert not other.exists()


def test_word_dropout_is_saved_and_the_run_learns_with_it(tmp_path, reviews, capsys):
    out = tmp_path / "run"
    args = ["train", "classify", str(reviews), "--out", str(out), "--val-fraction", "0"]
    assert main([*args, *FAST, "--word-dropout", "0.2", "--seed", "3"]) == 0
    model = json.loads((out / "config.json").read_text())["model"]
    encoder = load_run(out).artifacts["encoder"]
    assert (model["word_dropout"], model["unk_id"]) == (0.2, encoder.unk_id)
    capsys.readouterr()
    assert main(["evaluate", str(out), str(reviews), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == 1.0  # evaluation drops nothing


def test_test_data_is_scored_after_training(tmp_path, reviews):
    test = write_table(tmp_path / "test.csv", [("a great film", "pos"), ("a bad film", "neg")])
    outcome = train_run(
        "classify",
        tmp_path / "run",
        source=reviews,
        data={"test": str(test), "val_fraction": 0.25},
        model={"hidden_size": 16},
        train={"max_steps": 100, "lr": 0.01, "progress": False},
    )
    assert outcome.test is not None and outcome.test["examples"] == 2
    assert json.loads((tmp_path / "run" / "test.json").read_text()) == outcome.test


def test_padding_collates_ids_and_features():
    x, lengths = pad_batch([torch.tensor([3, 4, 5]), torch.tensor([6])])
    assert x.tolist() == [[3, 4, 5], [6, 0, 0]] and lengths.tolist() == [3, 1]
    f, lengths = pad_batch([torch.ones(2, 3), torch.ones(1, 3)])
    assert f.shape == (2, 2, 3) and f[1, 1].abs().sum() == 0


@pytest.mark.parametrize(
    "rows, extra, message",
    [
        ([("good", "pos"), ("bad", "neg")] * 5, ["--text-col", "review"], "review"),
        ([("good", "pos"), ("", "neg")] * 5, [], "empty"),
        ([("good", "pos")] * 10, [], "at least 2"),
        ([("good", "pos"), ("bad", "neg")] * 5, ["--steps", "0"], "--steps must be"),
        (
            [("good", "pos"), ("bad", "neg")] * 5,
            ["--val-fraction", "1.5"],
            "--val-fraction must be",
        ),
        ([("good", "pos"), ("bad", "neg")] * 5, ["--pooling", "median"], "invalid choice"),
        ([("good", "pos"), ("bad", "neg")] * 5, ["--dense", "64", "none"], "none stands alone"),
        ([("good", "pos"), ("bad", "neg")] * 5, ["--dense", "0"], "--dense must be integers"),
        ([("good", "pos"), ("bad", "neg")] * 5, ["--dense", "x"], "expected integers or none"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, rows, extra, message):
    data = write_table(tmp_path / "d.csv", rows)
    out = tmp_path / "run"
    try:
        code = main(["train", "classify", str(data), "--out", str(out), "--steps", "3", *extra])
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_dense_none_trains_without_a_dense_layer_and_resume_names_it(tmp_path, capsys):
    # The benchmark's MR and SST networks have no dense layer (ClassifierConfig.dense
    # = ()); `--dense none` is how the command line asks for that.
    data = write_table(tmp_path / "d.csv", [("good", "pos"), ("bad", "neg")] * 5)
    base = ["train", "classify", str(data), "--steps", "2", "--no-progress", "--hidden", "4"]
    assert main([*base, "--dense", "none", "--out", str(tmp_path / "bare")]) == 0
    bare = load_run(tmp_path / "bare")
    assert bare.spec.model.dense == () and len(bare.model.dense) == 0
    assert main([*base, "--dense", "8", "4", "--out", str(tmp_path / "two")]) == 0
    widths = [
        m.out_features for m in load_run(tmp_path / "two").model.dense if hasattr(m, "out_features")
    ]
    assert widths == [8, 4]
    capsys.readouterr()
    code = main([*base, "--dense", "8", "--resume", str(tmp_path / "bare")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--dense 8 differs from the run's none" in err, err


@pytest.mark.parametrize(
    "content, message",
    [
        ("text,label\na great film,pos\nso so,meh\n", "not trained on: 'meh'"),
        ("text,label\na great film,pos\n  ,neg\n", "empty text"),
        ('text,label\n"a great film,pos\n', "quote fields"),
        ("pos,0.1,0.2\nneg,0.3,0.4\n", "reads text"),
        (None, "neither an existing path"),
    ],
)
@pytest.mark.parametrize("flag", ["--test", "--val"])
def test_a_bad_test_or_validation_file_fails_before_training(
    tmp_path, capsys, reviews, content, message, flag
):
    test = tmp_path / "held.csv"
    if content is not None:
        test.write_text(content, encoding="utf-8")
    out = tmp_path / "run"
    code = main(["train", "classify", str(reviews), "--out", str(out), flag, str(test)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert flag in err, err  # the message says which flag gave the file
    assert not out.exists()


def test_val_data_chooses_the_model_and_all_of_data_trains(tmp_path, reviews):
    val = write_table(
        tmp_path / "val.csv", [("a fine story", "pos"), ("a dull story", "neg"), ("bad", "neg")]
    )
    plugin = get_task("classify")
    raw = plugin.read(str(reviews), ClassifyData())
    prepared = plugin.prepare(raw, ClassifyData(val=str(val)), None)
    train, held = prepared.data
    assert len(train) == len(raw) == 48  # nothing held out of DATA
    with pytest.raises(ConfigError, match="val_fraction is unused with --val"):
        ClassifyData(val=str(val), val_fraction=0.5)
    assert held.labels.tolist() == [1, 0, 0]  # the file's labels in its order (neg=0, pos=1)
    outcome = train_run(
        "classify",
        tmp_path / "run",
        source=reviews,
        data={"val": str(val)},
        model={"hidden_size": 16},
        train={"max_steps": 60, "eval_every": 20, "lr": 0.01, "progress": False},
    )
    # The best weights are those of the lowest loss on the --val file, and scoring the
    # file again with them gives that loss.
    with open(tmp_path / "run" / "metrics.csv", encoding="utf-8") as handle:
        losses = [float(r["loss"]) for r in csv.DictReader(handle) if r["split"] == "val"]
    assert outcome.result.best_val_loss == pytest.approx(min(losses), abs=1e-6)
    again = load_run(tmp_path / "run").evaluate(str(val))
    assert again["examples"] == 3 and again["loss"] == pytest.approx(min(losses), abs=1e-5)


@pytest.mark.parametrize("n, fraction", [(48, 0.25), (10, 0.3), (7, 0.1)])
def test_folds_cut_the_split_permutation_so_fold_zero_is_the_plain_split(n, fraction):
    folds = fold_ids(n, fraction, seed=3)
    _, val = split_indices(n, fraction, 3)
    size = len(val)
    assert torch.nonzero(folds == 0).squeeze(1).tolist() == val.tolist()
    counts = torch.bincount(folds).tolist()
    assert counts[:-1] == [size] * (len(counts) - 1) and 0 < counts[-1] <= size
    assert sum(counts) == n


def test_a_cross_fitted_ensemble_trains_on_all_data_and_validates_out_of_fold(tmp_path, reviews):
    plugin = get_task("classify")
    config = ClassifyData(val_fraction=0.25, cross_fit=True)
    prepared = plugin.prepare(plugin.read(str(reviews), config), config, None)
    assert len(prepared.data[0]) == 48  # every example trains (some networks)
    outcome = train_run(
        "classify",
        tmp_path / "run",
        source=reviews,
        data={"val_fraction": 0.25, "cross_fit": True},
        model={"hidden_size": 16, "ensemble": 3, "dropout": 0.0},
        train={"max_steps": 40, "eval_every": 20, "lr": 0.01, "progress": False},
    )
    run = load_run(tmp_path / "run")
    folds = fold_ids(48, 0.25, 0)
    inputs, labels = prepared.data[0].inputs, prepared.data[0].labels
    # The kept weights' validation loss, from each held-out example scored by the one
    # network that never trained on it, computed here network by network.
    total, count, right = 0.0, 0, 0
    with torch.no_grad():
        for k, network in enumerate(run.model.networks()):
            for i in torch.nonzero(folds == k).squeeze(1).tolist():  # one example at a time
                p = network.probabilities(inputs[i][None], torch.tensor([len(inputs[i])]))[0]
                total, count = total - float(p[labels[i]].log()), count + 1
                right += int(p.argmax()) == int(labels[i])
    assert count == 36  # folds 0, 1, 2 of 12 each; fold 3 trains all three networks
    assert outcome.result.best_val_loss == pytest.approx(total / count, abs=1e-5)
    with open(tmp_path / "run" / "metrics.csv", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["split"] == "val"]
    best = min(rows, key=lambda r: float(r["loss"]))
    assert float(best["accuracy"]) == pytest.approx(right / count, abs=1e-6)
    # Training batches carry each example's fold, and the step's loss leaves each
    # example out of its own network (tests/models: that network gets no gradient).
    task = plugin.trainer_task(run.spec, prepared, run.model.eval())
    assert len(task.val) == 36 and len(task.train) == 48
    chosen = np.array([0, 5, 17, 30, 41])
    task.order.next = lambda: chosen  # these rows, whatever the shuffle
    x, lengths, y, batch_folds = task.next_batch()
    assert batch_folds.tolist() == folds[chosen].tolist() and y.tolist() == labels[chosen].tolist()
    with torch.no_grad():
        logits = run.model(x, lengths)
        step = float(task.training_loss((x, lengths, y, batch_folds)).loss)
        assert step == pytest.approx(float(run.model.loss(logits, y, held_out=batch_folds)))
        assert step != pytest.approx(float(run.model.loss(logits, y)), rel=1e-3)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--cross-fit"], "--cross-fit trains each network of an ensemble"),
        (["--cross-fit", "--ensemble", "5", "--val-fraction", "0.3"], "only 4 such parts"),
        (["--cross-fit", "--ensemble", "2", "--val-fraction", "0"], "--cross-fit holds out"),
        (["--cross-fit", "--ensemble", "2", "--val", "VAL"], "--cross-fit holds out"),
        (["--cross-fit", "--ensemble", "2", "--val-fraction", "0.5", "RARE"], "no example of"),
    ],
)
def test_cross_fit_settings_that_cannot_work_are_one_line(
    tmp_path, capsys, reviews, extra, message
):
    out = tmp_path / "run"
    data = reviews
    if "RARE" in extra:  # one 'meh' example: whichever part holds it lacks the class
        data = write_table(
            tmp_path / "rare.csv", [("good", "pos"), ("bad", "neg")] * 5 + [("so so", "meh")]
        )
        extra = extra[:-1]
    extra = [str(reviews) if e == "VAL" else e for e in extra]
    code = main(["train", "classify", str(data), "--out", str(out), "--steps", "3", *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not out.exists()


@pytest.mark.parametrize("monitor", ["accuracy", "macro_f1"])
def test_monitor_keeps_the_weights_of_the_first_highest_val_figure(
    tmp_path, reviews, capsys, monitor
):
    rows = [("a fine story", "pos"), ("a dull story", "neg"), ("bad", "neg"), ("great", "pos")]
    # More negatives than positives, so macro-F1 and accuracy rank evaluations apart.
    val = write_table(tmp_path / "val.csv", rows + [("a bad story", "neg"), ("dull acting", "neg")])
    out = tmp_path / "run"
    typed = monitor.replace("_", "-")  # macro-f1, as flags are spelt, is macro_f1
    args = ["train", "classify", str(reviews), "--val", str(val), "--monitor", typed]
    assert (
        main([*args, "--out", str(out), *FAST[:2], "--eval-every", "5", *FAST[4:], "--json"]) == 0
    )
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    with open(out / "metrics.csv", encoding="utf-8") as handle:
        evals = [r for r in csv.DictReader(handle) if r["split"] == "val"]
    figures = [float(r[monitor]) for r in evals]
    chosen = evals[figures.index(max(figures))]
    # Scoring the --val file with the kept weights gives that evaluation's figure and
    # loss (the loss tells it from a later evaluation with the same figure).
    again = load_run(out).evaluate(str(val))
    assert again[monitor] == pytest.approx(float(chosen[monitor]), abs=1e-6)
    assert again["loss"] == pytest.approx(float(chosen["loss"]), abs=1e-5)
    assert result["best_val_loss"] == pytest.approx(float(chosen["loss"]), abs=1e-6)
    assert result["best_val_score"] == pytest.approx(float(chosen[monitor]), abs=1e-6)
    assert result["monitor"] == monitor
    assert json.loads((out / "config.json").read_text())["train"]["monitor"] == monitor


def test_macro_f1_in_the_metrics_counts_each_class_alike(tmp_path, reviews):
    """The validation macro-F1 the trainer logs, recomputed by hand from the kept
    weights' predictions (per class F1 = 2 tp / (2 tp + fp + fn), then the mean)."""
    # "great" labelled neg: a model that reads it as pos errs, so F1 differs per class.
    val_rows = [("a fine story", "pos"), ("a dull story", "neg"), ("dull", "neg"), ("great", "neg")]
    val = write_table(tmp_path / "val.csv", val_rows)
    out = tmp_path / "run"
    train = {"max_steps": 12, "eval_every": 12, "lr": 0.01, "progress": False}
    train_run(
        "classify",
        out,
        source=reviews,
        data={"val": str(val)},
        model={"hidden_size": 8},
        train=train | {"monitor": "macro_f1"},
    )
    with open(out / "metrics.csv", encoding="utf-8") as handle:
        (row,) = [r for r in csv.DictReader(handle) if r["split"] == "val"]
    predicted = [p["label"] for p in load_run(out).predict([t for t, _ in val_rows])]
    f1s = []
    for name in ("neg", "pos"):
        tp = sum(p == name == t for p, (_, t) in zip(predicted, val_rows, strict=True))
        fp = sum(p == name != t for p, (_, t) in zip(predicted, val_rows, strict=True))
        fn = sum(t == name != p for p, (_, t) in zip(predicted, val_rows, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    assert float(row["macro_f1"]) == pytest.approx(sum(f1s) / 2, abs=1e-6)
    assert float(row["macro_f1"]) != pytest.approx(float(row["accuracy"]), abs=1e-3)


def test_resume_refuses_a_val_file_that_changed_since_the_run_chose_on_it(
    tmp_path, reviews, capsys
):
    rows = [("a fine story", "pos"), ("a dull story", "neg"), ("bad", "neg"), ("great", "pos")]
    val = write_table(tmp_path / "val.csv", rows)
    out = tmp_path / "run"
    args = ["train", "classify", str(reviews), "--val", str(val), "--out", str(out)]
    assert (
        main([*args, "--steps", "10", "--eval-every", "5", "--no-progress", "--hidden", "8"]) == 0
    )
    recorded = json.loads((out / "config.json").read_text())["held_out_digest"]
    assert recorded == load_labelled(str(val)).digest()
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    write_table(val, rows[:3] + [("great", "neg")])  # one label edited in place
    capsys.readouterr()
    code = main(["train", "classify", "--resume", str(out), "--steps", "20", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"rnnkit: error: --val {val}: this file differs"), err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    write_table(val, rows)  # the original again: the run goes on
    assert main(["train", "classify", "--resume", str(out), "--steps", "20", "--no-progress"]) == 0
    assert json.loads((out / "config.json").read_text())["held_out_digest"] == recorded
    # A run written before the digest was recorded resumes as it did then.
    config = json.loads((out / "config.json").read_text())
    del config["held_out_digest"]
    (out / "config.json").write_text(json.dumps(config))
    write_table(val, rows[:3] + [("great", "neg")])
    assert main(["train", "classify", "--resume", str(out), "--steps", "30", "--no-progress"]) == 0


SST_TREES = [
    "(3 (2 (2 The) (2 Rock)) (4 (3 (2 is) (4 great)) (2 .)))",
    "(1 (2 It) (0 (1 (2 was) (0 awful)) (2 .)))",
    "(4 (3 (2 A) (4 fine)) (3 film))",
    "(0 (1 (2 A) (0 dull)) (1 film))",
]


def test_phrases_train_on_phrases_but_test_and_evaluate_read_sentences(tmp_path, capsys):
    trees = tmp_path / "trees.txt"
    trees.write_text("\n".join(SST_TREES * 3) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    args = ["train", "classify", str(trees), "--phrases", "--test", str(trees), "--val", str(trees)]
    assert main([*args, "--out", str(out), "--json", *FAST[:2], "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["test"]["examples"] == 12  # the sentences, not their 78 phrases
    assert main(["evaluate", str(out), str(trees), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["examples"] == 12
    prepared = get_task("classify").prepare(
        load_labelled(str(trees), phrases=True), ClassifyData(phrases=True, val=str(trees)), None
    )
    assert (len(prepared.data[0]), len(prepared.data[1])) == (78, 12)


def test_a_relative_test_path_is_recorded_absolute(tmp_path, reviews, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_table(tmp_path / "test.csv", [("a great film", "pos"), ("a bad film", "neg")])
    data = {"test": "test.csv", "val_fraction": 0}
    train_run("classify", "run", source=reviews, data=data, train={"max_steps": 1})
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())["data"]["test"]
    assert recorded == str(tmp_path / "test.csv")


def test_labels_only_in_the_evaluation_data_are_named(text_run, tmp_path, capsys):
    other = write_table(tmp_path / "other.csv", [("a great film", "pos"), ("so so", "meh")])
    assert main(["evaluate", str(text_run), str(other)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'meh'" in err and "not trained on" in err


def test_an_ensemble_starts_from_the_vectors_and_exports(tmp_path, reviews, capsys):
    vectors = tmp_path / "glove.txt"
    vectors.write_text("great 1 2 3\ndull -1 -2 -3\nfilm 0.5 0.5 0.5\n")
    run_dir = tmp_path / "run"
    flags = ["--vectors", str(vectors), "--embedding", "3", "--ensemble", "2", "--steps", "1"]
    flags += ["--lr", "1e-9", "--weight-decay", "0", "--no-progress", "--hidden", "4"]
    assert main(["train", "classify", str(reviews), "--out", str(run_dir), *flags]) == 0
    run = load_run(run_dir)
    encoder = run.artifacts["encoder"]
    networks = run.model.networks()
    assert len(networks) == 2
    for network in networks:
        for word, row in [("great", [1, 2, 3]), ("dull", [-1, -2, -3]), ("film", [0.5] * 3)]:
            got = network.embedding.weight[encoder.encode(word)[0]]
            torch.testing.assert_close(
                got, torch.tensor(row, dtype=torch.float32), atol=1e-6, rtol=0
            )
    # The exported ensemble's logits give the averaged probabilities.
    onnxruntime = pytest.importorskip("onnxruntime")
    assert main(["export", str(run_dir), "--format", "onnx", "--json"]) == 0
    capsys.readouterr()
    session = onnxruntime.InferenceSession(str(run_dir / "export" / "onnx" / "sequence.onnx"))
    x = torch.tensor([encoder.encode("a great film") + [0], encoder.encode("a dull film story")])
    lengths = torch.tensor([3, 4])
    got = session.run(None, {"x": x.numpy(), "lengths": lengths.numpy()})[0]
    with torch.no_grad():
        want = run.model.probabilities(x, lengths)
    torch.testing.assert_close(torch.softmax(torch.from_numpy(got), -1), want, atol=1e-5, rtol=0)
    # Vectors of another width: one line naming --embedding, no run folder.
    other = tmp_path / "other"
    wide = ["--vectors", str(vectors), "--embedding", "5", "--steps", "1", "--out", str(other)]
    assert main(["train", "classify", str(reviews), *wide]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--embedding must be 3" in err and not other.exists()


def test_run_predict_wants_a_list_of_strings(text_run):
    run = load_run(text_run)
    assert [r["label"] for r in run.predict(["a great story"])] == ["pos"]
    for bad, message in (("a great story", "got str; for one input pass"), (None, "got NoneType"),
                         ([1, 2], "input 1 is int")):  # fmt: skip
        with pytest.raises(DataError, match=message):
            run.predict(bad)


def test_labels_differing_only_in_case_are_one_warning_line(tmp_path, capsys):
    rows = [("a great film", "pos"), ("a dull film", "neg"), ("so great", "POS")] * 4
    data = write_table(tmp_path / "case.csv", rows)
    args = ["train", "classify", str(data), "--out", str(tmp_path / "run"), "--steps", "1"]
    assert main([*args, "--no-progress", "--hidden", "4"]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warned == [
        "rnnkit: warning: the labels 'POS' and 'pos' differ only in case; they are trained "
        "as two classes (make them the same if they are one)"
    ]
