"""The time-series forecasting task: a table of series in, a recurrent forecaster out.

Artifacts, all from the training part: ``scaler.json`` (per series, the target's and
covariates' mean and standard deviation), ``series.json`` (target and covariate names,
frequency, season, calendar features) and ``history.json`` (the last points of each
series, so `rnnkit forecast RUN` needs no data file). `evaluate` is a rolling-origin
backtest over the last ``test_size`` points of each series, beside the naive,
seasonal-naive and drift forecasts on the very same folds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.timeseries import Series, SeriesSet, load_series, season_from_freq
from rnnkit.errors import ConfigError, DataError
from rnnkit.models.forecaster import Forecaster, ForecasterConfig
from rnnkit.nn.registry import cell_names
from rnnkit.runs.recipes import BudgetTiers, Recipe
from rnnkit.runs.registry import Flag, Prepared, TaskPlugin, register_task
from rnnkit.tasks.forecast_data import (
    ForecastData,
    ForecastTask,
    calendar_spec,
    fit_scaler,
    part_sizes,
    series_features,
    warn_uneven_steps,
)
from rnnkit.tasks.forecast_eval import Scores, backtest_origins, baseline_methods, mase_scale
from rnnkit.tasks.forecast_predict import (
    check_horizon,
    features_for,
    forecast_origins,
    history_artifact,
)
from rnnkit.tasks.forecast_report import backtest_table, forecast_record, write_backtest_report

#: Points of each series kept in the run for `rnnkit forecast RUN` (and its plot).
HISTORY_KEPT = 400

#: One tier: a five-network ensemble of LSTM(64). Series are usually short, so five
#: networks train in seconds, and their mixture forecasts better than any one of them
#: (benchmarks/forecast.py: elnino test MASE 0.606 alone, 0.588 with five).
FORECAST_TIERS = BudgetTiers(
    {
        "fp32": (
            (
                float("inf"),
                Recipe(
                    model={"cell": "lstm", "hidden_size": 64, "ensemble": 5},
                    train={"lr": 3e-3},
                ),
            ),
        )
    }
)


@register_task
class ForecastTaskPlugin(TaskPlugin):
    name = "forecast"
    help = "time-series forecasting: point forecasts and prediction intervals"
    data_help = (
        "a CSV/TSV/Parquet/JSONL table of one or more series, or a named series: "
        "sunspots, co2, nile, elnino, macrodata"
    )
    data_config = ForecastData
    model_config = ForecasterConfig
    derived_model_fields = ("input_size", "forecast_steps")
    unit = "forecasts"
    tiers = FORECAST_TIERS
    default_minutes = 2.0
    train_defaults = {
        "optimizer": "adamw",
        "eval_every": 50,
        "checkpoint_every": 100,
        "early_stopping": 20,
    }
    flags = {
        "target": Flag(help="the column to forecast (default: the only numeric one)"),
        "time_col": Flag(help="the time column (default: a column named date, time, year...)"),
        "id_col": Flag(help="a column naming the series, for several series in one file"),
        "covariates": Flag(help="columns observed up to the forecast origin (past covariates)"),
        "interpolate": Flag(help="fill missing values linearly (default: refuse them)"),
        "horizon": Flag(help="steps ahead to forecast (required)"),
        "input_len": Flag(help="steps the model reads before each forecast (default 20)"),
        "season": Flag(help="seasonal period (default: from the time column's frequency)"),
        "calendar": Flag(help="calendar features of the forecast steps (default on)"),
        "difference": Flag(help="model the changes between steps: for trending series"),
        "val_size": Flag(help="points per series for validation (default a tenth)"),
        "test_size": Flag(help="points per series for the backtest (default a tenth)"),
        "stride": Flag(help="steps between backtest origins (default 1)"),
        "samples": Flag(help="sample paths for prediction intervals (default 500)"),
        "cell": Flag(help="default lstm", choices=cell_names()),
        "hidden_size": Flag("hidden", "units per layer (default 64)"),
        "num_layers": Flag("layers", "recurrent layers (default 1)"),
        "recurrent_dropout": Flag(help="variational dropout on the recurrent state; default 0"),
        "zoneout": Flag(help="zoneout probability of the recurrent state; default 0"),
        "ensemble": Flag(help="train K networks at once and forecast with their mixture"),
        "head": Flag(
            help="direct (default): all horizons at once; step: roll out",
            choices=("direct", "step"),
        ),
        "distribution": Flag(
            help="gaussian (default), student_t, or point (no intervals)",
            choices=("gaussian", "student_t", "point"),
        ),
    }

    # ---- data ----------------------------------------------------------------------------
    def read(self, source: str, config: ForecastData) -> SeriesSet:
        return load_series(source, **config.loader_options())

    def digest(self, raw: SeriesSet) -> str:
        return raw.digest()

    def prepare(
        self, raw: SeriesSet, config: ForecastData, artifacts: Mapping[str, Any] | None
    ) -> Prepared:
        H = config.require_horizon()
        sizes = [self._split(s, config, H) for s in raw.series]
        if artifacts is None:
            season = config.season or season_from_freq(raw.freq)
            if raw.freq is None:
                warn_uneven_steps(raw, config.season is None)
            artifacts = {
                "scaler": {
                    s.name: fit_scaler(s, n, config.difference)
                    for s, (n, _, _) in zip(raw.series, sizes, strict=True)
                },
                "series": {
                    "target": raw.target_name,
                    "covariates": list(raw.covariate_names),
                    "freq": raw.freq,
                    "season": season,
                    "calendar": calendar_spec(raw, season, config.calendar),
                },
                "history": history_artifact(raw.series, max(HISTORY_KEPT, config.input_len)),
            }
        info = artifacts["series"]
        features = [
            series_features(s, artifacts["scaler"][s.name], info["calendar"], info["freq"])
            for s in raw.series
        ]
        n_train = [n for n, _, _ in sizes]
        n_val = [v for _, v, _ in sizes]
        return Prepared((features, n_train, n_val), dict(artifacts))

    def _split(self, series: Series, config: ForecastData, H: int) -> tuple[int, int, int]:
        for name, size in (("test_size", config.test_size), ("val_size", config.val_size)):
            if size is not None and 0 < size < H:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(
                    f"{flag} {size} is shorter than --horizon {H}: it could not hold one "
                    f"whole forecast; give at least {H}"
                    + (" (or 0 to hold nothing out)" if name == "val_size" else ""),
                    field=name,
                    problem=f"{size} is shorter than --horizon {H}; give at least {H}",
                )
        n = len(series.target)
        test = part_sizes(n, config.test_size, H)
        val = part_sizes(n, config.val_size, H)
        train = n - val - test
        need = config.input_len + H
        if train < need:
            raise DataError(
                f"series {series.name!r} has {n} points: after {val} for validation and "
                f"{test} for the backtest, {max(train, 0)} are left to train on, fewer than one "
                f"window of --input-len {config.input_len} + --horizon {H} = {need}; "
                "give a longer series or lower --input-len, --horizon, --val-size or --test-size"
            )
        return train, val, test

    # ---- model and training ------------------------------------------------------------
    def derive_model_fields(self, config: ForecastData, prepared: Prepared) -> dict[str, Any]:
        features = prepared.data[0]
        return {"input_size": int(features[0].inputs.shape[1]), "forecast_steps": config.horizon}

    def build_model(self, config: ForecasterConfig) -> Forecaster:
        return Forecaster(config)

    def trainer_task(self, spec, prepared: Prepared, model: Forecaster) -> ForecastTask:
        features, n_train, n_val = prepared.data
        check_horizon(model, spec.data.horizon, len(spec.data.covariates))
        return ForecastTask(
            model, features, n_train, n_val, spec.data, model.config.out_steps, spec.train.seed
        )

    def test_source(self, spec) -> str | None:
        return spec.data_source

    # ---- a trained run ---------------------------------------------------------------------
    def evaluate(self, run, raw: SeriesSet, report_dir: Path | None = None) -> dict[str, Any]:
        config: ForecastData = run.spec.data
        H = config.horizon
        info = run.artifacts["series"]
        season = info["season"]
        baselines = baseline_methods(season)
        methods = {"rnnkit": Scores(), **{name: Scores() for name in baselines}}
        rows = []
        for series in raw.series:
            n = len(series.target)
            test = part_sizes(n, config.test_size, H)
            origins = backtest_origins(n, test, H, config.stride)
            features = features_for(run, series, H, test)
            forecasts = forecast_origins(
                run.model, features, origins, H, config.input_len, config.samples, seed=0
            )
            for o, forecast in zip(origins, forecasts, strict=True):
                history, actual = series.target[:o], series.target[o : o + H]
                scale = mase_scale(history, season)
                methods["rnnkit"].add(actual, forecast, scale)
                for name, method in baselines.items():
                    methods[name].add(actual, method(history, H), scale)
                rows.append((series, o, forecast))
        figures = {
            "horizon": H,
            "season": season,
            "series": len(raw),
            "folds": len(rows),
            "methods": {name: scores.result() for name, scores in methods.items()},
        }
        if report_dir is not None:
            write_backtest_report(Path(report_dir), rows, H)
        return figures

    def predict(self, run, inputs: Sequence[str]) -> list[dict[str, Any]]:
        """Each input is a history typed as numbers ("1.2, 3.4, 5.0"); the record holds
        its forecast for the run's horizon."""
        info = run.artifacts["series"]
        if info["covariates"] or info["calendar"]["kind"] == "time":
            raise DataError(
                "this model reads covariates or calendar features from a table; use "
                "rnnkit forecast RUN --data FILE"
            )
        H = run.spec.data.horizon
        records = []
        for number, text in enumerate(inputs, start=1):
            values = parse_values(text, number)
            series = Series(f"input {number}", values, np.zeros((len(values), 0)), None)
            features = features_for(run, series, H, 0)
            (forecast,) = forecast_origins(
                run.model,
                features,
                [len(values)],
                H,
                run.spec.data.input_len,
                run.spec.data.samples,
                seed=0,
            )
            records.append({"input": text, **forecast_record(forecast, None, len(values))})
        return records

    def describe_figures(self, figures: Mapping[str, Any]) -> str:
        return backtest_table(figures)

    def describe_prediction(self, record: Mapping[str, Any]) -> str:
        return "forecast " + ", ".join(f"{v:.4g}" for v in record["mean"])

    def next_commands(self, run_dir: str, spec) -> list[list[str]]:
        return [
            ["rnnkit", "forecast", run_dir, "--plot", "forecast.png"],
            ["rnnkit", "evaluate", run_dir, "DATA"],
        ]


def parse_values(text: str, number: int) -> np.ndarray:
    """A history typed as numbers separated by commas, semicolons or spaces."""
    parts = text.replace(",", " ").replace(";", " ").split()
    if not parts:
        raise DataError(f"input {number} is empty; give the history as numbers, e.g. '1, 2, 3'")
    try:
        values = np.asarray([float(p) for p in parts], dtype=np.float64)
    except ValueError:
        bad = next(p for p in parts if not _is_number(p))
        raise DataError(f"input {number}: {bad!r} is not a number") from None
    if not np.isfinite(values).all():
        raise DataError(f"input {number} has a NaN or infinite value")
    return values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
