"""The "hello" character model: learn to predict "ello" from "hell".

Four letters, one-hot in, one score per letter out, at every step. The input
"l" appears twice with different next letters ("l" then "o"), so the model
can only get both right by remembering what came before: that memory is the
recurrent state. A tiny LSTM learns it in a few hundred Adam steps.

Run: python examples/hello_chars.py
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.nn import LSTM

WORD = "hello"
VOCAB = sorted(set(WORD))  # ['e', 'h', 'l', 'o']: V = 4
V, H = len(VOCAB), 8


class CharModel(nn.Module):
    """One-hot letters -> LSTM -> a score (logit) per letter at every step."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = LSTM(V, H)
        self.head = nn.Linear(H, V)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = F.one_hot(ids, V).float()  # (T, V), one unbatched sequence
        h, _ = self.rnn(x)  # (T, H)
        return self.head(h)  # (T, V)


def main(steps: int = 300, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    ids = torch.tensor([VOCAB.index(ch) for ch in WORD])
    inputs, targets = ids[:-1], ids[1:]  # "hell" -> "ello"
    model = CharModel()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    # Tensors this small only lose time handing work between threads (seconds, not
    # milliseconds, on a busy machine), so train on one and restore the setting after.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        for _ in range(steps):
            loss = F.cross_entropy(model(inputs), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - start

    with torch.no_grad():
        logits = model(inputs)  # (T, V)
        loss = F.cross_entropy(logits, targets)
        probs = logits.softmax(dim=-1)  # (T, V): per-step scores
    predicted = "".join(VOCAB[i] for i in probs.argmax(dim=-1).tolist())
    print(f"trained {steps} Adam steps in {seconds:.2f} s, final loss {loss.item():.4f}")
    print("input  " + "  ".join(f"   {ch}  " for ch in VOCAB) + "  -> predicted (target)")
    for t, ch in enumerate(WORD[:-1]):
        scores = "  ".join(f"{p:6.3f}" for p in probs[t].tolist())
        print(f"  {ch}    {scores}  -> {predicted[t]} ({WORD[t + 1]})")

    assert predicted == WORD[1:], f"predicted {predicted!r}, expected {WORD[1:]!r}"
    return {
        "vocab": VOCAB,
        "probs": probs.numpy(),
        "predicted": predicted,
        "loss": loss.item(),
        "seconds": seconds,
    }


if __name__ == "__main__":
    main()
