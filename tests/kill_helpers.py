"""Killing a training process and resuming it: shared by the crash-and-resume tests.

A helper module, not collected by pytest (tests/conftest.py puts tests/ on sys.path).

`rnnkit ARGS` runs in a child process (`child_command`) that SIGKILLs itself at a moment
the parent chose, described by the environment variable ``RNNKIT_TEST_KILL``:

    after:SECONDS         a timer started when training starts (Trainer.fit)
    step:N                at the end of step N (after its logging, evaluation, checkpoint)
    write:N:PHASE         inside rnnkit's N-th atomic file write (1-based): PHASE is
                          "torn" (the temporary file half written, not yet renamed),
                          "written" (complete and fsynced, not yet renamed) or
                          "renamed" (renamed into place, the folder not yet fsynced)
    log:PATH              no kill; every atomically written file's name is appended to
                          PATH, so a test can choose which write to die in, and then
                          "fit:SECONDS", how long training took

The kill is a real SIGKILL (`os.kill(os.getpid(), SIGKILL)`): no Python cleanup, no
`finally`, no flushing runs, exactly as when a scheduler or the OOM killer ends a job.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from unittest import mock

import torch
from safetensors.torch import load_file

HERE = Path(__file__).resolve().parent
ENV = "RNNKIT_TEST_KILL"


def child_command(args: Sequence[str], preload: Sequence[Path] = ()) -> list[str]:
    """The command line of `rnnkit ARGS` in a child that obeys ``RNNKIT_TEST_KILL``;
    each ``preload`` file (e.g. a module registering a task) is imported first."""
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); import kill_helpers; "
        f"sys.exit(kill_helpers.child_main({[str(p) for p in preload]!r}, sys.argv[1:]))"
    )
    return [sys.executable, "-c", code, *map(str, args)]


def run_child(
    args: Sequence[str], kill: str | None = None, preload: Sequence[Path] = (), timeout=120
) -> subprocess.CompletedProcess:
    """Run `rnnkit ARGS` in a child process (single-threaded, like CI's runs), killed as
    ``kill`` says (None: never); returns the finished process, output captured."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop(ENV, None)
    if kill is not None:
        env[ENV] = kill
    return subprocess.run(
        child_command(args, preload), env=env, capture_output=True, text=True, timeout=timeout
    )


def was_killed(proc: subprocess.CompletedProcess) -> bool:
    return proc.returncode == -signal.SIGKILL


def same_weights(a: Path, b: Path) -> list[str]:
    """The tensor names whose values differ bit for bit between two safetensors files
    (a name in only one of them counts as differing)."""
    x, y = load_file(str(a)), load_file(str(b))
    names = sorted(set(x) | set(y))
    return [n for n in names if n not in x or n not in y or not torch.equal(x[n], y[n])]


# ---- inside the child -----------------------------------------------------------------


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _install(plan: str) -> None:
    kind, _, rest = plan.partition(":")
    if kind == "after":
        _kill_after_training_starts(float(rest))
    elif kind == "step":
        _kill_at_step(int(rest))
    elif kind == "write":
        number, _, phase = rest.partition(":")
        _hook_writes(int(number), phase, None)
    elif kind == "log":
        _hook_writes(0, "", Path(rest))
        _log_fit_time(Path(rest))
    else:
        raise ValueError(f"{ENV}={plan!r} is not a kill plan")


def _kill_after_training_starts(seconds: float) -> None:
    from rnnkit.train.trainer import Trainer

    fit = Trainer.fit

    def timed_fit(self):
        timer = threading.Timer(seconds, _die)
        timer.daemon = True
        timer.start()
        return fit(self)

    Trainer.fit = timed_fit


def _log_fit_time(log: Path) -> None:
    from rnnkit.train.trainer import Trainer

    fit = Trainer.fit

    def timed_fit(self):
        start = time.perf_counter()
        result = fit(self)
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"fit:{time.perf_counter() - start:.3f}\n")
        return result

    Trainer.fit = timed_fit


def _kill_at_step(step: int) -> None:
    from rnnkit.train.trainer import Trainer

    init = Trainer.__init__

    def init_with_hook(self, *args, **kwargs):
        init(self, *args, **kwargs)
        user = self.on_step_end

        def on_step_end(done: int) -> None:
            if user is not None:
                user(done)
            if done == step:
                _die()

        self.on_step_end = on_step_end

    Trainer.__init__ = init_with_hook


def _hook_writes(number: int, phase: str, log: Path | None) -> None:
    # Every atomic write ends in os.replace(tmp, path) (rnnkit/atomic.py); nothing else
    # in rnnkit renames files, so counting these calls counts the writes.
    replace, count = os.replace, [0]

    def hooked_replace(src, dst, *args, **kwargs):
        count[0] += 1
        if log is not None:
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(Path(dst).name + "\n")
        if count[0] == number and phase == "torn":
            with open(src, "rb+") as handle:
                handle.truncate(os.path.getsize(src) // 2)
            _die()
        if count[0] == number and phase == "written":
            _die()
        replace(src, dst, *args, **kwargs)
        if count[0] == number and phase == "renamed":
            _die()

    os.replace = hooked_replace


def child_main(preload: Sequence[str], argv: Sequence[str]) -> int:
    import importlib.util

    for path in preload:
        spec = importlib.util.spec_from_file_location(Path(path).stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    plan = os.environ.get(ENV)
    if plan:
        _install(plan)
    from rnnkit.cli.main import main

    return main(list(argv))


@contextlib.contextmanager
def crash_at_step(step: int) -> Iterator[None]:
    """In this process, every run trained within the block raises RuntimeError("simulated
    crash") at the end of ``step``: a quick stand-in for a kill where the subprocess of
    `run_child` is not needed (the checkpoint files are what a kill would leave)."""
    import rnnkit.runs.lifecycle as lifecycle

    class CrashingTrainer(lifecycle.Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, on_step_end=self.crash, **kwargs)

        def crash(self, done: int) -> None:
            if done == step:
                raise RuntimeError("simulated crash")

    with mock.patch.object(lifecycle, "Trainer", CrashingTrainer):
        yield
