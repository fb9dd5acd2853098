"""The cell contract: one time step of a recurrence, nothing about time.

A cell maps ``(x_t, state_{t-1}) -> (h_t, state_t)``. The loop over time,
directions, layers and padding lives in :class:`rnnkit.nn.Recurrent`.

Every cell here splits its step in two, because the input term of each gate does
not depend on the recurrence:

* :meth:`RecurrentCell.project_input` computes ``W_ih x + b_ih`` and can be run
  over all ``T`` steps at once (one big matrix multiply instead of ``T`` small ones);
* :meth:`RecurrentCell.step` adds the recurrent term ``W_hh h_{t-1} + b_hh`` and
  applies the gates.

``cell(x_t, state)`` is simply ``step(project_input(x_t), state)``.

Weights: a stand-alone cell owns its parameters, named as in ``torch.nn.LSTMCell``
(``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``). Inside a layer the layer
owns them under torch.nn's layer names (``weight_ih_l0_reverse``), and lends them
to the cell on every call through the ``w`` mapping; that is why the math methods
take ``w`` instead of reading ``self``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.errors import InputError
from rnnkit.nn.checks import check_state_tensors
from rnnkit.validate import check_int, is_int

Weights = Mapping[str, Tensor]


def check_positive_int(name: str, value: Any) -> int:
    """Validate a size argument: an int >= 1. A non-integer (a bool included) is a
    TypeError, as torch.nn's layers raise; an integer below 1 a ConfigError."""
    if not is_int(value):
        raise TypeError(f"{name}: expected an int >= 1, got {type(value).__name__} {value!r}")
    check_int("", name, value, least=1)
    return value


class RecurrentCell(nn.Module):
    """Base class of all cells. Subclasses set ``state_type`` and ``num_gates``."""

    state_type: type
    num_gates: int = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        owns_weights: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        if not isinstance(bias, bool):
            raise TypeError(f"bias: expected a bool, got {type(bias).__name__}")
        self.bias = bias
        self.owns_weights = owns_weights
        self._factory = {"device": device, "dtype": dtype}

    def _create_weights(self) -> None:
        """Register and initialise this cell's parameters (stand-alone cells only).

        Subclasses call this at the end of ``__init__``, once their sizes are set.
        """
        if not self.owns_weights:
            return
        for name, shape in self.weight_shapes().items():
            self.register_parameter(name, nn.Parameter(torch.empty(shape, **self._factory)))
        self.reset_parameters()

    # --- what a subclass defines -------------------------------------------------
    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the parameters, in torch.nn's flat-weight order."""
        G, H, D = self.num_gates, self.hidden_size, self.input_size
        shapes = {"weight_ih": (G * H, D), "weight_hh": (G * H, self.output_size)}
        if self.bias:
            shapes |= {"bias_ih": (G * H,), "bias_hh": (G * H,)}
        return shapes

    def step(self, gx: Tensor, state: Any, w: Weights) -> tuple[Tensor, Any]:
        """One step from the projected input ``gx`` (B, G*H) and the previous state."""
        raise NotImplementedError

    def sequence_path(self) -> str | None:
        """Why this cell runs whole sequences faster than the step loop, or None.

        A cell that overrides :meth:`run_sequence` (a parallel scan, a compiled loop)
        returns a short reason here; `Recurrent` then takes that path under
        ``impl="auto"`` and reports it as ``last_path == ("cell", reason)``, while
        ``impl="reference"`` keeps the plain step loop, its specification.
        """
        return None

    def run_sequence(
        self, gx: Tensor, state: Any, w: Weights, mask: Tensor | None
    ) -> tuple[Tensor, Any]:
        """All steps at once: ``gx`` (T, B, G*H) projected inputs -> outputs (T, B, H)
        and the final state. ``mask`` (T, B, 1) bool marks valid steps: at a padded
        step the output is exactly zero and the state is carried unchanged, as in the
        step loop. Only called when :meth:`sequence_path` gives a reason."""
        raise NotImplementedError(f"{type(self).__name__} has no whole-sequence path")

    def init_weights(self, w: Weights) -> None:
        """Initialise ``w`` in place: U(-1/sqrt(H), 1/sqrt(H)) for every weight, as torch.nn."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for tensor in w.values():
                tensor.uniform_(-bound, bound)

    # --- shared machinery ------------------------------------------------------------
    @property
    def output_size(self) -> int:
        """Size of ``h``, the output of each step."""
        return self.hidden_size

    def weights(self) -> dict[str, Tensor]:
        """This stand-alone cell's own parameters by name."""
        return dict(self.named_parameters(recurse=False))

    def reset_parameters(self) -> None:
        self.init_weights(self.weights())

    def project_input(self, x: Tensor, w: Weights) -> Tensor:
        """``W_ih x + b_ih`` for any leading shape: (..., D) -> (..., G*H)."""
        return F.linear(x, w["weight_ih"], w.get("bias_ih"))

    def init_state(self, batch_size: int, *, device=None, dtype=None) -> Any:
        """The all-zero state for a batch."""
        shapes = self.state_shapes(batch_size)
        return self.state_type(
            *(torch.zeros(shape, device=device, dtype=dtype) for shape in shapes)
        )

    def state_shapes(self, batch_size: int) -> list[tuple[int, int]]:
        """Shape of each state field, in ``state_type`` order."""
        return [(batch_size, self.output_size)]

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """One step: ``x`` (B, D) and ``state`` (or None for zeros) -> ``(h (B, H), state)``."""
        if not self.owns_weights:
            raise RuntimeError("this cell's weights belong to a layer; call the layer instead")
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise InputError(f"x: expected shape (batch, {self.input_size}), got {tuple(x.shape)}")
        if state is None:
            state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        else:
            check_state_tensors(state, self.state_type, x)
            if not isinstance(state, self.state_type):
                tensors = state if isinstance(state, tuple) else (state,)
                state = self.state_type(*tensors)
            shapes = self.state_shapes(x.shape[0])
            for name, t, shape in zip(state._fields, state, shapes, strict=True):
                if not isinstance(t, Tensor) or tuple(t.shape) != tuple(shape):
                    got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
                    raise InputError(
                        f"state.{name}: expected shape (batch, size) = {tuple(shape)}, got {got}"
                    )
        w = self.weights()
        return self.step(self.project_input(x, w), state, w)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"
