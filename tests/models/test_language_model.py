"""The language model: shapes, incremental stepping, tied weights, config checks."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from rnnkit.errors import ConfigError
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("embedding", [0, 8])
def test_stepping_token_by_token_equals_one_pass(cell, embedding):
    torch.manual_seed(0)
    model = LanguageModel(
        LanguageModelConfig(
            vocab_size=11, cell=cell, num_layers=2, hidden_size=16, embedding_size=embedding
        )
    )
    model.eval()
    tokens = torch.randint(0, 11, (3, 9))
    logits, _ = model(tokens)
    assert logits.shape == (3, 9, 11)
    state, stepped = None, []
    for t in range(9):
        step_logits, state = model.step(tokens[:, t], state)
        stepped.append(step_logits)
    torch.testing.assert_close(torch.stack(stepped, 1), logits, atol=1e-5, rtol=1e-5)
    last, state = model.prime(tokens)
    torch.testing.assert_close(last, logits[:, -1])


def _seeded_model(tie_weights: bool) -> LanguageModel:
    torch.manual_seed(0)
    model = LanguageModel(
        LanguageModelConfig(
            vocab_size=7, num_layers=1, hidden_size=8, embedding_size=8, tie_weights=tie_weights
        )
    )
    with torch.no_grad():  # a non-zero bias, so a projection that drops it is caught
        bias = model.decoder_bias if tie_weights else model.decoder.bias
        bias.copy_(torch.randn(7, generator=torch.Generator().manual_seed(1)))
    return model.eval()


def _random_h() -> torch.Tensor:
    return torch.randn(3, 5, 8, generator=torch.Generator().manual_seed(2))  # (B, T, H)


def test_tied_projection_is_h_times_the_embedding_transposed_plus_bias():
    model = _seeded_model(tie_weights=True)
    h = _random_h()
    E, b = model.embedding.weight.detach(), model.decoder_bias.detach()  # (V, H), (V,)
    with torch.no_grad():
        torch.testing.assert_close(model.project(h), h @ E.T + b)
        # Changing the embedding changes the projection by exactly h @ delta^T.
        delta = torch.randn(7, 8, generator=torch.Generator().manual_seed(3))
        before = model.project(h)
        model.embedding.weight.add_(delta)
        torch.testing.assert_close(model.project(h) - before, h @ delta.T, rtol=1e-5, atol=1e-5)
    # Gradients reach the embedding from the output side: d(sum logits)/dE[v] = sum h.
    model.zero_grad()
    model.project(h).sum().backward()
    expected = h.reshape(-1, 8).sum(0).expand(7, 8)  # (V, H)
    torch.testing.assert_close(model.embedding.weight.grad, expected)


def test_tied_forward_uses_the_embedding_as_the_output_matrix():
    model = _seeded_model(tie_weights=True)
    tokens = torch.randint(0, 7, (2, 6), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        logits, _ = model(tokens)
        h, _ = model.rnn(model.embedding(tokens))  # (B, T, H)
        expected = h @ model.embedding.weight.T + model.decoder_bias  # (B, T, V)
    torch.testing.assert_close(logits, expected)


def test_tied_state_dict_has_no_decoder_weight_and_round_trips(tmp_path):
    model = _seeded_model(tie_weights=True)
    keys = set(model.state_dict())
    assert "embedding.weight" in keys and "decoder_bias" in keys
    assert not any(k.startswith("decoder.") for k in keys)
    # One V x H matrix in all: the untied model has a second one for the decoder.
    untied = _seeded_model(tie_weights=False)
    vh = [k for k, v in model.state_dict().items() if v.shape == (7, 8)]
    assert vh == ["embedding.weight"]
    assert sorted(k for k, v in untied.state_dict().items() if v.shape == (7, 8)) == [
        "decoder.weight",
        "embedding.weight",
    ]
    save_file(model.state_dict(), tmp_path / "w.safetensors")  # refuses shared storage
    loaded = load_file(tmp_path / "w.safetensors")
    assert set(loaded) == keys
    torch.manual_seed(99)  # other initial weights, replaced by the loaded ones
    other = LanguageModel(model.config).eval()
    other.load_state_dict(loaded)
    h = _random_h()
    with torch.no_grad():
        torch.testing.assert_close(other.project(h), model.project(h), rtol=0, atol=0)
        torch.testing.assert_close(
            other.project(h), h @ loaded["embedding.weight"].T + loaded["decoder_bias"]
        )


def test_untied_projection_has_its_own_matrix():
    model = _seeded_model(tie_weights=False)
    h = _random_h()
    W, b = model.decoder.weight.detach(), model.decoder.bias.detach()
    E = model.embedding.weight.detach()
    with torch.no_grad():
        logits = model.project(h)
        torch.testing.assert_close(logits, h @ W.T + b)
        assert not torch.allclose(logits, h @ E.T + b)
        model.embedding.weight.add_(1.0)  # the embedding no longer reaches the output
        torch.testing.assert_close(model.project(h), logits, rtol=0, atol=0)
    assert W.data_ptr() != E.data_ptr()


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"cell": "transformer"}, "cell"),
        ({"vocab_size": 0}, "vocab_size"),
        ({"num_layers": True}, "num_layers"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"embedding_size": -1}, "embedding_size"),
        ({"dropout": 1.0}, "dropout"),
        ({"weight_dropout": -0.1}, "weight_dropout"),
        ({"tie_weights": True, "embedding_size": 4}, "tie_weights"),
    ],
)
def test_bad_model_config(kwargs, field):
    with pytest.raises(ConfigError, match=rf"(^|\.){field}\b"):
        LanguageModelConfig(**({"vocab_size": 5} | kwargs))


def test_boundary_model_config_is_accepted():
    # The rejections above must come from the values, not from a check that refuses all.
    config = LanguageModelConfig(
        vocab_size=1, num_layers=1, hidden_size=1, embedding_size=0, dropout=0.0
    )
    assert (config.vocab_size, config.embedding_size) == (1, 0)
    tied = LanguageModelConfig(vocab_size=5, hidden_size=4, embedding_size=4, tie_weights=True)
    assert tied.tie_weights


def test_config_round_trip():
    config = LanguageModelConfig(vocab_size=5, cell="gru", hidden_size=9, dropout=0.1)
    assert LanguageModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="unknown keys"):
        LanguageModelConfig.from_dict(config.to_dict() | {"nhid": 3})
