"""analysis.illusion against hand computations, scipy and brute force."""
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import hypergeom

from analysis.illusion import concept_hits, hypothesis_table, hypothesis_test, illusion_scores
from analysis.numerics import holm


def _planted(seed: int = 0, n: int = 200, h: int = 20, k: int = 10):
    """Two datasets of noise. Unit 0's top sentences carry the same planted region (+3 on dims 2..9) in both;
    unit 1's top sentences carry +3 on dims 10..19 in dataset a and -3 on the same dims in dataset b."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2 * n, h))
    names = np.array(["a"] * n + ["b"] * n)
    for start in (0, n):
        rows0 = start + np.arange(k)
        rows1 = start + np.arange(k, 2 * k)
        x[rows0, 0] = 6.0
        x[rows0, 2:10] += 3.0
        x[rows1, 1] = 6.0
        x[rows1, 10:] += 3.0 if start == 0 else -3.0
    return x, names


def test_shared_region_is_more_robust_than_a_dataset_dependent_one():
    x, names = _planted()
    out = illusion_scores(x, names, k=10, n_random=30, seed=1)
    r0, r1 = out.loc[0, "robustness"], out.loc[1, "robustness"]
    assert r0 > r1
    assert r0 > 3 and out.loc[0, "consistency"] > 0.8      # same region: centroids nearly parallel
    assert r1 < 0 and out.loc[1, "consistency"] < 0        # opposite regions: worse than random


def _hand_consistency(x, names, u, k):
    x = x - x.mean(axis=0)  # centred, as the definition says
    centroids = []
    for name in sorted(set(names)):
        rows = [i for i in range(len(names)) if names[i] == name]
        order = sorted(range(len(rows)), key=lambda j: (-x[rows[j], u], j))[:k]   # ties to lower index
        centroids.append(np.mean([x[rows[j]] for j in order], axis=0))
    cosines = []
    for a, b in itertools.combinations(range(len(centroids)), 2):
        ca, cb = np.delete(centroids[a], u), np.delete(centroids[b], u)  # coordinate u left out
        cosines.append(float(ca @ cb / math.sqrt(float(ca @ ca) * float(cb @ cb))))
    return sum(cosines) / len(cosines)


def test_consistency_matches_a_hand_computation_with_ties():
    rng = np.random.default_rng(3)
    # Rounded values make many ties, so the lower-index tie rule matters; datasets are interleaved.
    x = np.round(rng.standard_normal((90, 6)) * 1.5)
    names = rng.choice(["movies", "nyt", "wiki"], size=90)
    out = illusion_scores(x, names, k=5, n_random=5)
    for u in range(6):
        assert out.loc[u, "consistency"] == pytest.approx(_hand_consistency(x, names, u, 5), abs=1e-12)


def test_float32_contiguous_datasets_match_the_hand_computation():
    # the warehouse's layout: float32 vectors, each dataset's rows in one block (read as views, not copies);
    # the top sets are found on the uncentred values, the hand computation centres first
    rng = np.random.default_rng(5)
    x = (np.round(rng.standard_normal((120, 5)) * 2) + 40).astype(np.float32)
    names = np.repeat(["amazon", "movies", "tweets"], 40)
    out = illusion_scores(x, names, k=6, n_random=5)
    for u in range(5):
        assert out.loc[u, "consistency"] == pytest.approx(
            _hand_consistency(x.astype(np.float64), names, u, 6), abs=1e-9)
    assert np.allclose(out.to_numpy(), illusion_scores(x.astype(np.float64), names, k=6, n_random=5).to_numpy(),
                       atol=1e-9, equal_nan=True)


def test_k_larger_than_a_dataset_uses_the_whole_dataset():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((23, 3))
    names = np.array(["a"] * 3 + ["b"] * 20)
    out = illusion_scores(x, names, k=5, n_random=4)
    assert out.loc[2, "consistency"] == pytest.approx(_hand_consistency(x, names, 2, 5), abs=1e-12)


def test_baseline_is_seeded():
    x, names = _planted(seed=5)
    a = illusion_scores(x, names, seed=7)
    b = illusion_scores(x, names, seed=7)
    c = illusion_scores(x, names, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert a.loc[0, "baseline_mean"] != c.loc[0, "baseline_mean"]
    # robustness is exactly the z-score of consistency against the baseline
    z = (a["consistency"] - a["baseline_mean"]) / a["baseline_std"]
    np.testing.assert_allclose(a["robustness"], z)


def test_random_baseline_is_near_zero_for_centred_noise():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((600, 50))
    names = np.repeat(["a", "b", "c"], 200)
    out = illusion_scores(x, names, k=10, n_random=50)
    # mean of 10 isotropic rows: cosines between datasets ~ N(0, 1/50)
    assert abs(out.loc[0, "baseline_mean"]) < 0.05
    assert 0.0 < out.loc[0, "baseline_std"] < 0.3


def test_pure_noise_scores_about_zero_and_an_offset_changes_nothing():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3000, 64))
    names = np.repeat(["a", "b", "c"], 1000)
    out = illusion_scores(x, names, k=10, n_random=40)
    assert abs(out["robustness"].mean()) < 0.5
    shifted = illusion_scores(x + 25.0, names, k=10, n_random=40)  # a shared offset, as in anisotropic spaces
    np.testing.assert_allclose(shifted["robustness"], out["robustness"], atol=1e-6)


def test_shape_columns_and_errors():
    x, names = _planted(h=12)
    out = illusion_scores(x, names, k=4, n_random=3)
    assert list(out.columns) == ["unit", "consistency", "baseline_mean", "baseline_std", "robustness"]
    assert out["unit"].tolist() == list(range(12))
    with pytest.raises(ValueError, match="at least 2 datasets"):
        illusion_scores(x, np.array(["a"] * len(x)))
    with pytest.raises(ValueError):
        illusion_scores(x, names[:-1])
    with pytest.raises(ValueError):
        illusion_scores(x, names, n_random=1)


def test_concept_hits_whole_word_and_case():
    texts = ["The cat.", "a category error", "CATS and dogs", "cat-like", "Dog!"]
    assert concept_hits(texts, keywords=["cat"]).tolist() == [True, False, False, True, False]
    assert concept_hits(texts, keywords=["cat", "dog"]).tolist() == [True, False, False, True, True]
    assert concept_hits(["I code in C++ daily", "c+"], keywords=["c++"]).tolist() == [True, False]
    assert concept_hits([], keywords=["cat"]).dtype == bool


def test_concept_hits_regex_and_errors():
    texts = ["The cat.", "a category error", "CATS and dogs"]
    assert concept_hits(texts, regex=r"cat\w*").tolist() == [True, True, True]
    assert concept_hits(texts, regex=r"^the").tolist() == [True, False, False]
    with pytest.raises(ValueError, match="empty"):
        concept_hits(texts, keywords=[])
    with pytest.raises(ValueError, match="empty"):
        concept_hits(texts, keywords=["", "  "])
    with pytest.raises(ValueError, match="exactly one"):
        concept_hits(texts)
    with pytest.raises(ValueError, match="exactly one"):
        concept_hits(texts, keywords=["cat"], regex="cat")
    with pytest.raises(ValueError, match="invalid regex") as err:
        concept_hits(texts, regex="(cat")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("hits_top,k,hits_all,n_all", [(3, 10, 40, 500), (0, 5, 7, 30), (5, 5, 5, 20),
                                                        (2, 10, 300, 1000)])
def test_hypothesis_test_is_the_hypergeometric_upper_tail(hits_top, k, hits_all, n_all):
    res = hypothesis_test(hits_top, k, hits_all, n_all)
    tail = sum(hypergeom.pmf(j, n_all, hits_all, k) for j in range(hits_top, k + 1))
    assert res["p_value"] == pytest.approx(tail, rel=1e-9, abs=1e-15)
    assert res["base_rate"] == hits_all / n_all
    assert res["top_rate"] == hits_top / k
    assert res["expected"] == pytest.approx(k * hits_all / n_all)


def test_hypothesis_test_against_brute_force_enumeration():
    n_all, hits_all, k = 9, 4, 4                  # sentences 0..3 match
    subsets = list(itertools.combinations(range(n_all), k))
    assert len(subsets) == math.comb(n_all, k)
    for hits_top in range(k + 1):
        count = sum(sum(i < hits_all for i in s) >= hits_top for s in subsets)
        assert hypothesis_test(hits_top, k, hits_all, n_all)["p_value"] == pytest.approx(count / len(subsets))
    with pytest.raises(ValueError):
        hypothesis_test(5, 4, 4, 9)


def test_holm_against_hand_computation():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> raised to 0.06 by monotonicity
    np.testing.assert_allclose(holm(np.array([0.01, 0.04, 0.03, 0.005])), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm(np.array([0.5, 0.9])), [1.0, 1.0])   # 0.9 raised to 2*0.5
    np.testing.assert_allclose(holm(np.array([0.3, 0.02])), [0.3, 0.04])


def test_hypothesis_table_and_verdict():
    per = {"wiki": (1, 10, 1000, 10000), "nyt": (6, 10, 50, 5000), "movies": (10, 10, 100, 10000),
           "books": (0, 10, 0, 100), "qqp": (2, 10, 20, 1000), "news": (3, 10, 300, 1000)}
    table, verdict = hypothesis_table(per)
    assert table["dataset"].tolist() == sorted(per)
    p = np.array([hypergeom.sf(per[d][0] - 1, per[d][3], per[d][2], per[d][1]) for d in sorted(per)])
    np.testing.assert_allclose(table["p_value"], p, rtol=1e-9)
    order = np.argsort(p)
    expected = np.empty(6)
    running = 0.0
    for rank, i in enumerate(order):                      # Holm by hand: step-down with multipliers 6..1
        running = max(running, min(1.0, (6 - rank) * p[i]))
        expected[i] = running
    np.testing.assert_allclose(table["p_adjusted"], expected, rtol=1e-9)
    assert table.loc[table["holds"], "dataset"].tolist() == ["movies", "nyt"]
    assert verdict == "holds on 2 of 6 datasets (Holm-adjusted p < 0.05): movies, nyt"
    _, none = hypothesis_table({"wiki": (1, 10, 1000, 10000)}, alpha=0.01)
    assert none == "holds on 0 of 1 datasets (Holm-adjusted p < 0.01)"


def test_parse_labelled_and_errors():
    from analysis.illusion import parse_labelled

    assert parse_labelled("+ a cat\n\n- a dog\n+b") == (["a cat", "b"], ["a dog"])
    with pytest.raises(ValueError, match="line 2: start it with"):
        parse_labelled("+ ok\nno prefix")


def test_centroid_hits_by_hand():
    from analysis.illusion import centroid_hits

    x = np.array([[2.0, 0.0], [1.5, 0.2], [0.0, 2.0], [0.1, 1.0], [1.0, 0.9], [0.8, 1.2]])
    hits = centroid_hits(x, [0, 1], [2, 3])
    xc = x - x.mean(axis=0)
    cp, cn = xc[[0, 1]].mean(0), xc[[2, 3]].mean(0)
    cos = lambda a, b: a @ b / (np.linalg.norm(a) * np.linalg.norm(b))  # noqa: E731
    assert hits.tolist() == [cos(r, cp) > cos(r, cn) for r in xc]
    assert hits[0] and hits[1] and not hits[2] and not hits[3]
    with pytest.raises(ValueError, match="at least one"):
        centroid_hits(x, [0], [])
