"""Optimizer factory, the learning-rate schedule and gradient clipping in the loop."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from train_toys import LinearTask

from rnnkit.train import LRSchedule, TrainConfig, Trainer, build_optimizer, step_progress


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("sgd", torch.optim.SGD),
        ("rmsprop", torch.optim.RMSprop),
        ("adam", torch.optim.Adam),
        ("adamw", torch.optim.AdamW),
    ],
)
def test_each_optimizer_name_builds_its_torch_class(name: str, cls: type) -> None:
    model = torch.nn.Linear(3, 2)
    config = TrainConfig(
        optimizer=name, lr=0.05, weight_decay=0.01, momentum=0.5, betas=(0.8, 0.9), max_steps=1
    )
    optimizer = build_optimizer(model.parameters(), config)
    assert isinstance(optimizer, cls)  # adam/adamw: subclasses that also take sparse rows
    group = optimizer.param_groups[0]
    assert (group["lr"], group["weight_decay"]) == (0.05, 0.01)
    assert len(group["params"]) == 2
    if name in ("sgd", "rmsprop"):
        assert group["momentum"] == 0.5
    else:
        assert tuple(group["betas"]) == (0.8, 0.9)


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_fused_adam_follows_torchs_reference_adam(name: str) -> None:
    """On CPU float32 the factory picks torch's fused kernel; its steps must be the
    for-each implementation's within float rounding (and weight decay included)."""
    torch.manual_seed(0)
    ours_model = torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.Linear(8, 3))
    ref_model = torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.Linear(8, 3))
    ref_model.load_state_dict(ours_model.state_dict())
    start = ours_model[1].weight.detach().clone()
    config = TrainConfig(optimizer=name, lr=0.01, weight_decay=0.1, betas=(0.8, 0.95), max_steps=1)
    ours = build_optimizer(ours_model.parameters(), config)
    assert ours.param_groups[0]["fused"] is True
    kind = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    ref = kind(ref_model.parameters(), lr=0.01, weight_decay=0.1, betas=(0.8, 0.95), foreach=False)
    ids = torch.randint(0, 50, (20, 4), generator=torch.Generator().manual_seed(1))
    for step in range(30):
        for model, optimizer in ((ours_model, ours), (ref_model, ref)):
            optimizer.zero_grad()
            model(ids[step % 5 :: 5]).pow(2).mean().backward()
            optimizer.step()
    for mine, theirs in zip(ours_model.parameters(), ref_model.parameters(), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)
    assert (ours_model[1].weight - start).abs().max() > 0.01  # the weights did move


def test_frozen_parameters_are_left_out() -> None:
    model = torch.nn.Linear(3, 2)
    model.bias.requires_grad_(False)
    optimizer = build_optimizer(model.parameters(), TrainConfig(max_steps=1))
    assert optimizer.param_groups[0]["params"] == [model.weight]


def test_warm_up_then_cosine_to_the_min_ratio() -> None:
    schedule = LRSchedule(peak_lr=1.0, schedule="cosine", warmup_steps=10, min_lr_ratio=0.1)
    total = 111  # decay spans steps 10..110, so progress = (step - 10) / 100

    def lr(step: int) -> float:
        return schedule(step, step_progress(step, total, 10))

    assert lr(0) == pytest.approx(0.1)
    assert lr(4) == pytest.approx(0.5)
    assert lr(9) == pytest.approx(1.0)
    assert lr(10) == pytest.approx(1.0)
    assert lr(35) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi / 4)))  # 0.8682
    assert lr(60) == pytest.approx(0.55)
    assert lr(110) == pytest.approx(0.1)
    assert lr(500) == pytest.approx(0.1)  # past the budget it stays at the floor


def test_linear_and_constant_schedules() -> None:
    linear = LRSchedule(peak_lr=2.0, schedule="linear", warmup_steps=0, min_lr_ratio=0.25)
    assert [linear(0, p) for p in (0.0, 0.5, 1.0)] == pytest.approx([2.0, 1.25, 0.5])
    constant = LRSchedule(peak_lr=2.0, schedule="constant", warmup_steps=4, min_lr_ratio=0.25)
    assert [constant(s, 0.9) for s in (0, 1, 3, 4, 100)] == pytest.approx([0.5, 1.0, 2.0, 2.0, 2.0])


def test_trainer_uses_the_schedule_it_logs(tmp_path: Path) -> None:
    config = TrainConfig(
        optimizer="sgd", lr=0.01, schedule="linear", warmup_steps=2, min_lr_ratio=0.5,
        max_steps=12, log_every=1, eval_every=100, progress=False,
    )  # fmt: skip
    Trainer(LinearTask(), config, tmp_path).fit()
    with open(tmp_path / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    train_lrs = [float(r["lr"]) for r in rows if r["split"] == "train"]
    expected = [0.005, 0.01] + [0.01 * (1 - 0.5 * (s - 2) / 9) for s in range(2, 12)]
    assert train_lrs == pytest.approx(expected)
    assert train_lrs[-1] == pytest.approx(0.005)


def one_sgd_step(tmp_path: Path, **clip: float | None) -> tuple[torch.nn.Module, dict]:
    task = LinearTask(loss_scale=1e6)
    before = {k: v.clone() for k, v in task.model.state_dict().items()}
    config = TrainConfig(
        optimizer="sgd", lr=0.1, momentum=0.0, schedule="constant", max_steps=1,
        eval_every=100, progress=False, **clip,
    )  # fmt: skip
    Trainer(task, config, tmp_path).fit()
    return task.model, before


def test_clip_by_norm_is_applied(tmp_path: Path) -> None:
    model, before = one_sgd_step(tmp_path, clip_norm=1.0)
    grads = [p.grad for p in model.parameters()]
    norm = torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]))
    assert norm.item() == pytest.approx(1.0, rel=1e-5)
    # The update used the clipped gradient: lr * grad, not lr * (huge) grad.
    step = torch.cat([(before[n] - p).flatten() for n, p in model.named_parameters()])
    assert torch.linalg.vector_norm(step).item() == pytest.approx(0.1, rel=1e-5)


def test_clip_by_value_is_applied(tmp_path: Path) -> None:
    model, before = one_sgd_step(tmp_path, clip_norm=None, clip_value=0.25)
    grads = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert grads.abs().max().item() == pytest.approx(0.25)
    # Gradients of 1e6 scale are all beyond the clip, so each weight moves by lr * 0.25.
    assert torch.allclose(grads.abs(), torch.full_like(grads, 0.25))
    step = torch.cat([(before[n] - p).flatten() for n, p in model.named_parameters()])
    assert torch.allclose(step.abs(), torch.full_like(step, 0.025))


def test_without_clipping_the_gradient_is_huge(tmp_path: Path) -> None:
    model, _ = one_sgd_step(tmp_path, clip_norm=None)
    norm = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert norm.item() > 1e5
