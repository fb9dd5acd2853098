"""Time series for forecasting: a table file, or a real series shipped with statsmodels.

One loader, `load_series`, for every source, returning a `SeriesSet`::

    sales.csv / .tsv / .txt / .parquet / .json / .jsonl   load_series(path, target="units")
    several series in one file, one per id                load_series(path, id_col="store")
    a named series (``DATASETS``)                          load_series("sunspots")

A table has a header naming its columns; each data row is one time step of one series.
Roles: the *target* (the values to forecast), an optional *time* column, an optional *id*
column (one series per id value, in order of first appearance, rows in file order) and
*covariates* (other numeric columns observed up to the present). Every problem the input
can cause is one `DataError` line naming the file, the row ("line 7" of a text or JSON
Lines file, the 1-based "row 7" of a Parquet file or named series) and the fix, with the
command-line flags the user types (``--target``, ``--time-col``, ``--id-col``,
``--covariates``, ``--interpolate``, ``--encoding``).

This module holds the data model and the loader; the file formats and column parsing live
in `rnnkit.data.timeseries_table`, the named series in `rnnkit.data.timeseries_named`.
pandas (and pyarrow for Parquet, statsmodels for the named series) are imported only when
needed; they come with ``pip install 'rnnkit[forecast]'``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.data.decoding import check_encoding
from rnnkit.data.timeseries_named import named_table
from rnnkit.data.timeseries_table import (
    FILE_SUFFIXES,
    Table,
    check_order,
    fill_gaps,
    import_pandas,
    number_column,
    read_file,
    resolve_columns,
    show_time,
    time_column,
)
from rnnkit.errors import DataError

__all__ = ["DATASETS", "Series", "SeriesSet", "load_series", "season_from_freq"]

PathLike = str | os.PathLike[str]

DATASETS = {
    "sunspots": "yearly sunspot activity (SUNACTIVITY), 1700-2008, 309 points",
    "co2": "weekly Mauna Loa CO2 in ppm, 1958-2001, 2284 points with gaps (needs --interpolate)",
    "nile": "yearly volume of the Nile at Aswan, 1871-1970, 100 points",
    "elnino": "monthly Pacific sea surface temperature, 1950-2010, 732 points",
    "macrodata": "quarterly US macroeconomics, 1959-2009, 203 points (target realgdp or any column)",
}

_DIGEST_VERSION = 1


@dataclass(frozen=True)
class Series:
    """One series: its id, target values, past-only covariate values, timestamps.

    ``target`` is float64 (T,), ``covariates`` float64 (T, C) (C may be 0), ``times``
    datetime64[ns] (T,) or None when the data has no time column. Treat the arrays as
    read-only: a `SeriesSet` digest describes them as loaded.
    """

    name: str
    target: np.ndarray
    covariates: np.ndarray
    times: np.ndarray | None

    def __post_init__(self) -> None:
        t = len(self.target)
        if self.target.ndim != 1 or self.covariates.ndim != 2 or len(self.covariates) != t:
            raise DataError(
                f"series {self.name!r}: target must be (T,) and covariates (T, C), got "
                f"{self.target.shape} and {self.covariates.shape}"
            )
        if self.times is not None and self.times.shape != (t,):
            raise DataError(
                f"series {self.name!r}: times must be (T,) = ({t},), got {self.times.shape}"
            )


@dataclass(frozen=True)
class SeriesSet:
    """The series of one source, sharing the target, covariate names and frequency.

    ``freq`` is the pandas offset alias of the first series with at least 3 timestamps
    (``pd.infer_freq``: "YS-JAN", "W-SAT", "MS", "QS-OCT", ...), None without times or
    when they are irregular.
    """

    series: tuple[Series, ...]
    target_name: str
    covariate_names: tuple[str, ...]
    freq: str | None

    def __len__(self) -> int:
        return len(self.series)

    def total_points(self) -> int:
        return sum(len(s.target) for s in self.series)

    def digest(self) -> str:
        """Hex SHA-256 of the content: equal names, values, times and freq, equal digest."""
        h = hashlib.sha256()

        def put(raw: bytes) -> None:
            h.update(struct.pack("<Q", len(raw)))  # length-prefixed: no two splits collide
            h.update(raw)

        put(f"rnnkit.SeriesSet v{_DIGEST_VERSION}".encode())
        put(self.target_name.encode())
        put(json.dumps(list(self.covariate_names)).encode())
        put(b"\x00" if self.freq is None else b"\x01" + self.freq.encode())
        for s in self.series:
            put(s.name.encode())
            put(np.ascontiguousarray(s.target, dtype="<f8").tobytes())
            put(struct.pack("<Q", s.covariates.shape[1]))
            put(np.ascontiguousarray(s.covariates, dtype="<f8").tobytes())
            if s.times is None:
                put(b"\x00")
            else:
                ns = s.times.astype("datetime64[ns]").astype("<i8")
                put(b"\x01" + np.ascontiguousarray(ns).tobytes())
        return h.hexdigest()


# ---- seasons ---------------------------------------------------------------------------------
# Steps per seasonal cycle of each pandas frequency base (anchors such as "-SAT" dropped).
# Years have no season; sub-daily steps take the day as their cycle (see `season_from_freq`).
_SEASONS: dict[str, int | None] = {
    **dict.fromkeys(("Y", "YS", "YE", "A", "AS", "BY", "BYS", "BYE", "BA", "BAS"), None),
    **dict.fromkeys(("Q", "QS", "QE", "BQ", "BQS", "BQE"), 4),
    **dict.fromkeys(("M", "MS", "ME", "BM", "BMS", "BME", "CBMS", "CBME", "CBM"), 12),
    **dict.fromkeys(("SM", "SMS", "SME"), 24),
    "W": 52,
    "D": 7,
    **dict.fromkeys(("B", "C"), 5),
}
_MINUTES = {"h": 60, "H": 60, "min": 1, "T": 1}
_FREQ = re.compile(r"^(\d*)([A-Za-z]+)(?:-[A-Za-z]+)?$")


def season_from_freq(freq: str | None) -> int | None:
    """The seasonal period a pandas frequency implies, or None (none, or unknown).

    Yearly None, quarterly 4, monthly 12, semi-monthly 24, weekly 52, daily 7, business
    daily 5. Sub-daily steps of half an hour or more that divide a day evenly cycle over
    the day (hourly 24, half-hourly 48); finer ones get None (a daily cycle of hundreds of
    steps is no useful season). A multiple divides the season when it can ("2h" 12, "3MS"
    4, "2W" 26), else None. Anchors are ignored: "W-SAT", "QS-OCT", "YS-JAN", "A-DEC".
    """
    if freq is None:
        return None
    match = _FREQ.match(freq.strip())
    if match is None:
        return None
    n = int(match.group(1) or 1)
    base = match.group(2)
    if base in _MINUTES:
        step = n * _MINUTES[base]
        return 1440 // step if step >= 30 and 1440 % step == 0 and step < 1440 else None
    season = _SEASONS.get(base)
    if season is None or season % n or season // n < 2:
        return None
    return season // n


def load_series(
    source: PathLike,
    *,
    target: str | None = None,
    time_col: str | None = None,
    id_col: str | None = None,
    covariates: tuple[str, ...] = (),
    interpolate: bool = False,
    encoding: str = "utf-8",
) -> SeriesSet:
    """The series of a table file, or of a named statsmodels series (`DATASETS`).

    Args:
        source: a ``.csv``, ``.tsv``, ``.txt`` (delimiter sniffed among comma, tab and
            semicolon; also any other extension), ``.parquet``, ``.json`` (JSON Lines, or
            one array of records) or ``.jsonl`` file; or, when no such file exists, a name
            in `DATASETS`.
        target: the column to forecast. Default: the only numeric column that has no other
            role (for a named series, its own column).
        time_col: the time column. Default: the one column named date, time, timestamp,
            ds, datetime, year or period (any case), if exactly one is. Text is parsed by
            pandas (ISO 8601 first; offsets are converted to UTC); a "year" column of whole
            numbers in 1678-2261 (the span of datetime64[ns]) becomes each year's 1 January;
            other numeric columns are step numbers that order the rows but give no
            timestamps (``times`` None).
        id_col: a column splitting the rows into several series, one per value.
        covariates: further numeric columns observed alongside the target.
        interpolate: fill missing values (empty cells, NA, NaN) linearly in time, the ends
            with the nearest value; by default a missing value is an error.
        encoding: the text encoding of text and JSON files.

    Raises:
        DataError: the source is missing, empty, binary, undecodable or header-only; a
            column is unknown or ambiguous; a value is not a number, infinite or (without
            ``interpolate``) missing; a time is unparseable, out of order or repeated; a
            series has fewer than 2 points.
        ConfigError: ``encoding`` is not a known codec.
    """
    check_encoding("load_series", encoding, "strict")
    if isinstance(covariates, str):
        covariates = (covariates,)
    covariates = tuple(covariates)
    path = Path(source)
    name = str(source).strip().lower()
    if path.exists():
        table = read_file(path, encoding)
    elif name in DATASETS:
        for flag, given in (("--time-col", time_col), ("--id-col", id_col)):
            if given is not None:
                raise DataError(
                    f"the named series {name!r} has its own times and one series; drop {flag}"
                )
        table, default = named_table(name)
        time_col, target = "date", target if target is not None else default
    elif path.suffix.lower() in FILE_SUFFIXES:
        raise DataError(f"{str(source)!r} does not exist; pass an existing file")
    else:
        raise DataError(
            f"{str(source)!r} is not a file or a known series ({', '.join(DATASETS)}); pass "
            "a table file (.csv, .tsv, .txt, .parquet, .json, .jsonl) or one of those names"
        )
    return _assemble(table, target, time_col, id_col, covariates, interpolate)


# ---- columns to series --------------------------------------------------------------------
def _assemble(
    table: Table,
    target: str | None,
    time_col: str | None,
    id_col: str | None,
    covariates: tuple[str, ...],
    interpolate: bool,
) -> SeriesSet:
    if len(table) == 0:
        raise DataError(f"{table.where} holds no data rows; add rows below the header")
    target, time_col = resolve_columns(table, target, time_col, id_col, covariates)
    columns = [(target, "target", number_column(table, target, "target"))]
    columns += [(c, "covariate", number_column(table, c, "covariate")) for c in covariates]
    times, keys = time_column(table, time_col) if time_col is not None else (None, None)
    if keys is None:
        keys = np.arange(len(table), dtype=np.float64)
    if not interpolate:
        for name, role, values in columns:
            gaps = np.flatnonzero(np.isnan(values))
            if len(gaps):
                at = _at(table, gaps[0], times)
                raise DataError(
                    f"{table.where} {at}: {role} {name!r} is missing; pass --interpolate to "
                    "fill gaps linearly, or fill it in"
                )
    values = np.stack([v for _, _, v in columns], axis=1)  # (N, 1 + C)
    series = []
    for name, rows in _groups(table, id_col, target):
        check_order(table, rows, keys, time_col, id_col)
        part = values[rows]
        if interpolate:
            part = fill_gaps(table, name, part, columns, keys[rows], times is not None)
        if len(rows) < 2:
            raise DataError(
                f"{table.where}: series {name!r} has {len(rows)} point; a series needs at "
                "least 2, so add rows or drop it"
            )
        series_times = times[rows] if times is not None else None
        series.append(Series(name, part[:, 0].copy(), part[:, 1:].copy(), series_times))
    return SeriesSet(tuple(series), target, covariates, _infer_freq(series))


def _at(table: Table, i: int, times: np.ndarray | None) -> str:
    return table.row(i) if times is None else f"{table.row(i)} ({show_time(times[i])})"


def _groups(table: Table, id_col: str | None, target: str) -> list[tuple[str, np.ndarray]]:
    """(series name, row indexes in file order) per id value, in order of first appearance."""
    if id_col is None:
        return [(target, np.arange(len(table)))]
    raw = table.columns[id_col]
    missing = import_pandas().isna(raw) | np.array([str(v).strip() == "" for v in raw])
    if missing.any():
        raise DataError(
            f"{table.where} {table.row(int(np.argmax(missing)))} has no id in column "
            f"{id_col!r} (--id-col); fill it in or drop the row"
        )
    ids = [str(v).strip() for v in raw]
    rows: dict[str, list[int]] = {}
    for i, key in enumerate(ids):
        rows.setdefault(key, []).append(i)
    return [(key, np.asarray(index)) for key, index in rows.items()]


def _infer_freq(series: list[Series]) -> str | None:
    for s in series:
        if s.times is not None and len(s.times) >= 3:
            return import_pandas().infer_freq(import_pandas().DatetimeIndex(s.times))
    return None
