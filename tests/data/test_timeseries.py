"""Time series tables and named series: values, times and frequency round trip; every input
problem is a one-line DataError that names the file, the row and the flag to fix it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnkit.data.timeseries import DATASETS, Series, SeriesSet, load_series, season_from_freq
from rnnkit.errors import ConfigError, DataError

pd = pytest.importorskip("pandas")

DATES = ["2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01", "2020-05-01"]
# Values whose shortest repr must survive the trip through text exactly.
SALES = [0.1, 1e-300, -2.5, 12345.678901234567, 7.0]
PRICE = [3.0, 2.75, 1 / 3, 4.0, -0.0]


def ns(dates):
    return np.array(dates, dtype="datetime64[ns]")


def write_text(path, rows, delimiter=","):
    path.write_text("\n".join(delimiter.join(map(str, row)) for row in rows) + "\n")
    return path


def table_rows():
    rows = [("date", "sales", "price")]
    return rows + [(d, repr(s), repr(p)) for d, s, p in zip(DATES, SALES, PRICE, strict=True)]


def write_csv(tmp_path):
    return write_text(tmp_path / "t.csv", table_rows())


def write_tsv(tmp_path):
    return write_text(tmp_path / "t.tsv", table_rows(), "\t")


def write_txt(tmp_path):
    return write_text(tmp_path / "t.txt", table_rows(), ";")


def write_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"date": pd.to_datetime(DATES), "sales": SALES, "price": PRICE})
    frame.to_parquet(tmp_path / "t.parquet")
    return tmp_path / "t.parquet"


def records():
    return [
        {"date": d, "sales": s, "price": p} for d, s, p in zip(DATES, SALES, PRICE, strict=True)
    ]


def write_jsonl(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records()) + "\n\n")
    return path


def write_json_array(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(records(), indent=1))
    return path


WRITERS = [write_csv, write_tsv, write_txt, write_parquet, write_jsonl, write_json_array]


@pytest.mark.parametrize("writer", WRITERS)
def test_every_format_round_trips_values_times_and_freq_exactly(tmp_path, writer):
    data = load_series(writer(tmp_path), target="sales", covariates=("price",))
    assert len(data) == 1 and data.total_points() == 5
    (s,) = data.series
    assert s.name == "sales" and data.target_name == "sales"
    assert data.covariate_names == ("price",)
    assert s.target.dtype == np.float64 and s.target.tolist() == SALES
    assert s.covariates.shape == (5, 1) and s.covariates[:, 0].tolist() == PRICE
    assert s.times.dtype == np.dtype("datetime64[ns]")
    np.testing.assert_array_equal(s.times, ns(DATES))
    assert data.freq == "MS"


def test_equal_content_in_every_format_has_one_digest(tmp_path):
    digests = set()
    for writer in WRITERS:
        folder = tmp_path / writer.__name__
        folder.mkdir()
        digests.add(load_series(writer(folder), target="sales", covariates=("price",)).digest())
    assert len(digests) == 1


def test_digest_changes_with_one_value_a_name_or_the_times(tmp_path):
    base = load_series(write_csv(tmp_path), target="sales").digest()
    rows = table_rows()
    rows[3] = (rows[3][0], "-2.4999999999999996", rows[3][2])  # one ulp from -2.5
    changed = load_series(write_text(tmp_path / "v.csv", rows), target="sales")
    assert changed.digest() != base
    renamed = load_series(write_csv(tmp_path), target="price")
    assert renamed.digest() != base
    no_times = write_text(tmp_path / "n.csv", [(r[1],) for r in table_rows()])
    assert load_series(no_times).digest() != base
    assert load_series(write_csv(tmp_path), target="sales").digest() == base


def test_defaults_pick_the_time_column_and_the_only_numeric_target(tmp_path):
    path = write_text(
        tmp_path / "d.csv", [("Timestamp", "note", "y")] + [(d, "x", 1) for d in DATES]
    )
    data = load_series(path)
    assert data.target_name == "y" and data.series[0].target.tolist() == [1.0] * 5
    np.testing.assert_array_equal(data.series[0].times, ns(DATES))


def test_id_column_splits_series_in_order_of_first_appearance(tmp_path):
    rows = [("store", "day", "units", "temp")]
    rows += [("b", 1, 10, 0.5), ("a", 1, 20, 1.5), ("b", 2, 11, 2.5), ("a", 2, 21, 3.5)]
    rows += [("c", 7, 30, 4.5), ("c", 9, 31, 5.5), ("b", 3, 12, 6.5)]
    data = load_series(write_text(tmp_path / "s.csv", rows), target="units", id_col="store",
                       time_col="day", covariates=("temp",))  # fmt: skip
    assert [s.name for s in data.series] == ["b", "a", "c"]
    assert [s.target.tolist() for s in data.series] == [[10, 11, 12], [20, 21], [30, 31]]
    assert data.series[0].covariates.tolist() == [[0.5], [2.5], [6.5]]
    assert all(s.times is None for s in data.series) and data.freq is None  # step numbers
    assert data.total_points() == 7 and len(data) == 3


def test_covariates_keep_the_order_given(tmp_path):
    rows = [("t", "y", "a", "b")] + [(i, i, 10 * i, 100 * i) for i in range(4)]
    data = load_series(write_text(tmp_path / "c.csv", rows), target="y", covariates=("b", "a"))
    assert data.series[0].covariates.shape == (4, 2)
    assert data.series[0].covariates[3].tolist() == [300.0, 30.0]
    assert data.covariate_names == ("b", "a")


def test_a_year_column_becomes_the_first_of_january(tmp_path):
    rows = [("Year", "flow")] + [(1700 + i, i) for i in range(4)]
    data = load_series(write_text(tmp_path / "y.csv", rows))
    np.testing.assert_array_equal(data.series[0].times, ns(["1700", "1701", "1702", "1703"]))
    assert data.freq == "YS-JAN"


def test_time_offsets_are_converted_to_utc(tmp_path):
    rows = [("time", "y"), ("2020-01-01T01:00+01:00", 1), ("2020-01-01T01:00+00:00", 2)]
    data = load_series(write_text(tmp_path / "z.csv", rows))
    np.testing.assert_array_equal(data.series[0].times, ns(["2020-01-01T00", "2020-01-01T01"]))


@pytest.mark.parametrize(
    ("freq", "season"),
    [
        ("YS-JAN", None), ("A-DEC", None), ("YE-DEC", None), ("QS-OCT", 4), ("QE-DEC", 4),
        ("Q", 4), ("MS", 12), ("ME", 12), ("M", 12), ("W-SAT", 52), ("W-SUN", 52), ("2W", 26),
        ("D", 7), ("B", 5), ("h", 24), ("H", 24), ("2h", 12), ("5h", None), ("30min", 48),
        ("30T", 48), ("min", None), ("15min", None), ("s", None), ("ms", None), ("3MS", 4),
        ("SMS", 24), (None, None), ("bogus", None), ("W-", None),
    ],
)  # fmt: skip
def test_season_from_freq(freq, season):
    assert season_from_freq(freq) == season


def test_interpolate_fills_a_gap_exactly_and_the_ends_with_the_nearest(tmp_path):
    rows = [("y", "u"), ("", 5), (1, ""), ("NaN", 7), (3, 8), ("", "")]
    path = write_text(tmp_path / "g.csv", rows)
    data = load_series(path, target="y", covariates=("u",), interpolate=True)
    assert data.series[0].target.tolist() == [1.0, 1.0, 2.0, 3.0, 3.0]
    assert data.series[0].covariates[:, 0].tolist() == [5.0, 6.0, 7.0, 8.0, 8.0]


def test_interpolate_is_linear_in_time_not_in_rows(tmp_path):
    rows = [("date", "y"), ("2020-01-01", 0), ("2020-01-02", ""), ("2020-01-04", 3)]
    data = load_series(write_text(tmp_path / "g.csv", rows), interpolate=True)
    assert data.series[0].target.tolist() == [0.0, 1.0, 3.0]
    assert data.freq is None  # irregular


def test_interpolate_works_within_each_series(tmp_path):
    rows = [("id", "y"), ("a", 1), ("b", 10), ("a", ""), ("b", ""), ("a", 3), ("b", 30)]
    data = load_series(write_text(tmp_path / "g.csv", rows), id_col="id", interpolate=True)
    assert [s.target.tolist() for s in data.series] == [[1, 2, 3], [10, 20, 30]]


# ---- errors ---------------------------------------------------------------------------------
GOOD = [("date", "y", "u"), ("2020-01-01", 1, 5), ("2020-01-02", 2, 6), ("2020-01-03", 3, 7)]


def with_cell(row, col, value, rows=GOOD):
    rows = [list(r) for r in rows]
    rows[row][col] = value
    return rows


ERRORS = [
    # (rows, options, pattern the message must match)
    (GOOD, {"target": "sales"}, r"no column 'sales' \(given to --target\); its columns are 'date', 'y', 'u'"),
    (GOOD, {"time_col": "when"}, r"no column 'when' \(given to --time-col\).*'date', 'y', 'u'"),
    (GOOD, {"id_col": "store"}, r"no column 'store' \(given to --id-col\)"),
    (GOOD, {"covariates": ("v",)}, r"no column 'v' \(given to --covariates\)"),
    (GOOD, {"target": "y", "covariates": ("y",)}, r"'y' is given to both --target and --covariates"),
    (GOOD, {}, r"cannot tell which column is the target \(2 numeric columns.*pass --target"),
    (with_cell(2, 1, "abc"), {"target": "y"}, r"line 3: target 'y' is 'abc', not a number.*--target"),
    (with_cell(3, 2, "12a"), {"target": "y", "covariates": ("u",)}, r"line 4: covariate 'u' is '12a', not a number"),
    (with_cell(2, 1, ""), {"target": "y"}, r"line 3 \(2020-01-02\): target 'y' is missing; pass --interpolate to fill gaps linearly"),
    (with_cell(1, 2, "nan"), {"target": "y", "covariates": ("u",)}, r"line 2 \(2020-01-01\): covariate 'u' is missing; pass --interpolate"),
    (with_cell(2, 1, "inf"), {"target": "y", "interpolate": True}, r"line 3: target 'y' is infinite \('inf'\)"),
    (with_cell(3, 0, "2020-13-45"), {"target": "y"}, r"line 4: time '2020-13-45' in column 'date' cannot be read as a date"),
    (with_cell(2, 0, ""), {"target": "y"}, r"line 3 has no time in column 'date'"),
    (with_cell(3, 0, "2020-01-01"), {"target": "y"}, r"timestamps must be sorted and unique: line 4 \(2020-01-01\) comes after line 3 \(2020-01-02\).*--id-col"),
    (with_cell(3, 0, "2020-01-02"), {"target": "y"}, r"sorted and unique: line 4 \(2020-01-02\) repeats line 3 \(2020-01-02\)"),
    (with_cell(2, 0, 0, [("t", "y"), (1, 1), (2, 2)]), {"time_col": "t"}, r"line 3 \(0\) comes after line 2 \(1\)"),
    ([("id", "y"), ("a", 1), ("b", 2), ("a", 3)], {"id_col": "id"}, r"series 'b' has 1 point; a series needs at least 2"),
    ([("id", "y"), ("a", 1), ("", 2), ("a", 3)], {"id_col": "id"}, r"line 3 has no id in column 'id' \(--id-col\)"),
    ([("y",), ("NA",), ("NA",), (1,)], {"interpolate": True, "target": "y", "id_col": None}, None),
    ([("id", "y"), ("a", ""), ("a", ""), ("b", 1), ("b", 2)], {"id_col": "id", "interpolate": True}, r"target 'y' has no values in series 'a'"),
    ([("y",)], {}, r"holds no data rows; add rows below the header"),
    ([("y", "u"), (1, 2, 3)], {}, r"line 2 has 3 fields but the header has 2"),
    ([("y", "y"), (1, 2)], {}, r"two columns named 'y'"),
]  # fmt: skip


@pytest.mark.parametrize(("rows", "options", "pattern"), ERRORS)
def test_table_errors_name_the_file_row_and_flag(tmp_path, rows, options, pattern):
    path = write_text(tmp_path / "bad.csv", rows)
    if pattern is None:  # a control: the same machinery accepts this one
        assert load_series(path, **options).series[0].target.tolist() == [1.0, 1.0, 1.0]
        return
    with pytest.raises(DataError, match=pattern) as err:
        load_series(path, **options)
    assert str(err.value).startswith(repr(str(path)))
    assert "\n" not in str(err.value)


def test_missing_empty_binary_and_undecodable_files(tmp_path):
    cases = {
        "gone.csv": (None, r"'.*gone\.csv' does not exist"),
        "empty.csv": (b" \n\n", r"'.*empty\.csv' is empty; it needs a header row"),
        "bin.csv": (b"PK\x03\x04\x00\x00\xff\xfe" * 8, r"'.*bin\.csv' is binary, not a text table"),
        "utf8.csv": (
            b"y,name\n1,caf\xe9\n",
            r"'.*utf8\.csv' line 2 is not valid utf-8.*--encoding",
        ),
        "bad.parquet": (b"PAR1 not really", r"'.*bad\.parquet' is not a readable Parquet file"),
        "bad.jsonl": (b'{"y": 1}\n{"y": 2\n', r"'.*bad\.jsonl' line 2 is not valid JSON"),
        "list.jsonl": (b'{"y": 1}\n[2]\n', r"line 2 is a JSON list, not an object"),
    }
    for name, (content, pattern) in cases.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
        with pytest.raises(DataError, match=pattern) as err:
            load_series(str(tmp_path / name))
        assert "\n" not in str(err.value)


def test_encoding_reads_other_text_and_an_unknown_codec_is_a_config_error(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("année,débit\n1,2.5\n2,3.5\n".encode("latin-1"))
    data = load_series(path, target="débit", encoding="latin-1")
    assert data.series[0].target.tolist() == [2.5, 3.5]
    assert data.series[0].times is None  # "année" is no time name
    with pytest.raises(ConfigError, match="encoding"):
        load_series(path, encoding="no-such-codec")


def test_json_values_that_are_not_numbers(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text('{"y": 1}\n{"y": true}\n{"y": 3}\n')
    with pytest.raises(DataError, match=r"line 2: target 'y' is True, not a number"):
        load_series(path, target="y")
    path.write_text('{"y": 1}\n{"y": null}\n{"z": 1}\n{"y": 4}\n')
    assert load_series(path, target="y", interpolate=True).series[0].target.tolist() == [
        1.0, 2.0, 3.0, 4.0
    ]  # fmt: skip


# ---- named series ---------------------------------------------------------------------------
statsmodels = pytest.importorskip("statsmodels")


def test_sunspots():
    data = load_series("sunspots")
    (s,) = data.series
    assert len(s.target) == 309 and s.target[:3].tolist() == [5.0, 11.0, 16.0]
    assert s.times[0] == np.datetime64("1700-01-01") and s.times[-1] == np.datetime64("2008-01-01")
    assert data.freq == "YS-JAN" and season_from_freq(data.freq) is None
    assert s.name == "SUNACTIVITY" and s.covariates.shape == (309, 0)


def test_co2_needs_interpolate_and_keeps_its_rows():
    with pytest.raises(DataError, match=r"series 'co2' row 7 \(1958-05-10\).*--interpolate"):
        load_series("co2")
    raw = statsmodels.datasets.co2.load_pandas().data["co2"]
    data = load_series("co2", interpolate=True)
    (s,) = data.series
    assert len(s.target) == 2284 and not np.isnan(s.target).any()
    assert data.freq == "W-SAT" and season_from_freq(data.freq) == 52
    np.testing.assert_array_equal(s.target[~raw.isna().to_numpy()], raw.dropna().to_numpy())
    # Row 7 (1958-05-10) sits midway between its weekly neighbours.
    assert raw.iloc[5] == 316.9 and raw.iloc[7] == 317.5
    assert s.target[6] == pytest.approx((316.9 + 317.5) / 2, abs=1e-12)


def test_elnino_nile_and_macrodata():
    elnino = load_series("elnino")
    (s,) = elnino.series
    assert len(s.target) == 732 and s.target[0] == 23.11 and s.name == "temperature"
    assert s.target[12] == 24.19  # January of the second year follows December of the first
    assert elnino.freq == "MS" and season_from_freq(elnino.freq) == 12
    assert s.times[13] == np.datetime64("1951-02-01")
    nile = load_series("nile")
    assert nile.total_points() == 100 and nile.series[0].target[0] == 1120.0
    macro = load_series("macrodata", target="infl", covariates=("realgdp",))
    assert macro.freq == "QS-OCT" and season_from_freq(macro.freq) == 4
    assert macro.series[0].times[1] == np.datetime64("1959-04-01")
    assert macro.series[0].target[1] == 2.34 and macro.series[0].covariates[0, 0] == 2710.349
    assert load_series("MacroData").target_name == "realgdp"


def test_named_series_errors():
    with pytest.raises(
        DataError, match=r"'sunspot' is not a file or a known series \(sunspots, co2"
    ):
        load_series("sunspot")
    with pytest.raises(DataError, match="drop --time-col"):
        load_series("nile", time_col="year")
    with pytest.raises(DataError, match=r"series 'nile' has no column 'flow'.*'volume'"):
        load_series("nile", target="flow")
    assert set(DATASETS) == {"sunspots", "co2", "nile", "elnino", "macrodata"}


def test_series_checks_its_shapes():
    with pytest.raises(DataError, match=r"covariates \(T, C\)"):
        Series("s", np.zeros(3), np.zeros((2, 0)), None)
    s = Series("s", np.zeros(3), np.zeros((3, 0)), None)
    assert len(SeriesSet((s, s), "y", (), None)) == 2
