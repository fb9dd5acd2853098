"""Starting several training processes on this machine: ``rnnkit train ... --nproc N``
runs torchrun (`rnnkit.train.distributed` is what each process then does).

torchrun runs in a child process (`torchrun_quietly`), which calls its
entry point and keeps its failure report quiet: when a process stops on a user's
mistake, the first process has printed the one-line error (the others print nothing),
and torchrun's 40-line ``ChildFailedError`` report and its agent's log lines would only
bury it. The child exits with the failed process's own exit code.
"""

from __future__ import annotations

import logging
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


def first_process() -> bool:
    """False in all but the first of several processes torchrun started: they meet the
    same mistake or signal, and one line from the first says it."""
    return os.environ.get("RANK", "0") == "0"


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
    command = [sys.executable, "-c", _QUIET_TORCHRUN, "--standalone"]
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


def torchrun_quietly(argv: list[str]) -> int:
    """torchrun's ``main(argv)``, returning a failed process's exit code without the
    report, and 128 + the signal when stopped by Ctrl-C or SIGTERM without its
    traceback (the processes print the resume hint)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    # The agent logs each failure, each signal and each process it stops.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        torchrun(argv)
    except ChildFailedError as failed:
        _, first = failed.get_first_failure()
        return first.exitcode if first.exitcode > 0 else 1
    except SignalException as stopped:
        return 128 + int(stopped.sigval)
    return 0


_QUIET_TORCHRUN = (
    "import sys; from rnnkit.train.launch import torchrun_quietly; "
    "sys.exit(torchrun_quietly(sys.argv[1:]))"
)
