"""Weight dropout (DropConnect on weight_hh): torch.nn with dropped matrices, both paths."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from nn_helpers import KINDS, TOL, assert_close_dicts, grads, make_pair

from rnnkit.errors import ConfigError
from rnnkit.models.language_model import LanguageModelConfig
from rnnkit.nn import LSTM

P = 0.4


def dropped_reference(ours, ref, seed: int) -> None:
    """Give `ref` the matrices `ours` will use after torch.manual_seed(seed): one fresh
    mask per weight_hh, drawn layer by layer, direction by direction."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in ours.named_parameters():
            if name.startswith("weight_hh"):
                getattr(ref, name).copy_(F.dropout(param, P))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_training_forward_is_torch_nn_with_dropped_recurrent_matrices(kind, impl) -> None:
    ours, ref = make_pair(kind, 5, 7, num_layers=2, bidirectional=True, impl=impl)
    ours.weight_dropout = P
    x = torch.randn(9, 3, 5, dtype=torch.float64)
    dropped_reference(ours, ref, seed=11)
    torch.manual_seed(11)
    out, _ = ours(x)
    expected, _ = ref(x)
    torch.testing.assert_close(out, expected, **TOL[torch.float64])
    # Some entries really were dropped, and the rest scaled by 1 / (1 - P).
    w, w_ref = ours.weight_hh_l0, ref.weight_hh_l0
    assert (w_ref == 0).any()
    kept = w_ref != 0
    torch.testing.assert_close(w_ref[kept], w[kept].detach() / (1 - P))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_fused_and_reference_paths_agree_with_gradients(kind) -> None:
    fused, _ = make_pair(kind, 4, 6, num_layers=2, impl="fused", seed=3)
    loop, _ = make_pair(kind, 4, 6, num_layers=2, impl="reference", seed=3)
    for layer in (fused, loop):
        layer.weight_dropout = P
    x = torch.randn(8, 2, 4, dtype=torch.float64, requires_grad=True)
    results = []
    for layer in (fused, loop):
        torch.manual_seed(5)
        out, _ = layer(x)
        out.square().sum().backward()
        results.append((out.detach(), grads(layer, x)))
    torch.testing.assert_close(results[0][0], results[1][0], **TOL[torch.float64])
    assert_close_dicts(results[0][1], results[1][1], **TOL[torch.float64])
    # A dropped entry gets no gradient through the recurrence.
    torch.manual_seed(5)
    mask = F.dropout(torch.ones_like(fused.weight_hh_l0), P) == 0
    assert (results[0][1]["weight_hh_l0"][mask] == 0).all()


def test_eval_mode_and_new_masks_per_call() -> None:
    torch.manual_seed(0)
    layer = LSTM(4, 6, num_layers=2, weight_dropout=P)
    plain = LSTM(4, 6, num_layers=2)
    plain.load_state_dict(layer.state_dict())
    x = torch.randn(5, 2, 4)
    layer.eval()
    torch.testing.assert_close(layer(x)[0], plain(x)[0])  # no dropout at evaluation
    layer.train()
    first, second = layer(x)[0], layer(x)[0]
    assert not torch.allclose(first, second)  # each call draws new masks
    assert "weight_dropout=0.4" in repr(layer)


def test_bad_weight_dropout_is_rejected() -> None:
    with pytest.raises(ConfigError, match="weight_dropout"):
        LSTM(4, 6, weight_dropout=1.5)
    with pytest.raises(ConfigError, match="weight_dropout"):
        LanguageModelConfig(vocab_size=10, weight_dropout=1.0)
