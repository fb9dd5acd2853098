"""Forecasts from a trained forecaster: from any origins of a series (the backtest), or
past the end of the data (`rnnkit forecast`).

The direct head reads the S forecasts off the last step of the input window; the step
head rolls out, feeding each forecast back in as the next input. Probabilistic models
draw sample paths (seeded, so a forecast is repeatable); the intervals are their
central quantiles, and the direct head's point forecast is the distribution's mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rnnkit.data.timeseries import Series
from rnnkit.errors import ConfigError, DataError
from rnnkit.models.forecaster import Forecaster
from rnnkit.nn import map_state
from rnnkit.tasks.forecast_data import SeriesFeatures, fit_scaler, series_features
from rnnkit.tasks.forecast_eval import Forecast, intervals_from_samples


def check_horizon(model: Forecaster, horizon: int, n_covariates: int) -> None:
    """The horizons a model can forecast: up to its trained S (direct head), any
    (step head, which needs every input of the roll-out: no past covariates)."""
    config = model.config
    if config.head == "direct" and horizon > config.forecast_steps:
        raise ConfigError(
            f"this model forecasts at most {config.forecast_steps} steps ahead (its "
            f"--horizon); ask for --horizon {config.forecast_steps} or less, or train with "
            "--head step",
            field="horizon",
            problem=f"must be at most {config.forecast_steps}, the horizon the model was trained for",
        )
    if config.head == "step" and horizon > 1 and n_covariates:
        raise ConfigError(
            "--head step rolls the forecast out step by step, but past-only --covariates "
            "are unknown after the origin; use --head direct (the default) or --horizon 1",
            field="head",
            problem="step cannot forecast more than one step with past-only --covariates",
        )


def features_for(run, series: Series, extra: int, held_back: int) -> SeriesFeatures:
    """A series' model inputs with the run's scaling: the series' own, the only one of a
    single-series run, or, for a new series of a multi-series run, fitted again on all
    but its last ``held_back`` points."""
    art = run.artifacts
    scaler = art["scaler"].get(series.name)
    if scaler is None and len(art["scaler"]) == 1:
        (scaler,) = art["scaler"].values()
    if scaler is None:
        n_fit = max(len(series.target) - held_back, 3)
        scaler = fit_scaler(series, n_fit, run.spec.data.difference)
    return series_features(series, scaler, art["series"]["calendar"], art["series"]["freq"], extra)


@torch.no_grad()
def forecast_origins(
    model: Forecaster,
    features: SeriesFeatures,
    origins: list[int],
    horizon: int,
    input_len: int,
    samples: int,
    seed: int,
) -> list[Forecast]:
    """The forecast of steps o .. o+horizon-1 from each origin o, reading y[o-L:o]."""
    if min(origins) < input_len:
        raise DataError(
            f"series {features.name!r}: a forecast from step {min(origins)} needs the "
            f"{input_len} steps before it (--input-len); give more history"
        )
    model.eval()
    device = next(model.parameters()).device
    x = torch.stack([features.inputs[o - input_len : o] for o in origins]).to(device)
    params, state = model(x)  # (B, L, S, P)
    last = params[:, -1]  # (B, S, P)
    generator = torch.Generator(device=device).manual_seed(seed)
    point = model.config.distribution == "point"
    N = 1 if point else samples
    if model.config.head == "direct":
        mean = model.point(last[:, :horizon])  # (B, H)
        paths = model.sample(last[:, :horizon].expand(N, *last[:, :horizon].shape), generator)
    else:
        paths = _roll_out(model, features, origins, last[:, 0], state, horizon, N, generator)
        mean = paths.mean(0)  # (B, H)
    direct = model.config.head == "direct"
    mean = features.values(mean.cpu().double().numpy(), origins, direct)  # (B, H)
    paths = features.values(paths.cpu().double().numpy(), origins, direct)  # (N, B, H)
    out = []
    for b in range(len(origins)):
        if point:
            out.append(Forecast(mean[b]))
        else:
            drawn = intervals_from_samples(paths[:, b])
            out.append(Forecast(mean[b], drawn.lower, drawn.upper))
    return out


def _roll_out(model, features, origins, first, state, horizon, N, generator) -> torch.Tensor:
    """Sample paths (N, B, H) of the step head: draw y_o, feed [y_o, calendar of o+1]
    in, draw y_{o+1}, and so on; the N paths of an origin share its warmed-up state."""
    B = len(origins)
    params = first.repeat(N, 1, 1)  # (N*B, K, P): row n*B + b
    state = map_state(lambda t: t.repeat(N, 1), state)
    calendar = features.calendar  # (n + extra, F): row p = calendar of step p+1
    steps = []
    for k in range(horizon):
        y = model.sample(params, generator)  # (N*B,)
        steps.append(y)
        if k == horizon - 1:
            break
        rows = [o + k for o in origins]
        if max(rows) >= len(calendar):
            raise DataError(f"series {features.name!r}: no calendar past its end")
        cal = calendar[rows].to(y.device).repeat(N, 1)  # (N*B, F)
        x = torch.cat([y.unsqueeze(-1), cal], dim=-1).unsqueeze(1)  # (N*B, 1, D)
        out, state = model(x, state)
        params = out[:, 0, 0]  # (N*B, P)
    return torch.stack(steps, dim=-1).view(N, B, horizon)  # (N, B, H)


def history_artifact(series: tuple[Series, ...], keep: int) -> dict[str, Any]:
    """The last ``keep`` points of each series, kept in the run so `rnnkit forecast RUN`
    works from the run folder alone."""
    out = {}
    for s in series:
        times = None if s.times is None else [str(t) for t in s.times[-keep:]]
        out[s.name] = {
            "target": s.target[-keep:].tolist(),
            "covariates": s.covariates[-keep:].tolist(),
            "times": times,
            "length": len(s.target),
        }
    return out


def series_from_history(history: dict[str, Any]) -> list[Series]:
    series = []
    for name, h in history.items():
        target = np.asarray(h["target"], dtype=np.float64)
        covariates = np.asarray(h["covariates"], dtype=np.float64).reshape(len(target), -1)
        times = None if h["times"] is None else np.asarray(h["times"], dtype="datetime64[ns]")
        series.append(Series(name, target, covariates, times))
    return series


def forecast_future(
    run, raw=None, horizon: int | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """Each series' forecast for the ``horizon`` steps after its last point (default the
    run's horizon), from ``raw`` (a `SeriesSet`) or the history kept in the run. One
    record per series: its name, the forecast's times (or step numbers), mean and
    interval bounds, and the series' last points for a plot."""
    from rnnkit.tasks.forecast_data import future_times

    config = run.spec.data
    horizon = config.horizon if horizon is None else horizon
    info = run.artifacts["series"]
    check_horizon(run.model, horizon, len(info["covariates"]))
    series = list(raw.series) if raw is not None else series_from_history(run.artifacts["history"])
    records = []
    for s in series:
        n = len(s.target)
        features = features_for(run, s, horizon, 0)
        (forecast,) = forecast_origins(
            run.model, features, [n], horizon, config.input_len, config.samples, seed
        )
        times = None if s.times is None else future_times(s.times, info["freq"], horizon)
        offset = run.artifacts["history"].get(s.name, {}).get("length", n) if raw is None else n
        records.append(
            {
                "series": s.name,
                "history": s,
                "first_step": offset,
                "times": times,
                "forecast": forecast,
            }
        )
    return records
