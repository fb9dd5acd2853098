"""Checkpoint files: atomic replacement, validated loading, corrupt files, devices."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from train_toys import LinearTask, SequenceRegressionTask, ToyRegressor

from rnnkit.errors import CheckpointError, ConfigError
from rnnkit.train import (
    TrainConfig,
    Trainer,
    atomic_save_safetensors,
    atomic_write_bytes,
    checkpoint_step,
    load_weights,
    read_safetensors,
    save_weights,
)

CONFIG = TrainConfig(max_steps=10, eval_every=5, checkpoint_every=5, progress=False)


def trained_run(run_dir: Path) -> SequenceRegressionTask:
    task = SequenceRegressionTask()
    Trainer(task, CONFIG, run_dir).fit()
    return task


def test_failed_replace_leaves_the_old_file_loadable(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "weights.safetensors"
    atomic_save_safetensors({"w": torch.ones(3)}, path, {"note": "old"})

    def replace_fails(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", replace_fails)
    with pytest.raises(OSError, match="disk full"):
        atomic_save_safetensors({"w": torch.zeros(3)}, path, {"note": "new"})
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(path, b"garbage")
    monkeypatch.undo()
    tensors, metadata = read_safetensors(path)
    assert torch.equal(tensors["w"], torch.ones(3))
    assert metadata == {"note": "old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.safetensors"]  # no temp left


def test_checkpoint_survives_a_failure_while_saving_the_next(tmp_path: Path, monkeypatch) -> None:
    trained_run(tmp_path)
    before = (tmp_path / "checkpoint.safetensors").read_bytes()
    longer = TrainConfig(**{**CONFIG.to_dict(), "max_steps": 20})

    def replace_fails(src, dst):
        raise OSError("power cut")

    trainer = Trainer(SequenceRegressionTask(), longer, tmp_path, resume=True)
    monkeypatch.setattr(os, "replace", replace_fails)
    with pytest.raises(OSError, match="power cut"):
        trainer.fit()
    monkeypatch.undo()
    assert (tmp_path / "checkpoint.safetensors").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # ...and it still resumes.
    result = Trainer(SequenceRegressionTask(), longer, tmp_path, resume=True).fit()
    assert result.steps == 20


def test_checkpoint_layout(tmp_path: Path) -> None:
    task = trained_run(tmp_path)
    with safe_open(str(tmp_path / "checkpoint.safetensors"), "pt") as handle:
        names = set(handle.keys())
        record = json.loads(handle.metadata()["rnnkit.train"])
    model_names = {f"model.{k}" for k in task.model.state_dict()}
    assert model_names <= names
    assert {"rng.torch", "task.h", "task.c", "optim.0.exp_avg", "optim.0.step"} <= names
    assert record["format"] == 2
    assert record["run"]["step"] == 10
    assert record["run"]["eval_pending"] is False
    assert record["run"]["window"]["count"] == 0  # just logged at step 10
    assert record["task"]["position"] == 10
    assert record["metrics"]["rows"] == 1 + 2  # one train row (log_every=10), two val rows
    assert record["optimizer"]["class"] == "Adam"
    assert len(record["rng"]["python"][1]) == 625
    assert record["config"] == CONFIG.to_dict()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_is_a_checkpoint_error(tmp_path: Path, damage: str) -> None:
    trained_run(tmp_path)
    path = tmp_path / "checkpoint.safetensors"
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x07" * 64 + data[64:])
    else:
        path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        Trainer(SequenceRegressionTask(), CONFIG, tmp_path, resume=True)


def test_weights_file_is_not_a_resume_checkpoint(tmp_path: Path) -> None:
    save_weights(SequenceRegressionTask().model, tmp_path / "checkpoint.safetensors")
    with pytest.raises(CheckpointError, match="holds no training state"):
        Trainer(SequenceRegressionTask(), CONFIG, tmp_path, resume=True)


def test_checkpoint_from_another_model_names_the_parameter(tmp_path: Path) -> None:
    trained_run(tmp_path)
    other = SequenceRegressionTask()
    other.model = ToyRegressor(hidden_size=8)
    with pytest.raises(CheckpointError, match=r"lstm.weight_ih_l0 has shape \(64, 3\)"):
        Trainer(other, CONFIG, tmp_path, resume=True)


def test_resume_with_another_optimizer_is_refused(tmp_path: Path) -> None:
    trained_run(tmp_path)
    sgd = TrainConfig(**{**CONFIG.to_dict(), "optimizer": "sgd"})
    with pytest.raises(CheckpointError, match="holds Adam state but the config builds SGD"):
        Trainer(SequenceRegressionTask(), sgd, tmp_path, resume=True)


def test_best_weights_load_into_a_fresh_model(tmp_path: Path) -> None:
    task = LinearTask(val_losses=[0.5, 0.2, 0.3, 0.4])
    config = TrainConfig(max_steps=8, eval_every=2, progress=False)
    Trainer(task, config, tmp_path).fit()
    fresh = torch.nn.Linear(4, 1)
    load_weights(tmp_path / "best.safetensors", fresh)
    best = task.snapshots[2]  # the second evaluation (step 4) had the lowest loss
    for name, tensor in fresh.state_dict().items():
        assert torch.equal(tensor, best[name])
    assert not torch.equal(fresh.weight, task.model.weight)
    load_weights(tmp_path / "last.safetensors", fresh)
    assert torch.equal(fresh.weight, task.model.weight)


def test_load_weights_names_missing_unexpected_and_mis_shaped(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_weights(torch.nn.Linear(4, 2), path)
    with pytest.raises(
        CheckpointError, match=r"weight has shape \(2, 4\) in the file but \(3, 4\)"
    ):
        load_weights(path, torch.nn.Linear(4, 3))
    atomic_save_safetensors({"weight": torch.zeros(2, 4)}, path)
    with pytest.raises(CheckpointError, match="missing from the file: bias"):
        load_weights(path, torch.nn.Linear(4, 2))
    atomic_save_safetensors(
        {"weight": torch.zeros(2, 4), "bias": torch.zeros(2), "x": torch.ones(1)}, path
    )
    with pytest.raises(CheckpointError, match="not in the model: x"):
        load_weights(path, torch.nn.Linear(4, 2))
    with pytest.raises(CheckpointError, match="does not exist"):
        load_weights(tmp_path / "nope.safetensors", torch.nn.Linear(4, 2))


def test_load_weights_maps_to_the_requested_device_and_prefix(tmp_path: Path) -> None:
    task = trained_run(tmp_path)
    model = ToyRegressor()
    load_weights(tmp_path / "checkpoint.safetensors", model, map_location="cpu", prefix="model.")
    for name, tensor in model.state_dict().items():
        assert tensor.device.type == "cpu"
        assert torch.equal(tensor, task.model.state_dict()[name])
    # Where tensors are read to follows map_location ("meta" stands in for a GPU here).
    tensors, _ = read_safetensors(tmp_path / "last.safetensors", device="meta")
    assert {t.device.type for t in tensors.values()} == {"meta"}


def test_tied_weights_are_saved_under_both_names(tmp_path: Path) -> None:
    model = torch.nn.Sequential(
        torch.nn.Linear(3, 3, bias=False), torch.nn.Linear(3, 3, bias=False)
    )
    model[1].weight = model[0].weight  # tied, as in a language model's embedding/decoder
    save_weights(model, tmp_path / "tied.safetensors")
    tensors, _ = read_safetensors(tmp_path / "tied.safetensors")
    assert set(tensors) == {"0.weight", "1.weight"}
    assert torch.equal(tensors["0.weight"], tensors["1.weight"])
    fresh = torch.nn.Sequential(
        torch.nn.Linear(3, 3, bias=False), torch.nn.Linear(3, 3, bias=False)
    )
    load_weights(tmp_path / "tied.safetensors", fresh)
    assert torch.equal(fresh[1].weight, model[0].weight)


def test_bad_map_location_is_a_config_error(tmp_path: Path) -> None:
    save_weights(torch.nn.Linear(2, 2), tmp_path / "w.safetensors")
    with pytest.raises(ConfigError, match="not a torch device"):
        load_weights(tmp_path / "w.safetensors", torch.nn.Linear(2, 2), map_location="gpu0")


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ("{not json", "not a complete rnnkit training checkpoint"),
        ('{"format": 1}', "not a complete rnnkit training checkpoint"),
        ('{"format": 99}', "checkpoint format 99"),
    ],
)
def test_damaged_training_state_is_a_checkpoint_error(tmp_path: Path, record, message) -> None:
    atomic_save_safetensors(
        {"rng.torch": torch.get_rng_state()},
        tmp_path / "checkpoint.safetensors",
        {"rnnkit.train": record},
    )
    with pytest.raises(CheckpointError, match=message):
        Trainer(SequenceRegressionTask(), CONFIG, tmp_path, resume=True)


class TensorsForbidden:
    """Wraps safetensors' safe_open, failing if anything reads a tensor."""

    def __init__(self, *args, **kwargs) -> None:
        self._file = safe_open(*args, **kwargs)

    def __enter__(self) -> TensorsForbidden:
        self._handle = self._file.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._file.__exit__(*exc)

    def metadata(self) -> dict[str, str]:
        return self._handle.metadata()

    def get_tensor(self, name: str):
        raise AssertionError(f"checkpoint_step read the tensor {name}")

    def keys(self):
        raise AssertionError("checkpoint_step listed the tensors")


def test_checkpoint_step_reads_the_metadata_only(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "checkpoint.safetensors"
    assert checkpoint_step(path) is None  # no run yet
    trained_run(tmp_path)  # 10 steps
    monkeypatch.setattr("rnnkit.train.checkpoint.safe_open", TensorsForbidden)
    assert checkpoint_step(path) == 10
    assert checkpoint_step(str(path)) == 10
    monkeypatch.undo()
    longer = TrainConfig(**{**CONFIG.to_dict(), "max_steps": 15})
    Trainer(SequenceRegressionTask(), longer, tmp_path, resume=True).fit()
    assert checkpoint_step(path) == 15


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate", "corrupt or truncated"),
        ("weights only", "holds no training state"),
        ("format 99", "checkpoint format 99"),
        ("no step", "not a complete rnnkit training checkpoint"),
        ("negative step", "records step -3"),
    ],
)
def test_checkpoint_step_of_a_bad_file_is_a_checkpoint_error(
    tmp_path: Path, damage: str, message: str
) -> None:
    path = tmp_path / "checkpoint.safetensors"
    if damage == "truncate":
        trained_run(tmp_path)
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "weights only":
        save_weights(torch.nn.Linear(2, 2), path)
    else:
        run = {"format 99": {"step": 1}, "no step": {}, "negative step": {"step": -3}}[damage]
        record = {"format": 99 if damage == "format 99" else 2, "run": run}
        atomic_save_safetensors({"x": torch.ones(1)}, path, {"rnnkit.train": json.dumps(record)})
    with pytest.raises(CheckpointError, match=message):
        checkpoint_step(path)
