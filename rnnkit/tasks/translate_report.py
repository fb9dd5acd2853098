"""The attention heatmap of one translated sentence (needs the plot extra)."""

from __future__ import annotations

import io
from pathlib import Path

from rnnkit.atomic import atomic_write_bytes
from rnnkit.tasks.translate_decode import attention_map
from rnnkit.train.plots import require_matplotlib


def write_attention_png(run, text: str, path: str | Path) -> None:
    """Rows: the translation's tokens (and <eos>); columns: the source tokens as the
    encoder read them (reversed with --reverse-source); cells: attention weights."""
    Figure = require_matplotlib()
    source, target, weights = attention_map(run, text)
    figure = Figure(figsize=(1 + 0.5 * len(source), 1 + 0.4 * len(target)), dpi=100, layout="tight")
    axes = figure.add_subplot()
    image = axes.imshow(weights.numpy(), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(len(source)), source, rotation=60, ha="right")
    axes.set_yticks(range(len(target)), target)
    axes.set_xlabel("source")
    axes.set_ylabel("translation")
    figure.colorbar(image, ax=axes, fraction=0.05)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
