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


def test_tied_weights_share_the_embedding_and_save_to_safetensors(tmp_path):
    model = LanguageModel(
        LanguageModelConfig(vocab_size=7, hidden_size=8, embedding_size=8, tie_weights=True)
    )
    names = {n for n, _ in model.named_parameters()}
    assert "embedding.weight" in names and not any(n.startswith("decoder.") for n in names)
    save_file(model.state_dict(), tmp_path / "w.safetensors")  # no shared storage
    loaded = load_file(tmp_path / "w.safetensors")
    with torch.no_grad():
        model.embedding.weight[0].fill_(3.0)
    h = torch.zeros(1, 8)
    assert torch.all(model.project(h) == model.decoder_bias)  # bias only for h = 0
    assert set(loaded) == set(model.state_dict())


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"cell": "transformer"}, "cell"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"embedding_size": -1}, "embedding_size"),
        ({"dropout": 1.0}, "dropout"),
        ({"tie_weights": True, "embedding_size": 4}, "tie_weights"),
    ],
)
def test_bad_model_config(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        LanguageModelConfig(vocab_size=5, **kwargs)


def test_config_round_trip():
    config = LanguageModelConfig(vocab_size=5, cell="gru", hidden_size=9, dropout=0.1)
    assert LanguageModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="unknown keys"):
        LanguageModelConfig.from_dict(config.to_dict() | {"nhid": 3})
