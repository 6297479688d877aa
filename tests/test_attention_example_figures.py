"""The attention page's whole-dataset box plots (the study's Figs. 3 and 4) and the five clusterings side by side,
each against an independent computation (numpy quantiles and a hand-written Tukey rule; sklearn called directly)."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
from sklearn.cluster import DBSCAN, AgglomerativeClustering, KMeans, SpectralClustering
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from analysis.attention_figures import box_summary, skew_words, spec_of
from tests.test_attention_example import example_warehouse

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ex_warehouse(tmp_path_factory, tiny_model_dir, fixture_files) -> Path:
    return example_warehouse(tmp_path_factory, tiny_model_dir, fixture_files)


def tukey(x):
    """By hand: quartiles by linear interpolation between order statistics, whiskers at the last points within
    1.5 IQR, skewness m3 / m2^1.5."""
    x = sorted(v for v in x if v == v)
    n = len(x)

    def q(p):
        h = (n - 1) * p
        lo = int(h)
        return x[lo] + (h - lo) * (x[min(lo + 1, n - 1)] - x[lo])

    q1, q3 = q(0.25), q(0.75)
    fence = (q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1))
    inside = [v for v in x if fence[0] <= v <= fence[1]]
    mean = sum(x) / n
    m2 = sum((v - mean) ** 2 for v in x) / n
    m3 = sum((v - mean) ** 3 for v in x) / n
    return {"q1": q1, "median": q(0.5), "q3": q3, "whisker_low": min(inside), "whisker_high": max(inside),
            "outliers_low": sum(v < min(inside) for v in x), "outliers_high": sum(v > max(inside) for v in x),
            "skewness": m3 / m2 ** 1.5, "n": n}


@pytest.mark.parametrize("values", [
    [1, 2, 2, 3, 3, 3, 4, 4, 5, 40],                       # one high outlier, right skew
    [0.0, 4.8, 5.0, 4.9, 4.5, 3.0, 4.0, 4.2, float("nan")],  # left skew, a low outlier, NaN dropped
    list(np.random.default_rng(0).normal(size=101)),
])
def test_box_summary_is_the_tukey_box(values):
    got, want = box_summary(values), tukey(values)
    assert got == pytest.approx(got | want)  # every key computed by hand agrees
    assert got["min"] == min(v for v in values if v == v) and got["iqr"] == pytest.approx(want["q3"] - want["q1"])


def test_skew_words():
    assert skew_words(1.2).startswith("right") and skew_words(-0.4).startswith("left")
    assert skew_words(0.05) == "about symmetric" and skew_words(float("nan")) == "no spread"


def sklearn_labels(xy, spec):
    z = (xy - xy.mean(0)) / xy.std(0)
    a = spec.algorithm
    if a == "kmeans":
        return KMeans(n_clusters=spec.k, n_init=4, random_state=0).fit_predict(z)
    if a == "agglomerative":
        return AgglomerativeClustering(n_clusters=spec.k, linkage=spec.linkage, metric=spec.metric).fit_predict(z)
    if a == "gmm":
        return GaussianMixture(n_components=spec.k, covariance_type=spec.covariance, random_state=0,
                               reg_covar=1e-5).fit(z).predict(z)
    if a == "dbscan":
        return DBSCAN(eps=spec.eps, min_samples=spec.min_samples).fit_predict(z)
    return SpectralClustering(n_clusters=spec.k, affinity="nearest_neighbors", n_neighbors=min(10, len(z) - 1),
                              random_state=0).fit_predict(z)


def test_attention_page_shows_figs_3_4_and_the_five_clusterings(monkeypatch, ex_warehouse):
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(ex_warehouse))
    at = AppTest.from_file(str(ROOT / "views" / "attention.py"), default_timeout=90)
    at.query_params.update(run="tiny", dataset="sts", layer="2", features="summary")
    at.run()
    assert not at.exception
    con = duckdb.connect(str(ex_warehouse), read_only=True)
    items = con.execute("select score, n_tokens from attention_items where dataset = 'sts'").df()
    best = con.execute("select algorithm, params, k from attention_quality where dataset = 'sts' and layer = 2 and "
                       "feature_set = 'summary' qualify row_number() over (partition by algorithm order by rank nulls "
                       "last, silhouette desc nulls last, params, k) = 1").df().set_index("algorithm")
    pts = con.execute("select sentence_id, sx, sy, cluster_summary from attention_points where dataset = 'sts' and "
                      "layer = 2 order by sentence_id").df()
    chosen = con.execute("select algorithm from attention_layers where dataset = 'sts' and layer = 2 and "
                         "feature_set = 'summary'").fetchone()[0]
    con.close()
    frames = {}
    for c in at.get("vega_lite_chart"):
        spec = json.loads(c.proto.spec)
        for d in c.proto.datasets:
            frames.setdefault(d.name, []).append((spec, convert_arrow_bytes_to_pandas_df(d.data.data)))
    # Figs. 3 and 4: every item's gold score and length, one box each, and the table of their numbers
    # the box is drawn from the numbers in the table: both are the hand-computed Tukey box of every item
    dist = next(d.value for d in at.dataframe if "whisker_low" in d.value.columns).set_index("covariate")
    keys = ["n", "q1", "median", "q3", "whisker_low", "whisker_high", "outliers_low", "outliers_high", "skewness"]
    for (_, drawn), (_, dots), (cov, col) in zip(frames["summary"], frames["outliers"],
                                                  (("score", "score"), ("length", "n_tokens"))):
        x = items[col].astype(float).tolist()
        want = tukey(x)
        assert drawn.iloc[0][keys].tolist() == pytest.approx([want[k] for k in keys])
        assert dist.loc[cov, keys].tolist() == pytest.approx([want[k] for k in keys])
        assert sorted(dots["value"]) == sorted(v for v in x if v < want["whisker_low"] or v > want["whisker_high"])
    # the five clusterings: each algorithm's best-ranked stored clustering, labels as sklearn gives them
    ((_, multi),) = frames["multiples"]
    assert sorted(multi["algorithm"].unique()) == sorted(best.index)
    xy = pts[["sx", "sy"]].to_numpy(np.float64)
    for algo, g in multi.groupby("algorithm"):
        g = g.sort_values("sentence_id")
        assert g["sentence_id"].tolist() == pts["sentence_id"].tolist()
        row = best.loc[algo]
        want = sklearn_labels(xy, spec_of(algo, row["params"], row["k"]))
        got = g["cluster"].map(lambda c: -1 if c == "noise" else int(c)).to_numpy()
        assert adjusted_rand_score(want, got) == 1.0 and ((want < 0) == (got < 0)).all()
        if algo == chosen:  # the stored default clustering is the best-ranked one: its stored labels again
            assert adjusted_rand_score(pts["cluster_summary"], got) == 1.0
    assert any(s.value == "Layer 2: the five algorithms side by side" for s in at.subheader)
