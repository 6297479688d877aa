"""Span-match analysis (analysis/spans.py) on hand-made state matrices, against hand-computed answers and
independent implementations (a plain-Python loop, scipy, sklearn)."""
import numpy as np
import pandas as pd
import pytest

from analysis.spans import (INT8_SCALE, StateBlock, char_span_units, coactivation, contrast, decode_states,
                            encode_states, find_matches, find_occurrences, match_context, matched_words, on_runs,
                            parse_phrases, phrase_vector, stack_rows, units_on, word_spans)
from analysis.numerics import pca_2d

# One sentence of 8 steps x 4 units. Unit 0: on over steps 2..4 only; unit 1: on everywhere;
# unit 2: on over 2..5; unit 3: never on (0.29 is just below 0.3).
S = np.array([
    # u0    u1    u2    u3
    [0.00, 0.90, 0.10, 0.29],  # 0
    [0.10, 0.80, 0.20, 0.29],  # 1
    [0.50, 0.70, 0.40, 0.29],  # 2
    [0.60, 0.60, 0.50, 0.00],  # 3
    [0.30, 0.50, 0.60, -1.0],  # 4
    [0.20, 0.40, 0.70, 0.00],  # 5
    [-0.5, 0.30, 0.00, 0.00],  # 6
    [0.00, 0.31, 0.00, 0.00],  # 7
], dtype=np.float32)


def test_units_on_over_a_span_and_the_strict_lstmvis_rule():
    assert units_on(S, 2, 5).tolist() == [0, 1, 2]  # 0.30 counts as on (>=)
    assert units_on(S, 2, 6).tolist() == [1, 2]  # unit 0 drops to 0.2 at step 5
    # strict: also off at step 1 and at step 5; unit 1 is on at both, unit 2 is on at 5
    assert units_on(S, 2, 5, strict=True).tolist() == [0]
    assert units_on(S, 2, 6, strict=True).tolist() == [2]
    # at the sentence edges there is no step before/after, so only the existing side is checked
    assert units_on(S, 0, 8).tolist() == [1]
    assert units_on(S, 0, 8, strict=True).tolist() == [1]
    assert units_on(S, 0, 3, strict=True).tolist() == []  # unit 1 is still on at step 3
    assert units_on(S, 2, 5, threshold=0.45).tolist() == [1]
    with pytest.raises(ValueError, match="span"):
        units_on(S, 5, 5)


def naive_matches(states_per_sentence, units, threshold, min_on, query_len):
    """Plain-Python reference: walk every step, open a run when >= min_on of the units are on, close it at the
    first step that is not (or at the sentence end)."""
    out = []
    for s, st in enumerate(states_per_sentence):
        t, start = 0, None
        while t <= len(st):
            on = t < len(st) and sum(st[t][u] >= threshold for u in units) >= min_on
            if on and start is None:
                start = t
            if not on and start is not None:
                rows = st[start:t]
                n_on = sum(all(r[u] >= threshold for r in rows) for u in units)
                mean_on = sum(sum(r[u] >= threshold for u in units) for r in rows) / (t - start)
                out.append((s, start, t, t - start, n_on, mean_on, abs(t - start - query_len)))
                start = None
            t += 1
    out.sort(key=lambda m: (-m[4], m[6], -m[5], m[0], m[1]))
    return out


def test_find_matches_by_hand():
    # two sentences: S, then a 4-step sentence where units 0 and 2 are on at steps 1..2 (and unit 1 at 0..3)
    s2 = np.array([[0.0, 0.5, 0.0, 0], [0.9, 0.5, 0.9, 0], [0.9, 0.5, 0.9, 0], [0.0, 0.5, 0.0, 0]], np.float32)
    x = np.vstack([S, s2])
    offsets = np.array([0, 8, 12])
    cols = x[:, [0, 2]]
    got = find_matches(cols, offsets, query_len=3, threshold=0.3)
    # all of units 0 and 2 on: sentence 0 steps 2..4 (length 3), sentence 1 steps 1..2 (length 2)
    assert got[["sentence", "start", "end", "length", "n_on", "len_diff"]].values.tolist() == [
        [0, 2, 5, 3, 2, 0], [1, 1, 3, 2, 2, 1]]
    # at least one of the two: sentence 0 steps 2..5 (unit 2 alone at 5), sentence 1 steps 1..2
    got1 = find_matches(cols, offsets, query_len=3, threshold=0.3, min_on=1)
    assert got1[["sentence", "start", "end", "n_on"]].values.tolist() == [[1, 1, 3, 2], [0, 2, 6, 1]]
    assert got1["mean_on"].tolist() == pytest.approx([2.0, 7 / 4])
    # unit 1 is on all through both sentences: a run never crosses the sentence boundary
    whole = find_matches(x[:, [1]], offsets, query_len=8)
    assert whole[["sentence", "start", "end"]].values.tolist() == [[0, 0, 8], [1, 0, 4]]
    assert find_matches(x[:, [3]], offsets, query_len=2).empty
    with pytest.raises(ValueError, match="min_on"):
        find_matches(cols, offsets, query_len=3, min_on=3)


def test_find_matches_agrees_with_a_plain_loop_on_random_states():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=60)
    lengths[5] = 0  # an empty sentence must not break the boundaries
    x = np.tanh(rng.normal(0, 0.6, (int(lengths.sum()), 12))).astype(np.float32)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    units = [1, 4, 7, 9]
    per_sentence = [x[offsets[i]:offsets[i + 1]].tolist() for i in range(len(lengths))]
    for min_on in (1, 2, 4):
        got = find_matches(x[:, units], offsets, query_len=5, threshold=0.3, min_on=min_on)
        want = naive_matches(per_sentence, units, 0.3, min_on, 5)
        assert len(got) == len(want) > 0
        assert [tuple(r) for r in got[["sentence", "start", "end", "length", "n_on", "len_diff"]].itertuples(
            index=False)] == [(s, a, b, n, k, d) for s, a, b, n, k, _, d in want]
        assert got["mean_on"].to_numpy() == pytest.approx([m[5] for m in want])


def test_on_runs_split_at_sentence_starts():
    step_on = np.array([1, 1, 1, 0, 1, 1], bool)
    starts, ends = on_runs(step_on, np.array([0, 2, 6]))
    assert list(zip(starts, ends)) == [(0, 2), (2, 3), (4, 6)]


def test_coactivation_is_the_jaccard_of_on_sets():
    from sklearn.metrics import jaccard_score

    rng = np.random.default_rng(1)
    cols = rng.uniform(-1, 1, (500, 5)).astype(np.float32)
    cols[:, 4] = -1  # never on
    jac, n_on = coactivation(cols, 0.3)
    on = cols >= 0.3
    assert n_on.tolist() == on.sum(0).tolist()
    for i in range(4):
        for j in range(4):
            assert jac[i, j] == pytest.approx(jaccard_score(on[:, i], on[:, j]))
    assert np.isnan(jac[4, 4]) and jac[0, 4] == 0.0
    # by hand on S: units 0 (steps 2,3,4) and 2 (steps 2..5) share 3 of 4 steps
    jac_s, _ = coactivation(S[:, [0, 2]], 0.3)
    assert jac_s[0, 1] == pytest.approx(3 / 4)


def test_contrast_matches_scipy_and_numpy():
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(2)
    a = rng.normal(0, 1, (9, 6))
    b = rng.normal(0, 1, (7, 6))
    a[:, 3] += 3.0  # unit 3 separates the sets
    b[:, 5] = a[0, 5] = 0.25  # unit 5 almost constant: ties
    got = contrast(a, b).set_index("unit").sort_index()
    for u in range(6):
        ref = mannwhitneyu(a[:, u], b[:, u], alternative="two-sided")
        assert got.loc[u, "u_statistic"] == pytest.approx(ref.statistic)
        assert got.loc[u, "p_value"] == pytest.approx(ref.pvalue)
    assert got["mean_a"].to_numpy() == pytest.approx(a.mean(0))
    assert got["diff"].to_numpy() == pytest.approx(a.mean(0) - b.mean(0))
    ranked = contrast(a, b)
    assert ranked["unit"].iloc[0] == 3 and ranked["p_value"].is_monotonic_increasing
    # Holm: the smallest p times the number of tests
    assert ranked["p_holm"].iloc[0] == pytest.approx(min(1.0, 6 * ranked["p_value"].iloc[0]))
    # a unit constant over both sets separates nothing
    c = contrast(np.ones((3, 2)), np.ones((4, 2)))
    assert c["p_value"].tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="same width"):
        contrast(a, b[:, :2])


def test_pca_2d_agrees_with_sklearn_up_to_sign():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (30, 8)) @ rng.normal(0, 1, (8, 8))
    coords, ratio = pca_2d(x)
    ref = PCA(n_components=2).fit(x)
    want = ref.transform(x)
    for c in range(2):
        sign = np.sign(coords[:, c] @ want[:, c])
        assert coords[:, c] == pytest.approx(sign * want[:, c], abs=1e-9)
    assert ratio == pytest.approx(ref.explained_variance_ratio_)
    two, r2 = pca_2d(x[:2])  # rank 1: the second component is 0
    assert np.allclose(two[:, 1], 0) and r2[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="two vectors"):
        pca_2d(x[:1])


def test_storage_round_trip_and_error_bounds():
    rng = np.random.default_rng(4)
    h = np.tanh(rng.normal(0, 2, (50, 16))).astype(np.float32)
    h[0, 0], h[0, 1] = 1.0, -1.0
    blob, dtype, scale, err = encode_states(h, "int8")
    assert dtype == "int8" and len(blob) == h.size and scale == INT8_SCALE
    back = decode_states(blob, 50, dtype, scale)
    assert back.shape == (50, 16)
    assert np.abs(back - h).max() == pytest.approx(err, abs=1e-7)
    assert err <= 0.5 / 127 + 1e-7  # half a code step
    assert back[0, 0] == 1.0 and back[0, 1] == -1.0
    c = (rng.normal(0, 30, (50, 16))).astype(np.float32)
    blob, dtype, scale, err = encode_states(c, "float16")
    back = decode_states(blob, 50, dtype, scale)
    assert dtype == "float16" and len(blob) == 2 * c.size
    assert np.all(np.abs(back - c) <= np.abs(c) * 2.0 ** -11 + 1e-7)  # float16 rounding: half an ulp
    assert np.abs(back - c).max() == pytest.approx(err)
    big = c.copy()
    big[3, 3] = 1e6  # beyond float16: stored as float32, and says so
    blob, dtype, scale, err = encode_states(big, "float16")
    assert dtype == "float32" and err == 0 and np.array_equal(decode_states(blob, 50, dtype, scale), big)
    clipped = encode_states(np.array([[2.0, 0.0]], np.float32), "int8")
    assert clipped[3] == pytest.approx(1.0)  # 2.0 stored as 1.0: the error is reported, not hidden


def test_stack_rows_joins_uniform_rows_without_decoding_and_decodes_mixed_ones():
    a = np.tanh(np.arange(12, dtype=np.float32).reshape(3, 4) / 10)
    b = -a[:2]
    ea, eb = encode_states(a, "int8"), encode_states(b, "int8")
    keys = pd.DataFrame({"dataset": ["d", "d"], "sentence_id": [0, 1]})
    block = stack_rows([ea[0], eb[0]], [3, 2], ["int8", "int8"], [ea[2], eb[2]], keys, hidden=4)
    assert block.xt.dtype == np.int8 and block.xt.flags["C_CONTIGUOUS"]  # unit-major, still int8
    assert block.n_steps == 5 and block.offsets.tolist() == [0, 3, 5]
    assert np.allclose(block.sentence(1), b, atol=ea[3] + 1e-6)
    assert np.allclose(block.columns([2, 0])[:3], a[:, [2, 0]], atol=0.5 / 127 + 1e-6)
    ef = encode_states(b, "float32")
    mixed = stack_rows([ea[0], ef[0]], [3, 2], ["int8", "float32"], [ea[2], 1.0], keys, hidden=4)
    assert mixed.xt.dtype == np.float32 and np.array_equal(mixed.sentence(1), b)
    with pytest.raises(ValueError, match="steps"):
        stack_rows([ea[0]], [4], ["int8"], [ea[2]], keys.iloc[:1], hidden=4)
    assert isinstance(block, StateBlock)


def test_slab_transpose_equals_numpy_transpose():
    from analysis.spans import _transposed

    x = np.random.default_rng(3).integers(-128, 128, size=(2503, 7), dtype=np.int8)
    for rows in (1, 3, 1024, 5000):
        t = _transposed(x, rows)
        assert t.flags["C_CONTIGUOUS"] and t.dtype == np.int8 and np.array_equal(t, x.T)
    assert _transposed(np.zeros((0, 4), np.float32)).shape == (4, 0)


def test_text_helpers():
    text = "He'll weather the storm (again), said Bo."
    words = word_spans(text)
    assert [w for *_, w in words] == ["He'll", "weather", "the", "storm", "(", "again", ")", ",", "said", "Bo", "."]
    assert words[1][:2] == (6, 13)
    # char LSTM: one unit per character
    starts, ends = np.arange(len(text)), np.arange(1, len(text) + 1)
    assert char_span_units(starts, ends, 6, 23) == (6, 23)
    # WordPieces: "weather" + "the" + "storm" as 3 units; a character range inside a unit selects it
    ws, we = np.array([0, 6, 14, 18]), np.array([5, 13, 17, 23])
    assert char_span_units(ws, we, 8, 15) == (1, 3)
    assert char_span_units(ws, we, 5, 6) is None  # only the space
    assert match_context(text, 6, 23, width=6) == ("He'll ", "weather the storm", " (agai…")
    assert match_context(text, 6, 23, width=5)[0] == "…e'll "
    occ = find_occurrences(["Weather  the STORM!", "the weathered storm", "weather the storm"], "weather the storm")
    assert occ == [(0, 0, 18), (2, 0, 17)]  # case and spacing ignored; "weathered" is another word
    assert find_occurrences(["a"], "   ") == []
    assert parse_phrases(" weather the storm \n\nWeather the storm\nthe weather\n") == ["weather the storm",
                                                                                      "the weather"]
    hist = matched_words([(text, 6, 16), ("weather report", 0, 7), ("weather report", 8, 9)])
    assert hist.values.tolist() == [["weather", 2], ["report", 1], ["the", 1]]
    st = np.arange(12, dtype=float).reshape(4, 3)
    assert phrase_vector(st, 1, 3).tolist() == [4.5, 5.5, 6.5]
    assert phrase_vector(st, 1, 3, "last").tolist() == [6.0, 7.0, 8.0]


def test_markdown_of_a_match_keeps_edge_spaces_outside_the_markup():
    from ui.spans import highlight, md

    assert highlight("* le", "ns visible ", "in") == "\\* le:orange-background[**ns visible**] in"
    assert md("*a_b* [c](d) $x$") == "\\*a\\_b\\* \\[c\\]\\(d\\) \\$x\\$"
    assert highlight("", "  ", "") == "  "
