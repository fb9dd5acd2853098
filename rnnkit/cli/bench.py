"""`rnnkit bench memory`: how far back each cell remembers, on the adding or copy task."""

from __future__ import annotations

import argparse
import json
import sys

from rnnkit.cli.options import add_json_option


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("bench", help="small built-in benchmarks: memory")
    benches = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    m = benches.add_parser(
        "memory",
        help="train each cell on a long-range memory task at several lengths",
        description="Train rnn/lstm/gru on the adding problem (test MSE) or the copy-memory "
        "task (recall accuracy) at each length, from the same seed and batches, and print "
        "one table with the trivial baseline. See docs/inspect.md.",
    )
    m.add_argument("--task", default="adding", help="adding (default) or copy")
    m.add_argument(
        "--lengths",
        nargs="+",
        type=int,
        default=[10, 50, 100],
        metavar="T",
        help="sequence lengths; the copy task's gap (default 10 50 100)",
    )
    m.add_argument(
        "--cells", nargs="+", default=["rnn", "lstm", "gru"], metavar="CELL", help="default all"
    )
    m.add_argument("--steps", type=int, default=300, help="Adam steps per model (default 300)")
    m.add_argument("--hidden", dest="hidden_size", type=int, default=32, help="default 32")
    m.add_argument("--batch", dest="batch_size", type=int, default=32, help="default 32")
    m.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (default 0.01)")
    m.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip (default 1)")
    m.add_argument(
        "--test-size", dest="test_size", type=int, default=500, help="test sequences (default 500)"
    )
    m.add_argument("--seed", type=int, default=0, help="init and data (default 0)")
    add_json_option(m, "the table as one JSON object")
    m.set_defaults(run=run_memory)


def run_memory(args: argparse.Namespace) -> int:
    from rnnkit.inspect.memory import MemoryConfig, run_memory_bench

    config = MemoryConfig(
        task=args.task,
        lengths=tuple(args.lengths),
        cells=tuple(args.cells),
        steps=args.steps,
        hidden_size=args.hidden_size,
        batch_size=args.batch_size,
        lr=args.lr,
        clip=args.clip,
        test_size=args.test_size,
        seed=args.seed,
    )

    def progress(cell: str, length: int, score: float, seconds: float) -> None:
        print(f"  {cell} T={length}: {score:.4f} ({seconds:.1f} s)", file=sys.stderr, flush=True)

    result = run_memory_bench(config, None if args.json else progress)
    print(json.dumps(result.to_dict()) if args.json else result.format())
    return 0
