"""Forecasting data: the data config, the chronological split, scaling fitted on the
training part, calendar features, sliding windows, and the trainer task.

Each series is cut in time: the first part trains, the next ``val_size`` points pick
the best weights, the last ``test_size`` points are kept for the backtest
(`rnnkit evaluate`). Scaling statistics come from the training part only.

The model reads, at step t, ``[y_t, u_t, c_{t+1}]``: the scaled target, the scaled
past covariates, and calendar features of the step being forecast (known in advance).
A training window is ``input_len`` steps; every step of it forecasts the next
``out_steps`` values, all inside the training part.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnkit.config import dataclass_from_dict
from rnnkit.data.shuffle import EpochBatches, ShuffledTaskMixin
from rnnkit.data.timeseries import Series, SeriesSet
from rnnkit.data.timeseries_table import show_time
from rnnkit.errors import ConfigError, DataError, RnnkitWarning
from rnnkit.train import StepOutput
from rnnkit.validate import check_bool, check_int, check_str, fail

_OWNER = "ForecastData"
_DAY = np.timedelta64(1, "D")


@dataclass(frozen=True)
class ForecastData:
    """How a table of time series becomes training windows.

    target / time_col / id_col / covariates: the columns (see `load_series`);
      covariates are observed up to the forecast origin only (past covariates).
    interpolate: fill missing values linearly instead of refusing them.
    horizon: H, the steps ahead to forecast (required to train).
    input_len: steps the model reads before forecasting (default 20).
    season: M, the seasonal period (seasonal naive, MASE); None: from the time
      column's frequency (monthly 12, weekly 52, ...).
    calendar: give the model calendar features of each forecast step (position in the
      year, week and day from the time column; in the season without one).
    difference: read the changes y_t - y_{t-1} and forecast changes, summed onto the
      last value: for series that trend beyond the range of their training part.
    val_size / test_size: points per series for validation and for the backtest;
      None: a tenth of the series, at least H (val_size 0 holds nothing out).
    stride: steps between backtest origins.
    batch_size; samples: sample paths drawn for prediction intervals.
    """

    target: str | None = None
    time_col: str | None = None
    id_col: str | None = None
    covariates: tuple[str, ...] = ()
    interpolate: bool = False
    encoding: str = "utf-8"
    horizon: int | None = None
    input_len: int = 20
    season: int | None = None
    calendar: bool = True
    difference: bool = False
    val_size: int | None = None
    test_size: int | None = None
    stride: int = 1
    batch_size: int = 32
    samples: int = 500

    def __post_init__(self) -> None:
        for name in ("target", "time_col", "id_col"):
            check_str(_OWNER, name, getattr(self, name), optional=True)
        covariates = self.covariates
        if isinstance(covariates, list):
            covariates = tuple(covariates)
            object.__setattr__(self, "covariates", covariates)
        if not isinstance(covariates, tuple) or not all(
            isinstance(c, str) and c for c in covariates
        ):
            raise fail(_OWNER, "covariates", f"must be column names, got {covariates!r}")
        check_bool(_OWNER, "interpolate", self.interpolate)
        check_bool(_OWNER, "calendar", self.calendar)
        check_bool(_OWNER, "difference", self.difference)
        check_str(_OWNER, "encoding", self.encoding)
        check_int(_OWNER, "horizon", self.horizon, least=1, optional=True)
        check_int(_OWNER, "input_len", self.input_len, least=1)
        check_int(_OWNER, "season", self.season, least=1, optional=True)
        check_int(_OWNER, "val_size", self.val_size, least=0, optional=True)
        check_int(_OWNER, "test_size", self.test_size, least=1, optional=True)
        check_int(_OWNER, "stride", self.stride, least=1)
        check_int(_OWNER, "batch_size", self.batch_size, least=1)
        check_int(_OWNER, "samples", self.samples, least=10)

    def require_horizon(self) -> int:
        if self.horizon is None:
            raise ConfigError(
                "forecasting needs --horizon H: how many steps ahead to forecast",
                field="horizon",
                problem="is required: how many steps ahead to forecast",
            )
        return self.horizon

    def loader_options(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "time_col": self.time_col,
            "id_col": self.id_col,
            "covariates": self.covariates,
            "interpolate": self.interpolate,
            "encoding": self.encoding,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ForecastData:
        return dataclass_from_dict(cls, data, "forecasting data config")


def part_sizes(n: int, given: int | None, horizon: int) -> int:
    """Points of a series of ``n`` held out for validation or test: the given number,
    or a tenth of the series, at least ``horizon``."""
    return given if given is not None else max(horizon, round(0.1 * n))


# ---- calendar features ----------------------------------------------------------------
#: Periods a calendar can show, in days, and the smallest time step that shows them.
_PERIODS = {"year": 365.2425, "week": 7.0, "day": 1.0}


def warn_uneven_steps(data: SeriesSet, no_season: bool) -> None:
    """An `RnnkitWarning` when a series' time steps are uneven (rows missing, or
    irregular times): the rows are read as consecutive steps all the same, and no
    season can come from the times. Business days skip weekends, so this warns
    rather than refuses."""
    for series in data.series:
        if series.times is None or len(series.times) < 3:
            continue
        steps = np.diff(series.times.astype("datetime64[ns]").astype(np.int64))
        usual = float(np.median(steps))
        jump = int(np.argmax(steps))
        if usual > 0 and steps[jump] > 1.5 * usual:
            hint = "; give --season M if the data has a season" if no_season else ""
            warnings.warn(
                f"series {series.name!r}: the time steps are uneven "
                f"(from {show_time(series.times[jump])} to {show_time(series.times[jump + 1])} "
                f"is {steps[jump] / usual:.3g} usual steps); each row is read as one step "
                f"and no season comes from the times{hint}",
                RnnkitWarning,
                stacklevel=2,
            )
            return


def calendar_spec(data: SeriesSet, season: int | None, enabled: bool) -> dict[str, Any]:
    """Which calendar features the model gets, fixed at training time: positions in the
    year/week/day that the time step resolves, or the position in the season."""
    if not enabled:
        return {"kind": "none"}
    first = data.series[0]
    if first.times is not None and len(first.times) >= 2:
        step_days = float(np.median(np.diff(first.times)) / _DAY)
        periods = [name for name, days in _PERIODS.items() if step_days < days]
        if periods:
            return {"kind": "time", "periods": periods}
        return {"kind": "none"}
    if season is not None and season > 1:
        return {"kind": "season", "season": season}
    return {"kind": "none"}


def calendar_width(spec: dict[str, Any]) -> int:
    if spec["kind"] == "time":
        return 2 * len(spec["periods"])
    return 2 if spec["kind"] == "season" else 0


def calendar_features(
    spec: dict[str, Any], times: np.ndarray | None, index: np.ndarray
) -> np.ndarray:
    """(N, F) sin/cos of each step's phase in every period of ``spec``; ``index`` are
    the steps' positions in their series (for a season without times)."""
    if spec["kind"] == "none":
        return np.zeros((len(index), 0))
    if spec["kind"] == "season":
        phase = 2 * np.pi * (index % spec["season"]) / spec["season"]
        return np.stack([np.sin(phase), np.cos(phase)], axis=1)
    if times is None:
        raise DataError(
            "this model uses calendar features of the time column, but the data has no "
            "time column; give data with --time-col"
        )
    days = (times - np.datetime64("1970-01-01")) / _DAY  # days since 1970, fractional
    columns = []
    for name in spec["periods"]:
        phase = 2 * np.pi * np.mod(days, _PERIODS[name]) / _PERIODS[name]
        columns += [np.sin(phase), np.cos(phase)]
    return np.stack(columns, axis=1)


def future_times(times: np.ndarray, freq: str | None, n: int) -> np.ndarray:
    """The ``n`` timestamps after ``times``: by the data's frequency, or its median step."""
    import pandas as pd

    if freq is not None:
        return pd.date_range(times[-1], periods=n + 1, freq=freq)[1:].to_numpy()
    step = np.median(np.diff(times))
    return times[-1] + step * np.arange(1, n + 1)


# ---- scaling and features ---------------------------------------------------------------
def target_steps(target: np.ndarray, difference: bool) -> np.ndarray:
    """What the model reads and forecasts: the values, or their changes
    ``y_t - y_{t-1}`` (the first step's change counted as 0)."""
    return np.diff(target, prepend=target[:1]) if difference else target


def fit_scaler(series: Series, n_train: int, difference: bool = False) -> dict[str, Any]:
    """Mean and standard deviation of the target (or of its changes, with
    ``difference``) and of each covariate, over the first ``n_train`` points only."""
    y = target_steps(series.target[:n_train], difference)[1 if difference else 0 :]
    u = series.covariates[:n_train]
    u_std = u.std(axis=0) if u.shape[1] else np.zeros(0)
    return {
        "difference": difference,
        "mean": float(y.mean()),
        "std": float(y.std()) if y.std() > 0 else 1.0,
        "cov_mean": u.mean(axis=0).tolist() if u.shape[1] else [],
        "cov_std": np.where(u_std > 0, u_std, 1.0).tolist(),
    }


@dataclass
class SeriesFeatures:
    """One series ready for the model: per-step inputs (N, D) (the calendar already
    shifted to the step forecast), the scaled target (N,) (values or changes), the
    calendar features (N + extra, F), row p for step p+1 (for roll-outs), and what
    turns scaled forecasts back into values."""

    name: str
    inputs: Tensor
    target: Tensor
    calendar: Tensor
    levels: np.ndarray
    scaler: dict[str, Any]

    def __len__(self) -> int:
        return len(self.target)

    @property
    def difference(self) -> bool:
        return bool(self.scaler.get("difference", False))

    def values(self, scaled: np.ndarray, origins: list[int], cumulative: bool) -> np.ndarray:
        """Scaled forecasts (..., B, H) from ``origins`` (B,) back to values. With
        ``difference``, forecasts are changes from the last value before each origin:
        already summed over the steps (``cumulative``, the direct head's targets, see
        `window`) or one step's each (a roll-out)."""
        std, mean = self.scaler["std"], self.scaler["mean"]
        if not self.difference:
            return scaled * std + mean
        last = self.levels[np.asarray(origins) - 1][:, None]  # (B, 1)
        if cumulative:  # sum_k (std * d_k + mean) = std * x_s + mean * s
            return last + scaled * std + mean * np.arange(1, scaled.shape[-1] + 1)
        return last + np.cumsum(scaled * std + mean, axis=-1)


def series_features(
    series: Series,
    scaler: dict[str, Any],
    calendar: dict[str, Any],
    freq: str | None,
    extra: int = 0,
) -> SeriesFeatures:
    """Scaled inputs for every step of ``series``, with the calendar of step t+1 at
    step t (the last step's, and ``extra`` more, from the timestamps after the end)."""
    n = len(series.target)
    difference = bool(scaler.get("difference", False))
    y = (target_steps(series.target, difference) - scaler["mean"]) / scaler["std"]
    if difference:
        y[0] = 0.0  # the change into the first step is unknown: an average one
    u = (series.covariates - np.asarray(scaler["cov_mean"])) / np.asarray(scaler["cov_std"])
    times = series.times
    if calendar["kind"] == "time" and times is not None:
        times = np.concatenate([times[1:], future_times(times, freq, extra + 1)])
    cal = calendar_features(calendar, times, np.arange(1, n + extra + 1))
    inputs = np.concatenate([y[:, None], u.reshape(n, -1), cal[:n]], axis=1)
    return SeriesFeatures(
        series.name,
        torch.from_numpy(inputs.astype(np.float32)),
        torch.from_numpy(y.astype(np.float32)),
        torch.from_numpy(cal.astype(np.float32)),
        series.target,
        scaler,
    )


def window(
    features: SeriesFeatures, start: int, input_len: int, out_steps: int
) -> tuple[Tensor, Tensor]:
    """Inputs (L, D) at steps start..start+L-1 and targets (L, S): step t's next S
    values; with ``difference``, the changes from y_t summed over 1..S steps (each
    horizon's change from the last value, so each gets its own calibrated spread)."""
    x = features.inputs[start : start + input_len]
    y = features.target[start + 1 : start + input_len + out_steps].unfold(0, out_steps, 1)
    return x, y.cumsum(-1) if features.difference else y


# ---- the trainer task -----------------------------------------------------------------------
class ForecastTask(ShuffledTaskMixin):
    """Random training windows; validation scores the forecast from the last step of a
    window at every origin of the validation part, as the backtest will."""

    unit = "forecasts"

    def __init__(
        self,
        model,
        series: list[SeriesFeatures],
        n_train: list[int],
        n_val: list[int],
        config: ForecastData,
        out_steps: int,
        seed: int,
    ) -> None:
        self.model = model
        self.series = series
        self.L, self.S = config.input_len, out_steps
        self.starts = [
            (i, s) for i, n in enumerate(n_train) for s in range(n - self.L - self.S + 1)
        ]
        if not self.starts:
            raise DataError("no series is long enough for one training window")
        self.val_origins = [
            (i, o)
            for i, (n, v) in enumerate(zip(n_train, n_val, strict=True))
            for o in range(n, n + v - self.S + 1)
        ]
        self.held_out = bool(self.val_origins)
        self.batch_size = min(config.batch_size, len(self.starts))
        self.order = EpochBatches([self.L] * len(self.starts), self.batch_size, seed)

    def next_batch(self) -> tuple[Tensor, Tensor]:
        pairs = [
            window(self.series[i], s, self.L, self.S)
            for i, s in (self.starts[r] for r in self.order.next())
        ]
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])

    def training_loss(self, batch) -> StepOutput:
        device = next(self.model.parameters()).device
        x, y = (t.to(device) for t in batch)
        params, _ = self.model(x)
        return StepOutput(self.model.loss(params, y), y.numel())

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        if not self.held_out:
            x, y = self._stack(self.starts)
            params, _ = self.model(x)
            return {"loss": float(self.model.loss(params, y))}
        x, y = self._stack([(i, o - self.L) for i, o in self.val_origins])
        params, _ = self.model(x)
        last = params[:, -1]  # (N, S, K, P): the forecast from each origin
        mean = self.model.point(last)
        # Scaled errors times each series' scale are errors in the data's units (for
        # differences too: the targets are the summed changes, scaled alike).
        scale = torch.tensor([self.series[i].scaler["std"] for i, _ in self.val_origins])
        error = (mean - y[:, -1]).abs().cpu() * scale.unsqueeze(-1)
        return {"loss": float(self.model.loss(last, y[:, -1])), "mae": float(error.mean())}

    def _stack(self, starts: list[tuple[int, int]]) -> tuple[Tensor, Tensor]:
        device = next(self.model.parameters()).device
        pairs = [window(self.series[i], s, self.L, self.S) for i, s in starts]
        return (
            torch.stack([p[0] for p in pairs]).to(device),
            torch.stack([p[1] for p in pairs]).to(device),
        )
