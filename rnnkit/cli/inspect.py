"""`rnnkit inspect gradients|activations|embeddings ...`: look inside a network.

Each view is its own module with ``add_parser(subparsers)`` and ``run(args)``; this
one only gathers them under `rnnkit inspect`.
"""

from __future__ import annotations

import importlib

#: The views, each a module rnnkit.cli.inspect_<name>.
VIEWS = ("gradients", "activations", "embeddings")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "inspect", help="look inside a network: gradients, activations, embeddings"
    )
    views = p.add_subparsers(dest="view", metavar="VIEW", required=True)
    for name in VIEWS:
        importlib.import_module(f"rnnkit.cli.inspect_{name}").add_parser(views)
