"""SequenceClassifier: padding changes nothing, pooling equals torch.nn plus a plain loop,
tiny sets are learnt, the tutorial models have their hand-counted sizes, bad input is named."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rnnkit.errors import ConfigError, InputError
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.nn.pooling import POOLINGS

V, D = 11, 3  # vocabulary size and feature width of the small test models
TORCH_LAYERS = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def make_model(text: bool, seed: int = 0, **overrides) -> SequenceClassifier:
    torch.manual_seed(seed)
    inputs = dict(vocab_size=V, embedding_size=4) if text else dict(input_size=D)
    config = dict(num_classes=3, hidden_size=(6, 5), dense=(4,)) | inputs | overrides
    return SequenceClassifier(ClassifierConfig(**config)).eval()


def padded_batch(text: bool, lengths: list[int], T: int, seed: int = 1) -> torch.Tensor:
    """Random sequences padded to T (a bucket longer than the longest) with random
    garbage: other ids for text; huge values, inf and NaN for features."""
    g = torch.Generator().manual_seed(seed)
    if text:
        return torch.randint(0, V, (len(lengths), T), generator=g)
    x = torch.randn(len(lengths), T, D, generator=g)
    for b, n in enumerate(lengths):
        x[b, n:] = 1e4 * torch.randn(T - n, D, generator=g)
    x[0, lengths[0] :] = float("nan")
    x[1, lengths[1] :, 0] = float("inf")
    return x


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("text", [True, False], ids=["text", "numeric"])
def test_a_sequence_alone_equals_it_inside_a_padded_batch(text, cell, bidirectional, pooling):
    extra = {} if text else {"projection_size": 4}
    model = make_model(text, cell=cell, bidirectional=bidirectional, pooling=pooling, **extra)
    lengths = [5, 9, 1, 7, 3]
    x = padded_batch(text, lengths, T=12)
    with torch.no_grad():
        batch = model.probabilities(x, torch.tensor(lengths))  # (B, C)
        for b, n in enumerate(lengths):
            alone = model.probabilities(x[b : b + 1, :n], torch.tensor([n]))  # (1, C)
            torch.testing.assert_close(batch[b], alone[0], atol=1e-6, rtol=0)
    assert torch.isfinite(batch).all()
    torch.testing.assert_close(batch.sum(-1), torch.ones(len(lengths)))


@pytest.mark.parametrize("pooling", POOLINGS)
def test_padded_steps_get_no_gradient(pooling):
    # No ReLU layer: a row whose dense units are all dead would have no gradient at all.
    model = make_model(False, bidirectional=True, pooling=pooling, dense=())
    lengths = [4, 6, 2]
    x = padded_batch(False, lengths, T=8).requires_grad_(True)
    model(x, torch.tensor(lengths)).square().sum().backward()
    for b, n in enumerate(lengths):
        assert torch.all(x.grad[b, n:] == 0)
        assert torch.all(x.grad[b, :n].abs().sum(-1) > 0)  # every real step matters
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def reference_logits(model: SequenceClassifier, seq: torch.Tensor) -> torch.Tensor:
    """One unpadded sequence (n, D) through torch.nn layers with the model's weights,
    pooled and classified with plain loops."""
    config = model.config
    h, n = seq, seq.shape[0]
    for layer in model.layers:
        ref = TORCH_LAYERS[config.cell](
            layer.input_size, layer.hidden_size, bidirectional=config.bidirectional
        ).double()
        ref.load_state_dict(layer.state_dict())
        h, final = ref(h)  # (n, K*H); unbatched torch.nn input
    steps = [h[t] for t in range(n)]
    if config.pooling == "last":  # h_n of each direction, as torch.nn returns it
        h_n = final[0] if config.cell == "lstm" else final  # (K, H)
        pooled = torch.cat(list(h_n))
    elif config.pooling == "mean":
        pooled = sum(steps) / n
    elif config.pooling == "max":
        pooled = steps[0]
        for s in steps[1:]:
            pooled = torch.maximum(pooled, s)
    else:
        u = model.pooling.score.weight[0]
        scores = [float(u @ s) for s in steps]
        weights = [math.exp(s - max(scores)) for s in scores]
        pooled = sum(w * s for w, s in zip(weights, steps, strict=True)) / sum(weights)
    a = pooled
    for linear in (m for m in model.dense if isinstance(m, torch.nn.Linear)):
        a = torch.relu(linear.weight @ a + linear.bias)
    return model.output_layer.weight @ a + model.output_layer.bias


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@torch.no_grad()
def test_each_pooling_equals_torch_nn_and_a_plain_loop(cell, bidirectional, pooling):
    model = make_model(False, cell=cell, bidirectional=bidirectional, pooling=pooling).double()
    lengths = [4, 7, 1, 6]
    x = padded_batch(False, lengths, T=9).double()
    logits = model(x, torch.tensor(lengths))  # (B, C)
    for b, n in enumerate(lengths):
        expected = reference_logits(model, x[b, :n])
        torch.testing.assert_close(logits[b], expected, atol=1e-10, rtol=1e-10)


@torch.no_grad()
def test_text_input_is_the_embedding_lookup_and_lengths_default_to_full():
    model = make_model(True, pooling="mean").double()
    numeric = SequenceClassifier(
        ClassifierConfig(
            num_classes=3, input_size=4, hidden_size=(6, 5), dense=(4,), pooling="mean"
        )
    ).double()
    numeric.load_state_dict(
        {k: v for k, v in model.state_dict().items() if k != "embedding.weight"}
    )
    ids = torch.randint(0, V, (3, 5), generator=torch.Generator().manual_seed(2))
    expected = numeric(model.embedding.weight[ids])  # (B, C)
    torch.testing.assert_close(model(ids), expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(model(ids, torch.tensor([5, 5, 5])), expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    ("text", "cell", "pooling"),
    [(True, "gru", "last"), (False, "lstm", "mean"), (False, "gru", "attention")],
)
def test_a_tiny_model_overfits_sixteen_random_sequences(text, cell, pooling):
    torch.manual_seed(0)
    lengths = torch.randint(2, 9, (16,))
    x = padded_batch(text, lengths.tolist(), T=8, seed=3)
    labels = torch.randint(0, 3, (16,))
    model = make_model(
        text, cell=cell, pooling=pooling, hidden_size=16, bidirectional=True, dense=()
    ).train()
    with torch.no_grad():
        assert (model.eval().predict(x, lengths) == labels).float().mean() < 1.0
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(300):
        optimizer.zero_grad()
        loss = model.loss(model(x, lengths), labels)
        loss.backward()
        optimizer.step()
        if loss.item() < 0.05:
            break
    model.eval()
    with torch.no_grad():
        accuracy = (model.predict(x, lengths) == labels).float().mean().item()
    assert accuracy == 1.0, f"accuracy {accuracy}, final loss {loss.item():.3f}"


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def lstm_params(D: int, H: int) -> int:
    """One LSTM direction: 4 gates x (W_ih (H, D) + W_hh (H, H) + b_ih (H) + b_hh (H)).
    torch.nn (and cuDNN) keep two bias vectors where Keras keeps one, so each direction
    has 4H more parameters than Keras' summary shows."""
    return 4 * (H * D + H * H + H + H)


def test_the_tutorial_architectures_have_their_hand_counted_sizes():
    # TensorFlow's "Text classification with an RNN": vocabulary 1000, Embedding(64),
    # Bidirectional(LSTM(64)), Dense(64, relu), Dense(1) read through a sigmoid.
    single = ClassifierConfig(
        num_classes=2,
        vocab_size=1000,
        embedding_size=64,
        hidden_size=64,
        bidirectional=True,
        dense=(64,),
        output="binary_sigmoid",
    )
    model = SequenceClassifier(single)
    embedding = 1000 * 64  # 64_000
    bilstm = 2 * lstm_params(64, 64)  # 2 * 4 * (4096 + 4096 + 128) = 66_560
    dense = 128 * 64 + 64  # 8_256: reads [forward h_n; reverse h_n]
    output = 64 * 1 + 1  # 65
    assert n_params(model) == embedding + bilstm + dense + output == 138_881
    assert isinstance(model.embedding, torch.nn.Embedding)
    assert n_params(model.embedding) == embedding

    # Its stacked variant: BiLSTM(64, return_sequences) -> BiLSTM(32) -> Dense(64, relu)
    # -> Dropout(0.5) -> Dense(1).
    stacked = ClassifierConfig(
        **single.to_dict() | {"hidden_size": (64, 32), "num_layers": 2, "dropout": 0.5}
    )
    model = SequenceClassifier(stacked)
    first = 2 * lstm_params(64, 64)  # 66_560
    second = 2 * lstm_params(2 * 64, 32)  # 2 * 4 * (4096 + 1024 + 64) = 41_472
    dense = 2 * 32 * 64 + 64  # 4_160
    assert n_params(model) == embedding + first + second + dense + output == 176_257
    assert stacked.num_layers == 2 and stacked.layer_sizes == (64, 32)

    ids = torch.randint(1, 1000, (2, 6))
    assert model(ids, torch.tensor([6, 3])).shape == (2, 1)
    assert model.probabilities(ids, torch.tensor([6, 3])).shape == (2, 2)


@pytest.mark.parametrize("output", ["softmax", "binary_sigmoid"])
def test_probabilities_and_loss_agree(output):
    model = make_model(True, num_classes=2, output=output).double()
    ids = torch.randint(0, V, (4, 5), generator=torch.Generator().manual_seed(5))
    labels = torch.tensor([0, 1, 1, 0])
    logits = model(ids, torch.tensor([5, 2, 4, 1]))
    probs = model.logits_to_probabilities(logits)
    if output == "binary_sigmoid":
        assert logits.shape == (4, 1)
        p = 1 / (1 + torch.exp(-logits[:, 0]))
        torch.testing.assert_close(probs, torch.stack([1 - p, p], dim=1))
    nll = -torch.log(probs[torch.arange(4), labels]).mean()
    torch.testing.assert_close(model.loss(logits, labels), nll.float())
    torch.testing.assert_close(model.predict(ids, torch.tensor([5, 2, 4, 1])), probs.argmax(-1))


@pytest.mark.parametrize(("cell", "pooling"), [("lstm", "attention"), ("gru", "max")])
def test_bf16_autocast_trains_and_stays_near_float32(cell, pooling):
    model = make_model(True, cell=cell, pooling=pooling, bidirectional=True).train()
    ids = torch.randint(0, V, (4, 7), generator=torch.Generator().manual_seed(6))
    lengths, labels = torch.tensor([7, 3, 5, 1]), torch.tensor([0, 2, 1, 0])
    full = model.logits_to_probabilities(model(ids, lengths)).detach()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(ids, lengths)
        loss = model.loss(logits, labels)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    half = model.logits_to_probabilities(logits.float()).detach()
    torch.testing.assert_close(half, full, atol=0.03, rtol=0)


@pytest.mark.parametrize("text", [True, False], ids=["text", "numeric"])
def test_input_dropout_zeroes_first_layer_inputs_in_training_only(text):
    p = 0.4
    model = make_model(text, input_dropout=p, **({} if text else {"projection_size": 4}))
    seen = []
    model.layers[0].register_forward_hook(lambda m, args, out: seen.append(args[0]))
    x = padded_batch(text, [40] * 50, T=40)
    clean = model.embed(x, torch.ones(50, 40, dtype=torch.bool))  # (B, T, E)
    with torch.no_grad():
        model.eval()(x)
        model.train()(x)
    torch.testing.assert_close(seen[0], clean, rtol=0, atol=0)  # eval: untouched
    dropped = seen[1] == 0
    torch.testing.assert_close(seen[1][~dropped], clean[~dropped] / (1 - p))
    live = clean != 0  # the [PAD] id's vector is zero before any dropout
    assert abs(dropped[live].float().mean().item() - p) < 0.03  # ~p of the numbers zeroed


def test_word_dropout_reads_tokens_as_unknown_in_training_only():
    p, unk = 0.3, 1
    model = make_model(True, word_dropout=p, ensemble=2, dropout=0.0)
    seen = []
    for network in model.networks():  # the ids each network's embedding looks up
        network.embedding.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    lengths = torch.randint(20, 41, (60,))
    x = padded_batch(True, [40] * 60, T=40).clamp(min=2)  # no [PAD] or [UNK] to start with
    with torch.no_grad():
        eval_logits = model.eval()(x, lengths)
        model.train()(x, lengths)
    valid = torch.arange(40) < lengths[:, None]
    assert torch.equal(seen[0], x.masked_fill(~valid, 0)) and torch.equal(seen[1], seen[0])
    first, second = seen[2], seen[3]  # training: each network draws its own tokens
    for ids in (first, second):
        changed = ids != x.masked_fill(~valid, 0)
        assert bool((ids[changed] == unk).all()) and not changed[~valid].any()
        assert abs(changed[valid].float().mean().item() - p) < 0.03
    assert not torch.equal(first, second)
    # All words dropped: the network reads a sentence of [UNK]s of the same lengths.
    everything = make_model(True, word_dropout=0.999999, dropout=0.0)
    everything.load_state_dict(make_model(True, dropout=0.0).state_dict())
    with torch.no_grad():
        trained = everything.train()(x, lengths)
        unknowns = everything.eval()(torch.full_like(x, unk), lengths)
    torch.testing.assert_close(trained, unknowns, rtol=0, atol=0)
    with torch.no_grad():
        again = model.eval()(x, lengths)
    torch.testing.assert_close(again, eval_logits, rtol=0, atol=0)  # eval: no drops


@pytest.mark.parametrize("output", ["softmax", "binary_sigmoid"])
def test_an_ensemble_is_the_mean_of_its_networks(output):
    kinds = dict(num_classes=2, output=output, pooling="max", bidirectional=True)
    singles = [make_model(True, seed=s, **kinds) for s in (5, 6, 7)]
    model = make_model(True, ensemble=3, **kinds)
    assert len(model.networks()) == 3 and model.networks()[0] is not model
    first = [n.embedding.weight for n in model.networks()]
    assert not torch.equal(first[0], first[1])  # initialised independently
    for network, single in zip(model.networks(), singles, strict=True):
        network.load_state_dict(single.state_dict())
    lengths = [5, 9, 1, 7, 3]
    x, labels = padded_batch(True, lengths, T=12), torch.tensor([0, 1, 1, 0, 1])
    with torch.no_grad():
        logits = model(x, torch.tensor(lengths))  # (B, K, C)
        probs = model.probabilities(x, torch.tensor(lengths))
        want = torch.stack([m.probabilities(x, torch.tensor(lengths)) for m in singles]).mean(0)
        loss = model.loss(logits, labels)
        losses = [m.loss(m(x, torch.tensor(lengths)), labels) for m in singles]
        for b, n in enumerate(lengths):  # padding changes nothing in an ensemble either
            alone = model.probabilities(x[b : b + 1, :n], torch.tensor([n]))
            torch.testing.assert_close(alone[0], probs[b], atol=1e-6, rtol=0)
    assert logits.shape == (5, 3, 1 if output == "binary_sigmoid" else 2)
    torch.testing.assert_close(probs, want, atol=1e-6, rtol=0)
    torch.testing.assert_close(loss, torch.stack(losses).mean())
    own = -want[torch.arange(5), labels].log().mean()  # the averaged probabilities' NLL
    torch.testing.assert_close(model.loss(logits, labels, combined=True), own)
    assert own < loss  # averaging never loses to the members' mean (Jensen)
    assert (probs - singles[0].probabilities(x, torch.tensor(lengths))).abs().max() > 1e-3
    combined = model.combined_logits(logits)  # what an export returns: one row of logits
    if output == "binary_sigmoid":
        torch.testing.assert_close(torch.sigmoid(combined[:, 0]), want[:, 1])
    else:
        torch.testing.assert_close(torch.softmax(combined, -1), want)


@pytest.mark.parametrize("output", ["softmax", "binary_sigmoid"])
def test_a_cross_fitted_loss_leaves_each_example_out_of_its_network(output):
    """held_out[b] = k: network k neither scores nor learns from example b; the loss is
    the mean of the kept (example, network) losses, each from that network alone."""
    kinds = dict(num_classes=2, output=output, pooling="max", bidirectional=True)
    model = make_model(True, ensemble=3, **kinds)  # eval: each network's loss alone is exact
    lengths = [5, 9, 1, 7, 3, 4]
    x, labels = padded_batch(True, lengths, T=12), torch.tensor([0, 1, 1, 0, 1, 0])
    held_out = torch.tensor([0, 2, 5, 0, 1, 2])  # 5 >= K: every network learns from it
    logits = model(x, torch.tensor(lengths))
    loss = model.loss(logits, labels, held_out=held_out)
    kept = []
    for k, network in enumerate(model.networks()):
        for b, n in enumerate(lengths):
            if held_out[b] != k:
                one = network(x[b : b + 1, :n], torch.tensor([n]))
                kept.append(network.loss(one, labels[b : b + 1]))
    assert len(kept) == 6 * 3 - 5
    torch.testing.assert_close(loss, torch.stack(kept).mean(), atol=1e-6, rtol=0)
    model.zero_grad()
    model.loss(logits[:1], labels[:1], held_out=held_out[:1]).backward()  # fold 0 only
    grads = [
        sum(float(p.grad.abs().sum()) for p in n.parameters() if p.grad is not None)
        for n in model.networks()
    ]
    assert grads[0] == 0.0 and grads[1] > 0 and grads[2] > 0
    all_kept = model.loss(logits, labels, held_out=torch.full((6,), 3))
    torch.testing.assert_close(all_kept, model.loss(logits, labels))  # none left out
    with pytest.raises(InputError, match="held_out"):
        model.loss(logits, labels, held_out=held_out[:2])
    with pytest.raises(InputError, match="held_out"):
        make_model(True, **kinds).loss(logits[:, 0], labels, held_out=held_out)


def test_config_round_trips_through_json():
    config = ClassifierConfig(num_classes=4, input_size=5, projection_size=8, hidden_size=(7, 3))
    again = ClassifierConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.hidden_size == (7, 3) and again.dense == ()
    text = ClassifierConfig(num_classes=2, vocab_size=50, hidden_size=8, num_layers=3)
    assert (text.embedding_size, text.pad_id, text.layer_sizes) == (64, 0, (8, 8, 8))
    assert ClassifierConfig.from_dict(text.to_dict()) == text
    with pytest.raises(ConfigError, match="hidden_sizes"):
        ClassifierConfig.from_dict(text.to_dict() | {"hidden_sizes": 3})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": True}, "num_classes"),
        ({"vocab_size": None}, "vocab_size"),  # neither input kind
        ({"input_size": 3}, "vocab_size"),  # both input kinds
        ({"vocab_size": 1}, "vocab_size"),
        ({"embedding_size": 0}, "embedding_size"),
        ({"pad_id": 20}, "pad_id"),
        ({"projection_size": 4}, "projection_size"),  # text input has no projection
        ({"cell": "transformer"}, "cell"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"hidden_size": ()}, "hidden_size"),
        ({"hidden_size": (8, 0)}, "hidden_size"),
        ({"hidden_size": (8, 4), "num_layers": 3}, "num_layers"),
        ({"num_layers": 0}, "num_layers"),
        ({"bidirectional": 1}, "bidirectional"),
        ({"dropout": 1.0}, "dropout"),
        ({"input_dropout": -0.1}, "input_dropout"),
        ({"word_dropout": 1.0}, "word_dropout"),
        ({"unk_id": 10}, "unk_id"),
        ({"ensemble": 0}, "ensemble"),
        ({"pooling": "median"}, "pooling"),
        ({"dense": (64, -1)}, "dense"),
        ({"dense": 64}, "dense"),
        ({"output": "sigmoid"}, "output"),
        ({"num_classes": 3, "output": "binary_sigmoid"}, "output"),
    ],
)
def test_bad_configs_name_the_field(changes, field):
    base = dict(num_classes=2, vocab_size=10)
    with pytest.raises(ConfigError) as err:
        ClassifierConfig(**base | changes)
    assert err.value.field == field
    assert str(err.value).startswith(f"ClassifierConfig.{field} ")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"embedding_size": 8}, "embedding_size"),
        ({"pad_id": 0}, "pad_id"),
        ({"unk_id": 1}, "unk_id"),
        ({"word_dropout": 0.1}, "word_dropout"),
    ],
)
def test_text_fields_are_refused_for_numeric_input(changes, field):
    with pytest.raises(ConfigError) as err:
        ClassifierConfig(num_classes=2, input_size=3, **changes)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("text", "x", "lengths", "argument"),
    [
        (True, torch.randn(2, 4), None, "x"),  # floats for a text model
        (True, torch.randint(0, V, (2, 4, 1)), None, "x"),
        (True, torch.tensor([[1, 2, V, 0]]), None, "x"),  # id past the vocabulary
        (True, torch.tensor([[1, -1, 0, 0]]), None, "x"),
        (False, torch.randint(0, 5, (2, 4, D)), None, "x"),  # ints for a numeric model
        (False, torch.randn(2, 4, D + 1), None, "x"),  # wrong feature width
        (False, torch.randn(2, 4), None, "x"),
        (False, torch.randn(2, 4, D), torch.tensor([4.0, 2.0]), "lengths"),
        (False, torch.randn(2, 4, D), torch.tensor([4, 2, 1]), "lengths"),
        (False, torch.randn(2, 4, D), torch.tensor([5, 2]), "lengths"),
        (False, torch.randn(2, 4, D), torch.tensor([4, 0]), "lengths"),
    ],
)
def test_bad_inputs_name_the_argument(text, x, lengths, argument):
    model = make_model(text)
    with pytest.raises(InputError, match=f"^{argument}:"):
        model(x, lengths)


def test_ids_past_a_sequence_end_are_never_looked_up():
    model = make_model(True)
    ids = torch.tensor([[3, 4, 10_000, -7]])  # invalid ids in the padding are ignored
    with torch.no_grad():
        torch.testing.assert_close(model(ids, [2]), model(ids[:, :2]), atol=1e-6, rtol=0)
    with pytest.raises(InputError, match="^labels:"):
        model.loss(model(ids, [2]), torch.tensor([0.0]))
