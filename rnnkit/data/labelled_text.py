"""Labelled texts from files: a table with named columns, one file per class, a folder per class.

Three layouts, one loader each, all returning `LabelledTexts`::

    reviews.csv / .tsv / .jsonl      load_text_table(path, text_col=, label_col=)
    rt-polarity.pos, rt-polarity.neg  load_lines_per_class(files or folder): a line = an example
    aclImdb/train/{neg,pos}/*.txt     load_folder_per_class(root, classes=): a file = an example

Texts and labels are stripped of surrounding whitespace. Every problem the input can cause
is one `DataError` sentence naming the file (and line) and the fix; a wrong argument is a
`ConfigError` naming the argument.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rnnkit.data.decoding import check_encoding, decode, decode_text, read_bytes
from rnnkit.data.labelled import LabelledTexts
from rnnkit.errors import DataError
from rnnkit.validate import check_choice, check_str, fail, is_int

__all__ = [
    "TEXT_TABLE_FORMATS",
    "load_folder_per_class",
    "load_lines_per_class",
    "load_text_table",
]

PathLike = str | os.PathLike[str]

# File extension -> table format understood by `load_text_table`.
TEXT_TABLE_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def load_text_table(
    path: PathLike,
    *,
    text_col: str = "text",
    label_col: str = "label",
    file_format: str | None = None,
    encoding: str = "utf-8",
    errors: str = "strict",
) -> LabelledTexts:
    """Texts and labels from named columns of a CSV, TSV or JSON Lines file.

    CSV and TSV files start with a header row naming the columns (read with the stdlib
    `csv` module: quoted fields may hold the delimiter and newlines); blank rows are
    skipped. A JSON Lines file holds one JSON object per line; a label may be a string or
    an integer (stored as its decimal string); blank lines are skipped.

    Args:
        path: the file.
        text_col / label_col: the column (CSV/TSV) or key (JSONL) of the text and label.
        file_format: "csv", "tsv" or "jsonl"; by default from the extension
            (`TEXT_TABLE_FORMATS`).
        encoding / errors: how bytes become text, as in `bytes.decode`.

    Raises:
        DataError: the file is missing or undecodable; a column is missing (the message
            lists those that exist); a row has the wrong number of fields; a text or label
            is empty (the message gives the line); the file holds no rows.
        ConfigError: an argument is invalid, or the format cannot be told from the name.
    """
    owner = "load_text_table"
    check_str(owner, "text_col", text_col)
    check_str(owner, "label_col", label_col)
    check_encoding(owner, encoding, errors)
    if file_format is None:
        file_format = TEXT_TABLE_FORMATS.get(Path(path).suffix.lower())
        if file_format is None:
            raise fail(
                owner,
                "file_format",
                f"is needed: {str(path)!r} has no known extension "
                f"({', '.join(TEXT_TABLE_FORMATS)}); pass file_format='csv', 'tsv' or 'jsonl'",
            )
    check_choice(owner, "file_format", file_format, ("csv", "tsv", "jsonl"))
    text = decode(read_bytes(path, "text table"), path, encoding, errors)
    if file_format == "jsonl":
        rows = _jsonl_rows(text, path, text_col, label_col)
    else:
        rows = _csv_rows(text, path, "," if file_format == "csv" else "\t", text_col, label_col)
    if not rows:
        raise DataError(f"text table {str(path)!r} holds no examples; add rows below the header")
    return LabelledTexts([t for t, _ in rows], [label for _, label in rows], str(path))


_FIELD_LIMIT = 2**31 - 1


def _csv_rows(
    text: str, path: PathLike, delimiter: str, text_col: str, label_col: str
) -> list[tuple[str, str]]:
    csv.field_size_limit(_FIELD_LIMIT)  # a long review is one field; the default is 128 KiB
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            raise DataError(f"text table {str(path)!r} is empty; it needs a header row and rows")
        header = [name.strip() for name in header]
        index = {}
        for col in (text_col, label_col):
            if header.count(col) > 1:
                raise DataError(
                    f"{str(path)!r} has {header.count(col)} columns named {col!r}; rename "
                    "them so that the column to read is unambiguous"
                )
            if col not in header:
                raise DataError(
                    f"{str(path)!r} has no column {col!r}; its columns are "
                    f"{', '.join(map(repr, header))}: choose them with --text-col and --label-col (text_col=, label_col= in Python)"
                )
            index[col] = header.index(col)
        rows = []
        for record in reader:
            if not record:
                continue  # a blank line
            line = reader.line_num
            if len(record) != len(header):
                raise DataError(
                    f"{str(path)!r} line {line} has {len(record)} fields but the header has "
                    f"{len(header)}; quote fields that contain {delimiter!r} or newlines"
                )
            rows.append(_example(record[index[text_col]], record[index[label_col]], path, line))
    except csv.Error as err:
        raise DataError(
            f"{str(path)!r} line {reader.line_num} is not valid CSV ({err}); fix the quoting"
        ) from None
    return rows


def _json_kind(value: object) -> str:
    """How JSON names the type of a decoded value."""
    if value is None:
        return "null"
    kinds = {
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "an array",
        dict: "an object",
    }
    return kinds[type(value)]  # json.loads makes no other types


def _jsonl_rows(text: str, path: PathLike, text_col: str, label_col: str) -> list[tuple[str, str]]:
    rows = []
    for line, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as err:
            raise DataError(
                f"{str(path)!r} line {line} is not valid JSON ({err.msg} at column "
                f"{err.colno}); each line must be one JSON object"
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                f"{str(path)!r} line {line} is {_json_kind(record)}, not an object; "
                'each line must look like {"text": ..., "label": ...}'
            )
        for key in (text_col, label_col):
            if key not in record:
                raise DataError(
                    f"{str(path)!r} line {line} has no key {key!r}; its keys are "
                    f"{', '.join(map(repr, record))}: choose them with --text-col and --label-col (text_col=, label_col= in Python)"
                )
        value, label = record[text_col], record[label_col]
        if not isinstance(value, str):
            raise DataError(
                f"{str(path)!r} line {line}: {text_col!r} is {_json_kind(value)}, not a "
                "string; store the text as a string"
            )
        if is_int(label):
            label = str(label)
        if not isinstance(label, str):
            raise DataError(
                f"{str(path)!r} line {line}: {label_col!r} is {label!r}; a label must be a "
                "string or an integer"
            )
        rows.append(_example(value, label, path, line))
    return rows


def _example(text: str, label: str, path: PathLike, line: int) -> tuple[str, str]:
    text, label = text.strip(), label.strip()
    if not text:
        raise DataError(f"{str(path)!r} line {line} has an empty text; fill it in or drop the row")
    if not label:
        raise DataError(f"{str(path)!r} line {line} has an empty label; fill it in or drop the row")
    return text, label


def load_lines_per_class(
    files: PathLike | Sequence[PathLike],
    *,
    label_from: str = "auto",
    encoding: str = "utf-8",
    errors: str = "strict",
) -> LabelledTexts:
    """One file per class, one example per line (the MR `rt-polarity.{pos,neg}` layout).

    Classes come in sorted order, each file's lines in file order: shuffle before training.
    A blank line inside a file is an error (every line is an example); blank lines at
    the end are ignored.

    Args:
        files: the class files, or a folder whose (non-hidden) files are the class files.
        label_from: "suffix" (``rt-polarity.pos`` -> "pos"), "stem" (``pos.txt`` -> "pos")
            or "auto": the suffix when all files share one stem, else the stem.
        encoding / errors: how bytes become text. The MR files hold a few latin-1 bytes:
            read them with errors="replace" (or encoding="latin-1").

    Raises:
        DataError: a missing file, no files, two files naming one class, a file that is
            undecodable or holds no examples, a blank line.
        ConfigError: an invalid argument.
    """
    owner = "load_lines_per_class"
    check_choice(owner, "label_from", label_from, ("auto", "suffix", "stem"))
    check_encoding(owner, encoding, errors)
    paths = _class_files(files)
    names = [_class_name(p, paths, label_from) for p in paths]
    by_name: dict[str, Path] = {}
    for name, p in zip(names, paths, strict=True):
        if name in by_name:
            raise DataError(
                f"{str(by_name[name])!r} and {str(p)!r} both give class {name!r}; pass "
                "label_from='stem' or 'suffix', or one file per class"
            )
        by_name[name] = p
    texts: list[str] = []
    labels: list[str] = []
    for name in sorted(by_name):
        p = by_name[name]
        lines = decode(read_bytes(p, "class file"), p, encoding, errors).split("\n")
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines:
            raise DataError(
                f"class file {str(p)!r} holds no examples for class {name!r}; every class "
                "needs at least one line"
            )
        for line, text in enumerate(lines, start=1):
            if not text.strip():
                raise DataError(
                    f"{str(p)!r} line {line} is blank; each line is one example, so remove "
                    "blank lines"
                )
            texts.append(text.strip())
            labels.append(name)
    source = str(files) if isinstance(files, str | os.PathLike) else ", ".join(map(str, paths))
    return LabelledTexts(texts, labels, source)


def _class_files(files: PathLike | Sequence[PathLike]) -> list[Path]:
    if isinstance(files, str | os.PathLike):
        root = Path(files)
        if not root.exists():
            raise DataError(f"class files {str(root)!r} do not exist; pass files or a folder")
        if root.is_dir():
            paths = sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
            if not paths:
                raise DataError(
                    f"folder {str(root)!r} holds no class files; put one per class in it"
                )
            return paths
        return [root]
    paths = [Path(p) for p in files]
    if not paths:
        raise DataError("no class files given; pass one file per class")
    return paths


def _class_name(path: Path, paths: list[Path], label_from: str) -> str:
    if label_from == "auto":
        # One stem shared by several files (mr.pos, mr.neg): the suffixes name the
        # classes. A lone file (pos.txt) shares its stem with nothing: its stem does.
        same_stem = (
            len(paths) > 1 and len({p.stem for p in paths}) == 1 and all(p.suffix for p in paths)
        )
        label_from = "suffix" if same_stem else "stem"
    name = path.suffix[1:] if label_from == "suffix" else path.stem
    if not name:
        raise DataError(
            f"class file {str(path)!r} has no {label_from} to name its class; rename it "
            "(e.g. reviews.pos) or pass label_from='stem'"
        )
    return name


def load_folder_per_class(
    root: PathLike,
    *,
    classes: Sequence[str] | None = None,
    encoding: str = "utf-8",
    errors: str = "strict",
    skip_bad_files: bool = False,
) -> LabelledTexts:
    """A folder per class, one text file per example (the IMDB ``aclImdb/train`` layout).

    Each (non-hidden) subfolder of ``root`` is a class named after it; each non-hidden
    file directly inside it is one example. Files lying in ``root`` itself are ignored
    (IMDB keeps ``urls_pos.txt`` and bag-of-words files there). Classes come in sorted
    order, files in name order: shuffle before training.

    Args:
        root: the folder holding one subfolder per class.
        classes: the subfolders to read (IMDB: ``("neg", "pos")``, leaving out the
            unlabelled ``unsup``); by default all of them.
        encoding / errors: how bytes become text (`rnnkit.data.decoding`).
        skip_bad_files: leave out binary or undecodable files (each named on stderr)
            instead of stopping at the first.

    Raises:
        DataError: the folder is missing or has no subfolders; a requested class is
            missing (the message lists those there); a class folder holds no files; a file
            is empty, binary or undecodable.
        ConfigError: an invalid argument.
    """
    owner = "load_folder_per_class"
    check_encoding(owner, encoding, errors)
    base = Path(root)
    if not base.is_dir():
        raise DataError(f"class folder root {str(base)!r} is not a folder; pass one")
    found = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise DataError(
            f"{str(base)!r} has no subfolders; put each class's files in a subfolder named "
            "after the class"
        )
    if classes is None:
        wanted = found
    else:
        if isinstance(classes, str) or not classes:
            raise fail(owner, "classes", f"must be a non-empty list of names, got {classes!r}")
        wanted = sorted(set(classes))
        for name in wanted:
            if name not in found:
                raise DataError(
                    f"{str(base)!r} has no class folder {name!r}; its subfolders are "
                    f"{', '.join(map(repr, found))}"
                )
    texts: list[str] = []
    labels: list[str] = []
    for name in wanted:
        folder = base / name
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise DataError(
                f"class folder {str(folder)!r} holds no files; every class needs at least "
                "one example"
            )
        for p in files:
            try:
                text = decode_text(read_bytes(p, "text file"), str(p), encoding, errors).strip()
            except DataError as err:
                if not skip_bad_files:
                    raise DataError(f"{err} (or pass --skip-bad-files to leave it out)") from None
                sys.stderr.write(f"skipping {str(p)!r}: {err}\n")
                continue
            if not text:
                raise DataError(f"text file {str(p)!r} is empty; remove it or fill it in")
            texts.append(text)
            labels.append(name)
    return LabelledTexts(texts, labels, str(base))
