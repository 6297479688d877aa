"""analysis.drift against hand-computed answers and numpy."""
import numpy as np
import pandas as pd
import pytest

from analysis.drift import (extremes_from_scores, one_hot, overlap_share, parse_vector, random_baseline,
                            random_direction, range_overlap, score_histograms, histogram_frame,
                            random_draw, value_histogram, value_histograms)


def test_random_direction_is_a_reproducible_unit_vector():
    a, b = random_direction(42, 384), random_direction(42, 384)
    assert np.array_equal(a, b)
    assert np.isclose(np.linalg.norm(a), 1.0)
    assert not np.allclose(a, random_direction(43, 384))


def test_one_hot_projection_is_the_neuron():
    x = np.random.default_rng(0).standard_normal((5, 8))
    assert np.array_equal(x @ one_hot(3, 8), x[:, 3])
    with pytest.raises(ValueError, match="between 0 and 7"):
        one_hot(8, 8)


def test_parse_vector():
    assert parse_vector("[1, 2.5 -3\n4e-1]", 4).tolist() == [1.0, 2.5, -3.0, 0.4]
    with pytest.raises(ValueError, match="has 3 values; this layer has 4"):
        parse_vector("1 2 3", 4)
    with pytest.raises(ValueError, match="'x' is not a number"):
        parse_vector("1 2 x 4", 4)
    with pytest.raises(ValueError, match="not all zeros"):
        parse_vector("0 0 0 0", 4)


def test_range_overlap_by_hand():
    ov = range_overlap({"a": (0.0, 2.0), "b": (1.0, 4.0), "c": (5.0, 6.0)}).set_index(["a", "b"])
    # a and b: intersection [1, 2] = 1, union [0, 4] = 4
    assert ov.loc[("a", "b"), "iou"] == pytest.approx(0.25)
    assert ov.loc[("a", "b"), "overlaps"]
    assert ov.loc[("b", "a"), "iou"] == pytest.approx(0.25)
    assert not ov.loc[("a", "c"), "overlaps"] and ov.loc[("a", "c"), "iou"] == 0.0
    assert ov.loc[("c", "c"), "iou"] == 1.0
    # touching ranges overlap in one point
    assert range_overlap({"a": (0.0, 1.0), "b": (1.0, 2.0)}).set_index(["a", "b"]).loc[("a", "b"), "overlaps"]


def test_overlap_share_by_hand():
    # unit 0: a=[0,1], b=[0.5,2], c=[3,4] -> pairs ab overlap, ac no, bc no
    # unit 1: a=[0,1], b=[0,1], c=[0,1]  -> all three overlap
    rows = [(0, "a", 0, 1), (0, "b", 0.5, 2), (0, "c", 3, 4), (1, "a", 0, 1), (1, "b", 0, 1), (1, "c", 0, 1)]
    share, n = overlap_share(pd.DataFrame(rows, columns=["unit", "dataset", "lo", "hi"]))
    assert n == 6 and share == pytest.approx(4 / 6)


def test_histograms_integrate_to_one_per_dataset():
    rng = np.random.default_rng(0)
    scores = pd.DataFrame({"dataset": ["a"] * 100 + ["b"] * 30,
                           "value": np.concatenate([rng.normal(0, 1, 100), rng.normal(3, 1, 30)])})
    h = score_histograms(scores, bins=20)
    for _, g in h.groupby("dataset"):
        assert (g["density"] * (g["bin_end"] - g["bin_start"])).sum() == pytest.approx(1.0)
    assert h.groupby("dataset")["count"].sum().to_dict() == {"a": 100, "b": 30}
    # each dataset on its own 20 bins from its min to its max
    b = scores.loc[scores.dataset == "b", "value"]
    ref, edges = np.histogram(b, bins=np.linspace(b.min(), b.max(), 21))
    assert h.loc[h.dataset == "b", "count"].tolist() == ref.tolist()
    np.testing.assert_allclose(h.loc[h.dataset == "b", "bin_start"], edges[:-1])


def test_value_histogram_constant_and_histogram_frame_drops_it():
    lo, hi, counts = value_histogram(np.full(7, 2.5), bins=4)
    assert (lo, hi, counts.tolist()) == (2.5, 2.5, [7, 0, 0, 0])
    frame = histogram_frame(pd.DataFrame({"dataset": ["c", "v"], "lo": [2.5, 0.0], "hi": [2.5, 2.0],
                                          "counts": [[7, 0, 0, 0], [1, 1, 0, 2]]}))
    assert frame["dataset"].unique().tolist() == ["v"]
    # density = count / (n * width): 4 values, width 0.5
    assert frame["density"].tolist() == [0.5, 0.5, 0.0, 1.0]


def test_value_histograms_of_every_column_are_numpys_on_edges_ties_and_constants():
    rng = np.random.default_rng(3)
    n = 1000
    cols = [rng.standard_normal(n).astype(np.float32),               # float32, as the warehouse stores
            rng.integers(0, 41, n).astype(np.float32),              # every value on a bin edge (40 bins of 1)
            np.full(n, -1.25, dtype=np.float32),                    # constant: all in bin 0
            np.linspace(-3, 7, n).astype(np.float32),               # float32 roundings of evenly spaced values
            (rng.integers(0, 3, n) * 0.1).astype(np.float32),       # three values, ties at 0.1 (not exact)
            rng.exponential(1e-4, n).astype(np.float32)]            # tiny range
    for a, b in [(1.369616873214543, 4.068214224139482), (-4.590264760638053, -4.424004932988291)]:
        # float64 values on and one ulp either side of np.linspace's edges, where the index arithmetic is off
        # by one and np.histogram corrects it (both corrections happen on these two ranges)
        e = np.linspace(a, b, 41)
        v = np.concatenate([e, np.nextafter(e, np.inf), np.nextafter(e, -np.inf)]).clip(a, b)
        cols.append(np.resize(v, n))
    x = np.column_stack(cols * 40)  # 320 columns: more than one block of 128
    lo, hi, counts = value_histograms(x, bins=40)
    assert counts.shape == (320, 40) and (counts.sum(axis=1) == n).all()
    for u in range(x.shape[1]):
        v = x[:, u].astype(np.float64)
        assert (lo[u], hi[u]) == (v.min(), v.max())
        if v.max() > v.min():
            assert counts[u].tolist() == np.histogram(v, bins=40, range=(v.min(), v.max()))[0].tolist(), u
        else:
            assert counts[u].tolist() == [n] + [0] * 39
    # one column at a time gives the same
    assert value_histogram(x[:, 1], bins=40)[2].tolist() == counts[1].tolist()


def test_random_draw_prefix_and_independent_of_other_datasets():
    long, short = random_draw("news", 100, 30, seed=0), random_draw("news", 100, 10, seed=0)
    assert short.tolist() == long[:10].tolist()
    assert len(set(long.tolist())) == 30 and long.min() >= 0 and long.max() < 100
    assert random_draw("wiki", 100, 10, seed=0).tolist() != short.tolist()
    a = pd.DataFrame({"dataset": "news", "sentence_id": np.arange(100)[::-1], "value": np.arange(100.0)})
    b = pd.DataFrame({"dataset": "aaa", "sentence_id": np.arange(5), "value": np.arange(5.0)})
    alone = random_baseline(a, 10, seed=0)
    with_other = random_baseline(pd.concat([b, a]), 10, seed=0)
    assert sorted(alone["sentence_id"]) == sorted(short.tolist())  # positions in sentence_id order are ids
    assert with_other[with_other.dataset == "news"].reset_index(drop=True).equals(alone)


def test_extremes_from_scores_match_argsort():
    rng = np.random.default_rng(1)
    v = rng.integers(0, 5, 40).astype(float)  # ties on purpose
    scores = pd.DataFrame({"dataset": "d", "sentence_id": np.arange(40), "value": v})
    top = extremes_from_scores(scores, 7, "top")
    assert top["sentence_id"].tolist() == np.argsort(-v, kind="stable")[:7].tolist()
    assert top["rank"].tolist() == list(range(1, 8))
    bottom = extremes_from_scores(scores, 7, "bottom")
    assert bottom["sentence_id"].tolist() == np.argsort(v, kind="stable")[:7].tolist()


def test_random_baseline_is_seeded_and_per_dataset():
    scores = pd.DataFrame({"dataset": ["a"] * 50 + ["b"] * 5, "sentence_id": list(range(50)) + list(range(5)),
                           "value": np.arange(55.0)})
    r1, r2 = random_baseline(scores, 10, seed=3), random_baseline(scores, 10, seed=3)
    assert r1.equals(r2)
    assert r1.groupby("dataset").size().to_dict() == {"a": 10, "b": 5}
    assert not r1.equals(random_baseline(scores, 10, seed=4))
