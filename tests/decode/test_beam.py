"""beam_search and greedy_search against exhaustive enumeration on a tiny seeded decoder."""

import math
from typing import NamedTuple

import pytest
import torch
from torch import Tensor, nn

from rnnkit.decode import Hypothesis, beam_search, greedy_search
from rnnkit.errors import ConfigError, InputError
from rnnkit.nn.state import map_state

V, E, H, M = 4, 3, 6, 2  # vocabulary, embedding, hidden, per-source memory
GO, EOS = 0, 1  # tokens 2 and 3 are words; GO may also be generated, as any non-eos token
ALPHA = 0.6


class ToyState(NamedTuple):
    h: Tensor  # (N, H)
    memory: Tensor  # (N, M), the same for every step, like an encoder summary


class ToyDecoder(nn.Module):
    """Embedding + memory -> GRUCell -> Linear, float64, weights from a seeded generator.

    The memory enters every step, so a beam paired with another source's memory (a
    wrong reordering) changes the logits.
    """

    def __init__(self, seed: int = 0, eos_bias: float = 0.0) -> None:
        super().__init__()
        self.embed = nn.Embedding(V, E, dtype=torch.float64)
        self.init = nn.Linear(M, H, dtype=torch.float64)
        self.cell = nn.GRUCell(E + M, H, dtype=torch.float64)
        self.head = nn.Linear(H, V, dtype=torch.float64)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            # Large weights: distributions far from uniform and different at every step.
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 1.5)
            self.head.bias[EOS] += eos_bias

    def start(self, memory: Tensor) -> ToyState:
        return ToyState(torch.tanh(self.init(memory)), memory)  # (B, H), (B, M)

    def step(self, tokens: Tensor, state: ToyState) -> tuple[Tensor, ToyState]:
        x = torch.cat([self.embed(tokens), state.memory], dim=-1)  # (N, E + M)
        h = self.cell(x, state.h)  # (N, H)
        return self.head(h), ToyState(h, state.memory)  # (N, V)


def memories(n: int, seed: int = 1) -> Tensor:
    return torch.randn(n, M, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def lp(length: int, alpha: float) -> float:
    return ((5 + length) / 6) ** alpha


@torch.no_grad()
def exhaustive(model: ToyDecoder, memory: Tensor, max_len: int, alpha: float) -> list:
    """Every output of one source, scored by summing log-softmax along the way, best first.

    An output ends with eos or has max_len tokens; all live prefixes of one length are
    stepped as one batch.
    """
    prefixes, prefix_lp = [[]], [0.0]
    state = model.start(memory[None])  # 1 row
    tokens = torch.tensor([GO])
    outputs = []
    for t in range(1, max_len + 1):
        logits, state = model.step(tokens, state)
        log_probs = torch.log_softmax(logits, dim=-1).tolist()  # (N, V)
        grown, grown_lp, parents = [], [], []
        for i, prefix in enumerate(prefixes):
            for v in range(V):
                total = prefix_lp[i] + log_probs[i][v]
                if v == EOS:
                    outputs.append((prefix, total, True))
                elif t == max_len:
                    outputs.append((prefix + [v], total, False))
                else:
                    grown.append(prefix + [v])
                    grown_lp.append(total)
                    parents.append(i)
        prefixes, prefix_lp = grown, grown_lp
        rows = torch.tensor(parents, dtype=torch.long)
        state = map_state(lambda x, rows=rows: x.index_select(0, rows), state)
        tokens = torch.tensor([p[-1] for p in prefixes], dtype=torch.long)
    hyps = [
        Hypothesis(y, total / lp(len(y) + done, alpha), total, done) for y, total, done in outputs
    ]
    return sorted(hyps, key=lambda h: -h.score)


def n_outputs(max_len: int) -> int:
    """Outputs of length <= max_len: those ending in eos, plus the cut ones of max_len."""
    return sum((V - 1) ** n for n in range(max_len)) + (V - 1) ** max_len


class Counting:
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, tokens, state):
        self.calls += 1
        return self.fn(tokens, state)


def beam(model, memory, **kwargs):
    kwargs = {"go_id": GO, "eos_id": EOS, "width": 3, "max_len": 6, **kwargs}
    return beam_search(model.step, model.start(memory), batch_size=len(memory), **kwargs)


def greedy(model, memory, max_len=12):
    return greedy_search(
        model.step, model.start(memory), batch_size=len(memory), go_id=GO, eos_id=EOS,
        max_len=max_len,
    )  # fmt: skip


def assert_same(got: list, expected: list, tol: float = 1e-5) -> None:
    assert [h.tokens for h in got] == [h.tokens for h in expected]
    assert [h.finished for h in got] == [h.finished for h in expected]
    for g, e in zip(got, expected, strict=True):
        assert g.score == pytest.approx(e.score, abs=tol)
        assert g.log_prob == pytest.approx(e.log_prob, abs=tol)


@pytest.fixture(scope="module")
def model():
    return ToyDecoder()


def test_width_one_equals_greedy_token_for_token(model):
    memory = memories(8)
    expected = greedy(model, memory, max_len=12)
    got = beam(model, memory, width=1, max_len=12)
    assert [hyps[0] for hyps in got] == expected
    assert all(len(hyps) == 1 for hyps in got)
    assert all(h.score == h.log_prob for h in expected)  # greedy has no length penalty
    # Both endings and outputs of several tokens are covered.
    assert {h.finished for h in expected} == {True, False}
    assert any(h.finished and len(h.tokens) >= 3 for h in expected)


@pytest.mark.parametrize("alpha", [0.0, ALPHA])
def test_a_beam_as_wide_as_all_outputs_ranks_them_all_exactly(model, alpha):
    memory = memories(5)
    width = n_outputs(3)  # 40 outputs of <= 3 tokens for V = 4
    got = beam(model, memory, width=width, n_best=width, max_len=3, length_penalty=alpha)
    for b in range(5):
        expected = exhaustive(model, memory[b], 3, alpha)
        assert len(expected) == width
        assert_same(got[b], expected)


def test_length_penalty_ranks_by_the_gnmt_formula(model):
    memory = memories(5)
    width = n_outputs(3)
    plain = beam(model, memory, width=width, n_best=width, max_len=3)
    penalised = beam(model, memory, width=width, n_best=width, max_len=3, length_penalty=ALPHA)
    for raw, hyps in zip(plain, penalised, strict=True):
        # Rescore every output by hand, |y| counting the eos of a finished one, and rank.
        rescored = [
            h._replace(score=h.log_prob / ((5 + len(h.tokens) + h.finished) / 6) ** ALPHA)
            for h in raw
        ]
        assert_same(hyps, sorted(rescored, key=lambda h: -h.score))
    # The penalty changes the ranking (longer outputs move up), so the check has teeth.
    assert any(
        [h.tokens for h in raw] != [h.tokens for h in hyps]
        for raw, hyps in zip(plain, penalised, strict=True)
    )


@pytest.mark.parametrize("alpha", [0.0, ALPHA])
def test_early_stopping_keeps_the_exact_n_best(model, alpha):
    memory = memories(6)
    width, max_len = n_outputs(5), 5  # 364 beams: nothing is ever pruned
    got = beam(model, memory, width=width, n_best=3, max_len=max_len, length_penalty=alpha)
    for b in range(6):
        assert_same(got[b], exhaustive(model, memory[b], max_len, alpha)[:3])
    # Alone, a source stops as soon as its top 3 are settled, with the same answer.
    calls = []
    for b in range(6):
        step = Counting(model.step)
        alone = beam_search(
            step, model.start(memory[b : b + 1]), batch_size=1, go_id=GO, eos_id=EOS,
            width=width, max_len=max_len, n_best=3, length_penalty=alpha,
        )  # fmt: skip
        assert_same(alone[0], got[b], tol=1e-9)
        calls.append(step.calls)
    assert min(calls) < max_len  # the stopping rule did cut a search short


@pytest.mark.parametrize("alpha", [0.0, ALPHA])
def test_batched_equals_one_source_at_a_time(model, alpha):
    memory = memories(7, seed=3)
    batched = beam(model, memory, width=3, n_best=3, max_len=10, length_penalty=alpha)
    for b in range(7):
        alone = beam(model, memory[b : b + 1], width=3, n_best=3, max_len=10, length_penalty=alpha)
        assert_same(batched[b], alone[0], tol=1e-9)
    # Different sources give different outputs: a beam reading another's memory would show.
    assert len({tuple(hyps[0].tokens) for hyps in batched}) > 2
    greedy_batched = greedy(model, memory)
    for b in range(7):
        assert_same([greedy_batched[b]], greedy(model, memory[b : b + 1]), tol=1e-9)


# A bigram table over [go, eos, a, b], rows = previous token: a likely first token
# ("a", 0.5) whose continuations are all unlikely, against "b" (0.4) then eos (0.899).
A, B_ = 2, 3
BIGRAM = torch.tensor(
    [
        [0.001, 0.099, 0.5, 0.4],  # after go
        [0.25, 0.25, 0.25, 0.25],  # after eos (never used)
        [0.001, 0.299, 0.36, 0.34],  # after a
        [0.001, 0.899, 0.05, 0.05],  # after b
    ],
    dtype=torch.float64,
).log()


def bigram_step(tokens, state):
    return BIGRAM[tokens], state  # (N, V); stateless: state stays None


def bigram_beam(width, **kwargs):
    kwargs = {"go_id": GO, "eos_id": EOS, "max_len": 2, "batch_size": 1, **kwargs}
    return beam_search(bigram_step, None, width=width, **kwargs)[0]


def test_a_narrow_beam_can_miss_the_best_output():
    (narrow,) = bigram_beam(width=1)
    (wide,) = bigram_beam(width=2)
    # Width 1 follows the likeliest first token and is stuck with its continuations.
    assert narrow.tokens == [A, A] and not narrow.finished
    assert narrow.score == narrow.log_prob == pytest.approx(math.log(0.5 * 0.36))
    assert wide.tokens == [B_] and wide.finished
    assert wide.score == wide.log_prob == pytest.approx(math.log(0.4 * 0.899))
    assert wide.score > narrow.score
    greedy_out = greedy_search(bigram_step, None, batch_size=1, go_id=GO, eos_id=EOS, max_len=2)
    assert greedy_out == [narrow]


def test_fewer_hypotheses_only_when_fewer_outputs_are_possible():
    def step(tokens, state):
        logits = torch.zeros(len(tokens), V)
        logits[:, B_] = float("-inf")  # probability 0: never an output
        return logits, state

    hyps = beam_search(step, None, batch_size=1, go_id=GO, eos_id=EOS, width=4, max_len=1, n_best=4)
    assert [(h.tokens, h.finished) for h in hyps[0]] == [([], True), ([GO], False), ([A], False)]
    assert all(h.log_prob == pytest.approx(math.log(1 / 3)) for h in hyps[0])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("width", 0),
        ("width", 2.5),
        ("width", True),
        ("max_len", 0),
        ("n_best", 0),
        ("batch_size", 0),
        ("go_id", -1),
        ("eos_id", "1"),
        ("length_penalty", -0.1),
        ("length_penalty", float("nan")),
    ],
)
def test_bad_arguments_are_one_line_config_errors(model, field, value):
    kwargs = {"batch_size": 2, "go_id": GO, "eos_id": EOS, "width": 2, "max_len": 4, field: value}
    with pytest.raises(ConfigError, match=rf"^beam_search\.{field} ") as info:
        beam_search(model.step, model.start(memories(2)), **kwargs)
    assert info.value.field == field and "\n" not in str(info.value)
    if field in ("max_len", "batch_size", "go_id", "eos_id"):
        kwargs.pop("width")
        with pytest.raises(ConfigError, match=rf"^greedy_search\.{field} "):
            greedy_search(model.step, model.start(memories(2)), **kwargs)


def test_n_best_above_width_names_both(model):
    with pytest.raises(ConfigError, match=r"n_best is 4 but width is 3") as info:
        beam(model, memories(1), width=3, n_best=4)
    assert info.value.field == "n_best"


@pytest.mark.parametrize(("field", "value"), [("go_id", V), ("eos_id", V + 3)])
def test_ids_outside_the_vocabulary_are_config_errors(field, value):
    def step(tokens, state):  # reads no embedding, so it accepts any id
        return torch.zeros(len(tokens), V), state

    kwargs = {"batch_size": 1, "go_id": GO, "eos_id": EOS, "max_len": 3, field: value}
    expected = rf"{field} is {value} but the model's vocabulary is 0\.\.{V - 1}$"
    with pytest.raises(ConfigError, match=expected):
        beam_search(step, None, width=2, **kwargs)
    with pytest.raises(ConfigError, match=expected):
        greedy_search(step, None, **kwargs)


def test_state_without_the_batch_first_is_an_input_error(model):
    state = model.start(memories(3))
    with pytest.raises(InputError, match=r"batch \(2 rows\) as dim 0, got shape \(3, 6\)"):
        beam_search(model.step, state, batch_size=2, go_id=GO, eos_id=EOS, width=2, max_len=3)
    with pytest.raises(InputError, match=r"expected tensors"):
        greedy_search(model.step, ("memory",), batch_size=1, go_id=GO, eos_id=EOS, max_len=3)


def test_a_step_with_the_wrong_shapes_is_an_input_error(model):
    def with_time_axis(tokens, state):
        logits, state = model.step(tokens, state)
        return logits[:, None], state  # (N, 1, V)

    def dropping_rows(tokens, state):
        logits, state = model.step(tokens, state)
        return logits, map_state(lambda x: x[:1], state)

    start = model.start(memories(2))
    kwargs = {"batch_size": 2, "go_id": GO, "eos_id": EOS, "width": 3, "max_len": 4}
    with pytest.raises(InputError, match=r"logits of shape \(6, V\), got \(6, 1, 4\)"):
        beam_search(with_time_axis, start, **kwargs)
    with pytest.raises(InputError, match=r"state whose tensors have the batch \(6 rows\)"):
        beam_search(dropping_rows, start, **kwargs)
