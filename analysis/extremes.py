"""Per-neuron extremes: the sentences where each unit is highest and lowest."""
from __future__ import annotations

import numpy as np


def neuron_extremes(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Top-k and bottom-k rows of every column of ``x``.

    x: [N, H] activations (N sentences, H units).
    Returns (top_idx, top_val, bottom_idx, bottom_val), each [k', H] with k' = min(k, N); row 0 is the most
    extreme. Ties are broken by the lower sentence index, so results are deterministic.
    """
    n, _ = x.shape
    k = min(k, n)
    # Stable argsort on (-x) gives highest first with the lower index first among equals.
    top_idx = np.argsort(-x, axis=0, kind="stable")[:k] if k * 8 > n else _partial(-x, k)
    bottom_idx = np.argsort(x, axis=0, kind="stable")[:k] if k * 8 > n else _partial(x, k)
    return (top_idx, np.take_along_axis(x, top_idx, 0), bottom_idx, np.take_along_axis(x, bottom_idx, 0))


def _partial(key: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k smallest ``key`` per column, sorted, ties by lower index; O(N) per column."""
    part = np.argpartition(key, k - 1, axis=0)[:k]  # [k, H], unordered, ties arbitrary
    # argpartition may pick any of several equal values at the boundary; fix ties to lowest index.
    kth = np.take_along_axis(key, part, 0).max(axis=0)  # [H]
    out = np.empty((k, key.shape[1]), dtype=np.int64)
    for j in range(key.shape[1]):
        col = key[:, j]
        strict = np.flatnonzero(col < kth[j])
        ties = np.flatnonzero(col == kth[j])[: k - len(strict)]
        cand = np.concatenate([strict, ties])
        out[:, j] = cand[np.lexsort((cand, col[cand]))]
    return out
