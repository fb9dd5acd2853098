"""Reading a text corpus: one file, a folder of them, or standard input.

Every problem a user can cause (a missing path, an empty file, a binary file, bytes that are
not UTF-8) ends in one `DataError` sentence that names the offending path, so the CLI can
print it as is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rnnkit.data.decoding import STDIN, check_encoding, decode_text, read_bytes
from rnnkit.errors import DataError

__all__ = ["read_text"]


def read_text(
    path: str | os.PathLike[str],
    *,
    encoding: str = "utf-8",
    errors: str = "strict",
    skip_bad_files: bool = False,
    or_else: str | None = None,
) -> str:
    """Read a text corpus from a file, from every file under a folder, or (``-``) from
    standard input.

    A folder is read recursively: all regular files, sorted by their path relative to the
    folder, joined with "\n". Hidden entries (a file or folder whose name starts with ".")
    are skipped, and so are files holding only whitespace. A leading byte-order mark is
    dropped and line endings are normalised to "\n" ("\r\n" and a lone "\r" alike).

    Args:
        path: a text file, a folder of text files, or ``-``.
        encoding / errors: how bytes become text (`rnnkit.data.decoding`): a codec or
            ``"auto"`` (by byte-order mark), and ``bytes.decode``'s error handler.
        skip_bad_files: in a folder, leave out files that are binary or cannot be
            decoded (each named on stderr) instead of stopping at the first.
        or_else: what else the caller accepts, named in the error for a missing path
            (e.g. "a corpus by name (shakespeare)").

    Returns:
        The text, with "\n" line endings.

    Raises:
        DataError: the path does not exist; the file or folder is empty or holds only
            whitespace; a file is binary (NUL bytes, or under 90% printable characters),
            UTF-16/32 read as UTF-8, or not valid in ``encoding`` (the message gives the
            line and byte offset).
    """
    check_encoding("read_text", encoding, errors)
    if str(path) == STDIN:
        text = decode_text(read_bytes(path, "standard input"), "<stdin>", encoding, errors)
        if not text.strip():
            raise DataError("standard input is empty (or only whitespace); nothing to read")
        return text
    root = Path(path)
    if not root.exists():
        other = f", or {or_else}" if or_else else ""
        raise DataError(
            f"text path {str(root)!r} does not exist; pass an existing file or folder{other}"
        )
    if root.is_dir():
        return _read_folder(root, encoding, errors, skip_bad_files)
    text = _read_file(root, encoding, errors)
    if not text.strip():
        raise DataError(f"text file {str(root)!r} is empty (or only whitespace); nothing to read")
    return text


def _read_folder(root: Path, encoding: str, errors: str, skip_bad_files: bool) -> str:
    files = sorted(
        (p for p in root.rglob("*") if p.is_file() and not _is_hidden(p, root)),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    texts = []
    for file in files:
        try:
            texts.append(_read_file(file, encoding, errors))
        except DataError as err:
            if not skip_bad_files:
                raise DataError(f"{err} (or pass --skip-bad-files to leave it out)") from None
            sys.stderr.write(f"skipping {str(file)!r}: {err}\n")
    texts = [text for text in texts if text.strip()]
    if not texts:
        raise DataError(
            f"text folder {str(root)!r} holds no non-empty files (hidden files are skipped); "
            "put at least one text file in it"
        )
    return "\n".join(texts)


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _read_file(path: Path, encoding: str, errors: str) -> str:
    """Decode one file; an empty file gives "" and the caller decides whether that is fatal."""
    return decode_text(read_bytes(path, "text file"), str(path), encoding, errors)
