"""Forecast evaluation math against numbers worked out by hand, simulated coverage and
a backtest that must never leak the future."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.errors import DataError
from rnnkit.tasks.forecast_eval import (
    LEVELS,
    Forecast,
    Scores,
    backtest,
    backtest_origins,
    baseline_methods,
    drift_forecast,
    intervals_from_samples,
    mase_scale,
    naive_forecast,
    normal_interval,
    seasonal_naive_forecast,
)

# Phi^-1(0.9) and Phi^-1(0.975), from tables, not from NormalDist.
Z = {0.8: 1.2815515655446004, 0.95: 1.959963984540054}

# The hand-worked series, y_1..y_6.
Y = np.array([1.0, 3.0, 2.0, 5.0, 4.0, 6.0])


def assert_normal_bounds(forecast, mean, sd):
    np.testing.assert_allclose(forecast.mean, mean, rtol=1e-12)
    for level in LEVELS:
        np.testing.assert_allclose(forecast.lower[level], np.array(mean) - Z[level] * np.array(sd))
        np.testing.assert_allclose(forecast.upper[level], np.array(mean) + Z[level] * np.array(sd))


# --- backtest origins -----------------------------------------------------------------------


def test_origins_cover_the_test_part():
    assert backtest_origins(10, 4, 2) == [6, 7, 8]
    assert backtest_origins(10, 4, 2, stride=2) == [6, 8]
    assert backtest_origins(10, 3, 3) == [7]


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        ((10, 1, 2, 1), "--test-size"),  # test part shorter than a horizon
        ((10, 10, 2, 1), "--test-size"),  # nothing left to learn from
        ((10, 12, 2, 1), "--test-size"),
        ((10, 4, 0, 1), "--horizon"),
        ((10, 4, 2, 0), "--stride"),
    ],
)
def test_origins_refuse_bad_splits(args, flag):
    with pytest.raises(DataError, match=flag):
        backtest_origins(*args)


# --- backtest ------------------------------------------------------------------------------


def test_backtest_never_shows_the_future():
    values = np.cumsum(np.arange(1.0, 21.0))  # strictly increasing
    origins = backtest_origins(len(values), test_size=8, horizon=3)
    seen = []

    def recorder(history, horizon):
        seen.append(history)
        return naive_forecast(history, horizon)

    backtest(values, origins, 3, recorder, season=None)
    assert len(seen) == len(origins) == 6
    for history, o in zip(seen, origins, strict=True):
        np.testing.assert_array_equal(history, values[:o])
        # Increasing: every future value is above every past one.
        assert history.max() < values[o:].min()
        assert not np.isin(values[o:], history).any()
        # A view would hand the whole series over through .base.
        assert not np.shares_memory(history, values)


def test_backtest_scores_by_hand():
    values = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    # o=3: history 1,2,4 -> forecast 4, actual 7, |e| = 3; scale (1 + 2) / 2 = 1.5.
    # o=4: history 1,2,4,7 -> forecast 7, actual 11, |e| = 4; scale (1 + 2 + 3) / 3 = 2.
    result = backtest(values, [3, 4], 1, baseline_methods(None)["naive"], season=None)
    assert result["folds"] == 2 and result["points"] == 2
    assert result["mae"] == pytest.approx(3.5)
    assert result["rmse"] == pytest.approx(math.sqrt((9 + 16) / 2))
    assert result["mase"] == pytest.approx((3 / 1.5 + 4 / 2) / 2)


def test_backtest_refuses_a_fold_past_the_end():
    with pytest.raises(DataError, match="--horizon"):
        backtest(np.arange(10.0), [9], 2, naive_forecast, season=None)


# --- baselines -----------------------------------------------------------------------------


def test_naive_by_hand():
    # Differences 2, -1, 3, -1, 2; squares sum to 19 over 5 -> sigma^2 = 3.8.
    forecast = naive_forecast(Y, 3)
    sd = [math.sqrt(3.8 * 1), math.sqrt(3.8 * 2), math.sqrt(3.8 * 3)]
    assert_normal_bounds(forecast, [6.0, 6.0, 6.0], sd)


def test_seasonal_naive_by_hand_beyond_one_season():
    # m = 2, T = 6: the last season is y_5 = 4, y_6 = 6.
    # h=1,2: k=0 -> y_5, y_6; h=3,4: k=1 -> y_5, y_6; h=5: k=2 -> y_5.
    # Residuals y_t - y_{t-2}: 2-1, 5-3, 4-2, 6-5 = 1, 2, 2, 1; squares 10 / 4 = 2.5.
    forecast = seasonal_naive_forecast(Y, 5, season=2)
    sd = [math.sqrt(2.5 * 1)] * 2 + [math.sqrt(2.5 * 2)] * 2 + [math.sqrt(2.5 * 3)]
    assert_normal_bounds(forecast, [4.0, 6.0, 4.0, 6.0, 4.0], sd)


def test_seasonal_naive_without_a_season_is_naive():
    for season in (None, 1):
        forecast = seasonal_naive_forecast(Y, 3, season=season)
        np.testing.assert_array_equal(forecast.mean, naive_forecast(Y, 3).mean)
        np.testing.assert_array_equal(forecast.upper[0.95], naive_forecast(Y, 3).upper[0.95])


def test_drift_by_hand():
    # Slope (6 - 1) / 5 = 1 -> 7, 8, 9. Residuals (diff - 1): 1, -2, 2, -2, 1;
    # squares 14 over T - 2 = 4 -> sigma^2 = 3.5. sd_h^2 = 3.5 h (1 + h / 5):
    # 3.5 * 1.2 = 4.2, 3.5 * 2 * 1.4 = 9.8, 3.5 * 3 * 1.6 = 16.8.
    forecast = drift_forecast(Y, 3)
    assert_normal_bounds(forecast, [7.0, 8.0, 9.0], np.sqrt([4.2, 9.8, 16.8]))


def test_baselines_refuse_short_histories_and_bad_flags():
    with pytest.raises(DataError, match="--season"):
        seasonal_naive_forecast(Y[:3], 2, season=4)
    with pytest.raises(DataError, match="--season"):
        seasonal_naive_forecast(Y, 2, season=0)
    with pytest.raises(DataError, match="at least 3"):
        drift_forecast(Y[:2], 2)
    with pytest.raises(DataError, match="at least 2"):
        naive_forecast(Y[:1], 2)
    with pytest.raises(DataError, match="--horizon"):
        naive_forecast(Y, 0)
    with pytest.raises(DataError, match="NaN"):
        naive_forecast(np.array([1.0, np.nan, 2.0]), 1)


def test_baseline_methods_by_season():
    assert list(baseline_methods(None)) == ["naive", "drift"]
    assert list(baseline_methods(1)) == ["naive", "drift"]
    methods = baseline_methods(2)
    assert list(methods) == ["naive", "seasonal naive", "drift"]
    np.testing.assert_array_equal(methods["seasonal naive"](Y, 3).mean, [4.0, 6.0, 4.0])


def test_naive_intervals_cover_random_walks():
    # 10,000 walks: the 80% coverage of n walks has a standard error of 40 / sqrt(n)
    # points, 0.9 at 2,000 (a correct method misses by 2 points on some seeds), 0.4 here.
    rng = np.random.default_rng(0)
    walks, T, H = 10_000, 200, 5
    paths = np.cumsum(rng.normal(0, 1.5, size=(walks, T + H)), axis=1)
    inside = {level: np.zeros(H) for level in LEVELS}
    for path in paths:
        forecast = naive_forecast(path[:T], H)
        actual = path[T:]
        for level in LEVELS:
            inside[level] += (forecast.lower[level] <= actual) & (actual <= forecast.upper[level])
    for level in LEVELS:
        coverage = inside[level] / walks
        assert np.all(np.abs(coverage - level) <= 0.02), (level, coverage)


# --- intervals -----------------------------------------------------------------------------


def test_normal_interval_by_table():
    lower, upper = normal_interval(np.array([10.0, 0.0]), np.array([2.0, 1.0]), 0.95)
    np.testing.assert_allclose(lower, [10 - 2 * 1.959963984540054, -1.959963984540054])
    np.testing.assert_allclose(upper, [10 + 2 * 1.959963984540054, 1.959963984540054])


def test_intervals_from_samples_match_the_normal():
    rng = np.random.default_rng(1)
    mean = np.array([0.0, 5.0, -3.0])
    sd = np.array([1.0, 2.0, 0.5])
    samples = mean + sd * rng.standard_normal((40000, 3))  # (N, H)
    forecast = intervals_from_samples(samples)
    np.testing.assert_allclose(forecast.mean, mean, atol=0.03 * sd.max())
    for level in LEVELS:
        lower, upper = normal_interval(mean, sd, level)
        # The 97.5% quantile of 40k draws has a standard error near 0.014 sd.
        np.testing.assert_allclose(forecast.lower[level], lower, atol=0.05 * sd.max())
        np.testing.assert_allclose(forecast.upper[level], upper, atol=0.05 * sd.max())
        assert np.all(forecast.upper[level] - forecast.lower[level] > 0)


def test_intervals_from_samples_use_the_mean_not_the_median():
    samples = np.array([[0.0], [0.0], [9.0]])
    assert intervals_from_samples(samples).mean[0] == pytest.approx(3.0)


# --- metrics -------------------------------------------------------------------------------


def test_metrics_by_hand():
    actual = np.array([1.0, 2.0, 4.0])
    forecast = Forecast(
        mean=np.array([2.0, 2.0, 1.0]),
        lower={0.8: np.array([0.0, 2.0, 1.5]), 0.95: np.array([-1.0, 1.0, 0.0])},
        upper={0.8: np.array([2.0, 3.0, 3.5]), 0.95: np.array([3.0, 3.0, 6.0])},
    )
    scores = Scores()
    scores.add(actual, forecast, scale=2.0)
    result = scores.result()
    # |e| = 1, 0, 3.
    assert result["mae"] == pytest.approx(4 / 3)
    assert result["rmse"] == pytest.approx(math.sqrt(10 / 3))
    # 200 * 1/3, 200 * 0/4, 200 * 3/5 = 66.67, 0, 120.
    assert result["smape"] == pytest.approx((200 / 3 + 0 + 120) / 3)
    assert result["mase"] == pytest.approx((4 / 3) / 2)
    # 80%: 1 in [0, 2], 2 in [2, 3] (edge counts), 4 not in [1.5, 3.5]; widths 2, 1, 2.
    assert result["coverage_80"] == pytest.approx(2 / 3)
    assert result["width_80"] == pytest.approx(5 / 3)
    # 95%: all inside; widths 4, 2, 6.
    assert result["coverage_95"] == pytest.approx(1.0)
    assert result["width_95"] == pytest.approx(4.0)
    assert result["points"] == 3 and result["folds"] == 1


def test_mase_is_a_mean_over_folds_and_pooled_metrics_are_not():
    scores = Scores()
    scores.add(np.array([1.0, 2.0, 4.0]), Forecast(mean=np.array([2.0, 2.0, 1.0])), scale=2.0)
    scores.add(np.array([10.0]), Forecast(mean=np.array([13.0])), scale=1.0)
    result = scores.result()
    # Fold MAEs 4/3 and 3 over scales 2 and 1; pooled MAE (1 + 0 + 3 + 3) / 4.
    assert result["mase"] == pytest.approx((2 / 3 + 3) / 2)
    assert result["mae"] == pytest.approx(7 / 4)
    assert result["points"] == 4 and result["folds"] == 2
    for key in ("coverage_80", "width_80", "coverage_95", "width_95"):
        assert math.isnan(result[key])


def test_smape_counts_zero_over_zero_as_zero():
    scores = Scores()
    # 0/0 -> 0; 200 * 2 / (1 + 3) = 100.
    scores.add(np.array([0.0, 1.0]), Forecast(mean=np.array([0.0, 3.0])), scale=1.0)
    assert scores.result()["smape"] == pytest.approx(50.0)


def test_scores_refuse_mixed_intervals():
    scores = Scores()
    scores.add(np.array([1.0]), naive_forecast(Y, 1), scale=1.0)
    with pytest.raises(ValueError, match="intervals"):
        scores.add(np.array([1.0]), Forecast(mean=np.array([1.0])), scale=1.0)


def test_mase_scale_by_hand_and_fallbacks():
    # |y_t - y_{t-2}|: 1, 2, 2, 1 -> 1.5; |y_t - y_{t-1}|: 2, 1, 3, 1, 2 -> 1.8.
    assert mase_scale(Y, 2) == pytest.approx(1.5)
    assert mase_scale(Y, None) == pytest.approx(1.8)
    # Repeats every season: seasonal errors 0, so m = 1: |diff| = 2 throughout.
    assert mase_scale(np.array([1.0, 3.0, 1.0, 3.0, 1.0, 3.0]), 2) == pytest.approx(2.0)
    # Constant: 1.0, so MASE equals the MAE.
    assert mase_scale(np.full(5, 7.0), 2) == 1.0
    assert mase_scale(np.full(5, 7.0), None) == 1.0
    with pytest.raises(DataError, match="--season"):
        mase_scale(Y[:2], 2)
