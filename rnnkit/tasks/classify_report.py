"""Classification figures: accuracy, macro-F1, per-class precision/recall/F1, the
confusion matrix as text and PNG, and predictions with probabilities as CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnnkit.atomic import atomic_path, atomic_write_text
from rnnkit.errors import ConfigError


def confusion_matrix(y_true: Tensor, y_pred: Tensor, num_classes: int) -> list[list[int]]:
    """``m[i][j]``: examples of class i predicted as class j."""
    flat = torch.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.view(num_classes, num_classes).tolist()


def classification_figures(y_true: Tensor, probs: Tensor, classes: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 (the mean over classes of F1 = 2PR / (P + R), 0 where a class
    is never predicted nor present), per-class figures and the confusion matrix."""
    y_pred = probs.argmax(-1)
    m = confusion_matrix(y_true, y_pred, len(classes))
    per_class = {}
    for k, name in enumerate(classes):
        tp = m[k][k]
        predicted = sum(row[k] for row in m)
        actual = sum(m[k])
        p = tp / predicted if predicted else 0.0
        r = tp / actual if actual else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        per_class[name] = {"precision": p, "recall": r, "f1": f1, "support": actual}
    return {
        "accuracy": float((y_pred == y_true).float().mean()),
        "macro_f1": sum(c["f1"] for c in per_class.values()) / len(classes),
        "per_class": per_class,
        "confusion": m,
    }


def confusion_text(m: list[list[int]], classes: list[str]) -> str:
    """The matrix as aligned text: rows are true classes, columns predictions."""
    names = [c[:12] for c in classes]
    width = max([len(n) for n in names] + [len(str(v)) for row in m for v in row] + [4])
    head = " " * (width + 2) + " ".join(n.rjust(width) for n in names)
    rows = [
        f"{n.rjust(width)}  " + " ".join(str(v).rjust(width) for v in row)
        for n, row in zip(names, m, strict=True)
    ]
    return "\n".join(["true \\ predicted", head, *rows])


def write_report(
    folder: Path,
    figures: dict[str, Any],
    classes: list[str],
    inputs: list[str],
    y_true: Tensor,
    probs: Tensor,
) -> list[Path]:
    """figures.json-like text, confusion.txt, confusion.png (with matplotlib) and
    predictions.csv in ``folder``; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    path = folder / "confusion.txt"
    atomic_write_text(path, confusion_text(figures["confusion"], classes) + "\n")
    written.append(path)
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(["input", "label", "predicted", *(f"p_{c}" for c in classes)])
    for text, t, p in zip(inputs, y_true.tolist(), probs.tolist(), strict=True):
        out.writerow(
            [
                text,
                classes[t],
                classes[max(range(len(p)), key=p.__getitem__)],
                *(f"{v:.6f}" for v in p),
            ]
        )
    path = folder / "predictions.csv"
    atomic_write_text(path, buffer.getvalue())
    written.append(path)
    written.append(write_confusion_png(folder / "confusion.png", figures["confusion"], classes))
    return written


def write_confusion_png(path: Path, m: list[list[int]], classes: list[str]) -> Path:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError(
            "the confusion-matrix picture needs matplotlib: pip install 'rnnkit[plot]'"
        ) from None
    size = max(4.0, 0.5 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    peak = max(max(row) for row in m) or 1
    for i, row in enumerate(m):
        for j, v in enumerate(row):
            ax.text(
                j, i, str(v), ha="center", va="center", color="white" if v > peak / 2 else "black"
            )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path
