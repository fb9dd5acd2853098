"""A 3-layer LSTM's final states: one per layer, and torch.nn's stacked view.

``rnnkit.nn.LSTM`` returns its final state as a tuple with one ``LSTMState(h, c)``
per layer and direction (index ``layer * K + direction``, K = 2 when
bidirectional). ``stack_states`` turns that into torch.nn's ``(h_n, c_n)``, each
(L*K, B, H). Layer l's h at the last step is what layer l+1 read last, so the
top layer's final h is the layer's output at the last step (for the reverse
direction: at the first step, where the reverse pass ends).

Run: python examples/deep_rnn_states.py [--bidirectional]
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from rnnkit.nn import LSTM, stack_states

B, T, D, H, L = 2, 6, 4, 3, 3  # batch, time, input, hidden, layers


def main(bidirectional: bool = False) -> dict:
    torch.manual_seed(0)
    K = 2 if bidirectional else 1
    lstm = LSTM(D, H, num_layers=L, bidirectional=bidirectional, batch_first=True)
    x = torch.randn(B, T, D)
    with torch.no_grad():
        output, state = lstm(x)  # output (B, T, K*H); state: L*K LSTMState(h (B, H), c (B, H))

    print(f"{L} layers, K={K} direction(s), output {tuple(output.shape)}; batch row 0:")
    for k, s in enumerate(state):
        name = f"layer {k // K}" + (" reverse" if k % K else "")
        h, c = (" ".join(f"{v:+.3f}" for v in t[0].tolist()) for t in s)
        print(f"  state[{k}] {name:15s} h = {h}   c = {c}")
    stacked = stack_states(state)  # LSTMState(h (L*K, B, H), c (L*K, B, H))
    print(f"stack_states(state): h {tuple(stacked.h.shape)}, c {tuple(stacked.c.shape)}")

    top_forward = state[(L - 1) * K]  # the top layer's forward direction
    assert torch.equal(top_forward.h, output[:, -1, :H]), "top h is not the last output"
    if bidirectional:
        assert torch.equal(state[-1].h, output[:, 0, H:]), "top reverse h is not output[0]"
    where = (
        "output[:, -1, :H] (and reverse: output[:, 0, H:])" if bidirectional else "output[:, -1]"
    )
    print(f"top layer's final h equals {where}")

    # The same weights in torch.nn.LSTM give the same h_n and c_n.
    reference = nn.LSTM(D, H, num_layers=L, bidirectional=bidirectional, batch_first=True)
    reference.load_state_dict(lstm.state_dict())
    with torch.no_grad():
        ref_output, (h_n, c_n) = reference(x)
    diff = max((stacked.h - h_n).abs().max().item(), (stacked.c - c_n).abs().max().item())
    print(f"torch.nn.LSTM h_n {tuple(h_n.shape)}: largest difference from stack_states {diff:.1e}")
    assert torch.allclose(stacked.h, h_n, atol=1e-6), "h differs from torch.nn's h_n"
    assert torch.allclose(stacked.c, c_n, atol=1e-6), "c differs from torch.nn's c_n"
    assert torch.allclose(output, ref_output, atol=1e-6), "output differs from torch.nn's"
    return {
        "x": x,
        "state_dict": {k: v.detach().clone() for k, v in lstm.state_dict().items()},
        "output": output,
        "state": state,
        "h_n": stacked.h,
        "c_n": stacked.c,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bidirectional", action="store_true", help="two directions per layer")
    main(bidirectional=parser.parse_args().bidirectional)
