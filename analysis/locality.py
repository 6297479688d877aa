"""Locality score of a direction (Bolukbasi et al. 2021, Section 5.2.1, Fig. 7, Table 5).

Paper's definitions, followed here:
- nearest neighbours by DOT PRODUCT in the full space: "N_k(s) = argmax_{S' subset S, |S'| = k} sum_{s^ in S'}
  e_s . e_s^" (the sentence itself is excluded here: its own dot product would always be an entry);
- D_nearest: "the dot product between s and its nearest neighbors s' in N_k(s)" for each top sentence s;
- D_top: "the dot product between all pairs of top activating sentences" (unordered pairs i < j);
- D_random: "the dot product between each top activating sentence and k random sentences in the dataset";
- L(h1, h2) = sum_i min(h1(i), h2(i)) / sum_i max(h1(i), h2(i)), applied to the histograms of D_nearest
  and D_top. The paper gives no bin count; here both histograms share bin edges and are normalised to sum
  to 1 (D_nearest has k*k values, D_top k(k-1)/2, so raw counts would not be comparable).
"""
from __future__ import annotations

import numpy as np

from analysis.extremes import neuron_extremes


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, highest first, ties to the lower index. scores: [N] or [N, H]
    (per column). Returns [k] or [k, H]."""
    scores = np.asarray(scores)
    if scores.ndim == 2 and np.isfinite(scores).all():
        return neuron_extremes(scores, k)[0]  # a partition per column, not a full sort
    return np.argsort(-scores, axis=0, kind="stable")[:k]


def nearest_dots(X: np.ndarray, rows: np.ndarray, k: int, block: int = 512) -> np.ndarray:
    """For each sentence in ``rows``, the dot products with its k nearest neighbours by dot product in X,
    itself excluded (by index, so an exact duplicate sentence still counts as a neighbour).

    X: [N, D]; rows: [R] indices. Returns [R, k], largest first. Computed ``block`` rows at a time so the
    [block, N] Gram slice stays small (512 x 34000 float64 = 140 MB).
    """
    X = np.asarray(X)
    rows = np.asarray(rows, dtype=np.int64)
    n = X.shape[0]
    if not 0 < k < n:
        raise ValueError(f"k must be between 1 and {n - 1}, got {k}")
    out = np.empty((len(rows), k), dtype=np.result_type(X.dtype, np.float32))
    for start in range(0, len(rows), block):
        r = rows[start:start + block]
        g = X[r] @ X.T
        g[np.arange(len(r)), r] = -np.inf
        # The set of the k largest values is unique even when neighbours tie, so the answer is too.
        part = np.partition(g, n - k, axis=1)[:, n - k:]
        out[start:start + len(r)] = -np.sort(-part, axis=1)
    return out


def locality_score(d_nearest: np.ndarray, d_top: np.ndarray, bins=20) -> float:
    """The paper's L: histogram intersection over union, sum_i min(h1, h2) / sum_i max(h1, h2).

    bins: a number of equal-width bins spanning min..max of both arrays together (np.histogram_bin_edges),
    or explicit edges. Each histogram is divided by its array's length so it sums to 1 (values outside
    explicit edges are dropped from both sums). 1 for identical distributions, 0 for disjoint ones; NaN when
    both histograms are empty.
    """
    a = np.asarray(d_nearest, dtype=np.float64).ravel()
    b = np.asarray(d_top, dtype=np.float64).ravel()
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins=bins) if np.ndim(bins) == 0 else np.asarray(bins)
    h1 = np.histogram(a, bins=edges)[0] / max(len(a), 1)
    h2 = np.histogram(b, bins=edges)[0] / max(len(b), 1)
    union = np.maximum(h1, h2).sum()
    return float(np.minimum(h1, h2).sum() / union) if union > 0 else float("nan")


def _pair_dots(X: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Dot products of the unordered pairs i < j within ``top`` ([k] indices). Returns [k(k-1)/2]."""
    g = X[top] @ X[top].T
    return g[np.triu_indices(len(top), 1)]


def locality(X: np.ndarray, w: np.ndarray, k: int = 10, seed: int = 0, bins=20) -> dict:
    """Locality of direction w over dataset X.

    X: [N, D] sentence embeddings (the full space); w: [D]. Returns a dict:
      top [k] (indices by X @ w, highest first, ties to the lower index), random [k] (k sentences drawn
      without replacement from those outside the top k with ``default_rng(seed)``, the same k for every top
      sentence), d_nearest [k*k] (row i = top[i]'s k nearest neighbours), d_top [k(k-1)/2],
      d_random [k*k] (row i = top[i] . random), L = locality_score(d_nearest, d_top, bins) (pooled over the
      direction's top sentences), L_sentence [k] (per_sentence_locality: Table 5's per-sentence scores).
    """
    X = np.asarray(X)
    n = X.shape[0]
    if not (0 < k and 2 * k <= n):
        raise ValueError(f"need 2k <= N sentences, got k={k}, N={n}")
    top = top_k(X @ np.asarray(w), k)
    pool = np.setdiff1d(np.arange(n), top)
    rand = np.random.default_rng(seed).choice(pool, size=k, replace=False)
    near = nearest_dots(X, top, k)  # [k, k]
    d_nearest = near.ravel()
    d_top = _pair_dots(X, top)
    return {"top": top, "random": rand, "d_nearest": d_nearest, "d_top": d_top,
            "d_random": (X[top] @ X[rand].T).ravel(), "L": locality_score(d_nearest, d_top, bins),
            "L_sentence": per_sentence_locality(X, top, near, bins)}


def per_sentence_locality(X: np.ndarray, top: np.ndarray, near: np.ndarray, bins=20) -> np.ndarray:
    """Table 5's per-sentence L: for each top sentence p, L of the histograms of D_p,nearest (p's dot products
    with its k nearest neighbours, ``near[i]``) and D_p,top (p's dot products with the other top sentences),
    each on its own shared edges. Returns [k]; the study reports their mean."""
    g = X[top] @ X[top].T
    off = ~np.eye(len(top), dtype=bool)
    return np.array([locality_score(near[i], g[i][off[i]], bins) for i in range(len(top))])


def locality_all_neurons(X: np.ndarray, k: int = 10, seed: int = 0, bins=20) -> np.ndarray:
    """L of every neuron direction (one-hot w), equal to ``locality(X, one_hot(u))['L']`` for each u.

    X: [N, H]. Returns float64 [H]. The nearest-neighbour search runs once over the union of all neurons'
    top-k sentences (at most H * k rows), in [512, N] Gram blocks. ``seed`` only chooses D_random, which
    does not enter L; it is accepted for symmetry with ``locality``.
    """
    X = np.asarray(X)
    n, h = X.shape
    tops = top_k(X, k).T  # [H, k]: top-k by activation of each neuron
    union, inverse = np.unique(tops, return_inverse=True)
    near = nearest_dots(X, union, k)[inverse.reshape(tops.shape)]  # [H, k, k]
    out = np.empty(h)
    for u in range(h):
        out[u] = locality_score(near[u].ravel(), _pair_dots(X, tops[u]), bins)
    return out
