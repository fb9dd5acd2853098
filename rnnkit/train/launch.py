"""Starting several training processes on this machine: ``rnnkit train ... --nproc N``
runs torchrun (`rnnkit.train.distributed` is what each process then does)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def cpu_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_process(processes: int) -> int:
    """Each of ``processes`` processes' share of the cores (at least 1)."""
    return max(1, cpu_cores() // processes)


def launch(processes: int, argv: list[str]) -> int:
    """Run ``rnnkit ARGV`` as ``processes`` processes on this machine under torchrun
    (standalone: it picks a free port) and return its exit code.

    A Ctrl-C reaches torchrun from the terminal, which passes it on to the processes
    once (they finish their step and checkpoint); a SIGTERM sent to this process is
    passed on to torchrun, which does the same. Stopped so, it returns 130 or 143, as a
    single training process would.
    """
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(threads_per_process(processes)))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", str(processes), "-m", "rnnkit", *argv]
    process = subprocess.Popen(command, env=env)
    stopped: list[int] = []

    def on_sigint(signum: int, frame: object) -> None:
        stopped.append(130)  # torchrun got it from the terminal too

    def on_sigterm(signum: int, frame: object) -> None:
        stopped.append(143)
        process.terminate()

    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, on_sigint),
        signal.SIGTERM: signal.signal(signal.SIGTERM, on_sigterm),
    }
    try:
        code = process.wait()
        return stopped[0] if code and stopped else code
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
