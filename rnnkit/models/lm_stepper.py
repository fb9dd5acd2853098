"""A language model's ``step``/``prime`` for generation, on the fast incremental paths.

`rnnkit.decode.generate` sees a model only through ``step(tokens, state)`` and
``prime(tokens)``. `step_functions` returns the pair for a `LanguageModel`. By default
``step`` runs one row (batch 1) in numpy (`NumpyLanguageModelStep`, about three times
faster on CPU than torch's calls, close to the layer's logits but not bit for bit) and
several rows through `IncrementalRecurrent` (the layer's own numbers, bit for bit,
without the per-call work of `Recurrent.forward`). ``reference=True`` gives
`LanguageModel.step` itself. For one seed all of them sample the same tokens (tested);
the reference pair is kept to check that and to time the difference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnkit.decode.generate import PrimeFn, StepFn
from rnnkit.errors import ConfigError
from rnnkit.models.language_model import LanguageModel
from rnnkit.nn.incremental import IncrementalRecurrent
from rnnkit.nn.numpy_step import NumpyStack, unsupported

# A token's first-layer input term comes from a (V, G*H) table when the table is at most
# this many numbers (64 MiB): a character model's is well under 1 MiB, a 50,000-word
# LSTM's at H=512 would be 400 MiB, and then the term is one product per step instead.
_TABLE_MAX_NUMBERS = 2**24


class LanguageModelStepper:
    """``LanguageModel.step`` with the recurrent layers stepped incrementally.

    .. math::
        e = E[y],\\quad (h, s_t) = \\mathrm{IncrementalRecurrent}(e, s_{t-1}),\\quad
        \\mathrm{logits} = W_o h + b_o

    The model's own ``embed`` and ``project`` do the two ends, so the stepper follows
    the model. Inference only: the model must be in eval mode (dropout is identity).
    A batch of one row goes through ``numpy_step`` when there is one (``numpy=True``
    and a plain float32 CPU stack, see `rnnkit.nn.numpy_step.unsupported`).
    """

    def __init__(self, model: LanguageModel, *, numpy: bool = True) -> None:
        if model.training:
            raise ConfigError("the fast step is for inference; call model.eval() first")
        self.model = model
        self.rnn = IncrementalRecurrent(model.rnn)
        self.numpy_step = None
        if numpy and unsupported(model.rnn) is None:
            self.numpy_step = NumpyLanguageModelStep(model)

    def step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        """``tokens`` (B,) -> logits (B, V) for the next token, and the next state."""
        if self.numpy_step is not None and tokens.shape[0] == 1:
            return self.numpy_step.step(tokens, state)
        h, state = self.rnn.step(self.model.embed(tokens), state)  # (B, H)
        return self.model.project(h), state

    def prime(self, tokens: Tensor) -> tuple[Tensor, Any]:
        """The whole prompt (B, P) in one pass of the layer: `LanguageModel.prime`."""
        return self.model.prime(tokens)

    @property
    def path(self) -> str:
        """What steps a batch of one row: "numpy" or the layer path `IncrementalRecurrent` follows."""
        return "numpy" if self.numpy_step is not None else self.rnn.path.name


class NumpyLanguageModelStep:
    """``LanguageModel.step`` for float32 CPU models with a plain LSTM, GRU or Elman stack,
    in numpy (`rnnkit.nn.numpy_step`): logits within float rounding of the model's.

    .. math::
        g = T[y]\\ (= W_{ih} E[y] + b),\\quad (h, s_t) = \\mathrm{NumpyStack}(g, s_{t-1}),\\quad
        \\mathrm{logits} = W_o h + b_o

    The weights are copied when it is built: build a new one after the model changes.
    The last state it returned is kept beside its numpy arrays, so feeding it back
    (as generation does) converts nothing.
    """

    def __init__(self, model: LanguageModel) -> None:
        self.stack = NumpyStack(model.rnn)
        emb = None if model.embedding is None else model.embedding.weight.detach().numpy()
        self.embedding = emb
        rows = model.config.vocab_size * self.stack.layers[0]["w_ih"].shape[0]
        self.table = self.stack.input_table(emb) if rows <= _TABLE_MAX_NUMBERS else None
        if model.decoder is None:  # tied: the embedding matrix is the projection
            w_o, b_o = model.embedding.weight, model.decoder_bias
        else:
            w_o, b_o = model.decoder.weight, model.decoder.bias
        self.w_o = np.ascontiguousarray(w_o.detach().numpy().T)  # (H, V)
        self.b_o = b_o.detach().numpy().copy()  # (V,)
        self._last: tuple[Any, Any] = (None, None)

    def input_term(self, tokens: np.ndarray) -> np.ndarray:
        """The first layer's input term of ``tokens`` (B,): (B, G*H)."""
        if self.table is not None:
            return self.table[tokens]
        if self.embedding is None:  # one-hot inputs select columns of W_ih
            return self.stack.layers[0]["w_ih"][:, tokens].T + self.stack.layers[0]["b_x"]
        return self.stack.input_term(self.embedding[tokens])

    def step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        """``tokens`` (B,) -> logits (B, V) and the next state (the layer's NamedTuples)."""
        if state is not None and state is self._last[0]:
            s = self._last[1]
        else:
            s = self.stack.from_torch(state, tokens.shape[0])
        h, s = self.stack.step(self.input_term(tokens.numpy()), s)  # (B, H)
        logits = h @ self.w_o  # (B, V)
        logits += self.b_o
        state = self.stack.to_torch(s)
        self._last = (state, s)
        return torch.from_numpy(logits), state


def step_functions(
    model: LanguageModel, *, reference: bool = False, numpy: bool = True
) -> tuple[StepFn, PrimeFn]:
    """``(step, prime)`` of ``model`` for `rnnkit.decode.generate`.

    ``reference=False`` (the default) steps through `LanguageModelStepper` (batch 1 in
    numpy unless ``numpy=False``); it needs the model in eval mode, and a model in
    training mode (dropout active) gets the reference pair. ``reference=True`` is
    `LanguageModel.step` through `Recurrent`. Either way ``prime`` is
    `LanguageModel.prime`, one pass over the prompt.
    """
    if reference or model.training:
        return model.step, model.prime
    stepper = LanguageModelStepper(model, numpy=numpy)
    return stepper.step, stepper.prime
