"""TextEncoder: a task's own specials, token_id, decode and its round trips on real text.

Beside tests/data/test_text_encoder.py (fitting, normalisation, JSON, vectors), which
would pass 400 lines with these.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from rnnkit.data.parallel import load_pairs
from rnnkit.data.text_encoder import TextEncoder
from rnnkit.errors import CheckpointError, ConfigError, VocabularyError

SPECIALS = ("<pad>", "<unk>", "<go>", "<eos>")
TRAIN = ["I'm fine, thanks.", "Call me (maybe) now!", "« Salut » dit-il."]
KINDS = ["word", "char", "bpe", "wordpiece"]

# Written by the TextEncoder before `specials` existed (fit(["I'm fine, thanks.",
# "Call 911 now!"], max_vocab=20)): it must load, encode and save exactly as it did.
OLD_WORD_JSON = {
    "format": "rnnkit.text_encoder", "version": 1, "tokens": "word", "lowercase": True,
    "normalise": True, "min_freq": 1, "max_vocab": 20,
    "vocab": {
        "format": "rnnkit.vocab", "version": 1,
        "tokens": ["[PAD]", "[UNK]", "[NUM]", "[URL]", "i'm", "fine", ",", "thanks", ".",
                   "call", "now", "!"],
        "specials": ["[PAD]", "[UNK]", "[NUM]", "[URL]"],
        "counts": [0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1],
    },
}  # fmt: skip
# fit(["low lower lowest", "new newer"], tokens="bpe", max_vocab=24, normalise=False)
OLD_BPE_TOKENIZER = (
    '{"version":"1.0","truncation":null,"padding":null,"added_tokens":[{"id":0,"content":'
    '"[PAD]","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":'
    'true},{"id":1,"content":"[UNK]","single_word":false,"lstrip":false,"rstrip":false,'
    '"normalized":false,"special":true}],"normalizer":null,"pre_tokenizer":{"type":'
    '"Metaspace","replacement":"\u2581","prepend_scheme":"always","split":true},'
    '"post_processor":null,"decoder":null,"model":{"type":"BPE","dropout":null,"unk_token":'
    '"[UNK]","continuing_subword_prefix":null,"end_of_word_suffix":null,"fuse_unk":false,'
    '"byte_fallback":false,"ignore_merges":false,"vocab":{"[PAD]":0,"[UNK]":1,"e":2,"l":3,'
    '"n":4,"o":5,"r":6,"s":7,"t":8,"w":9,"\u2581":10,"lo":11,"we":12,"\u2581lo":13,"ne":14,'
    '"\u2581ne":15,"wer":16,"st":17,"west":18,"\u2581low":19,"\u2581lower":20,"\u2581lowest":'
    '21,"\u2581new":22,"\u2581newer":23},"merges":[["l","o"],["w","e"],["\u2581","lo"],["n",'
    '"e"],["\u2581","ne"],["we","r"],["s","t"],["we","st"],["\u2581lo","w"],["\u2581lo",'
    '"wer"],["\u2581lo","west"],["\u2581ne","w"],["\u2581ne","wer"]]}}'
)
OLD_BPE_JSON = {
    "format": "rnnkit.text_encoder", "version": 1, "tokens": "bpe", "lowercase": True,
    "normalise": False, "min_freq": 1, "max_vocab": 24, "tokenizer": OLD_BPE_TOKENIZER,
}  # fmt: skip


def _needs(kind: str) -> None:
    if kind in ("bpe", "wordpiece"):
        pytest.importorskip("tokenizers", reason="HF tokenizers not installed (rnnkit[classify])")


@pytest.mark.parametrize("kind", KINDS)
def test_specials_take_ids_0_to_3_in_order(kind: str) -> None:
    _needs(kind)
    enc = TextEncoder.fit(TRAIN, tokens=kind, normalise=False, specials=SPECIALS)
    assert enc.vocabulary[:4] == list(SPECIALS) and "[PAD]" not in enc.vocabulary
    assert [enc.token_id(t) for t in SPECIALS] == [0, 1, 2, 3] == [enc.pad_id, enc.unk_id, 2, 3]
    assert enc.special_tokens == list(SPECIALS) and enc.specials == SPECIALS
    # Unknown text maps to "<unk>", which `Vocab` alone would refuse (it knows only "[UNK]").
    unknown = {"word": "zebra", "char": "\u00e6", "bpe": "\u00e6", "wordpiece": "zebra"}[kind]
    assert 1 in enc.encode(f"{unknown} fine")
    with_normalise = TextEncoder.fit(TRAIN, tokens=kind, specials=SPECIALS)
    assert with_normalise.vocabulary[:6] == [*SPECIALS, "[NUM]", "[URL]"]
    assert with_normalise.encode("911") == [4]


def test_token_id_names_a_missing_token() -> None:
    enc = TextEncoder.fit(TRAIN, specials=SPECIALS, normalise=False)
    assert enc.token_id("fine") == enc.encode("fine")[0]
    for token in ("<bos>", "Fine", 3):
        with pytest.raises(VocabularyError, match=re.escape(repr(token))):
            enc.token_id(token)  # type: ignore[arg-type]


def test_default_specials_unchanged_and_old_json_loads() -> None:
    enc = TextEncoder.from_json(json.loads(json.dumps(OLD_WORD_JSON)))
    assert enc.specials is None and enc.special_tokens == ["[PAD]", "[UNK]", "[NUM]", "[URL]"]
    assert enc.encode("I'm fine, thanks. Zebra 7") == [4, 5, 6, 7, 8, 1, 2]
    assert enc.to_json() == OLD_WORD_JSON  # no "specials" field appears
    assert enc.decode([4, 5, 6, 7, 8]) == "i'm fine, thanks."
    fitted = TextEncoder.fit(["I'm fine, thanks.", "Call 911 now!"], max_vocab=20)
    assert fitted.to_json() == OLD_WORD_JSON


def test_old_subword_json_loads_and_decodes() -> None:
    _needs("bpe")
    enc = TextEncoder.from_json(OLD_BPE_JSON)
    assert enc.encode("lowest newer zz") == [21, 23, 10, 1, 1]
    assert enc.to_json() == OLD_BPE_JSON
    # BPE's unknown stands for a character inside a word, so both stay in one word.
    assert enc.decode(enc.encode("lowest newer zz")) == "lowest newer [UNK][UNK]"


@pytest.mark.parametrize("kind", KINDS)
def test_json_round_trip_keeps_specials(kind: str) -> None:
    _needs(kind)
    enc = TextEncoder.fit(TRAIN, tokens=kind, specials=SPECIALS, max_vocab=40)
    data = json.loads(json.dumps(enc.to_json()))
    assert data["specials"] == list(SPECIALS)
    back = TextEncoder.from_json(data)
    assert back.specials == SPECIALS and back.to_json() == enc.to_json()
    assert back.encode("Call me, zebra!") == enc.encode("Call me, zebra!")
    with pytest.raises(CheckpointError, match="corrupt: TextEncoder.specials"):
        TextEncoder.from_json({**data, "specials": "<pad>"})
    with pytest.raises(CheckpointError, match="must be fitted with the specials"):
        TextEncoder.from_json({**data, "specials": ["<pad>", "<unk>", "<s>", "</s>"]})


@pytest.mark.parametrize(
    ("specials", "normalise"),
    [
        (("<pad>",), False),  # no unknown token
        (("<pad>", "<pad>"), False),
        (("<pad>", "<u nk>"), False),  # whitespace would split when decoded
        (("<pad>", ""), False),
        (("<pad>", "<unk>", "[NUM]"), True),  # collides with normalise's placeholder
        ("<pad><unk>", False),
        (("<pad>", 1), False),
    ],
)
def test_bad_specials_name_the_field(specials: object, normalise: bool) -> None:
    with pytest.raises(ConfigError, match="TextEncoder.specials") as info:
        TextEncoder.fit(TRAIN, specials=specials, normalise=normalise)  # type: ignore[arg-type]
    assert info.value.field == "specials"


def test_max_vocab_counts_the_specials() -> None:
    five = (*SPECIALS, "<sep>")
    for normalise, least in ((False, 6), (True, 8)):  # [NUM], [URL] count with normalise
        with pytest.raises(ConfigError, match=f"max_vocab must be an integer >= {least}"):
            TextEncoder.fit(TRAIN, specials=five, normalise=normalise, max_vocab=least - 1)
        enc = TextEncoder.fit(TRAIN, specials=five, normalise=normalise, max_vocab=least)
        assert enc.vocab_size == least and enc.vocabulary[4] == "<sep>"
    raw = TextEncoder.fit(TRAIN, specials=("<pad>", "<unk>", "[NUM]"), normalise=False)
    assert raw.vocabulary[:3] == ["<pad>", "<unk>", "[NUM]"]


def test_decode_skips_structure_keeps_unknown_words() -> None:
    enc = TextEncoder.fit(TRAIN, specials=SPECIALS, normalise=False)
    ids = [2, *enc.encode("I'm fine, zebra."), 3, 0, 0]
    assert enc.decode(ids) == "i'm fine, <unk>."
    assert enc.decode(ids, skip_specials=False) == "<go> i'm fine, <unk>. <eos> <pad> <pad>"
    assert enc.decode(torch.tensor(ids)) == "i'm fine, <unk>."  # 0-d tensors as ids
    assert enc.decode([]) == ""
    with pytest.raises(VocabularyError, match=rf"id {enc.vocab_size} is outside .*0\.\.") as err:
        enc.decode([4, enc.vocab_size])
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="TextEncoder.ids must hold integer ids"):
        enc.decode([4, 1.5])  # type: ignore[list-item]
    normalised = TextEncoder.fit(TRAIN, specials=SPECIALS)
    assert normalised.decode(normalised.encode("Call me 911 now!")) == "call me [NUM] now!"


@pytest.mark.parametrize("kind", ["word", "bpe", "wordpiece"])
def test_decode_joins_words_by_the_documented_rule(kind: str) -> None:
    _needs(kind)
    enc = TextEncoder.fit(TRAIN, tokens=kind, specials=SPECIALS, normalise=False)
    for text in ["i'm fine, thanks.", "call me (maybe) now!", "« salut » dit-il."]:
        assert enc.decode(enc.encode(text)) == text
    # Spacing is not stored: closing marks hug the word before, whatever the text had.
    assert enc.decode(enc.encode("Call me ( maybe )  now !")) == "call me (maybe) now!"
    char = TextEncoder.fit(TRAIN, tokens="char", specials=SPECIALS, lowercase=False)
    assert char.decode(char.encode("Call me ( maybe )  now !")) == "Call me ( maybe ) now !"


# --- round trips on the real English-French pairs ----------------------------------------

# Sentences the word rule rebuilds exactly, once spacing is conventional: letters and the
# marks it knows, no number, no mark glued to a following word ("i.d.", "3:30"), no
# apostrophe opening a word ("'tis"), no straight double quote.
_KNOWN = re.compile(r"[\w\s,.;:!?'\u2019()-]*")
_ODD = re.compile(r"\d|[.,;:!?)]\w|\s['\u2019]|''")


def _conventional(text: str) -> str:
    """The rule written independently of the code: lowercase, single spaces, no space
    before , . ; : ! ? ' ’ ) and none after (."""
    text = " ".join(text.lower().split())
    text = re.sub(r" (?=[,.;:!?')\u2019])", "", text)
    return re.sub(r"(?<=\() ", "", text)


@pytest.fixture
def sentences(shared_file: Callable[[str], Path]) -> list[str]:
    """300 random pairs and three fixed ones, English sources then French targets."""
    pairs = load_pairs(shared_file("fra-eng/fra.txt"))
    # "Va !" (a space before "!"), "Cours\u202f!" (a narrow no-break space), "J'ai faim !"
    fixed = [0, 1, pairs.targets.index("J'ai faim !")]
    rows = fixed + random.Random(0).sample(range(len(pairs)), 300)
    return [pairs.sources[i] for i in rows] + [pairs.targets[i] for i in rows]


def test_sample_covers_accents_apostrophes_and_french_spacing(sentences: list[str]) -> None:
    text = "\n".join(sentences)
    for mark in ("\u00e9", "\u00e0", "\u00e7", "\u00ea", "\u202f", " !", " ?", "J'", "'s"):
        assert mark in text
    assert sentences[303:306] == ["Va !", "Cours\u202f!", "J'ai faim !"]


def test_char_round_trip_is_exact(sentences: list[str]) -> None:
    enc = TextEncoder.fit(sentences, tokens="char", lowercase=False, normalise=False)
    exact = [s for s in sentences if " ".join(s.split()) == s]
    assert len(exact) > 0.9 * len(sentences)
    for s in exact:
        assert enc.decode(enc.encode(s)) == s
    # Every whitespace run is one " " token: the narrow no-break space comes back as " ".
    for s in sentences:
        assert enc.decode(enc.encode(s)) == " ".join(s.split())
    assert enc.decode(enc.encode("Cours\u202f!")) == "Cours !"
    lower = TextEncoder.fit(sentences, tokens="char", specials=SPECIALS, normalise=False)
    assert all(lower.decode(lower.encode(s)) == s.lower() for s in exact)


@pytest.mark.parametrize("kind", ["word", "bpe", "wordpiece"])
def test_word_and_subword_round_trip_by_the_rule(sentences: list[str], kind: str) -> None:
    _needs(kind)
    enc = TextEncoder.fit(
        sentences, tokens=kind, specials=SPECIALS, normalise=False, max_vocab=100_000
    )
    plain = [s for s in sentences if _KNOWN.fullmatch(s) and not _ODD.search(s)]
    assert len(plain) > 0.9 * len(sentences)
    for s in plain:
        assert enc.decode(enc.encode(s)) == _conventional(s), s
    already = [s for s in plain if _conventional(s) == s.lower()]
    assert len(already) > 0.8 * len(plain)  # exact round trips: most English, some French
    assert all(enc.decode(enc.encode(s)) == s.lower() for s in already)
    assert enc.decode(enc.encode("Va !")) == "va!"
    assert enc.decode(enc.encode("Cours\u202f!")) == "cours!"
    assert enc.decode(enc.encode("J'ai faim !")) == "j'ai faim!"
    assert enc.decode(enc.encode("J'ai faim.")) == "j'ai faim."


def test_subwords_decode_like_words_on_training_text(sentences: list[str]) -> None:
    _needs("bpe")
    word = TextEncoder.fit(sentences, specials=SPECIALS, normalise=False, max_vocab=100_000)
    for kind in ("bpe", "wordpiece"):
        enc = TextEncoder.fit(
            sentences, tokens=kind, specials=SPECIALS, normalise=False, max_vocab=400
        )
        assert sum(len(enc.encode(s)) for s in sentences) > 1.3 * sum(
            len(word.encode(s)) for s in sentences
        )  # words really are split into pieces
        for s in sentences:
            assert enc.decode(enc.encode(s)) == word.decode(word.encode(s)), (kind, s)
