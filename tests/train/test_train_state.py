"""Resume-state pieces: optimizer, RNG and task state survive the tensors + JSON split."""

from __future__ import annotations

import contextlib
import json
import random

import numpy as np
import pytest
import safetensors.torch
import torch

from rnnkit.train import TrainConfig, build_optimizer
from rnnkit.train.checkpoint import cpu_tensors
from rnnkit.train.state import (
    RunState,
    capture_rng,
    merge_task_state,
    pack_optimizer,
    preserved_rng,
    restore_rng,
    split_task_state,
    unpack_optimizer,
)


def train_steps(model: torch.nn.Module, optimizer: torch.optim.Optimizer, n: int) -> None:
    g = torch.Generator().manual_seed(5)
    for _ in range(n):
        x = torch.randn(6, 3, generator=g)
        loss = model(x).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adam", "adamw"])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_optimizer_state_round_trips_through_json(name: str, momentum: float) -> None:
    config = TrainConfig(optimizer=name, momentum=momentum, lr=0.01, max_steps=1)
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = build_optimizer(model.parameters(), config)
    train_steps(model, optimizer, 3)
    tensors, values = pack_optimizer(optimizer)
    # What the checkpoint file does: tensors through safetensors, the rest through JSON.
    tensors = safetensors.torch.load(safetensors.torch.save(cpu_tensors(tensors)))
    values = json.loads(json.dumps(values))

    twin = torch.nn.Linear(3, 2)
    twin.load_state_dict(model.state_dict())
    twin_optimizer = build_optimizer(twin.parameters(), config)
    unpack_optimizer(twin_optimizer, tensors, values)
    train_steps(model, optimizer, 2)
    train_steps(twin, twin_optimizer, 2)
    assert torch.equal(model.weight, twin.weight)
    assert torch.equal(model.bias, twin.bias)


def test_rng_states_round_trip_through_json() -> None:
    tensors, values = capture_rng()
    values = json.loads(json.dumps(values))
    expected = (torch.rand(3), random.random(), np.random.standard_normal(2))
    torch.manual_seed(1)
    random.seed(1)
    np.random.seed(1)
    restore_rng(tensors, values)
    again = (torch.rand(3), random.random(), np.random.standard_normal(2))
    assert torch.equal(expected[0], again[0])
    assert expected[1] == again[1]
    assert np.array_equal(expected[2], again[2])


def draw() -> tuple[torch.Tensor, float, np.ndarray]:
    return torch.rand(3), random.random(), np.random.standard_normal(2)


def test_preserved_rng_puts_every_global_rng_back_even_on_error() -> None:
    torch.manual_seed(3)
    random.seed(3)
    np.random.seed(3)
    expected = draw()
    for fails in (False, True):
        torch.manual_seed(3)
        random.seed(3)
        np.random.seed(3)
        with pytest.raises(KeyboardInterrupt) if fails else contextlib.nullcontext():
            with preserved_rng():
                inside = draw()  # what an evaluation would consume
                if fails:
                    raise KeyboardInterrupt
        assert torch.equal(inside[0], expected[0])  # it did draw the same numbers...
        after = draw()  # ...and training draws them again
        assert torch.equal(after[0], expected[0])
        assert after[1] == expected[1]
        assert np.array_equal(after[2], expected[2])


def test_task_state_split_and_merge() -> None:
    state = {"h": torch.ones(2, 3), "position": 7, "rng": {"state": 2**100}, "c": None}
    tensors, values = split_task_state(state)
    assert set(tensors) == {"task.h"}
    values = json.loads(json.dumps(values))
    merged = merge_task_state(tensors, values, torch.device("cpu"))
    assert merged.keys() == state.keys()
    assert torch.equal(merged["h"], state["h"])
    assert merged["rng"] == {"state": 2**100}


def test_task_state_rejects_values_that_are_neither_tensor_nor_json() -> None:
    with pytest.raises(TypeError, match=r"\['state'\] is a tuple.*own keys"):
        split_task_state({"state": (torch.ones(1), torch.ones(1))})


def test_run_state_json_round_trip_is_exact() -> None:
    state = RunState(step=12, elapsed_s=0.1 + 0.2, lr=1 / 3, best_val_loss=0.7, eval_pending=True)
    state.window.add(0.123456789, 11, {"acc": 0.3}, seconds=0.01)
    back = RunState.from_json(json.loads(json.dumps(state.to_json())))
    assert back == state
    assert (back.window.count, back.eval_pending) == (11, True)


def test_record_eval_keeps_the_first_highest_accuracy_and_the_loss_it_came_with() -> None:
    state = RunState()
    figures = [(0.70, 0.50), (0.60, 0.60), (0.65, 0.70), (0.50, 0.70), (0.90, 0.65)]
    new_best = []
    for step, (loss, accuracy) in enumerate(figures, start=1):
        state.step = step
        new_best.append(state.record_eval(loss, accuracy, higher=True))
    # Step 4's lower loss does not count: it only ties step 3's accuracy.
    assert new_best == [True, True, True, False, False]
    assert (state.best_step, state.best_val_loss, state.best_score) == (3, 0.65, 0.70)
    assert (state.evals_without_improvement, state.last_val_loss) == (2, 0.90)


def test_record_eval_continues_a_checkpoint_written_before_best_score() -> None:
    # A resume point of an older run has best_val_loss but no best_score: loss
    # monitoring goes on from its best (0.5), so 0.6 is no improvement and 0.4 is.
    data = RunState(step=7, best_val_loss=0.5, best_step=5).to_json()
    del data["best_score"]
    state = RunState.from_json(data)
    assert state.record_eval(0.6) is False and state.best_val_loss == 0.5
    state.step = 8
    assert state.record_eval(0.4) is True and (state.best_step, state.best_score) == (8, 0.4)
