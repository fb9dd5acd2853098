"""Reading a text corpus from disk: one UTF-8 file, or a folder of them.

Every problem a user can cause (a missing path, an empty file, a binary file, bytes that are
not UTF-8) ends in one `DataError` sentence that names the offending path, so the CLI can
print it as is.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from rnnkit.errors import DataError

__all__ = ["read_text"]

# A text file may hold a few odd control characters (a stray form feed, an escape code in a
# log); below this share of printable characters it is almost surely not text.
MIN_PRINTABLE_FRACTION = 0.9

# C0 and C1 control characters except the whitespace ones text files legitimately contain
# (tab, newline, vertical tab, form feed, carriage return). A regex count is fast on
# megabytes, where a per-character `str.isprintable()` loop is not.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")

_BOM = "\ufeff"


def read_text(path: str | os.PathLike[str]) -> str:
    """Read a UTF-8 corpus from a file, or from every file under a folder.

    A folder is read recursively: all regular files, sorted by their path relative to the
    folder, joined with "\\n". Hidden entries (a file or folder whose name starts with ".")
    are skipped, and so are files holding only whitespace. A leading byte-order mark is
    dropped and line endings are normalised to "\\n" ("\\r\\n" and a lone "\\r" alike).

    Args:
        path: a text file, or a folder of text files.

    Returns:
        The text, with "\\n" line endings.

    Raises:
        DataError: the path does not exist; the file or folder is empty or holds only
            whitespace; a file is binary (NUL bytes, or under 90% printable characters);
            a file is not valid UTF-8 (the message gives the byte offset).
    """
    root = Path(path)
    if not root.exists():
        raise DataError(f"text path {str(root)!r} does not exist; pass an existing file or folder")
    if root.is_dir():
        return _read_folder(root)
    text = _read_file(root)
    if not text.strip():
        raise DataError(f"text file {str(root)!r} is empty (or only whitespace); nothing to read")
    return text


def _read_folder(root: Path) -> str:
    files = sorted(
        (p for p in root.rglob("*") if p.is_file() and not _is_hidden(p, root)),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    texts = [text for text in (_read_file(p) for p in files) if text.strip()]
    if not texts:
        raise DataError(
            f"text folder {str(root)!r} holds no non-empty files (hidden files are skipped); "
            "put at least one UTF-8 text file in it"
        )
    return "\n".join(texts)


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _read_file(path: Path) -> str:
    """Decode one file; an empty file gives "" and the caller decides whether that is fatal."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"text file {str(path)!r} cannot be read: {err.strerror}") from None
    # NUL never occurs in UTF-8 text, and checking bytes first avoids decoding a large
    # binary only to reject it.
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise DataError(
            f"{str(path)!r} looks binary (NUL byte at offset {nul}); pass a UTF-8 text file"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{str(path)!r} is not valid UTF-8 (byte 0x{raw[err.start]:02x} at offset "
            f"{err.start}); re-encode it as UTF-8"
        ) from None
    if text.startswith(_BOM):
        text = text[len(_BOM) :]
    if text:
        printable = 1.0 - len(_CONTROL.findall(text)) / len(text)
        if printable < MIN_PRINTABLE_FRACTION:
            raise DataError(
                f"{str(path)!r} looks binary (only {printable:.0%} of its characters are "
                f"printable, {MIN_PRINTABLE_FRACTION:.0%} needed); pass a UTF-8 text file"
            )
    return text.replace("\r\n", "\n").replace("\r", "\n")
