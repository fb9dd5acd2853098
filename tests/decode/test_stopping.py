"""Stop tokens, stop predicates and text-level stop strings."""

import dataclasses

import pytest
import torch

from rnnkit.decode import (
    SamplingConfig,
    StopCondition,
    generate,
    stream,
    truncate_at_stop,
    unescape_stop,
)
from rnnkit.errors import ConfigError

LETTERS = "abcdefghij"


def cycle_step(tokens, state):
    """Deterministic toy model: after token v the next token is (v + 1) mod 10."""
    logits = torch.full((tokens.shape[0], len(LETTERS)), -10.0)  # (B, V)
    logits[torch.arange(tokens.shape[0]), (tokens + 1) % len(LETTERS)] = 10.0
    return logits, state


def uniform_step(tokens, state):
    """Toy model with a uniform next-token distribution over 5 tokens."""
    return torch.zeros(tokens.shape[0], 5), state


def letters(ids):
    return "".join(LETTERS[i] for i in ids)


class CountingStep:
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, tokens, state):
        self.calls += 1
        return self.fn(tokens, state)


GREEDY = SamplingConfig(greedy=True, max_new_tokens=20)


def test_cycle_model_without_stops_runs_to_max_length():
    assert letters(generate(cycle_step, [0], GREEDY)[0]) == "bcdefghijabcdefghija"


def test_stop_string_cuts_right_after_it():
    config = SamplingConfig(greedy=True, max_new_tokens=20, stop="de")
    out = generate(cycle_step, [0], config, decode_fn=letters)
    assert out == [[1, 2, 3, 4]] and letters(out[0]) == "bcde"


def test_stop_string_only_searches_generated_text():
    # The prime [0] is "a" itself; the stop must wait for the generated "a" that comes
    # when the cycle wraps, at the 10th token.
    config = SamplingConfig(greedy=True, max_new_tokens=20, stop="a")
    out = generate(cycle_step, [0], config, decode_fn=letters)[0]
    assert letters(out) == "bcdefghija"


def test_stop_string_split_across_multi_character_tokens():
    words = ["ab", "cd", "ef", "gh", "ij", "kl", "mn", "op", "qr", "st"]

    def decode(ids):
        return "".join(words[i] for i in ids)

    config = SamplingConfig(greedy=True, max_new_tokens=20, stop="fg")
    out = generate(cycle_step, [0], config, decode_fn=decode)[0]
    assert out == [1, 2, 3]  # "cd" "ef" "gh": "fg" straddles tokens 2 and 3
    assert truncate_at_stop(decode(out), config.stop) == "cdefg"


def test_stop_string_without_decode_fn_is_a_config_error():
    with pytest.raises(ConfigError, match="decode_fn") as info:
        generate(cycle_step, [0], SamplingConfig(stop="x"))
    assert info.value.field == "decode_fn"


def test_stop_ids_keep_the_stop_token_and_end_the_loop_early():
    step = CountingStep(cycle_step)
    config = SamplingConfig(greedy=True, max_new_tokens=20, stop_ids=(4, 7))
    assert generate(step, [0], config) == [[1, 2, 3, 4]]
    assert step.calls == 1 + 3  # one prime step, then only steps that were sampled from


def test_stop_when_predicate():
    config = SamplingConfig(greedy=True, max_new_tokens=20)
    out = generate(cycle_step, [2], config, stop_when=lambda ids: sum(ids) >= 10)
    assert out == [[3, 4, 5]]


def test_rows_finish_independently_and_match_the_unstopped_draws():
    base = SamplingConfig(seed=4, max_new_tokens=15, num_samples=8)
    full = generate(uniform_step, [0], base)
    stopped = generate(uniform_step, [0], dataclasses.replace(base, stop_ids=(4,)))
    for row_full, row in zip(full, stopped, strict=True):
        # Every row samples every step, so a stopped row is a prefix of its free run,
        # cut just after the first stop token.
        cut = row_full.index(4) + 1 if 4 in row_full else len(row_full)
        assert row == row_full[:cut]
    lengths = {len(row) for row in stopped}
    assert len(lengths) > 1


def test_stream_stops_like_generate():
    config = SamplingConfig(greedy=True, max_new_tokens=20, stop="ef")
    assert list(stream(cycle_step, [0], config, decode_fn=letters)) == [1, 2, 3, 4, 5]
    sampled = SamplingConfig(seed=2, max_new_tokens=30, stop_ids=(0,))
    assert list(stream(uniform_step, [1], sampled)) == generate(uniform_step, [1], sampled)[0]


def test_stop_condition_unit():
    assert not StopCondition().enabled
    condition = StopCondition(stop_ids=[3], stop="zz", decode_fn=letters)
    assert condition.enabled
    assert not condition([])
    assert condition([0, 3])
    assert not condition([3, 0])  # only the newest token is a stop token
    assert not condition([0, 1])


@pytest.mark.parametrize(
    ("text", "stop", "expected"),
    [
        ("hello. world. again", ". ", "hello. "),
        ("no stop here", "!", "no stop here"),
        ("abc", None, "abc"),
        ("abc", "abc", "abc"),
    ],
)
def test_truncate_at_stop(text, stop, expected):
    assert truncate_at_stop(text, stop) == expected


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        # What a shell passes for --stop "\n\n": backslash-n twice, four characters.
        ("\\n\\n", "\n\n"),
        ("end\\tof\\r\\nline", "end\tof\r\nline"),
        ("a\\\\nb", "a\\nb"),  # an escaped backslash followed by a plain n
        ("\\u00e9t\\u00E9 \\u2014", "été —"),
        # Non-ASCII typed as itself is kept as it is (unicode_escape would mangle it).
        ("naïve café — 東京\\n", "naïve café — 東京\n"),
        ("ΘΕΑΤΡΟ", "ΘΕΑΤΡΟ"),
        ("plain", "plain"),
        ("", ""),
    ],
)
def test_unescape_stop(typed, meant):
    assert unescape_stop(typed) == meant


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("\\q", r"unknown escape \\q"),
        ("café\\x41", r"unknown escape \\x"),
        ("end\\", "lone backslash"),
        ("\\u12", "4 hex digits"),
        ("\\u12g4", "4 hex digits"),
        ("\\ud800", "surrogate"),
    ],
)
def test_unescape_stop_refuses_what_it_cannot_read(typed, message):
    with pytest.raises(ConfigError, match=message) as info:
        unescape_stop(typed)
    assert info.value.field == "stop"
    assert str(info.value).startswith("stop ")


def test_unescaped_stop_string_stops_generation():
    config = SamplingConfig(greedy=True, max_new_tokens=20, stop=unescape_stop("c\\u0064"))
    assert letters(generate(cycle_step, [0], config, decode_fn=letters)[0]) == "bcd"
