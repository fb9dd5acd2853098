"""`load_labelled`: picking the loader from a path's extension or layout, or a built-in name."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data.labelled import LabelledSeries, LabelledTexts
from rnnkit.data.labelled_load import NamedSource, load_labelled, named_sources, register_source
from rnnkit.data.ucr import ucr_names
from rnnkit.errors import ConfigError, DataError

SHARED_DATA = (Path(__file__).parents[2] / ".." / "shared" / "data").resolve()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_text_tables_by_extension(tmp_path):
    csv = write(tmp_path / "r.csv", "text,label\ngood film,pos\nbad film,neg\n")
    data = load_labelled(csv)
    assert isinstance(data, LabelledTexts) and data.labels == ["pos", "neg"]
    tsv = write(tmp_path / "r.tsv", "body\ty\n12 angry men\t1\n")
    assert load_labelled(tsv, text_col="body", label_col="y").texts == ["12 angry men"]
    jsonl = write(tmp_path / "r.jsonl", '{"text": "ok", "label": "pos"}\n')
    assert load_labelled(str(jsonl)).texts == ["ok"]


def test_numeric_csv_is_read_as_series(tmp_path):
    path = write(tmp_path / "s.csv", "1,0.5,0.25\n2,1.5,2.5\n")
    data = load_labelled(path)
    assert isinstance(data, LabelledSeries) and data.labels == ["1", "2"]
    named = write(tmp_path / "h.csv", "label,t0,t1\nx,1,2\n")
    assert load_labelled(named, label_col="label").labels == ["x"]


def test_ts_and_idx_files(tmp_path):
    ts = write(tmp_path / "t.ts", "@classLabel true a b\n@data\n1,2:a\n3,4:b\n")
    assert load_labelled(ts).labels == ["a", "b"]
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    head = struct.pack(">BBBBIII", 0, 0, 8, 3, 2, 3, 4)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(head + images.tobytes()))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(
        struct.pack(">BBBBI", 0, 0, 8, 1, 2) + b"\7\3"
    )
    data = load_labelled(tmp_path / "t10k-images-idx3-ubyte.gz", scale_pixels=False)
    assert data.labels == ["7", "3"] and data.series[1][2, 3] == 23
    other = tmp_path / "other"
    other.mkdir()
    (other / "x-images-idx3-ubyte").write_bytes(head + images.tobytes())
    with pytest.raises(DataError, match="no label file 'x-labels-idx1-ubyte'.*pass labels=PATH"):
        load_labelled(other / "x-images-idx3-ubyte")
    with_labels = load_labelled(
        other / "x-images-idx3-ubyte", labels=tmp_path / "t10k-labels-idx1-ubyte"
    )
    assert with_labels.labels == ["7", "3"]


def test_sst_tree_file(tmp_path):
    path = write(tmp_path / "dev.txt", "(3 (2 a) (4 b))\n(1 (0 c) (2 d))\n")
    assert load_labelled(path, classes=2).labels == ["positive", "negative"]


def test_folders_by_layout(tmp_path):
    write(tmp_path / "imdb" / "train" / "pos" / "0_9.txt", "great")
    write(tmp_path / "imdb" / "train" / "neg" / "0_1.txt", "awful")
    write(tmp_path / "imdb" / "test" / "pos" / "0_8.txt", "fine")
    data = load_labelled(tmp_path / "imdb" / "train")
    assert (data.texts, data.labels) == (["awful", "great"], ["neg", "pos"])
    with pytest.raises(DataError, match="holds split folders .test, train.*imdb/train'"):
        load_labelled(tmp_path / "imdb")
    write(tmp_path / "mr" / "mr.pos", "good\n")
    write(tmp_path / "mr" / "mr.neg", "bad\n")
    assert load_labelled(tmp_path / "mr").labels == ["neg", "pos"]


def test_what_cannot_be_told_lists_what_is_understood(tmp_path):
    path = write(tmp_path / "notes.md", "# hello\n")
    with pytest.raises(DataError, match="cannot tell how to load .*notes.md'") as err:
        load_labelled(path)
    for known in (".jsonl", ".ts", "idx3", "sst2:SPLIT", "ucr:NAME:SPLIT", "mnist-sample"):
        assert known in str(err.value)
    with pytest.raises(DataError, match="neither an existing path nor a built-in name"):
        load_labelled(tmp_path / "missing.csv")


def test_unknown_options_and_bad_names_are_refused(tmp_path):
    path = write(tmp_path / "r.csv", "text,label\nok,pos\n")
    with pytest.raises(
        ConfigError, match=r"r.csv' \(a text table\) takes no option 'txt_col'"
    ) as err:
        load_labelled(path, txt_col="text")
    assert err.value.field == "txt_col"
    with pytest.raises(ConfigError, match="sst2:SPLIT takes no option 'classes'"):
        load_labelled("sst2:train", classes=5)
    with pytest.raises(
        DataError, match="'ucr:GunPoint' is not a data source; write ucr:NAME:SPLIT"
    ):
        load_labelled("ucr:GunPoint")
    with pytest.raises(DataError, match="write mnist-sample$"):
        load_labelled("mnist-sample:train")


def test_registry_refuses_a_duplicate_prefix():
    assert [s.prefix for s in named_sources()] == sorted(s.prefix for s in named_sources())
    with pytest.raises(ConfigError, match="'sst2' is already registered"):
        register_source(NamedSource("sst2", "sst2:SPLIT", "again", lambda rest: None))


def test_builtin_names_reach_their_loaders(tmp_path):
    write(tmp_path / "sst" / "test.txt", "(4 (4 a) (2 b))\n(2 (2 c) (2 d))\n")
    assert load_labelled("sst5:test", data_dir=tmp_path).labels == ["4", "2"]
    assert load_labelled("sst2:test", data_dir=tmp_path).labels == ["positive"]
    if "GunPoint" not in ucr_names():
        pytest.skip("no UCR sets bundled: install sktime or aeon (rnnkit's classify extra)")
    assert len(load_labelled("ucr:GunPoint:test")) == 150


def test_real_rt_polarity_by_name():
    if not (SHARED_DATA / "rt-polarity" / "rt-polarity.pos").is_file():
        pytest.skip(f"real dataset rt-polarity/ not found under {SHARED_DATA}")
    data = load_labelled("rt-polarity")
    assert data.class_counts() == {"neg": 5331, "pos": 5331}


def test_text_tables_with_numeric_labels_are_not_taken_for_series(tmp_path):
    plain = write(tmp_path / "a.csv", "text,label\ngreat,1\nawful,0\n")
    assert load_labelled(plain).texts == ["great", "awful"]
    other = write(tmp_path / "b.csv", "review,stars\ngreat film,5\n")
    with pytest.raises(DataError, match="no column 'text'; its columns are 'review', 'stars'"):
        load_labelled(other)
    assert load_labelled(other, text_col="review", label_col="stars").labels == ["5"]
