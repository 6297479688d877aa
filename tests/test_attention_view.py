"""The attention page's frames (analysis/attention_view.py) against hand-made tables and plain loops."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import attention_view as av


def test_coordinates_and_covariates():
    points = pd.DataFrame({"sx": [1, 2], "sy": [3, 4], "ax": [5.5, 6], "ay": [7, 8]})
    cols, xy = av.coordinates(points, "autoencoder")
    assert cols == ("ax", "ay") and xy.dtype == np.float64 and xy.tolist() == [[5.5, 7], [6, 8]]
    assert av.coordinates(points, "summary")[0] == ("sx", "sy")
    assert av.covariates(True, True) == ["score", "length", "structure"]
    assert av.covariates(False, True) == ["length", "structure"]
    assert av.covariates(True, False) == ["score", "length"]
    assert av.covariates(False, False) == ["length"]


def test_cluster_names_and_order():
    names = av.cluster_names(np.array([10, -1, 2, 0, 2]))
    assert names.tolist() == ["10", "noise", "2", "0", "2"]
    assert av.cluster_order(names) == ("0", "2", "10", "noise")


def test_highlight_first_range_wins_and_counts():
    values = np.array([1.0, 5.0, 9.0, 12.0, 15.0])
    labels, order = av.highlight(values, [(4, 12), (9, 20)])
    assert labels == ["other", "4–12", "4–12", "4–12", "9–20"]
    assert order == ["4–12", "9–20", "other"]
    points = pd.DataFrame({"highlight": labels, "cluster": ["0", "0", "1", "1", "1"]})
    assert av.highlight_counts(points) == [("4–12", [("0", 1), ("1", 2)]), ("9–20", [("1", 1)])]


def test_spearman_pairs_match_scipy():
    rng = np.random.default_rng(1)
    points = pd.DataFrame({"score": rng.normal(size=30), "length": rng.integers(5, 40, 30).astype(float),
                           "structure": rng.uniform(size=30)})
    pairs = av.spearman_pairs(points, ["score", "length", "structure"])
    assert [(a, b) for a, b, _ in pairs] == [("score", "length"), ("score", "structure"), ("length", "structure")]
    for a, b, rho in pairs:
        assert rho == pytest.approx(stats.spearmanr(points[a], points[b]).statistic)


def _tests_frame():
    rows = []
    for layer in (2, 0, 1):
        for cov in ("length", "score"):
            rows.append({"layer": layer, "covariate": cov, "feature_set": "summary", "kw_p": 0.01 * (layer + 1),
                         "eta2": 0.1 * layer + (0.05 if cov == "score" else 0), "mw_min_p": 0.001 * layer})
    return pd.DataFrame(rows)


def test_table5_by_hand():
    tests = _tests_frame()
    t5 = av.table5(tests, ["score", "length", "structure"])
    assert list(t5.columns) == ["layer", "score kw_p", "score eta2", "score mw_min_p", "length kw_p", "length eta2",
                                "length mw_min_p"]  # no structure tests: no structure columns
    assert t5["layer"].tolist() == [0, 1, 2]
    for r in tests.itertuples():
        row = t5[t5["layer"] == r.layer].iloc[0]
        assert row[f"{r.covariate} kw_p"] == r.kw_p and row[f"{r.covariate} eta2"] == r.eta2
        assert row[f"{r.covariate} mw_min_p"] == r.mw_min_p
    eta = av.eta_by_layer(tests)
    assert len(eta) == len(tests)
    got = {(r.layer, r.covariate): r.eta2 for r in eta.itertuples()}
    assert got == {(r.layer, r.covariate): r.eta2 for r in tests.itertuples()}


def test_best_per_algorithm_and_best_heads():
    quality = pd.DataFrame({
        "layer": [0, 0, 0, 1, 1, 1], "algorithm": ["kmeans", "kmeans", "gmm", "kmeans", "gmm", "gmm"],
        "feature_set": ["summary"] * 5 + ["autoencoder"], "rank": [3.0, 1.0, 2.0, np.nan, 4.0, 0.5]})
    best = av.best_per_algorithm(quality, "summary")
    assert list(zip(best["layer"], best["algorithm"], best["rank"])) == [(0, "kmeans", 1.0), (0, "gmm", 2.0),
                                                                         (1, "gmm", 4.0)]
    heads = pd.DataFrame({"dataset": ["a", "a", "b", "b"], "head": ["cls", "mean", "cls", "mean"],
                          "pearson": [0.5, 0.7, 0.9, 0.2]})
    out = av.best_heads(heads)
    assert [(ds, top["head"], cls) for ds, top, cls in out] == [("a", "mean", 0.5), ("b", "cls", None)]
