"""Outlier sentences (Bolukbasi et al. 2021, Section 5.2.2, "Analyzing outlier sentences").

The paper, for QQP: "Below are the three QQP sentences that maximally activate the most neurons ... (56 top
activations) ... Taking the pairwise Euclidean distances between every QQP sentence, these three sentences
have the highest mean distances. This pattern holds across the entire distribution: the 20 most distant QQP
sentences all have at least 11 top activations and the most distant 1% of sentences account for 48% of all
top activations." and "across the 7,680 top ten activating sentences, there are 4,551 unique sentences"
(768 neurons x top 10 = 7,680 top-k slots).

Definitions followed here:
- membership count of a sentence: the number of neurons whose top-k (highest activations, k = 10 in the
  paper) contains it, within its own dataset;
- mean distance: the paper's "pairwise Euclidean distances between every QQP sentence", i.e. within ONE
  dataset, plain (not squared) Euclidean distance in the layer's full space; a sentence's mean distance is
  the mean over the N - 1 OTHER sentences of its dataset (itself excluded). Computed in row blocks (a
  [block, N] slice at a time, never N x N), after centring the dataset (distances do not change, and the
  Gram-identity ||a||^2 + ||b||^2 - 2 a.b then loses far less float32 precision);
- distance rank: 1 = the most distant sentence of its dataset; ties go to the lower index;
- outlier share: the most distant ``top_fraction`` of each dataset (ceil(top_fraction * N_d) sentences, at
  least one) are its outliers; the share is (top-k slots held by outliers) / (all top-k slots), where a
  sentence holds as many slots as its membership count. Per dataset that is the paper's number; over several
  datasets the slots are pooled (sum of outlier slots over sum of all slots), so each dataset weighs by its
  slots, and every dataset's slots are H * k.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd


def _groups(n: int, groups) -> np.ndarray:
    return np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups)


def _mean_distance_one(x: np.ndarray, block: int) -> np.ndarray:
    n = x.shape[0]
    if n < 2:
        return np.zeros(n, dtype=np.float64)
    x = np.asarray(x, dtype=np.float32)
    x = x - x.mean(axis=0, dtype=np.float64).astype(np.float32)
    sq = np.einsum("ij,ij->i", x, x, dtype=np.float64).astype(np.float32)
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, block):
        stop = min(start + block, n)
        d2 = sq[start:stop, None] + sq[None, :] - 2.0 * (x[start:stop] @ x.T)
        np.maximum(d2, 0.0, out=d2)
        d2[np.arange(stop - start), np.arange(start, stop)] = 0.0  # itself: exactly 0
        out[start:stop] = np.sqrt(d2).sum(axis=1, dtype=np.float64)
    return out / (n - 1)


def mean_distance(x: np.ndarray, groups=None, block: int = 1024) -> np.ndarray:
    """Mean Euclidean distance of each row of x [N, H] to every other row of the same group (dataset).

    groups: [N] labels (None: one group). Returns float64 [N]; 0 for a group of one sentence."""
    x = np.asarray(x)
    g = _groups(len(x), groups)
    out = np.zeros(len(x), dtype=np.float64)
    for name in pd.unique(g):
        rows = np.flatnonzero(g == name)
        out[rows] = _mean_distance_one(x[rows], block)
    return out


def distance_rank(d: np.ndarray, groups=None) -> np.ndarray:
    """Rank of each sentence by mean distance within its group: 1 = most distant, ties to the lower index."""
    d = np.asarray(d)
    g = _groups(len(d), groups)
    ranks = np.zeros(len(d), dtype=np.int64)
    for name in pd.unique(g):
        rows = np.flatnonzero(g == name)
        order = np.argsort(-d[rows], kind="stable")
        ranks[rows[order]] = np.arange(1, len(rows) + 1)
    return ranks


def n_outliers(n: int, top_fraction: float = 0.01) -> int:
    """How many sentences of a dataset of n are its most distant ``top_fraction``: ceil, at least one."""
    return min(n, max(1, math.ceil(top_fraction * n - 1e-9))) if n else 0


def outlier_shares(membership_counts, distance, groups=None, top_fraction: float = 0.01) -> pd.DataFrame:
    """Per group: sentences, outliers (the most distant ``top_fraction``), slots (all top-k slots), outlier_slots
    and share = outlier_slots / slots. membership_counts and distance: [N], aligned, every sentence of each
    group (0 for those never top-k)."""
    counts = np.asarray(membership_counts, dtype=np.int64)
    d = np.asarray(distance)
    g = _groups(len(d), groups)
    ranks = distance_rank(d, g)
    rows = []
    for name in pd.unique(g):
        m = g == name
        cut = n_outliers(int(m.sum()), top_fraction)
        slots = int(counts[m].sum())
        out_slots = int(counts[m & (ranks <= cut)].sum())
        rows.append({"dataset": name, "sentences": int(m.sum()), "outliers": cut, "slots": slots,
                     "outlier_slots": out_slots, "share": out_slots / slots if slots else float("nan")})
    return pd.DataFrame(rows, columns=["dataset", "sentences", "outliers", "slots", "outlier_slots", "share"])


def outlier_share(membership_counts, distance, top_fraction: float = 0.01, groups=None) -> float:
    """Share of all top-k slots held by the most distant ``top_fraction`` of sentences (chosen per group);
    over several groups the slots are pooled. NaN when there are no slots."""
    per = outlier_shares(membership_counts, distance, groups, top_fraction)
    slots = per["slots"].sum()
    return float(per["outlier_slots"].sum() / slots) if slots else float("nan")


def keep_rows(keys, left_out) -> np.ndarray:
    """bool [N]: the rows of ``keys`` (dataset, sentence_id) not in ``left_out`` {(dataset, sentence_id)}."""
    if not left_out:
        return np.ones(len(keys), dtype=bool)
    pairs = zip(keys["dataset"].to_numpy(), keys["sentence_id"].to_numpy().astype(int))
    return np.fromiter(((d, i) not in left_out for d, i in pairs), dtype=bool, count=len(keys))
