"""A recurrent layer of 5 tanh neurons over 2 time steps, by hand and by rnnkit.

The Elman step (see ``rnnkit.nn.RNNCell``) is

    h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),    h_0 = 0

Unrolled by hand, step 1 and step 2 are two lines of matrix algebra. The layer
(``rnnkit.nn.RNN``) runs the same equation in its time loop ("dynamic
unrolling"), with the weights it owns under torch.nn's names (``weight_ih_l0``
...). This script computes both and checks they agree.

Run: python examples/manual_unroll.py
"""

from __future__ import annotations

import torch

from rnnkit.nn import RNN

D, H, T = 3, 5, 2  # input features, hidden neurons, time steps


def fmt(v: torch.Tensor) -> str:
    return " ".join(f"{a:+.4f}" for a in v.tolist())


def main() -> dict:
    torch.manual_seed(0)
    layer = RNN(input_size=D, hidden_size=H)  # one layer, tanh
    x = torch.randn(T, D)  # (T, D): one sequence, no batch dimension

    # The layer's own weights, read by their torch.nn names.
    W_ih, W_hh = layer.weight_ih_l0.detach(), layer.weight_hh_l0.detach()  # (H, D), (H, H)
    b_ih, b_hh = layer.bias_ih_l0.detach(), layer.bias_hh_l0.detach()  # (H,), (H,)

    # Manual unrolling: one line per time step.
    h0 = torch.zeros(H)
    h1 = torch.tanh(W_ih @ x[0] + b_ih + W_hh @ h0 + b_hh)  # (H,)
    h2 = torch.tanh(W_ih @ x[1] + b_ih + W_hh @ h1 + b_hh)  # (H,)
    manual = torch.stack([h1, h2])  # (T, H)

    # Dynamic unrolling: the layer loops over time itself.
    with torch.no_grad():
        output, state = layer(x)  # output (T, H), state[0].h (H,)

    print(f"weight_ih_l0 {tuple(W_ih.shape)}, weight_hh_l0 {tuple(W_hh.shape)}, h_0 = 0")
    for t in range(T):
        print(f"step {t + 1}  input  x = {fmt(x[t])}")
        print(f"        manual h = {fmt(manual[t])}")
        print(f"        layer  h = {fmt(output[t])}")
    diff = (manual - output).abs().max().item()
    print(f"largest difference: {diff:.2e}  (path: {layer.last_path.name})")

    assert torch.allclose(manual, output, atol=1e-6), f"manual and layer differ by {diff}"
    assert torch.equal(state[0].h, output[-1]), "final state is not the last output"
    return {
        "x": x.numpy(),
        "weight_ih": W_ih.numpy(),
        "weight_hh": W_hh.numpy(),
        "bias_ih": b_ih.numpy(),
        "bias_hh": b_hh.numpy(),
        "manual": manual.numpy(),
        "layer": output.numpy(),
        "final_h": state[0].h.numpy(),
    }


if __name__ == "__main__":
    main()
