"""Forecast evaluation: naive baselines with prediction intervals, point and interval
metrics, and rolling-origin backtests. Plain numpy; normal quantiles from the stdlib.

Shapes: ``T`` history length, ``H`` forecast horizon, ``N`` sample paths, ``m`` season.
Series are written ``y_1 .. y_T`` in the math (1-based, as in the book) and ``y[0] ..
y[T - 1]`` in the code. Formulas follow Hyndman & Athanasopoulos, "Forecasting:
principles and practice" (3rd ed.), section 5.5 (prediction intervals of the benchmark
methods) and section 5.8 (accuracy measures, MASE).

Residual standard deviation, one rule for every baseline: with ``n`` in-sample
one-step residuals ``e`` and ``p`` parameters fitted from the data,
``sigma^2 = sum(e^2) / (n - p)``. The naive methods fit nothing (p = 0: sigma is the
RMS of the residuals); drift fits its slope (p = 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from statistics import NormalDist

import numpy as np

from rnnkit.errors import DataError

LEVELS: tuple[float, ...] = (0.8, 0.95)


@dataclass(frozen=True)
class Forecast:
    """A forecast of H steps: the point forecast and, per interval level, lower and upper
    bounds (None for a method without intervals).

    mean: (H,); lower / upper: level -> (H,), both None or both with the same levels.
    """

    mean: np.ndarray  # (H,)
    lower: dict[float, np.ndarray] | None = None
    upper: dict[float, np.ndarray] | None = None

    def __post_init__(self) -> None:
        # A malformed Forecast is a bug in the method that built it, hence ValueError.
        if np.ndim(self.mean) != 1:
            raise ValueError(f"Forecast.mean must be 1-D (H,), got shape {np.shape(self.mean)}")
        if (self.lower is None) != (self.upper is None):
            raise ValueError("Forecast.lower and Forecast.upper must both be given or both None")
        if self.lower is None or self.upper is None:
            return
        if set(self.lower) != set(self.upper):
            raise ValueError(
                f"Forecast.lower has levels {sorted(self.lower)} but upper has {sorted(self.upper)}"
            )
        for level in self.lower:
            for side, bounds in (("lower", self.lower), ("upper", self.upper)):
                if np.shape(bounds[level]) != np.shape(self.mean):
                    raise ValueError(
                        f"Forecast.{side}[{level}] has shape {np.shape(bounds[level])}, "
                        f"mean has {np.shape(self.mean)}"
                    )


Method = Callable[[np.ndarray, int], Forecast]


# --- checks shared by the public functions ----------------------------------------------


def _series(values: np.ndarray, what: str) -> np.ndarray:
    """``values`` as a finite 1-D float64 array, or a DataError saying what is wrong."""
    y = np.asarray(values, dtype=np.float64)
    if y.ndim != 1:
        raise DataError(f"the {what} must be one series (1-D), got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise DataError(f"the {what} has NaN or infinite values; fill or drop them first")
    return y


def _check_horizon(horizon: int) -> None:
    if horizon < 1:
        raise DataError(f"--horizon must be at least 1, got {horizon}")


def _check_levels(levels: tuple[float, ...]) -> None:
    for level in levels:
        if not 0 < level < 1:
            raise DataError(f"an interval level must lie strictly between 0 and 1, got {level}")


def _period(season: int | None) -> int:
    """m: the season length, 1 for None (no season)."""
    if season is None:
        return 1
    if season < 1:
        raise DataError(f"--season must be at least 1 (or left out), got {season}")
    return int(season)


def _level_key(level: float) -> str:
    """0.8 -> "80", 0.975 -> "97.5": the suffix of coverage_* and width_*."""
    return f"{round(level * 100, 6):g}"


# --- intervals ------------------------------------------------------------------------------


def normal_interval(
    mean: np.ndarray, sd: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """The central ``level`` interval of N(mean, sd^2): ``mean -/+ z * sd`` with
    ``z = Phi^-1((1 + level) / 2)`` (1.2816 for 80%, 1.9600 for 95%)."""
    _check_levels((level,))
    z = NormalDist().inv_cdf((1 + level) / 2)
    mean = np.asarray(mean, dtype=np.float64)
    sd = np.asarray(sd, dtype=np.float64)
    return mean - z * sd, mean + z * sd


def _normal_forecast(mean: np.ndarray, sd: np.ndarray, levels: tuple[float, ...]) -> Forecast:
    _check_levels(levels)
    lower, upper = {}, {}
    for level in levels:
        lower[level], upper[level] = normal_interval(mean, sd, level)
    return Forecast(mean=mean, lower=lower, upper=upper)


def intervals_from_samples(samples: np.ndarray, levels: tuple[float, ...] = LEVELS) -> Forecast:
    """A forecast from N sampled paths (N, H): the point forecast is the mean over the
    samples; the ``level`` interval runs from the ``(1 - level) / 2`` to the
    ``(1 + level) / 2`` empirical quantile per step (``np.quantile``, linear
    interpolation)."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[0] < 1 or samples.shape[1] < 1:
        raise ValueError(f"samples must have shape (N, H) with N, H >= 1, got {samples.shape}")
    _check_levels(levels)
    mean = samples.mean(axis=0)  # (H,)
    lower = {level: np.quantile(samples, (1 - level) / 2, axis=0) for level in levels}
    upper = {level: np.quantile(samples, (1 + level) / 2, axis=0) for level in levels}
    return Forecast(mean=mean, lower=lower, upper=upper)


# --- baselines ------------------------------------------------------------------------------


def naive_forecast(
    history: np.ndarray, horizon: int, levels: tuple[float, ...] = LEVELS
) -> Forecast:
    """Naive (random walk): every step repeats the last value.

    ``yhat_{T+h} = y_T``; ``sd_h = sigma * sqrt(h)`` with
    ``sigma^2 = mean_t (y_t - y_{t-1})^2`` over t = 2..T (p = 0). Needs T >= 2.
    """
    y = _series(history, "history")
    _check_horizon(horizon)
    if len(y) < 2:
        raise DataError(
            f"the naive forecast needs a history of at least 2 points, got {len(y)}; "
            "use a smaller --test-size or a longer series"
        )
    h = np.arange(1, horizon + 1)  # (H,)
    sigma = math.sqrt(np.mean(np.diff(y) ** 2))
    return _normal_forecast(np.full(horizon, y[-1]), sigma * np.sqrt(h), levels)


def seasonal_naive_forecast(
    history: np.ndarray, horizon: int, season: int | None, levels: tuple[float, ...] = LEVELS
) -> Forecast:
    """Seasonal naive: every step repeats the value one season earlier in the last
    observed season.

    ``yhat_{T+h} = y_{T+h-m(k+1)}`` with ``k = floor((h - 1) / m)`` (the number of whole
    seasons between T and T+h); ``sd_h = sigma * sqrt(k + 1)`` with
    ``sigma^2 = mean_t (y_t - y_{t-m})^2`` over t = m+1..T (p = 0). Needs T >= m + 1,
    a whole season and one residual. ``season`` None or 1 is the naive forecast.
    """
    m = _period(season)
    if m == 1:
        return naive_forecast(history, horizon, levels)
    y = _series(history, "history")
    _check_horizon(horizon)
    if len(y) <= m:
        raise DataError(
            f"the seasonal naive forecast with --season {m} needs a history of at least "
            f"{m + 1} points, got {len(y)}; use a smaller --season or --test-size"
        )
    h = np.arange(1, horizon + 1)  # (H,)
    k = (h - 1) // m
    # 1-based T+h-m(k+1) is 0-based T-m + (h-1) mod m: a place in the last season.
    mean = y[len(y) - m + (h - 1) % m]  # (H,)
    sigma = math.sqrt(np.mean((y[m:] - y[:-m]) ** 2))
    return _normal_forecast(mean, sigma * np.sqrt(k + 1), levels)


def drift_forecast(
    history: np.ndarray, horizon: int, levels: tuple[float, ...] = LEVELS
) -> Forecast:
    """Drift: the line through the first and last values, extended.

    ``b = (y_T - y_1) / (T - 1)`` (the mean one-step change), ``yhat_{T+h} = y_T + h b``.
    Residuals ``e_t = y_t - y_{t-1} - b`` for t = 2..T (n = T - 1 of them, summing to 0);
    ``sigma^2 = sum(e^2) / (T - 2)`` (p = 1, the slope).
    ``sd_h = sigma * sqrt(h (1 + h / (T - 1)))``: h one-step shocks plus h times the
    slope's error, whose variance is sigma^2 / (T - 1). The book prints ``h / T``; T - 1 is
    the number of differences the slope is averaged over. Needs T >= 3.
    """
    y = _series(history, "history")
    _check_horizon(horizon)
    T = len(y)
    if T < 3:
        raise DataError(
            f"the drift forecast needs a history of at least 3 points, got {T}; "
            "use a smaller --test-size or a longer series"
        )
    h = np.arange(1, horizon + 1)  # (H,)
    b = (y[-1] - y[0]) / (T - 1)
    e = np.diff(y) - b  # (T - 1,)
    sigma = math.sqrt(np.sum(e**2) / (T - 2))
    return _normal_forecast(y[-1] + h * b, sigma * np.sqrt(h * (1 + h / (T - 1))), levels)


def baseline_methods(season: int | None) -> dict[str, Method]:
    """{"naive": ..., "seasonal naive": ..., "drift": ...}, each ``f(history, horizon)``.
    Without a season (None or 1) "seasonal naive" is left out: it would be the naive one."""
    m = _period(season)
    methods: dict[str, Method] = {"naive": naive_forecast}
    if m > 1:
        methods["seasonal naive"] = partial(seasonal_naive_forecast, season=m)
    methods["drift"] = drift_forecast
    return methods


# --- metrics --------------------------------------------------------------------------------


def mase_scale(history: np.ndarray, season: int | None) -> float:
    """The MASE denominator: the in-sample mean absolute error of the seasonal naive
    one-step forecast, ``mean_t |y_t - y_{t-m}|`` over t = m+1..T, m = season or 1.

    If that is 0 (a history that repeats each season) fall back to m = 1; if still 0 (a
    constant history) return 1.0, so MASE equals the MAE.
    """
    m = _period(season)
    y = _series(history, "history")
    if len(y) <= m:
        raise DataError(
            f"the MASE scale with --season {m} needs a history of at least {m + 1} points, "
            f"got {len(y)}; use a smaller --season or --test-size"
        )
    for lag in dict.fromkeys((m, 1)):
        scale = float(np.mean(np.abs(y[lag:] - y[:-lag])))
        if scale > 0:
            return scale
    return 1.0


class Scores:
    """Accumulates folds and gives the metrics over all of them.

    With actual ``y``, forecast ``f`` and error ``e = y - f`` over all points of all folds:
    ``mae = mean |e|``, ``rmse = sqrt(mean e^2)``,
    ``smape = mean 200 |e| / (|y| + |f|)`` in percent (a point with y = f = 0 counts 0),
    ``mase = mean over folds of MAE_fold / scale_fold`` (each fold's scale from its own
    history, `mase_scale`). Per level in LEVELS: ``coverage_80`` is the share of points
    with ``lower <= y <= upper``, ``width_80`` the mean of ``upper - lower``; NaN when the
    forecasts had no intervals. Every fold must agree on whether it has intervals.
    """

    def __init__(self) -> None:
        self._abs: list[np.ndarray] = []
        self._sq: list[np.ndarray] = []
        self._smape: list[np.ndarray] = []
        self._scaled: list[float] = []
        self._inside: dict[float, list[np.ndarray]] = {level: [] for level in LEVELS}
        self._width: dict[float, list[np.ndarray]] = {level: [] for level in LEVELS}
        self._has_intervals: bool | None = None

    def add(self, actual: np.ndarray, forecast: Forecast, scale: float) -> None:
        """Score one fold: ``actual`` (H,) against ``forecast``; ``scale`` from `mase_scale`."""
        y = _series(actual, "actual series")
        f = np.asarray(forecast.mean, dtype=np.float64)
        if f.shape != y.shape:
            raise ValueError(f"the forecast has shape {f.shape}, the actual values {y.shape}")
        if not np.all(np.isfinite(f)):
            raise ValueError("the forecast has NaN or infinite values")
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"the MASE scale must be a positive number, got {scale}")
        has_intervals = forecast.lower is not None
        if self._has_intervals is not None and has_intervals != self._has_intervals:
            raise ValueError("some folds have prediction intervals and some do not")
        self._has_intervals = has_intervals

        e = np.abs(y - f)  # (H,)
        denominator = np.abs(y) + np.abs(f)
        safe = np.where(denominator > 0, denominator, 1.0)
        self._abs.append(e)
        self._sq.append(e**2)
        # e = 0 wherever the denominator is 0, so those points count as 0.
        self._smape.append(200 * e / safe)
        self._scaled.append(float(e.mean()) / scale)
        if forecast.lower is None or forecast.upper is None:
            return
        for level in LEVELS:
            if level not in forecast.lower:
                raise ValueError(
                    f"the forecast has interval levels {sorted(forecast.lower)}, not {level}"
                )
            lower = np.asarray(forecast.lower[level], dtype=np.float64)
            upper = np.asarray(forecast.upper[level], dtype=np.float64)
            self._inside[level].append((lower <= y) & (y <= upper))
            self._width[level].append(upper - lower)

    def result(self) -> dict[str, float | int]:
        """mae, rmse, smape, mase, coverage_* and width_* per level, points, folds."""
        if not self._abs:
            raise ValueError("no folds were scored")
        out: dict[str, float | int] = {
            "mae": float(np.concatenate(self._abs).mean()),
            "rmse": math.sqrt(np.concatenate(self._sq).mean()),
            "smape": float(np.concatenate(self._smape).mean()),
            "mase": float(np.mean(self._scaled)),
        }
        for level in LEVELS:
            key = _level_key(level)
            if self._has_intervals:
                out[f"coverage_{key}"] = float(np.concatenate(self._inside[level]).mean())
                out[f"width_{key}"] = float(np.concatenate(self._width[level]).mean())
            else:
                out[f"coverage_{key}"] = math.nan
                out[f"width_{key}"] = math.nan
        out["points"] = int(sum(len(e) for e in self._abs))
        out["folds"] = len(self._abs)
        return out


# --- backtest -------------------------------------------------------------------------------


def backtest_origins(length: int, test_size: int, horizon: int, stride: int = 1) -> list[int]:
    """Rolling-origin folds over the last ``test_size`` points of a series of ``length``:
    each origin o is the index of the first forecast step (the model sees y[:o]); origins
    run from ``length - test_size`` to ``length - horizon`` inclusive, every ``stride``.

    DataError if test_size < horizon, or test_size >= length (nothing left to learn from),
    or horizon < 1, stride < 1.
    """
    _check_horizon(horizon)
    if stride < 1:
        raise DataError(f"--stride must be at least 1, got {stride}")
    if test_size < horizon:
        raise DataError(
            f"--test-size {test_size} is shorter than --horizon {horizon}; the test part "
            "must hold at least one whole forecast: raise --test-size or lower --horizon"
        )
    if test_size >= length:
        raise DataError(
            f"--test-size {test_size} leaves nothing to learn from in a series of {length} "
            f"points; use a --test-size below {length}"
        )
    return list(range(length - test_size, length - horizon + 1, stride))


def backtest(
    series_values: np.ndarray,
    origins: list[int],
    horizon: int,
    method: Method,
    season: int | None,
) -> dict:
    """Score ``method(history, horizon)`` on every fold: history = values[:o], actual =
    values[o:o + horizon]; the MASE scale of each fold from its own history only.
    Returns `Scores.result`.

    The history is a copy, not a view: a view's ``.base`` would hand the method the
    whole series, future included.
    """
    y = _series(series_values, "series")
    _check_horizon(horizon)
    if not origins:
        raise DataError("there are no backtest folds; raise --test-size or lower --horizon")
    scores = Scores()
    for o in origins:
        if not 1 <= o <= len(y) - horizon:
            raise DataError(
                f"a fold starting at {o} does not fit a series of {len(y)} points with "
                f"--horizon {horizon}"
            )
        history = y[:o].copy()
        forecast = method(history, horizon)
        scores.add(y[o : o + horizon], forecast, mase_scale(y[:o], season))
    return scores.result()
