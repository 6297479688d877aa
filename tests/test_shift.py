"""analysis.shift: KS / Wasserstein against scipy, the vectorised layer table against a per-unit scipy loop, RBO
and Jaccard against hand computations, shared histograms and the pooled top k."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import shift


def _scipy_loop(a, b):
    d = np.array([stats.ks_2samp(a[:, j], b[:, j]).statistic for j in range(a.shape[1])])
    en = len(a) * len(b) / (len(a) + len(b))
    return (d, stats.kstwobign.sf(d * np.sqrt(en)),
            np.array([stats.wasserstein_distance(a[:, j], b[:, j]) for j in range(a.shape[1])]))


@pytest.mark.parametrize("ties", [False, True])
def test_layer_shift_equals_a_per_unit_scipy_loop(ties):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((137, 70)).astype(np.float32)
    b = (rng.standard_normal((90, 70)) * rng.uniform(0.5, 2, 70) + rng.uniform(-1, 1, 70)).astype(np.float32)
    if ties:  # a coarse grid: many values tie within and across the datasets (e.g. a ReLU's zeros)
        a, b = np.round(a * 2) / 2, np.maximum(np.round(b * 2) / 2, 0)
    got = shift.layer_shift(a, b, block=16)  # blocks that do not divide 70
    d, p, w = _scipy_loop(a.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(got["ks"], d, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["wasserstein"], w, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got["ks_p"], p, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(got["mean_diff"], b.mean(0) - a.mean(0), rtol=1e-5, atol=1e-6)
    assert got["unit"].tolist() == list(range(70))


def test_layer_shift_of_identical_samples_is_zero_and_bad_shapes_fail():
    a = np.random.default_rng(0).standard_normal((40, 5))
    got = shift.layer_shift(a, a.copy())
    assert np.all(got["ks"] == 0) and np.allclose(got["wasserstein"], 0) and np.all(got["ks_p"] == 1)
    with pytest.raises(ValueError, match="same h"):
        shift.layer_shift(a, a[:, :3])
    with pytest.raises(ValueError, match="at least one"):
        shift.layer_shift(a[:0], a)


def test_pair_stats_equal_scipy():
    rng = np.random.default_rng(1)
    values = {"x": rng.normal(0, 1, 50), "y": rng.normal(0.5, 2, 30), "z": rng.exponential(1, 41)}
    got = shift.pair_stats(values)
    assert list(zip(got.a, got.b)) == [("x", "y"), ("x", "z"), ("y", "z")]
    for row in got.itertuples():
        ks = stats.ks_2samp(values[row.a], values[row.b])
        assert row.ks == ks.statistic and row.ks_p == ks.pvalue
        assert row.wasserstein == pytest.approx(stats.wasserstein_distance(values[row.a], values[row.b]))
        assert row.mean_diff == pytest.approx(values[row.b].mean() - values[row.a].mean())


def test_rbo_by_hand():
    # S = a b c, T = b a d, p = 0.9: X_1 = 0, X_2 = 2, X_3 = 2 (eq. 32, equal lengths)
    # RBO_ext = X_3/3 p^3 + (1-p)/p (X_1 p + X_2/2 p^2 + X_3/3 p^3) = 0.486 + (0.81 + 0.486)/9 = 0.630
    assert shift.rbo("abc", "bad", 0.9) == pytest.approx(0.630)
    # S = a x (s = 2), L = b a c (l = 3), eq. 30: X_1 = 0, X_2 = 1, X_3 = |{a,x} ∩ {b,a,c}| = 1, X_s = 1
    # (1-p)/p (0 + 0.5 p^2 + p^3/3 + X_s (3-2)/(2*3) p^3) + ((X_3 - X_s)/3 + X_s/2) p^3
    # = (0.405 + 0.243 + 0.1215)/9 + 0.5 * 0.729 = 0.0855 + 0.3645 = 0.45
    assert shift.rbo("ax", "bac", 0.9) == pytest.approx(0.45)
    assert shift.rbo("bac", "ax", 0.9) == pytest.approx(0.45)  # symmetric
    # at p = 0.5: (1-p)/p = 1, so (0 + (2/2) 0.25 + (2/3) 0.125) + (2/3) 0.125 = 0.25 + 0.08333 + 0.08333
    assert shift.rbo("abc", "bad", 0.5) == pytest.approx(0.25 + 2 * (2 / 3) * 0.125)


@pytest.mark.parametrize("p", [0.5, 0.9, 0.98])
def test_rbo_known_properties(p):
    items = list(range(30))
    assert shift.rbo(items, items, p) == pytest.approx(1.0)
    assert shift.rbo(items[:5], items, p) == pytest.approx(1.0)  # a prefix agrees as far as it goes
    assert shift.rbo(items[:15], items[15:], p) == 0.0
    swapped_top, swapped_tail = items.copy(), items.copy()
    swapped_top[0], swapped_top[1] = 1, 0
    swapped_tail[28], swapped_tail[29] = 29, 28
    assert shift.rbo(items, swapped_top, p) < shift.rbo(items, swapped_tail, p) < 1  # top-weighted
    assert np.isnan(shift.rbo([], [], p)) and shift.rbo([], [1], p) == 0.0
    with pytest.raises(ValueError, match="p must lie"):
        shift.rbo(items, items, 1.0)


def test_jaccard_by_hand_and_list_agreement():
    assert shift.jaccard("abcd", "cdef") == 2 / 6
    assert shift.jaccard("ab", "ab") == 1.0 and shift.jaccard("ab", "cd") == 0.0 and np.isnan(shift.jaccard("", ""))
    got = shift.list_agreement({"u": list("abc"), "v": list("bad"), "w": list("xyz")}, 0.9)
    assert got[["a", "b"]].values.tolist() == [["u", "v"], ["u", "w"], ["v", "w"]]
    assert got["rbo"].tolist() == pytest.approx([0.630, 0, 0]) and got["jaccard"].tolist() == [0.5, 0, 0]
    assert got["shared"].tolist() == [2, 0, 0]


def test_top_words():
    texts = ["The film was a great film", "A great cast", "the plot is thin", "Great, great plot!"]
    # great: 3 sentences, plot: 2, then alphabetical; function words and repeats within a sentence do not count
    assert shift.top_words(texts, 4) == ["great", "plot", "cast", "film"]


def test_shared_histograms():
    values = {"a": np.array([0.0, 1, 2, 3]), "b": np.array([2.0, 2.5, 10])}
    h = shift.shared_histograms(values, bins=5)
    starts = h.groupby("dataset")["bin_start"].apply(list)
    assert starts["a"] == starts["b"] == pytest.approx([0, 2, 4, 6, 8])
    for name, v in values.items():
        g = h[h.dataset == name]
        assert g["count"].tolist() == np.histogram(v, bins=5, range=(0, 10))[0].tolist()
        assert float(np.sum(g["density"] * (g["bin_end"] - g["bin_start"]))) == pytest.approx(1.0)
    const = shift.shared_histograms({"a": np.ones(3), "b": np.ones(2)}, bins=4)
    assert const.groupby("dataset")["count"].sum().tolist() == [3, 2]


def test_pooled_topk_and_shares():
    scores = pd.DataFrame({"dataset": ["a"] * 4 + ["b"] * 2, "sentence_id": [0, 1, 2, 3, 0, 1],
                           "value": [5.0, 1, 3, 3, 4, 0]})
    top = shift.pooled_topk(scores, 3)
    assert top[["dataset", "sentence_id", "rank"]].values.tolist() == [["a", 0, 1], ["b", 0, 2], ["a", 2, 3]]
    shares = shift.pooled_shares(scores, top, ["a", "b", "c"])
    assert shares["in_top"].tolist() == [2, 1, 0]
    assert shares["share_of_top"].tolist() == pytest.approx([2 / 3, 1 / 3, 0])
    assert shares["enrichment"].iloc[:2].tolist() == pytest.approx([(2 / 3) / (4 / 6), (1 / 3) / (2 / 6)])
    assert np.isnan(shares["enrichment"].iloc[2])


def test_layer_shift_p_values_approach_ks_2samp_asymp_for_large_samples():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((4000, 6)), rng.standard_normal((3000, 6)) + np.linspace(0, 0.08, 6)
    got = shift.layer_shift(a, b)
    ref = np.array([stats.ks_2samp(a[:, j], b[:, j], method="asymp").pvalue for j in range(6)])
    # the limiting distribution against scipy's finite-n one: close where p is not tiny
    keep = ref > 1e-3
    assert keep.sum() >= 2
    np.testing.assert_allclose(got["ks_p"][keep], ref[keep], rtol=0.05)
