"""Command-line options shared by several subcommands."""

from __future__ import annotations

import argparse

from rnnkit.decode import SamplingConfig


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
