"""`rnnkit forecast RUN`: forecast past the end of the data, with a plot and a CSV."""

from __future__ import annotations

import argparse
import json

from rnnkit.cli.options import add_device_option, add_json_option, add_weights_option
from rnnkit.errors import ConfigError
from rnnkit.runs import load_run
from rnnkit.validate import check_int, check_output_path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("forecast", help="forecast with a trained forecasting run")
    p.add_argument(
        "run_dir", metavar="RUN", help="run directory written by `rnnkit train forecast`"
    )
    p.add_argument("--data", help="forecast from the end of this data (default: the run's own)")
    p.add_argument("--horizon", type=int, help="steps ahead (default: the run's --horizon)")
    p.add_argument("--plot", metavar="PNG", help="write the history, forecast and intervals here")
    p.add_argument("--csv", metavar="CSV", help="write the forecast here, one row per step")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample paths (default 0)")
    add_weights_option(p)
    add_device_option(p)
    add_json_option(p, "one JSON line per series")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.tasks.forecast_predict import forecast_future
    from rnnkit.tasks.forecast_report import forecast_record, plot_forecasts, write_forecast_csv
    from rnnkit.train.plots import require_matplotlib

    if args.horizon is not None:
        check_int("", "horizon", args.horizon, least=1)
    check_output_path(args.plot, "plot")
    check_output_path(args.csv, "csv")
    if args.plot:
        require_matplotlib("plot")
    run_ = load_run(args.run_dir, weights=args.weights, device=args.device)
    if run_.task != "forecast":
        raise ConfigError(
            f"{args.run_dir} is a {run_.task!r} run; rnnkit forecast needs a run of "
            "`rnnkit train forecast`"
        )
    raw = run_.read(args.data) if args.data else None
    records = forecast_future(run_, raw, args.horizon, seed=args.seed)
    if args.plot:
        plot_forecasts(args.plot, records, run_.artifacts["series"]["target"])
    if args.csv:
        write_forecast_csv(args.csv, records)
    for r in records:
        row = forecast_record(r["forecast"], r["times"], r["first_step"])
        if args.json:
            print(json.dumps({"series": r["series"], **row}))
            continue
        print(f"series {r['series']}:")
        has = row["lower_80"] is not None
        for k, (time, mean) in enumerate(zip(row["times"], row["mean"], strict=True)):
            band = (
                f"  80% [{row['lower_80'][k]:.4g}, {row['upper_80'][k]:.4g}]"
                f"  95% [{row['lower_95'][k]:.4g}, {row['upper_95'][k]:.4g}]"
                if has
                else ""
            )
            print(f"  {time}  {mean:.4g}{band}")
    return 0
