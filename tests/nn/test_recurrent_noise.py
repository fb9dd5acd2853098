"""Variational (recurrent) dropout and zoneout: what they do, checked by hand."""

from __future__ import annotations

import pytest
import torch

from rnnkit.errors import ConfigError
from rnnkit.models.classifier import ClassifierConfig
from rnnkit.models.forecaster import ForecasterConfig
from rnnkit.models.language_model import LanguageModelConfig
from rnnkit.models.seq2seq import Seq2SeqConfig
from rnnkit.nn import GRU, LSTM, RNN, LayerNormLSTMCell, Recurrent
from rnnkit.nn.registry import CELLS


def identity_relu_rnn(H, **kw):
    """h_t = relu(keep * h_{t-1}): W_ih = 0, W_hh = I, no bias; the output shows the masks."""
    layer = RNN(1, H, nonlinearity="relu", bias=False, **kw)
    with torch.no_grad():
        layer.weight_ih_l0.zero_()
        layer.weight_hh_l0.copy_(torch.eye(H))
    return layer


def test_recurrent_dropout_mask_is_one_per_sequence_and_off_at_eval():
    layer = identity_relu_rnn(50, recurrent_dropout=0.5)
    x, h0 = torch.zeros(6, 8, 1), torch.ones(1, 8, 50)
    torch.manual_seed(0)
    out, _ = layer(x, h0)
    keep = out[0]  # step 1 is the mask itself: 0 or 1/(1-p) = 2
    assert set(keep.unique().tolist()) == {0.0, 2.0}
    for t in range(6):  # the same mask at every step: h_t = keep^(t+1)
        torch.testing.assert_close(out[t], keep ** (t + 1))
    assert not torch.equal(keep[0], keep[1])  # each sequence has its own mask
    layer.eval()
    out, _ = layer(x, h0)
    torch.testing.assert_close(out, torch.ones(6, 8, 50))


def test_zoneout_in_training_keeps_units_with_fresh_masks_per_step():
    """h_t = relu(h_{t-1} + 1): a unit zoned out at step t keeps h_{t-1}; updated it grows."""
    H, B, T, p = 200, 4, 5, 0.3
    layer = RNN(1, H, nonlinearity="relu", zoneout=p)
    with torch.no_grad():
        layer.weight_ih_l0.zero_(), layer.bias_ih_l0.fill_(1.0), layer.bias_hh_l0.zero_()
        layer.weight_hh_l0.copy_(torch.eye(H))
    torch.manual_seed(0)
    out, _ = layer(torch.zeros(T, B, 1))
    prev = torch.zeros(B, H)
    kept = []
    for t in range(T):
        same, grew = out[t] == prev, out[t] == prev + 1
        assert bool((same | grew).all())
        kept.append(same)
        prev = out[t]
    kept = torch.stack(kept).float()  # (T, B, H)
    assert abs(kept.mean().item() - p) < 0.03  # 4000 draws: sd ~0.007
    assert not torch.equal(kept[0], kept[1])  # a fresh mask each step


@pytest.mark.parametrize("impl", ["auto", "reference"])
def test_zoneout_at_eval_is_the_expectation_by_hand(impl):
    """LSTM: c_t = p c_{t-1} + (1-p) c_new and h_t = p h_{t-1} + (1-p) o tanh(c_new)."""
    p = 0.25
    torch.manual_seed(1)
    layer = LSTM(3, 4, zoneout=p, impl=impl, dtype=torch.float64).eval()
    plain = torch.nn.LSTMCell(3, 4, dtype=torch.float64)
    plain.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    h = c = torch.zeros(2, 4, dtype=torch.float64)
    expected = []
    for t in range(5):
        h_new, c_new = plain(x[t], (h, c))
        h, c = p * h + (1 - p) * h_new, p * c + (1 - p) * c_new
        expected.append(h)
    out, final = layer(x)
    torch.testing.assert_close(out, torch.stack(expected))
    torch.testing.assert_close(final[0].c, c)
    assert layer.last_path.name == ("loop" if impl == "auto" else "reference")


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_zero_probabilities_are_exactly_the_plain_layer(cell):
    if cell.startswith("min"):
        pytest.skip("no recurrent matrix")
    torch.manual_seed(0)
    plain = Recurrent(CELLS[cell], 3, 4, 2)
    noisy = Recurrent(CELLS[cell], 3, 4, 2, recurrent_dropout=0.0, zoneout=0.0)
    noisy.load_state_dict(plain.state_dict())
    x = torch.randn(6, 2, 3)
    assert torch.equal(plain(x)[0], noisy(x)[0])
    assert plain.last_path == noisy.last_path


def test_seeded_determinism_and_masks_differ_across_calls():
    layer = Recurrent(LayerNormLSTMCell, 3, 4, 2, recurrent_dropout=0.3, zoneout=0.2)
    x = torch.randn(6, 2, 3)
    torch.manual_seed(5)
    a, _ = layer(x)
    torch.manual_seed(5)
    b, _ = layer(x)
    c, _ = layer(x)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_paths_say_why():
    x = torch.randn(6, 2, 3)
    lstm = LSTM(3, 4, recurrent_dropout=0.2)
    lstm(x)
    assert lstm.last_path.name == "loop"
    assert "recurrent_dropout=0.2 in training" in lstm.last_path.reason
    lstm.eval()
    lstm(x)
    assert lstm.last_path.name == "fused"  # no noise at evaluation: torch's kernel runs
    gru = GRU(3, 4, zoneout=0.1).eval()
    gru(x)
    assert gru.last_path.name == "loop"  # zoneout still changes the function at evaluation
    assert "zoneout=0.1 at evaluation" in gru.last_path.reason
    rnn = RNN(3, 4, zoneout=0.1)
    rnn(x)
    assert rnn.last_path.name == "reference"
    with pytest.raises(ConfigError, match="impl='fused' cannot run"):
        LSTM(3, 4, zoneout=0.1, impl="fused")(x)


def test_cells_with_their_own_sequence_path_take_no_noise():
    if "mingru" not in CELLS:
        pytest.skip("no minGRU cell here")
    x = torch.randn(6, 2, 3)
    layer = Recurrent(CELLS["mingru"], 3, 4, zoneout=0.2)
    layer(x)
    assert layer.last_path.name == "reference"
    assert "run_sequence take no noise" in layer.last_path.reason
    layer.zoneout = 0.0
    layer(x)
    assert layer.last_path.name == "cell"
    with pytest.raises(ConfigError, match="recurrent_dropout"):
        Recurrent(CELLS["mingru"], 3, 4, recurrent_dropout=0.2)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"recurrent_dropout": 1.0}, ConfigError),
        ({"zoneout": -0.1}, ConfigError),
        ({"zoneout": True}, TypeError),
        ({"recurrent_dropout": "0.1"}, TypeError),
    ],
)
def test_bad_probabilities(kwargs, error):
    with pytest.raises(error):
        LSTM(3, 4, **kwargs)


@pytest.mark.parametrize(
    ("config", "required"),
    [
        (LanguageModelConfig, {"vocab_size": 5}),
        (ClassifierConfig, {"num_classes": 2, "input_size": 3}),
        (ForecasterConfig, {}),
        (Seq2SeqConfig, {}),
    ],
)
def test_every_model_config_validates_and_old_configs_load(config, required):
    with pytest.raises(ConfigError, match="zoneout"):
        config(**required, zoneout=1.0)
    with pytest.raises(ConfigError, match="recurrent_dropout"):
        config(**required, recurrent_dropout=-0.5)
    old = config(**required).to_dict()
    del old["zoneout"], old["recurrent_dropout"]  # a run written before these fields
    loaded = config.from_dict(old)
    assert loaded.zoneout == 0.0 and loaded.recurrent_dropout == 0.0
