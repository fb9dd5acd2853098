"""Forecasts for people: the backtest table, forecast records, CSV files and plots."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.atomic import atomic_write_bytes, atomic_write_text
from rnnkit.tasks.forecast_eval import LEVELS, Forecast
from rnnkit.train.plots import require_matplotlib

#: The interval columns of every forecast table: lower_80, upper_80, lower_95, upper_95.
BOUNDS = tuple(f"{side}_{round(100 * level)}" for level in LEVELS for side in ("lower", "upper"))
_COLUMNS = ("mae", "rmse", "smape", "mase", "coverage_80", "width_80", "coverage_95", "width_95")


def backtest_table(figures: Mapping[str, Any]) -> str:
    """Every method's metrics, one row each, rnnkit first."""
    lines = [
        f"backtest: {figures['folds']} forecast(s) of {figures['horizon']} step(s) over "
        f"{figures['series']} series (season {figures['season'] or 'none'})",
        f"{'method':<15}" + "".join(f"{c:>12}" for c in _COLUMNS),
    ]
    for name, scores in figures["methods"].items():
        cells = "".join(f"{_number(scores[c]):>12}" for c in _COLUMNS)
        lines.append(f"{name:<15}{cells}")
    return "\n".join(lines)


def _number(value: float) -> str:
    return (
        "n/a"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.4g}"
    )


def _bounds(forecast: Forecast) -> dict[str, list[float] | None]:
    out: dict[str, list[float] | None] = {}
    for level in LEVELS:
        pct = round(100 * level)
        has = forecast.lower is not None
        out[f"lower_{pct}"] = forecast.lower[level].tolist() if has else None
        out[f"upper_{pct}"] = forecast.upper[level].tolist() if has else None
    return out


def step_labels(times: np.ndarray | None, first_step: int, horizon: int) -> list[str | int]:
    """The forecast steps' timestamps (ISO) or, without times, their step numbers."""
    if times is None:
        return list(range(first_step, first_step + horizon))
    return [str(np.datetime_as_string(t, unit="auto")) for t in times]


def forecast_record(
    forecast: Forecast, times: np.ndarray | None, first_step: int
) -> dict[str, Any]:
    """A forecast as JSON-able lists: times (or step numbers), mean, interval bounds."""
    horizon = len(forecast.mean)
    return {
        "times": step_labels(times, first_step, horizon),
        "mean": forecast.mean.tolist(),
        **_bounds(forecast),
    }


def forecast_csv(records: Sequence[Mapping[str, Any]]) -> str:
    """One row per series and step: series, time, step, mean, interval bounds."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["series", "time", "step", "mean", *BOUNDS])
    for r in records:
        row = forecast_record(r["forecast"], r["times"], r["first_step"])
        for k, (time, mean) in enumerate(zip(row["times"], row["mean"], strict=True)):
            values = [row[b][k] if row[b] is not None else "" for b in BOUNDS]
            writer.writerow([r["series"], time, k + 1, mean, *values])
    return buffer.getvalue()


def write_forecast_csv(path: str | Path, records: Sequence[Mapping[str, Any]]) -> None:
    atomic_write_text(path, forecast_csv(records))


def plot_forecasts(
    path: str | Path, records: Sequence[Mapping[str, Any]], title: str, shown: int = 200
) -> None:
    """One panel per series (at most 8): the last ``shown`` points of history, the
    forecast mean and its 80% and 95% bands."""
    Figure = require_matplotlib()
    records = list(records)[:8]
    figure = Figure(figsize=(9, 3 * len(records)), dpi=100, layout="tight")
    for index, r in enumerate(records):
        axes = figure.add_subplot(len(records), 1, index + 1)
        history, forecast = r["history"], r["forecast"]
        y = history.target[-shown:]
        n = len(history.target)
        if history.times is not None:
            x_past, x_next = history.times[-shown:], r["times"]
        else:
            start = r["first_step"] - n
            x_past = np.arange(start + n - len(y), start + n)
            x_next = np.arange(r["first_step"], r["first_step"] + len(forecast.mean))
        axes.plot(x_past, y, color="black", linewidth=1, label="history")
        if forecast.lower is not None:
            for level, alpha in zip(sorted(LEVELS, reverse=True), (0.2, 0.35), strict=False):
                axes.fill_between(
                    x_next,
                    forecast.lower[level],
                    forecast.upper[level],
                    color="tab:blue",
                    alpha=alpha,
                    linewidth=0,
                    label=f"{round(100 * level)}% interval",
                )
        axes.plot(x_next, forecast.mean, color="tab:blue", linewidth=1.5, label="forecast")
        axes.set_title(f"{title}: {r['series']}" if len(records) > 1 else title)
        axes.grid(alpha=0.3)
        axes.legend(loc="upper left", fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())


def write_backtest_report(
    report_dir: Path, rows: Sequence[tuple[Any, int, Forecast]], horizon: int
) -> None:
    """``backtest.csv``: every fold's forecast beside the actual values."""
    report_dir.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["series", "origin", "step", "time", "actual", "forecast", *BOUNDS])
    for series, origin, forecast in rows:
        record = forecast_record(
            forecast,
            None if series.times is None else series.times[origin : origin + horizon],
            origin,
        )
        for k, mean in enumerate(record["mean"]):
            actual = series.target[origin + k]
            values = [record[b][k] if record[b] is not None else "" for b in BOUNDS]
            writer.writerow([series.name, origin, k + 1, record["times"][k], actual, mean, *values])
    atomic_write_text(report_dir / "backtest.csv", buffer.getvalue())
