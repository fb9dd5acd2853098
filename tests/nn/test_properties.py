"""Property tests: for random batch sizes, lengths, widths, layers, directions and cells,
a padded batch through `Recurrent` (whatever path it takes) equals each sequence run
alone, unpadded, through the reference step loop."""

from __future__ import annotations

import pytest
import torch

from rnnkit.nn import Recurrent
from rnnkit.nn.registry import CELLS

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


@st.composite
def layouts(draw):
    batch = draw(st.integers(1, 4))
    return {
        "cell": draw(st.sampled_from(sorted(CELLS))),
        "lengths": draw(st.lists(st.integers(1, 7), min_size=batch, max_size=batch)),
        "input_size": draw(st.integers(1, 5)),
        "hidden_size": draw(st.integers(1, 6)),
        "num_layers": draw(st.integers(1, 3)),
        "bidirectional": draw(st.booleans()),
        "batch_first": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }


@hypothesis.settings(max_examples=60, deadline=None, derandomize=True)
@hypothesis.given(layouts())
def test_a_padded_batch_equals_each_sequence_alone(layout):
    torch.manual_seed(layout["seed"])
    lengths, batch_first = layout["lengths"], layout["batch_first"]
    layer = Recurrent(
        CELLS[layout["cell"]],
        layout["input_size"],
        layout["hidden_size"],
        layout["num_layers"],
        batch_first=batch_first,
        bidirectional=layout["bidirectional"],
        dtype=torch.float64,
    )
    B, T, D = len(lengths), max(lengths), layout["input_size"]
    x = torch.randn(B, T, D, dtype=torch.float64)  # (B, T, D)
    out, state = layer(x if batch_first else x.transpose(0, 1), lengths=torch.tensor(lengths))
    out = out if batch_first else out.transpose(0, 1)  # (B, T, K*H)
    layer.impl = "reference"
    for b, n in enumerate(lengths):
        alone, alone_state = layer(x[b, :n])  # (n, K*H), unbatched and unpadded
        assert torch.allclose(out[b, :n], alone, atol=1e-9), layout
        assert bool((out[b, n:] == 0).all()), layout
        for k, (s_batch, s_alone) in enumerate(zip(state, alone_state, strict=True)):
            for field, (t_batch, t_alone) in enumerate(zip(s_batch, s_alone, strict=True)):
                assert torch.allclose(t_batch[b], t_alone, atol=1e-9), (layout, k, field)
