"""The export tests drive the command line through the CLI tests' helpers."""

from __future__ import annotations

import sys
from pathlib import Path

# tests/ has no packages: make tests/cli/cli_helpers.py importable from here too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
