"""The span-match page's numbers (analysis/spans_view.py) against plain-Python loops and sklearn, on a hand-made
block of two sentences (character steps)."""
import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from analysis import spans_view as sv
from analysis.spans import StateBlock, find_matches

TEXTS = ["the cat sat", "a cat ran off"]


def _block(seed=0, hidden=5) -> StateBlock:
    rng = np.random.default_rng(seed)
    starts = [list(range(len(t))) for t in TEXTS]
    ends = [[i + 1 for i in s] for s in starts]
    n = [len(t) for t in TEXTS]
    x = rng.uniform(-1, 1, size=(sum(n), hidden)).astype(np.float32)
    keys = pd.DataFrame({"dataset": ["d1", "d2"], "sentence_id": [4, 9], "text": TEXTS, "starts": starts,
                         "ends": ends, "truncated": [False, False]})
    return StateBlock(xt=np.ascontiguousarray(x.T), scale=1.0, offsets=np.r_[0, np.cumsum(n)], keys=keys)


def test_url_parsers():
    row_of = {("d1", 4): 0, ("d2", 9): 1}
    assert sv.parse_sentence("d2:9", row_of) == 1
    assert sv.parse_sentence("d1:5", row_of) is None and sv.parse_sentence("d1:x", row_of) is None
    assert sv.parse_sentence("a:b:4", {("a:b", 4): 7}) == 7  # a dataset name may hold a colon
    assert sv.parse_span("1-2", 3) == (1, 2)
    assert sv.parse_span("2-1", 3) == (0, 0) and sv.parse_span("1-3", 3) == (0, 0) and sv.parse_span("", 3) == (0, 0)
    assert sv.url_units("3,x,1,9", 5) == [3, 1]
    assert sv.unit_array([3, 1]).tolist() == [1, 3]


def test_heatmap_frames_by_hand():
    block = _block()
    text, starts, ends = sv.sentence(block.keys, 0)
    states = block.sentence(0)
    sel = np.array([1, 3])
    h = sv.heatmap(text, starts, ends, states, sel, 0.2, 4, 7)
    cells = h["cells"]
    assert len(cells) == len(text) * 2
    for r in cells.itertuples():
        assert r.value == states[r.step, r.unit] and r.on == (states[r.step, r.unit] >= 0.2)
        assert r.text == text[r.step]
    assert h["count"]["n_on"].tolist() == [sum(states[t, u] >= 0.2 for u in sel) for t in range(len(text))]
    assert h["letters"]["in_span"].tolist() == [4 <= t < 7 for t in range(len(text))]
    assert h["letters"]["text"].tolist()[3] == "␣"
    assert h["lim"] == pytest.approx(max(abs(states[:, sel]).max(), 0.2))
    assert h["width"] == 300 and h["cells_height"] == 16 * 2 + 10


def test_heatmap_draws_the_first_rows_only():
    block = _block(hidden=70)
    text, starts, ends = sv.sentence(block.keys, 1)
    sel = np.arange(70)
    h = sv.heatmap(text, starts, ends, block.sentence(1), sel, 0.0, 0, 1)
    assert sorted(h["cells"]["unit"].unique()) == list(range(sv.HEATMAP_ROWS))
    assert h["count"]["n_on"].tolist() == (block.sentence(1) >= 0).sum(axis=1).tolist()  # all 70 units counted


def test_matches_labelled_with_their_text():
    block = _block()
    sel = np.array([0, 2])
    found = find_matches(block.columns(sel), block.offsets, 3, 0.0, 1)
    m = sv.label_matches(found, block.keys, 1, 2, 5)
    for r in m.itertuples():
        assert (r.dataset, r.sentence_id) == (["d1", "d2"][r.sentence], [4, 9][r.sentence])
        assert r.query == (r.sentence == 1 and r.start < 5 and r.end > 2)
    top = sv.match_contexts(m.head(3), block.keys)
    for r in top.itertuples():
        t = TEXTS[r.sentence]
        assert r.match == t[r.start:r.end]  # one character per step
        assert (r.left + r.match + r.right).replace("…", "") in t
    words, n = sv.match_words(m, block.keys)
    assert n == len(m)
    expected = {}
    for r in m.itertuples():
        t = TEXTS[r.sentence]
        seen = set()
        pos = 0
        for w in t.split():
            a = t.index(w, pos)
            pos = a + len(w)
            if a < r.end and pos > r.start:
                seen.add(w)
        for w in seen:
            expected[w] = expected.get(w, 0) + 1
    assert dict(zip(words["word"], words["matches"])) == expected


def test_coactivation_pairs_and_their_mean():
    sel = np.array([7, 2, 5])
    jac = np.array([[1.0, 0.5, np.nan], [0.5, 1.0, 0.25], [np.nan, 0.25, 1.0]])
    pairs, mean = sv.coactivation_pairs(sel, jac)
    assert len(pairs) == 9
    assert pairs.set_index(["unit_a", "unit_b"]).loc[(2, 5), "jaccard"] == 0.25
    assert mean == pytest.approx((0.5 + 0.25 + 0.5 + 0.25) / 4)  # NaN pairs left out, the diagonal too


def test_occurrences_vectors_and_pca():
    block = _block()
    occ, missing = sv.occurrences(block.keys, block, {"A": ["cat", "dog"], "B": ["the", "ran off", "a"]}, "mean")
    assert missing == ["A: dog"]
    assert sv.count_sets(occ) == (2, 3)
    cat = occ[(occ["set"] == "A") & (occ["dataset"] == "d2")].iloc[0]
    assert np.allclose(cat["vec"], block.sentence(1)[2:5].mean(axis=0))  # "a cat": characters 2..4
    last, _ = sv.occurrences(block.keys, block, {"A": ["ran off"]}, "last")
    assert np.allclose(last["vec"].iloc[0], block.sentence(1)[12])
    va, vb = sv.set_vectors(occ)
    assert va.shape == (2, 5) and vb.shape == (3, 5)
    pts, ratio = sv.contrast_points(occ, va, vb)
    assert pts["set"].tolist() == ["A", "A", "B", "B", "B"] and "vec" not in pts
    ref = PCA(n_components=2).fit(np.vstack([va, vb]))
    coords = ref.transform(np.vstack([va, vb]))
    assert np.allclose(np.abs(pts[["pc1", "pc2"]].to_numpy()), np.abs(coords), atol=1e-6)
    assert np.allclose(ratio, ref.explained_variance_ratio_)
    assert sv.count_sets(pd.DataFrame()) == (0, 0)
