"""The forecasting task end to end: windows, scaling, learning, intervals, resume, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from kill_helpers import crash_at_step, same_weights

from rnnkit.cli.main import main
from rnnkit.data.timeseries import Series, SeriesSet
from rnnkit.models.forecaster import Forecaster, ForecasterConfig
from rnnkit.runs import get_task, load_run, resume_run, train_run
from rnnkit.tasks.forecast_data import ForecastData, ForecastTask, series_features, window

NO_SCALING = {"difference": False, "mean": 0.0, "std": 1.0, "cov_mean": [], "cov_std": []}
QUIET = {"progress": False}


def one_series(values, name="y", times=None) -> SeriesSet:
    values = np.asarray(values, dtype=np.float64)
    series = Series(name, values, np.zeros((len(values), 0)), times)
    return SeriesSet((series,), name, (), None)


def write_csv(path, values, header="t,y"):
    rows = "".join(f"{i},{float(v)!r}\n" for i, v in enumerate(values))
    path.write_text(f"{header}\n{rows}", encoding="utf-8")
    return path


def test_windows_and_shifted_targets_on_a_hand_checked_series():
    features = series_features(
        one_series(np.arange(10.0)).series[0], NO_SCALING, {"kind": "none"}, None
    )
    x, y = window(features, start=2, input_len=3, out_steps=2)
    assert x[:, 0].tolist() == [2.0, 3.0, 4.0]  # the values read at steps 2, 3, 4
    assert y.tolist() == [[3.0, 4.0], [4.0, 5.0], [5.0, 6.0]]  # each step's next two values


def test_the_calendar_at_step_t_is_that_of_the_step_forecast():
    calendar = {"kind": "season", "season": 4}
    features = series_features(one_series(np.zeros(6)).series[0], NO_SCALING, calendar, None, 2)
    phase = 2 * np.pi * (np.arange(1, 7) % 4) / 4  # steps 1..6, forecast from steps 0..5
    assert np.allclose(features.inputs[:, 1].numpy(), np.sin(phase), atol=1e-6)
    assert np.allclose(features.inputs[:, 2].numpy(), np.cos(phase), atol=1e-6)
    assert features.calendar.shape == (8, 2)  # two more for a roll-out past the end


def test_scaling_and_training_never_see_validation_or_test_points():
    values = np.r_[np.linspace(0, 1, 60), np.full(40, 1e6)]  # the last 40 are poison
    data = ForecastData(horizon=4, input_len=8, val_size=20, test_size=20)
    plugin = get_task("forecast")
    prepared = plugin.prepare(one_series(values), data, None)
    scaler = prepared.artifacts["scaler"]["y"]
    train = np.linspace(0, 1, 60)
    assert scaler["mean"] == pytest.approx(train.mean()) and scaler["std"] == pytest.approx(
        train.std()
    )
    features, n_train, n_val = prepared.data
    assert (n_train, n_val) == ([60], [20])
    model = Forecaster(ForecasterConfig(input_size=1, forecast_steps=4))
    task = ForecastTask(model, features, n_train, n_val, data, 4, seed=0)
    last_target = max(s + 8 + 4 - 1 for _, s in task.starts)  # the last value a window reads
    assert last_target == 59
    assert min(o for _, o in task.val_origins) == 60
    assert max(o + 4 for _, o in task.val_origins) == 80  # validation ends where the test begins


def sine(n, period=25, phase=0.0):
    return np.sin(2 * np.pi * np.arange(n) / period + phase)


@pytest.fixture(scope="module")
def sine_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sine")
    source = write_csv(folder / "sine.csv", sine(300))
    run_dir = folder / "run"
    code = main(
        ["train", "forecast", str(source), "--target", "y", "--time-col", "t", "--horizon", "5",
         "--steps", "400", "--lr", "0.01", "--hidden", "32", "--no-progress", "--out", str(run_dir)]
    )  # fmt: skip
    assert code == 0
    return source, run_dir


def test_a_tiny_model_learns_a_sine_wave(sine_run, capsys):
    source, run_dir = sine_run
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), str(source), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    ours, naive = figures["methods"]["rnnkit"], figures["methods"]["naive"]
    assert figures["folds"] == 26  # test 30 points, 5 steps each: origins 270..295
    assert ours["mae"] < 0.05 and ours["mae"] < naive["mae"] / 5
    assert json.loads((run_dir / "test.json").read_text())["methods"]["rnnkit"] == ours


def test_forecast_command_writes_csv_plot_and_json(sine_run, tmp_path, capsys):
    _, run_dir = sine_run
    capsys.readouterr()
    csv_path, png = tmp_path / "f.csv", tmp_path / "f.png"
    assert (
        main(["forecast", str(run_dir), "--csv", str(csv_path), "--plot", str(png), "--json"]) == 0
    )
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record["times"] == [300, 301, 302, 303, 304]
    assert np.allclose(record["mean"], sine(305)[300:], atol=0.15)
    bounds = zip(record["lower_80"], record["mean"], record["upper_80"], strict=True)
    assert all(lo <= m <= hi for lo, m, hi in bounds)
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("series,time,step,mean") and len(rows) == 6
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The same seed gives the same forecast; the run folder alone is enough.
    assert main(["forecast", str(run_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == record


def test_a_longer_horizon_than_trained_is_a_one_line_error(sine_run, tmp_path, capsys):
    _, run_dir = sine_run
    assert main(["forecast", str(run_dir), "--horizon", "9", "--csv", str(tmp_path / "f.csv")]) == 2
    err = capsys.readouterr().err
    assert "--horizon" in err and "at most 5" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "f.csv").exists()


def test_predict_forecasts_a_typed_history(sine_run, capsys):
    _, run_dir = sine_run
    history = ", ".join(f"{v:.6f}" for v in sine(40, phase=0.3))
    assert main(["predict", str(run_dir), history, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert np.allclose(record["mean"], sine(45, phase=0.3)[40:], atol=0.15)


def test_step_head_rolls_out_and_matches_a_plain_loop():
    """The roll-out of a point step model equals feeding each forecast back by hand."""
    torch.manual_seed(0)
    model = Forecaster(
        ForecasterConfig(input_size=1, forecast_steps=1, head="step", distribution="point")
    )
    from rnnkit.tasks.forecast_predict import forecast_origins

    values = sine(50)
    features = series_features(one_series(values).series[0], NO_SCALING, {"kind": "none"}, None, 4)
    (forecast,) = forecast_origins(model, features, [30], 4, input_len=10, samples=10, seed=0)
    history = list(values[20:30])
    with torch.no_grad():
        for _ in range(4):
            params, _ = model(torch.tensor(history, dtype=torch.float32).view(1, -1, 1))
            history.append(float(params[0, -1, 0, 0, 0]))
    assert np.allclose(forecast.mean, history[10:], atol=1e-5)


@pytest.mark.parametrize("distribution", ["gaussian", "student_t"])
def test_intervals_cover_their_nominal_share_on_known_noise(tmp_path, distribution):
    """White noise N(5, 2^2): a model that learns it must cover 80% and 95% of new draws."""
    values = 5 + 2 * np.random.default_rng(1).standard_normal(2000)
    outcome = train_run(
        "forecast", tmp_path / "run", raw=one_series(values),
        data={"horizon": 1, "input_len": 10, "test_size": 600, "val_size": 200},
        model={"hidden_size": 8, "distribution": distribution},
        train={"max_steps": 300, "lr": 0.01, "eval_every": 100, **QUIET},
    )  # fmt: skip
    scores = load_run(outcome.run_dir).evaluate(raw=one_series(values))["methods"]["rnnkit"]
    assert abs(scores["coverage_80"] - 0.80) < 0.05
    assert abs(scores["coverage_95"] - 0.95) < 0.03


def test_student_t_draws_follow_the_t_distribution():
    model = Forecaster(ForecasterConfig(distribution="student_t"))
    # Raw parameters giving mean 1, scale 2, df 5: softplus^-1(2 - 1e-4), softplus^-1(3).
    raw = torch.tensor([1.0, float(np.log(np.expm1(2 - 1e-4))), float(np.log(np.expm1(3.0)))])
    draws = model.sample(raw.expand(200_000, 1, 3), torch.Generator().manual_seed(0)).numpy()
    z = (draws - 1) / 2
    # t with 5 degrees of freedom: P(T <= 1.4759) = 0.90, P(T <= 2.5706) = 0.975.
    assert np.mean(z <= 1.4759) == pytest.approx(0.90, abs=0.004)
    assert np.mean(z <= 2.5706) == pytest.approx(0.975, abs=0.002)


def test_gaussian_loss_is_the_normal_negative_log_likelihood():
    model = Forecaster(ForecasterConfig(distribution="gaussian"))
    params = torch.randn(3, 4, 1, 1, 2)  # (B, T, S, K, P)
    target = torch.randn(3, 4, 1)
    scale = torch.nn.functional.softplus(params[..., 0, 1]) + 1e-4
    expected = -torch.distributions.Normal(params[..., 0, 0], scale).log_prob(target).mean()
    assert float(model.loss(params, target)) == pytest.approx(float(expected), rel=1e-5)


def test_a_crashed_run_resumes_to_the_same_weights(tmp_path):
    values = sine(200) + 0.1 * np.random.default_rng(2).standard_normal(200)
    settings = {
        "data": {"horizon": 3, "input_len": 12},
        "model": {"hidden_size": 8, "num_layers": 2, "dropout": 0.2},  # the RNG must resume
        "train": {"max_steps": 60, "checkpoint_every": 20, "eval_every": 20, **QUIET},
    }
    train_run("forecast", tmp_path / "whole", raw=one_series(values), **settings)

    with crash_at_step(45), pytest.raises(RuntimeError, match="simulated crash"):
        train_run("forecast", tmp_path / "part", raw=one_series(values), **settings)  # ckpt 40
    assert resume_run(tmp_path / "part", raw=one_series(values)).result.steps == 60
    for name in ("last.safetensors", "best.safetensors"):
        assert not same_weights(tmp_path / "whole" / name, tmp_path / "part" / name)


@pytest.mark.parametrize(
    ("values", "extra", "message"),
    [
        (sine(100), ["--horizon", "0"], "--horizon"),
        (sine(100), [], "--horizon"),
        (sine(30), ["--horizon", "5"], "--input-len"),
        (sine(100), ["--horizon", "3", "--target", "nope"], "nope"),
        (sine(100), ["--horizon", "3", "--covariates", "nope"], "nope"),
        (sine(100), ["--horizon", "3", "--input-len", "0"], "--input-len"),
        (sine(100), ["--horizon", "3", "--test-size", "2"], "--test-size"),
        (sine(100), ["--horizon", "3", "--val-size", "2"], "--val-size"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, values, extra, message):
    source = write_csv(tmp_path / "data.csv", values)
    run_dir = tmp_path / "run"
    args = ["train", "forecast", str(source), "--target", "y", "--time-col", "t"]
    code = main([*args, "--out", str(run_dir), "--steps", "5", "--no-progress", *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not run_dir.exists()


def test_step_head_with_past_covariates_is_refused_for_several_steps(tmp_path, capsys):
    rows = "".join(f"{i},{np.sin(i / 4):.6f},{np.cos(i / 4):.6f}\n" for i in range(100))
    (tmp_path / "data.csv").write_text("t,y,u\n" + rows)
    args = ["train", "forecast", str(tmp_path / "data.csv"), "--target", "y", "--time-col", "t"]
    args += ["--covariates", "u", "--head", "step", "--out", str(tmp_path / "run")]
    assert main([*args, "--horizon", "3", "--steps", "5", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--head step" in err and "--covariates" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
    assert main([*args, "--horizon", "1", "--steps", "5", "--no-progress"]) == 0  # one step: fine


def test_bad_files_are_one_line_errors(tmp_path, capsys):
    cases = {
        "text.csv": "t,y\n0,1\n1,abc\n2,3\n",
        "unsorted.csv": "date,y\n2020-01-02,1\n2020-01-01,2\n2020-01-03,3\n",
        "gap.csv": "t,y\n0,1\n1,\n2,3\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        code = main(["train", "forecast", str(tmp_path / name), "--target", "y", "--horizon", "1",
                     "--out", str(tmp_path / "run"), "--no-progress"])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2 and name in err and len(err.strip().splitlines()) == 1, (name, err)
        assert not (tmp_path / "run").exists()


def test_several_series_in_one_file_share_one_model_with_their_own_scaling(tmp_path, capsys):
    rows = [f"a,{i},{np.sin(2 * np.pi * i / 20):.6f}" for i in range(160)]
    rows += [f"b,{i},{10 + 3 * np.sin(2 * np.pi * i / 20):.6f}" for i in range(160)]
    (tmp_path / "two.csv").write_text("id,t,y\n" + "\n".join(rows) + "\n")
    run_dir = tmp_path / "run"
    args = ["train", "forecast", str(tmp_path / "two.csv"), "--id-col", "id", "--time-col", "t"]
    args += ["--horizon", "4", "--steps", "300", "--lr", "0.01", "--hidden", "16"]
    assert main([*args, "--no-progress", "--out", str(run_dir)]) == 0
    scalers = json.loads((run_dir / "scaler.json").read_text())
    assert scalers["a"]["mean"] == pytest.approx(0.0, abs=0.05)
    assert scalers["b"]["mean"] == pytest.approx(10.0, abs=0.15)
    capsys.readouterr()
    assert main(["forecast", str(run_dir), "--json"]) == 0
    a, b = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert (a["series"], b["series"]) == ("a", "b") and a["times"] == [160, 161, 162, 163]
    expected = np.sin(2 * np.pi * np.arange(160, 164) / 20)
    assert np.allclose(a["mean"], expected, atol=0.2)
    assert np.allclose(b["mean"], 10 + 3 * expected, atol=0.6)


def test_a_named_series_trains_by_dataset_flag(tmp_path, capsys):
    pytest.importorskip("statsmodels")
    run_dir = tmp_path / "run"
    args = ["train", "forecast", "--dataset", "nile", "--horizon", "2", "--steps", "3"]
    assert main([*args, "--no-progress", "--out", str(run_dir), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["test"]["series"] == 1 and record["test"]["horizon"] == 2
    assert json.loads((run_dir / "config.json").read_text())["data_source"] == "nile"
    assert main(["train", "forecast", "nile", "--dataset", "nile", "--horizon", "2"]) == 2
    assert "not both" in capsys.readouterr().err


def test_differences_turn_back_into_values_by_hand():
    scaler = {"difference": True, "mean": 0.5, "std": 2.0, "cov_mean": [], "cov_std": []}
    series = one_series([1.0, 2.0, 4.0, 7.0]).series[0]
    features = series_features(series, scaler, {"kind": "none"}, None)
    # Changes 1, 2, 3 scaled: (1 - 0.5) / 2 = 0.25, 0.75, 1.25; the first step's is 0.
    assert features.target.tolist() == [0.0, 0.25, 0.75, 1.25]
    # From origin 4 (after the value 7), a roll-out's one-step changes 2*0.25+0.5 = 1
    # and 2*1.25+0.5 = 3; the direct head's are summed: 2*1.5+0.5*2 = 4 after two steps.
    assert features.values(np.array([[0.25, 1.25]]), [4], False).tolist() == [[8.0, 11.0]]
    assert features.values(np.array([[0.25, 1.5]]), [4], True).tolist() == [[8.0, 11.0]]
    # The direct head's targets: summed changes, from step 0 (0.25, 0.25+0.75) and 1.
    _, y = window(features, 0, input_len=2, out_steps=2)
    assert y.tolist() == [[0.25, 1.0], [0.75, 2.0]]


def test_differencing_extrapolates_a_trend_the_level_model_cannot(tmp_path):
    t = np.arange(300)
    values = 0.05 * t + np.sin(2 * np.pi * t / 12)  # test part far above the training range
    maes = {}
    for difference in (False, True):
        outcome = train_run(
            "forecast", tmp_path / f"run-{difference}", raw=one_series(values),
            data={"horizon": 6, "input_len": 24, "difference": difference, "season": 12},
            model={"hidden_size": 16, "distribution": "point"},
            train={"max_steps": 300, "lr": 0.01, "eval_every": 50, **QUIET},
        )  # fmt: skip
        figures = load_run(outcome.run_dir).evaluate(raw=one_series(values))
        maes[difference] = figures["methods"]["rnnkit"]["mae"]
    assert maes[True] < 0.2 and maes[True] < maes[False] / 3, maes


def test_an_ensemble_is_its_members_side_by_side_and_forecasts_their_mixture():
    torch.manual_seed(0)
    model = Forecaster(ForecasterConfig(input_size=1, forecast_steps=2, ensemble=3))
    x = torch.randn(4, 6, 1)
    params, state = model(x)
    assert params.shape == (4, 6, 2, 3, 2) and len(state) == 3
    for k, member in enumerate(model.members):
        alone, _ = member(x, None)
        assert torch.equal(params[..., k, :], alone)
    assert not torch.equal(params[..., 0, :], params[..., 1, :])  # initialised apart
    assert torch.allclose(model.point(params), params[..., 0].mean(-1))
    # The mixture's draws: each comes from one member, so the spread covers all members.
    far = torch.zeros(1, 3, 2)
    far[0, :, 0] = torch.tensor([-10.0, 0.0, 10.0])  # three far-apart means, scale ~0.7
    draws = model.sample(far.expand(30_000, 3, 2), torch.Generator().manual_seed(0))
    shares = [
        (draws < -5).float().mean(),
        (draws.abs() < 5).float().mean(),
        (draws > 5).float().mean(),
    ]
    assert all(abs(float(s) - 1 / 3) < 0.02 for s in shares)


def test_forecast_from_the_end_of_newer_data(sine_run, tmp_path, capsys):
    _, run_dir = sine_run
    newer = write_csv(tmp_path / "newer.csv", sine(330))
    capsys.readouterr()
    assert main(["forecast", str(run_dir), "--data", str(newer), "--horizon", "3", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["times"] == [330, 331, 332]
    assert np.allclose(record["mean"], sine(333)[330:], atol=0.15)


def test_uneven_time_steps_are_one_warning_line(tmp_path, capsys):
    days = np.arange("2020-01-01", "2020-04-10", dtype="datetime64[D]")
    values = np.sin(np.arange(len(days)) / 3)
    even = "date,y\n" + "".join(f"{d},{v:.4f}\n" for d, v in zip(days, values, strict=True))
    kept = np.r_[0:40, 70 : len(days)]  # 30 days of rows missing after 2020-02-09
    gap = "date,y\n" + "".join(f"{days[i]},{values[i]:.4f}\n" for i in kept)
    flags = ["--horizon", "3", "--input-len", "8", "--hidden", "8", "--steps", "2"]
    for name, text in (("even.csv", even), ("gap.csv", gap)):
        (tmp_path / name).write_text(text)
        out = tmp_path / f"run-{name}"
        args = ["train", "forecast", str(tmp_path / name), "--out", str(out), "--no-progress"]
        assert main([*args, *flags]) == 0
        warned = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
        if name == "even.csv":
            assert warned == []
        else:
            assert len(warned) == 1 and warned[0].startswith("rnnkit: warning: series 'y'")
            assert "from 2020-02-09 to 2020-03-11" in warned[0] and "--season" in warned[0]
