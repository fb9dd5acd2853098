"""Parallel text: Pairs, load_pairs (real fra.txt and bad files), filter_pairs, split_pairs."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from rnnkit.data.parallel import Pairs, filter_pairs, load_pairs, split_pairs
from rnnkit.data.tokenize import WordTokenizer
from rnnkit.errors import ConfigError, DataError

FRA = "fra-eng/fra.txt"


def _write(tmp_path: Path, content: str | bytes, name: str = "pairs.tsv") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _key(source: str) -> str:
    return " ".join(source.lower().split())


# --- Pairs -----------------------------------------------------------------------------------


def test_pairs_len_subset_digest() -> None:
    pairs = Pairs(["Go.", "Run!", "Hi."], ["Va !", "Cours !", "Salut !"])  # type: ignore[arg-type]
    assert pairs.sources == ("Go.", "Run!", "Hi.") and len(pairs) == 3  # lists become tuples
    sub = pairs.subset([2, 0])
    assert sub == Pairs(("Hi.", "Go."), ("Salut !", "Va !"))
    assert pairs.subset([]) == Pairs((), ())
    assert (
        len(pairs.digest()) == 64 and pairs.digest() == Pairs(*dataclasses.astuple(pairs)).digest()
    )
    assert pairs.digest() != sub.digest() != pairs.subset([0, 2]).digest()
    # Boundaries count: moving text between sentences or sides changes the digest.
    assert Pairs(("ab",), ("c",)).digest() != Pairs(("a",), ("bc",)).digest()
    assert Pairs(("a", "b"), ("c", "d")).digest() != Pairs(("b", "a"), ("d", "c")).digest()
    with pytest.raises(dataclasses.FrozenInstanceError):
        pairs.sources = ()  # type: ignore[misc]


def test_pairs_reject_bad_content() -> None:
    with pytest.raises(ConfigError, match="one target per source, got 1 targets for 2") as err:
        Pairs(("a", "b"), ("c",))
    assert err.value.field == "targets"
    with pytest.raises(ConfigError, match="Pairs.sources must be a sequence of strings"):
        Pairs("ab", "cd")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="Pairs.targets"):
        Pairs(("a",), (1,))  # type: ignore[arg-type]
    for bad in ([3], [-1], [0.0]):
        with pytest.raises(ConfigError, match=r"indices must be integers in \[0, 3\)"):
            Pairs(("a", "b", "c"), ("d", "e", "f")).subset(bad)  # type: ignore[list-item]


# --- load_pairs ------------------------------------------------------------------------------


def test_load_real_fra_eng(shared_file: Callable[[str], Path]) -> None:
    pairs = load_pairs(shared_file(FRA))
    assert len(pairs) == 76037
    assert (pairs.sources[0], pairs.targets[0]) == ("Go.", "Va !")
    assert (pairs.sources[1], pairs.targets[1]) == ("Run!", "Cours\u202f!")
    assert pairs.sources[-1] == "My whole family is doing well."
    assert pairs.targets[-1] == "Toute ma famille se porte bien."
    sides = pairs.sources + pairs.targets
    assert all(text and text == text.strip() for text in sides)


def test_load_tsv_details(tmp_path: Path) -> None:
    text = "\ufeffGo.\tVa !\tCC-BY 2.0 #1\r\n\n  Hi. \t Salut ! \n\t\nRun!\tCours !\tx\ty\n\n"
    pairs = load_pairs(_write(tmp_path, text))  # BOM, CRLF, blank and tab-only lines
    assert pairs == Pairs(("Go.", "Hi.", "Run!"), ("Va !", "Salut !", "Cours !"))
    latin = load_pairs(_write(tmp_path, "Caf\xe9\tCaf\xe9\n".encode("latin-1")), encoding="latin-1")
    assert latin.targets == ("Caf\u00e9",)
    replaced = load_pairs(_write(tmp_path, b"a\tb\xff\n"), encoding_errors="replace")
    assert replaced.targets == ("b\ufffd",)
    utf16 = load_pairs(_write(tmp_path, "Go.\tVa !\n".encode("utf-16")), encoding="utf-16")
    assert utf16 == Pairs(("Go.",), ("Va !",))  # its NUL bytes are not "binary"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("Go.\tVa !\n\nRun! Cours !\n", r"line 3 has no tab \('Run! Cours !'\)"),
        ("Go.\tVa !\nRun!\t \n", "line 2 has an empty target"),
        ("Go.\tVa !\n\tCours !\textra\n", "line 2 has an empty source"),
        ("", "is empty"),
        (" \n\n\t\n", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "looks binary"),
        ("a\tb\n" + "\x01\x02\x03" * 50, "looks binary"),
        (b"Go.\tVa !\nCaf\xe9\tCaf\xe9\n", "line 2 is not valid utf-8.*--encoding-errors replace"),
    ],
)
def test_bad_files_are_one_line_errors_naming_file_and_line(
    tmp_path: Path, content: str | bytes, match: str
) -> None:
    path = _write(tmp_path, content, "bad.tsv")
    with pytest.raises(DataError, match=match) as err:
        load_pairs(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_file_folder_and_bad_arguments(tmp_path: Path) -> None:
    for path, match in ((tmp_path / "none.tsv", "does not exist"), (tmp_path, "is a folder")):
        with pytest.raises(DataError, match=match) as err:
            load_pairs(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)
    good = _write(tmp_path, "a\tb\n")
    with pytest.raises(ConfigError) as cfg:
        load_pairs(good, encoding="klingon")
    assert cfg.value.field == "encoding"
    with pytest.raises(ConfigError) as cfg:
        load_pairs(good, encoding_errors="skip")
    assert cfg.value.field == "encoding_errors"


# --- filter_pairs ----------------------------------------------------------------------------


def test_filter_counts() -> None:
    pairs = Pairs(tuple("abcde"), tuple("ABCDE"))
    kept, dropped = filter_pairs(pairs, [1, 3, 4, 3, 9], [3, 3, 1, 4, 1], max_len=3)
    assert kept == Pairs(("a", "b"), ("A", "B")) and dropped == 3  # == max_len is kept
    assert filter_pairs(pairs, [1] * 5, [1] * 5, max_len=1) == (pairs, 0)
    assert filter_pairs(pairs, [2] * 5, [1] * 5, max_len=1) == (Pairs((), ()), 5)
    with pytest.raises(ConfigError, match="source_lengths must hold 5 token counts") as err:
        filter_pairs(pairs, [1] * 4, [1] * 5, max_len=3)
    assert err.value.field == "source_lengths"
    with pytest.raises(ConfigError) as err:
        filter_pairs(pairs, [1] * 5, [1] * 5, max_len=0)
    assert err.value.field == "max_len"


def test_filter_real_file_by_word_counts(shared_file: Callable[[str], Path]) -> None:
    pairs = load_pairs(shared_file(FRA))
    words = WordTokenizer(lowercase=True)
    src = [len(words.tokenize(s)) for s in pairs.sources]
    tgt = [len(words.tokenize(t)) for t in pairs.targets]
    kept, dropped = filter_pairs(pairs, src, tgt, max_len=8)
    assert 0 < dropped < len(pairs) and len(kept) + dropped == len(pairs)
    assert len(kept) == sum(s <= 8 and t <= 8 for s, t in zip(src, tgt, strict=True))
    assert all(len(words.tokenize(s)) <= 8 for s in kept.sources)
    assert all(len(words.tokenize(t)) <= 8 for t in kept.targets)


# --- split_pairs -----------------------------------------------------------------------------


def test_split_real_file_shares_no_source(shared_file: Callable[[str], Path]) -> None:
    pairs = load_pairs(shared_file(FRA))
    train, test = split_pairs(pairs, 0.1, seed=0)
    assert len(train) + len(test) == len(pairs)
    biggest = max(Counter(map(_key, pairs.sources)).values())
    assert round(0.1 * len(pairs)) - biggest < len(test) <= round(0.1 * len(pairs))
    assert not {_key(s) for s in train.sources} & {_key(s) for s in test.sources}
    train_pairs = set(zip(train.sources, train.targets, strict=True))
    assert not train_pairs & set(zip(test.sources, test.targets, strict=True))
    # Together the parts are the original pairs, each once.
    both = Counter(zip(train.sources + test.sources, train.targets + test.targets, strict=True))
    assert both == Counter(zip(pairs.sources, pairs.targets, strict=True))
    # Deterministic per seed, different for another.
    again = split_pairs(pairs, 0.1, seed=0)
    assert (again[0].digest(), again[1].digest()) == (train.digest(), test.digest())
    other = split_pairs(pairs, 0.1, seed=1)
    assert other[1].digest() != test.digest()
    assert not {_key(s) for s in other[0].sources} & {_key(s) for s in other[1].sources}


def test_split_keeps_every_translation_of_a_source_together() -> None:
    sources = ("Go.", "go. ", "Run!", "GO.", "Hi.", "Run!", "Wait.", "Stop!", "Hello.", "Wow!")
    pairs = Pairs(sources, tuple(f"t{i}" for i in range(10)))
    sides = set()
    for seed in range(30):
        train, test = split_pairs(pairs, 0.3, seed)
        go = [s for s in test.sources if _key(s) == "go."]
        assert len(go) in (0, 3) and len(test.sources) <= 3
        assert test.sources.count("Run!") in (0, 2)
        sides.add(len(go))
        # Original order within each part.
        assert list(train.targets) == sorted(train.targets, key=lambda t: int(t[1:]))
    assert sides == {0, 3}  # the group does go to test under some seeds


def test_split_edges() -> None:
    pairs = Pairs(("a", "b", "c"), ("x", "y", "z"))
    assert split_pairs(pairs, 0.0, seed=3) == (pairs, Pairs((), ()))
    with pytest.raises(DataError, match="leaves no training pair"):
        split_pairs(Pairs(("a", "b"), ("x", "y")), 0.9, seed=0)
    for fraction in (1.0, -0.1):
        with pytest.raises(ConfigError) as err:
            split_pairs(pairs, fraction, seed=0)
        assert err.value.field == "test_fraction"
    with pytest.raises(ConfigError) as err:
        split_pairs(pairs, 0.5, seed=1.5)  # type: ignore[arg-type]
    assert err.value.field == "seed"
