"""One set of argument validators, used by every config and public function.

Each check raises `ConfigError` whose message names the owner and field
(``TrainConfig.lr must be a positive number, got -1``) and which also carries the
bare ``field`` and ``problem`` (``must be a positive number, got -1``), so the
command line can say the same thing with the flag the user typed
(``--lr must be a positive number, got -1``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection
from pathlib import Path

import torch

from rnnkit.errors import ConfigError


def is_int(value: object) -> bool:
    """An int that is not a bool (``max_steps=True`` is a mistake, not 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """A finite int or float that is not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def fail(owner: str, field: str, problem: str) -> ConfigError:
    """The ConfigError for ``owner.field`` with ``problem`` ("must be ..., got ...")."""
    prefix = f"{owner}.{field}" if owner else field
    return ConfigError(f"{prefix} {problem}", field=field, problem=problem)


def check_int(
    owner: str,
    field: str,
    value: object,
    *,
    least: int | None = None,
    most: int | None = None,
    optional: bool = False,
) -> None:
    """An integer in [least, most] (either bound may be open), or None if optional."""
    if optional and value is None:
        return
    ok = is_int(value)
    if ok and least is not None and value < least:  # type: ignore[operator]
        ok = False
    if ok and most is not None and value > most:  # type: ignore[operator]
        ok = False
    if not ok:
        bound = _bounds(least, most)
        none = " or None" if optional else ""
        raise fail(owner, field, f"must be an integer{bound}{none}, got {value!r}")


def check_real(
    owner: str,
    field: str,
    value: object,
    *,
    least: float | None = None,
    most: float | None = None,
    above: float | None = None,
    below: float | None = None,
    optional: bool = False,
) -> None:
    """A finite number with inclusive (least/most) or strict (above/below) bounds."""
    if optional and value is None:
        return
    ok = is_real(value)
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = not (
            (least is not None and v < least)
            or (most is not None and v > most)
            or (above is not None and v <= above)
            or (below is not None and v >= below)
        )
    if not ok:
        none = " or None" if optional else ""
        raise fail(
            owner, field, f"must be {_real_range(least, most, above, below)}{none}, got {value!r}"
        )


def check_positive(owner: str, field: str, value: object, *, optional: bool = False) -> None:
    """A finite number > 0 (or None if optional)."""
    check_real(owner, field, value, above=0.0, optional=optional)


def check_probability(owner: str, field: str, value: object) -> None:
    """A dropout-style probability in [0, 1)."""
    check_real(owner, field, value, least=0.0, below=1.0)


def check_bool(owner: str, field: str, value: object) -> None:
    if not isinstance(value, bool):
        raise fail(owner, field, f"must be True or False, got {value!r}")


def check_choice(owner: str, field: str, value: object, choices: Collection[str]) -> None:
    if value not in choices:
        raise fail(owner, field, f"must be one of {', '.join(map(str, choices))}, got {value!r}")


def check_str(owner: str, field: str, value: object, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not isinstance(value, str) or not value:
        raise fail(owner, field, f"must be a non-empty string, got {value!r}")


def parse_device(owner: str, field: str, value: object) -> torch.device:
    """A torch device name (``cpu``, ``cuda``, ``cuda:1``, ``mps``), not yet checked
    for availability: a config written on a GPU machine must still load on a CPU one."""
    if not isinstance(value, str | torch.device):
        raise fail(owner, field, f"must be a device name such as 'cpu' or 'cuda', got {value!r}")
    try:
        return torch.device(value)
    except (RuntimeError, ValueError) as exc:
        raise fail(
            owner,
            field,
            f"is {str(value)!r}, not a torch device (expected e.g. cpu, cuda, cuda:1, mps)",
        ) from exc


def require_device(owner: str, field: str, value: object) -> torch.device:
    """`parse_device`, and the device must be usable on this machine now."""
    device = parse_device(owner, field, value)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise fail(
                owner,
                field,
                f"is {str(value)!r} but this PyTorch build has no usable CUDA; use cpu",
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise fail(
                owner,
                field,
                f"is {str(value)!r} but only {torch.cuda.device_count()} CUDA device(s) exist",
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise fail(owner, field, f"is {str(value)!r} but MPS is not available here; use cpu")
    elif device.type == "meta":
        raise fail(owner, field, "is 'meta', which holds no data; use cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        try:
            torch.empty(0, device=device)
        except (RuntimeError, ValueError, AssertionError, ImportError) as exc:
            raise fail(
                owner, field, f"is {str(value)!r}, which is not usable here; use cpu"
            ) from exc
    return device


def _bounds(least: int | None, most: int | None) -> str:
    if least is not None and most is not None:
        return f" in [{least}, {most}]"
    if least is not None:
        return f" >= {least}"
    if most is not None:
        return f" <= {most}"
    return ""


def _real_range(
    least: float | None, most: float | None, above: float | None, below: float | None
) -> str:
    if above == 0.0 and least is most is below is None:
        return "a positive number"
    lo = f"[{least:g}" if least is not None else (f"({above:g}" if above is not None else None)
    hi = f"{most:g}]" if most is not None else (f"{below:g})" if below is not None else None)
    if lo and hi:
        return f"a number in {lo}, {hi}"
    if lo:
        return f"a number {'>=' if least is not None else '>'} {lo[1:]}"
    if hi:
        return f"a number {'<=' if most is not None else '<'} {hi[:-1]}"
    return "a finite number"


def check_output_path(path: str | os.PathLike[str] | None, field: str) -> None:
    """``path`` (None: nothing asked for) names a file, not a folder, in an existing
    folder we may write to."""
    if path is None:
        return
    target = Path(path)
    problem = None
    if target.is_dir():
        problem = f"is {str(path)!r}, a folder; give a file name"
    elif not target.parent.is_dir():
        problem = f"is {str(path)!r}, but the folder {str(target.parent)!r} does not exist"
    elif not os.access(target.parent, os.W_OK | os.X_OK):
        problem = f"is {str(path)!r}, but the folder {str(target.parent)!r} is not writable"
    if problem:
        raise ConfigError(f"{field} {problem}", field=field, problem=problem)


def check_output_folder(path: str | os.PathLike[str] | None, field: str) -> None:
    """``path`` (None: nothing asked for) names a folder that exists or can be created:
    not a file, and under no file."""
    if path is None:
        return
    target = Path(path)
    problem = None
    if target.exists() and not target.is_dir():
        problem = f"is {str(path)!r}, a file; give a folder"
    else:
        above = next(p for p in target.absolute().parents if p.exists())
        if not above.is_dir():
            problem = f"is {str(path)!r}, but {str(above)!r} is a file, not a folder"
        elif not os.access(above, os.W_OK | os.X_OK):
            problem = f"is {str(path)!r}, but the folder {str(above)!r} is not writable"
    if problem:
        raise ConfigError(f"{field} {problem}", field=field, problem=problem)
