"""`RNN`, `LSTM`, `GRU`: the `Recurrent` layer with torch.nn's constructors.

Same arguments, parameter names, gate order and initial-state forms as
``torch.nn.RNN/LSTM/GRU``, so ``load_state_dict`` works both ways. What differs:
``forward`` takes ``lengths=``/``mask=`` instead of PackedSequence, always returns
per-layer NamedTuple state (``stack_states`` gives torch.nn's view), and the LSTM
starts its forget gates at bias 1 unless ``forget_bias=None``.
"""

from __future__ import annotations

from rnnkit.nn.gru_cell import GRUCell
from rnnkit.nn.lstm_cell import LSTMCell
from rnnkit.nn.recurrent import Recurrent
from rnnkit.nn.rnn_cell import RNNCell


class RNN(Recurrent):
    """Elman RNN layer(s); see :class:`~rnnkit.nn.RNNCell` for the step."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        *,
        impl: str = "auto",
        weight_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
    ) -> None:
        super().__init__(
            RNNCell,
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            impl=impl,
            weight_dropout=weight_dropout,
            recurrent_dropout=recurrent_dropout,
            zoneout=zoneout,
            cell_kwargs={"nonlinearity": nonlinearity},
            device=device,
            dtype=dtype,
        )
        self.nonlinearity = nonlinearity


class LSTM(Recurrent):
    """LSTM layer(s); see :class:`~rnnkit.nn.LSTMCell` for the step and the forget bias."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
        *,
        forget_bias: float | None = 1.0,
        impl: str = "auto",
        weight_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
    ) -> None:
        super().__init__(
            LSTMCell,
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            impl=impl,
            weight_dropout=weight_dropout,
            recurrent_dropout=recurrent_dropout,
            zoneout=zoneout,
            cell_kwargs={"forget_bias": forget_bias, "proj_size": proj_size},
            device=device,
            dtype=dtype,
        )
        self.proj_size = proj_size


class GRU(Recurrent):
    """GRU layer(s); see :class:`~rnnkit.nn.GRUCell` for the step."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        *,
        impl: str = "auto",
        weight_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
    ) -> None:
        super().__init__(
            GRUCell,
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            impl=impl,
            weight_dropout=weight_dropout,
            recurrent_dropout=recurrent_dropout,
            zoneout=zoneout,
            device=device,
            dtype=dtype,
        )
