"""The fast incremental steps against the reference path.

The truth is `Recurrent.forward` on one-step inputs (through `LanguageModel.step`),
whichever path the layer takes. The torch stepper (`IncrementalRecurrent`, any batch)
must reproduce it bit for bit; the numpy step (batch 1, plain cells) within float
rounding. Either way a seeded sampler must draw the same tokens. Cells come from the
registry, so a newly registered cell is covered without editing this file.
"""

from __future__ import annotations

import argparse

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cli import generate as generate_cli
from rnnkit.decode import SamplingConfig, beam_search, generate
from rnnkit.errors import ConfigError, InputError
from rnnkit.models import lm_stepper
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.models.lm_stepper import LanguageModelStepper, step_functions
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.nn import Recurrent
from rnnkit.nn.cell import RecurrentCell
from rnnkit.nn.incremental import IncrementalRecurrent
from rnnkit.nn.registry import CELLS
from rnnkit.nn.state import RNNState
from rnnkit.tasks.translate_decode import decoder_step

V = 29
PRIME = [3, 1, 4, 1, 5]
SAMPLINGS = {
    "temperature": {"temperature": 1.3},
    "top_k": {"temperature": 0.9, "top_k": 4},
    "greedy": {"greedy": True},
}


def random_lm(cell: str, num_layers: int, seed: int = 0, **overrides) -> LanguageModel:
    """A language model with large random weights, so its distributions are varied."""
    torch.manual_seed(seed)
    sizes = {"hidden_size": 48, "embedding_size": 24} | overrides
    config = LanguageModelConfig(vocab_size=V, cell=cell, num_layers=num_layers, **sizes)
    model = LanguageModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)
    return model


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", list(CELLS))
def test_fast_samples_equal_reference_samples(cell, num_layers):
    model = random_lm(cell, num_layers)
    for batch in (1, 4):
        for name, kwargs in SAMPLINGS.items():
            config = SamplingConfig(max_new_tokens=200, seed=11, num_samples=batch, **kwargs)
            runs = {}
            for reference in (True, False):
                step, prime = step_functions(model, reference=reference)
                runs[reference] = generate(step, PRIME, config, prime=prime)
            assert runs[False] == runs[True], (cell, num_layers, batch, name)
            assert len(runs[False][0]) == 200
            if name != "greedy":  # the draws are random, not stuck on one token
                assert len({t for row in runs[False] for t in row}) > 5


@pytest.mark.parametrize(
    "overrides", [{"embedding_size": 0}, {"embedding_size": 48, "tie_weights": True}]
)
def test_one_hot_inputs_and_tied_weights_sample_the_same(overrides):
    model = random_lm("gru", 2, seed=8, **overrides)
    config = SamplingConfig(max_new_tokens=150, seed=5, num_samples=2, top_k=6)
    runs = []
    for reference in (True, False):
        step, prime = step_functions(model, reference=reference)
        runs.append(generate(step, PRIME, config, prime=prime))
    assert runs[1] == runs[0]


def paired_steps(model: LanguageModel, stepper: LanguageModelStepper, batch: int):
    """Prime both on 4 random tokens, then step both through 296 more; yield each
    step's ``(reference, fast)`` as flat tuples of tensors: logits, then every state
    tensor (the state NamedTuple types are checked here)."""
    tokens = torch.randint(0, V, (300, batch), generator=torch.Generator().manual_seed(2))
    _, ref_state = model.prime(tokens[:4].T)  # (B, P=4)
    fast_state = ref_state
    with torch.no_grad():
        for t in range(4, 300):
            ref_logits, ref_state = model.step(tokens[t], ref_state)
            fast_logits, fast_state = stepper.step(tokens[t], fast_state)
            for ref, fast in zip(ref_state, fast_state, strict=True):
                assert type(fast) is type(ref)
            ref_all = (ref_logits, *(x for s in ref_state for x in s))
            yield ref_all, (fast_logits, *(x for s in fast_state for x in s))
    assert ref_logits.std() > 0.3  # the logits are not all alike


NUMPY_CELLS = ["lstm", "gru", "rnn"]


@pytest.mark.parametrize(
    "overrides",
    [{}, {"embedding_size": 0}, {"embedding_size": 48, "tie_weights": True}, {"num_layers": 3}],
)
@pytest.mark.parametrize("table", [True, False])
@pytest.mark.parametrize("cell", NUMPY_CELLS)
def test_batch_one_steps_in_numpy_close_to_the_reference(cell, table, overrides, monkeypatch):
    if not table:  # a vocabulary too large for the input table: one product per step
        monkeypatch.setattr(lm_stepper, "_TABLE_MAX_NUMBERS", 0)
    model = random_lm(cell, overrides.pop("num_layers", 2), seed=1, **overrides)
    stepper = LanguageModelStepper(model)
    assert stepper.path == "numpy"
    assert (stepper.numpy_step.table is not None) is table
    for ref, fast in paired_steps(model, stepper, batch=1):
        torch.testing.assert_close(fast, ref, rtol=1e-5, atol=5e-5)


def test_numpy_false_and_other_cells_keep_batch_one_on_torch():
    assert LanguageModelStepper(random_lm("lstm", 2), numpy=False).path == "reference"
    for cell in ("lnlstm", "mingru"):
        assert LanguageModelStepper(random_lm(cell, 2)).numpy_step is None


@pytest.mark.parametrize("cell", NUMPY_CELLS)
def test_numpy_step_samples_what_the_torch_stepper_samples(cell):
    model = random_lm(cell, 2, seed=4)
    for name, kwargs in SAMPLINGS.items():
        config = SamplingConfig(max_new_tokens=400, seed=3, **kwargs)
        runs = []
        for numpy in (True, False):
            step, prime = step_functions(model, numpy=numpy)
            runs.append(generate(step, PRIME, config, prime=prime))
        assert runs[0] == runs[1], name


@pytest.mark.parametrize("cell", list(CELLS))
def test_fast_logits_and_states_equal_reference_step_by_step(cell):
    model = random_lm(cell, 2, seed=1)
    stepper = LanguageModelStepper(model)
    for ref, fast in paired_steps(model, stepper, batch=3):
        assert all(torch.equal(f, r) for f, r in zip(fast, ref, strict=True))


def layer_case(cell: str, **kwargs) -> Recurrent:
    torch.manual_seed(3)
    return Recurrent(CELLS[cell], 20, 40, **kwargs).eval()


def assert_steps_like_the_layer(rnn: Recurrent, batch: int = 3, steps: int = 30) -> None:
    """``steps`` incremental steps equal ``rnn`` called on each step, outputs and states."""
    stepper = IncrementalRecurrent(rnn)
    xs = torch.randn(steps, batch, rnn.input_size, generator=torch.Generator().manual_seed(4))
    ref_state = fast_state = None
    with torch.no_grad():
        for t in range(steps):
            x = xs[t].unsqueeze(1 if rnn.batch_first else 0)  # one step
            out, ref_state = rnn(x, ref_state)
            h, fast_state = stepper.step(xs[t], fast_state)
            assert torch.equal(h, out[:, 0] if rnn.batch_first else out[0]), t
            flat_ref = [t for s in ref_state for t in s]
            flat_fast = [t for s in fast_state for t in s]
            assert all(torch.equal(f, r) for f, r in zip(flat_fast, flat_ref, strict=True))
    assert stepper.path == rnn.last_path


@pytest.mark.parametrize(
    ("cell", "kwargs", "path"),
    [
        ("gru", {}, "fused"),  # ATen's CPU GRU cell, written out
        ("rnn", {"cell_kwargs": {"nonlinearity": "relu"}}, "fused"),
        ("rnn", {"bias": False}, "fused"),
        ("lstm", {}, "reference"),  # one LSTM step on CPU takes the cell's step
        ("lstm", {"impl": "fused"}, "fused"),  # forced oneDNN: the kernel, called per step
        ("gru", {"impl": "reference"}, "reference"),
        ("lstm", {"cell_kwargs": {"proj_size": 16}}, "reference"),
        ("lstm", {"zoneout": 0.3}, "reference"),  # zoneout's expectation after each step
        ("gru", {"zoneout": 0.2}, "reference"),
        ("gru", {"recurrent_dropout": 0.3}, "fused"),  # off at evaluation
    ],
)
@pytest.mark.parametrize("batch_first", [True, False])
def test_incremental_layer_equals_one_step_calls(cell, kwargs, path, batch_first):
    rnn = layer_case(cell, num_layers=2, batch_first=batch_first, **kwargs)
    assert_steps_like_the_layer(rnn)
    assert rnn.last_path.name == path


class LeakyCell(RecurrentCell):
    """h_t = a * h_{t-1} + (1 - a) * tanh(W_ih x_t + b), a = sigmoid(W_hh h + b): a toy
    cell with its own whole-sequence path, which the stepper must take too."""

    state_type = RNNState
    num_gates = 1

    def __init__(self, input_size, hidden_size, bias=True, *, owns_weights=True, **kw) -> None:
        super().__init__(input_size, hidden_size, bias, owns_weights=owns_weights, **kw)
        self._create_weights()

    def step(self, gx: Tensor, state: RNNState, w) -> tuple[Tensor, RNNState]:
        a = torch.sigmoid(F.linear(state.h, w["weight_hh"], w.get("bias_hh")))
        h = a * state.h + (1 - a) * torch.tanh(gx)
        return h, RNNState(h)

    def sequence_path(self) -> str | None:
        return "a toy whole-sequence loop"

    def run_sequence(self, gx, state, w, mask):
        # Deliberately a different float formula from step: the stepper must follow
        # the path the layer takes, not the cell's step.
        outputs = []
        h = state.h
        for t in range(gx.shape[0]):
            a = torch.sigmoid(F.linear(h, w["weight_hh"], w.get("bias_hh")))
            h = torch.tanh(gx[t]) + a * (h - torch.tanh(gx[t]))
            outputs.append(h)
        return torch.stack(outputs), RNNState(h)


def test_a_cell_with_its_own_sequence_path_is_stepped_through_it():
    torch.manual_seed(5)
    rnn = Recurrent(LeakyCell, 20, 40, num_layers=2, batch_first=True).eval()
    assert_steps_like_the_layer(rnn)
    assert rnn.last_path.name == "cell"


def test_layers_that_cannot_step_are_refused():
    with pytest.raises(ConfigError, match="bidirectional"):
        IncrementalRecurrent(layer_case("gru", bidirectional=True))
    for noisy in ({"dropout": 0.5}, {"zoneout": 0.1}, {"weight_dropout": 0.2}):
        training = Recurrent(CELLS["lstm"], 20, 40, num_layers=2, **noisy)
        with pytest.raises(ConfigError, match="eval"):
            IncrementalRecurrent(training)
    with pytest.raises(InputError, match=r"\(B, D\)"):
        IncrementalRecurrent(layer_case("gru")).step(torch.zeros(2, 1, 20))


def test_a_training_model_and_reference_get_the_reference_step():
    model = random_lm("lstm", 2)
    assert step_functions(model, reference=True)[0] == model.step
    model.train()
    assert step_functions(model)[0] == model.step  # dropout needs the layer's own path
    with pytest.raises(ConfigError, match="eval"):
        LanguageModelStepper(model)
    model.eval()
    assert step_functions(model)[0] != model.step


def test_the_stepper_sees_weights_changed_in_place():
    model = random_lm("gru", 2)
    stepper = LanguageModelStepper(model)
    tokens = torch.tensor([1, 2])
    with torch.no_grad():
        _, state = model.prime(torch.tensor([PRIME, PRIME[::-1]]))  # h != 0 reads weight_hh
        before, _ = stepper.step(tokens, state)
        model.rnn.weight_hh_l1.mul_(0.5)
        after, _ = stepper.step(tokens, state)
        ref, _ = model.step(tokens, state)
    assert torch.equal(after, ref) and not torch.equal(before, after)


def test_cli_reference_path_flag_reaches_generation(monkeypatch):
    seen = {}

    class FakeText:
        level = "char"

        def __init__(self, run) -> None:
            pass

        def generate(self, prime, sampling, *, reference=False):
            seen["reference"] = reference
            return ["x"]

    monkeypatch.setattr(generate_cli, "TextModel", FakeText)
    monkeypatch.setattr(generate_cli, "load_run", lambda *a, **k: None)
    parser = argparse.ArgumentParser()
    generate_cli.add_parser(parser.add_subparsers())
    for flags, expected in (([], False), (["--reference-path"], True)):
        args = parser.parse_args(["generate", "RUN", *flags])
        assert args.run(args) == 0
        assert seen["reference"] is expected


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("attention", ["none", "general"])
def test_beam_search_through_the_incremental_decoder_equals_reference(cell, attention):
    torch.manual_seed(6)
    config = Seq2SeqConfig(
        source_vocab_size=13, target_vocab_size=11, embedding_size=12, cell=cell,
        hidden_size=24, num_layers=2, attention=attention,
    )  # fmt: skip
    model = Seq2Seq(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)
        model.output_layer.bias[2] -= 3.0  # eos (2) rarer: longer outputs
    source = torch.randint(1, 13, (3, 7), generator=torch.Generator().manual_seed(7))
    state = model.encode(source, [7, 5, 3])
    search = {"batch_size": 3, "go_id": 1, "eos_id": 2, "width": 4, "max_len": 25, "n_best": 3}
    found = [
        beam_search(step, state, **search)
        for step in (decoder_step(model, reference=True), decoder_step(model))
    ]
    assert found[1] == found[0]  # tokens, and scores to the last bit
    assert max(len(h.tokens) for hyps in found[0] for h in hyps) > 3
    ref_state = fast_state = state
    fast = decoder_step(model)
    tokens = torch.tensor([1, 4, 9])
    with torch.no_grad():
        for _ in range(20):
            ref_logits, ref_state = model.step(tokens, ref_state)
            fast_logits, fast_state = fast(tokens, fast_state)
            assert torch.equal(fast_logits, ref_logits)
            tokens = ref_logits.argmax(-1)


def test_a_training_seq2seq_decodes_through_its_own_layer():
    model = Seq2Seq(Seq2SeqConfig(embedding_size=8, hidden_size=8))
    assert decoder_step(model) == model.step
    assert decoder_step(model.eval(), reference=True) == model.step
    assert decoder_step(model) != model.step
