"""Command-line options shared by several subcommands."""

from __future__ import annotations

import argparse
from typing import Any

from rnnkit.decode import SamplingConfig
from rnnkit.train.config import PRECISIONS
from rnnkit.train.precision import auto_precision


def add_sampling_options(parser: argparse.ArgumentParser, *, length: int = 500) -> None:
    group = parser.add_argument_group("sampling")
    group.add_argument("--length", type=int, default=length, help="tokens to generate")
    group.add_argument("--temperature", type=float, default=0.8)
    group.add_argument("--top-k", type=int, default=None)
    group.add_argument("--top-p", type=float, default=None)
    group.add_argument("--greedy", action="store_true", help="always take the likeliest token")
    group.add_argument("--seed", type=int, default=None, help="fixed seed: same text each time")
    group.add_argument("--stop", default=None, help="stop a sample once it writes this string")
    group.add_argument("--samples", type=int, default=1, help="how many samples at once")


def sampling_from_args(args: argparse.Namespace) -> SamplingConfig:
    return SamplingConfig(
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        greedy=args.greedy,
        seed=args.seed,
        max_new_tokens=args.length,
        stop=args.stop,
        num_samples=args.samples,
    )


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default cpu)")


def add_precision_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--precision",
        choices=["auto", *PRECISIONS],
        default="auto",
        help="bf16 autocast in training steps; auto = bf16 where the hardware runs it natively",
    )


def precision_from_args(args: argparse.Namespace, device: str) -> str:
    """The precision `--precision` names, with "auto" resolved for ``device``."""
    return auto_precision(device) if args.precision == "auto" else args.precision


def model_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The LanguageModelConfig settings given by `--cell --layers --hidden ...` (None
    where a flag was not given: `recipe_for_budget` then keeps the budget's default)."""
    return {
        "cell": args.cell,
        "num_layers": args.layers,
        "hidden_size": args.hidden,
        "embedding_size": args.embedding,
        "dropout": args.dropout,
        "weight_dropout": args.weight_dropout,
        "tie_weights": getattr(args, "tie_weights", None),
    }
