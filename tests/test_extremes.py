"""analysis.extremes.neuron_extremes against a plain stable argsort, on both of its code paths."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.extremes import neuron_extremes


def reference(x: np.ndarray, k: int):
    """Highest first / lowest first, ties by lower row index: a stable sort on -x and on x."""
    k = min(k, x.shape[0])
    top = np.argsort(-x, axis=0, kind="stable")[:k]
    bottom = np.argsort(x, axis=0, kind="stable")[:k]
    return top, np.take_along_axis(x, top, 0), bottom, np.take_along_axis(x, bottom, 0)


def check_against_argsort(x, k):
    got = neuron_extremes(x, k)
    want = reference(x, k)
    for name, g, w in zip(("top_idx", "top_val", "bottom_idx", "bottom_val"), got, want):
        assert g.shape == w.shape, name
        np.testing.assert_array_equal(g, w, err_msg=name)
    return got


# (n, k): k * 8 > n takes the full argsort, k * 8 <= n the argpartition path.
FULL = [(10, 5), (50, 7), (8, 2), (3, 1)]
PARTIAL = [(100, 5), (400, 50), (1000, 10), (8, 1), (64, 8)]


@pytest.mark.parametrize("n, k", FULL + PARTIAL)
def test_random_floats(n, k):
    x = np.random.default_rng(n * 31 + k).standard_normal((n, 17)).astype(np.float32)
    top_i, top_v, bot_i, bot_v = check_against_argsort(x, k)
    assert (np.diff(top_v, axis=0) <= 0).all() and (np.diff(bot_v, axis=0) >= 0).all()
    np.testing.assert_array_equal(top_v[0], x.max(0))
    np.testing.assert_array_equal(bot_v[0], x.min(0))


@pytest.mark.parametrize("n, k", FULL + PARTIAL)
@pytest.mark.parametrize("levels", [2, 3, 7])
def test_ties_break_by_lower_index(n, k, levels):
    x = np.random.default_rng(n + k + levels).integers(0, levels, size=(n, 9)).astype(np.float32)
    top_i, top_v, bot_i, bot_v = check_against_argsort(x, k)
    # within a run of equal values the indices go up
    for idx, val in ((top_i, top_v), (bot_i, bot_v)):
        same = val[1:] == val[:-1]
        assert (idx[1:][same] > idx[:-1][same]).all()


def test_partial_path_boundary_ties():
    """Many equal values straddle the k-th place: argpartition picks arbitrary ones, the fix-up must not."""
    n, k = 200, 5
    x = np.zeros((n, 4), dtype=np.float32)
    x[[150, 20, 7], 0] = 1.0  # three above the tie, then 197 zeros: top 5 = 7, 20, 150, 0, 1
    x[:, 1] = -1.0
    x[199, 1] = 0.0
    x[:, 2] = np.arange(n) % 3
    top_i, top_v, bot_i, bot_v = check_against_argsort(x, k)
    assert top_i[:, 0].tolist() == [7, 20, 150, 0, 1]
    assert bot_i[:, 0].tolist() == [0, 1, 2, 3, 4]
    assert top_i[:, 1].tolist() == [199, 0, 1, 2, 3]
    assert top_i[:, 3].tolist() == bot_i[:, 3].tolist() == [0, 1, 2, 3, 4]


def test_constant_column_both_paths():
    for n, k in ((10, 4), (100, 4)):
        x = np.full((n, 3), 2.5, dtype=np.float32)
        top_i, _, bot_i, _ = check_against_argsort(x, k)
        assert (top_i == np.arange(k)[:, None]).all() and (bot_i == np.arange(k)[:, None]).all()


@pytest.mark.parametrize("n, k", [(5, 10), (1, 3), (7, 7)])
def test_k_larger_than_n(n, k):
    x = np.random.default_rng(0).standard_normal((n, 6))
    top_i, top_v, bot_i, bot_v = check_against_argsort(x, k)
    assert top_i.shape == (n, 6)
    # every row appears once per column
    assert (np.sort(top_i, axis=0) == np.arange(n)[:, None]).all()
    assert (np.sort(bot_i, axis=0) == np.arange(n)[:, None]).all()


def test_negative_zero_and_infinities():
    x = np.array([[0.0], [-0.0], [np.inf], [-np.inf], [1.0], [0.0]] * 20, dtype=np.float32)
    check_against_argsort(x, 3)  # partial path (3 * 8 <= 120)
    check_against_argsort(x, 40)  # full path


def test_values_are_the_activations_at_the_indices():
    x = np.random.default_rng(5).standard_normal((300, 12)).astype(np.float32)
    top_i, top_v, bot_i, bot_v = neuron_extremes(x, 4)
    cols = np.arange(12)
    for r in range(4):
        np.testing.assert_array_equal(top_v[r], x[top_i[r], cols])
        np.testing.assert_array_equal(bot_v[r], x[bot_i[r], cols])
    assert top_i.dtype.kind == "i" and bot_i.dtype.kind == "i"
