"""Labelled numeric sequences from a delimited file: one univariate series per row.

The layout of the UCR archive's ``.tsv`` files and of most spreadsheets of series::

    label,t0,t1,t2,...        (an optional header row)
    1,-0.64,-0.64,-0.63,...
    2,-0.78,-0.77,...         (rows may differ in length: variable-length series)

Each row gives one example: its label column, and every other field as one time step of a
(T_i, 1) series. Trailing empty fields are padding and are dropped, so a rectangular sheet
of unequal series loads as variable-length series; an empty field, '?' or NaN before the
last value is a missing value: an error naming the row unless ``allow_nan=True``.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from rnnkit.data.decoding import decode, read_bytes
from rnnkit.data.labelled import LabelledSeries, parse_number
from rnnkit.errors import DataError
from rnnkit.validate import check_bool, check_str, fail, is_int

__all__ = ["load_series_csv"]

PathLike = str | os.PathLike[str]

_MISSING = {"", "?", "nan", "NaN", "NA"}


def load_series_csv(
    path: PathLike,
    *,
    label_col: int | str = 0,
    header: bool | None = None,
    delimiter: str | None = None,
    allow_nan: bool = False,
) -> LabelledSeries:
    """One labelled univariate series per row of a CSV/TSV file.

    Args:
        path: the file.
        label_col: the label's column: an index (0 = first, -1 = last) or a header name.
        header: whether the first row names the columns; by default, exactly when
            ``label_col`` is a name.
        delimiter: the field separator; by default a tab for ``.tsv``/``.tab`` files and
            a comma otherwise.
        allow_nan: keep missing values as NaN; by default they are an error.

    Returns:
        One (T_i, 1) float32 series and its label per row, in file order.

    Raises:
        DataError: naming the file and line: a missing label column (the message lists
            the columns), an empty label, a row with no values, a value that is not a
            number, a missing value without ``allow_nan``; a file with no rows.
        ConfigError: an invalid argument (a named label column without a header row).
    """
    owner = "load_series_csv"
    if not (is_int(label_col) or (isinstance(label_col, str) and label_col)):
        raise fail(owner, "label_col", f"must be a column index or name, got {label_col!r}")
    if header is None:
        header = isinstance(label_col, str)
    check_bool(owner, "header", header)
    if isinstance(label_col, str) and not header:
        raise fail(owner, "label_col", f"is the name {label_col!r}, which needs header=True")
    if delimiter is None:
        delimiter = "\t" if Path(path).suffix.lower() in (".tsv", ".tab") else ","
    check_str(owner, "delimiter", delimiter)
    check_bool(owner, "allow_nan", allow_nan)

    text = decode(read_bytes(path, "series file"), path, "utf-8", "strict")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        rows = [(reader.line_num, r) for r in reader if "".join(r).strip()]  # no blank lines
    except csv.Error as err:
        raise DataError(
            f"{str(path)!r} line {reader.line_num} is not valid CSV ({err}); fix the quoting"
        ) from None
    column = 0 if isinstance(label_col, str) else label_col  # a name is resolved below
    if header and rows:
        names = [name.strip() for name in rows.pop(0)[1]]
        if isinstance(label_col, str):
            if label_col not in names:
                raise DataError(
                    f"{str(path)!r} has no column {label_col!r}; its columns are "
                    f"{', '.join(map(repr, names))}: pass label_col= to choose"
                )
            column = names.index(label_col)
    series: list[np.ndarray] = []
    labels: list[str] = []
    for line, record in rows:
        label, values = _row(record, column, path, line, allow_nan)
        series.append(np.array(values, dtype=np.float32))
        labels.append(label)
    if not series:
        raise DataError(f"series file {str(path)!r} holds no rows; one labelled series per row")
    _check_labels_look_like_labels(labels, path, column)
    return LabelledSeries(series, labels, str(path), allow_nan)


def _check_labels_look_like_labels(labels: list[str], path: PathLike, column: int) -> None:
    """Refuse a label column of distinct fractional numbers: the labels are in another
    column (every row would become a class of its own)."""
    if len(labels) < 10 or len(set(labels)) < 0.5 * len(labels):
        return
    try:
        fractional = [float(label) != round(float(label)) for label in labels]
    except ValueError:
        return
    if sum(fractional) >= 0.5 * len(labels):
        where = {0: "first", -1: "last"}.get(column, f"number {column}")
        raise DataError(
            f"{str(path)!r}: the {where} column, read as the label, holds {len(set(labels))} "
            f"different fractional numbers in {len(labels)} rows: the labels must be in "
            "another column; put them first (or name the column with a header and "
            "--label-col)"
        )


def _row(
    record: list[str], column: int, path: PathLike, line: int, allow_nan: bool
) -> tuple[str, list[float]]:
    if not -len(record) <= column < len(record):
        raise DataError(
            f"{str(path)!r} line {line} has {len(record)} fields, so no label column "
            f"{column}; pass label_col= to choose"
        )
    label = record[column].strip()
    if not label:
        raise DataError(f"{str(path)!r} line {line} has an empty label; fill it in or drop the row")
    fields = [
        f.strip() for f in record[: column % len(record)] + record[column % len(record) + 1 :]
    ]
    while fields and not fields[-1]:
        fields.pop()  # padding after a shorter series
    if not fields:
        raise DataError(f"{str(path)!r} line {line} has a label but no values; drop the row")
    values = [
        parse_number(
            field,
            f"{str(path)!r} line {line}, value {i}",
            _MISSING,
            allow_nan,
            "every field but the label must be a number",
        )
        for i, field in enumerate(fields, start=1)
    ]
    return label, values
