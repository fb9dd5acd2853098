"""Time series tables: the file formats read into raw columns, and those columns parsed.

`read_file` turns a ``.csv``, ``.tsv``, ``.txt`` (delimiter sniffed), ``.parquet``,
``.json`` (JSON Lines or one array of records) or ``.jsonl`` file into a `Table` of raw
columns. The column helpers pick the target and time columns, parse numbers and times,
check the time order and fill gaps; `rnnkit.data.timeseries.load_series` puts them
together. Messages follow the conventions of `rnnkit.data.timeseries`.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.decoding import decode, read_bytes, sniff_wide
from rnnkit.errors import DataError

INSTALL = "pip install 'rnnkit[forecast]'"
_TEXT_FORMATS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}  # others are sniffed
# Extensions `read_file` knows by name; a missing file with one of them is reported as missing.
FILE_SUFFIXES = frozenset({*_TEXT_FORMATS, ".txt", ".parquet", ".json", ".jsonl"})
_DELIMITERS = ",\t;"
_TIME_NAMES = {"date", "time", "timestamp", "ds", "datetime", "year", "period"}
_MISSING = {"", "na", "n/a", "nan", "null", "none"}  # cell texts read as a missing value
_FLAGS = {"target": "--target", "time": "--time-col", "id": "--id-col", "covariate": "--covariates"}
# The span of datetime64[ns]; a "year" column outside it is read as step numbers.
_NS_YEARS = (1678, 2261)


# ---- reading ---------------------------------------------------------------------------------
@dataclass
class Table:
    """Raw columns of a source and how messages name it and its rows."""

    where: str  # "'data/sales.csv'" or "series 'co2'"
    columns: dict[str, np.ndarray]  # name -> values (object for text and JSON), equal lengths
    unit: str  # "line", "row" or "record"
    numbers: list[int] | None = None  # each row's line number; None: 1-based positions

    def row(self, i: int) -> str:
        return f"{self.unit} {self.numbers[i] if self.numbers is not None else i + 1}"

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


def import_pandas() -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise DataError(f"reading time series needs pandas: {INSTALL}") from None
    return pd


def read_file(path: Path, encoding: str) -> Table:
    where = repr(str(path))
    raw = read_bytes(path, "time series file")
    if not raw.strip():
        raise DataError(f"{where} is empty; it needs a header row and data rows")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(raw, where)
    try:
        text = decode(raw, path, encoding, "strict")
    except DataError:
        if b"\x00" not in raw[:8192] or sniff_wide(raw):
            raise  # undecodable text, or UTF-16/32 read as UTF-8: the message says which
        text = "\x00"  # binary: refused below with the message for binary files
    if "\x00" in text:
        raise DataError(
            f"{where} is binary, not a text table; pass a .csv, .tsv, .txt, .parquet, .json "
            "or .jsonl file"
        )
    if suffix in (".json", ".jsonl"):
        return _read_json(text, where)
    return _read_delimited(text, where, _TEXT_FORMATS.get(suffix))


def _sniff(first_line: str, default: str | None) -> str:
    """The delimiter of a header line: the default when it occurs, else the most frequent."""
    if default is not None and default in first_line:
        return default
    counts = {d: first_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else (default or ",")


def _read_delimited(text: str, where: str, default: str | None) -> Table:
    first = next((line for line in text.split("\n") if line.strip()), "")
    delimiter = _sniff(first, default)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    records: list[list[str]] = []
    numbers: list[int] = []
    try:
        for record in reader:
            if len(record) <= 1 and not "".join(record).strip():
                continue  # a blank line (a row of empty cells has delimiters)
            if header is None:
                header = [field.strip() for field in record]
                _check_header(header, where)
                continue
            if len(record) != len(header):
                raise DataError(
                    f"{where} line {reader.line_num} has {len(record)} fields but the header "
                    f"has {len(header)}; quote fields that contain {delimiter!r}"
                )
            records.append(record)
            numbers.append(reader.line_num)
    except csv.Error as err:
        raise DataError(f"{where} line {reader.line_num} is not valid CSV ({err})") from None
    assert header is not None  # the file is not blank
    columns = {name: np.empty(len(records), dtype=object) for name in header}
    for j, name in enumerate(header):
        columns[name][:] = [record[j] for record in records]
    return Table(where, columns, "line", numbers)


def _check_header(header: list[str], where: str) -> None:
    for j, name in enumerate(header):
        if not name:
            raise DataError(f"{where}: header column {j + 1} has no name; name every column")
        if name in header[:j]:
            raise DataError(f"{where} has two columns named {name!r}; rename one")


def _read_json(text: str, where: str) -> Table:
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(
                f"{where} line {err.lineno} is not valid JSON ({err.msg} at column {err.colno})"
            ) from None
        rows = list(enumerate(records, start=1)) if isinstance(records, list) else []
        unit = "record"
    else:
        rows, unit = [], "line"
        for line, raw in enumerate(text.split("\n"), start=1):
            if raw.strip():
                try:
                    rows.append((line, json.loads(raw)))
                except json.JSONDecodeError as err:
                    raise DataError(
                        f"{where} line {line} is not valid JSON ({err.msg} at column "
                        f"{err.colno}); each line must be one JSON object"
                    ) from None
    names: dict[str, None] = {}
    for number, record in rows:
        if not isinstance(record, dict):
            raise DataError(
                f"{where} {unit} {number} is a JSON {type(record).__name__}, not an object; "
                'each record must look like {"date": ..., "value": ...}'
            )
        names.update(dict.fromkeys(record))
    columns = {name: np.empty(len(rows), dtype=object) for name in names}
    for i, (_, record) in enumerate(rows):
        for name in names:
            columns[name][i] = record.get(name)
    return Table(where, columns, unit, [number for number, _ in rows])


def _read_parquet(raw: bytes, where: str) -> Table:
    pd = import_pandas()
    try:
        frame = pd.read_parquet(io.BytesIO(raw))
    except ImportError:
        raise DataError(f"reading Parquet needs pyarrow: {INSTALL}") from None
    except Exception as err:  # pyarrow raises several kinds for a damaged file
        reason = str(err).strip().split("\n", 1)[0]
        raise DataError(
            f"{where} is not a readable Parquet file ({reason}); pass a valid Parquet file"
        ) from None
    columns = {}
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            column = column.dt.tz_convert("UTC").dt.tz_localize(None)
        columns[str(name)] = column.to_numpy()
    return Table(where, columns, "row")


# ---- columns: roles, numbers, times, order, gaps ------------------------------------------
def _missing(values: np.ndarray) -> np.ndarray:
    """Where a column holds no value: None, NaN, NA, or a text such as "" or "NA"."""
    blank = np.array([isinstance(v, str) and v.strip().lower() in _MISSING for v in values])
    return import_pandas().isna(values) | blank.astype(bool)


def _parse_numbers(values: np.ndarray) -> tuple[np.ndarray, int | None]:
    """float64 values (NaN where missing) and the index of the first one that is not a
    number (None when all are)."""
    if values.dtype.kind in "fiu":
        return values.astype(np.float64), None
    out = np.full(len(values), np.nan)
    if values.dtype.kind != "O":  # booleans, datetimes: not numbers
        return out, 0 if len(values) else None
    for i in np.flatnonzero(~_missing(values)):
        v = values[i]
        if isinstance(v, bool) or not isinstance(v, str | int | float | np.number):
            return out, int(i)
        try:
            out[i] = float(v)
        except ValueError:
            return out, int(i)
    return out, None


def number_column(table: Table, name: str, role: str) -> np.ndarray:
    values, bad = _parse_numbers(table.columns[name])
    if bad is not None:
        raise DataError(
            f"{table.where} {table.row(bad)}: {role} {name!r} is "
            f"{_show(table.columns[name][bad])}, not a number; fix the value or choose "
            f"another column with {_FLAGS[role]}"
        )
    infinite = np.flatnonzero(np.isinf(values))
    if len(infinite):
        raise DataError(
            f"{table.where} {table.row(infinite[0])}: {role} {name!r} is infinite "
            f"({_show(table.columns[name][infinite[0]])}); --interpolate does not replace it: "
            "write a number, or empty the cell and pass --interpolate"
        )
    return values


def _show(value: object) -> str:
    return repr(value.strip() if isinstance(value, str) else value)


def time_column(table: Table, name: str) -> tuple[np.ndarray | None, np.ndarray]:
    """The datetime64[ns] times of the time column (None for step numbers) and the keys
    that order the rows (int64 nanoseconds, or the step numbers)."""
    pd = import_pandas()
    raw = table.columns[name]
    if raw.dtype.kind != "M":
        numbers, bad = _parse_numbers(raw)
        missing = np.isnan(numbers)
        if bad is None:
            _check_no_missing_time(table, name, missing)
            whole = np.all(numbers == np.round(numbers))
            lo, hi = _NS_YEARS
            if (
                name.strip().lower() == "year"
                and whole
                and np.all((lo <= numbers) & (numbers <= hi))
            ):
                years = numbers.astype(np.int64) - 1970
                times = years.astype("datetime64[Y]").astype("datetime64[ns]")
                return times, times.astype(np.int64)
            return None, numbers
        texts = np.array(
            [None if m else str(v).strip() for v, m in zip(raw, _missing(raw), strict=True)],
            dtype=object,
        )
        _check_no_missing_time(table, name, pd.isna(texts))
        parsed = pd.to_datetime(pd.Series(texts), format="ISO8601", errors="coerce", utc=True)
        if parsed.isna().any():  # not all ISO 8601: parse each text on its own ("Jan 2020")
            parsed = pd.to_datetime(pd.Series(texts), format="mixed", errors="coerce", utc=True)
        bad_rows = np.flatnonzero(parsed.isna().to_numpy())
        if len(bad_rows):
            i = bad_rows[0]
            raise DataError(
                f"{table.where} {table.row(i)}: time {texts[i]!r} in column {name!r} cannot be "
                "read as a date; write times as ISO 8601 (2020-01-31) or choose another "
                "column with --time-col"
            )
        raw = parsed.dt.tz_localize(None).to_numpy()
    _check_no_missing_time(table, name, np.isnat(raw))
    try:
        times = pd.DatetimeIndex(raw).as_unit("ns").to_numpy()
    except pd.errors.OutOfBoundsDatetime:
        raise DataError(
            f"{table.where}: a time in column {name!r} is outside the years 1678-2261 that "
            "timestamps can hold; use step numbers or choose another column with --time-col"
        ) from None
    return times, times.astype(np.int64)


def _check_no_missing_time(table: Table, name: str, missing: np.ndarray) -> None:
    if missing.any():
        raise DataError(
            f"{table.where} {table.row(int(np.argmax(missing)))} has no time in column "
            f"{name!r}; fill it in or drop the row (--interpolate fills values, not times)"
        )


def resolve_columns(
    table: Table,
    target: str | None,
    time_col: str | None,
    id_col: str | None,
    covariates: tuple[str, ...],
) -> tuple[str, str | None]:
    """Check the named columns exist and play one role each; pick default target and time."""
    names = list(table.columns)
    listing = ", ".join(map(repr, names))
    given = [("target", target), ("time", time_col), ("id", id_col)]
    given += [("covariate", c) for c in covariates]
    seen: dict[str, str] = {}
    for role, name in given:
        if name is None:
            continue
        if name not in table.columns:
            raise DataError(
                f"{table.where} has no column {name!r} (given to {_FLAGS[role]}); its columns "
                f"are {listing}: pass one of them to {_FLAGS[role]}"
            )
        if name in seen:
            raise DataError(
                f"{table.where}: column {name!r} is given to both {_FLAGS[seen[name]]} and "
                f"{_FLAGS[role]}; a column plays one role"
            )
        seen[name] = role
    if time_col is None:
        found = [n for n in names if n.strip().lower() in _TIME_NAMES and n not in seen]
        time_col = found[0] if len(found) == 1 else None
    if target is None:
        rest = [n for n in names if n not in seen and n != time_col]
        numeric = [n for n in rest if _is_numeric(table.columns[n])]
        if len(numeric) != 1:
            found_text = "no numeric column" if not numeric else f"{len(numeric)} numeric columns"
            raise DataError(
                f"{table.where}: cannot tell which column is the target ({found_text} besides "
                f"the time, id and covariates); its columns are {listing}: pass --target"
            )
        target = numeric[0]
    return target, time_col


def _is_numeric(values: np.ndarray) -> bool:
    numbers, bad = _parse_numbers(values)
    return bad is None and not np.isnan(numbers).all()


def check_order(
    table: Table, rows: np.ndarray, keys: np.ndarray, time_col: str | None, id_col: str | None
) -> None:
    if time_col is None:
        return
    k = keys[rows]
    bad = np.flatnonzero(k[1:] <= k[:-1])
    if not len(bad):
        return
    i, j = rows[bad[0] + 1], rows[bad[0]]
    raw = table.columns[time_col]
    verb = "repeats" if k[bad[0] + 1] == k[bad[0]] else "comes after"
    hint = " or pass --id-col if the file holds several series" if id_col is None else ""
    raise DataError(
        f"{table.where}: timestamps must be sorted and unique: "
        f"{table.row(i)} ({show_time(raw[i])}) {verb} {table.row(j)} ({show_time(raw[j])}); "
        f"sort the rows by {time_col!r}{hint}"
    )


def show_time(value: object) -> str:
    """A time as messages show it: the file's text, or a datetime without a zero clock."""
    if isinstance(value, np.datetime64):
        return np.datetime_as_string(value, unit="s").removesuffix("T00:00:00")
    return str(value).strip()


def fill_gaps(
    table: Table,
    name: str,
    part: np.ndarray,
    columns: list[tuple[str, str, np.ndarray]],
    keys: np.ndarray,
    timed: bool,
) -> np.ndarray:
    """Each column filled linearly in time (by timestamp or step number), ends by the
    nearest value."""
    pd = import_pandas()
    index = pd.DatetimeIndex(keys.astype("datetime64[ns]")) if timed else pd.Index(keys)
    filled = part.copy()
    for j, (column, role, _) in enumerate(columns):
        if not np.isnan(part[:, j]).any():
            continue
        if np.isnan(part[:, j]).all():
            raise DataError(
                f"{table.where}: {role} {column!r} has no values in series {name!r}; "
                "--interpolate needs at least one to fill from"
            )
        s = pd.Series(part[:, j], index=index)
        method = "time" if timed else "index"
        filled[:, j] = s.interpolate(method=method, limit_direction="both").to_numpy()
    return filled
