"""Typed exceptions. Everything a user can cause derives from `RnnkitError`.

The CLI catches `RnnkitError` and prints its message as one line; library users
catch the specific class. Each also derives from the builtin it refines, so code
that already catches `ValueError` keeps working.
"""

from __future__ import annotations


class RnnkitError(Exception):
    """Base class for errors caused by input, not by a bug in rnnkit."""


class ConfigError(RnnkitError, ValueError):
    """A configuration value is out of range or inconsistent.

    ``field`` names the setting at fault (e.g. ``"max_minutes"``) and ``problem`` says
    what is wrong without naming it (``"must be a positive number, got -1"``), so the
    command line can restate the error with the flag the user typed.
    """

    def __init__(self, message: str, *, field: str | None = None, problem: str | None = None):
        super().__init__(message)
        self.field = field
        self.problem = problem


class DataError(RnnkitError, ValueError):
    """Input data cannot be used: empty, binary, not UTF-8, too short."""


class VocabularyError(RnnkitError, ValueError):
    """Tokens are missing from a vocabulary, or two vocabularies disagree."""


class CheckpointError(RnnkitError, ValueError):
    """A run directory or checkpoint is missing, corrupt or incompatible."""


class InputError(RnnkitError, ValueError):
    """A tensor passed to a layer has the wrong shape, dtype or content."""


class RnnkitWarning(UserWarning):
    """Something works but may not be what was meant (uneven time steps, ...); the
    command line prints it as one line, ``rnnkit: warning: ...``."""
