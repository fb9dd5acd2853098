"""Shared by the CLI tests (a helper module, not collected by pytest)."""

from __future__ import annotations

from rnnkit.cli.main import main

#: A small, fast language model for `rnnkit train lm`.
SMALL = ["--layers", "1", "--hidden", "24", "--embedding", "8", "--batch-size", "4"]
SMALL += ["--seq-len", "16", "--no-progress", "--lr", "1e-2"]


def run_cli(args, capsys):
    """`rnnkit ARGS` in this process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err
