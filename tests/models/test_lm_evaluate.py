"""evaluate_stream: warmed-up streams equal a plain per-segment loop; the plan."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.data import eval_segments
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.models.lm_tasks import EVAL_STREAMS, eval_plan, evaluate_stream


def make_model(cell: str) -> LanguageModel:
    torch.manual_seed(0)
    config = LanguageModelConfig(vocab_size=13, cell=cell, num_layers=2, hidden_size=24)
    return LanguageModel(config).double()


def reference_loss(model, ids, streams, warmup):
    """Each segment on its own, from a zero state, one token at a time."""
    total, count = 0.0, 0
    for read_from, score_from, stop in eval_segments(len(ids), streams, warmup):
        state = None
        for p in range(read_from, stop):
            logits, state = model.step(torch.tensor([ids[p]]), state)
            if p >= score_from:
                total += F.cross_entropy(logits, torch.tensor([ids[p + 1]])).item()
                count += 1
    return total / count, count


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(("streams", "warmup"), [(1, 0), (5, 0), (5, 17), (16, 40)])
def test_streams_equal_a_plain_loop_over_each_segment(cell, streams, warmup):
    model = make_model(cell).eval()
    ids = torch.randint(0, 13, (301,), generator=torch.Generator().manual_seed(1)).tolist()
    expected, count = reference_loss(model, ids, streams, warmup)
    assert count == len(ids) - 1
    result = evaluate_stream(model, ids, 11, streams=streams, warmup=warmup)
    assert result["loss"] == pytest.approx(expected, rel=1e-10)


def test_warm_up_brings_many_streams_close_to_one():
    """A model with memory: cold streams read their first tokens differently, warm ones agree."""
    model = make_model("gru").eval()
    with torch.no_grad():  # slow forgetting: update gates (z, rows H:2H) biased open
        for layer in range(2):
            getattr(model.rnn, f"bias_hh_l{layer}")[24:48] += 3.0
    ids = torch.randint(0, 13, (2000,), generator=torch.Generator().manual_seed(3)).tolist()
    one = evaluate_stream(model, ids, 50, streams=1, warmup=0)["loss"]
    cold = evaluate_stream(model, ids, 50, streams=40, warmup=0)["loss"]
    warm = evaluate_stream(model, ids, 50, streams=40, warmup=200)["loss"]
    assert abs(warm - one) < abs(cold - one) / 5


def test_evaluation_restores_training_mode():
    model = make_model("lstm").train()
    evaluate_stream(model, list(range(13)) * 5, 4)
    assert model.training


@pytest.mark.parametrize(
    ("num_tokens", "seq_len", "expected"),
    [(111_540, 100, (EVAL_STREAMS, 400)), (1_000, 100, (1, 400)), (8_001, 10, (50, 40))],
)
def test_eval_plan(num_tokens, seq_len, expected):
    assert eval_plan(num_tokens, seq_len) == expected
