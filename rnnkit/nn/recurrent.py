"""The `Recurrent` layer: owns the loop over time, directions and layers for any cell."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.errors import ConfigError, InputError
from rnnkit.nn import fast_loop, fused, noise
from rnnkit.nn.cell import RecurrentCell, check_positive_int
from rnnkit.nn.checks import check_input, check_mask_shape, check_state_tensors
from rnnkit.nn.lengths import (
    check_lengths,
    lengths_from_mask,
    reversal_index,
    reverse_in_time,
    step_mask,
)
from rnnkit.nn.state import LayerState, normalise_state, stack_states, unstack_states

IMPLS = ("auto", "fused", "reference")


class ExecutionPath(NamedTuple):
    """Which implementation ran a forward pass, and why."""

    name: str  # "fused" (torch's kernels), "cell" (the cell's run_sequence), "loop"
    # (rnnkit's fast loop, rnnkit.nn.fast_loop) or "reference" (the step loop)
    reason: str


class Recurrent(nn.Module):
    r"""Run any :class:`~rnnkit.nn.cell.RecurrentCell` over sequences.

    For layer :math:`l` and direction :math:`k`, with :math:`x^{(0)}_t = x_t`:

    .. math::
        h^{(l,k)}_t,\ s^{(l,k)}_t = \mathrm{cell}_{l,k}(x^{(l)}_t,\ s^{(l,k)}_{t \mp 1}),
        \qquad x^{(l+1)}_t = \mathrm{dropout}([h^{(l,0)}_t; h^{(l,1)}_t])

    The forward direction runs t = 1..n, the reverse one t = n..1, where n is each
    sequence's *own* length; outputs of the two are concatenated (forward first).
    Dropout acts between layers only, in training, as in torch.nn.

    Args:
        cell: a cell class (e.g. ``LSTMCell``); one is built per layer and direction.
        input_size: D, features per step.
        hidden_size: H, the cell's hidden size.
        num_layers: L, stacked layers; layer l+1 reads layer l's outputs.
        bias: whether cells have biases.
        batch_first: inputs and outputs are (B, T, ·) if True, else (T, B, ·).
        dropout: dropout probability on each layer's output except the last.
        bidirectional: also run each layer in reverse (K = 2 directions).
        impl: ``"auto"`` runs PyTorch's fused kernels when the cells allow it and
            the reference loop otherwise; ``"reference"`` forces the loop;
            ``"fused"`` requires the kernels (ConfigError if they cannot run).
        weight_dropout: DropConnect on the hidden-to-hidden matrices (``weight_hh*``),
            in training: each forward call zeroes each of their entries with this
            probability and scales the rest by 1/(1-p), one mask for all time steps
            and the whole batch (Wan et al. 2013; the weight drop of Merity et al.'s
            AWD-LSTM). It regularises the recurrence itself and keeps the fused kernels.
            A cell without ``weight_hh`` (minGRU, minLSTM) refuses it (ConfigError).
        recurrent_dropout, zoneout: variational dropout on h_{t-1} before the recurrent
            matrix (Gal & Ghahramani 2016) and zoneout of the state (Krueger et al.
            2017), see :mod:`rnnkit.nn.noise`; they run on rnnkit's own loop.
        cell_kwargs: extra arguments for every cell (e.g. ``{"forget_bias": 1.0}``).

    Parameters are owned by the layer under torch.nn's names: ``weight_ih_l0``,
    ``bias_hh_l1_reverse`` ..., so ``load_state_dict`` works with ``nn.LSTM`` & co.

    ``forward(x, state=None, *, lengths=None, mask=None) -> (output, state)``:

    * ``x``: (B, T, D) if ``batch_first`` else (T, B, D); (T, D) for one unbatched sequence.
    * ``state``: per-layer states as returned by a previous call (a tuple of cell
      NamedTuples, index ``layer * K + direction``), or torch.nn's stacked form
      (``LSTMState(h (L*K, B, H), c)`` or a plain (L*K, B, H) tensor); None = zeros.
    * ``lengths`` (B,) or ``mask`` (same layout as x's first two dims, bool): valid
      steps of each padded sequence. Outputs at padded steps are exactly zero, each
      final state is the one at the sequence's last valid step.
    * returns ``output`` (…, K*H) and the final state as a tuple of ``L*K`` cell
      NamedTuples; :func:`~rnnkit.nn.state.stack_states` gives torch.nn's view.

    After each call ``last_path`` says which implementation ran and why.
    """

    def __init__(
        self,
        cell: type[RecurrentCell],
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        impl: str = "auto",
        weight_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        cell_kwargs: Mapping[str, Any] | None = None,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if not (isinstance(cell, type) and issubclass(cell, RecurrentCell)):
            raise TypeError(f"cell: expected a RecurrentCell subclass, got {cell!r}")
        check_positive_int("input_size", input_size)
        check_positive_int("hidden_size", hidden_size)
        check_positive_int("num_layers", num_layers)
        for name, flag in (
            ("bias", bias),
            ("batch_first", batch_first),
            ("bidirectional", bidirectional),
        ):
            if not isinstance(flag, bool):
                raise TypeError(f"{name}: expected a bool, got {type(flag).__name__} {flag!r}")
        for name, p in (("dropout", dropout), ("weight_dropout", weight_dropout)):
            if isinstance(p, bool) or not isinstance(p, (int, float)):
                raise TypeError(f"{name}: expected a float in [0, 1], got {p!r}")
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"{name}: expected a probability in [0, 1], got {p}")
        if impl not in IMPLS:
            raise ConfigError(f"impl: expected one of {IMPLS}, got {impl!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout acts between stacked layers only, so with num_layers=1 it does "
                "nothing; apply dropout to the outputs yourself",
                UserWarning,
                stacklevel=2,
            )
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.dropout = float(dropout)
        self.weight_dropout = float(weight_dropout)
        self.impl = impl
        self.num_directions = 2 if bidirectional else 1
        self.last_path: ExecutionPath | None = None

        # One cell per (layer, direction). Cells hold the math and sizes; the layer
        # holds the parameters under torch.nn's names and lends them on each call.
        # A plain tuple, so the weightless cells are not submodules.
        cells, names = [], []
        kwargs = dict(cell_kwargs or {})
        for layer in range(num_layers):
            for direction in range(self.num_directions):
                layer_in = input_size if layer == 0 else cells[-1].output_size * self.num_directions
                c = cell(layer_in, hidden_size, bias, owns_weights=False, **kwargs)
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = c.weight_shapes()
                for pname, shape in shapes.items():
                    param = nn.Parameter(torch.empty(shape, device=device, dtype=dtype))
                    self.register_parameter(pname + suffix, param)
                names.append({pname: pname + suffix for pname in shapes})
                cells.append(c)
        self.cells: tuple[RecurrentCell, ...] = tuple(cells)
        self._weight_names: tuple[dict[str, str], ...] = tuple(names)
        if self.weight_dropout and not any(n.startswith("weight_hh") for n in names[0]):
            raise ConfigError(
                f"weight_dropout: {cell.__name__} has no hidden-to-hidden matrix to drop; "
                "set weight_dropout to 0 (dropout still applies between layers)",
                field="weight_dropout",
                problem=f"needs a recurrent matrix, which the {cell.__name__} has not; "
                "leave it out (dropout and zoneout work)",
            )
        noise.check_noise(self.cells, recurrent_dropout, zoneout)
        self.recurrent_dropout, self.zoneout = float(recurrent_dropout), float(zoneout)
        self.reset_parameters()

    # --- parameters --------------------------------------------------------------------
    @property
    def output_size(self) -> int:
        """Features per output step: K * (H, or proj_size for a projected LSTM)."""
        return self.cells[-1].output_size * self.num_directions

    def cell_weights(self, index: int) -> dict[str, Tensor]:
        """Parameters of cell ``index`` (= layer * K + direction) under the cell's names."""
        return {short: getattr(self, full) for short, full in self._weight_names[index].items()}

    def flat_weights(self) -> list[Tensor]:
        """All parameters in torch.nn's flat order (the fused kernels' argument)."""
        return [w for k in range(len(self.cells)) for w in self.cell_weights(k).values()]

    def _call_weights(self) -> list[dict[str, Tensor]]:
        """Each cell's weights for one forward call: the parameters, with a fresh
        DropConnect mask on the hidden-to-hidden matrices under ``weight_dropout``.
        Both paths take their weights from here, drawing the masks in one order."""
        weights = [self.cell_weights(k) for k in range(len(self.cells))]
        if not (self.weight_dropout and self.training):
            return weights
        p = self.weight_dropout
        return [
            {n: F.dropout(w, p) if n.startswith("weight_hh") else w for n, w in ws.items()}
            for ws in weights
        ]

    def reset_parameters(self) -> None:
        for k, cell in enumerate(self.cells):
            cell.init_weights(self.cell_weights(k))
        self.flatten_parameters()

    def flatten_parameters(self) -> None:
        """On CUDA, pack the weights into one buffer for cuDNN (no-op elsewhere)."""
        fused.flatten_for_cudnn(
            self.flat_weights(),
            self.cells,
            num_layers=self.num_layers,
            batch_first=self.batch_first,
            bidirectional=self.bidirectional,
        )

    def _apply(self, fn, recurse=True):
        result = super()._apply(fn, recurse)
        self.flatten_parameters()
        return result

    # --- state ---------------------------------------------------------------------------
    def init_state(self, batch_size: int, *, device=None, dtype=None) -> LayerState:
        """All-zero per-layer state for a batch."""
        return tuple(c.init_state(batch_size, device=device, dtype=dtype) for c in self.cells)

    def _normalise_state(self, state: Any, batch_size: int, unbatched: bool) -> LayerState | None:
        """Accept per-layer or torch.nn-stacked state; return per-layer, checked."""
        return normalise_state(
            state, self.cells, batch_size, unbatched, self.num_layers, self.num_directions
        )

    # --- forward --------------------------------------------------------------------------
    def choose_path(self, x: Tensor) -> ExecutionPath:
        """Decide which implementation runs ``x``: fused kernels, the cell's own
        ``run_sequence``, rnnkit's fast loop or the reference loop (see ExecutionPath)."""
        if self.impl == "reference":
            return ExecutionPath("reference", "impl='reference' was requested")
        kernel, why = fused.fused_kernel(self.cells)
        if noisy := noise.noise_reason(self.recurrent_dropout, self.zoneout, self.training):
            kernel, why = None, f"{noisy}: fused kernels and cells' run_sequence take no noise"
        steps = x.shape[1 if self.batch_first else 0]  # one step: the cell's own step

        def without_kernel(reason: str) -> ExecutionPath:
            """rnnkit's fast loop where it runs these cells on x, else the reference loop."""
            loop = self.impl == "auto" and steps > 1 and fast_loop.supports(self.cells, x)
            return (
                ExecutionPath("loop", f"{reason}; {loop}")
                if loop
                else ExecutionPath("reference", reason)
            )

        if kernel is None:
            own = None if noisy else self.cells[0].sequence_path()
            path = ExecutionPath("cell", own) if own else without_kernel(why)
        elif x.device.type == "cpu" and x.dtype in (torch.float16,):
            path = ExecutionPath("reference", "no fused CPU kernel for float16")
        elif reason := fused.cpu_bf16_autocast_unsupported(self.cells, x):
            path = without_kernel(reason)
        elif self.impl == "auto" and (reason := fused.cpu_single_step_slower(self.cells, x, steps)):
            path = ExecutionPath("reference", reason)
        else:
            path = ExecutionPath("fused", why)
        if self.impl == "fused" and path.name != "fused":
            raise ConfigError(f"impl='fused' cannot run: {path.reason}; use impl='auto'")
        return path

    def forward(
        self,
        x: Tensor,
        state: Any = None,
        *,
        lengths: Tensor | list[int] | None = None,
        mask: Tensor | None = None,
    ) -> tuple[Tensor, LayerState]:
        check_input(x, self.input_size, self.batch_first, self.flat_weights()[0])
        if state is not None:
            check_state_tensors(state, self.cells[0].state_type, x)
        if lengths is not None and mask is not None:
            raise InputError("give either lengths or mask, not both")
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(0 if self.batch_first else 1)
            if mask is not None:
                mask = mask.unsqueeze(0 if self.batch_first else 1)
        B, T = (x.shape[0], x.shape[1]) if self.batch_first else (x.shape[1], x.shape[0])
        if mask is not None:
            check_mask_shape(mask, B, T, self.batch_first)
            lengths = lengths_from_mask(mask, self.batch_first)
        if lengths is not None:
            lengths = check_lengths(lengths, B, T)
            if bool((lengths == T).all()):
                lengths = None  # nothing is padded: the plain path is the same function
        state = self._normalise_state(state, B, unbatched)

        path = self.choose_path(x)
        self.last_path = path
        weights = self._call_weights()
        if path.name == "fused":
            output, final = self._forward_fused(x, state, lengths, B, weights)
        else:
            noises = noise.draw_noise(self, x)  # masks for all layers, in one order
            xt = x.transpose(0, 1) if self.batch_first else x  # (T, B, D)
            output, final = self._forward_reference(xt, state, lengths, weights, path, noises)
            output = output.transpose(0, 1) if self.batch_first else output
        if unbatched:
            output = output.squeeze(0 if self.batch_first else 1)
            final = tuple(type(s)(*(t.squeeze(0) for t in s)) for s in final)
        return output, final

    def _forward_fused(self, x, state, lengths, B, weights):
        kernel, _ = fused.fused_kernel(self.cells)
        if state is None:
            state = self.init_state(B, device=x.device, dtype=x.dtype)
        stacked = stack_states(state)
        hx = stacked if len(stacked) > 1 else stacked[0]
        output, finals = fused.run_fused(
            kernel,
            x,
            tuple(hx) if len(stacked) > 1 else hx,
            [w for ws in weights for w in ws.values()],
            bias=self.bias,
            num_layers=self.num_layers,
            dropout=self.dropout,
            training=self.training,
            bidirectional=self.bidirectional,
            batch_first=self.batch_first,
            lengths=lengths,
        )
        return output, unstack_states(type(stacked)(*finals))

    def _forward_reference(self, xt: Tensor, state, lengths, weights, path, noises):
        T, B = xt.shape[0], xt.shape[1]
        mask = rev = None
        if lengths is not None:
            mask = step_mask(lengths, T, xt.device)  # (T, B, 1)
            rev = reversal_index(lengths, T, xt.device)  # (T, B)
        layer_input, finals = xt, []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                cell = self.cells[k]
                s0 = (
                    state[k]
                    if state is not None
                    else cell.init_state(B, device=xt.device, dtype=xt.dtype)
                )
                seq = reverse_in_time(layer_input, rev) if direction else layer_input
                nk = noises[k] if noises is not None else None
                out, s_final = self._run_cell(cell, weights[k], seq, s0, mask, path.name, nk)
                outputs.append(reverse_in_time(out, rev) if direction else out)
                finals.append(s_final)
            layer_output = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_output = F.dropout(layer_output, self.dropout, training=True)
            layer_input = layer_output  # (T, B, K*H)
        return layer_input, tuple(finals)

    @staticmethod
    def _run_cell(cell, w, seq: Tensor, state, mask: Tensor | None, path: str, cell_noise):
        """One layer and direction over ``seq`` (T, B, D), on ``path``: the cell's
        ``run_sequence``, rnnkit's fast loop or the reference step loop."""
        if path == "loop":  # projects the input itself (its kernels may take a part)
            return fast_loop.run(cell, seq, state, w, mask, cell_noise)
        gx = cell.project_input(seq, w)  # (T, B, G*H): all input terms in one matmul
        if path == "cell":
            return cell.run_sequence(gx, state, w, mask)
        return noise.step_loop(cell, gx, state, w, mask, cell_noise)

    def extra_repr(self) -> str:
        cell = type(self.cells[0]).__name__
        parts = [
            f"{cell}",
            f"{self.input_size}",
            f"{self.hidden_size}",
            f"num_layers={self.num_layers}",
        ]
        if self.bidirectional:
            parts.append("bidirectional=True")
        if self.batch_first:
            parts.append("batch_first=True")
        if self.dropout:
            parts.append(f"dropout={self.dropout}")
        for name in ("weight_dropout", "recurrent_dropout", "zoneout"):
            if getattr(self, name):
                parts.append(f"{name}={getattr(self, name)}")
        if self.impl != "auto":
            parts.append(f"impl={self.impl!r}")
        return ", ".join(parts)
