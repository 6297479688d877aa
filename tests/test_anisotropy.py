"""Anisotropy metrics (analysis/anisotropy.py) against hand computations, scipy and sklearn."""
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist
from sklearn.decomposition import PCA

from analysis.anisotropy import (depth_groups, depth_trend, intra_sentence_similarity, mev, random_baseline,
                                 random_mev, self_similarity, trend_sentence, unit_word_weights, word_spans,
                                 word_vectors)


def test_word_spans_letters_lowercased_with_inner_apostrophes():
    text = "Don't stop: CAFÉ-bar, 42 cats' n't x2!"
    got = word_spans(text)
    assert [w for _, _, w in got] == ["don't", "stop", "café", "bar", "cats", "n't", "x"]
    assert all(text[a:b].lower() == w for a, b, w in got)


def test_unit_rule_mean_of_units_inside_the_span_by_hand():
    # text "ab cdef!": units "ab" [0,2), "cd" [3,5), "##ef" [5,7), "!" [7,8), and an [UNK] over [3,8)
    offsets = np.array([[0, 2], [3, 5], [5, 7], [7, 8], [3, 8]])
    states = np.arange(2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3)  # [L=2, T=5, H=3]
    spans = np.array([[0, 2], [3, 7], [9, 12]])  # "ab", "cdef", a word past the cut (no unit)
    vecs, n_units = word_vectors(offsets, states, spans)
    assert n_units.tolist() == [1, 2, 0]
    assert vecs.shape == (2, 3, 3)
    np.testing.assert_allclose(vecs[:, 0], states[:, 0])
    np.testing.assert_allclose(vecs[:, 1], (states[:, 1] + states[:, 2]) / 2)  # not the [UNK] that crosses the edge
    np.testing.assert_allclose(vecs[:, 2], 0)
    w = unit_word_weights(offsets, spans)
    np.testing.assert_allclose(w.sum(1), [1, 1, 0])
    # an empty unit (start == end) never counts
    assert word_vectors(np.array([[1, 1], [0, 2]]), states[:, :2], np.array([[0, 2]]))[1].tolist() == [1]


def test_self_similarity_identical_orthogonal_and_pairwise():
    v = np.array([0.3, -1.2, 2.0])
    assert self_similarity(np.tile(v, (5, 1))) == pytest.approx(1.0)
    assert self_similarity(np.eye(4) * np.array([[1.0], [3.0], [0.5], [2.0]])) == pytest.approx(0.0, abs=1e-12)
    assert self_similarity(np.array([[1.0, 0.0], [-2.0, 0.0]])) == pytest.approx(-1.0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 9, 16)) + 0.5
    got = self_similarity(x)
    assert got.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            assert got[i, j] == pytest.approx(np.mean(1 - pdist(x[i, j], "cosine")), abs=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        self_similarity(x[0, 0, :1])


def test_mev_equals_sklearn_pca_first_ratio():
    rng = np.random.default_rng(1)
    for n, h in [(20, 384), (5, 32), (50, 8)]:
        x = rng.normal(size=(n, h)) @ rng.normal(size=(h, h)) + rng.normal(size=h) * 3
        assert mev(x) == pytest.approx(PCA().fit(x).explained_variance_ratio_[0], abs=1e-10)
    batch = rng.normal(size=(2, 3, 7, 10))
    got = mev(batch)
    want = np.array([[PCA().fit(batch[i, j]).explained_variance_ratio_[0] for j in range(3)] for i in range(2)])
    np.testing.assert_allclose(got, want, atol=1e-10)
    # points on a line: all variance on one component, whatever the offset
    t = rng.normal(size=(6, 1))
    assert mev(np.array([5.0, -1.0, 2.0]) + t * np.array([1.0, 2.0, 3.0])) == pytest.approx(1.0)
    # no variance: undefined
    assert np.isnan(mev(np.tile([0.1, 0.2, 0.3], (4, 1))))


def test_intra_sentence_similarity_by_hand():
    # w1 = (1, 0), w2 = (0, 1): the mean (0.5, 0.5) is at 45 degrees from both
    assert intra_sentence_similarity(np.array([[1.0, 0.0], [0.0, 1.0]])) == pytest.approx(np.sqrt(0.5))
    # (2, 0), (0, 1), (0, 1): mean (2/3, 2/3) -> cosines 1/sqrt2, 1/sqrt2, 1/sqrt2 (lengths do not matter)
    assert intra_sentence_similarity(np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 1.0]])) == pytest.approx(np.sqrt(0.5))
    # (3, 4), (4, 3): mean (3.5, 3.5); cos = 7 / (5 * sqrt 2) each
    assert intra_sentence_similarity(np.array([[3.0, 4.0], [4.0, 3.0]])) == pytest.approx(7 / (5 * np.sqrt(2)))
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 6, 5))
    s = x.mean(1)
    want = [np.mean([xi @ si / np.linalg.norm(xi) / np.linalg.norm(si) for xi in xs]) for xs, si in zip(x, s)]
    np.testing.assert_allclose(intra_sentence_similarity(x), want, atol=1e-12)


def test_baseline_by_hand_on_three_vectors():
    x = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    pairs = [np.sqrt(0.5), 0.0, np.sqrt(0.5)]  # (1,2), (1,3), (2,3)
    assert random_baseline(x) == pytest.approx(np.mean(pairs))
    layers = np.stack([x, -x, x * 2])
    np.testing.assert_allclose(random_baseline(layers), [np.mean(pairs)] * 3)


def test_random_mev_is_the_mean_over_subsets():
    rng = np.random.default_rng(3)
    pool = rng.normal(size=(7, 12))
    every = np.mean([PCA().fit(pool[list(c)]).explained_variance_ratio_[0] for c in combinations(range(7), 3)])
    got = random_mev(pool, 3, n_sets=4000, seed=0)
    assert got == pytest.approx(every, abs=0.005)
    assert random_mev(pool, 3, n_sets=50, seed=1) == random_mev(pool, 3, n_sets=50, seed=1)
    # layers share the subsets: a pool whose second layer is the first scaled gives the same MEV
    both = np.stack([pool, pool * 4])
    out = random_mev(both, 4, n_sets=30, seed=2)
    assert out.shape == (2,) and out[0] == pytest.approx(out[1])
    with pytest.raises(ValueError, match="size must be between 2 and 7"):
        random_mev(pool, 8, n_sets=3, seed=0)


def test_depth_groups_split_lstm_streams():
    assert depth_groups(["hook_embed", "blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]) == {
        "all layers": [0, 1, 2]}
    assert depth_groups(["lstm1.hidden", "lstm1.cell", "lstm2.hidden", "lstm2.cell"]) == {
        "hidden": [0, 2], "cell": [1, 3]}


def test_depth_trend_and_sentence():
    t = depth_trend([0.9, 0.7, 0.72, 0.4])
    assert t["falls"] and t["rho"] == pytest.approx(-0.8) and t["change"] == pytest.approx(-0.5)
    assert not depth_trend([0.4, 0.5, 0.6])["falls"]
    assert not depth_trend([0.5, 0.2, 0.9, 0.9, 0.45])["falls"]  # last < first but no monotone trend (rho > 0)
    two = depth_trend([0.8, 0.6])
    assert two["falls"] and np.isnan(two["rho"])
    layers = pd.DataFrame({"layer": [0, 1, 2], "name": ["e", "b0", "b1"], "v": [0.9, 0.8, 0.95]})
    text = trend_sentence("Self-similarity", layers, "v")
    assert "does **not** fall with depth, it rises: from 0.900 at layer 0 (e) to 0.950 at layer 2 (b1)" in text
    assert "ρ of depth vs value = +0.50 over 3 layers" in text


def test_decimals_show_a_difference():
    from analysis.anisotropy import decimals

    assert decimals(0.7051, 0.7049) == 5 and decimals(0.5, 0.3) == 3 and decimals(0.2, 0.2) == 3
    assert f"{0.70512:.{decimals(0.70512, 0.70498)}f}" != f"{0.70498:.{decimals(0.70512, 0.70498)}f}"


def test_relative_depth_of_both_kinds_of_run():
    from analysis.anisotropy import relative_depth

    t = relative_depth(["hook_embed", "blocks.0.hook_resid_post", "blocks.1.hook_resid_post"])
    assert t["depth"].tolist() == [0.0, 0.5, 1.0] and set(t["stream"]) == {""}
    lstm = relative_depth(["lstm1.hidden", "lstm1.cell", "lstm2.hidden", "lstm2.cell"])
    assert lstm.to_dict("list") == {"layer": [0, 1, 2, 3], "stream": ["hidden", "cell", "hidden", "cell"],
                                    "depth": [0.5, 0.5, 1.0, 1.0]}


def test_mark_word_bolds_the_span_and_escapes_markdown():
    from analysis.anisotropy import mark_word

    assert mark_word("A *cold* beverage_x [1]. Fine", 9, 17) == r"A \*cold\* **beverage**\_x \[1\]. Fine"
    assert mark_word("2. the end", 3, 6) == r"2\. **the** end"  # not a numbered list
    assert mark_word("- a b", 2, 3) == r"\- **a** b"


def test_study_findings_judge_the_numbers():
    from analysis.anisotropy import study_findings

    layers = pd.DataFrame({"layer": [0, 1, 2], "layer_name": ["hook_embed", "b0", "b1"],
                           "self_sim": [0.9, 0.7, 0.5], "self_sim_adj": [0.5, 0.45, 0.46],
                           "intra_sim": [0.6, 0.7, 0.8], "intra_sim_adj": [0.2, 0.3, 0.4],
                           "baseline": [0.4, 0.25, 0.05]})
    static = pd.DataFrame({"word": ["beverage", "tea"], "min_mev": [0.93, 0.5], "min_mev_adj": [0.6, 0.2]})
    f = study_findings(layers, static).set_index("finding")["holds"].tolist()
    assert f == [True, False, False, True]  # baseline 0.05 at the last layer is not "high"
    text = study_findings(layers, static)["measured"].tolist()
    assert text[0] == "0.900 → 0.500, ρ -1.00 (adjusted 0.500 → 0.460, ρ -0.50, falls)"
    assert "'beverage': MEV ≥ 0.930 at every layer (adjusted ≥ 0.600); 1 of the listed words" in text[3]
    lstm = layers.assign(layer=[0, 1, 2], layer_name=["lstm1.hidden", "lstm1.cell", "lstm2.hidden"])
    # per stream: hidden 0.9 -> 0.5 falls; cell has one layer (no trend), so the finding does not hold overall
    out = study_findings(lstm, static.iloc[:0])
    assert out["measured"].iloc[0].startswith("hidden: 0.900 → 0.500") and not out["holds"].iloc[0]
    assert out["measured"].iloc[3] == "no word has an MEV at every layer"


def test_compare_runs_text_judges_streams_and_baselines():
    from analysis.anisotropy import compare_runs_text

    both = pd.DataFrame({
        "run_id": ["bert"] * 3 + ["lstm"] * 4,
        "stream": ["", "", "", "hidden", "cell", "hidden", "cell"],
        "depth": [0.0, 0.5, 1.0, 0.5, 0.5, 1.0, 1.0],
        "baseline": [0.1, 0.2, 0.3, 0.3, 0.7, 0.2, 0.5],
        "self_sim": [0.9, 0.8, 0.7, 0.8, 0.75, 0.5, 0.6],
        "self_sim_adj": [0.8, 0.6, 0.4, 0.5, 0.05, 0.3, 0.1],
    })
    adj = compare_runs_text(both, "self_sim_adj")
    # streams differ by (0.45 + 0.2) / 2 = 0.325 at the same depth; bert changes by 0.4 over its depth
    assert "differ by 0.325 on average, less than the other run changes over its whole depth (0.400)" in adj
    assert adj.startswith("One chart, with care (the runs compare on this metric)")
    raw = compare_runs_text(both, "self_sim")
    # baselines: bert 0.2, lstm cell 0.6, lstm hidden 0.25 -> 0.40 apart, more than any line's change (0.3)
    assert "raw levels not comparable across runs: use self_sim_adj" in raw
    assert "the baselines are 0.40 apart, more than any line's change over depth (0.300)" in raw
    flat = both.assign(self_sim_adj=[0.5, 0.49, 0.48, 0.5, 0.05, 0.3, 0.1])
    assert "not meaningful as one curve per run" in compare_runs_text(flat, "self_sim_adj")


def test_context_overlap_by_hand():
    from analysis.anisotropy import context_overlap

    ctx = pd.DataFrame({"word": ["tea"] * 3 + ["cup"] * 2,
                        "text": ["A tea here", "A tea there", "hot tea", "a cup", "the cup"],
                        "char_start": [2, 2, 4, 2, 4]})
    out = context_overlap(ctx).set_index("word")
    # tea: {a,tea,here} {a,tea,there} {hot,tea}: Jaccard 2/4, 1/4, 1/4; left contexts "A ", "A ", "hot "
    assert out.loc["tea", "overlap"] == pytest.approx((0.5 + 0.25 + 0.25) / 3)
    assert out.loc["tea", "same_left"] == pytest.approx(1 / 3)
    # cup: {a,cup} {the,cup}: 1/3; "a " vs "the ": different
    assert out.loc["cup", "overlap"] == pytest.approx(1 / 3) and out.loc["cup", "same_left"] == 0
    assert out.loc["tea", "n"] == 3


def test_trend_sentence_says_where_a_curve_turns_and_findings_cite_overlap():
    from analysis.anisotropy import study_findings

    layers = pd.DataFrame({"layer": [0, 1, 2, 3], "name": ["a", "b", "c", "d"], "v": [0.9, 0.6, 0.7, 0.8]})
    assert trend_sentence("X", layers, "v").endswith("over 4 layers; lowest at layer 1 (0.600).")
    pooled = pd.DataFrame({"layer": [0, 1], "layer_name": ["e", "b0"], "self_sim": [0.9, 0.8],
                           "self_sim_adj": [0.5, 0.4], "intra_sim": [0.5, 0.4], "intra_sim_adj": [0.1, 0.0],
                           "baseline": [0.4, 0.4]})
    static = pd.DataFrame({"word": ["push"], "min_mev": [0.95], "min_mev_adj": [0.4]})
    overlap = pd.DataFrame({"word": ["push"], "n": [5], "overlap": [0.61], "same_left": [0.3]})
    text = study_findings(pooled, static, overlap)["measured"].iloc[3]
    assert text.endswith("its 5 contexts overlap by 0.61 (Jaccard of their words) and 30% of their pairs share the "
                         "text before it")
