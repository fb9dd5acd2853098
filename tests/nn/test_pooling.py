"""TimePooling: each kind equals a plain loop over the real steps; padding, even NaN, is ignored."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.errors import ConfigError, InputError
from rnnkit.nn.pooling import POOLINGS, TimePooling


def plain_pool(pool: TimePooling, h: torch.Tensor, n: int) -> torch.Tensor:
    """One sequence's real steps ``h[:n]`` (n, F), pooled with Python loops."""
    steps = [h[t] for t in range(n)]
    if pool.kind == "mean":
        return sum(steps) / n
    if pool.kind == "max":
        top = steps[0]
        for s in steps[1:]:
            top = torch.maximum(top, s)
        return top
    if pool.kind == "attention":
        u = pool.score.weight[0].detach()
        scores = [float(u @ s) for s in steps]
        weights = [math.exp(s - max(scores)) for s in scores]
        return sum(w * s for w, s in zip(weights, steps, strict=True)) / sum(weights)
    H = h.shape[-1] // pool.num_directions
    if pool.num_directions == 1:
        return steps[-1]
    return torch.cat([steps[-1][:H], steps[0][H:]])  # forward ends at n, reverse at 1


@pytest.mark.parametrize("directions", [1, 2])
@pytest.mark.parametrize("kind", POOLINGS)
def test_each_kind_equals_a_plain_loop_and_ignores_nan_padding(kind, directions):
    torch.manual_seed(0)
    pool = TimePooling(kind, 6, directions).double()
    lengths = torch.tensor([3, 7, 1, 5])
    h = torch.randn(4, 7, 6, dtype=torch.float64)
    for b, n in enumerate(lengths.tolist()):
        h[b, n:] = float("nan")
    h.requires_grad_(True)
    pooled = pool(h, lengths)  # (B, F)
    assert pooled.shape == (4, 6)
    for b, n in enumerate(lengths.tolist()):
        expected = plain_pool(pool, h[b].detach(), n)
        torch.testing.assert_close(pooled[b], expected, atol=1e-12, rtol=1e-12)
    pooled.sum().backward()
    for b, n in enumerate(lengths.tolist()):
        assert torch.all(h.grad[b, n:] == 0)  # padding gets no gradient, not NaN


def test_attention_weights_follow_the_scores():
    """A score vector aligned with one step's output puts almost all weight there."""
    pool = TimePooling("attention", 2).double()
    with torch.no_grad():
        pool.score.weight.copy_(torch.tensor([[50.0, 0.0]]))
    h = torch.tensor([[[0.0, 1.0], [1.0, 2.0], [0.0, 3.0], [9.0, 9.0]]], dtype=torch.float64)
    pooled = pool(h, torch.tensor([3]))  # step 4 (the largest score) is padding
    torch.testing.assert_close(pooled[0], torch.tensor([1.0, 2.0], dtype=torch.float64))


def test_bad_arguments_name_the_argument():
    with pytest.raises(ConfigError) as err:
        TimePooling("median", 4)
    assert err.value.field == "kind"
    with pytest.raises(ConfigError) as err:
        TimePooling("last", 5, 2)
    assert err.value.field == "features"
    pool = TimePooling("mean", 4)
    with pytest.raises(InputError, match="^output:"):
        pool(torch.zeros(2, 3, 5), torch.tensor([1, 2]))
    with pytest.raises(TypeError, match="^lengths:"):  # a wrong dtype, as in the layers
        pool(torch.zeros(2, 3, 4), torch.tensor([1.0, 2.0]))
    with pytest.raises(InputError, match="^lengths:"):
        pool(torch.zeros(2, 3, 4), torch.tensor([1, 2, 3]))


@pytest.mark.parametrize("kind", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize(
    "lengths, message",
    [([5, 0, 1], "at least 1 step"), ([7, 1, 1], "longer than"), ([5, -2, 1], "at least 1")],
)
def test_lengths_out_of_range_are_an_input_error(kind, lengths, message):
    pool = TimePooling(kind, 8)
    with pytest.raises(InputError, match=message):
        pool(torch.randn(3, 5, 8), torch.tensor(lengths))
    # A plain list is taken like a tensor.
    assert pool(torch.randn(3, 5, 8), [5, 1, 1]).shape == (3, 8)
