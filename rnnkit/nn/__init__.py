"""Recurrent cells (one step each) and the layers that run them over time."""

from rnnkit.nn.cell import RecurrentCell
from rnnkit.nn.gru_cell import GRUCell
from rnnkit.nn.layernorm_cells import LayerNormGRUCell, LayerNormLSTMCell
from rnnkit.nn.layers import GRU, LSTM, RNN
from rnnkit.nn.lstm_cell import LSTMCell
from rnnkit.nn.min_cells import MinGRUCell, MinLSTMCell
from rnnkit.nn.pooling import POOLINGS, TimePooling
from rnnkit.nn.recurrent import ExecutionPath, Recurrent
from rnnkit.nn.rnn_cell import RNNCell
from rnnkit.nn.state import (
    GRUState,
    LSTMState,
    MinGRUState,
    MinLSTMState,
    RNNState,
    detach_state,
    map_state,
    reset_rows,
    stack_states,
    unstack_states,
)
from rnnkit.nn.tbptt import TBPTT

__all__ = [
    "POOLINGS",
    "TimePooling",
    "GRU",
    "GRUCell",
    "GRUState",
    "LayerNormGRUCell",
    "LayerNormLSTMCell",
    "LSTM",
    "LSTMCell",
    "LSTMState",
    "MinGRUCell",
    "MinGRUState",
    "MinLSTMCell",
    "MinLSTMState",
    "RNN",
    "RNNCell",
    "RNNState",
    "ExecutionPath",
    "Recurrent",
    "RecurrentCell",
    "TBPTT",
    "detach_state",
    "map_state",
    "reset_rows",
    "stack_states",
    "unstack_states",
]
