"""rnnkit's native per-step kernels (``kernels.c``): compiled on first use, cached.

The fast loop (:mod:`rnnkit.nn.fast_loop`) runs each time step as a matrix product and
a dozen pointwise torch ops. On CPU in float32 the pointwise part can instead run as
one C function per step (forward and backward), one pass over the batch while it is in
cache; see ``kernels.c``. This module compiles that file with the system's C compiler
(``$CC``, else ``cc``) into a shared library under rnnkit's cache folder
(``$RNNKIT_CACHE``, else ``$XDG_CACHE_HOME/rnnkit``, else ``~/.cache/rnnkit``), named
by a hash of the source, the flags, the compiler and the CPU, and loads it with
ctypes. Nothing is required: without a compiler, or when compiling fails, or with
``RNNKIT_NATIVE=0``, :func:`kernels` returns None and the fast loop keeps its torch
ops (:func:`status` says why).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.atomic import atomic_path

SOURCE = Path(__file__).with_name("kernels.c")
# -fopenmp: the rows of a step are split over OpenMP's threads; the library then needs
# libgomp.so.1, which the dynamic loader finds already loaded by torch (the same
# runtime, threads and torch.set_num_threads). A compiler without OpenMP gets the
# flags without it, and the kernels run on one thread.
FLAGS = ["-O3", "-march=native", "-fPIC", "-shared", "-fno-math-errno", "-fno-trapping-math"]
OPENMP = ["-fopenmp"]
_P = ctypes.c_void_p
_I, _F = ctypes.c_int, ctypes.c_float
SIGNATURES = {  # argument types of each kernel, in order (see kernels.c)
    "rnnkit_lstm_forward": [_I, _I, _F] + [_P] * 23 + [_F, _P],
    "rnnkit_lstm_backward": [_I, _I] + [_P] * 29 + [_F, _P],
    "rnnkit_gru_forward": [_I, _I, _F] + [_P] * 16,
    "rnnkit_gru_backward": [_I, _I] + [_P] * 23,
    "rnnkit_bernoulli": [ctypes.c_int64, ctypes.c_double, ctypes.c_uint64, _P],
    "rnnkit_min_forward": [_I, _I, _I, _I] + [_P] * 3,
    "rnnkit_min_backward": [_I, _I, _I, _I] + [_P] * 6,
}
_status = "not tried yet"


def _cache_dir() -> Path:
    if os.environ.get("RNNKIT_CACHE"):
        return Path(os.environ["RNNKIT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rnnkit"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags")):
                return line  # -march=native: a library built for one CPU may not run on another
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _compile(compiler: str, cache: Path) -> Path:
    source = SOURCE.read_bytes()
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30)
    key = hashlib.sha256(
        b"\0".join(
            [source, " ".join(FLAGS).encode(), version.stdout.encode(), _cpu_name().encode()]
        )
    ).hexdigest()[:16]
    target = cache / f"kernels-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        for extra in (OPENMP, []):
            done = subprocess.run(
                [compiler, *FLAGS, *extra, str(SOURCE), "-o", str(tmp), "-lm"],
                capture_output=True,
                text=True,
                timeout=120,
            )
            if not done.returncode:
                break
        else:
            message = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
            raise RuntimeError(f"{compiler}: {message[0]}")
    return target


@functools.cache
def kernels() -> ctypes.CDLL | None:
    """The loaded kernels, or None where there are none (see :func:`status`)."""
    global _status
    if os.environ.get("RNNKIT_NATIVE", "1") == "0":
        _status = "off (RNNKIT_NATIVE=0)"
        return None
    compiler = shutil.which(os.environ.get("CC") or "cc")
    if compiler is None:
        _status = "no C compiler found (set CC)"
        return None
    try:
        cache = _cache_dir()
        try:
            path = _compile(compiler, cache)
        except PermissionError:  # a read-only home: a private temporary cache instead
            cache = Path(tempfile.mkdtemp(prefix="rnnkit-cache-"))
            path = _compile(compiler, cache)
        try:
            lib = ctypes.CDLL(str(path))
        except OSError:  # a damaged cached file: built again, once
            path.unlink(missing_ok=True)
            path = _compile(compiler, cache)
            lib = ctypes.CDLL(str(path))
        for name, argtypes in SIGNATURES.items():
            getattr(lib, name).argtypes = argtypes
            getattr(lib, name).restype = None
        lib.rnnkit_scratch_floats.argtypes = [_I, _I]
        lib.rnnkit_scratch_floats.restype = ctypes.c_size_t
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        _status = f"compiling {SOURCE.name} failed: {exc}"
        return None
    _status = f"loaded from {path}"
    return lib


def status() -> str:
    """Whether the kernels are in use, and if not, why."""
    return _status


def usable(x: Tensor) -> bool:
    """Whether the kernels can run the fast loop on ``x``'s device and dtype."""
    return x.device.type == "cpu" and x.dtype == torch.float32 and kernels() is not None


def scratch(like: Tensor, B: int, H: int) -> Tensor:
    """The scratch buffer the kernels need for B rows of H units."""
    return like.new_empty(kernels().rnnkit_scratch_floats(B, H))


def ptr(x: Tensor | None) -> int | None:
    """A contiguous tensor's data address for a kernel (None stays NULL)."""
    return None if x is None else x.data_ptr()


def bernoulli(shape: tuple[int, ...], p: float) -> Tensor | None:
    """A CPU bool tensor, each element True with probability ``p``, drawn by the kernels
    (~17x torch.rand's speed on 2 cores: 0.17 ms for 819,200 draws) from a seed taken from torch's generator, so
    ``torch.manual_seed`` makes it repeat; None where there are no kernels."""
    lib = kernels()
    if lib is None:
        return None
    out = torch.empty(shape, dtype=torch.bool)
    seed = int(torch.randint(0, 2**62, ()).item())
    lib.rnnkit_bernoulli(out.numel(), p, seed, out.data_ptr())
    return out
