"""Test-wide set-up: tests/ has no packages, so its shared helper modules
(kill_helpers.py) are made importable from every test folder."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent))  # last: its folders are no packages
