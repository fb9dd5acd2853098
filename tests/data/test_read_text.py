"""read_text: files, folders, normalisation and every user-caused error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rnnkit.data import read_text
from rnnkit.data.corpus import CorpusConfig
from rnnkit.errors import ConfigError, DataError, RnnkitError
from rnnkit.tasks.classify_data import ClassifyData
from rnnkit.tasks.translate_data import TranslateData


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_file_strips_bom_and_normalises_line_endings(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", b"\xef\xbb\xbfhello\r\nw\xc3\xb6rld\rend\n")
    assert read_text(path) == "hello\nwörld\nend\n"
    assert read_text(str(path)) == "hello\nwörld\nend\n"


def test_missing_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(DataError, match="nope.txt.*does not exist"):
        read_text(missing)


@pytest.mark.parametrize("data", [b"", b"  \n\t\r\n", b"\xef\xbb\xbf"])
def test_empty_or_whitespace_file(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path / "empty.txt", data)
    with pytest.raises(DataError, match="empty.txt.*empty"):
        read_text(path)


def test_binary_file_with_nul_bytes(tmp_path: Path) -> None:
    path = write(tmp_path / "model.bin", b"PK\x03\x04abc\x00\x00def")
    with pytest.raises(DataError, match=r"model.bin.*binary.*offset 7"):
        read_text(path)


def test_binary_file_mostly_control_characters(tmp_path: Path) -> None:
    # 4 printable of 20 characters: 20% printable, far below the 90% a text file needs.
    path = write(tmp_path / "ctl.dat", b"\x01\x02\x03\x04" * 4 + b"abcd")
    with pytest.raises(DataError, match=r"ctl.dat.*binary.*20%"):
        read_text(path)


def test_few_control_characters_are_still_text(tmp_path: Path) -> None:
    path = write(tmp_path / "log.txt", b"\x1b" + b"x" * 19)  # 95% printable
    assert read_text(path) == "\x1b" + "x" * 19


def test_invalid_utf8_gives_byte_offset(tmp_path: Path) -> None:
    path = write(tmp_path / "latin.txt", b"abc\xff")
    with pytest.raises(DataError, match=r"latin.txt.*not valid utf-8.*0xff at offset 3"):
        read_text(path)


def test_errors_are_value_errors_for_old_callers(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:
        read_text(tmp_path / "missing")
    assert isinstance(info.value, RnnkitError)


def test_folder_is_read_recursively_in_relative_path_order(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    write(root / "z.txt", b"zed\n")
    write(root / "b.txt", b"bee")
    write(root / "sub" / "c.md", b"sea\r\n")
    write(root / "a.txt", b"\xef\xbb\xbfay")
    write(root / "blank.txt", b"\n\n")  # whitespace only: contributes nothing
    write(root / ".hidden", b"\x00secret")  # hidden: never read, so no binary error
    write(root / ".git" / "config", b"[core]")
    assert read_text(root) == "ay\nbee\nsea\n\nzed\n"


def test_empty_folder_and_hidden_only_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty.*no non-empty files"):
        read_text(tmp_path / "empty")
    write(tmp_path / "hidden" / ".notes.txt", b"text")
    with pytest.raises(DataError, match="no non-empty files"):
        read_text(tmp_path / "hidden")


def test_bad_file_inside_folder_is_named(tmp_path: Path) -> None:
    write(tmp_path / "c" / "good.txt", b"fine")
    write(tmp_path / "c" / "deep" / "bad.txt", b"ok\xc3")
    with pytest.raises(DataError, match=r"bad.txt.*not valid utf-8.*offset 2.*--skip-bad-files"):
        read_text(tmp_path / "c")


def test_tiny_shakespeare_matches_its_readme(shared_file: Callable[[str], Path]) -> None:
    text = read_text(shared_file("tinyshakespeare.txt"))
    assert len(text) == 1_115_394
    assert len(set(text)) == 65
    assert text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")


TEXT = "Ça va? Déjà vu.\nZweite Zeile: Grüße.\n"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_are_named_and_read_with_auto(tmp_path: Path, codec: str) -> None:
    """With a byte-order mark (utf-16/utf-32) or without one (the -le/-be variants,
    recognised by their NUL bytes), a wide file is named, not called binary."""
    path = write(tmp_path / "wide.txt", TEXT.encode(codec))
    wide = "UTF-32" if "32" in codec else "UTF-16"
    with pytest.raises(DataError, match=f"is {wide} text, not UTF-8; pass --encoding auto"):
        read_text(path)
    assert read_text(path, encoding="auto") == TEXT
    assert read_text(path, encoding=codec) == TEXT


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-32"])
def test_a_utf8_file_read_as_utf16_or_utf32_is_named_not_garbled(tmp_path: Path, codec: str):
    """A UTF-8 file under --encoding utf-16 decodes into CJK-looking garbage (one line,
    no rows); it is refused with the fix instead. Wide text without a mark still reads."""
    path = write(tmp_path / "narrow.csv", TEXT.encode())
    with pytest.raises(DataError, match=f"is not {codec} text .*drop --encoding {codec}"):
        read_text(path, encoding=codec)
    cjk = "\u4e2d\u6587\u6587\u672c\n" * 3
    assert (
        read_text(write(tmp_path / "cjk.txt", cjk.encode("utf-16-le")), encoding="utf-16-le") == cjk
    )


def test_auto_reads_utf8_with_or_without_a_mark_and_refuses_latin1(tmp_path: Path) -> None:
    assert read_text(write(tmp_path / "a.txt", TEXT.encode()), encoding="auto") == TEXT
    marked = write(tmp_path / "b.txt", b"\xef\xbb\xbf" + TEXT.encode())
    assert read_text(marked, encoding="auto") == TEXT
    latin = write(tmp_path / "c.txt", TEXT.encode("latin-1"))
    with pytest.raises(DataError, match=r"line 1 is not valid utf-8 .*--encoding latin-1"):
        read_text(latin, encoding="auto")
    assert read_text(latin, encoding="latin-1") == TEXT


def test_encoding_errors_replace_keeps_a_file_with_a_few_stray_bytes(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", b"good line\nbad \xff byte\n")
    with pytest.raises(DataError, match="line 2 is not valid utf-8"):
        read_text(path)
    assert read_text(path, errors="replace") == "good line\nbad \ufffd byte\n"


def test_unknown_encoding_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", b"text")
    with pytest.raises(RnnkitError, match="encoding must be a known text encoding or auto"):
        read_text(path, encoding="klingon")


def test_a_stray_binary_file_in_a_folder_is_named_or_skipped(tmp_path: Path, capsys) -> None:
    write(tmp_path / "c" / "a.txt", b"first text\n")
    write(tmp_path / "c" / "b.bin", bytes(range(256)) * 4)
    write(tmp_path / "c" / "c.txt", b"second text\n")
    with pytest.raises(DataError, match=r"b.bin' looks binary.*--skip-bad-files"):
        read_text(tmp_path / "c")
    assert read_text(tmp_path / "c", skip_bad_files=True) == "first text\n\nsecond text\n"
    err = capsys.readouterr().err
    assert err.startswith("skipping ") and "b.bin' looks binary" in err


def test_a_dash_reads_standard_input(monkeypatch) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(TEXT.encode("utf-16"))))
    assert read_text("-", encoding="auto") == TEXT
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"  \n")))
    with pytest.raises(DataError, match="standard input is empty"):
        read_text("-")


@pytest.mark.parametrize("config", [CorpusConfig, ClassifyData, TranslateData])
def test_every_text_config_takes_the_decoders_error_handlers_and_names_the_field(config):
    """One set of handlers (the decoder's) for every task that reads text files; a bad
    one is a ConfigError on ``encoding_errors`` (the CLI shows --encoding-errors)."""
    for handler in ("strict", "replace", "ignore", "backslashreplace", "surrogateescape"):
        assert config(encoding_errors=handler).encoding_errors == handler
    with pytest.raises(ConfigError) as err:
        config(encoding_errors="skip")
    assert err.value.field == "encoding_errors"
    with pytest.raises(ConfigError) as err:
        config(encoding="no-such-codec")
    assert err.value.field == "encoding"
