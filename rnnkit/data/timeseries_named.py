"""The named series shipped with statsmodels (`rnnkit.data.timeseries.DATASETS`) as tables."""

from __future__ import annotations

import importlib

import numpy as np

from rnnkit.data.timeseries_table import INSTALL, Table, import_pandas
from rnnkit.errors import DataError


def named_table(name: str) -> tuple[Table, str]:
    """A named statsmodels series as a table with a datetime column "date"."""
    pd = import_pandas()
    try:
        module = importlib.import_module(f"statsmodels.datasets.{name}")
    except ImportError:
        raise DataError(f"the named series come from statsmodels: {INSTALL}") from None
    data = module.load_pandas().data
    if name == "co2":
        frame, default = data.reset_index(names="date"), "co2"
    elif name == "elnino":
        months = data.columns[1:]  # JAN..DEC beside YEAR
        years = data["YEAR"].to_numpy().astype(int).repeat(len(months))
        frame = pd.DataFrame(
            {
                "date": pd.to_datetime(
                    {"year": years, "month": np.tile(np.arange(1, 13), len(data)), "day": 1}
                ),
                "temperature": data[months].to_numpy().reshape(-1),  # row by row: time order
            }
        )
        default = "temperature"
    elif name == "macrodata":
        month = (data["quarter"].astype(int) - 1) * 3 + 1
        date = pd.to_datetime({"year": data["year"].astype(int), "month": month, "day": 1})
        frame, default = data.drop(columns=["year", "quarter"]).assign(date=date), "realgdp"
    else:  # sunspots, nile: a year column and one value column
        year = data.columns[0]
        frame = data.drop(columns=[year]).assign(
            date=pd.to_datetime({"year": data[year].astype(int), "month": 1, "day": 1})
        )
        default = str(data.columns[1])
    frame["date"] = frame["date"].astype("datetime64[ns]")
    columns = {str(c): frame[c].to_numpy() for c in frame.columns}
    return Table(f"series {name!r}", columns, "row"), default
