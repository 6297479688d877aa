"""analysis.locality against hand-computed histograms and brute-force neighbour searches."""
import numpy as np
import pytest

from analysis.drift import one_hot
from analysis.locality import locality, locality_all_neurons, locality_score, nearest_dots, top_k


def test_locality_score_by_hand_with_explicit_edges():
    # h1 = [2/4, 2/4], h2 = [3/4, 1/4]: min sum 0.75, max sum 1.25.
    assert locality_score([0.1, 0.2, 0.7, 0.8], [0.1, 0.2, 0.3, 0.9], bins=[0, 0.5, 1]) == pytest.approx(0.6)


def test_locality_score_by_hand_with_shared_equal_width_bins():
    # Edges over 0..3 in 3 bins: [0,1) [1,2) [2,3]. h1 = [1/4, 1/4, 2/4], h2 = [2/3, 0, 1/3].
    # min sum = 1/4 + 0 + 1/3 = 7/12; max sum = 2/3 + 1/4 + 1/2 = 17/12.
    assert locality_score([0, 1, 2, 3], [0, 0, 3], bins=3) == pytest.approx(7 / 17)


def test_locality_score_extremes():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(100)
    assert locality_score(a, a) == 1.0
    assert locality_score([1, 2], [1, 1, 2, 2]) == 1.0  # normalised: sizes do not matter, shape does
    assert locality_score(a, a + 100) == 0.0
    assert locality_score([0.0, 0.1], [5.0, 5.1], bins=50) == 0.0
    assert np.isnan(locality_score([], [], bins=[0, 1]))


def test_top_k_ties_to_lower_index():
    assert top_k(np.array([1.0, 3.0, 3.0, 2.0, 3.0]), 3).tolist() == [1, 2, 4]
    x = np.array([[1.0, 0.0], [1.0, 2.0], [0.0, 2.0]])
    assert top_k(x, 2).T.tolist() == [[0, 1], [1, 2]]


def _data(seed=0, n=120, d=6):
    return np.random.default_rng(seed).standard_normal((n, d))


def test_locality_sizes_and_brute_force_values():
    X, k = _data(), 7
    w = np.random.default_rng(9).standard_normal(6)
    r = locality(X, w, k=k, seed=3)
    assert len(r["d_top"]) == k * (k - 1) // 2 and len(r["d_nearest"]) == k * k and len(r["d_random"]) == k * k
    assert r["top"].tolist() == np.argsort(-(X @ w))[:k].tolist()
    assert not set(r["random"]) & set(r["top"]) and len(set(r["random"])) == k
    near = []
    for s in r["top"]:
        dots = sorted((float(X[s] @ X[j]) for j in range(len(X)) if j != s), reverse=True)
        near.extend(dots[:k])
    assert np.allclose(r["d_nearest"], near)
    pairs = [X[r["top"][i]] @ X[r["top"][j]] for i in range(k) for j in range(i + 1, k)]
    assert np.allclose(r["d_top"], pairs)
    assert np.allclose(r["d_random"], [X[s] @ X[t] for s in r["top"] for t in r["random"]])
    assert r["L"] == locality_score(r["d_nearest"], r["d_top"], bins=20)
    # Table 5 per sentence: each top sentence's own nearest-neighbour dots against its dots with the other tops
    for i, s in enumerate(r["top"]):
        own_near = near[i * k:(i + 1) * k]
        own_top = [float(X[s] @ X[t]) for t in r["top"] if t != s]
        assert r["L_sentence"][i] == pytest.approx(locality_score(own_near, own_top, bins=20))


def test_nearest_excludes_only_itself():
    X = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])  # rows 0 and 1 are duplicates
    assert nearest_dots(X, np.array([0]), 2).tolist() == [[1.0, 0.5]]
    with pytest.raises(ValueError):
        nearest_dots(X, np.array([0]), 4)


def test_locality_is_deterministic_in_seed():
    X = _data()
    w = one_hot(2, 6)
    a, b, c = locality(X, w, seed=5), locality(X, w, seed=5), locality(X, w, seed=6)
    assert np.array_equal(a["random"], b["random"]) and np.array_equal(a["d_random"], b["d_random"])
    assert not np.array_equal(a["random"], c["random"])
    assert a["L"] == c["L"]  # D_random does not enter L


def test_tight_top_cluster_scores_higher_than_spread_top():
    rng = np.random.default_rng(0)
    k = 10
    background = rng.standard_normal((300, 5))
    background[:, 0] = np.clip(background[:, 0], -2, 2)
    # Tight: the top 10 along e0 sit together, so their mutual dots are their nearest-neighbour dots.
    tight = np.vstack([background, [6, 0, 0, 0, 0] + 0.01 * rng.standard_normal((k, 5))])
    # Spread: the top 10 point different ways in dims 1-4 (mutual dots from about -64 to 100), and each has
    # 10 close satellites with low e0, so its nearest neighbours are those satellites (dots near 100).
    dirs = rng.standard_normal((k, 4))
    dirs = 10 * dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    tops = np.hstack([np.full((k, 1), 6.0), dirs])
    sats = np.repeat(np.hstack([np.zeros((k, 1)), dirs]), k, axis=0) + 0.01 * rng.standard_normal((k * k, 5))
    spread = np.vstack([background, tops, sats])
    w = one_hot(0, 5)
    lt, ls = locality(tight, w, k=k)["L"], locality(spread, w, k=k)["L"]
    assert lt > 0.6 and ls < 0.2 and lt > ls


def test_all_neurons_matches_one_direction_at_a_time():
    X = _data(seed=4, n=150, d=9)
    X[:20, 3] = 2.5  # ties in neuron 3's top k
    L = locality_all_neurons(X, k=10)
    assert L.shape == (9,)
    for u in range(9):
        assert L[u] == locality(X, one_hot(u, 9), k=10)["L"]
    assert np.array_equal(locality_all_neurons(X, k=5, bins=7),
                          [locality(X, one_hot(u, 9), k=5, bins=7)["L"] for u in range(9)])
