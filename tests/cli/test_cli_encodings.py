"""Text in any encoding through the command line: named when it is not UTF-8, read with
--encoding, stray bytes replaced on request, a folder's bad file named or skipped."""

from __future__ import annotations

import json

from cli_helpers import SMALL, run_cli

TEXT = "Grüße aus Köln, où l'on chante. " * 60


def train(path, out, capsys, *extra):
    return run_cli(["train", "lm", path, "--out", out, "--steps", "3", *SMALL, *extra], capsys)


def test_a_utf16_text_is_named_then_read_with_encoding_auto(tmp_path, capsys):
    path = tmp_path / "wide.txt"
    path.write_bytes(TEXT.encode("utf-16"))
    code, _, err = train(path, tmp_path / "a", capsys)
    assert code == 2 and err.count("\n") == 1
    assert "is UTF-16 text, not UTF-8; pass --encoding auto" in err
    assert not (tmp_path / "a").exists()  # refused before anything was written
    code, _, _ = train(path, tmp_path / "b", capsys, "--encoding", "auto")
    assert code == 0
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["data"]["encoding"] == "auto"
    vocab = json.loads((tmp_path / "b" / "vocab.json").read_text())
    assert "ü" in json.dumps(vocab, ensure_ascii=False)


def test_latin1_needs_its_name_or_replace(tmp_path, capsys):
    path = tmp_path / "latin.txt"
    path.write_bytes(TEXT.encode("latin-1"))
    code, _, err = train(path, tmp_path / "a", capsys)
    assert code == 2 and "line 1 is not valid utf-8" in err and "--encoding latin-1" in err
    assert train(path, tmp_path / "b", capsys, "--encoding", "latin-1")[0] == 0
    assert train(path, tmp_path / "c", capsys, "--encoding-errors", "replace")[0] == 0
    code, _, err = train(path, tmp_path / "d", capsys, "--encoding", "klingon")
    assert code == 2 and err.strip() == (
        "rnnkit: error: --encoding must be a known text encoding or auto, got 'klingon'"
    )


def test_a_folder_with_a_stray_binary_file(tmp_path, capsys):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text(TEXT, encoding="utf-8")
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    code, _, err = train(folder, tmp_path / "a", capsys)
    assert code == 2 and "b.png' looks binary" in err and "--skip-bad-files" in err
    code, _, err = train(folder, tmp_path / "b", capsys, "--skip-bad-files")
    assert code == 0 and "skipping" in err and "b.png" in err


def test_evaluate_reads_new_data_in_the_encoding_it_is_told(tmp_path, capsys):
    path = tmp_path / "train.txt"
    path.write_text(TEXT, encoding="utf-8")
    assert train(path, tmp_path / "run", capsys)[0] == 0
    wide = tmp_path / "held-out.txt"
    wide.write_bytes(TEXT[:300].encode("utf-16"))
    code, _, err = run_cli(["evaluate", tmp_path / "run", wide], capsys)
    assert code == 2 and "is UTF-16 text, not UTF-8; pass --encoding auto" in err
    code, out, _ = run_cli(
        ["evaluate", tmp_path / "run", wide, "--encoding", "auto", "--json"], capsys
    )
    assert code == 0 and json.loads(out)["loss"] > 0
    code, _, err = run_cli(["evaluate", tmp_path / "run", wide, "--encoding", "klingon"], capsys)
    assert code == 2 and err.strip().startswith("rnnkit: error: --encoding must be a known")


def test_a_class_folder_with_a_stray_binary_file(tmp_path, capsys):
    root = tmp_path / "reviews"
    for label, words in (("pos", "good great fine"), ("neg", "bad awful poor")):
        (root / label).mkdir(parents=True)
        for i in range(6):
            (root / label / f"{i}.txt").write_text(f"a {words} film, number {i}\n")
    (root / "pos" / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256)))
    args = ["train", "classify", root, "--steps", "2", "--no-progress"]
    code, _, err = run_cli([*args, "--out", tmp_path / "a"], capsys)
    assert code == 2 and "cover.jpg' looks binary" in err and "--skip-bad-files" in err
    assert not (tmp_path / "a").exists()
    code, _, err = run_cli([*args, "--out", tmp_path / "b", "--skip-bad-files"], capsys)
    assert code == 0 and "skipping" in err and "cover.jpg" in err
    table = tmp_path / "t.csv"
    table.write_text("text,label\nfine,pos\nbad,neg\n")
    code, _, err = run_cli(["train", "classify", table, "--skip-bad-files"], capsys)
    assert code == 2 and err.strip() == (
        f"rnnkit: error: --skip-bad-files does not apply to '{table}' (a text table); leave it out"
    )
