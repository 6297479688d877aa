"""analysis.monotonicity against hand-computed quintile counts, shares and baselines."""
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from analysis.monotonicity import (fig6_frame, frequent_tokens, monotonic_direction, quintile_counts,
                                   quintile_index, table3, table4, token_matrix)

# 10 sentences with activations 0..9, stored shuffled so the quintiles must come from sorting:
# quintiles (lowest first) are sentences with activation {0,1}, {2,3}, {4,5}, {6,7}, {8,9}.
ACT = np.array([7, 2, 9, 0, 5, 3, 8, 1, 6, 4], dtype=float)
# Per-activation-value token counts; columns: up, down, bumpy, flat_start.
BY_VALUE = np.array([
    # up down bumpy flat_start
    [0, 3, 1, 1],  # act 0
    [0, 2, 0, 0],  # act 1   -> quintile 1: up 0, down 5, bumpy 1, flat 1
    [1, 2, 0, 0],  # act 2
    [0, 1, 0, 1],  # act 3   -> quintile 2: up 1, down 3, bumpy 0, flat 1
    [1, 1, 1, 1],  # act 4
    [1, 1, 0, 1],  # act 5   -> quintile 3: up 2, down 2, bumpy 1, flat 2
    [2, 1, 0, 2],  # act 6
    [1, 0, 0, 1],  # act 7   -> quintile 4: up 3, down 1, bumpy 0, flat 3
    [2, 0, 1, 2],  # act 8
    [2, 0, 0, 2],  # act 9   -> quintile 5: up 4, down 0, bumpy 1, flat 4
])
TOKENS = BY_VALUE[ACT.astype(int)]  # row n = sentence n


def test_quintile_counts_by_hand():
    counts = quintile_counts(ACT[:, None], sp.csr_matrix(TOKENS))
    assert counts.shape == (1, 4, 5)
    assert counts[0].tolist() == [[0, 1, 2, 3, 4], [5, 3, 2, 1, 0], [1, 0, 1, 0, 1], [1, 1, 2, 3, 4]]
    assert monotonic_direction(counts)[0].tolist() == [1, -1, 0, 0]  # flat_start ties 1, 1: strict => 0


def test_quintile_counts_dense_and_sparse_agree_with_a_brute_force_loop():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((37, 6))  # 37 = 5*7 + 2: quintile sizes 8, 8, 7, 7, 7
    x[:, 2] = 0.0  # all tied: quintiles by sentence index
    c = rng.poisson(0.7, size=(37, 9))
    got = quintile_counts(x, c, block=4)
    assert np.array_equal(got, quintile_counts(x, sp.csr_matrix(c)))
    for h in range(6):
        order = sorted(range(37), key=lambda n: (x[n, h], n))
        groups = [order[0:8], order[8:16], order[16:23], order[23:30], order[30:37]]
        for t in range(9):
            assert got[h, t].tolist() == [int(c[g, t].sum()) for g in groups]


def test_quintile_ties_go_by_sentence_index():
    q = quintile_index(np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]))  # sizes 2, 2, 1, 1, 1
    assert q.tolist() == [0, 0, 1, 1, 2, 3, 4]
    q = quintile_index(np.array([5.0, 0.0, 5.0, 0.0, 5.0]))  # ties: 1 < 3, then 0 < 2 < 4
    assert q.tolist() == [2, 0, 3, 1, 4]
    with pytest.raises(ValueError, match="at least 5"):
        quintile_index(np.zeros(4))


def test_quintile_index_matches_a_stable_sort_with_many_ties_and_with_nan():
    rng = np.random.default_rng(7)
    for n in (5, 6, 37, 501):
        x = rng.integers(0, 4, size=(n, 8)).astype(np.float32)  # few values: ties at every cut point
        x[:, 0] = rng.standard_normal(n)
        x[:, 1] = 2.0
        sizes = [len(p) for p in np.array_split(np.arange(n), 5)]
        for h in range(8):
            order = sorted(range(n), key=lambda i: (x[i, h], i))
            expected = np.empty(n, dtype=int)
            expected[order] = np.repeat(np.arange(5), sizes)
            assert quintile_index(x)[:, h].tolist() == expected.tolist()
    x = rng.standard_normal((12, 3))
    x[3, 1] = np.nan  # NaN sorts last, as in numpy's sort
    q = quintile_index(x)
    assert q[3, 1] == 4 and np.array_equal(q[:, 0], quintile_index(x[:, 0]))


def test_monotonic_direction_is_strict_on_any_leading_shape():
    c = np.array([[[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]], [[1, 2, 2, 3, 4], [0, 0, 0, 0, 0]]])
    d = monotonic_direction(c)
    assert d.dtype == np.int8 and d.tolist() == [[1, -1], [0, 0]]


def test_table3_shares_and_chance_baselines():
    # 2 neurons x 2 tokens = 4 pairs.
    a = np.array([[1, -1], [0, 1]], dtype=np.int8)
    b = np.array([[1, 1], [0, -1]], dtype=np.int8)
    t = table3({"A": a, "B": b}).set_index("datasets")
    assert list(t.index) == ["A", "B", "A + B"]
    assert t.loc["A", ["monotonic", "increasing", "decreasing"]].tolist() == [0.75, 0.5, 0.25]
    assert t.loc["B", ["monotonic", "increasing", "decreasing"]].tolist() == [0.75, 0.5, 0.25]
    # Monotonic in both (direction may differ): pairs (0,0), (0,1), (1,1); increasing in both: (0,0) only.
    assert t.loc["A + B", ["monotonic", "increasing", "decreasing", "same_direction"]].tolist() == \
        [0.75, 0.25, 0.0, 0.25]
    assert t.loc["A", "chance_monotonic"] == pytest.approx(2 / 120)
    assert t.loc["A + B", "chance_monotonic"] == pytest.approx((2 / 120) ** 2)
    assert t.loc["A + B", "chance_increasing"] == pytest.approx((1 / 120) ** 2)
    assert t.loc["A + B", "chance_same_direction"] == pytest.approx(2 / 120 ** 2)
    assert t["n_datasets"].tolist() == [1, 1, 2]


def test_table3_has_every_combination():
    d = {name: np.zeros((1, 1), dtype=np.int8) for name in "ABCD"}
    assert table3(d)["n_datasets"].value_counts().sort_index().tolist() == [4, 6, 4, 1]


def test_table4_counts_same_direction_neurons():
    # 3 neurons x 3 tokens; token y rises in both datasets on neurons 0 and 1 and falls on 2;
    # x rises in both on neuron 0 only; z goes opposite ways and never counts.
    a = np.array([[1, 1, 1], [0, 1, 0], [0, -1, -1]], dtype=np.int8)
    b = np.array([[1, 1, -1], [1, 1, 0], [0, -1, 1]], dtype=np.int8)
    t = table4({"A": a, "B": b}, ["x", "y", "z"])
    assert t.to_dict("records") == [
        {"token": "y", "n_neurons": 3, "n_increasing": 2, "n_decreasing": 1},
        {"token": "x", "n_neurons": 1, "n_increasing": 1, "n_decreasing": 0}]
    assert len(table4({"A": a, "B": b}, ["x", "y", "z"], top=1)) == 1


def _long(rows):
    return pd.DataFrame(rows, columns=["dataset", "sentence_id", "token", "n"])


def test_frequent_tokens_needs_min_count_in_each_dataset():
    long = _long([("a", 0, "the", 60), ("a", 1, "the", 40), ("b", 0, "the", 150),
                  ("a", 0, "cat", 50), ("a", 2, "cat", 49), ("b", 1, "cat", 500),
                  ("a", 3, "dog", 300)])
    assert frequent_tokens(long) == ["the"]  # cat: 99 in a; dog: absent from b
    assert frequent_tokens(long, min_count=99) == ["cat", "the"]
    assert frequent_tokens(long, min_count=1, datasets=["a"]) == ["cat", "dog", "the"]
    assert frequent_tokens(long, min_count=1, datasets=["a", "missing"]) == []


def test_token_matrix_from_the_long_table():
    long = _long([("a", 0, "x", 2), ("a", 2, "y", 1), ("a", 2, "x", 3), ("a", 1, "other", 9),
                  ("a", 2, "y", 1)])
    m = token_matrix(long, 4, ["y", "x"])
    assert sp.issparse(m) and m.shape == (4, 2)
    assert m.toarray().tolist() == [[0, 2], [0, 0], [2, 3], [0, 0]]
    with pytest.raises(ValueError, match="sentence_id"):
        token_matrix(long, 2, ["x"])


def test_fig6_frame_is_long():
    f = fig6_frame({"qqp": np.array([5, 4, 3, 2, 1]), "wiki": np.zeros(5)})
    assert f.columns.tolist() == ["dataset", "quintile", "count", "share"]
    assert f["quintile"].tolist() == [1, 2, 3, 4, 5] * 2
    assert f["count"].tolist()[:5] == [5, 4, 3, 2, 1]
    assert f["share"].iloc[0] == pytest.approx(5 / 15) and f["share"].iloc[5:].isna().all()
