"""The exportable forms of a language model: one step, and a loop of steps.

`Recurrent.forward` checks its inputs in Python and picks a path (fused kernels, a
cell's own scan, the step loop) from the data; an exporter would freeze one of those
branches and one batch size. The modules here call the same math directly instead:
the embedding, each layer's ``cell.step`` with the layer's own weights (and zoneout's
evaluation-time average where the model has zoneout), the output projection, so a
trace contains nothing but tensor operations. Dropout of every kind is off, as in eval mode.

State layout, as torch.nn's stacked view: one tensor per field of the cell's state
NamedTuple, in its order (``h``, or ``h, c`` for an LSTM), each (L, B, H) with layer
``l`` at index ``l`` (an LSTM with ``proj_size`` P has ``h`` (L, B, P)). Inside, the
fields are unstacked into a flat list of (B, H) tensors, field-major: ``flat[f * L + l]``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.errors import ConfigError
from rnnkit.models.language_model import LanguageModel
from rnnkit.nn.incremental import cell_step


class LMStep(nn.Module):
    """One token per row: ``(token (B,) int64, [state fields]) -> (logits (B, V),
    [next state fields])``, in eval mode (no dropout).

    It reads the model's weights in place (no copy), so it always agrees with it.
    """

    def __init__(self, model: LanguageModel) -> None:
        super().__init__()
        rnn = model.rnn
        if rnn.num_directions != 1:
            raise ConfigError(
                "export: a language model runs forward only; this one is bidirectional"
            )
        self.model = model
        self.cells = rnn.cells
        self.num_layers = len(rnn.cells)
        self.fields: tuple[str, ...] = rnn.cells[0].state_type._fields
        self.eval()  # puts the model in eval mode too: no dropout in a deployed model

    def state_shapes(self, batch_size: int) -> list[tuple[int, int, int]]:
        """Shape of each stacked state field, ``(L, B, H)``, in field order."""
        # Every layer of a language model has the same sizes, so layer 0 speaks for all.
        return [(self.num_layers, *shape) for shape in self.cells[0].state_shapes(batch_size)]

    def forward(self, token: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        L, rnn = self.num_layers, self.model.rnn
        flat = [layer_state for field in state for layer_state in field.unbind(0)]
        x = self.model.embed(token)  # (B, E)
        for layer, cell in enumerate(self.cells):
            w = rnn.cell_weights(layer)
            # The layer's own evaluation step (zoneout's expectation included).
            x, new = cell_step(cell, w, rnn.zoneout)(x, cell.state_type(*flat[layer::L]))
            flat[layer::L] = list(new)  # x: (B, H)
        fields = [torch.stack(flat[f * L : (f + 1) * L]) for f in range(len(state))]  # (L, B, H)
        return self.model.project(x), fields  # (B, V)


class StepLoop(nn.Module):
    """A whole sequence through a step module: ``(tokens (B, T), [state fields]) ->
    (logits (B, T, V), [state fields after the last token])``; written for
    ``torch.jit.script``, around a traced :class:`LMStep`."""

    def __init__(self, step: nn.Module) -> None:
        super().__init__()
        self.step = step

    def forward(self, tokens: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        outputs: list[Tensor] = []
        for token in tokens.unbind(1):
            logits, state = self.step(token, state)
            outputs.append(logits)
        return torch.stack(outputs, 1), state  # (B, T, V)
