"""Fixtures shared by the data tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

# The real datasets live beside the repository (never inside it): <repo>/../shared/data.
SHARED_DATA = (Path(__file__).parents[2] / ".." / "shared" / "data").resolve()


@pytest.fixture
def shared_file() -> Callable[[str], Path]:
    """`shared_file(name)`: a real dataset file, or a skip naming the one that is missing."""

    def get(name: str) -> Path:
        path = SHARED_DATA / name
        if not path.is_file():
            pytest.skip(f"real dataset {name} not found at {path}")
        return path

    return get
