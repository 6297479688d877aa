"""analysis.attention: features on hand-made attention, structure similarity, sklearn/scipy agreement."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.cluster import KMeans
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

from analysis.attention import (FEATURES, ClusterSpec, batch_features, cluster, cluster_metrics, consensus_rank,
                                default_specs, group_tests, head_features, in_ranges, parse_ranges,
                                quality_table, standardise, statement, structure_similarity, structure_vectors,
                                study_check, covariate_tests, tracking_layers)
from analysis.numerics import holm

F = {name: i for i, name in enumerate(FEATURES)}


def test_uniform_rows_have_entropy_log_n_and_known_shares():
    n = 6
    att = np.full((2, n, n), 1 / n)
    f = head_features(att, sep=[n - 1])
    assert f.shape == (2, 7)
    assert f[:, F["entropy"]] == pytest.approx([math.log(n)] * 2)
    assert f[:, F["to_cls"]] == pytest.approx([1 / n] * 2)
    assert f[:, F["to_sep"]] == pytest.approx([1 / n] * 2)
    assert f[:, F["self"]] == pytest.approx([1 / n] * 2)
    assert f[:, F["prev"]] == pytest.approx([1 / n] * 2)
    assert f[:, F["next"]] == pytest.approx([1 / n] * 2)
    # mean |i - j| over a uniform n x n grid: (n^2 - 1) / (3n)
    assert f[:, F["distance"]] == pytest.approx([(n * n - 1) / (3 * n)] * 2)


def test_one_hot_rows_give_exact_cls_sep_prev_next_values():
    n = 5  # [CLS] w1 [SEP] w2 [SEP]: SEP at 2 and 4
    to_cls = np.zeros((n, n))
    to_cls[:, 0] = 1
    to_prev = np.zeros((n, n))
    to_prev[0, 0] = 1  # the first query has no previous token: it attends to itself
    for i in range(1, n):
        to_prev[i, i - 1] = 1
    to_next = np.zeros((n, n))
    for i in range(n - 1):
        to_next[i, i + 1] = 1
    to_next[n - 1, n - 1] = 1
    to_sep = np.zeros((n, n))
    to_sep[:, 4] = 1
    f = head_features(np.stack([to_cls, to_prev, to_next, to_sep, np.eye(n)]), sep=[2, 4])
    assert f[:, F["entropy"]] == pytest.approx([0] * 5, abs=1e-9)
    cls_h, prev_h, next_h, sep_h, self_h = f
    assert cls_h[F["to_cls"]] == 1 and cls_h[F["self"]] == pytest.approx(1 / n)
    assert cls_h[F["to_sep"]] == pytest.approx(0)
    assert cls_h[F["distance"]] == pytest.approx(np.mean(np.arange(n)))  # query i is i away from [CLS]
    assert prev_h[F["prev"]] == pytest.approx(1) and prev_h[F["next"]] == pytest.approx(0)
    assert prev_h[F["to_sep"]] == pytest.approx(1 / n)  # only query 3 attends to a SEP (the one at 2)
    assert prev_h[F["distance"]] == pytest.approx((n - 1) / n)
    assert next_h[F["next"]] == pytest.approx(1) and next_h[F["prev"]] == pytest.approx(0)
    assert next_h[F["to_cls"]] == pytest.approx(0)
    assert sep_h[F["to_sep"]] == pytest.approx(1) and sep_h[F["to_cls"]] == pytest.approx(0)
    assert self_h[F["self"]] == pytest.approx(1) and self_h[F["distance"]] == pytest.approx(0)


def test_batch_features_equal_the_per_item_reference_under_padding():
    rng = np.random.default_rng(3)
    lengths = np.array([7, 3, 5, 1])
    t = 8
    att = np.zeros((4, 3, t, t), dtype=np.float32)
    sep = np.zeros((4, t), dtype=bool)
    for b, n in enumerate(lengths):
        a = rng.random((3, n, n)) ** 3
        att[b, :, :n, :n] = a / a.sum(-1, keepdims=True)
        att[b, :, n:, :] = rng.random((3, t - n, t))  # garbage in padded query rows must be ignored
        sep[b, n - 1] = True
    got = batch_features(att, lengths, sep)
    for b, n in enumerate(lengths):
        want = head_features(att[b, :, :n, :n], [n - 1])
        if n == 1:
            want[:, [F["prev"], F["next"]]] = 0
        assert got[b] == pytest.approx(want, abs=1e-5)


def test_structure_similarity_on_hand_made_labels():
    s1 = (["det", "nsubj", "ROOT", "punct"], ["nsubj", "ROOT", "punct"])
    s2 = (["det", "nsubj", "ROOT", "punct"], ["nsubj", "ROOT", "dobj", "punct"])
    items = [s1, s2, s1, (["ROOT"], ["ROOT"]), s1]
    sim, top, n_top = structure_similarity(items)
    assert top == "det nsubj ROOT punct | nsubj ROOT punct" and n_top == 3
    vecs, cols = structure_vectors(items)
    assert cols[:5] == ["a:ROOT", "a:det", "a:dobj", "a:nsubj", "a:punct"] and len(cols) == 10
    ref = vecs[0]
    assert sim[[0, 2, 4]] == pytest.approx([1, 1, 1])
    # s2: a-part equal (4 shared ones), b-part adds dobj: cos = 7 / sqrt(7 * 8)
    assert sim[1] == pytest.approx(7 / math.sqrt(7 * 8))
    assert sim[3] == pytest.approx(2 / math.sqrt(2 * 7))
    assert sim[1] == pytest.approx(vecs[1] @ ref / np.linalg.norm(vecs[1]) / np.linalg.norm(ref))
    # single sentences: no b columns; ties go to the first structure seen
    sim1, top1, n1 = structure_similarity([(["ROOT", "punct"], None), (["nsubj", "ROOT"], None)])
    assert top1 == "ROOT punct" and n1 == 1 and sim1 == pytest.approx([1, 0.5])


def test_group_tests_equal_scipy_and_holm_by_hand():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 1, 30), rng.normal(0.8, 1, 25), rng.normal(0.1, 1, 20), [np.nan]])
    labels = np.array([0] * 30 + [1] * 25 + [2] * 20 + [1])
    summary, pairs = group_tests(values, labels)
    groups = [values[:30], values[30:55], values[55:75]]
    h, p = stats.kruskal(*groups)
    assert summary["kw_h"] == pytest.approx(h) and summary["kw_p"] == pytest.approx(p)
    assert summary["n"] == 75 and summary["n_clusters"] == 3
    assert summary["eta2"] == pytest.approx((h - 3 + 1) / (75 - 3))
    raw = [stats.mannwhitneyu(groups[a], groups[b], alternative="two-sided") for a, b in itertools.combinations(range(3), 2)]
    assert pairs["u"].tolist() == pytest.approx([r.statistic for r in raw])
    assert pairs["p"].tolist() == pytest.approx([r.pvalue for r in raw])
    # Holm by hand: sorted p times (m, m-1, ...), running max, capped at 1
    ps = np.array([r.pvalue for r in raw])
    order = np.argsort(ps)
    adj = np.empty(3)
    running = 0
    for rank, i in enumerate(order):
        running = max(running, min(1, (3 - rank) * ps[i]))
        adj[i] = running
    assert pairs["p_holm"].tolist() == pytest.approx(adj.tolist())
    assert summary["mw_significant"] == int((adj < 0.05).sum())
    assert holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])


def test_group_tests_drop_noise_and_single_clusters():
    summary, pairs = group_tests(np.arange(10.0), np.array([-1] * 5 + [0] * 5))
    assert summary["n_clusters"] == 1 and np.isnan(summary["kw_p"]) and pairs.empty
    cov = pd.DataFrame({"score": [1.0, 2, 3, 4, 5, 6], "length": [5.0] * 6, "structure": [np.nan] * 6})
    t, pw = covariate_tests(cov, np.array([0, 0, 0, 1, 1, 1]))
    assert t["covariate"].tolist() == ["score", "length"]  # structure all NaN: not tested
    assert np.isnan(t.set_index("covariate").loc["length", "kw_p"])  # constant: no test
    assert t.set_index("covariate").loc["score", "kw_p"] == pytest.approx(stats.kruskal([1, 2, 3], [4, 5, 6]).pvalue)


def test_cluster_metrics_equal_sklearn_and_noise_is_left_out():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 0.3, (40, 2)), rng.normal(3, 0.3, (40, 2)), rng.normal([0, 3], 0.3, (40, 2))])
    lab = cluster(x, ClusterSpec("kmeans", 3), seed=0)
    z = standardise(x)
    assert (lab == KMeans(3, n_init=4, random_state=0).fit_predict(z)).all()
    m = cluster_metrics(x, lab)
    assert m["silhouette"] == pytest.approx(silhouette_score(z, lab))
    assert m["davies_bouldin"] == pytest.approx(davies_bouldin_score(z, lab))
    assert m["calinski_harabasz"] == pytest.approx(calinski_harabasz_score(z, lab))
    assert m["n_clusters"] == 3 and m["silhouette"] > 0.7
    noisy = lab.copy()
    noisy[:5] = -1
    m2 = cluster_metrics(x, noisy)
    assert m2["n_noise"] == 5 and m2["silhouette"] == pytest.approx(silhouette_score(z[5:], lab[5:]))
    assert np.isnan(cluster_metrics(x, np.zeros(len(x), dtype=int))["silhouette"])
    # with the distances given (quality_table's path): the same metrics, noise left out of the matrix too
    d = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(-1))
    for labels in (lab, noisy):
        assert cluster_metrics(x, labels, d) == pytest.approx(cluster_metrics(x, labels), rel=1e-9)


@pytest.mark.parametrize("spec", [ClusterSpec("agglomerative", 3, linkage="average", metric="manhattan"),
                                  ClusterSpec("agglomerative", 3, linkage="ward"),
                                  ClusterSpec("gmm", 3, covariance="diag"), ClusterSpec("spectral", 3),
                                  ClusterSpec("dbscan", 0, eps=0.3, min_samples=5)])
def test_every_algorithm_recovers_three_blobs(spec):
    rng = np.random.default_rng(2)
    centres = np.array([[0, 0], [4, 0], [0, 4]])
    x = np.concatenate([rng.normal(c, 0.3, (30, 2)) for c in centres])
    truth = np.repeat([0, 1, 2], 30)
    lab = cluster(x, spec)
    ok = lab >= 0
    assert ok.mean() > 0.9
    # the same partition up to renaming: each true blob maps to one cluster
    assert all(len(set(lab[ok & (truth == t)])) == 1 for t in range(3))
    assert len(set(lab[ok])) == 3


def test_quality_table_consensus_picks_the_true_k():
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.normal(c, 0.25, (40, 2)) for c in [[0, 0], [3, 0], [0, 3], [3, 3]]])
    q, labels = quality_table(x, default_specs(("kmeans", "gmm", "dbscan"), 2, 6))
    best = q[q["chosen"]].iloc[0]
    assert q["chosen"].sum() == 1 and best["n_clusters"] == 4
    assert set(q["algorithm"]) == {"kmeans", "gmm", "dbscan"} and len(labels) == len(q)
    # the rank is the mean of the three metric ranks
    ok = q.dropna(subset=["rank"])
    r = (ok["silhouette"].rank(ascending=False) + ok["davies_bouldin"].rank() + ok["calinski_harabasz"].rank(
        ascending=False)) / 3
    assert ok["rank"].tolist() == pytest.approx(r.tolist())
    # each row's silhouette is sklearn's on the standardised points and that row's labels (noise left out)
    z = standardise(x)
    for i, row in q.dropna(subset=["silhouette"]).iterrows():
        keep = labels[i] >= 0
        assert row["silhouette"] == pytest.approx(silhouette_score(z[keep], labels[i][keep]), rel=1e-9)
    bad = pd.DataFrame({"algorithm": ["dbscan"], "n_points": [10], "n_noise": [6], "n_clusters": [2],
                        "silhouette": [0.9], "davies_bouldin": [0.1], "calinski_harabasz": [100.0]})
    assert consensus_rank(bad).isna().all()  # DBSCAN with most points as noise is not a candidate


def _tests(rows):
    return pd.DataFrame(rows, columns=["layer", "covariate", "kw_p", "eta2"])


def test_statement_and_study_check_follow_the_numbers():
    t = _tests([(1, "length", 1e-20, 0.5), (2, "length", 1e-10, 0.3), (3, "length", 1e-3, 0.02),
                (4, "length", 0.2, 0.0), (1, "score", 0.5, 0.0), (2, "score", 1e-2, 0.01),
                (3, "score", 1e-8, 0.2), (4, "score", 1e-12, 0.25)])
    assert tracking_layers(t, "length") == [1, 2] and tracking_layers(t, "score") == [3, 4]
    text = statement(t)
    assert "**WordPiece length**: layers 1, 2 (strongest: layer 1" in text
    assert "**gold score**: layers 3, 4 (strongest: layer 4" in text
    check = study_check(t, 4).set_index("finding")["holds"]
    assert check.tolist() == [True, True]
    flipped = _tests([(1, "length", 0.5, 0.0), (4, "length", 1e-9, 0.4), (1, "score", 1e-9, 0.4),
                      (4, "score", 0.5, 0.0)])
    assert study_check(flipped, 4)["holds"].tolist() == [False, False]
    # the strongest score layer is deep, but no layer's clusters really track the score: not the study's finding
    weak = _tests([(1, "score", 0.5, 0.0), (3, "score", 1e-5, 0.016)])
    assert study_check(weak, 4)["holds"].tolist() == [False]


def test_ranges():
    assert parse_ranges("9-15, 20-22 / 60-81") == [(9, 15), (20, 22), (60, 81)]
    assert parse_ranges("0, 5") == [(0, 0), (5, 5)] and parse_ranges("-1--0.5") == [(-1, -0.5)]
    with pytest.raises(ValueError):
        parse_ranges("5-1")
    assert in_ranges(np.array([0, 9, 15, 16, 21, 70, 5]), [(9, 15), (20, 22), (60, 81), (5, 5)]).tolist() == \
        [-1, 0, 0, -1, 1, 2, 3]
