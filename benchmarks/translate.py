"""English -> French on Tatoeba's fra.txt: rnnkit's encoder-decoders beside simple
baselines, on the same 2,000 held-out pairs, in one run.

* copy: the English sentence as its own "translation" (names, numbers, punctuation);
* word for word: each English word replaced by the French word it is most associated
  with in the training pairs (Dice coefficient of sentence co-occurrence), in English
  order, unknown words copied;
* the TensorFlow tutorial's model: no attention, reversed source, greedy search;
* attention (Luong general, bidirectional encoder, no input feeding: rnnkit's
  default, which trains about 1.7x faster at this size), decoded greedily and with
  beam 5 (one trained model, two searches).

Both models use rnnkit's translation defaults (one layer of 256 LSTM units, embeddings
of 128, AdamW at 2e-3, batches of 64, sentences of at most 20 tokens) with dropout
0.2, as ``rnnkit train translate fra.txt --dropout 0.2 --minutes 30`` would (with
``--precision auto``: bf16 autocast on a CPU with AVX512-BF16, fp32 otherwise).

Each model trains within ``--minutes`` (weights chosen on a validation part of the
training pairs); the held-out pairs share no English sentence with training.

    python benchmarks/translate.py --minutes 30
    python benchmarks/translate.py --minutes 2 --limit 20000     # a quick look
    python benchmarks/translate.py --models tutorial             # one model (and the baselines)
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

from rnnkit.data.parallel import Pairs, load_pairs, split_pairs
from rnnkit.data.tokenize import make_tokenizer
from rnnkit.runs import load_run, train_run
from rnnkit.tasks.translate_data import TranslateData
from rnnkit.tasks.translate_decode import corpus_scores, translate_texts

FRA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fra-eng" / "fra.txt"
TEST_PAIRS = 2000
MODELS = {
    "tutorial: no attention, reversed source": {
        "data": {"reverse_source": True, "beam": 1},
        "model": {"attention": "none", "bidirectional": False, "dropout": 0.2},
        "searches": {"greedy": 1},
    },
    "attention (general)": {
        "data": {},
        "model": {"attention": "general", "dropout": 0.2},
        "searches": {"greedy": 1, "beam 5": 5},
    },
}


def short(name: str) -> str:
    """A model's name for --models: its first word."""
    return name.split(":")[0].split()[0]


def word_for_word(train: Pairs, sources: list[str]) -> list[str]:
    """Each source word -> the target word with the highest Dice coefficient
    2 c(s, t) / (c(s) + c(t)) over the training pairs' sentence co-occurrences."""
    tokenize = make_tokenizer("word", lowercase=True).tokenize
    src_count, tgt_count, both = Counter(), Counter(), Counter()
    for s, t in zip(train.sources, train.targets, strict=True):
        # Sorted, so ties are broken the same way in every process (sets of strings
        # iterate in an order that changes with the hash seed).
        s_words, t_words = sorted(set(tokenize(s))), sorted(set(tokenize(t)))
        src_count.update(s_words)
        tgt_count.update(t_words)
        both.update((a, b) for a in s_words for b in t_words)
    best: dict[str, tuple[float, str]] = {}
    for (a, b), c in both.items():
        dice = 2 * c / (src_count[a] + tgt_count[b])
        if dice > best.get(a, (0.0, ""))[0]:
            best[a] = (dice, b)
    detok = make_tokenizer("word", lowercase=True)
    return [
        detok.detokenize([best.get(w, (0.0, w))[1] for w in tokenize(text)]) for text in sources
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget per model")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N pairs")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here")
    parser.add_argument(
        "--models",
        nargs="+",
        choices=[short(name) for name in MODELS],
        default=None,
        help="train only these (default: all); the baselines always run",
    )
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="rnnkit-translate-"))
    pairs = load_pairs(FRA)
    if args.limit:
        pairs = pairs.subset(range(min(args.limit, len(pairs))))
    share = TEST_PAIRS / len(pairs)
    train, test = split_pairs(pairs, share, 0)  # the split every model below makes too
    config = TranslateData()
    words = make_tokenizer("word", lowercase=True).tokenize
    test = test.subset(
        [i for i, (s, t) in enumerate(zip(test.sources, test.targets, strict=True))
         if max(len(words(s)), len(words(t))) <= config.max_len]
    )  # fmt: skip
    print(
        f"# English -> French ({platform.processor() or platform.machine()}, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads; {len(train):,} training / "
        f"{len(test):,} test pairs; {args.minutes:g} min per model)\n"
    )
    lines = [
        "| method | BLEU | chrF | exact match % | test pairs | training min |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]

    def record(name: str, hypotheses: list[str], references: list[str], minutes: str) -> None:
        s = corpus_scores(hypotheses, references, config)
        lines.append(
            f"| {name} | {s['bleu']:.1f} | {s['chrf']:.1f} | {100 * s['exact_match']:.1f} | "
            f"{len(references):,} | {minutes} |"
        )
        print(lines[-1], flush=True)

    record("copy the source", [s.lower() for s in test.sources], list(test.targets), "")
    record("word for word (Dice)", word_for_word(train, list(test.sources)), list(test.targets), "")
    for name, settings in MODELS.items():
        if args.models and short(name) not in args.models:
            continue
        started = time.perf_counter()
        outcome = train_run(
            "translate",
            root / name.split(":")[0].replace(" ", "-"),
            source=str(FRA) if not args.limit else None,
            raw=pairs,
            data={"test_fraction": share, "split_seed": 0} | settings["data"],
            model=settings["model"],
            train={"max_minutes": args.minutes, "seed": args.seed, "progress": False},
        )
        minutes = f"{(time.perf_counter() - started) / 60:.1f}"
        run = load_run(outcome.run_dir)
        for search, width in settings["searches"].items():
            outputs = translate_texts(run, list(test.sources), beam=width)
            hypotheses = [o[0]["translation"] for o in outputs]
            record(f"{name}, {search}", hypotheses, list(test.targets), minutes)
    print("\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
