"""A padded batch with ``lengths=``: zeros past each end, states at each own end.

Three sequences of lengths 5, 3 and 1 share one (B, T, D) tensor, padded at the
end. Given ``lengths``, the layer treats each row as if it stopped at its own
length: the outputs past the end are exactly zero, the final state is the state
at the row's last real step (so it equals the output there), and whatever sits
in the padding changes nothing.

Run: python examples/variable_lengths.py
"""

from __future__ import annotations

import torch

from rnnkit.nn import GRU

D, H = 2, 3
LENGTHS = [5, 3, 1]


def fmt(v: torch.Tensor) -> str:
    return " ".join(f"{a:+.4f}" for a in v.tolist())


def main() -> dict:
    torch.manual_seed(0)
    gru = GRU(D, H, batch_first=True)
    B, T = len(LENGTHS), max(LENGTHS)
    lengths = torch.tensor(LENGTHS)
    real = torch.arange(T) < lengths[:, None]  # (B, T): True at real steps
    x = torch.randn(B, T, D) * real[..., None]  # padded with zeros
    x_junk = torch.where(real[..., None], x, torch.full_like(x, 99.0))  # padded with 99s

    with torch.no_grad():
        output, state = gru(x, lengths=lengths)  # output (B, T, H), state[0].h (B, H)
        output_junk, state_junk = gru(x_junk, lengths=lengths)
        _, state_unmasked = gru(x)  # no lengths: the padding is read as real input

    final_h = state[0].h  # (B, H)
    last_real = output[torch.arange(B), lengths - 1]  # (B, H): output at each row's last step
    for b, n in enumerate(LENGTHS):
        print(f"row {b} (length {n}):")
        for t in range(T):
            tag = "real" if t < n else "pad "
            print(f"  t={t} {tag} output = {fmt(output[b, t])}")
        print(f"  final h       = {fmt(final_h[b])}")

    past_end = output[~real]  # (number of padded steps, H)
    junk_diff = max(
        (output - output_junk).abs().max().item(), (final_h - state_junk[0].h).abs().max().item()
    )
    print(f"largest |output| past the ends: {past_end.abs().max().item()}")
    print(f"padding 0 vs 99, largest difference: {junk_diff}")
    print("without lengths= row 2 would end at h = " + fmt(state_unmasked[0].h[2]))

    assert torch.equal(past_end, torch.zeros_like(past_end)), "outputs past the end are not 0"
    assert torch.equal(final_h, last_real), "final state is not the output at the last step"
    assert torch.allclose(output, output_junk, atol=1e-6), "padding values changed the output"
    assert torch.allclose(final_h, state_junk[0].h, atol=1e-6), "padding changed the state"
    assert not torch.allclose(final_h[2], state_unmasked[0].h[2]), "lengths made no difference"
    return {
        "x": x,
        "x_junk": x_junk,
        "lengths": lengths,
        "state_dict": {k: v.detach().clone() for k, v in gru.state_dict().items()},
        "output": output,
        "output_junk": output_junk,
        "final_h": final_h,
        "final_h_junk": state_junk[0].h,
    }


if __name__ == "__main__":
    main()
