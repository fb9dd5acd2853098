"""Training-step speed of rnnkit's LSTM against torch.nn.LSTM, side by side in one run.

One step = forward + backward of a 2-layer LSTM on a (B=64, T=100) batch with the
loss on all outputs. The three contenders run round-robin (round after round), so
a slow spell of the machine hits all of them alike; each figure is the median over
rounds. Prints tokens/s and the ratio to torch.nn.

    python benchmarks/lstm_speed.py                 # H = 128 and 512
    python benchmarks/lstm_speed.py --hidden 128 --rounds 5
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from rnnkit.nn import LSTM


def make_step(model: torch.nn.Module, x: torch.Tensor):
    def step() -> None:
        out, _ = model(x)
        out.sum().backward()
        model.zero_grad(set_to_none=True)

    return step


def time_step(step, repeats: int) -> float:
    """Seconds per step, best of a short burst after a warm-up call."""
    step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats


def bench(hidden: int, batch: int, seq_len: int, layers: int, rounds: int, repeats: int):
    torch.manual_seed(0)
    ref = torch.nn.LSTM(hidden, hidden, num_layers=layers, batch_first=True)
    fused = LSTM(hidden, hidden, num_layers=layers, batch_first=True)
    loop = LSTM(hidden, hidden, num_layers=layers, batch_first=True, impl="reference")
    fused.load_state_dict(ref.state_dict())
    loop.load_state_dict(ref.state_dict())
    x = torch.randn(batch, seq_len, hidden)
    contenders = {
        "torch.nn.LSTM": make_step(ref, x),
        "rnnkit LSTM (fused)": make_step(fused, x),
        "rnnkit LSTM (reference loop)": make_step(loop, x),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, step in contenders.items():
            reps = max(1, repeats // 4) if "reference" in name else repeats
            times[name].append(time_step(step, reps))
    tokens = batch * seq_len
    base = statistics.median(times["torch.nn.LSTM"])
    rows = []
    for name, ts in times.items():
        t = statistics.median(ts)
        rows.append((name, tokens / t, base / t))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=100)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}"
    )
    print(
        f"training step (forward + backward), {args.layers} layers, B={args.batch}, "
        f"T={args.seq_len}, D=H; median of {args.rounds} interleaved rounds\n"
    )
    print("| H | implementation | tokens/s | vs torch.nn |")
    print("|---|---|---:|---:|")
    for hidden in args.hidden:
        for name, tps, ratio in bench(
            hidden, args.batch, args.seq_len, args.layers, args.rounds, args.repeats
        ):
            print(f"| {hidden} | {name} | {tps:,.0f} | {ratio:.3f}x |", flush=True)


if __name__ == "__main__":
    main()
