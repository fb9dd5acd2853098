"""A task registered in a few lines gets train, resume, evaluate, predict and the run
directory from the shared layer, with no code of its own for any of them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import minimal_task  # registers the task "toy_sum"
import pytest
import torch
from kill_helpers import run_child, same_weights, was_killed
from safetensors.torch import load_file

from rnnkit.cli.main import main
from rnnkit.errors import CheckpointError, ConfigError
from rnnkit.runs import TaskPlugin, load_run, register_task, resume_run, train_run
from rnnkit.train import checkpoint_step

HERE = Path(__file__).resolve().parent
SMALL = ["--hidden-size", "12", "--batch-size", "8", "--lr", "0.02", "--no-progress"]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    return minimal_task.write_sums(tmp_path_factory.mktemp("data"), 300, seed=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_file) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "sum"
    args = ["train", "toy_sum", str(data_file), "--out", str(run_dir), "--steps", "300"]
    assert main([*args, "--eval-every", "100", *SMALL]) == 0
    return run_dir


def test_the_run_directory_holds_everything_to_rebuild_the_model(trained):
    config = json.loads((trained / "config.json").read_text())
    assert config["task"] == "toy_sum" and config["format"] == "rnnkit.run"
    assert config["model"] == {"hidden_size": 12} and config["data"]["batch_size"] == 8
    assert config["train"]["max_steps"] == 300 and config["train"]["lr"] == 0.02
    scale = json.loads((trained / "scale.json").read_text())
    assert scale == 9.0  # fitted on the training lines: the largest number
    for name in ("best.safetensors", "last.safetensors", "checkpoint.safetensors", "metrics.csv"):
        assert (trained / name).exists()
    header = (trained / "metrics.csv").read_text().splitlines()[0]
    assert "examples_per_s" in header  # the task's unit, not tokens


def test_evaluate_json_beats_the_mean_baseline(trained, data_file, capsys):
    assert main(["evaluate", str(trained), str(data_file), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    # Floor: always predicting the mean sum (of the scaled sums), computed here.
    sums = [
        sum(float(v) for v in line.split()) / 9.0 for line in data_file.read_text().splitlines()
    ]
    mean = sum(sums) / len(sums)
    baseline = sum((s - mean) ** 2 for s in sums) / len(sums)
    assert figures["examples"] == 300
    assert figures["mse"] < 0.1 * baseline


def test_predict_json_lines(trained, capsys):
    # Inside the training range: the all-nines corner (one sum in 10,000) is where a
    # small model trained for 300 steps extrapolates worst, and how badly depends on
    # the CPU's float kernels (31.6 on an AVX-512 machine, within 4 of 36 on AVX2).
    assert main(["predict", str(trained), "1 2 3 0", "7 8 6 9", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["input"] for r in lines] == ["1 2 3 0", "7 8 6 9"]
    assert abs(lines[0]["sum"] - 6) < 1.5 and abs(lines[1]["sum"] - 30) < 4


def test_killed_run_resumes_bit_exactly(tmp_path, data_file):
    common = ["train", "toy_sum", data_file, "--steps", "400", "--checkpoint-every", "20"]
    common += ["--eval-every", "50", *SMALL]
    whole, part = tmp_path / "whole", tmp_path / "part"
    preload = [HERE / "minimal_task.py"]  # registers the task in the child
    assert run_child([*common, "--out", whole], preload=preload).returncode == 0
    assert was_killed(run_child([*common, "--out", part], kill="step:150", preload=preload))
    assert checkpoint_step(part / "checkpoint.safetensors") == 140
    resumed = run_child(["train", "toy_sum", "--resume", part], preload=preload)
    assert resumed.returncode == 0, resumed.stderr
    for name in ("last.safetensors", "best.safetensors"):
        assert not same_weights(whole / name, part / name)


def test_a_run_stopped_before_its_first_checkpoint_resumes_from_step_0(
    tmp_path, data_file, monkeypatch
):
    """Defect 2: such a folder could be neither retried nor resumed."""
    import rnnkit.runs.lifecycle as lifecycle

    settings = {"model": {"hidden_size": 8}, "train": {"max_steps": 30, "progress": False}}
    whole = train_run("toy_sum", tmp_path / "whole", source=data_file, **settings)

    class DiesAtOnce(lifecycle.Trainer):
        def fit(self):
            raise KeyboardInterrupt  # e.g. Ctrl-C or SIGKILL before step 1

    monkeypatch.setattr(lifecycle, "Trainer", DiesAtOnce)
    with pytest.raises(KeyboardInterrupt):
        train_run("toy_sum", tmp_path / "part", source=data_file, **settings)
    monkeypatch.undo()
    assert (tmp_path / "part" / "config.json").exists()
    assert not (tmp_path / "part" / "checkpoint.safetensors").exists()
    with pytest.raises(CheckpointError, match="--resume"):  # a retry is pointed at resume
        train_run("toy_sum", tmp_path / "part", source=data_file, **settings)
    again = resume_run(tmp_path / "part")
    assert again.result.steps == whole.result.steps == 30
    a = load_file(tmp_path / "whole" / "last.safetensors")
    b = load_file(tmp_path / "part" / "last.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_checks_fail_before_anything_is_written(tmp_path, data_file, capsys):
    """Defects 1-3: bad devices are one line; a failed resume changes nothing."""
    out = tmp_path / "new"
    for device in ("foo", "cuda:7"):
        code = main(
            ["train", "toy_sum", str(data_file), "--out", str(out), "--device", device, *SMALL]
        )
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and err.startswith("rnnkit: error: --device ")
        assert not out.exists()
    run_dir = tmp_path / "run"
    assert (
        main(["train", "toy_sum", str(data_file), "--out", str(run_dir), "--steps", "5", *SMALL])
        == 0
    )
    config_before = (run_dir / "config.json").read_bytes()
    for bad in (
        ["--device", "cuda:7"],
        ["--lr", "0.5"],
        ["--hidden-size", "13"],
        ["--optimizer", "sgd"],
    ):
        code = main(["train", "toy_sum", "--resume", str(run_dir), "--steps", "10", *bad])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and bad[0] in err, err
        assert (run_dir / "config.json").read_bytes() == config_before
    code = main(["train", "toy_sum", "--resume", str(run_dir), "--steps", "5"])
    err = capsys.readouterr().err
    assert code == 2 and "--steps 5 is not above the 5 steps" in err
    code = main(["train", "toy_sum", "--resume", str(run_dir)])
    assert code == 2 and "finished its budget" in capsys.readouterr().err
    assert main(["train", "toy_sum", "--resume", str(run_dir), "--steps", "10"]) == 0
    assert json.loads((run_dir / "config.json").read_text())["train"]["max_steps"] == 10


def test_registration_refuses_mistakes():
    with pytest.raises(TypeError, match="already registered"):

        @register_task
        class Again(minimal_task.SumTask):
            pass

    with pytest.raises(TypeError, match="TaskPlugin subclass"):
        register_task(dict)

    with pytest.raises(TypeError, match="does not implement read, prepare"):

        @register_task
        class Empty(TaskPlugin):
            name = "toy_empty"
            data_config = minimal_task.SumData
            model_config = minimal_task.SumModel


def test_unknown_task_and_evaluate_of_a_missing_run(tmp_path, capsys):
    with pytest.raises(ConfigError, match="unknown task 'nope'"):
        train_run("nope", tmp_path / "x", source="y")
    assert main(["evaluate", str(tmp_path / "missing"), "data.txt", "--json"]) == 2
    assert "does not exist" in capsys.readouterr().err
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_loaded_run_rebuilds_from_the_directory_alone(trained, tmp_path):
    moved = tmp_path / "moved run"
    shutil.copytree(trained, moved)
    run = load_run(moved)
    assert run.task == "toy_sum" and run.artifacts == {"scale": 9.0}
    (prediction,) = run.predict(["4 4 0 0"])
    assert abs(prediction["sum"] - 8) < 1.5
