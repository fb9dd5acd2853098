"""The bad-input catalogue: every command meets files and flags a user gets wrong.

Each case must end in exactly one line on stderr that names the flag or the file, exit
code 2, no traceback, and nothing half-written: the trained runs it reads are unchanged
and the folder it works in holds exactly what it held before (no output folder, no
temporary files). The commands run in this process (`rnnkit.cli.main.main`).
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli.main import main

QUICK = ["--steps", "3", "--no-progress"]
TINY_LM = ["--hidden", "8", "--embedding", "4", "--batch-size", "2", "--seq-len", "8"]
TEXT = "the cat sat on the mat. the dog sat on the log. " * 30
TS_HEAD = "@problemName x\n@timeStamps false\n@univariate true\n@classLabel true a b\n@data\n"


def _series_csv(values) -> str:
    return "t,y\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values))


class Bench:
    """What a case works with: trained runs (never to be changed), a fresh folder for
    the files it writes, ``out`` (an output path that must not exist afterwards) and a
    full disk."""

    def __init__(self, runs: dict[str, Path], folder: Path, full: Path | None) -> None:
        self.runs, self.folder, self._full = runs, folder, full
        self.out = folder / "out"

    def file(self, name: str, data: str | bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return path

    def copy(self, kind: str) -> Path:
        """A copy of a trained run, to spoil."""
        return Path(shutil.copytree(self.runs[kind], self.folder / f"{kind}-copy"))

    @property
    def full(self) -> Path:
        if self._full is None:
            pytest.skip("no full disk: mounting a tiny tmpfs is not allowed here")
        return self._full

    def text(self) -> Path:
        return self.file("text.txt", TEXT)


@dataclass(frozen=True)
class Case:
    id: str
    args: Callable[[Bench], list]  # the command line, writing the files it needs
    names: Callable[[Bench], str] | str  # what the one line must name (a flag or file)


def edit_vocab(b: Bench) -> Path:
    run_dir = b.copy("char")
    vocab = json.loads((run_dir / "vocab.json").read_text())
    vocab["tokens"][1], vocab["tokens"][2] = vocab["tokens"][2], vocab["tokens"][1]
    (run_dir / "vocab.json").write_text(json.dumps(vocab))
    return run_dir


def without_checkpoint(b: Bench) -> Path:
    run_dir = b.copy("char")
    (run_dir / "checkpoint.safetensors").unlink()
    return run_dir


def corrupt(b: Bench, kind: str, name: str, keep: float) -> Path:
    run_dir = b.copy(kind)
    data = (run_dir / name).read_bytes()
    (run_dir / name).write_bytes(data[: int(len(data) * keep)])
    return run_dir


def idx_pair(b: Bench, images: int, labels: int, pixels: int) -> Path:
    b.file("train-labels-idx1-ubyte", struct.pack(">II", 0x801, labels) + bytes(labels))
    head = struct.pack(">IIII", 0x803, images, 2, 2)
    return b.file("train-images-idx3-ubyte", head + bytes(pixels))


def reviews(b: Bench) -> Path:
    return b.file("reviews.csv", "text,label\n" + "a great film,pos\na dull film,neg\n" * 8)


CASES = [
    # ---- train lm: texts -------------------------------------------------------------
    Case("train-lm-empty-text", lambda b: ["train", "lm", b.file("e.txt", ""), *QUICK, "--out", b.out], "e.txt"),
    Case("train-lm-binary-text", lambda b: ["train", "lm", b.file("b.txt", bytes(range(256)) * 8), *QUICK, "--out", b.out], "b.txt"),
    Case("train-lm-utf16-named-as-utf16", lambda b: ["train", "lm", b.file("u.txt", TEXT.encode("utf-16")), *QUICK, "--out", b.out], "UTF-16"),
    Case("train-lm-latin1-text", lambda b: ["train", "lm", b.file("l.txt", ("café. " * 80).encode("latin-1")), *QUICK, "--out", b.out], "--encoding"),
    Case("train-lm-too-short-text", lambda b: ["train", "lm", b.file("s.txt", "hi"), *QUICK, "--out", b.out], "--seq-len"),
    Case("train-lm-missing-file", lambda b: ["train", "lm", b.folder / "nope.txt", *QUICK, "--out", b.out], "nope.txt"),
    Case("train-lm-empty-stdin", lambda b: ["train", "lm", "-", *QUICK, "--out", b.out], "standard input"),
    Case("train-lm-unknown-encoding", lambda b: ["train", "lm", b.text(), "--encoding", "klingon", *QUICK, "--out", b.out], "--encoding"),
    # ---- train lm: impossible settings -----------------------------------------------
    Case("train-lm-hidden-0", lambda b: ["train", "lm", b.text(), *TINY_LM, "--hidden", "0", *QUICK, "--out", b.out], "--hidden"),
    Case("train-lm-layers-0", lambda b: ["train", "lm", b.text(), *TINY_LM, "--layers", "0", *QUICK, "--out", b.out], "--layers"),
    Case("train-lm-dropout-1.5", lambda b: ["train", "lm", b.text(), *TINY_LM, "--dropout", "1.5", *QUICK, "--out", b.out], "--dropout"),
    Case("train-lm-lr-nan", lambda b: ["train", "lm", b.text(), *TINY_LM, "--lr", "nan", *QUICK, "--out", b.out], "--lr"),
    Case("train-lm-seq-len-0", lambda b: ["train", "lm", b.text(), "--seq-len", "0", *QUICK, "--out", b.out], "--seq-len"),
    Case("train-lm-steps-0", lambda b: ["train", "lm", b.text(), *TINY_LM, "--steps", "0", "--out", b.out], "--steps"),
    Case("train-lm-both-clips", lambda b: ["train", "lm", b.text(), *TINY_LM, "--clip-norm", "1", "--clip-value", "1", *QUICK, "--out", b.out], "--clip-value cannot be combined"),
    Case("train-lm-tie-weights-of-other-widths", lambda b: ["train", "lm", b.text(), *TINY_LM, "--tie-weights", *QUICK, "--out", b.out], "--tie-weights needs an embedding as wide"),
    Case("train-lm-ema-1.5", lambda b: ["train", "lm", b.text(), *TINY_LM, "--ema", "1.5", *QUICK, "--out", b.out], "--ema"),
    Case("train-lm-unknown-cell", lambda b: ["train", "lm", b.text(), "--cell", "bogus", *QUICK, "--out", b.out], "--cell"),
    Case("train-lm-absent-device", lambda b: ["train", "lm", b.text(), *TINY_LM, "--device", "cuda:7", *QUICK, "--out", b.out], "--device"),
    # ---- train: output folders and resumes ---------------------------------------------
    Case("train-lm-out-under-a-file", lambda b: ["train", "lm", b.text(), *TINY_LM, *QUICK, "--out", b.text() / "run"], "--out"),
    Case("train-lm-out-under-proc", lambda b: ["train", "lm", b.text(), *TINY_LM, *QUICK, "--out", "/proc/rnnkit-catalogue-run"], "--out"),
    Case("train-lm-out-on-a-full-disk", lambda b: ["train", "lm", b.text(), *TINY_LM, *QUICK, "--out", b.full / "run"], "No space left"),
    Case("train-lm-out-holds-a-run", lambda b: ["train", "lm", b.text(), *TINY_LM, *QUICK, "--out", b.runs["char"]], "--resume"),
    Case("train-lm-resume-unknown-run", lambda b: ["train", "lm", "--resume", b.folder / "norun"], "norun"),
    Case("train-lm-resume-changes-hidden", lambda b: ["train", "lm", "--resume", b.runs["char"], "--hidden", "16"], "--hidden"),
    Case("train-lm-resume-finished-run", lambda b: ["train", "lm", "--resume", b.runs["char"]], "--steps"),
    Case("train-lm-resume-without-checkpoint", lambda b: ["train", "lm", "--resume", without_checkpoint(b), "--steps", "6"], "checkpoint.safetensors"),
    Case("train-lm-resume-as-another-task", lambda b: ["train", "forecast", "--resume", b.runs["char"], "--steps", "6"], "train lm --resume"),
    Case("train-lm-resume-with-out", lambda b: ["train", "lm", "--resume", b.runs["char"], "--steps", "6", "--out", b.out], "leave out --out"),
    Case("train-lm-diverges-at-once", lambda b: ["train", "lm", b.text(), *TINY_LM, "--lr", "1e38", "--clip-norm", "1e30", "--max-bad-steps", "0", *QUICK, "--out", b.out], "nothing is kept"),
    Case("train-lm-min-freq-leaves-no-word", lambda b: ["train", "lm", b.text(), *TINY_LM, "--level", "word", "--min-freq", "1000", *QUICK, "--out", b.out], "--min-freq"),
    Case("train-lm-resume-edited-vocab", lambda b: ["train", "lm", "--resume", edit_vocab(b), "--steps", "6"], "vocab.json"),
    # ---- train classify: tables, IDX, .ts ----------------------------------------------
    Case("train-classify-no-label-column", lambda b: ["train", "classify", b.file("n.csv", "text,lab\na,b\n"), *QUICK, "--out", b.out], "--label-col"),
    Case("train-classify-ragged-csv", lambda b: ["train", "classify", b.file("r.csv", 'text,label\n"a b,x\nc,d,e\n' * 5), *QUICK, "--out", b.out], "r.csv"),
    Case("train-classify-tsv-missing-field", lambda b: ["train", "classify", b.file("t.tsv", "text\tlabel\na\n" * 5), *QUICK, "--out", b.out], "t.tsv"),
    Case("train-classify-broken-jsonl", lambda b: ["train", "classify", b.file("j.jsonl", '{"text": "a", "label": 1}\n{bad\n'), *QUICK, "--out", b.out], "j.jsonl"),
    Case("train-classify-one-class", lambda b: ["train", "classify", b.file("o.csv", "text,label\n" + "a b,x\n" * 20), *QUICK, "--out", b.out], "2"),
    Case("train-classify-sparse-embeddings-with-sgd", lambda b: ["train", "classify", reviews(b), "--sparse-embeddings", "--optimizer", "sgd", *QUICK, "--out", b.out], "--sparse-embeddings needs optimizer adam"),
    Case("train-classify-sparse-embeddings-in-a-team", lambda b: ["train", "classify", reviews(b), "--sparse-embeddings", "--nproc", "2", *QUICK, "--out", b.out], "leave out --nproc"),
    Case("train-classify-test-unknown-label", lambda b: ["train", "classify", reviews(b), "--test", b.file("t.csv", "text,label\na film,meh\n"), *QUICK, "--out", b.out], "meh"),
    Case("train-classify-val-unknown-label", lambda b: ["train", "classify", reviews(b), "--val", b.file("v.csv", "text,label\na film,meh\n"), *QUICK, "--out", b.out], "(--val "),
    Case("train-classify-empty-test-path", lambda b: ["train", "classify", reviews(b), "--test", "", *QUICK, "--out", b.out], "--test must be a non-empty string"),
    Case("train-classify-empty-val-path", lambda b: ["train", "classify", reviews(b), "--val", "", *QUICK, "--out", b.out], "--val must be a non-empty string"),
    Case("train-classify-val-and-val-fraction", lambda b: ["train", "classify", reviews(b), "--val", reviews(b), "--val-fraction", "0.3", *QUICK, "--out", b.out], "--val-fraction is unused with --val"),
    Case("train-classify-val-is-series", lambda b: ["train", "classify", reviews(b), "--val", b.file("v.csv", "pos,1,2\nneg,3,4\n"), *QUICK, "--out", b.out], "reads text"),
    Case("train-classify-monitor-accuracy-without-held-out-data", lambda b: ["train", "classify", reviews(b), "--val-fraction", "0", "--monitor", "accuracy", *QUICK, "--out", b.out], "--monitor cannot be 'accuracy' without held-out data"),
    Case("train-classify-monitor-macro-f1-without-held-out-data", lambda b: ["train", "classify", reviews(b), "--val-fraction", "0", "--monitor", "macro_f1", *QUICK, "--out", b.out], "--monitor cannot be 'macro_f1' without held-out data"),
    Case("train-classify-monitor-unknown", lambda b: ["train", "classify", reviews(b), "--monitor", "f1", *QUICK, "--out", b.out], "--monitor"),
    Case("train-lm-monitor-accuracy", lambda b: ["train", "lm", b.file("t.txt", TEXT), "--batch-size", "4", "--seq-len", "8", "--monitor", "accuracy", *QUICK, "--out", b.out], "--monitor cannot be 'accuracy' for the lm task"),
    Case("train-classify-word-dropout-1", lambda b: ["train", "classify", reviews(b), "--word-dropout", "1", *QUICK, "--out", b.out], "--word-dropout must be"),
    Case("train-classify-word-dropout-on-series", lambda b: ["train", "classify", b.file("w.csv", "x,1,2,3\ny,4,5,6\n" * 5), "--word-dropout", "0.2", *QUICK, "--out", b.out], "--word-dropout drops words"),
    Case("train-classify-val-fraction-1.5", lambda b: ["train", "classify", reviews(b), "--val-fraction", "1.5", *QUICK, "--out", b.out], "--val-fraction"),
    Case("train-classify-idx-counts-disagree", lambda b: ["train", "classify", idx_pair(b, 5, 3, 20), *QUICK, "--out", b.out], "train-labels-idx1-ubyte"),
    Case("train-classify-idx-truncated", lambda b: ["train", "classify", idx_pair(b, 5, 5, 7), *QUICK, "--out", b.out], "train-images-idx3-ubyte"),
    Case("train-classify-ts-without-labels", lambda b: ["train", "classify", b.file("x.ts", "@problemName x\n@data\n1,2,3:a\n"), *QUICK, "--out", b.out], "x.ts"),
    Case("train-classify-ts-nan", lambda b: ["train", "classify", b.file("n.ts", TS_HEAD + "1,nan,3:a\n4,5,6:b\n" * 5), *QUICK, "--out", b.out], "n.ts"),
    Case("train-classify-ts-unlisted-label", lambda b: ["train", "classify", b.file("u.ts", TS_HEAD + "1,2,3:a\n4,5:c\n" * 5), *QUICK, "--out", b.out], "u.ts"),
    Case("train-classify-series-csv-nan", lambda b: ["train", "classify", b.file("s.csv", "x,1,2,3\ny,4,nan,6\n" * 5), *QUICK, "--out", b.out], "s.csv"),
    # ---- train forecast ----------------------------------------------------------------
    Case("train-forecast-nan-target", lambda b: ["train", "forecast", b.file("n.csv", _series_csv([*range(50), "nan", *range(50)])), "--target", "y", "--horizon", "2", *QUICK, "--out", b.out], "n.csv"),
    Case("train-forecast-inf-target", lambda b: ["train", "forecast", b.file("i.csv", _series_csv([*range(9), "inf", *range(50)])), "--target", "y", "--horizon", "2", *QUICK, "--out", b.out], "i.csv"),
    Case("train-forecast-text-target", lambda b: ["train", "forecast", b.file("t.csv", _series_csv(["abc"] * 50)), "--target", "y", "--horizon", "2", *QUICK, "--out", b.out], "t.csv"),
    Case("train-forecast-unknown-target", lambda b: ["train", "forecast", b.file("g.csv", _series_csv(range(50))), "--target", "zz", "--horizon", "2", *QUICK, "--out", b.out], "--target"),
    Case("train-forecast-too-short-series", lambda b: ["train", "forecast", b.file("s.csv", _series_csv([1, 2, 3])), "--target", "y", "--horizon", "2", *QUICK, "--out", b.out], "--input-len"),
    Case("train-forecast-horizon-0", lambda b: ["train", "forecast", b.file("g.csv", _series_csv(range(50))), "--target", "y", "--horizon", "0", *QUICK, "--out", b.out], "--horizon"),
    # ---- train translate ---------------------------------------------------------------
    Case("train-translate-line-without-tab", lambda b: ["train", "translate", b.file("p.tsv", "ab cd\n" * 20), *QUICK, "--out", b.out], "p.tsv"),
    Case("train-translate-utf16-pairs", lambda b: ["train", "translate", b.file("p.tsv", ("ab\tcd\n" * 20).encode("utf-16")), *QUICK, "--out", b.out], "UTF-16"),
    Case("train-translate-min-freq-leaves-no-word", lambda b: ["train", "translate", b.file("p.tsv", "ab\tcd\n" * 20), "--min-freq", "50", *QUICK, "--out", b.out], "--min-freq"),
    Case("train-translate-fractions-leave-nothing", lambda b: ["train", "translate", b.file("p.tsv", "ab\tcd\n" * 20), "--val-fraction", "0.5", "--test-fraction", "0.5", *QUICK, "--out", b.out], "--val-fraction 0.5 and the test fraction 0.5"),
    Case("train-translate-max-len-0", lambda b: ["train", "translate", b.file("p.tsv", "ab\tcd\n" * 20), "--max-len", "0", *QUICK, "--out", b.out], "--max-len"),
    # ---- generate / complete -----------------------------------------------------------
    Case("generate-unknown-run", lambda b: ["generate", b.folder / "norun"], "norun"),
    Case("generate-a-file-as-run", lambda b: ["generate", b.text()], "text.txt"),
    Case("generate-length-negative", lambda b: ["generate", b.runs["char"], "--length", "-1"], "--length"),
    Case("generate-greedy-with-temperature", lambda b: ["generate", b.runs["char"], "--greedy", "--temperature", "0.5"], "--greedy always takes the likeliest token"),
    Case("train-lm-abbreviated-flag", lambda b: ["train", "lm", b.text(), *TINY_LM, "--step", "3", "--out", b.out], "unrecognized arguments: --step"),
    Case("generate-top-p-1.5", lambda b: ["generate", b.runs["char"], "--top-p", "1.5"], "--top-p"),
    Case("generate-prime-unseen-chars", lambda b: ["generate", b.runs["char"], "--prime", "ZQX"], "prime"),
    Case("generate-a-classify-run", lambda b: ["generate", b.runs["classify"]], "classify"),
    Case("generate-edited-vocab", lambda b: ["generate", edit_vocab(b)], "vocab.json"),
    Case("complete-a-char-run", lambda b: ["complete", b.runs["char"]], "--level word"),
    Case("complete-words-0", lambda b: ["complete", b.runs["word"], "--words", "0"], "--words"),
    # ---- predict -----------------------------------------------------------------------
    Case("predict-empty-input", lambda b: ["predict", b.runs["classify"], "   "], "input 1"),
    Case("predict-binary-file", lambda b: ["predict", b.runs["classify"], "--file", b.file("b.txt", bytes(range(256)))], "b.txt"),
    Case("predict-utf16-file", lambda b: ["predict", b.runs["classify"], "--file", b.file("u.txt", "a film\n".encode("utf-16"))], "UTF-16"),
    Case("predict-corrupt-config", lambda b: ["predict", corrupt(b, "classify", "config.json", 0.5), "a film"], "config.json"),
    Case("predict-forecast-nan-history", lambda b: ["predict", b.runs["forecast"], "1;nan;3"], "input 1"),
    Case("predict-forecast-text-history", lambda b: ["predict", b.runs["forecast"], "a;b;c"], "input 1"),
    Case("predict-forecast-too-short-history", lambda b: ["predict", b.runs["forecast"], "1"], "--input-len"),
    # ---- forecast ----------------------------------------------------------------------
    Case("forecast-horizon-beyond-training", lambda b: ["forecast", b.runs["forecast"], "--horizon", "9", "--csv", b.out], "--horizon"),
    Case("forecast-csv-under-a-file", lambda b: ["forecast", b.runs["forecast"], "--csv", b.text() / "f.csv"], "--csv"),
    Case("forecast-csv-on-a-full-disk", lambda b: ["forecast", b.runs["forecast"], "--csv", b.full / "f.csv"], "f.csv"),
    Case("forecast-data-with-nan", lambda b: ["forecast", b.runs["forecast"], "--data", b.file("d.csv", _series_csv([*range(5), "nan", *range(40)]))], "d.csv"),
    Case("forecast-an-lm-run", lambda b: ["forecast", b.runs["char"]], "train forecast"),
    # ---- translate ---------------------------------------------------------------------
    Case("translate-beam-0", lambda b: ["translate", b.runs["translate"], "--beam", "0", "ab cd"], "--beam"),
    Case("translate-n-best-above-beam", lambda b: ["translate", b.runs["translate"], "--n-best", "5", "--beam", "2", "ab"], "--n-best"),
    Case("translate-latin1-file", lambda b: ["translate", b.runs["translate"], "--file", b.file("l.txt", "café\n".encode("latin-1"))], "l.txt"),
    Case("translate-blank-sentence", lambda b: ["translate", b.runs["translate"], "   "], "input 1"),
    Case("translate-truncated-weights", lambda b: ["translate", corrupt(b, "translate", "best.safetensors", 0.5), "ab"], "best.safetensors"),
    Case("translate-attention-under-a-file", lambda b: ["translate", b.runs["translate"], "ab", "--attention", b.text() / "a.png"], "--attention"),
    # ---- evaluate ----------------------------------------------------------------------
    Case("evaluate-unknown-run", lambda b: ["evaluate", b.folder / "norun", b.text()], "norun"),
    Case("evaluate-lm-empty-text", lambda b: ["evaluate", b.runs["char"], b.file("e.txt", "")], "e.txt"),
    Case("evaluate-lm-latin1-text", lambda b: ["evaluate", b.runs["char"], b.file("l.txt", "café".encode("latin-1"))], "l.txt"),
    Case("evaluate-classify-unknown-label", lambda b: ["evaluate", b.runs["classify"], b.file("n.csv", "text,label\na film,meh\n")], "meh"),
    Case("evaluate-forecast-nan", lambda b: ["evaluate", b.runs["forecast"], b.file("n.csv", _series_csv([*range(5), "nan", *range(60)]))], "n.csv"),
    Case("evaluate-translate-line-without-tab", lambda b: ["evaluate", b.runs["translate"], b.file("p.tsv", "ab cd\n")], "p.tsv"),
    Case("evaluate-report-under-a-file", lambda b: ["evaluate", b.runs["classify"], reviews(b), "--report", b.text() / "rep"], "--report"),
    Case("evaluate-report-on-a-full-disk", lambda b: ["evaluate", b.runs["classify"], reviews(b), "--report", b.full / "rep"], "rep"),
    # ---- inspect -----------------------------------------------------------------------
    Case("inspect-gradients-length-0", lambda b: ["inspect", "gradients", "--length", "0"], "--length"),
    Case("inspect-gradients-unknown-cell", lambda b: ["inspect", "gradients", "--cells", "bogus"], "--cells"),
    Case("inspect-gradients-utf16-text", lambda b: ["inspect", "gradients", b.runs["char"], "--text", b.file("u.txt", "the cat".encode("utf-16"))], "UTF-16"),
    Case("inspect-activations-a-classify-run", lambda b: ["inspect", "activations", b.runs["classify"], "--text", b.text(), "--html", b.out], "classify"),
    Case("inspect-activations-neuron-999", lambda b: ["inspect", "activations", b.runs["char"], "--text", b.text(), "--html", b.out, "--neuron", "999"], "--neuron"),
    Case("inspect-activations-binary-text", lambda b: ["inspect", "activations", b.runs["char"], "--text", b.file("b.bin", bytes(range(256))), "--html", b.out], "b.bin"),
    Case("inspect-activations-on-a-full-disk", lambda b: ["inspect", "activations", b.runs["char"], "--text", b.text(), "--html", b.full / "a.html"], "a.html"),
    Case("inspect-embeddings-unknown-word", lambda b: ["inspect", "embeddings", b.runs["word"], "--word", "zebra"], "zebra"),
    Case("inspect-embeddings-png-is-a-folder", lambda b: ["inspect", "embeddings", b.runs["word"], "--word", "cat", "--png", b.folder], "--png"),
    # ---- export, bench, demo -----------------------------------------------------------
    Case("export-unknown-run", lambda b: ["export", b.folder / "norun", "--format", "onnx", "--out", b.out], "norun"),
    Case("export-unknown-format", lambda b: ["export", b.runs["char"], "--format", "pickle", "--out", b.out], "--format"),
    Case("export-out-under-a-file", lambda b: ["export", b.runs["char"], "--format", "torchscript", "--out", b.text() / "ex"], "--out"),
    Case("bench-memory-steps-0", lambda b: ["bench", "memory", "--steps", "0"], "--steps"),
    Case("bench-unknown-benchmark", lambda b: ["bench", "nosuch"], "nosuch"),
    Case("demo-minutes-negative", lambda b: ["demo", "--minutes", "-1", "--out", b.out], "--minutes"),
    Case("demo-samples-0", lambda b: ["demo", "--samples", "0", "--out", b.out], "--samples"),
    Case("demo-unknown-cell", lambda b: ["demo", "--cell", "bogus", "--out", b.out], "--cell"),
]  # fmt: skip


def _state(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) with a digest of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file()
        else "folder"
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One tiny trained run of each kind (3 steps: only their files matter here)."""
    folder = tmp_path_factory.mktemp("catalogue-runs")
    (folder / "text.txt").write_text(TEXT)
    (folder / "reviews.csv").write_text("text,label\n" + "a great film,pos\na dull film,neg\n" * 8)
    (folder / "sine.csv").write_text(_series_csv(np.round(np.sin(np.arange(120) / 4), 6)))
    rng = np.random.default_rng(0)
    words = "ab cd ef gh ij kl".split()
    sources = [" ".join(rng.choice(words, size=rng.integers(2, 5))) for _ in range(60)]
    pairs = "".join(f"{s}\t{' '.join(reversed(s.split()))}\n" for s in sources)
    (folder / "pairs.tsv").write_text(pairs)
    commands = {
        "char": ["lm", folder / "text.txt", *TINY_LM],
        "word": ["lm", folder / "text.txt", *TINY_LM, "--level", "word", "--window", "4"],
        "classify": ["classify", folder / "reviews.csv", "--hidden", "8"],
        "forecast": ["forecast", folder / "sine.csv", "--target", "y", "--time-col", "t"]
        + ["--horizon", "3", "--input-len", "8", "--hidden", "8"],
        "translate": ["translate", folder / "pairs.tsv", "--hidden", "8", "--embedding", "4"]
        + ["--max-len", "6"],
    }
    made = {}
    for kind, (task, *args) in commands.items():
        made[kind] = folder / kind
        assert main(["train", task, *map(str, args), *QUICK, "--out", str(made[kind])]) == 0
    return made


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory):
    """A 64 KiB tmpfs, filled up; None where mounting one is not allowed."""
    where = tmp_path_factory.mktemp("full-disk")
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True
        )
    except OSError:
        yield None
        return
    if mounted.returncode != 0:
        yield None
        return
    try:
        with pytest.raises(OSError), open(where / "filler", "wb") as handle:
            handle.write(b"x" * 200_000)
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(
    case, runs, full_disk, tmp_path, capsys, monkeypatch
):
    bench = Bench(runs, tmp_path, full_disk)
    argv = [str(a) for a in case.args(bench)]
    names = case.names(bench) if callable(case.names) else case.names
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"")))
    before = {"runs": _state(runs["char"].parent), "here": _state(tmp_path)}
    before["disk"] = _state(full_disk) if full_disk is not None else {}
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's usage errors
        code = stop.code
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert "Traceback" not in err, err
    assert code == 2, f"exit {code}: {err}"
    assert len(lines) == 1, f"{len(lines)} lines on stderr: {err}"
    assert lines[0].startswith("rnnkit") and names in lines[0], lines[0]
    assert out == "", f"a failed command printed results first: {out!r}"
    assert _state(runs["char"].parent) == before["runs"], "a trained run was changed"
    assert _state(tmp_path) == before["here"], "the command left files behind"
    if full_disk is not None:
        assert _state(full_disk) == before["disk"], "the command left files on the full disk"
