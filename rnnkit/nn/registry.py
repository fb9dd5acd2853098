"""Cells by name: the one table that every model config's ``cell`` field and every
task's ``--cell`` flag read, so a new cell is usable everywhere once it is listed here."""

from __future__ import annotations

from rnnkit.nn.cell import RecurrentCell
from rnnkit.nn.gru_cell import GRUCell
from rnnkit.nn.layernorm_cells import LayerNormGRUCell, LayerNormLSTMCell
from rnnkit.nn.lstm_cell import LSTMCell
from rnnkit.nn.min_cells import MinGRUCell, MinLSTMCell
from rnnkit.nn.rnn_cell import RNNCell

CELLS: dict[str, type[RecurrentCell]] = {
    "rnn": RNNCell,
    "lstm": LSTMCell,
    "gru": GRUCell,
    "lnlstm": LayerNormLSTMCell,
    "lngru": LayerNormGRUCell,
    "mingru": MinGRUCell,
    "minlstm": MinLSTMCell,
}


def cell_names() -> tuple[str, ...]:
    """The names a ``cell`` setting accepts, in the table's order."""
    return tuple(CELLS)


def cell_class(name: str) -> type[RecurrentCell]:
    """The cell class registered under ``name`` (configs validate the name first)."""
    return CELLS[name]
