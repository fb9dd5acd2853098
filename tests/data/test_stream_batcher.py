"""StreamBatcher: stream layout, continuity, resets, exact resume."""

from __future__ import annotations

import json

import pytest
import torch

from rnnkit.data import Batch, StreamBatcher
from rnnkit.errors import CheckpointError, ConfigError, DataError

# 103 ids, B=4, T=5: streams of L=25 (the last 3 ids are dropped), 24 target positions,
# so 5 windows per epoch: four of 5 steps and a last one of 4.
N, B, T = 103, 4, 5


def make() -> StreamBatcher:
    return StreamBatcher(torch.arange(N), batch_size=B, seq_len=T)


def test_layout_and_first_window() -> None:
    batcher = make()
    assert batcher.stream_len == 25 and len(batcher) == 5
    x, y = batcher.get_window(0)
    assert x.dtype == torch.int64 and x.shape == (B, T)
    assert x.tolist() == [[0, 1, 2, 3, 4], [25, 26, 27, 28, 29], [50, 51, 52, 53, 54],
                          [75, 76, 77, 78, 79]]  # fmt: skip
    assert torch.equal(y, x + 1)


def test_windows_reconstruct_each_stream_in_order() -> None:
    batcher = make()
    windows = list(batcher)
    assert [w[0].shape[1] for w in windows] == [5, 5, 5, 5, 4]
    streams = torch.arange(100).view(B, 25)
    assert torch.equal(torch.cat([x for x, _ in windows], dim=1), streams[:, :-1])
    assert torch.equal(torch.cat([y for _, y in windows], dim=1), streams[:, 1:])
    # continuity: each window starts where the previous one's targets ended
    for (_, y0), (x1, _) in zip(windows, windows[1:], strict=False):
        assert torch.equal(x1[:, 0], y0[:, -1])


def test_exactly_one_full_window() -> None:
    batcher = StreamBatcher([7, 8, 9, 1, 2, 3], batch_size=2, seq_len=2)
    assert len(batcher) == 1
    b = batcher.next_batch()
    assert b.x.tolist() == [[7, 8], [1, 2]] and b.y.tolist() == [[8, 9], [2, 3]]
    assert b.reset and batcher.epoch == 1 and batcher.window == 0


def test_reset_flag_marks_each_epoch_start() -> None:
    batcher = make()
    batches = [batcher.next_batch() for _ in range(12)]
    assert all(isinstance(b, Batch) for b in batches)
    assert [b.reset for b in batches] == [True, False, False, False, False] * 2 + [True, False]
    assert torch.equal(batches[5].x, batches[0].x)  # epoch 2 starts over
    assert (batcher.epoch, batcher.window) == (2, 2)
    assert not batcher.at_epoch_start


def test_iteration_finishes_the_current_epoch() -> None:
    batcher = make()
    batcher.next_batch()
    batcher.next_batch()
    rest = list(batcher)
    assert len(rest) == 3
    assert torch.equal(rest[0][0], make().get_window(2)[0])
    assert batcher.at_epoch_start and batcher.epoch == 1
    assert len(list(batcher)) == 5


def test_state_dict_resumes_at_exactly_the_same_batch() -> None:
    first = make()
    for _ in range(7):
        first.next_batch()
    state = json.loads(json.dumps(first.state_dict()))  # survives a JSON checkpoint
    assert state == {
        "epoch": 1, "window": 2, "batch_size": B, "seq_len": T, "num_tokens": N,
        "rotate_seed": None,
    }  # fmt: skip
    expected = [first.next_batch() for _ in range(6)]
    resumed = make()
    resumed.load_state_dict(state)
    got = [resumed.next_batch() for _ in range(6)]
    for e, g in zip(expected, got, strict=True):
        assert torch.equal(e.x, g.x) and torch.equal(e.y, g.y) and e.reset == g.reset
    assert [g.reset for g in got] == [False, False, False, True, False, False]
    assert (resumed.epoch, resumed.window) == (first.epoch, first.window) == (2, 3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"batch_size": 2}, "saved with batch_size=2 but this batcher has batch_size=4"),
        ({"num_tokens": 99}, "num_tokens=99"),
        ({"window": 5}, "out of range"),
        ({"epoch": -1}, "out of range"),
        ({"window": "1"}, "to integers"),
    ],
)
def test_load_state_dict_rejects_foreign_state(change: dict, message: str) -> None:
    batcher = make()
    with pytest.raises(CheckpointError, match=message):
        batcher.load_state_dict({**batcher.state_dict(), **change})
    assert (batcher.epoch, batcher.window) == (0, 0)


def test_windows_are_copies() -> None:
    ids = torch.arange(N)
    batcher = StreamBatcher(ids, B, T)
    x, _ = batcher.next_batch()[:2]
    x.zero_()
    assert batcher.get_window(0)[0][0, 1].item() == 1 and ids[1].item() == 1


def test_corpus_too_short() -> None:
    with pytest.raises(DataError, match=r"11 tokens long.*at least 12.*--batch-size/--seq-len"):
        StreamBatcher(torch.arange(11), batch_size=2, seq_len=5)


@pytest.mark.parametrize(
    ("b", "t", "field"),
    [(0, 5, "batch_size"), (2, 0, "seq_len"), (True, 5, "batch_size"), (2, 2.5, "seq_len")],
)
def test_bad_sizes(b: object, t: object, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"{field} must be an integer >= 1") as info:
        StreamBatcher(torch.arange(100), b, t)  # type: ignore[arg-type]
    assert info.value.field == field


@pytest.mark.parametrize("seed", [-1, 1.5, "3"])
def test_bad_rotate_seed(seed: object) -> None:
    with pytest.raises(ConfigError, match="rotate_seed must be an integer >= 0") as info:
        StreamBatcher(torch.arange(100), 2, 5, rotate_seed=seed)  # type: ignore[arg-type]
    assert info.value.field == "rotate_seed"


@pytest.mark.parametrize(
    ("ids", "message"),
    [(torch.zeros(4, 25, dtype=torch.long), "1-D"), (torch.rand(100), "integers")],
)
def test_bad_ids(ids: torch.Tensor, message: str) -> None:
    with pytest.raises(DataError, match=message):
        StreamBatcher(ids, 2, 3)


def epoch_windows(batcher: StreamBatcher) -> tuple[torch.Tensor, torch.Tensor]:
    """One epoch's inputs and targets, each stream's windows joined: (B, L-1) each."""
    windows = [batcher.next_batch() for _ in range(len(batcher))]
    # every epoch starts from a zero state
    assert [w.reset for w in windows] == [True] + [False] * (len(windows) - 1)
    return torch.cat([w.x for w in windows], 1), torch.cat([w.y for w in windows], 1)


def test_rotation_starts_each_epoch_elsewhere_and_keeps_streams_whole() -> None:
    batcher = StreamBatcher(torch.arange(N), B, T, rotate_seed=3)
    rotations = [batcher.rotation(e) for e in range(6)]
    assert len(set(rotations)) > 1 and all(0 <= r < N for r in rotations)
    assert rotations == [StreamBatcher(torch.arange(N), B, T, rotate_seed=3).rotation(e)
                         for e in range(6)]  # fmt: skip
    for r in rotations:
        x, y = epoch_windows(batcher)
        rotated = torch.roll(torch.arange(N), -r)[: B * 25].view(B, 25)
        assert torch.equal(x, rotated[:, :-1]) and torch.equal(y, rotated[:, 1:])
    # Without a seed every epoch is the same.
    plain = make()
    assert torch.equal(epoch_windows(plain)[0], epoch_windows(plain)[0])


def test_rotated_batcher_resumes_mid_epoch_and_checks_its_seed() -> None:
    a = StreamBatcher(torch.arange(N), B, T, rotate_seed=5)
    for _ in range(13):  # into the third epoch
        a.next_batch()
    state = json.loads(json.dumps(a.state_dict()))
    b = StreamBatcher(torch.arange(N), B, T, rotate_seed=5)
    b.load_state_dict(state)
    for _ in range(12):
        x_a, y_a, reset_a = a.next_batch()
        x_b, y_b, reset_b = b.next_batch()
        assert torch.equal(x_a, x_b) and torch.equal(y_a, y_b) and reset_a == reset_b
    with pytest.raises(CheckpointError, match="rotate_seed"):
        StreamBatcher(torch.arange(N), B, T, rotate_seed=6).load_state_dict(state)
    with pytest.raises(CheckpointError, match="rotate_seed"):
        make().load_state_dict(state)
    # A checkpoint from before rotation existed has no rotate_seed at all.
    old = {k: v for k, v in make().state_dict().items() if k != "rotate_seed"}
    with pytest.raises(CheckpointError, match="saved with rotate_seed=None"):
        StreamBatcher(torch.arange(N), B, T, rotate_seed=5).load_state_dict(old)
    make().load_state_dict(old)
