"""A gradient-flow report as files and text: the CSV, the PNG and the printed tables."""

from __future__ import annotations

import csv
import io
import math

from rnnkit.atomic import PathLike, atomic_write_bytes, atomic_write_text
from rnnkit.inspect.gradients import GradientReport
from rnnkit.inspect.table import format_table
from rnnkit.train.plots import require_matplotlib


def gradient_csv(report: GradientReport) -> str:
    """One row per step: ``step`` then every flow's columns (``rnn_dh``, ``rnn_dx``, ...)."""
    columns = report.columns()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["step", *columns])
    for t, step in enumerate(report.steps):
        writer.writerow([step, *(repr(values[t]) for values in columns.values())])
    return buffer.getvalue()


def write_gradient_csv(path: PathLike, report: GradientReport) -> None:
    atomic_write_text(path, gradient_csv(report))


def write_gradient_plot(path: PathLike, report: GradientReport) -> None:
    """Norms against step on a log axis: one colour per network, dh solid (one line per
    layer), dx dashed. Zeros and non-finite values are left out (a log axis has no 0)."""
    Figure = require_matplotlib()
    figure = Figure(figsize=(8, 4.5), dpi=100, layout="tight")
    axes = figure.add_subplot()
    steps = report.steps
    for index, flow in enumerate(report.flows):
        color = f"C{index}"
        for layer, values in enumerate(flow.dh):
            label = f"{flow.name} dL/dh" + (f" (layer {layer})" if len(flow.dh) > 1 else "")
            style = ("-", "-.", ":")[layer % 3]
            axes.plot(steps, _loggable(values), style, color=color, label=label, linewidth=1.5)
        axes.plot(steps, _loggable(flow.dx), "--", color=color, label=f"{flow.name} dL/dx", lw=1)
    axes.set_yscale("log")
    axes.set_xlabel("step t (the loss reads step T)")
    axes.set_ylabel("gradient norm")
    axes.set_title(f"gradient flow through time, T = {report.config.length} ({report.source})")
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())


def format_gradient_report(report: GradientReport, *, rows: int = 11) -> str:
    """The printed report: the norms at about ``rows`` steps (1 and T among them), then
    one line per network with its growth, the exploding verdict and the clipping."""
    columns = report.columns()
    T = report.config.length
    shown = sorted({1 + k * (T - 1) // max(rows - 1, 1) for k in range(rows)})
    head = ["step", *columns]
    body = [[str(step), *(_num(columns[c][step - 1]) for c in columns)] for step in shown]
    clip = report.config.clip
    summary_head = ["network", "dh(1)/dh(T)", "exploding", "grad norm", f"clipped ({clip:g})"]
    summary = [
        [f.name, _num(f.growth), "yes" if f.exploding else "no", _num(f.grad_norm)]
        + [_num(f.clipped_norm)]
        for f in report.flows
    ]
    lines = [
        f"gradient flow, T = {T}, {report.source}; loss: {report.loss}",
        format_table(head, body),
        "" if len(shown) == T else "(every step is in the CSV)",
        format_table(summary_head, summary),
        f"exploding: dh(1)/dh(T) above {report.config.threshold:g} or a non-finite norm",
    ]
    return "\n".join(line for line in lines if line)


def _num(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else str(value)


def _loggable(values: tuple[float, ...]) -> list[float]:
    return [v if math.isfinite(v) and v > 0 else math.nan for v in values]
