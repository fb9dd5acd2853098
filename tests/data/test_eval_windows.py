"""iter_eval_windows: every target scored once, streams warmed up, plain pass for S=1."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data import eval_segments, iter_eval_windows
from rnnkit.errors import ConfigError, DataError


def rows(ids, streams, seq_len, warmup):
    """The windows joined back into whole streams: x, y, scored, each (S, L)."""
    windows = list(iter_eval_windows(ids, streams, seq_len, warmup=warmup))
    assert all(w.x.shape[1] <= seq_len for w in windows)
    return tuple(torch.cat([w[k] for w in windows], dim=1) for k in range(3))


@pytest.mark.parametrize(
    ("n", "streams", "seq_len", "warmup"),
    [(1000, 8, 7, 30), (1000, 64, 10, 20), (101, 3, 100, 0), (50, 8, 4, 100), (2, 5, 3, 2)],
)
def test_every_target_is_scored_exactly_once(n, streams, seq_len, warmup):
    x, y, scored = rows(torch.arange(n), streams, seq_len, warmup)
    assert sorted(y[scored].tolist()) == list(range(1, n))
    assert torch.equal(x[scored] + 1, y[scored])  # each target follows its input


@pytest.mark.parametrize(("streams", "warmup"), [(8, 30), (5, 0), (64, 3)])
def test_each_stream_reads_contiguously_and_warms_up_before_scoring(streams, warmup):
    n = 1000
    x, y, scored = rows(torch.arange(n), streams, 9, warmup)
    segments = eval_segments(n, streams, warmup)
    assert segments[0][:2] == (0, 0)  # the first stream starts the text: nothing to warm on
    assert streams - 1 <= len(segments) <= streams  # the shortest cover may spare one
    for r, (read_from, score_from, stop) in enumerate(segments):
        length = stop - read_from
        assert x[r, :length].tolist() == list(range(read_from, stop))
        assert scored[r].tolist() == [score_from <= read_from + i < stop for i in range(x.shape[1])]
        assert score_from - read_from == min(warmup, score_from)


def test_streams_are_no_longer_than_needed():
    n, streams, warmup = 10_001, 64, 200
    segments = eval_segments(n, streams, warmup)
    longest = max(s.stop - s.read_from for s in segments)
    assert longest == -(-(n - 1 + warmup * (streams - 1)) // streams)


def test_one_stream_is_a_plain_pass_over_the_text():
    ids = torch.randint(0, 50, (333,))
    x, y, scored = rows(ids, 1, 25, 40)
    assert torch.equal(x[0], ids[:-1]) and torch.equal(y[0], ids[1:]) and scored.all()


def test_a_short_text_uses_fewer_streams():
    windows = list(iter_eval_windows([1, 2, 3, 4], streams=8, seq_len=10, warmup=1))
    (x, y, scored) = windows[0]
    assert x.shape[0] == 2 and sorted(y[scored].tolist()) == [2, 3, 4]


def test_windows_are_copies():
    ids = torch.arange(100)
    first = next(iter_eval_windows(ids, 2, 10))
    first.x.fill_(-1)
    assert next(iter_eval_windows(ids, 2, 10)).x.min() >= 0 and ids.min() == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"streams": 0}, ConfigError, "streams"),
        ({"seq_len": 0}, ConfigError, "seq_len"),
        ({"warmup": -1}, ConfigError, "warmup"),
        ({"streams": True}, ConfigError, "streams"),
        ({"ids": [7]}, DataError, "1 tokens long.*at least 2"),
    ],
)
def test_bad_arguments_raise_before_iterating(kwargs, error, message):
    args = {"ids": torch.arange(10), "streams": 2, "seq_len": 3, "warmup": 0} | kwargs
    with pytest.raises(error, match=message) as info:
        iter_eval_windows(args.pop("ids"), **args)
    if error is ConfigError:
        assert info.value.field == next(iter(kwargs))


@pytest.mark.parametrize(("streams", "warmup"), [(0, 0), (2, -1), (2.0, 0)])
def test_eval_segments_checks_its_arguments(streams, warmup):
    with pytest.raises(ConfigError):
        eval_segments(100, streams, warmup)
