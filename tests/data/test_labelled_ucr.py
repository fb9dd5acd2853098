"""UCR/UEA `.ts` files, the bundled archive sets, and numeric CSV (a series per row)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data.labelled_series import load_series_csv
from rnnkit.data.ucr import load_ucr, read_ts, ucr_names
from rnnkit.errors import ConfigError, DataError

HEADER = """# a comment
@problemName Toy
@timeStamps false
@missing false
@univariate false
@dimensions 2
@equalLength false
@classLabel true up down
@data
"""
DATA = "1,2,3:4,5,6:up\n 7.5,-8 : 9e-1,10:down\n"


def write(tmp_path, text, name="toy.ts"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_multivariate_variable_length_round_trip(tmp_path):
    data = read_ts(write(tmp_path, HEADER + DATA))
    assert data.labels == ["up", "down"]
    assert data.lengths == [3, 2] and data.dims == 2
    np.testing.assert_array_equal(data.series[0], [[1, 4], [2, 5], [3, 6]])
    np.testing.assert_array_equal(data.series[1], np.array([[7.5, 0.9], [-8, 10]], np.float32))


def test_univariate_with_series_length_and_lowercase_keys(tmp_path):
    text = "@problemname u\n@univariate true\n@equallength true\n@serieslength 3\n"
    text += "@classlabel true 0 1\n@data\n0.5,0.25,1:1\n3,2,1:0\n"
    data = read_ts(write(tmp_path, text))
    assert data.labels == ["1", "0"] and data.dims == 1
    np.testing.assert_array_equal(data.series[0][:, 0], [0.5, 0.25, 1.0])


def test_missing_values_are_an_error_or_nan_as_asked(tmp_path):
    path = write(tmp_path, HEADER + "1,?,3:4,5,6:up\n")
    with pytest.raises(DataError, match=r"line 10, dimension 1: a missing value '\?'") as err:
        read_ts(path)
    assert str(path) in str(err.value)
    data = read_ts(path, allow_nan=True)
    assert np.isnan(data.series[0][1, 0]) and data.series[0][1, 1] == 5
    assert data.digest() == read_ts(path, allow_nan=True).digest()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (HEADER.replace("@data\n", "") + DATA, "is neither a header"),
        (HEADER.replace("@data\n", ""), "has no @data line"),
        (HEADER, "holds no examples after @data"),
        (HEADER.replace("@classLabel true up down\n", "") + DATA, "has no @classLabel line"),
        (HEADER.replace("true up down", "false") + DATA, "has no class labels"),
        (HEADER.replace("true up down", "true") + DATA, "lists no labels"),
        (HEADER.replace("@timeStamps false", "@timeStamps true") + DATA, "time stamps"),
        (HEADER.replace("@missing false", "@missing maybe") + DATA, "@missing is 'maybe'"),
        (HEADER.replace("@dimensions 2", "@dimensions two") + DATA, "positive integer"),
        (HEADER + "1,2:3,4:left\n", "line 10 has the label 'left'"),
        (HEADER + "1,2:3,4:5,6:up\n", "line 10 has 3 dimensions, expected 2"),
        (HEADER + "1,2,3:4,5:up\n", r"line 10: its dimensions have lengths \[3, 2\]"),
        (HEADER + "1,x,3:4,5,6:up\n", "line 10, dimension 1: 'x' is not a finite number"),
        (HEADER + "1,inf:4,5:up\n", "dimension 1: 'inf' is not a finite number"),
        (HEADER + "up\n", "no ':' before the class label"),
        ("@classLabel true a\n@univariate true\n@seriesLength 3\n@data\n1,2:a\n", "@seriesLength"),
        ("@classLabel true a\n@equalLength true\n@data\n1,2:a\n1:a\n", "@equalLength is true"),
        ("@targetLabel true\n@data\n1,2:0.5\n", "regression set"),
    ],
)
def test_malformed_ts_files_name_file_and_line(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(DataError, match=needle) as err:
        read_ts(path)
    assert str(path) in str(err.value)


@pytest.fixture(scope="module")
def bundled():
    names = ucr_names()
    if "GunPoint" not in names:
        pytest.skip("no UCR sets bundled: install sktime or aeon (rnnkit's classify extra)")
    return names


def test_bundled_gunpoint_italy_and_japanese_vowels(bundled):
    assert {"GunPoint", "ItalyPowerDemand", "JapaneseVowels"} <= set(bundled)
    train, test = load_ucr("GunPoint", "train"), load_ucr("gunpoint", "test")
    assert (len(train), len(test)) == (50, 150)
    assert train.classes == ["1", "2"] and set(train.lengths) == {150} and train.dims == 1
    italy = load_ucr("ItalyPowerDemand", "test")
    assert len(italy) == 1029 and set(italy.lengths) == {24}
    vowels = load_ucr("JapaneseVowels", "train")
    assert len(vowels) == 270 and vowels.dims == 12
    assert (min(vowels.lengths), max(vowels.lengths)) == (7, 26)
    assert vowels.class_counts() == {str(k): 30 for k in range(1, 10)}


def test_unknown_bundled_set_lists_the_known_ones(bundled):
    with pytest.raises(DataError, match="no bundled UCR set named 'GunPistol'.*GunPoint"):
        load_ucr("GunPistol", "train")
    with pytest.raises(ConfigError, match="split"):
        load_ucr("GunPoint", "dev")


def test_series_csv_round_trips_variable_length_rows(tmp_path):
    path = write(tmp_path, "a,1,2,3\nb,4,5,,\n\nb,6,,\n", "s.csv")
    data = load_series_csv(path)
    assert data.labels == ["a", "b", "b"] and data.lengths == [3, 2, 1]
    np.testing.assert_array_equal(data.series[1][:, 0], [4, 5])


def test_series_csv_named_label_column_and_tsv(tmp_path):
    path = write(tmp_path, "t0\tt1\tclass\n0.5\t1.5\tx\n2\t3\ty\n", "s.tsv")
    data = load_series_csv(path, label_col="class")
    assert data.labels == ["x", "y"]
    np.testing.assert_array_equal(data.series[0][:, 0], [0.5, 1.5])
    assert load_series_csv(path, label_col=-1, header=True).digest() == data.digest()


@pytest.mark.parametrize(
    ("text", "options", "needle"),
    [
        ("a,1,,3\n", {}, r"line 1, value 2: a missing value ''"),
        ("a,1,NaN,3\n", {}, "value 2: a missing value 'NaN'"),
        ("a,1,two\n", {}, "value 2: 'two' is not a finite number"),
        ("a,1\n,2\n", {}, "line 2 has an empty label"),
        ("a,1\nb\n", {}, "line 2 has a label but no values"),
        ("x,y\na,1\n", {"label_col": "label"}, "no column 'label'; its columns are 'x', 'y'"),
        ("\n\n", {}, "holds no rows"),
    ],
)
def test_bad_series_csv_names_file_and_line(tmp_path, text, options, needle):
    path = write(tmp_path, text, "s.csv")
    with pytest.raises(DataError, match=needle) as err:
        load_series_csv(path, **options)
    assert str(path) in str(err.value)


def test_series_csv_keeps_nan_when_allowed(tmp_path):
    data = load_series_csv(write(tmp_path, "a,1,,3\n", "s.csv"), allow_nan=True)
    assert np.isnan(data.series[0][1, 0]) and data.lengths == [3]
    with pytest.raises(ConfigError, match="needs header=True"):
        load_series_csv(tmp_path / "s.csv", label_col="a", header=False)


def test_a_label_column_of_distinct_fractions_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    rows = [[*rng.normal(size=5).round(4), i % 2] for i in range(20)]
    path = tmp_path / "label-last.csv"
    path.write_text("".join(",".join(map(str, r)) + "\n" for r in rows))
    with pytest.raises(DataError, match="first column, read as the label, holds 20 different"):
        load_series_csv(path)
    data = load_series_csv(path, label_col=-1)  # where the labels are
    assert sorted(set(data.labels)) == ["0", "1"] and len(data) == 20
