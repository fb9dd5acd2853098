"""Bytes to text: the one decoder every reader of text files uses.

``encoding`` is a codec name Python knows, or ``"auto"``: a byte-order mark decides
(UTF-8, UTF-16 or UTF-32, little- or big-endian), and without one the bytes must be
UTF-8. ``errors`` is ``bytes.decode``'s handler: ``"strict"`` (a bad byte is an error
naming its line), or ``"replace"``/``"ignore"`` for a few stray bytes in an otherwise
good file.

Every problem ends in one `DataError` sentence naming the file and the fix, in the
command line's words (``--encoding``, ``--encoding-errors``). A UTF-16 or UTF-32 file
read as UTF-8 is named as such, not reported as binary.
"""

from __future__ import annotations

import codecs
import os
import re
import sys
from pathlib import Path

from rnnkit.errors import DataError
from rnnkit.validate import check_choice, check_str, fail

__all__ = [
    "AUTO",
    "DECODE_ERRORS",
    "check_encoding",
    "decode",
    "decode_text",
    "read_bytes",
    "sniff_wide",
]

PathLike = str | os.PathLike[str]

#: The `encoding` that reads the byte-order mark.
AUTO = "auto"
#: The `errors=` handlers of `bytes.decode` that make sense for reading data.
DECODE_ERRORS = ("strict", "replace", "ignore", "backslashreplace", "surrogateescape")
#: The path that means standard input.
STDIN = "-"

# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)
# A text file may hold a few odd control characters (a stray form feed, an escape code in a
# log); below this share of printable characters it is almost surely not text.
MIN_PRINTABLE_FRACTION = 0.9

# C0 and C1 control characters except the whitespace ones text files legitimately contain
# (tab, newline, vertical tab, form feed, carriage return). A regex count is fast on
# megabytes, where a per-character `str.isprintable()` loop is not.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")

_HINT = (
    "re-encode it as UTF-8, name its encoding (--encoding latin-1, --encoding cp1252, ...), "
    "or replace the bad bytes (--encoding-errors replace)"
)


def check_encoding(
    owner: str, encoding: object, errors: object, *, errors_field: str = "errors"
) -> None:
    """A codec Python knows (or ``"auto"``) and one of `DECODE_ERRORS`, else a ConfigError
    (``errors_field``: the error handler's name in the caller, e.g. a config's
    ``encoding_errors``, which the CLI shows as ``--encoding-errors``)."""
    check_str(owner, "encoding", encoding)
    if encoding != AUTO:
        try:
            codecs.lookup(str(encoding))
        except LookupError:
            raise fail(
                owner, "encoding", f"must be a known text encoding or auto, got {encoding!r}"
            ) from None
    check_choice(owner, errors_field, errors, DECODE_ERRORS)


def read_bytes(path: PathLike, what: str) -> bytes:
    """The bytes of a file (standard input for ``-``), or a DataError naming it."""
    if str(path) == STDIN:
        return sys.stdin.buffer.read()
    p = Path(path)
    if not p.exists():
        raise DataError(f"{what} {str(p)!r} does not exist; pass an existing file")
    if p.is_dir():
        raise DataError(f"{what} {str(p)!r} is a folder; pass a file")
    try:
        return p.read_bytes()
    except OSError as err:
        raise DataError(f"{what} {str(p)!r} cannot be read: {err.strerror}") from None


def sniff_wide(raw: bytes) -> str | None:
    """ "UTF-16" or "UTF-32" when the bytes carry that byte-order mark, or look like
    UTF-16 text without one (every other byte NUL in the first few kilobytes, as
    ASCII-range text in UTF-16 is); None otherwise."""
    for mark, _, name in _BOMS:
        if raw.startswith(mark):
            return None if name == "UTF-8" else name
    head = raw[:4096]
    if len(head) >= 8:
        even, odd = head[0::2], head[1::2]
        if max(even.count(0) / len(even), odd.count(0) / len(odd)) > 0.6:
            return "UTF-16"
    return None


def _narrow(raw: bytes) -> bool:
    """Whether bytes handed to a UTF-16/32 codec are plainly 8-bit text: no byte-order
    mark, line breaks but no NUL byte (a line break in UTF-16 or UTF-32 always has
    one), and valid UTF-8. Decoded as UTF-16 they would be garbage."""
    if any(raw.startswith(mark) for mark, _, _ in _BOMS) or b"\x00" in raw:
        return False
    if b"\n" not in raw and b"\r" not in raw:
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _detect(raw: bytes) -> str:
    """The codec of ``encoding="auto"``: the byte-order mark's, UTF-16 of the byte order
    its NUL bytes show when it has none, else UTF-8."""
    for mark, codec, _ in _BOMS:
        if raw.startswith(mark):
            return codec
    if sniff_wide(raw):
        head = raw[:4096]
        return "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
    return "utf-8"


def decode(raw: bytes, path: PathLike, encoding: str = "utf-8", errors: str = "strict") -> str:
    """Decode a file's bytes. A leading byte-order mark is dropped and line endings
    become "\\n". A bad byte under ``errors="strict"`` is a DataError giving its line."""
    name = str(path)
    if encoding == AUTO:
        encoding = _detect(raw)
    elif codecs.lookup(encoding).name == "utf-8" and (wide := sniff_wide(raw)):
        raise DataError(
            f"{name!r} is {wide} text, not UTF-8; pass --encoding auto (or --encoding "
            f"{wide.lower()}) to read it"
        )
    elif codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")) and _narrow(raw):
        raise DataError(
            f"{name!r} is not {encoding} text (no byte-order mark, no NUL bytes: it reads "
            f"as UTF-8); drop --encoding {encoding} or pass --encoding auto"
        )
    try:
        text = raw.decode(encoding, errors)
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"{name!r} line {line} is not valid {encoding} (byte 0x{raw[err.start]:02x} at "
            f"offset {err.start}); {_HINT}"
        ) from None
    text = text.removeprefix("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode_text(raw: bytes, name: str, encoding: str = "utf-8", errors: str = "strict") -> str:
    """`decode`, refusing binary data: NUL bytes (checked before decoding a large binary,
    unless the text is UTF-16/32, where NUL bytes are normal) or too few printable
    characters."""
    wide = encoding != AUTO and codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    if not wide and not sniff_wide(raw) and (nul := raw.find(b"\x00")) >= 0:
        raise DataError(f"{name!r} looks binary (NUL byte at offset {nul}); pass a text file")
    text = decode(raw, name, encoding, errors)
    if text:
        printable = 1.0 - len(_CONTROL.findall(text)) / len(text)
        if printable < MIN_PRINTABLE_FRACTION:
            raise DataError(
                f"{name!r} looks binary (only {printable:.0%} of its characters are "
                f"printable, {MIN_PRINTABLE_FRACTION:.0%} needed); pass a text file, or "
                "name its encoding with --encoding"
            )
    return text
