"""A run directory is data, never code: a pickle put in place of the weights is refused
before anything in it can run, with a message that says what the file is."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import minimal_task  # noqa: F401  (registers the task "toy_sum")
import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.errors import CheckpointError
from rnnkit.runs import load_run, resume_run


class Trap:
    """Unpickling this creates the marker file: proof that code in the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("data") / "sums.txt"
    data.write_text("\n".join(f"{i % 10} {i % 7} 3 1" for i in range(120)) + "\n")
    run_dir = tmp_path_factory.mktemp("runs") / "sum"
    args = ["train", "toy_sum", str(data), "--out", str(run_dir), "--steps", "20"]
    assert main([*args, "--hidden-size", "8", "--batch-size", "8", "--no-progress"]) == 0
    return run_dir


def crafted_copy(trained: Path, tmp_path: Path, writer: str) -> tuple[Path, Path]:
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    marker = tmp_path / "code-ran"
    payload = {"weight": Trap(marker)}
    for name in ("best.safetensors", "last.safetensors", "checkpoint.safetensors"):
        target = run_dir / name
        if writer == "pickle":
            target.write_bytes(pickle.dumps(payload, protocol=4))
        else:
            torch.save(payload, target)
    return run_dir, marker


@pytest.mark.parametrize(
    "writer, kind", [("pickle", "a pickle file"), ("torch.save", "a zip archive")]
)
def test_a_pickle_in_place_of_the_weights_is_refused_and_never_runs(
    trained, tmp_path, capsys, writer, kind
):
    run_dir, marker = crafted_copy(trained, tmp_path, writer)
    pickle.loads(pickle.dumps(Trap(tmp_path / "control")))  # the trap does work when unpickled
    assert (tmp_path / "control").exists()

    with pytest.raises(CheckpointError, match=f"is {kind}.*, not safetensors; rnnkit never"):
        load_run(run_dir)
    with pytest.raises(CheckpointError, match="never unpickles"):
        resume_run(run_dir, train={"max_steps": 40})
    assert main(["evaluate", str(run_dir), str(run_dir / "nothing.txt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "never unpickles" in err
    assert not marker.exists()
