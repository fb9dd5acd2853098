"""`TextEncoder`: text -> token ids for sequence classification, fitted on training texts.

Ids follow Keras `TextVectorization`: 0 = "[PAD]", 1 = "[UNK]", then (with `normalise`)
2 = "[NUM]", 3 = "[URL]", then the training tokens by descending frequency, ties by first
appearance (`Vocab.build`). Before counting and before every encode, case is folded
(`lowercase`) and, with `normalise`, HTML line breaks ("<br />" in IMDB) become spaces, a
URL (http://, https://, ftp://, www.) or e-mail address becomes "[URL]" and a number
"[NUM]": digits with optional ``.``/``,`` groups and an ordinal or decade suffix ("42",
"3.14", "1,000", "2nd", "1990s", "80s") where a token starts. A sign stays a "-" token,
"24/7" is [NUM] / [NUM]; "mp3", "3d" and "covid-19" stay words (digits inside a word).

Words and punctuation split as `WordTokenizer` splits them ("don't" is one token); "char"
tokens are characters, whitespace runs collapsed to one space; "bpe" and "wordpiece"
train a HF `tokenizers` model on the same word split, so placeholders never break up.
Both mark a word's first piece with "▁" (SentencePiece's convention: "▁low", "est"),
not "</w>" or "##": HF numbers marked pieces in hash-map order, so training with them
differs run to run (huggingface/tokenizers#1794), while a marker character is ordinary
alphabet and training is deterministic.

`fit(specials=...)` puts a task's own specials first instead, in id order: padding (0),
unknown (1, the subword models' unk too), the rest ("<pad>", "<unk>", "<go>", "<eos>"
for translation), then "[NUM]", "[URL]" with `normalise`.

`decode` joins words by rnnkit's one rule, `WordTokenizer.detokenize`'s: single spaces,
none before , . ; : ! ? ' ’ ) ] } and none after ( [ {. So `decode(encode(s)) == s` when s
is lowercase (with `lowercase`), has no number/URL/"<br />" (with `normalise`), only known
words, and that spacing: "i'm fine, thanks." comes back as is, French "va !" (space or
narrow no-break space before ! ? ; :) as "va!". Subword pieces become words through HF's
`decoders.Metaspace` (HF's WordPiece decoder wants "##" continuations, ours mark starts).
Characters join with nothing between: text whose whitespace is single " " comes back.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Iterable, Sequence
from typing import Any

from rnnkit.data.tokenize import _WORD_RE, WordTokenizer
from rnnkit.data.vocab import Vocab
from rnnkit.errors import CheckpointError, ConfigError, DataError, VocabularyError
from rnnkit.validate import check_bool, check_choice, check_int, fail

__all__ = ["ENCODER_FORMAT", "ENCODER_VERSION", "TOKEN_KINDS", "TextEncoder"]

ENCODER_FORMAT = "rnnkit.text_encoder"
ENCODER_VERSION = 1
TOKEN_KINDS = ("word", "char", "bpe", "wordpiece")
PAD, UNK, NUM, URL = "[PAD]", "[UNK]", "[NUM]", "[URL]"
_INSTALL = "'bpe'/'wordpiece' need pip install 'rnnkit[classify]' (or pip install tokenizers)"
_START = "\u2581"  # marks the first piece of a subword-split word
_SETTINGS = ("tokens", "lowercase", "normalise", "min_freq", "max_vocab")

_BREAK_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
_URL = (
    r"(?:https?://|ftp://|www\.)\S+?(?=[.,;:!?)\]}'\"]*(?:\s|$))"
    r"|[^\W_][\w.+-]*@[^\W_][\w-]*(?:\.[\w-]+)+"
)
_NUM = r"\d+(?:[.,]\d+)*(?i:st|nd|rd|th|s)?(?![^\W_])"
# One scan finds placeholders and words alike, so a number is only tried where a token
# starts: the word alternative has already consumed "mp3" before "3" could be tried.
_SCAN_RE = re.compile(rf"(?P<url>{_URL})|(?P<num>{_NUM})|{_WORD_RE.pattern}")


def _specials(normalise: bool, specials: Sequence[str] | None = None) -> list[str]:
    """Every special token in id order: padding, unknown, the rest, then the placeholders."""
    head = [PAD, UNK] if specials is None else list(specials)
    return head + [NUM, URL] if normalise else head


class TextEncoder:
    """Turns text into token ids with a vocabulary fitted on training texts.

    Build one with `fit` or `from_json`. The constructor takes the settings and a fitted
    `vocab` (word/char) or HF `tokenizer` (bpe/wordpiece) whose first ids are the specials.
    """

    def __init__(
        self,
        *,
        tokens: str,
        lowercase: bool,
        normalise: bool,
        min_freq: int,
        max_vocab: int,
        vocab: Vocab | None = None,
        tokenizer: Any = None,
        specials: Sequence[str] | None = None,
    ) -> None:
        _check_settings(tokens, lowercase, normalise, min_freq, max_vocab, specials)
        self.tokens, self.lowercase, self.normalise = tokens, lowercase, normalise
        self.min_freq, self.max_vocab = min_freq, max_vocab
        self.specials = None if specials is None else tuple(specials)
        self._vocab, self._tokenizer = vocab, tokenizer
        specials = _specials(normalise, specials)
        if tokens in ("word", "char"):
            field, ok = "vocab", isinstance(vocab, Vocab) and vocab.specials == specials
            self._vocabulary = vocab.tokens if ok else []  # type: ignore[union-attr]
        else:
            ids = tokenizer.get_vocab(with_added_tokens=True) if tokenizer is not None else {}
            self._vocabulary = sorted(ids, key=ids.__getitem__)
            field, ok = "tokenizer", self._vocabulary[: len(specials)] == specials
        if not ok:
            raise fail("TextEncoder", field, f"must be fitted with the specials {specials} first")
        self._special_tokens = specials
        self._ids = {token: i for i, token in enumerate(self._vocabulary)}

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        *,
        tokens: str = "word",
        lowercase: bool = True,
        normalise: bool = True,
        min_freq: int = 1,
        max_vocab: int = 20000,
        specials: tuple[str, ...] | None = None,
    ) -> TextEncoder:
        """Fit the vocabulary on the training `texts` (never on validation or test texts).

        Args:
            tokens: "word", "char", or subwords "bpe" / "wordpiece" (HF `tokenizers`).
            min_freq: word/char tokens seen fewer times encode to "[UNK]"; for subwords,
                the least frequency of a pair that may be merged.
            max_vocab: at most this many ids, specials included (the rarest tokens are cut);
                for subwords the target size (every training character is kept, so a tiny
                target can be exceeded).
            specials: the special tokens in id order, padding first and unknown second
                (module docstring); None keeps "[PAD]", "[UNK]".

        Raises:
            ConfigError: a bad argument (`field` names it), or `tokenizers` is missing.
            DataError: the texts hold no tokens at all.
        """
        _check_settings(tokens, lowercase, normalise, min_freq, max_vocab, specials)
        if isinstance(texts, str | bytes) or not isinstance(texts, Iterable):
            raise fail("TextEncoder", "texts", f"must be a list of strings, got {texts!r:.60}")
        texts = list(texts)
        settings = dict(tokens=tokens, lowercase=lowercase, normalise=normalise)
        settings.update(min_freq=min_freq, max_vocab=max_vocab, specials=specials)
        all_specials = _specials(normalise, specials)
        kind = "char" if tokens == "char" else "word"
        split = [_split(text, kind, lowercase, normalise) for text in texts]
        # Placeholders are special tokens, not text a subword model should learn pieces of.
        drop = {NUM, URL} if tokens in ("bpe", "wordpiece") else set()
        split = [[t for t in row if t not in drop] for row in split]
        if not any(split):
            raise DataError(f"TextEncoder.fit got {len(texts)} training texts without a token")
        if kind == "char" or tokens == "word":
            flat = [t for row in split for t in row]
            vocab = Vocab.build(flat, all_specials, min_freq=min_freq, max_size=max_vocab)
            return cls(**settings, vocab=vocab)
        tk = _import_tokenizers()
        common = dict(vocab_size=max_vocab, min_frequency=min_freq, show_progress=False)
        common["special_tokens"] = all_specials
        if tokens == "bpe":
            model = tk.models.BPE(unk_token=all_specials[1])
            trainer = tk.trainers.BpeTrainer(**common)
        else:
            model = tk.models.WordPiece(unk_token=all_specials[1], continuing_subword_prefix="")
            trainer = tk.trainers.WordPieceTrainer(**common, continuing_subword_prefix="")
        tokenizer = tk.Tokenizer(model)
        # The word split is ours: the HF side splits on the spaces we join with and marks
        # each word's start.
        tokenizer.pre_tokenizer = tk.pre_tokenizers.Metaspace(_START, prepend_scheme="always")
        tokenizer.train_from_iterator((" ".join(row) for row in split), trainer=trainer)
        return cls(**settings, tokenizer=tokenizer)

    # --- encoding -------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[str]:
        """The tokens of `text` after normalisation, before id lookup."""
        if self._tokenizer is None:
            return _split(text, self.tokens, self.lowercase, self.normalise)
        return self._subwords(text).tokens

    def encode(self, text: str) -> list[int]:
        """The ids of `text`; tokens outside the vocabulary become `unk_id`."""
        if self._vocab is not None:
            # Our own lookup: `Vocab` maps unknowns only to a special named "[UNK]".
            ids, unk = self._ids, self.unk_id
            return [ids.get(t, unk) for t in self.tokenize(text)]
        return self._subwords(text).ids

    def _subwords(self, text: str) -> Any:
        words = _split(text, "word", self.lowercase, self.normalise)
        return self._tokenizer.encode(words, is_pretokenized=True)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """`encode` of each text, unpadded (a single string is refused, not split)."""
        if isinstance(texts, str):
            raise fail("TextEncoder", "texts", "must be a list of strings, got one string")
        return [self.encode(text) for text in texts]

    def unknown_rate(self, texts: Sequence[str]) -> float:
        """The share of the tokens of `texts` that encode to "[UNK]" (0.0 if there are none)."""
        ids = [i for row in self.encode_batch(texts) for i in row]
        return sum(i == self.unk_id for i in ids) / len(ids) if ids else 0.0

    # --- decoding -------------------------------------------------------------------------

    def token_id(self, token: str) -> int:
        """The id of `token` as the vocabulary holds it ("<eos>", "▁the"), or a
        VocabularyError naming it."""
        i = self._ids.get(token) if isinstance(token, str) else None
        if i is None:
            raise VocabularyError(
                f"token {token!r} is not in this {self.tokens} vocabulary of {self.vocab_size} "
                f"tokens (its specials are {', '.join(self._special_tokens)})"
            )
        return i

    def decode(self, ids: Iterable[int], skip_specials: bool = True) -> str:
        """The text of `ids` (ints or 0-d tensors), by the rule of the module docstring;
        VocabularyError for an id outside the vocabulary.

        `skip_specials` drops padding and the task's extra specials ("<go>", "<eos>"); the
        unknown token and "[NUM]"/"[URL]" stand for words of the text and stay.
        """
        check_bool("TextEncoder", "skip_specials", skip_specials)
        tokens = [self._token(i) for i in ids]
        keep = {self._vocabulary[self.unk_id], NUM, URL}
        if skip_specials:
            tokens = [t for t in tokens if t not in self._special_tokens or t in keep]
        if self.tokens == "char":
            return "".join(tokens)
        words = tokens if self.tokens == "word" else self._words(tokens)
        return WordTokenizer().detokenize(words)

    def _token(self, i: Any) -> str:
        try:
            i = operator.index(i)  # an int, or an integer 0-d tensor / numpy scalar
        except TypeError:
            raise fail("TextEncoder", "ids", f"must hold integer ids, got {i!r:.40}") from None
        if not 0 <= i < self.vocab_size:
            raise VocabularyError(
                f"id {i} is outside this vocabulary's range 0..{self.vocab_size - 1}; "
                "was it produced with a different vocabulary?"
            )
        return self._vocabulary[i]

    def _words(self, tokens: list[str]) -> list[str]:
        """Pieces into words by HF's decoder. A special is a word of its own, except BPE's
        unknown token: it stands for one unseen character of a word (WordPiece's for a word)."""
        decoder = _import_tokenizers().decoders.Metaspace(_START, prepend_scheme="always")
        unk = self._vocabulary[self.unk_id]
        whole = {t for t in self._special_tokens if t != unk or self.tokens == "wordpiece"}
        words: list[str] = []
        for is_word, group in itertools.groupby(tokens, whole.__contains__):
            run = list(group)
            words.extend(run if is_word else decoder.decode(run).split())
        return words

    @property
    def special_tokens(self) -> list[str]:
        """The special tokens in id order, "[NUM]"/"[URL]" included (a copy)."""
        return list(self._special_tokens)

    @property
    def vocab_size(self) -> int:
        """The number of ids, specials included (the embedding table's V)."""
        return len(self._vocabulary)

    @property
    def vocabulary(self) -> list[str]:
        """Every token in id order (a copy)."""
        return list(self._vocabulary)

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    def __repr__(self) -> str:
        specials = "" if self.specials is None else f", specials={self.specials}"
        return (
            f"TextEncoder(tokens={self.tokens!r}, vocab_size={self.vocab_size}, "
            f"lowercase={self.lowercase}, normalise={self.normalise}{specials})"
        )

    # --- persistence ----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """A plain JSON document that `from_json` turns back into an equal encoder."""
        data: dict[str, Any] = {"format": ENCODER_FORMAT, "version": ENCODER_VERSION}
        data.update((k, getattr(self, k)) for k in _SETTINGS)
        if self.specials is not None:  # absent when default: older documents stay equal
            data["specials"] = list(self.specials)
        if self._vocab is not None:
            data["vocab"] = self._vocab.to_dict()
        else:
            data["tokenizer"] = self._tokenizer.to_str()
        return data

    @classmethod
    def from_json(cls, data: object) -> TextEncoder:
        """Rebuild a `to_json()` document, checking every field.

        Raises:
            CheckpointError: not such a document (the message names what is wrong).
            VocabularyError: its word/char vocabulary is corrupt.
            ConfigError: it holds a subword model and `tokenizers` is missing.
        """
        what = "text encoder JSON"
        if not isinstance(data, dict):
            raise CheckpointError(f"{what} must be an object, got {type(data).__name__}")
        if (data.get("format"), data.get("version")) != (ENCODER_FORMAT, ENCODER_VERSION):
            raise CheckpointError(
                f"{what} has format {data.get('format')!r} version {data.get('version')!r}; "
                f"this rnnkit reads {ENCODER_FORMAT!r} version {ENCODER_VERSION}"
            )
        try:
            check_choice("TextEncoder", "tokens", data.get("tokens"), TOKEN_KINDS)
            model_key = "vocab" if data["tokens"] in ("word", "char") else "tokenizer"
            expected = {"format", "version", *_SETTINGS, model_key}
            expected |= {"specials"} & set(data)  # optional: older documents lack it
            if set(data) != expected:
                raise CheckpointError(
                    f"{what} lacks {sorted(expected - set(data))} and has unexpected "
                    f"{sorted(set(data) - expected)}"
                )
            settings = {k: data[k] for k in _SETTINGS}
            settings["specials"] = data.get("specials")
            _check_settings(*settings.values())
            if model_key == "vocab":
                model = {"vocab": Vocab.from_dict(data["vocab"], f"{what} 'vocab'")}
            else:
                model = {"tokenizer": _load_tokenizer(data["tokenizer"], settings["tokens"])}
            return cls(**settings, **model)
        except ConfigError as err:
            if err.problem == _INSTALL:
                raise  # a missing package, not a corrupt document
            raise CheckpointError(f"{what} is corrupt: {err}") from None


def _split(text: str, kind: str, lowercase: bool, normalise: bool) -> list[str]:
    """Words (or characters) with placeholders, before any subword split."""
    if not isinstance(text, str):
        raise fail("TextEncoder", "text", f"must be a string, got {type(text).__name__}")
    if lowercase:
        text = text.lower()
    if normalise:
        text = _BREAK_RE.sub(" ", text)
    if kind == "char":
        text = " ".join(text.split())
    if not normalise:
        return list(text) if kind == "char" else _WORD_RE.findall(text)
    out: list[str] = []
    start = 0  # char mode: where the text not yet emitted begins
    for m in _SCAN_RE.finditer(text):
        mark = {"url": URL, "num": NUM}.get(m.lastgroup or "")
        if kind == "word":
            out.append(mark or m.group())
        elif mark:
            out.extend(text[start : m.start()])
            out.append(mark)
            start = m.end()
    if kind == "char":
        out.extend(text[start:])
    return out


def _check_settings(
    tokens: object,
    lowercase: object,
    normalise: object,
    min_freq: object,
    max_vocab: object,
    specials: object = None,
) -> None:
    check_choice("TextEncoder", "tokens", tokens, TOKEN_KINDS)
    check_bool("TextEncoder", "lowercase", lowercase)
    check_bool("TextEncoder", "normalise", normalise)
    check_int("TextEncoder", "min_freq", min_freq, least=1)
    given = list(specials) if isinstance(specials, tuple | list) else [None]
    every = _specials(bool(normalise), None if specials is None else given)
    # No whitespace inside a special: decoded subword text is split into words at spaces.
    if specials is not None and (
        not all(isinstance(t, str) and t.split() == [t] for t in every)
        or len(given) < 2
        or len(set(every)) < len(every)
    ):
        raise fail(
            "TextEncoder",
            "specials",
            "must be None or distinct strings without whitespace, padding and unknown first, "
            f"and not {NUM!r}/{URL!r} with normalise, got {specials!r}",
        )
    check_int("TextEncoder", "max_vocab", max_vocab, least=len(every) + 1)


def _import_tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError:
        raise fail("TextEncoder", "tokens", _INSTALL) from None
    return tokenizers


def _load_tokenizer(text: object, tokens: str) -> Any:
    tk = _import_tokenizers()
    what = "text encoder JSON 'tokenizer'"
    if not isinstance(text, str):
        raise CheckpointError(f"{what} must be a string, got {type(text).__name__}")
    try:
        tokenizer = tk.Tokenizer.from_str(text)
    except Exception as err:  # tokenizers raises a bare Exception on a bad document
        raise CheckpointError(f"{what} is not a tokenizers model: {err}") from None
    want = {"bpe": "BPE", "wordpiece": "WordPiece"}[tokens]
    if type(tokenizer.model).__name__ != want:
        raise CheckpointError(f"{what} is a {type(tokenizer.model).__name__} model, not {want}")
    return tokenizer
