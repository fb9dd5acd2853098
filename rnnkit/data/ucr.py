"""UCR/UEA time-series classification sets: the ``.ts`` format and the bundled archives.

A ``.ts`` file (the format of timeseriesclassification.com, read by sktime and aeon) is
``#`` comments, ``@`` header lines, then one example per line after ``@data``::

    @problemName JapaneseVowels
    @univariate false            # several dimensions per step
    @dimensions 12
    @equalLength false           # lengths may differ between examples
    @seriesLength 150            # (when they do not) the common length
    @classLabel true 1 2 3       # the labels an example may end with
    @data
    1.8,1.9,1.9:-0.2,-0.1,-0.2:3     dimension 1 : dimension 2 : label

Values within a dimension are separated by ',', dimensions by ':', and the class label comes
last. '?' (or NaN) marks a missing value: an error naming the line unless
``allow_nan=True``, which keeps it as NaN. Header keys are case-insensitive. All dimensions
of one example must have the same length, which becomes T_i of its (T_i, D) array.

`load_ucr` reads the sets that ``aeon`` or ``sktime`` ship inside their wheels (GunPoint,
ItalyPowerDemand, JapaneseVowels, BasicMotions, ArrowHead, ...) with this same reader,
locating the files without importing either package.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from rnnkit.data.decoding import decode, read_bytes
from rnnkit.data.labelled import LabelledSeries, parse_number
from rnnkit.errors import DataError
from rnnkit.validate import check_bool, check_choice, check_str

__all__ = ["UCR_PACKAGES", "load_ucr", "read_ts", "ucr_names"]

PathLike = str | os.PathLike[str]

# Packages whose wheels bundle UCR/UEA sets as <pkg>/datasets/data/<Name>/<Name>_TRAIN.ts,
# in the order they are searched.
UCR_PACKAGES = ("aeon", "sktime")

_MISSING = {"?", "nan", "NaN"}
_TRUE, _FALSE = "true", "false"


class _Header:
    """What a ``.ts`` header promises, checked against every data line."""

    def __init__(self) -> None:
        self.class_labels: list[str] | None = None
        self.univariate: bool | None = None
        self.dimensions: int | None = None
        self.equal_length: bool | None = None
        self.series_length: int | None = None


def _flag(path: PathLike, line: int, key: str, value: str) -> bool:
    word = value.split()[0].lower() if value.split() else ""
    if word not in (_TRUE, _FALSE):
        raise DataError(
            f"{str(path)!r} line {line}: @{key} is {value!r}; write @{key} true or false"
        )
    return word == _TRUE


def _count(path: PathLike, line: int, key: str, value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise DataError(
            f"{str(path)!r} line {line}: @{key} is {value!r}; it must be a positive integer"
        )
    return n


def _read_header(path: PathLike, line: int, text: str, header: _Header) -> None:
    key, _, value = text[1:].partition(" ")
    key, value = key.lower(), value.strip()
    if key == "timestamps" and _flag(path, line, key, value):
        raise DataError(
            f"{str(path)!r} uses time stamps (@timeStamps true), which rnnkit does not read; "
            "convert it to plain values first"
        )
    if key == "classlabel":
        if not _flag(path, line, key, value):
            raise DataError(
                f"{str(path)!r} has no class labels (@classLabel false); sequence "
                "classification needs @classLabel true followed by the labels"
            )
        header.class_labels = value.split()[1:]
        if not header.class_labels:
            raise DataError(
                f"{str(path)!r} line {line}: @classLabel true lists no labels; list them, "
                "e.g. @classLabel true 1 2"
            )
    elif key == "targetlabel" and _flag(path, line, key, value):
        raise DataError(
            f"{str(path)!r} is a regression set (@targetLabel true), not classification; "
            "pass a file with @classLabel"
        )
    elif key == "univariate":
        header.univariate = _flag(path, line, key, value)
    elif key in ("dimension", "dimensions"):
        header.dimensions = _count(path, line, key, value)
    elif key == "equallength":
        header.equal_length = _flag(path, line, key, value)
    elif key == "serieslength":
        header.series_length = _count(path, line, key, value)
    elif key == "missing":
        _flag(path, line, key, value)  # '?' is read wherever it occurs; only the syntax matters
    # Other keys (@problemName, ...) promise nothing we rely on.


def _values(path: PathLike, line: int, dim: int, text: str, allow_nan: bool) -> list[float]:
    where = f"{str(path)!r} line {line}, dimension {dim}"
    hint = "values are numbers separated by ','"
    return [parse_number(f.strip(), where, _MISSING, allow_nan, hint) for f in text.split(",")]


def read_ts(path: PathLike, *, allow_nan: bool = False) -> LabelledSeries:
    """A classification set from a ``.ts`` file (see the module docstring for the format).

    Args:
        path: the file.
        allow_nan: keep missing values ('?' or NaN) as NaN; by default they are an error.

    Returns:
        One (T_i, D) float32 series and its label per data line, in file order.

    Raises:
        DataError: naming the file and line: no ``@data`` or no ``@classLabel true``; time
            stamps or a regression target; a line with another number of dimensions than
            the header or the first line; dimensions of unequal length; a length other than
            ``@seriesLength``; a value that is not a number; a label not in
            ``@classLabel``; a missing value without ``allow_nan``; no examples.
    """
    check_bool("read_ts", "allow_nan", allow_nan)
    text = decode(read_bytes(path, ".ts file"), path, "utf-8", "strict")
    header = _Header()
    series: list[list[list[float]]] = []
    labels: list[str] = []
    in_data = False
    width: int | None = None
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or (line.startswith("#") and not in_data):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise DataError(
                    f"{str(path)!r} line {number} is neither a header (@...) nor a comment "
                    "(#) before @data; is this a .ts file?"
                )
            if line.lower() == "@data":
                if header.class_labels is None:
                    raise DataError(
                        f"{str(path)!r} has no @classLabel line before @data; sequence "
                        "classification needs @classLabel true followed by the labels"
                    )
                in_data = True
            else:
                _read_header(path, number, line, header)
            continue
        *dims, label = [part.strip() for part in line.split(":")]
        if not dims:
            raise DataError(
                f"{str(path)!r} line {number} has no ':' before the class label; write "
                "values:label (dimensions separated by ':')"
            )
        known = header.class_labels or []  # set before @data, checked there
        if label not in known:
            raise DataError(
                f"{str(path)!r} line {number} has the label {label!r}, which @classLabel does "
                f"not list ({' '.join(known)}); fix the label or the header"
            )
        expected = 1 if header.univariate else (header.dimensions or width)
        if expected is not None and len(dims) != expected:
            raise DataError(
                f"{str(path)!r} line {number} has {len(dims)} dimensions, expected {expected} "
                "(from the header or the first example); dimensions are separated by ':'"
            )
        width = len(dims)
        values = [_values(path, number, d + 1, part, allow_nan) for d, part in enumerate(dims)]
        length = len(values[0])
        if any(len(v) != length for v in values):
            raise DataError(
                f"{str(path)!r} line {number}: its dimensions have lengths "
                f"{[len(v) for v in values]}; all dimensions of one example need one length"
            )
        if header.series_length is not None and header.equal_length is not False:
            if length != header.series_length:
                raise DataError(
                    f"{str(path)!r} line {number} has {length} steps but @seriesLength is "
                    f"{header.series_length}; fix the line or the header"
                )
        elif header.equal_length and series and length != len(series[0][0]):
            raise DataError(
                f"{str(path)!r} line {number} has {length} steps, the first example "
                f"{len(series[0][0])}, but @equalLength is true; fix the line or the header"
            )
        series.append(values)
        labels.append(label)
    if not in_data:
        raise DataError(f"{str(path)!r} has no @data line; is this a .ts file?")
    if not series:
        raise DataError(f"{str(path)!r} holds no examples after @data")
    # Dimensions are stored one after another; a series is (T, D): transpose each.
    arrays = [np.array(values, dtype=np.float32).T for values in series]  # (D, T) -> (T, D)
    return LabelledSeries(arrays, labels, str(path), allow_nan)


def _bundled_roots() -> list[Path]:
    roots = []
    for package in UCR_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            root = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
            if root.is_dir():
                roots.append(root)
    return roots


def ucr_names() -> list[str]:
    """The classification sets bundled by the installed ``aeon``/``sktime``, sorted."""
    names = set()
    for root in _bundled_roots():
        for folder in root.iterdir():
            if (folder / f"{folder.name}_TRAIN.ts").is_file():
                names.add(folder.name)
    return sorted(names)


def load_ucr(name: str, split: str, *, allow_nan: bool = False) -> LabelledSeries:
    """A bundled UCR/UEA set by name (case-insensitive), e.g. ``load_ucr("GunPoint", "train")``.

    GunPoint: 50 train / 150 test, univariate, length 150. ItalyPowerDemand: 67 / 1,029,
    length 24. JapaneseVowels: 270 / 370, 12 dimensions, lengths 7..26 (train) and 7..29
    (test).

    Args:
        name: the set's name as the archive spells it.
        split: "train" or "test", the archive's own split.
        allow_nan: as in `read_ts`.

    Raises:
        DataError: neither ``aeon`` nor ``sktime`` is installed, or neither bundles the set
            (the message lists those that are bundled).
    """
    check_str("load_ucr", "name", name)
    check_choice("load_ucr", "split", split, ("train", "test"))
    roots = _bundled_roots()
    if not roots:
        raise DataError(
            f"UCR set {name!r} needs a package that bundles the archive: install sktime "
            "or aeon (rnnkit's `classify` extra)"
        )
    for root in roots:
        for folder in sorted(root.iterdir()):
            path = folder / f"{folder.name}_{split.upper()}.ts"
            if folder.name.lower() == name.lower() and path.is_file():
                return read_ts(path, allow_nan=allow_nan)
    raise DataError(
        f"no bundled UCR set named {name!r} in {', '.join(map(str, roots))}; bundled sets: "
        f"{', '.join(ucr_names())}"
    )
