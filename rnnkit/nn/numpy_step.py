r"""One time step of a plain LSTM, GRU or Elman stack in numpy, for batch-1 decoding on CPU.

At batch 1 a decoding step is a few matrix-vector products ``W h`` plus gate
arithmetic on vectors of a few thousand numbers. Measured on a 2-core EPYC (torch
2.13.0 CPU, numpy 2.4 with OpenBLAS 0.3.31): one (2048 x 512) float32 product takes
about 30 us through numpy and about 90 us through ``F.linear`` or ``torch.mv``, and a
torch call costs 1.5-3 us before any arithmetic. A 2-layer 512-unit LSTM step is three
such products, so the library under the product decides the speed.

`NumpyStack` copies a `Recurrent` stack's weights once into the layout the step wants:

* LSTM rows reordered from torch's ``i, f, g, o`` to ``i, f, o, g``, so the three
  sigmoid gates are one slice; the two biases summed;
* above the first layer, ``[W_ih | W_hh]`` side by side, so
  ``W_ih x + W_hh h = [W_ih | W_hh] [x; h]`` is one product (LSTM and Elman; the GRU
  keeps ``W_hn h + b_hn`` apart, as its candidate needs it alone);
* the first layer's input term ``W_ih x + b`` is left to the caller (`input_term`, or
  a lookup table built by `input_table` when inputs are token embeddings).

The step then computes, for the LSTM,

.. math::
    (i, f, o) = \sigma(\cdot),\ g = \tanh(\cdot),\ c_t = f \odot c_{t-1} + i \odot g,\
    h_t = o \odot \tanh(c_t)

with :math:`\sigma(z) = (1 + \tanh(z/2)) / 2`: the LSTM's sigmoid rows of the weights
and biases are stored halved (exact in floating point), so one ``tanh`` call covers all
four gates and cannot overflow as ``1/(1+e^{-z})`` can. For the GRU
:math:`h_t = (h_{t-1} - n) \odot z + n`, for the Elman cell :math:`h_t = \phi(\cdot)`.

Close, not bit-exact: numpy sums the products in another order than torch, so the
outputs differ from the layer's in the last bits (within 1e-5 here, see the tests). A
sampler that draws with torch's generator from these outputs draws the same tokens as
from the layer's unless two candidates are within rounding of each other; the tests
check that token for token. `rnnkit.nn.incremental.IncrementalRecurrent` is the
bit-exact stepper. The weights are a snapshot: build a new stack after training on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnkit.errors import ConfigError
from rnnkit.nn.gru_cell import GRUCell
from rnnkit.nn.lstm_cell import LSTMCell
from rnnkit.nn.recurrent import Recurrent
from rnnkit.nn.rnn_cell import RNNCell
from rnnkit.nn.state import GRUState, LayerState, LSTMState, RNNState

#: Numpy state of one layer: ``(h, c)`` for the LSTM, ``(h,)`` otherwise, each (B, H).
NumpyLayerState = tuple[np.ndarray, ...]


def unsupported(rnn: Recurrent) -> str | None:
    """Why ``rnn`` cannot be stepped by `NumpyStack`, or None when it can."""
    kind = type(rnn.cells[0])
    if kind not in (LSTMCell, GRUCell, RNNCell) or any(type(c) is not kind for c in rnn.cells):
        return f"only plain LSTM, GRU and Elman stacks have a numpy step, not {kind.__name__}"
    if kind is LSTMCell and rnn.cells[0].proj_size:
        return "an LSTM with proj_size has no numpy step"
    if rnn.bidirectional:
        return "a bidirectional layer cannot be stepped one token at a time"
    if rnn.zoneout or (
        rnn.training and (rnn.dropout or rnn.weight_dropout or rnn.recurrent_dropout)
    ):
        return "zoneout and training-mode dropout are not in the numpy step"
    first = rnn.flat_weights()[0]
    if first.device.type != "cpu" or first.dtype != torch.float32:
        return (
            f"the numpy step runs float32 weights on the CPU, not {first.dtype} on {first.device}"
        )
    return None


def _array(t: Tensor) -> np.ndarray:
    return t.detach().numpy()


def _sigmoid_(z: np.ndarray) -> None:
    """``z <- sigmoid(z)`` in place, as ``(1 + tanh(z / 2)) / 2``."""
    z *= 0.5
    np.tanh(z, out=z)
    z *= 0.5
    z += 0.5


class NumpyStack:
    """A unidirectional LSTM, GRU or Elman `Recurrent` stack, stepped in numpy.

    ``step(gx, state)`` takes the first layer's input term ``gx`` (B, G*H) (from
    `input_term` or a row of `input_table`) and the per-layer numpy state, and returns
    the last layer's output (B, H) and the new state. Arrays of a returned state are
    never written to again, so a caller may keep old states.
    """

    def __init__(self, rnn: Recurrent) -> None:
        if why := unsupported(rnn):
            raise ConfigError(why)
        cell = rnn.cells[0]
        self.kind = (
            "lstm"
            if isinstance(cell, LSTMCell)
            else "gru"
            if isinstance(cell, GRUCell)
            else cell.nonlinearity
        )
        self.hidden_size = H = rnn.hidden_size
        self.num_layers = rnn.num_layers
        G = cell.num_gates
        # Torch's i, f, g, o rows as i, f, o, g: the sigmoid gates side by side.
        lstm = self.kind == "lstm"
        rows = np.r_[0 : 2 * H, 3 * H : 4 * H, 2 * H : 3 * H] if lstm else np.arange(G * H)
        # sigma(z) = (1 + tanh(z/2)) / 2: the LSTM's sigmoid rows are stored halved.
        scale = np.ones((G * H, 1), np.float32)
        scale[: 3 * H if lstm else 0] = 0.5
        self.layers: list[dict[str, np.ndarray]] = []
        for k in range(rnn.num_layers):
            w = {name: _array(t) for name, t in rnn.cell_weights(k).items()}
            zeros = np.zeros(G * H, np.float32)
            # Fancy indexing copies: the stack never shares memory with the layer.
            w_ih = w["weight_ih"][rows] * scale  # (G*H, D)
            w_hh = w["weight_hh"][rows] * scale  # (G*H, H)
            b_ih = w.get("bias_ih", zeros)[rows] * scale[:, 0]  # (G*H,)
            b_hh = w.get("bias_hh", zeros)[rows] * scale[:, 0]  # (G*H,)
            layer = {"w_hh": w_hh}
            if self.kind == "gru":  # b_hn stays with W_hn h, inside r * (.)
                layer |= {"w_ih": w_ih, "b_x": b_ih, "b_hh": b_hh}
            elif k == 0:
                layer |= {"w_ih": w_ih, "b_x": b_ih + b_hh}
            else:  # [W_ih | W_hh] acting on [x; h]: one product
                layer |= {"w_cat": np.concatenate([w_ih, w_hh], axis=1), "b_x": b_ih + b_hh}
            self.layers.append(layer)

    # ------------------------------------------------------------------ first layer's input
    def input_term(self, x: np.ndarray) -> np.ndarray:
        """The first layer's input term ``x W_ih^T + b`` (B, G*H) for inputs ``x`` (B, D)."""
        first = self.layers[0]
        return x @ first["w_ih"].T + first["b_x"]

    def input_table(self, embedding: np.ndarray | None) -> np.ndarray:
        """`input_term` of every row of ``embedding`` (V, D): (V, G*H), so a token's
        term is a row lookup; ``None`` means one-hot inputs (``W_ih^T + b``)."""
        first = self.layers[0]
        if embedding is None:
            return np.ascontiguousarray(first["w_ih"].T + first["b_x"])
        return np.ascontiguousarray(self.input_term(embedding))

    # ------------------------------------------------------------------ the step
    def step(
        self, gx: np.ndarray, state: list[NumpyLayerState]
    ) -> tuple[np.ndarray, list[NumpyLayerState]]:
        """First layer's input term (B, G*H) and per-layer state -> output (B, H), state."""
        B = gx.shape[0]
        if self._steps is None or self._batch != B:
            self._steps, self._batch = [self._layer_step(k, B) for k in range(self.num_layers)], B
        x = gx
        new_state = []
        for layer_step, s in zip(self._steps, state, strict=True):
            x, s = layer_step(x, s)
            new_state.append(s)
        return x, new_state

    _steps: list | None = None
    _batch = 0

    def _layer_step(self, k: int, B: int):
        """Layer ``k``'s step for batch size ``B``: ``(x, s) -> (h, s_new)``, where ``x`` is
        the input term for ``k == 0`` and the layer below's output otherwise. The gate
        buffer is scratch, reused every step; the returned state arrays are new."""
        layer, H = self.layers[k], self.hidden_size
        G = layer["w_hh"].shape[0] // H
        z = np.empty((B, G * H), np.float32)  # pre-activations, then gates
        w_hh_t, b_x = layer["w_hh"].T, layer["b_x"]
        w_ih_t = layer["w_ih"].T if "w_ih" in layer else None
        w_cat_t = layer["w_cat"].T if "w_cat" in layer else None

        def pre_activations(x: np.ndarray, h_prev: np.ndarray) -> np.ndarray:
            if k == 0:  # x is the input term, biases included
                np.matmul(h_prev, w_hh_t, out=z)
                return np.add(z, x, out=z)
            np.matmul(np.concatenate([x, h_prev], axis=1), w_cat_t, out=z)
            return np.add(z, b_x, out=z)

        if self.kind == "lstm":  # z holds (z_i/2, z_f/2, z_o/2, z_g)
            i, f, o, g = (z[:, j * H : (j + 1) * H] for j in range(4))  # views, (B, H)
            ifo = z[:, : 3 * H]

            def lstm(x: np.ndarray, s: NumpyLayerState) -> tuple[np.ndarray, NumpyLayerState]:
                np.tanh(pre_activations(x, s[0]), out=z)
                np.multiply(ifo, 0.5, out=ifo)  # sigma(z) = (1 + tanh(z/2)) / 2
                np.add(ifo, 0.5, out=ifo)
                c = f * s[1]  # (B, H)
                c += np.multiply(i, g, out=i)  # f * c_prev + i * g
                h = np.tanh(c)
                h *= o
                return h, (h, c)

            return lstm

        if self.kind == "gru":
            gh = z  # W_hh h + b_hh, (B, 3H)
            rz, n, r, upd = gh[:, : 2 * H], gh[:, 2 * H :], gh[:, :H], gh[:, H : 2 * H]
            b_hh = layer["b_hh"]

            def gru(x: np.ndarray, s: NumpyLayerState) -> tuple[np.ndarray, NumpyLayerState]:
                gx = x if k == 0 else x @ w_ih_t + b_x  # (B, 3H)
                np.matmul(s[0], w_hh_t, out=gh)
                np.add(gh, b_hh, out=gh)
                _sigmoid_(np.add(rz, gx[:, : 2 * H], out=rz))
                np.multiply(n, r, out=n)  # r * (W_hn h + b_hn)
                np.add(n, gx[:, 2 * H :], out=n)
                np.tanh(n, out=n)
                h = s[0] - n
                h *= upd
                h += n  # (h_prev - n) * z + n
                return h, (h,)

            return gru

        relu = self.kind == "relu"

        def elman(x: np.ndarray, s: NumpyLayerState) -> tuple[np.ndarray, NumpyLayerState]:
            pre = pre_activations(x, s[0])
            h = np.maximum(pre, 0.0) if relu else np.tanh(pre)
            return h, (h,)

        return elman

    # ------------------------------------------------------------------ states
    def zero_state(self, batch_size: int) -> list[NumpyLayerState]:
        z = np.zeros((batch_size, self.hidden_size), np.float32)
        return [(z, z) if self.kind == "lstm" else (z,) for _ in range(self.num_layers)]

    def from_torch(self, state: LayerState | None, batch_size: int) -> list[NumpyLayerState]:
        """A `Recurrent` layer's per-layer state (None: zeros) as numpy arrays, no copy."""
        if state is None:
            return self.zero_state(batch_size)
        return [tuple(_array(t) for t in s) for s in state]

    def to_torch(self, state: list[NumpyLayerState]) -> LayerState:
        """Numpy state as the layer's NamedTuples; the tensors share the arrays' memory."""
        kind: Any = (
            LSTMState if self.kind == "lstm" else GRUState if self.kind == "gru" else RNNState
        )
        return tuple(kind(*(torch.from_numpy(a) for a in s)) for s in state)
