"""A language model's ``step``/``prime`` for generation, on the fast incremental path.

`rnnkit.decode.generate` sees a model only through ``step(tokens, state)`` and
``prime(tokens)``. `step_functions` returns the pair for a `LanguageModel`: by default
``step`` runs the recurrent stack through `IncrementalRecurrent` (no per-call work of
`Recurrent.forward`), with ``reference=True`` it is `LanguageModel.step` itself. Both
give the same logits bit for bit, so for one seed they sample the same tokens; the
reference pair is kept to check that and to time the difference.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from rnnkit.decode.generate import PrimeFn, StepFn
from rnnkit.errors import ConfigError
from rnnkit.models.language_model import LanguageModel
from rnnkit.nn.incremental import IncrementalRecurrent


class LanguageModelStepper:
    """``LanguageModel.step`` with the recurrent layers stepped incrementally.

    .. math::
        e = E[y],\\quad (h, s_t) = \\mathrm{IncrementalRecurrent}(e, s_{t-1}),\\quad
        \\mathrm{logits} = W_o h + b_o

    The model's own ``embed`` and ``project`` do the two ends, so the stepper follows
    the model. Inference only: the model must be in eval mode (dropout is identity).
    """

    def __init__(self, model: LanguageModel) -> None:
        if model.training:
            raise ConfigError("the fast step is for inference; call model.eval() first")
        self.model = model
        self.rnn = IncrementalRecurrent(model.rnn)

    def step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        """``tokens`` (B,) -> logits (B, V) for the next token, and the next state."""
        h, state = self.rnn.step(self.model.embed(tokens), state)  # (B, H)
        return self.model.project(h), state

    def prime(self, tokens: Tensor) -> tuple[Tensor, Any]:
        """The whole prompt (B, P) in one pass of the layer: `LanguageModel.prime`."""
        return self.model.prime(tokens)


def step_functions(model: LanguageModel, *, reference: bool = False) -> tuple[StepFn, PrimeFn]:
    """``(step, prime)`` of ``model`` for `rnnkit.decode.generate`.

    ``reference=False`` (the default) steps through `LanguageModelStepper`; it needs
    the model in eval mode, and a model in training mode (dropout active) gets the
    reference pair. ``reference=True`` is `LanguageModel.step` through `Recurrent`.
    Either way ``prime`` is `LanguageModel.prime`, one pass over the prompt.
    """
    if reference or model.training:
        return model.step, model.prime
    stepper = LanguageModelStepper(model)
    return stepper.step, stepper.prime
