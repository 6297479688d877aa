"""Outlier analysis (paper Section 5.2.2) against hand computation."""
import math

import numpy as np
import pytest

from analysis.outliers import distance_rank, mean_distance, n_outliers, outlier_share, outlier_shares


def _loops(x):
    n = len(x)
    return np.array([sum(math.dist(x[i], x[j]) for j in range(n) if j != i) / (n - 1) for i in range(n)])


def test_mean_distance_matches_explicit_loops_per_dataset():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(11, 6)) * 3 + 500).astype(np.float32)  # a large shared offset, as in BERT spaces
    groups = np.array(list("aabababbbab"))
    got = mean_distance(x, groups, block=2)  # several blocks, last one short
    for g in "ab":
        rows = groups == g
        np.testing.assert_allclose(got[rows], _loops(x[rows].astype(np.float64)), rtol=1e-4)
    np.testing.assert_allclose(mean_distance(x[:5], block=3), _loops(x[:5].astype(np.float64)), rtol=1e-4)


def test_mean_distance_by_hand():
    # points 0, 3 and 4 on a line: means (3+4)/2, (3+1)/2, (4+1)/2
    x = np.array([[0.0, 0.0], [3.0, 0.0], [4.0, 0.0]])
    np.testing.assert_allclose(mean_distance(x), [3.5, 2.0, 2.5], rtol=1e-6)
    # a 3-4-5 triangle
    x = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    np.testing.assert_allclose(mean_distance(x), [3.5, 4.0, 4.5], rtol=1e-6)
    assert mean_distance(np.ones((1, 3))).tolist() == [0.0]
    # duplicates are at distance exactly 0
    np.testing.assert_allclose(mean_distance(np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 2.0]])), [0.5, 0.5, 1.0])


def test_distance_rank_one_is_most_distant_within_each_group():
    assert distance_rank(np.array([1.0, 3.0, 2.0, 3.0])).tolist() == [4, 1, 3, 2]  # tie: lower index first
    d = np.array([5.0, 1.0, 2.0, 9.0, 4.0])
    assert distance_rank(d, np.array(["a", "a", "b", "b", "a"])).tolist() == [1, 3, 2, 1, 2]


def test_n_outliers_rounds_up_to_at_least_one():
    assert [n_outliers(n) for n in (0, 1, 24, 100, 101, 300, 2188)] == [0, 1, 1, 1, 2, 3, 22]
    assert n_outliers(10, 0.4) == 4


def test_outlier_share_on_a_hand_example():
    counts = np.array([5, 0, 1, 2, 2])
    dist = np.array([1.0, 9.0, 3.0, 8.0, 2.0])
    # 40% of 5 = 2 outliers: sentences 1 (count 0) and 3 (count 2): 2 of 10 slots
    assert outlier_share(counts, dist, top_fraction=0.4) == pytest.approx(0.2)
    # 1% of 5 rounds up to 1: sentence 1 holds no slot
    assert outlier_share(counts, dist) == 0.0
    # two datasets, pooled: a = sentences 0,1,2 (slots 6), b = 3,4 (slots 4); 1 outlier each: 0 and 2 -> 2/10
    groups = np.array(["a", "a", "a", "b", "b"])
    per = outlier_shares(counts, dist, groups, top_fraction=0.01).set_index("dataset")
    assert per.loc["a", "outlier_slots"] == 0 and per.loc["b", "outlier_slots"] == 2
    assert per.loc["a", "share"] == 0.0 and per.loc["b", "share"] == pytest.approx(0.5)
    assert per["slots"].tolist() == [6, 4]
    assert outlier_share(counts, dist, 0.01, groups) == pytest.approx(0.2)
    assert math.isnan(outlier_share(np.zeros(3), np.arange(3.0)))


def test_the_build_stores_every_sentences_mean_distance(small_warehouse):
    """pipeline/stages/distances.py against scipy's cdist on the same vectors, per dataset."""
    from scipy.spatial.distance import cdist

    import warehouse
    from warehouse import queries

    con = warehouse.connect_read_only(small_warehouse)
    try:
        for layer, pooling in ((2, "cls"), (0, "mean")):
            got = queries.sentence_distances(con, "tiny", layer, pooling, ["news", "pairs", "questions"])
            x, keys = queries.layer_matrix(con, "tiny", layer, pooling, ["news", "pairs", "questions"])
            assert got[["dataset", "sentence_id"]].equals(keys[["dataset", "sentence_id"]])
            for name in ("news", "pairs", "questions"):
                rows = (keys["dataset"] == name).to_numpy()
                xd = x[rows].astype(np.float64)
                ref = cdist(xd, xd).sum(axis=1) / (len(xd) - 1)
                np.testing.assert_allclose(got.loc[rows, "mean_distance"], ref, rtol=1e-4, atol=1e-5)
    finally:
        con.close()
