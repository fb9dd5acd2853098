"""filter_logits and sample_next: exact masks, seeded draws, empirical frequencies."""

import math

import pytest
import torch

from rnnkit.decode import SamplingConfig, ban_tokens, filter_logits, sample_next
from rnnkit.errors import ConfigError, InputError

NEG_INF = float("-inf")


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _hand_logits() -> torch.Tensor:
    # Deliberately out of order, so a mask that ignores the sort would be caught.
    probs = torch.tensor([[0.15, 0.5, 0.05, 0.3]])
    return probs.log()  # (1, 4)


def test_top_k_masks_exactly_v_minus_k_and_keeps_the_largest():
    logits = torch.randn(3, 10, generator=_generator(0))
    filtered = filter_logits(logits, top_k=4)
    kept = torch.isfinite(filtered)
    assert (kept.sum(dim=-1) == 4).all()
    assert ((filtered == NEG_INF).sum(dim=-1) == 6).all()
    for row in range(3):
        expected = set(logits[row].topk(4).indices.tolist())
        assert set(kept[row].nonzero().flatten().tolist()) == expected
    torch.testing.assert_close(filtered[kept], logits[kept], rtol=0, atol=0)


def test_top_k_with_ties_still_masks_exactly_v_minus_k():
    filtered = filter_logits(torch.zeros(2, 7), top_k=3)
    assert ((filtered == NEG_INF).sum(dim=-1) == 4).all()


def test_top_k_at_least_vocab_removes_nothing():
    logits = torch.randn(2, 5, generator=_generator(1))
    assert torch.equal(filter_logits(logits, top_k=5), logits)
    assert torch.equal(filter_logits(logits, top_k=50), logits)


@pytest.mark.parametrize(
    ("top_p", "kept_ids"),
    [
        (0.8, {1, 3}),  # 0.5 + 0.3 reaches 0.8 exactly: two tokens
        (0.81, {1, 3, 0}),  # needs the third
        (0.95, {1, 3, 0}),  # 0.5 + 0.3 + 0.15 reaches 0.95 exactly
        (0.96, {1, 3, 0, 2}),
        (0.3, {1}),
        (1e-9, {1}),  # the most probable token is always kept
        (1.0, {0, 1, 2, 3}),
    ],
)
def test_top_p_keeps_the_smallest_set_reaching_p(top_p, kept_ids):
    filtered = filter_logits(_hand_logits(), top_p=top_p)
    kept = torch.isfinite(filtered[0]).nonzero().flatten().tolist()
    assert set(kept) == kept_ids


@pytest.mark.parametrize(
    ("probs", "top_p", "n_kept"),
    [
        ([0.45, 0.35, 0.2], 0.45, 1),
        ([0.1] * 10, 0.6, 6),
        ([0.05] * 20, 0.3, 6),
    ],
)
def test_top_p_exact_boundary_survives_float_rounding(probs, top_p, n_kept):
    # In float32 these sums land a hair below p; the nucleus must still stop there.
    filtered = filter_logits(torch.tensor([probs]).log(), top_p=top_p)
    assert int(torch.isfinite(filtered).sum()) == n_kept


def test_top_p_works_per_row_and_in_float64():
    logits = torch.stack([_hand_logits()[0], _hand_logits()[0].flip(0)]).double()
    filtered = filter_logits(logits, top_p=0.8)
    assert filtered.dtype == torch.float64
    assert torch.isfinite(filtered[0]).nonzero().flatten().tolist() == [1, 3]
    assert torch.isfinite(filtered[1]).nonzero().flatten().tolist() == [0, 2]


def test_top_k_then_top_p_uses_renormalised_top_k_mass():
    # top_k=2 leaves probs 0.5/0.8 = 0.625 and 0.375; p=0.6 then keeps only the first.
    filtered = filter_logits(_hand_logits(), top_k=2, top_p=0.6)
    assert torch.isfinite(filtered[0]).nonzero().flatten().tolist() == [1]


def test_filter_rejects_bad_arguments():
    with pytest.raises(InputError, match="floating-point"):
        filter_logits(torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ConfigError, match="top_k") as info:
        filter_logits(torch.zeros(1, 3), top_k=0)
    assert info.value.field == "top_k"
    with pytest.raises(ConfigError, match="top_p") as info:
        filter_logits(torch.zeros(1, 3), top_p=0.0)
    assert info.value.field == "top_p"
    with pytest.raises(InputError, match=r"\(B, V\)"):
        filter_logits(torch.zeros(1, 1, 3), top_k=1)


def test_greedy_is_argmax_and_ignores_generator():
    logits = torch.randn(5, 9, generator=_generator(2))
    config = SamplingConfig(greedy=True)
    assert torch.equal(sample_next(logits, config, _generator(0)), logits.argmax(-1))


def test_top_k_one_equals_argmax_for_any_seed():
    logits = torch.randn(64, 9, generator=_generator(3))
    for seed in range(5):
        ids = sample_next(logits, SamplingConfig(top_k=1), _generator(seed))
        assert torch.equal(ids, logits.argmax(-1))


def test_tiny_temperature_is_argmax_without_overflow():
    logits = torch.randn(64, 9, generator=_generator(4)) * 10
    ids = sample_next(logits, SamplingConfig(temperature=1e-30), _generator(0))
    assert torch.equal(ids, logits.argmax(-1))


def test_seeded_generator_ignores_global_rng():
    logits = torch.randn(32, 20, generator=_generator(5))
    config = SamplingConfig()
    first = sample_next(logits, config, _generator(11))
    with torch.random.fork_rng():
        torch.manual_seed(999)
        torch.rand(1000)
        second = sample_next(logits, config, _generator(11))
    other_seed = sample_next(logits, config, _generator(12))
    assert torch.equal(first, second)
    assert not torch.equal(first, other_seed)


def _frequencies(logits_row: torch.Tensor, config: SamplingConfig, n: int = 20_000):
    logits = logits_row.expand(n, -1)  # (n, V): one draw per row
    ids = sample_next(logits, config, _generator(0))
    return torch.bincount(ids, minlength=logits_row.shape[-1]).double() / n


# A 4-sigma bound for 20k draws: sqrt(0.25 / 20000) * 4 ~= 0.014.
FREQ_TOL = 0.014


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_frequencies_match_tempered_softmax(temperature):
    logits = torch.tensor([2.0, 1.0, 0.5, -1.0, 0.0])
    freq = _frequencies(logits, SamplingConfig(temperature=temperature))
    expected = torch.softmax(logits.double() / temperature, dim=-1)
    torch.testing.assert_close(freq, expected, atol=FREQ_TOL, rtol=0)


def test_frequencies_match_renormalised_top_k_and_never_draw_removed():
    logits = torch.tensor([2.0, 1.0, 0.5, -1.0, 0.0])
    freq = _frequencies(logits, SamplingConfig(top_k=3))
    e = [math.exp(v) for v in (2.0, 1.0, 0.5)]
    expected = torch.tensor([e[0], e[1], e[2], 0.0, 0.0], dtype=torch.float64) / sum(e)
    torch.testing.assert_close(freq, expected, atol=FREQ_TOL, rtol=0)
    assert freq[3] == 0 and freq[4] == 0


def test_frequencies_match_renormalised_nucleus():
    freq = _frequencies(_hand_logits()[0], SamplingConfig(top_p=0.8))
    expected = torch.tensor([0.0, 0.625, 0.0, 0.375], dtype=torch.float64)
    torch.testing.assert_close(freq, expected, atol=FREQ_TOL, rtol=0)
    assert freq[0] == 0 and freq[2] == 0


def test_temperature_applies_before_nucleus():
    # At T=0.5 the probs are p^2 / sum p^2 ~= [0.062, 0.685, 0.007, 0.247]: the top
    # token alone reaches p=0.65, while at T=1 (0.5) it would not.
    config = SamplingConfig(temperature=0.5, top_p=0.65)
    ids = sample_next(_hand_logits().expand(2000, -1), config, _generator(0))
    assert (ids == 1).all()
    at_t1 = sample_next(_hand_logits().expand(2000, -1), SamplingConfig(top_p=0.65), _generator(0))
    assert set(at_t1.unique().tolist()) == {1, 3}


# Hand-made logits whose argmax is known without running any code: row 0 peaks at id 1
# (2.0 beats 1.9), row 1 at id 0 (3.0 beats 2.9), row 2 at id 2 (-3.5 beats -3.6).
KNOWN_LOGITS = torch.tensor(
    [
        [0.1, 2.0, -1.0, 1.9],
        [3.0, -2.0, 0.0, 2.9],
        [-5.0, -4.0, -3.5, -3.6],
    ]
)
KNOWN_ARGMAX = [1, 0, 2]


@pytest.mark.parametrize("extra", [{}, {"top_k": 2}, {"top_p": 0.5}, {"seed": 3}])
def test_temperature_zero_is_exactly_the_argmax(extra):
    for seed in range(3):  # the generator must not matter
        ids = sample_next(KNOWN_LOGITS, SamplingConfig(temperature=0.0, **extra), _generator(seed))
        assert ids.tolist() == KNOWN_ARGMAX
    greedy = sample_next(KNOWN_LOGITS, SamplingConfig(greedy=True), _generator(0))
    assert greedy.tolist() == KNOWN_ARGMAX


def test_banned_ids_are_never_chosen_even_with_the_highest_logit():
    # Id 0 has by far the largest logit in every row; banned, the argmax moves to the
    # runner-up, read off by hand: row 0 -> 3 (4.0), row 1 -> 2 (1.5).
    logits = torch.tensor([[9.0, 1.0, 0.5, 4.0], [9.0, -1.0, 1.5, 0.0]])
    for config in (
        SamplingConfig(greedy=True, banned_ids=(0,)),
        SamplingConfig(temperature=0.0, banned_ids=(0,)),
    ):
        assert sample_next(logits, config, _generator(0)).tolist() == [3, 2]
    two_banned = SamplingConfig(greedy=True, banned_ids=(0, 3))
    assert sample_next(logits, two_banned, _generator(0)).tolist() == [1, 2]  # 1.0; 1.5


def test_sampling_with_banned_ids_renormalises_over_the_rest():
    logits = torch.tensor([2.0, 1.0, 0.5, -1.0, 0.0])
    freq = _frequencies(logits, SamplingConfig(banned_ids=(0, 2)))
    assert freq[0] == 0 and freq[2] == 0  # not one draw in 20 000, though id 0 is likeliest
    e = {v: math.exp(z) for v, z in ((1, 1.0), (3, -1.0), (4, 0.0))}
    total = sum(e.values())
    expected = torch.tensor([0.0, e[1], 0.0, e[3], e[4]], dtype=torch.float64) / total
    torch.testing.assert_close(freq, expected, atol=FREQ_TOL, rtol=0)


def test_banned_ids_outside_the_vocabulary_or_banning_everything():
    logits = torch.zeros(2, 3)
    with pytest.raises(ConfigError, match=r"banned_ids has id\(s\) \[3\] outside") as info:
        sample_next(logits, SamplingConfig(banned_ids=(1, 3)), _generator(0))
    assert info.value.field == "banned_ids"
    with pytest.raises(ConfigError, match="bans all 3 tokens") as info:
        sample_next(logits, SamplingConfig(greedy=True, banned_ids=(2, 0, 1)), _generator(0))
    assert info.value.field == "banned_ids"


def test_ban_tokens_leaves_its_input_alone():
    logits = torch.tensor([[1.0, 2.0, 3.0]])
    banned = ban_tokens(logits, (2,))
    assert banned.tolist() == [[1.0, 2.0, NEG_INF]]
    assert logits.tolist() == [[1.0, 2.0, 3.0]]
    assert ban_tokens(logits, ()) is logits


@pytest.mark.parametrize("greedy", [False, True])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_nan_or_infinite_logits_are_an_input_error_not_a_token(bad, greedy):
    logits = torch.randn(3, 6, generator=_generator(1))
    logits[1, 2] = bad
    with pytest.raises(InputError, match="NaN or infinite"):
        sample_next(logits, SamplingConfig(greedy=greedy), _generator(0))
    everything_banned = torch.full((1, 4), NEG_INF)  # softmax of all -inf is NaN
    with pytest.raises(InputError, match="NaN or infinite"):
        sample_next(everything_banned, SamplingConfig(), _generator(0))


def test_bfloat16_logits_are_sampled_in_float32():
    logits = torch.tensor([2.0, 1.0, 0.5, -1.0, 0.0])
    freq = _frequencies(logits.bfloat16(), SamplingConfig())
    expected = torch.softmax(logits.bfloat16().double(), dim=-1)
    torch.testing.assert_close(freq, expected, atol=FREQ_TOL, rtol=0)
