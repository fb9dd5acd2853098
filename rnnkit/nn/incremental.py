"""Stepping a `Recurrent` stack one time step at a time, for decoding.

A generator or a decoder feeds its own output back, so it calls the recurrent layer
once per token with ``T = 1``. `Recurrent.forward` then spends most of its time
around the arithmetic: it checks and normalises the input and the state, chooses a
path, builds the weight mappings, transposes to time-major and back, and stacks one
output. `IncrementalRecurrent` does that work once and keeps, per layer, a plain
function ``(x_t (B, D), s_{t-1}) -> (h_t (B, H), s_t)``.

Exactness is the contract: one `IncrementalRecurrent.step` gives *the same numbers*
(bit for bit, not merely close) as ``Recurrent.forward`` on a one-step input, so a
sampler seeded the same way draws the same tokens from either. The stack runs what
the layer itself would run for one step (`Recurrent.choose_path`):

* ``"reference"``: the cell's own ``project_input`` and ``step``, through the generic
  cell contract, so every registered cell works without being known here (with
  zoneout's expectation after each step for a layer with ``zoneout``);
* ``"cell"``: the cell's ``run_sequence`` on a one-step sequence;
* ``"fused"`` on CPU for GRU and tanh/ReLU RNN stacks: ATen's CPU cell written out
  with the same operations in the same order (``(h - n) * z + n`` for the GRU, not
  the cell's ``(1 - z) * n + z * h``, which differs in the last bits);
* ``"fused"`` otherwise (CUDA, a forced oneDNN LSTM): the same fused kernel, called
  directly once per step for the whole stack.

Inference only: dropout between layers, weight and recurrent dropout and zoneout's
random masks act in training, so a layer in training mode with any of them is refused. The weights are the layer's own
parameters, looked up once and never copied, so a stepper sees later updates to them
in place; build a new one after moving the layer to another device or dtype.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import _VF, Tensor

from rnnkit.errors import ConfigError, InputError
from rnnkit.nn import fused
from rnnkit.nn.cell import RecurrentCell, Weights
from rnnkit.nn.noise import zoneout_eval
from rnnkit.nn.recurrent import ExecutionPath, Recurrent
from rnnkit.nn.state import GRUState, LayerState, RNNState, stack_states, unstack_states

#: One layer's step: input ``(B, D)`` and its state -> output ``(B, H)`` and new state.
LayerStep = Callable[[Tensor, Any], tuple[Tensor, Any]]


class IncrementalRecurrent:
    """One time step of a unidirectional `Recurrent` stack, with the set-up done once.

    ``step(x, state)`` takes ``x`` (B, D), one step of every row, and the per-layer
    state returned by the layer or by a previous step (None means zeros), and returns
    the last layer's output (B, H) and the new per-layer state: exactly what
    ``rnn(x.unsqueeze(1), state)`` returns for a batch-first layer, with the time axis
    dropped. ``path`` is the `ExecutionPath` the layer takes for one step, which this
    stepper follows.
    """

    def __init__(self, rnn: Recurrent) -> None:
        if not isinstance(rnn, Recurrent):
            raise TypeError(f"rnn: expected a rnnkit Recurrent layer, got {type(rnn).__name__}")
        if rnn.bidirectional:
            raise ConfigError(
                "a bidirectional layer cannot be stepped one token at a time: its reverse "
                "direction reads the whole sequence first"
            )
        noisy = rnn.dropout or rnn.weight_dropout or rnn.recurrent_dropout or rnn.zoneout
        if rnn.training and noisy:
            raise ConfigError(
                "the layer is in training mode with dropout or zoneout; stepping is for "
                "inference, call .eval() first"
            )
        self.rnn = rnn
        first = rnn.flat_weights()[0]
        # The layer chooses its path from the input's device and dtype; the input of a
        # step has the weights' (embeddings and earlier layers produce it).
        probe = first.new_empty((1, 1, rnn.input_size))
        self.path: ExecutionPath = rnn.choose_path(probe)
        self.weights: tuple[Weights, ...] = tuple(
            rnn.cell_weights(k) for k in range(len(rnn.cells))
        )
        self._layers: tuple[LayerStep, ...] | None = self._layer_steps(first.device)
        self._kernel = None if self._layers is not None else fused.fused_kernel(rnn.cells)[0]

    def _layer_steps(self, device: torch.device) -> tuple[LayerStep, ...] | None:
        """One step function per layer, or None when the whole stack runs a fused kernel."""
        cells, weights = self.rnn.cells, self.weights
        if self.path.name == "cell":
            return tuple(_cell_sequence(c, w) for c, w in zip(cells, weights, strict=True))
        if self.path.name != "fused":  # the step loop, with zoneout's expectation if set
            zone_p = self.rnn.zoneout
            return tuple(cell_step(c, w, zone_p) for c, w in zip(cells, weights, strict=True))
        kernel = fused.fused_kernel(cells)[0]
        if device.type == "cpu" and kernel in _ATEN_CPU_CELLS:
            make = _ATEN_CPU_CELLS[kernel]
            return tuple(make(w) for w in weights)
        return None

    def init_state(self, batch_size: int) -> LayerState:
        first = self.rnn.flat_weights()[0]
        return self.rnn.init_state(batch_size, device=first.device, dtype=first.dtype)

    def step(self, x: Tensor, state: LayerState | None = None) -> tuple[Tensor, LayerState]:
        """``x`` (B, D) and the per-layer state (None: zeros) -> ``(h (B, H), state)``."""
        if x.dim() != 2:
            raise InputError(f"x: expected one step of shape (B, D), got {tuple(x.shape)}")
        if state is None:
            state = self.init_state(x.shape[0])
        if self._layers is None:
            return self._kernel_step(x, state)
        finals = []
        for layer_step, s in zip(self._layers, state, strict=True):
            x, s = layer_step(x, s)
            finals.append(s)
        return x, tuple(finals)

    def _kernel_step(self, x: Tensor, state: Sequence[Any]) -> tuple[Tensor, LayerState]:
        """The fused kernel over one step, called as `Recurrent` calls it."""
        rnn = self.rnn
        stacked = stack_states(state)
        hx = tuple(stacked) if len(stacked) > 1 else stacked[0]
        output, finals = fused.run_fused(
            self._kernel,
            x.unsqueeze(1 if rnn.batch_first else 0),  # (B, 1, D) or (1, B, D)
            hx,
            [w for ws in self.weights for w in ws.values()],
            bias=rnn.bias,
            num_layers=rnn.num_layers,
            dropout=rnn.dropout,
            training=rnn.training,
            bidirectional=False,
            batch_first=rnn.batch_first,
            lengths=None,
        )
        h = output[:, 0] if rnn.batch_first else output[0]  # (B, H)
        return h, unstack_states(type(stacked)(*finals))


def cell_step(cell: RecurrentCell, w: Weights, zone_p: float) -> LayerStep:
    """The reference loop's step (`noise.step_loop` at evaluation): input term on a
    (1, B, D) sequence, ``cell.step``, then zoneout's expectation when ``zone_p > 0``."""

    def step(x: Tensor, state: Any) -> tuple[Tensor, Any]:
        gx = cell.project_input(x.unsqueeze(0), w)  # (1, B, G*H)
        return cell.step(gx[0], state, w)

    def zoned_step(x: Tensor, state: Any) -> tuple[Tensor, Any]:
        _, new_state = step(x, state)
        new_state = zoneout_eval(state, new_state, zone_p)
        return new_state[0], new_state

    return zoned_step if zone_p else step


def _cell_sequence(cell: RecurrentCell, w: Weights) -> LayerStep:
    """The cell's own whole-sequence path on a one-step sequence."""

    def step(x: Tensor, state: Any) -> tuple[Tensor, Any]:
        gx = cell.project_input(x.unsqueeze(0), w)  # (1, B, G*H)
        out, state = cell.run_sequence(gx, state, w, None)  # (1, B, H)
        return out[0], state

    return step


def _aten_gru(w: Weights) -> LayerStep:
    r"""ATen's CPU GRU cell (``GRUCell`` in ``aten/src/ATen/native/RNN.cpp``), op for op:

    .. math::
        r = \sigma(g^h_r + g^x_r),\ z = \sigma(g^h_z + g^x_z),\
        n = \tanh(g^x_n + g^h_n \odot r),\ h_t = (h_{t-1} - n) \odot z + n
    """
    weight_ih, weight_hh = w["weight_ih"], w["weight_hh"]
    bias_ih, bias_hh = w.get("bias_ih"), w.get("bias_hh")

    def step(x: Tensor, state: GRUState) -> tuple[Tensor, GRUState]:
        h_prev = state.h
        gx = F.linear(x.unsqueeze(0), weight_ih, bias_ih)[0]  # (B, 3H)
        gh = F.linear(h_prev, weight_hh, bias_hh)  # (B, 3H)
        r_x, z_x, n_x = gx.chunk(3, dim=-1)  # 3 x (B, H), views
        r_h, z_h, n_h = gh.chunk(3, dim=-1)  # 3 x (B, H), views
        # In place on the views of gh, as ATen: a vectorised kernel treats a row's
        # tail differently from its body, so the memory layout decides the last bits.
        r = r_h.add_(r_x).sigmoid_()
        z = z_h.add_(z_x).sigmoid_()
        n = n_x.add(n_h.mul_(r)).tanh_()
        h_next = (h_prev - n).mul_(z).add_(n)  # (B, H)
        return h_next, GRUState(h_next)

    return step


def _aten_rnn(nonlinearity: Callable[[Tensor], Tensor]) -> Callable[[Weights], LayerStep]:
    """ATen's CPU Elman cell (``SimpleCell``): ``phi(W_hh h + b_hh + (W_ih x + b_ih))``."""

    def make(w: Weights) -> LayerStep:
        weight_ih, weight_hh = w["weight_ih"], w["weight_hh"]
        bias_ih, bias_hh = w.get("bias_ih"), w.get("bias_hh")

        def step(x: Tensor, state: RNNState) -> tuple[Tensor, RNNState]:
            gx = F.linear(x.unsqueeze(0), weight_ih, bias_ih)[0]  # (B, H)
            h_next = nonlinearity(F.linear(state.h, weight_hh, bias_hh) + gx)  # (B, H)
            return h_next, RNNState(h_next)

        return step

    return make


# The CPU kernels whose cell is written out above. The LSTM is absent on purpose: a
# fused CPU LSTM runs oneDNN's primitive, whose arithmetic is not ATen's cell (and under
# impl="auto" one LSTM step takes the reference path anyway).
_ATEN_CPU_CELLS: dict[Callable, Callable[[Weights], LayerStep]] = {
    _VF.gru: _aten_gru,
    _VF.rnn_tanh: _aten_rnn(torch.tanh),
    _VF.rnn_relu: _aten_rnn(torch.relu),
}
