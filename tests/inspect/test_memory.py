"""Long-range memory tasks: targets checked from the inputs, seeded generators, the
memory benchmark and `rnnkit bench memory`."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rnnkit.cli import bench
from rnnkit.cli import main as cli_main
from rnnkit.data.memory_tasks import adding_problem, copy_memory
from rnnkit.errors import ConfigError
from rnnkit.inspect.memory import MemoryConfig, run_memory_bench, train_memory_model


def test_adding_targets_are_the_sum_of_the_two_marked_values():
    T = 9
    inputs, targets = adding_problem(64, T, torch.Generator().manual_seed(3))
    assert inputs.shape == (64, T, 2) and targets.shape == (64,)
    for row in range(64):
        values, markers = inputs[row, :, 0].tolist(), inputs[row, :, 1].tolist()
        assert all(0.0 <= v < 1.0 for v in values)
        assert sorted(set(markers)) == [0.0, 1.0]
        marked = [t for t, m in enumerate(markers) if m == 1.0]
        assert len(marked) == 2
        assert marked[0] < T // 2 <= marked[1]  # one in each half
        assert targets[row].item() == pytest.approx(values[marked[0]] + values[marked[1]])


def test_adding_baseline_of_always_one_is_one_sixth():
    _, targets = adding_problem(40_000, 20, 0)
    mse = ((targets - 1.0) ** 2).mean().item()
    assert mse == pytest.approx(1 / 6, abs=0.005)  # Var(U + U') = 2/12


def test_copy_targets_recall_the_first_symbols_after_the_delimiter():
    T, K = 7, 10
    inputs, targets = copy_memory(32, T, torch.Generator().manual_seed(4))
    assert inputs.shape == targets.shape == (32, T + 2 * K)
    for row in range(32):
        x, y = inputs[row].tolist(), targets[row].tolist()
        symbols = x[:K]
        assert all(1 <= s <= 8 for s in symbols)
        assert x[K : K + T - 1] == [0] * (T - 1)  # the gap: T - 1 blanks,
        assert x[K + T - 1] == 9  # the delimiter in the last blank position,
        assert x[K + T :] == [0] * K  # then blanks while the model answers
        assert y == [0] * (T + K) + symbols
    assert set(inputs[:, :K].flatten().tolist()) == set(range(1, 9))


def test_generators_are_deterministic_for_a_seed():
    for make in (adding_problem, copy_memory):
        a = make(8, 12, torch.Generator().manual_seed(11))
        b = make(8, 12, 11)
        c = make(8, 12, 12)
        assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
        assert not torch.equal(a.inputs, c.inputs)
    g = torch.Generator().manual_seed(1)
    first, second = copy_memory(4, 5, g), copy_memory(4, 5, g)  # the generator advances
    assert not torch.equal(first.inputs, second.inputs)


def test_tiny_bench_gives_a_full_finite_table_and_repeats_exactly():
    config = MemoryConfig(lengths=(4, 8), steps=50, hidden_size=8, test_size=100)
    seen = []
    result = run_memory_bench(config, on_score=lambda *a: seen.append(a[:2]))
    assert seen == [(c, T) for T in (4, 8) for c in ("rnn", "lstm", "gru")]
    assert set(result.scores) == {"rnn", "lstm", "gru"}
    for scores in result.scores.values():
        assert set(scores) == {4, 8} and all(math.isfinite(v) and v >= 0 for v in scores.values())
    assert all(0.08 < v < 0.3 for v in result.baseline.values())  # always-1.0, ~1/6
    assert result.scores["gru"][8] == train_memory_model(config, "gru", 8)[0]
    table = result.format().splitlines()
    assert table[1].split() == ["cell", "T=4", "T=8"]
    assert [line.split()[0] for line in table[2:6]] == ["rnn", "lstm", "gru", "always"]

    copy = run_memory_bench(
        MemoryConfig(task="copy", lengths=(3,), cells=("lstm",), steps=10, hidden_size=8)
    )
    assert 0.0 <= copy.scores["lstm"][3] <= 1.0 and copy.baseline == {3: 0.125}


def test_a_gru_learns_the_short_adding_problem():
    config = MemoryConfig(lengths=(5,), steps=100, hidden_size=8, test_size=200, lr=0.02)
    mse, baseline = train_memory_model(config, "gru", 5)
    assert mse < 0.25 * baseline


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"lengths": (1,)}, "lengths"),  # the adding problem needs a step in each half
        ({"lengths": ()}, "lengths"),
        ({"cells": ("rnn", "tcn")}, "cells"),
        ({"task": "parity"}, "task"),
        ({"steps": 0}, "steps"),
        ({"lr": 0.0}, "lr"),
    ],
)
def test_config_errors_name_the_field(settings, field):
    with pytest.raises(ConfigError) as err:
        MemoryConfig(**settings)
    assert err.value.field == field


@pytest.fixture
def cli(monkeypatch, capsys):
    """`rnnkit ARGS` with the bench command registered (main.py lists it once added)."""
    if bench not in cli_main.COMMANDS:
        monkeypatch.setattr(cli_main, "COMMANDS", (*cli_main.COMMANDS, bench))

    def call(*args):
        code = cli_main.main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return call


def test_cli_bench_memory_json_and_table(cli):
    args = ["bench", "memory", "--lengths", "3", "6", "--cells", "rnn", "gru"]
    args += ["--steps", "5", "--hidden", "4", "--test-size", "20"]
    code, out, err = cli(*args, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["task"] == "adding" and data["metric"] == "test MSE"
    assert set(data["scores"]) == {"rnn", "gru"} and set(data["scores"]["rnn"]) == {"3", "6"}
    code, out, err = cli(*args, "--task", "copy")
    assert code == 0, err
    assert out.splitlines()[-5].split() == ["cell", "T=3", "T=6"]
    assert "chance" in out and "gru T=6" in err  # progress goes to stderr


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--lengths", "10", "0"], "--lengths"),
        (["--cells", "lstm", "mlp"], "--cells"),
        (["--task", "parity"], "--task"),
        (["--steps", "0"], "--steps"),
        (["--hidden", "-3"], "--hidden"),
    ],
)
def test_cli_bench_bad_flags_are_one_line(cli, args, flag):
    code, out, err = cli("bench", "memory", *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"rnnkit: error: {flag} ")
