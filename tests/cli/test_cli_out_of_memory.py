"""Running out of memory is one line naming the sizes to shrink; other errors from
torch stay tracebacks (they are bugs, and a report needs them)."""

from __future__ import annotations

import pytest

from rnnkit.cli.main import main


def failing(error: BaseException):
    def train_run(*args, **kwargs):
        raise error

    return train_run


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"
        ),
        RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB"),
        MemoryError(),
    ],
)
def test_out_of_memory_is_one_line(monkeypatch, tmp_path, capsys, error):
    monkeypatch.setattr("rnnkit.cli.train.train_run", failing(error))
    data = tmp_path / "t.txt"
    data.write_text("some text " * 50)
    assert main(["train", "lm", str(data), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out of memory" in err and "--hidden" in err, err


def test_another_runtime_error_is_not_hidden(monkeypatch, tmp_path):
    monkeypatch.setattr("rnnkit.cli.train.train_run", failing(RuntimeError("shape mismatch")))
    data = tmp_path / "t.txt"
    data.write_text("some text " * 50)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        main(["train", "lm", str(data), "--out", str(tmp_path / "run")])
