"""The loss-curve PNG of a run directory (needs the optional matplotlib extra)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from rnnkit.errors import ConfigError
from rnnkit.train.checkpoint import PathLike, atomic_write_bytes


def write_loss_plot(
    path: PathLike,
    train: tuple[Sequence[int], Sequence[float]],
    val: tuple[Sequence[int], Sequence[float]],
) -> bool:
    """Plot train and val loss against step into `path`; False if matplotlib is missing.

    Uses matplotlib's object API (no pyplot), which needs no GUI backend and leaves the
    caller's global backend untouched.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return False
    figure = Figure(figsize=(7, 4), dpi=100, layout="tight")
    axes = figure.add_subplot()
    if train[0]:
        axes.plot(train[0], train[1], label="train", linewidth=1)
    if val[0]:
        axes.plot(val[0], val[1], "o-", label="val", markersize=3)
    values = [*train[1], *val[1]]
    # Losses fall over orders of magnitude; a log axis keeps the late curve readable.
    if values and min(values) > 0:
        axes.set_yscale("log")
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.grid(alpha=0.3)
    if values:
        axes.legend()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return True


def require_matplotlib(field: str = "plot"):
    """matplotlib's ``Figure`` class, or a ConfigError naming the extra that brings it
    (``field``: the setting that asked for a picture, so the CLI names its flag)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        problem = "needs matplotlib: pip install 'rnnkit[plot]'"
        raise ConfigError(f"{field} {problem}", field=field, problem=problem) from None
    return Figure
