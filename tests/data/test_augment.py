"""Shift augmentation: hand-checked shifts, raw-space feature shifts, determinism and
resume inside the classification task, and text refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.data.augment import ShiftAugment, shift
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tasks.classify_data import ClassifyData, ClassifyTask, Examples


def test_shifts_repeat_the_edge_value():
    x = torch.arange(5.0)
    assert shift(x, 2, 0).tolist() == [0.0, 0.0, 0.0, 1.0, 2.0]
    assert shift(x, -1, 0).tolist() == [1.0, 2.0, 3.0, 4.0, 4.0]
    assert shift(x, 0, 0) is x


def test_feature_shifts_move_raw_values_between_differently_scaled_columns():
    scaler = {"mean": [0.0, 10.0, 20.0], "std": [1.0, 2.0, 4.0]}
    raw = torch.tensor([[1.0, 12.0, 28.0]])  # one step, three features
    scaled = (raw - torch.tensor(scaler["mean"])) / torch.tensor(scaler["std"])
    augment = ShiftAugment(0, 1, scaler, seed=0)
    for _ in range(20):
        out = augment(scaled) * torch.tensor(scaler["std"]) + torch.tensor(scaler["mean"])
        assert out.tolist() in ([[1.0, 1.0, 12.0]], [[12.0, 28.0, 28.0]], [[1.0, 12.0, 28.0]])


def _task(shift_steps: int, seed: int = 0) -> ClassifyTask:
    rng = np.random.default_rng(3)
    inputs = [torch.tensor(rng.normal(size=(6, 2)), dtype=torch.float32) for _ in range(10)]
    train = Examples(inputs, torch.tensor([0, 1] * 5))
    model = SequenceClassifier(ClassifierConfig(num_classes=2, input_size=2, hidden_size=4))
    config = ClassifyData(batch_size=4, shift=shift_steps, shift_features=1)
    return ClassifyTask(model, train, None, config, seed, {"mean": [0.0, 0.0], "std": [1.0, 1.0]})


def test_augmented_batches_are_seeded_and_resume_exactly():
    plain, shifted = _task(0), _task(2)
    assert not torch.equal(plain.next_batch()[0], shifted.next_batch()[0])
    a, b = _task(2), _task(2)
    for _ in range(3):
        assert all(torch.equal(x, y) for x, y in zip(a.next_batch(), b.next_batch(), strict=True))
    state = a.state_dict()
    expected = [a.next_batch()[0] for _ in range(4)]
    c = _task(2, seed=99)  # another seed, then the saved state
    c.load_state_dict(state)
    assert all(torch.equal(c.next_batch()[0], e) for e in expected)


def test_shifting_text_is_a_one_line_error(tmp_path, capsys):
    rows = "text,label\n" + "a good film,pos\na bad film,neg\n" * 5
    (tmp_path / "t.csv").write_text(rows)
    args = ["train", "classify", str(tmp_path / "t.csv"), "--out", str(tmp_path / "run")]
    assert main([*args, "--shift", "2", "--steps", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--shift" in err and "text" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("value", ["-1"])
def test_a_negative_shift_is_refused(tmp_path, capsys, value):
    (tmp_path / "s.csv").write_text("label,a,b\n0,1,2\n1,2,3\n" * 4)
    args = ["train", "classify", str(tmp_path / "s.csv"), "--out", str(tmp_path / "run")]
    assert main([*args, "--shift", value, "--no-progress"]) == 2
    assert "--shift must be an integer >= 0" in capsys.readouterr().err
