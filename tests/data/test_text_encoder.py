"""TextEncoder: ids worked out by hand, normalisation, subwords, JSON, pretrained vectors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from rnnkit.data.text_encoder import TextEncoder
from rnnkit.data.vectors import load_vectors
from rnnkit.errors import CheckpointError, ConfigError, DataError, VocabularyError

TRAIN = [
    "The cat sat on the mat.",
    "The dog sat, 42 times!",
    "See www.cats.com or http://x.org/a now",
]
SPECIALS = ["[PAD]", "[UNK]", "[NUM]", "[URL]"]
# the x3, sat x2, then the singletons in order of first appearance; [NUM] and [URL] are
# specials however often they occur.
WORDS = ["the", "sat", "cat", "on", "mat", ".", "dog", ",", "times", "!", "see", "or", "now"]


def _tokenizers_or_skip() -> None:
    pytest.importorskip("tokenizers", reason="HF tokenizers not installed (rnnkit[classify])")


def test_word_vocabulary_ids_by_frequency_then_first_appearance() -> None:
    enc = TextEncoder.fit(TRAIN)
    assert enc.vocabulary == SPECIALS + WORDS
    assert (enc.vocab_size, enc.pad_id, enc.unk_id) == (17, 0, 1)
    assert enc.tokenize("The bird sat on 3.5 mats") == ["the", "bird", "sat", "on", "[NUM]", "mats"]
    # the=4, bird unseen, sat=5, on=7, [NUM]=2, mats unseen
    assert enc.encode("The bird sat on 3.5 mats") == [4, 1, 5, 7, 2, 1]
    assert enc.encode_batch(["cat", "", "see www.a.com"]) == [[6], [], [14, 3]]
    assert enc.unknown_rate(["The bird sat on 3.5 mats", "cat"]) == pytest.approx(2 / 7)
    assert enc.unknown_rate([]) == 0.0


def test_min_freq_and_max_vocab_cut_the_rare_words() -> None:
    assert TextEncoder.fit(TRAIN, min_freq=2).vocabulary == SPECIALS + ["the", "sat"]
    assert TextEncoder.fit(TRAIN, min_freq=2).encode("the cat sat") == [4, 1, 5]
    assert TextEncoder.fit(TRAIN, max_vocab=7).vocabulary == SPECIALS + ["the", "sat", "cat"]
    assert TextEncoder.fit(TRAIN, max_vocab=7).encode("on the mat") == [1, 4, 1]


def test_lowercase_off_keeps_case_apart() -> None:
    enc = TextEncoder.fit(TRAIN, lowercase=False)
    assert enc.vocabulary[4:10] == ["The", "sat", "cat", "on", "the", "mat"]
    assert enc.vocabulary[-3:] == ["See", "or", "now"]
    assert enc.encode("the THE The") == [8, 1, 4]


def test_normalise_off_keeps_numbers_and_urls_as_words() -> None:
    enc = TextEncoder.fit(TRAIN, normalise=False)
    # "." x4 (mat., www.cats.com, x.org), the x3, "/" x3 (http://x.org/a), sat x2, rest once.
    assert enc.vocabulary == ["[PAD]", "[UNK]", ".", "the", "/", "sat", "cat", "on", "mat"] + [
        "dog", ",", "42", "times", "!", "see", "www", "cats", "com", "or", "http", ":", "x",
        "org", "a", "now",
    ]  # fmt: skip
    assert enc.encode("42 [NUM]") == [11, 1, 1, 1]  # "[", "NUM", "]": no special from text


def test_numbers_and_urls_normalised() -> None:
    enc = TextEncoder.fit(TRAIN)
    text = "1,000 3.14 1990s 2nd 80s mp3 3d covid-19 -5 24/7 abc123 don't"
    assert enc.tokenize(text) == ["[NUM]"] * 5 + ["mp3", "3d", "covid-19", "-", "[NUM]"] + [
        "[NUM]", "/", "[NUM]", "abc123", "don't",
    ]  # fmt: skip
    text = "Visit https://example.com/p?q=1, www.test.org. Mail bob.smith@mail.example.com!"
    assert enc.tokenize(text) == ["visit", "[URL]", ",", "[URL]", ".", "mail", "[URL]", "!"]
    assert enc.tokenize("Good.<br /><br />Bad<BR>") == ["good", ".", "bad"]


def test_char_mode() -> None:
    enc = TextEncoder.fit(["ab  ba", "A 12"], tokens="char")
    # "ab ba" and "a [NUM]": a x3, b x2, " " x2 (whitespace runs collapse to one space).
    assert enc.vocabulary == SPECIALS + ["a", "b", " "]
    assert enc.tokenize("Bac\t\n7") == ["b", "a", "c", " ", "[NUM]"]
    assert enc.encode("Bac\t\n7") == [5, 4, 1, 6, 2]
    raw = TextEncoder.fit(["Ab\tc"], tokens="char", lowercase=False, normalise=False)
    assert raw.vocabulary == ["[PAD]", "[UNK]", "A", "b", " ", "c"]
    assert raw.encode("a  b7") == [1, 4, 3, 1]


@pytest.mark.parametrize("kind", ["word", "char"])
def test_json_round_trip_word_and_char(kind: str) -> None:
    enc = TextEncoder.fit(TRAIN, tokens=kind, min_freq=1, max_vocab=15)
    data = json.loads(json.dumps(enc.to_json()))
    back = TextEncoder.from_json(data)
    assert back.vocabulary == enc.vocabulary and back.to_json() == enc.to_json()
    text = "The zebra sat on 7 mats, see https://z.io"
    assert back.encode(text) == enc.encode(text)
    assert (back.tokens, back.max_vocab, back.lowercase) == (kind, 15, True)


def _subword_corpus() -> list[str]:
    return ["the lowest newer wider 12", "low, lower newest widest http://a.b"] * 3 + [
        "the the the new the low"
    ]


SUBWORD_WORDS = ["the", "lowest", "newer", "wider", "low", ",", "lower", "newest", "widest"]


@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
def test_subword_round_trips(kind: str) -> None:
    _tokenizers_or_skip()
    enc = TextEncoder.fit(_subword_corpus(), tokens=kind, max_vocab=60)
    assert enc.vocabulary[:4] == SPECIALS and enc.vocab_size <= 60
    # With room to spare, merging goes on until every training word is one piece.
    assert [enc.tokenize(w) for w in SUBWORD_WORDS] == [["\u2581" + w] for w in SUBWORD_WORDS]
    assert enc.tokenize("The newest, 7 lowest") == ["\u2581the", "\u2581newest", "\u2581,"] + [
        "[NUM]", "\u2581lowest",
    ]  # fmt: skip
    pieces = enc.tokenize("Lowers")  # unseen: split, its first piece marked
    assert len(pieces) > 1 and "".join(pieces) == "\u2581lowers"
    assert all(p in enc.vocabulary for p in pieces)
    text = "The newest, 7 lowest zq lowers"
    back = TextEncoder.from_json(json.loads(json.dumps(enc.to_json())))
    assert back.encode(text) == enc.encode(text) and back.vocabulary == enc.vocabulary
    again = TextEncoder.fit(_subword_corpus(), tokens=kind, max_vocab=60)
    assert again.to_json() == enc.to_json()  # deterministic (module docstring)
    small = TextEncoder.fit(_subword_corpus(), tokens=kind, max_vocab=30)
    assert small.vocab_size == 30 and len(small.tokenize("newest")) > 1


def test_subword_unknowns() -> None:
    _tokenizers_or_skip()
    bpe = TextEncoder.fit(_subword_corpus(), tokens="bpe", max_vocab=60)
    # BPE keeps the known start marker and maps each unseen character to [UNK].
    assert bpe.tokenize("zq") == ["\u2581", "[UNK]", "[UNK]"]
    assert bpe.unknown_rate(["zq the"]) == pytest.approx(2 / 4)
    wordpiece = TextEncoder.fit(_subword_corpus(), tokens="wordpiece", max_vocab=60)
    assert wordpiece.encode("zq the") == [1, wordpiece.vocabulary.index("\u2581the")]
    raw = TextEncoder.fit(_subword_corpus(), tokens="bpe", normalise=False, max_vocab=60)
    assert raw.vocabulary[:3] == ["[PAD]", "[UNK]", ","] and "[NUM]" not in raw.vocabulary
    assert "\u25811" in raw.tokenize("12")[0]  # numbers stay text without normalise


def test_missing_tokenizers_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # import now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'rnnkit\[classify\]'") as info:
        TextEncoder.fit(TRAIN, tokens="bpe")
    assert info.value.field == "tokens"
    saved = _json(tokens="bpe", tokenizer="{}")
    del saved["vocab"]
    with pytest.raises(ConfigError, match="pip install tokenizers"):  # not "corrupt"
        TextEncoder.from_json(saved)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tokens": "sentencepiece"}, "tokens"),
        ({"lowercase": "yes"}, "lowercase"),
        ({"normalise": 1}, "normalise"),
        ({"min_freq": 0}, "min_freq"),
        ({"max_vocab": 4}, "max_vocab"),  # no room beside the 4 specials
        ({"max_vocab": 2.5e4}, "max_vocab"),
    ],
)
def test_bad_fit_arguments_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=f"TextEncoder.{field}") as info:
        TextEncoder.fit(TRAIN, **kwargs)
    assert info.value.field == field


def test_bad_texts() -> None:
    with pytest.raises(ConfigError, match="TextEncoder.texts") as info:
        TextEncoder.fit("one string")
    assert info.value.field == "texts"
    assert TextEncoder.fit(t for t in TRAIN).vocabulary == SPECIALS + WORDS  # any iterable
    with pytest.raises(ConfigError, match="got one string"):
        TextEncoder.fit(TRAIN).encode_batch("the cat")
    for texts in ([], ["", " \n"]):
        with pytest.raises(DataError, match="without a token"):
            TextEncoder.fit(texts)
    assert TextEncoder.fit(TRAIN, normalise=False, max_vocab=3).vocabulary == [
        "[PAD]",
        "[UNK]",
        ".",
    ]
    with pytest.raises(ConfigError, match="TextEncoder.text must be a string") as info:
        TextEncoder.fit(TRAIN).encode(None)  # type: ignore[arg-type]
    assert info.value.field == "text"


def _json(**changes: object) -> dict:
    data = TextEncoder.fit(TRAIN).to_json()
    data.update(changes)
    return data


def test_from_json_rejects_malformed_documents() -> None:
    with pytest.raises(CheckpointError, match="must be an object"):
        TextEncoder.from_json([1, 2])
    with pytest.raises(CheckpointError, match="format 'rnnkit.vocab'"):
        TextEncoder.from_json(_json(format="rnnkit.vocab"))
    with pytest.raises(CheckpointError, match="version 2"):
        TextEncoder.from_json(_json(version=2))
    data = _json(extra=1)
    del data["min_freq"]
    with pytest.raises(CheckpointError, match=r"lacks \['min_freq'\].*unexpected \['extra'\]"):
        TextEncoder.from_json(data)
    with pytest.raises(CheckpointError, match="TextEncoder.min_freq"):
        TextEncoder.from_json(_json(min_freq=0))
    with pytest.raises(CheckpointError, match="TextEncoder.tokens"):
        TextEncoder.from_json(_json(tokens="words"))
    # The vocabulary holds [NUM]/[URL] as specials, the settings say normalise is off.
    with pytest.raises(CheckpointError, match=r"TextEncoder.vocab must be fitted with the spec"):
        TextEncoder.from_json(_json(normalise=False))
    vocab = _json()["vocab"]
    vocab["tokens"][5] = "the"
    with pytest.raises(VocabularyError, match="'vocab' is corrupt: 'tokens' has duplicates"):
        TextEncoder.from_json(_json(vocab=vocab))


def test_from_json_rejects_bad_subword_models() -> None:
    _tokenizers_or_skip()
    data = TextEncoder.fit(_subword_corpus(), tokens="bpe", max_vocab=40).to_json()
    with pytest.raises(CheckpointError, match="is a BPE model, not WordPiece"):
        TextEncoder.from_json({**data, "tokens": "wordpiece"})
    with pytest.raises(CheckpointError, match="'tokenizer' is not a tokenizers model"):
        TextEncoder.from_json({**data, "tokenizer": '{"model": 3}'})
    with pytest.raises(CheckpointError, match="'tokenizer' must be a string"):
        TextEncoder.from_json({**data, "tokenizer": {"model": 3}})


# --- pretrained vectors ---------------------------------------------------------------------

GLOVE = "The 0.1 0.2 0.3\ncat 1 2 3\nzebra 9 9 9\nthe 5 5 5\n. -1 -2 -3.5\nnew york 4 5 6\n"


def _write(tmp_path: Path, text: str | bytes, name: str = "vectors.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_load_vectors_rows_found_pad_and_seeded_rest(tmp_path: Path) -> None:
    enc = TextEncoder.fit(TRAIN)  # the=4, cat=6, "."=9
    matrix, found = load_vectors(_write(tmp_path, GLOVE), enc)
    assert found == 3 and matrix.shape == (17, 3) and matrix.dtype == torch.float32
    rows = torch.tensor([[0.1, 0.2, 0.3], [1, 2, 3], [-1, -2, -3.5]])
    # "The" comes first and lower-cases to "the", so the later "the" line is ignored.
    assert torch.equal(matrix[[4, 6, 9]], rows)
    assert torch.equal(matrix[0], torch.zeros(3))
    expected = torch.randn(17, 3, generator=torch.Generator().manual_seed(0)) * rows.std()
    rest = [i for i in range(17) if i not in (0, 4, 6, 9)]
    assert torch.allclose(matrix[rest], expected[rest])
    other, _ = load_vectors(_write(tmp_path, GLOVE), enc, seed=1)
    assert not torch.equal(other[rest], matrix[rest]) and torch.equal(other[4], matrix[4])


def test_load_vectors_header_and_case(tmp_path: Path) -> None:
    enc = TextEncoder.fit(TRAIN, lowercase=False)  # The=4, cat=6, the=8
    matrix, found = load_vectors(_write(tmp_path, "\ufeff6 3\n" + GLOVE), enc)
    assert found == 4  # The, cat, the, "." matched case-sensitively
    assert matrix[4].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert matrix[8].tolist() == [5.0, 5.0, 5.0]
    with pytest.raises(DataError, match=r"line 1: the header says 7 vectors, the file has 6"):
        load_vectors(_write(tmp_path, "7 3\n" + GLOVE), enc)


def test_load_vectors_subword_whole_words(tmp_path: Path) -> None:
    _tokenizers_or_skip()
    enc = TextEncoder.fit(_subword_corpus(), tokens="bpe", max_vocab=60)
    matrix, found = load_vectors(_write(tmp_path, "the 1 2\nst 3 4\nlo 5 6\n"), enc)
    assert found == 2  # "\u2581the", "\u2581lo" start words; "st" is only a word's middle
    assert matrix[enc.encode("the")[0]].tolist() == [1.0, 2.0]
    assert matrix[enc.vocabulary.index("\u2581lo")].tolist() == [5.0, 6.0]
    assert matrix[enc.vocabulary.index("st")].tolist() != [3.0, 4.0]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("the 1 2 3\ncat 1 2\n", "line 2 has 2 numbers after its word, expected 3"),
        ("the 1 2 3\ncat 1 2 3 4\n", "line 2 has 4 numbers after its word, expected 3"),
        ("the 1 x 3\n", r"line 1: 'x' is not a finite number"),
        ("zebra 1 2\ncat nan 2\n", r"line 2: 'nan' is not a finite number"),
        ("the\n", "line 1 has 0 numbers after its word, expected at least 1"),
        ("", "holds no vectors"),
        ("0 3\n\n", "holds no vectors"),
        ("zebra 1 2\n", "holds none of the 13 vocabulary words"),
        (b"the 1 2\n\xff 1 2\n", "line 2 is not valid utf-8"),
    ],
)
def test_load_vectors_bad_files_name_file_and_line(
    tmp_path: Path, text: str | bytes, match: str
) -> None:
    path = _write(tmp_path, text, "bad.vec")
    with pytest.raises(DataError, match=match) as info:
        load_vectors(path, TextEncoder.fit(TRAIN))
    assert str(path) in str(info.value)


def test_load_vectors_missing_file_and_bad_encoding(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing.txt"):
        load_vectors(tmp_path / "missing.txt", TextEncoder.fit(TRAIN))
    with pytest.raises(ConfigError) as info:
        load_vectors(_write(tmp_path, GLOVE), TextEncoder.fit(TRAIN), encoding="klingon")
    assert info.value.field == "encoding"
