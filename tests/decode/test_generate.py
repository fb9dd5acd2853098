"""generate and stream on a fixed random GRU language model."""

import pytest
import torch
from torch import nn

from rnnkit.decode import SamplingConfig, generate, stream
from rnnkit.errors import ConfigError, InputError

V, H = 12, 16
PRIME = [1, 5, 2, 7]


class ToyLM(nn.Module):
    """Embedding -> GRU -> Linear in float64, weights from a private seeded generator."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.embed = nn.Embedding(V, H, dtype=torch.float64)
        self.rnn = nn.GRU(H, H, batch_first=True, dtype=torch.float64)
        self.head = nn.Linear(H, V, dtype=torch.float64)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            # Large enough weights that the distribution is far from uniform and varied.
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.8)

    def forward(self, ids, h=None):
        out, h = self.rnn(self.embed(ids), h)  # (B, T, H)
        return self.head(out), h  # (B, T, V)

    def step(self, tokens, state):
        logits, h = self(tokens[:, None], state)
        return logits[:, 0], h

    def prime(self, ids):
        logits, h = self(ids)
        return logits[:, -1], h


class Counting:
    """Wraps a step or prime callable, counting calls and recording the logits."""

    def __init__(self, fn):
        self.fn = fn
        self.calls = 0
        self.logits = []

    def __call__(self, *args):
        self.calls += 1
        logits, state = self.fn(*args)
        self.logits.append(logits.clone())
        return logits, state


@pytest.fixture(scope="module")
def model():
    return ToyLM()


def _greedy(model, n=50):
    return generate(model.step, PRIME, SamplingConfig(greedy=True, max_new_tokens=n))


def test_top_k_one_equals_greedy_over_50_steps(model):
    greedy = _greedy(model)
    assert len(greedy[0]) == 50 and len(set(greedy[0])) > 1
    for seed in (0, 1):
        config = SamplingConfig(top_k=1, seed=seed, max_new_tokens=50)
        assert generate(model.step, PRIME, config) == greedy


def _argmax_loop(model, n, banned=()):
    """Greedy decoding written out by hand: prime, then argmax and step, n times."""
    with torch.no_grad():
        logits, h = model.prime(torch.tensor([PRIME]))  # (1, V)
        out = []
        for _ in range(n):
            logits = logits.clone()
            logits[:, list(banned)] = float("-inf")
            token = int(logits.argmax(-1))
            out.append(token)
            logits, h = model.step(torch.tensor([token]), h)
    return out


def test_temperature_zero_is_greedy_over_50_steps(model):
    expected = _argmax_loop(model, 50)
    assert len(set(expected)) > 1
    assert _greedy(model)[0] == expected
    for extra in ({"seed": 3}, {"seed": 4, "top_p": 0.9, "top_k": 5}):
        config = SamplingConfig(temperature=0.0, max_new_tokens=50, num_samples=2, **extra)
        assert generate(model.step, PRIME, config) == [expected, expected]
    single = SamplingConfig(temperature=0.0, max_new_tokens=50)
    assert list(stream(model.step, PRIME, single, prime=model.prime)) == expected


def test_banned_ids_are_never_generated(model):
    free = generate(model.step, PRIME, SamplingConfig(seed=0, max_new_tokens=60, num_samples=4))
    greedy = _argmax_loop(model, 50)
    # Ban the commonest greedy token and the first freely sampled one: both occur unbanned.
    banned = (max(set(greedy), key=greedy.count), free[0][0])
    config = SamplingConfig(seed=0, max_new_tokens=60, num_samples=4, banned_ids=banned)
    rows = generate(model.step, PRIME, config)
    assert not {t for row in rows for t in row} & set(banned)
    greedy_banned = SamplingConfig(greedy=True, max_new_tokens=50, banned_ids=banned)
    assert generate(model.step, PRIME, greedy_banned)[0] == _argmax_loop(model, 50, banned)


def test_tiny_temperature_approaches_greedy(model):
    greedy = _greedy(model)
    config = SamplingConfig(temperature=1e-4, seed=3, max_new_tokens=50)
    assert generate(model.step, PRIME, config) == greedy
    # The check has teeth: at T=1 the same seed leaves the greedy path.
    assert generate(model.step, PRIME, SamplingConfig(seed=3, max_new_tokens=50)) != greedy


def test_same_seed_same_output_different_seed_different(model):
    config = SamplingConfig(seed=42, max_new_tokens=40)
    first = generate(model.step, PRIME, config)
    with torch.random.fork_rng():
        torch.manual_seed(7)
        torch.rand(500)  # the global RNG moving must not change seeded output
        second = generate(model.step, PRIME, config)
    other = generate(model.step, PRIME, SamplingConfig(seed=43, max_new_tokens=40))
    assert first == second
    assert first != other


def test_generation_leaves_the_global_rng_alone(model):
    before = torch.get_rng_state()
    generate(model.step, PRIME, SamplingConfig(seed=1, max_new_tokens=10, num_samples=3))
    assert torch.equal(torch.get_rng_state(), before)


def test_incremental_logits_equal_a_full_rerun(model):
    step = Counting(model.step)
    n = 30
    out = generate(step, PRIME, SamplingConfig(seed=0, max_new_tokens=n))[0]
    # P prime steps plus one per sampled token except the last: nothing is re-run.
    assert step.calls == len(PRIME) + n - 1
    sequence = torch.tensor([PRIME + out])  # (1, P + n)
    with torch.no_grad():
        full, _ = model(sequence[:, :-1])  # (1, P + n - 1, V)
    incremental = torch.stack(step.logits, dim=1)  # (1, P + n - 1, V)
    torch.testing.assert_close(incremental, full, rtol=1e-10, atol=1e-10)


def test_prime_function_equals_stepping_the_prime(model):
    config = SamplingConfig(seed=5, max_new_tokens=25, num_samples=3, top_p=0.9)
    prime = Counting(model.prime)
    step = Counting(model.step)
    via_prime = generate(step, PRIME, config, prime=prime)
    via_steps = generate(model.step, PRIME, config)
    assert via_prime == via_steps
    assert prime.calls == 1 and step.calls == 25 - 1  # the prime went through once
    assert prime.logits[0].shape == (3, V)


def test_num_samples_rows_differ(model):
    rows = generate(model.step, PRIME, SamplingConfig(seed=0, max_new_tokens=30, num_samples=4))
    assert len(rows) == 4 and all(len(r) == 30 for r in rows)
    assert len({tuple(r) for r in rows}) == 4


def test_greedy_rows_are_identical(model):
    rows = generate(
        model.step, PRIME, SamplingConfig(greedy=True, max_new_tokens=10, num_samples=2)
    )
    assert rows[0] == rows[1] == _greedy(model, 10)[0]


def test_stream_yields_the_same_tokens_as_generate(model):
    config = SamplingConfig(seed=9, max_new_tokens=20, top_k=5)
    expected = generate(model.step, PRIME, config)[0]
    assert list(stream(model.step, PRIME, config)) == expected
    assert list(stream(model.step, PRIME, config, prime=model.prime)) == expected


def test_stream_steps_lazily_and_keeps_caller_grad_mode(model):
    step = Counting(model.step)
    tokens = stream(step, PRIME, SamplingConfig(seed=0, max_new_tokens=100))
    next(tokens)
    assert torch.is_grad_enabled()  # no_grad inside the generator does not leak out
    next(tokens)
    assert step.calls == len(PRIME) + 1  # the model only ran for what was asked
    tokens.close()
    assert all(not logits.requires_grad for logits in step.logits)


def test_empty_prime_is_a_config_error(model):
    with pytest.raises(ConfigError, match="prime_ids is empty"):
        generate(model.step, [], SamplingConfig())
    with pytest.raises(ConfigError, match="prime_ids is empty"):
        next(stream(model.step, [], SamplingConfig()))


def test_bad_prime_ids_are_a_config_error(model):
    with pytest.raises(ConfigError, match="prime_ids") as info:
        generate(model.step, [1, -2], SamplingConfig())
    assert info.value.field == "prime_ids"


def test_stream_refuses_several_samples(model):
    with pytest.raises(ConfigError, match="num_samples") as info:
        next(stream(model.step, PRIME, SamplingConfig(num_samples=2)))
    assert info.value.field == "num_samples"


def test_step_with_a_time_axis_is_reported(model):
    def step_3d(tokens, state):
        return model(tokens[:, None], state)  # (B, 1, V): forgot to squeeze

    with pytest.raises(InputError, match=r"shape \(B, V\)"):
        generate(step_3d, PRIME, SamplingConfig())
