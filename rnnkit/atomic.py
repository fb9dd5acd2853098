"""The one atomic writer: every file rnnkit writes goes through here.

A file is written to a temporary name in its destination folder, flushed to disk,
then renamed over the destination with `os.replace`, which is atomic within one
POSIX file system: a kill at any moment leaves the old complete file or the new
complete file, never a torn one. The temporary file is created with the process's
usual permissions (umask), not mkstemp's 0600, so a run directory stays readable
like any other folder the user writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PathLike = str | os.PathLike[str]
TMP_PREFIX = ".rnnkit-"  # temporary files are named .rnnkit-NAME.HEX.tmp


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, rename it over
    ``path``. On any exception the temporary file is removed and ``path`` is untouched."""
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()  # replace the file the link points to, not the link
    if path.exists() and not path.is_file():
        # A device, FIFO or terminal (/dev/stdout, a pipe): it cannot be renamed over,
        # so the finished file is copied into it, and its errors (a full device) surface.
        with _stream_into(path) as tmp:
            yield tmp
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TMP_PREFIX}{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        yield tmp
        # fsync before the rename: otherwise a power cut can leave the new name pointing
        # at a file whose data never reached the disk.
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno and exc.filename in (None, str(tmp)):
            # Name the file the caller asked for (with the reason, e.g. a full disk),
            # not the temporary one that no longer exists.
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    _fsync_directory(path.parent)


@contextlib.contextmanager
def _stream_into(path: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="rnnkit-") as folder:
        tmp = Path(folder) / path.name
        yield tmp
        try:
            with open(tmp, "rb") as source, open(path, "wb") as target:
                shutil.copyfileobj(source, target)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(path)) from exc


def remove_stale_temporaries(folder: PathLike) -> None:
    """Delete the temporary files a killed writer left in ``folder`` (a run directory
    is only written by one process at a time, so none of them is still in use)."""
    for stale in Path(folder).glob(f"{TMP_PREFIX}*.tmp"):
        stale.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on every platform.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never a mix."""
    with atomic_path(path) as tmp, open(tmp, "xb") as handle:
        handle.write(data)


def atomic_write_text(path: PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: PathLike, data: Any) -> None:
    """Pretty, UTF-8 JSON with a final newline, written atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
