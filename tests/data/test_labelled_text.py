"""Text tables (CSV/TSV/JSONL), one file per class and a folder per class."""

from __future__ import annotations

import csv
import json

import pytest

from rnnkit.data.labelled_load import load_labelled
from rnnkit.data.labelled_text import load_folder_per_class, load_lines_per_class, load_text_table
from rnnkit.errors import ConfigError, DataError

ROWS = [
    ("a fine film, all told", "pos"),
    ('"quoted"\nover two lines', "neg"),
    ("tabs\tand, commas", "pos"),
]


def write_table(path, delimiter=",", header=("id", "review", "sentiment")):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        for i, (text, label) in enumerate(ROWS):
            writer.writerow([i, text, label])
    return path


@pytest.mark.parametrize(("name", "delimiter"), [("r.csv", ","), ("r.tsv", "\t")])
def test_csv_and_tsv_round_trip_named_columns(tmp_path, name, delimiter):
    path = write_table(tmp_path / name, delimiter)
    data = load_text_table(path, text_col="review", label_col="sentiment")
    assert data.texts == [t for t, _ in ROWS]
    assert data.labels == [label for _, label in ROWS]
    assert data.source == str(path)


def test_jsonl_round_trips_and_accepts_integer_labels(tmp_path):
    path = tmp_path / "r.jsonl"
    lines = [
        json.dumps({"text": t, "label": i % 2, "extra": None}) for i, (t, _) in enumerate(ROWS)
    ]
    path.write_text("\n".join(lines[:2]) + "\n\n" + lines[2] + "\n", encoding="utf-8")
    data = load_text_table(path)
    assert data.texts == [t for t, _ in ROWS]
    assert data.labels == ["0", "1", "0"]


def test_format_override_and_unknown_extension(tmp_path):
    path = write_table(tmp_path / "r.data")
    with pytest.raises(ConfigError, match="file_format"):
        load_text_table(path, text_col="review", label_col="sentiment")
    data = load_text_table(path, text_col="review", label_col="sentiment", file_format="csv")
    assert len(data) == 3


def test_missing_column_names_the_columns_that_exist(tmp_path):
    path = write_table(tmp_path / "r.csv")
    with pytest.raises(DataError, match="no column 'text'") as err:
        load_text_table(path)
    assert str(path) in str(err.value)
    assert "'id', 'review', 'sentiment'" in str(err.value)


def test_missing_jsonl_key_names_line_and_keys(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"body": "b", "label": "y"}\n')
    with pytest.raises(DataError, match=r"line 2 has no key 'text'; its keys are 'body', 'label'"):
        load_text_table(path)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("text,label\nfine,pos\n  ,neg\n", "line 3 has an empty text"),
        ("text,label\nfine,\n", "line 2 has an empty label"),
        ("text,label\nfine,pos,extra\n", "line 2 has 3 fields but the header has 2"),
        ("text,label\n", "holds no examples"),
        ("", "is empty"),
    ],
)
def test_bad_csv_rows_name_file_and_line(tmp_path, content, needle):
    path = tmp_path / "r.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=needle) as err:
        load_text_table(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"text": "a", "label": "x"}\n{"text": "a", \n', "line 2 is not valid JSON"),
        ('["a", "x"]\n', "line 1 is an array, not an object"),
        ('"a"\n', "line 1 is a string, not an object"),
        ('{"text": null, "label": "x"}\n', "'text' is null, not a string"),
        ('{"text": "  ", "label": "x"}\n', "line 1 has an empty text"),
        ('{"text": 5, "label": "x"}\n', "'text' is a number, not a string"),
        ('{"text": "a", "label": 1.5}\n', "'label' is 1.5"),
    ],
)
def test_bad_jsonl_lines_name_file_and_line(tmp_path, content, needle):
    path = tmp_path / "r.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=needle) as err:
        load_text_table(path)
    assert str(path) in str(err.value)


def test_lines_per_class_by_suffix_and_by_stem(tmp_path):
    (tmp_path / "mr.pos").write_text("good one \nfine\n\n", encoding="utf-8")
    (tmp_path / "mr.neg").write_text("bad one\n", encoding="utf-8")
    data = load_lines_per_class(tmp_path)
    assert data.texts == ["bad one", "good one", "fine"]
    assert data.labels == ["neg", "pos", "pos"]
    stems = tmp_path / "stems"
    stems.mkdir()
    (stems / "ham.txt").write_text("hello\n", encoding="utf-8")
    (stems / "spam.txt").write_text("win now\n", encoding="utf-8")
    data = load_lines_per_class([stems / "spam.txt", stems / "ham.txt"])
    assert (data.texts, data.labels) == (["hello", "win now"], ["ham", "spam"])


def test_a_class_with_no_examples_is_named(tmp_path):
    (tmp_path / "mr.pos").write_text("good\n", encoding="utf-8")
    (tmp_path / "mr.neg").write_text("\n \n", encoding="utf-8")
    with pytest.raises(DataError, match="holds no examples for class 'neg'") as err:
        load_lines_per_class(tmp_path)
    assert str(tmp_path / "mr.neg") in str(err.value)


def test_a_blank_line_inside_a_class_file_is_named(tmp_path):
    (tmp_path / "mr.pos").write_text("good\n\nfine\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"mr.pos' line 2 is blank"):
        load_lines_per_class([tmp_path / "mr.pos"])


def test_two_files_naming_one_class_are_refused(tmp_path):
    (tmp_path / "a.pos").write_text("x\n", encoding="utf-8")
    (tmp_path / "b.pos").write_text("y\n", encoding="utf-8")
    with pytest.raises(DataError, match="both give class 'pos'"):
        load_lines_per_class(tmp_path, label_from="suffix")


def test_undecodable_bytes_suggest_errors_replace(tmp_path):
    path = tmp_path / "mr.pos"
    path.write_bytes("caf\xe9 society\nfine\n".encode("latin-1"))
    with pytest.raises(
        DataError, match=r"line 1 is not valid utf-8.*--encoding-errors replace"
    ) as err:
        load_lines_per_class([path])
    assert str(path) in str(err.value)
    assert load_lines_per_class([path], errors="replace").texts[0] == "caf\ufffd society"
    assert load_lines_per_class([path], encoding="latin-1").texts[0] == "café society"
    with pytest.raises(ConfigError, match="errors"):
        load_lines_per_class([path], errors="loose")
    with pytest.raises(ConfigError, match="encoding"):
        load_lines_per_class([path], encoding="no-such-codec")


def test_rt_polarity_counts(shared_file):
    pos, neg = (
        shared_file("rt-polarity/rt-polarity.pos"),
        shared_file("rt-polarity/rt-polarity.neg"),
    )
    data = load_lines_per_class([pos, neg], errors="replace")
    assert data.class_counts() == {"neg": 5331, "pos": 5331}
    assert data.texts[0].startswith("simplistic , silly and tedious")


def write_imdb(root):
    reviews = {"pos": ["Loved it.<br />Again!", "Great"], "neg": ["Dull.\n", "Awful"]}
    for label, texts in reviews.items():
        (root / label).mkdir(parents=True)
        for i, text in enumerate(texts):
            (root / label / f"{i}_{7 if label == 'pos' else 2}.txt").write_text(text)
    (root / "unsup").mkdir()
    (root / "unsup" / "0_0.txt").write_text("no label")
    (root / "urls_pos.txt").write_text("http://example.invalid\n")  # a loose file: ignored


def test_folder_per_class_reads_the_imdb_layout(tmp_path):
    write_imdb(tmp_path / "train")
    data = load_folder_per_class(tmp_path / "train", classes=["pos", "neg"])
    assert data.texts == ["Dull.", "Awful", "Loved it.<br />Again!", "Great"]
    assert data.labels == ["neg", "neg", "pos", "pos"]
    assert load_folder_per_class(tmp_path / "train").class_counts() == {
        "neg": 2,
        "pos": 2,
        "unsup": 1,
    }


def test_folder_per_class_errors_name_the_folder(tmp_path):
    write_imdb(tmp_path / "train")
    with pytest.raises(DataError, match="no class folder 'neutral'; its subfolders are 'neg'"):
        load_folder_per_class(tmp_path / "train", classes=["neutral"])
    (tmp_path / "train" / "empty").mkdir()
    with pytest.raises(DataError, match="empty' holds no files"):
        load_folder_per_class(tmp_path / "train")
    (tmp_path / "train" / "empty" / "0.txt").write_text("  \n")
    with pytest.raises(DataError, match=r"0.txt' is empty"):
        load_folder_per_class(tmp_path / "train")
    with pytest.raises(DataError, match="has no subfolders"):
        load_folder_per_class(tmp_path / "train" / "pos")


def test_duplicate_column_names_are_refused_and_long_fields_read(tmp_path):
    twice = tmp_path / "twice.csv"
    twice.write_text("text,text,label\na,b,x\n", encoding="utf-8")
    with pytest.raises(DataError, match="2 columns named 'text'"):
        load_text_table(twice)
    long = tmp_path / "long.csv"
    review = "word " * 60_000  # 300,000 characters in one field, above csv's default limit
    long.write_text(f'text,label\n"{review}",pos\nshort,neg\n', encoding="utf-8")
    data = load_text_table(long)
    assert data.labels == ["pos", "neg"] and len(data.texts[0]) >= 299_000


def test_a_lone_class_file_is_named_by_its_stem(tmp_path):
    (tmp_path / "pos.txt").write_text("good one\nfine\n", encoding="utf-8")
    data = load_labelled(tmp_path)
    assert data.classes == ["pos"]  # not "txt"; training then asks for a second class
