"""Crash-safe files: atomic writes, safetensors weights and their validated loading.

Every file goes through `rnnkit.atomic` (temporary name, fsync, rename), so a kill at
any moment leaves the old complete file or the new one. Nothing here unpickles: tensors travel as
safetensors and everything else as JSON in the safetensors metadata.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from rnnkit.atomic import atomic_path, atomic_write_bytes
from rnnkit.errors import CheckpointError, ConfigError

__all__ = [
    "atomic_save_safetensors",
    "atomic_write_bytes",
    "cpu_tensors",
    "load_state_checked",
    "load_weights",
    "read_metadata",
    "read_safetensors",
    "save_weights",
]

PathLike = str | os.PathLike[str]


def cpu_tensors(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU copies that safetensors can store.

    Tensors sharing storage (tied weights) are cloned apart: safetensors refuses shared
    storage, and every name must stay loadable with `load_state_dict(strict=True)`.
    """
    out: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, int]] = set()
    for name, tensor in tensors.items():
        t = tensor.detach().to("cpu").contiguous()
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        if t.numel() and key in seen:
            t = t.clone()
        seen.add((t.untyped_storage().data_ptr(), t.untyped_storage().nbytes()))
        out[name] = t
    return out


def atomic_save_safetensors(
    tensors: Mapping[str, torch.Tensor],
    path: PathLike,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Save `tensors` (moved to CPU) and string `metadata` to `path` atomically."""
    with atomic_path(path) as tmp:
        save_file(cpu_tensors(tensors), str(tmp), metadata=dict(metadata or {}))


def save_weights(model: torch.nn.Module, path: PathLike) -> None:
    """Save `model.state_dict()` under its plain names, atomically, on CPU."""
    atomic_save_safetensors(model.state_dict(), path)


def read_safetensors(
    path: PathLike, device: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors (moved to `device`) and the metadata of a safetensors file.

    CheckpointError if the file is missing or unreadable; ConfigError if `device` is
    not a usable torch device here.
    """
    path = _existing(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise _unreadable(path, exc) from exc
    target = _device(device)
    if target.type != "cpu":
        try:
            tensors = {name: tensor.to(target) for name, tensor in tensors.items()}
        except RuntimeError as exc:
            raise ConfigError(
                f"cannot load {path} onto {target} ({exc}); use map_location='cpu'"
            ) from exc
    return tensors, dict(metadata)


def read_metadata(path: PathLike) -> dict[str, str]:
    """The string metadata of a safetensors file, read from its header alone (no tensor
    is loaded). CheckpointError if the file is missing or unreadable."""
    path = _existing(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise _unreadable(path, exc) from exc


def _existing(path: PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"{path} does not exist; check the run directory, or train first to create it"
        )
    return path


def _unreadable(path: Path, exc: Exception) -> CheckpointError:
    kind = _pickle_kind(path)
    if kind:
        return CheckpointError(
            f"{path} is {kind}, not safetensors; rnnkit never unpickles files (loading a "
            "pickle can run any code), so it was not opened. Replace it with the run's own "
            "safetensors file, or convert it with safetensors.torch.save_file where you "
            "trust its origin"
        )
    return CheckpointError(
        f"{path} is not a readable safetensors file ({exc}); it is corrupt or "
        "truncated: restore it from a backup or delete it and train again"
    )


def _pickle_kind(path: Path) -> str | None:
    """What a file that safetensors refused looks like, judged by its first bytes alone:
    a pickle (protocol 2+ starts with 0x80 and the protocol number) or a ``torch.save``
    zip archive (which holds a pickle). Nothing is deserialised."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError:
        return None
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "a pickle file"
    if head == b"PK\x03\x04":
        return "a zip archive (the format of torch.save, which holds a pickle)"
    return None


def _device(device: str | torch.device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"map_location {device!r} is not a torch device (expected e.g. 'cpu', 'cuda:0')"
        ) from exc


def _describe_mismatch(
    source: str, found: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]
) -> str | None:
    problems: list[str] = []
    missing = [name for name in expected if name not in found]
    unexpected = [name for name in found if name not in expected]
    if missing:
        problems.append(f"missing from the file: {', '.join(missing[:5])}")
    if unexpected:
        problems.append(f"not in the model: {', '.join(unexpected[:5])}")
    for name, tensor in found.items():
        if name in expected and tuple(tensor.shape) != tuple(expected[name].shape):
            problems.append(
                f"{name} has shape {tuple(tensor.shape)} in the file but "
                f"{tuple(expected[name].shape)} in the model"
            )
    if not problems:
        return None
    return (
        f"{source} does not match the model ({'; '.join(problems)}); "
        "rebuild the model with the configuration it was trained with"
    )


def load_state_checked(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str
) -> None:
    """`model.load_state_dict(state)`, but CheckpointError naming any missing,
    unexpected or mis-shaped parameter, with `source` (a path) in the message."""
    problem = _describe_mismatch(source, state, model.state_dict())
    if problem:
        raise CheckpointError(problem)
    model.load_state_dict(state, strict=True)


def load_weights(
    path: PathLike,
    model: torch.nn.Module,
    map_location: str | torch.device = "cpu",
    prefix: str = "",
) -> None:
    """Load a safetensors state dict into `model`, checking names and shapes first.

    `map_location` is where the tensors are read to (a checkpoint written on a GPU loads
    on a CPU and vice versa). `prefix` selects and strips a name prefix, e.g. "model."
    to read the weights out of a resume checkpoint. Raises CheckpointError naming the
    missing, unexpected or mis-shaped parameters.
    """
    tensors, _ = read_safetensors(path, map_location)
    if prefix:
        tensors = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    load_state_checked(model, tensors, str(path))
