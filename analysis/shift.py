"""Distribution shift of one unit between datasets, and of every unit of a layer between two datasets.

Pure functions: arrays and frames in, numbers out. A unit's values are its activations (or projections on a
direction) over every stored sentence of a dataset.

- shared_histograms: per-dataset densities on one set of bins, so that the curves can be compared;
- pair_stats: the two-sample KS statistic and p-value (scipy.stats.ks_2samp, its default method) and the 1-D
  Wasserstein distance (scipy.stats.wasserstein_distance) of every dataset pair;
- rbo / jaccard: rank-biased overlap (Webber, Moffat & Zobel 2010, the extrapolated RBO_ext of their eq. 30,
  which handles lists of different lengths) and the Jaccard index of two ranked lists;
- pooled_topk / pooled_shares: every dataset's sentences ranked together (the illusion study's Fig. 1 idea);
- layer_shift: KS and Wasserstein of every unit of a layer between two datasets, vectorised over the units (one
  sort per block of columns; no per-unit Python loop).
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

HIST_BINS = 40
RBO_P = 0.9


def shared_edges(values: Sequence[np.ndarray], bins: int = HIST_BINS) -> np.ndarray:
    """``bins + 1`` equal-width edges over the range of all ``values`` together (a constant range is widened by
    0.5 on each side, as numpy does, so every value falls in a bin)."""
    finite = [np.asarray(v, dtype=np.float64) for v in values if len(v)]
    if not finite:
        raise ValueError("no values to bin")
    allv = np.concatenate(finite)
    return np.histogram_bin_edges(allv, bins=bins, range=(float(allv.min()), float(allv.max())))


def shared_histograms(by_dataset: dict[str, np.ndarray], bins: int = HIST_BINS) -> pd.DataFrame:
    """One row per (dataset, bin) on shared bins: dataset, bin_start, bin_end, count, density (count / (n *
    width), so each dataset's curve integrates to 1 whatever its size)."""
    edges = shared_edges(list(by_dataset.values()), bins)
    width = np.diff(edges)
    frames = []
    for name, v in by_dataset.items():
        counts, _ = np.histogram(np.asarray(v, dtype=np.float64), bins=edges)
        n = max(int(counts.sum()), 1)
        frames.append(pd.DataFrame({"dataset": name, "bin_start": edges[:-1], "bin_end": edges[1:],
                                    "count": counts, "density": counts / (n * width)}))
    return pd.concat(frames, ignore_index=True)


def pair_stats(by_dataset: dict[str, np.ndarray]) -> pd.DataFrame:
    """Every unordered dataset pair (a, b in the given order): n_a, n_b, ks, ks_p (scipy.stats.ks_2samp, two-sided,
    method 'auto': exact for small samples), wasserstein (scipy.stats.wasserstein_distance, in the unit's own
    scale), mean_diff (mean b - mean a). A dataset with no values gives NaN."""
    rows = []
    for a, b in itertools.combinations(by_dataset, 2):
        va, vb = (np.asarray(by_dataset[n], dtype=np.float64) for n in (a, b))
        if len(va) and len(vb):
            ks = stats.ks_2samp(va, vb)
            d, p, w, md = float(ks.statistic), float(ks.pvalue), float(stats.wasserstein_distance(va, vb)), \
                float(vb.mean() - va.mean())
        else:
            d = p = w = md = float("nan")
        rows.append({"a": a, "b": b, "n_a": len(va), "n_b": len(vb), "ks": d, "ks_p": p, "wasserstein": w,
                     "mean_diff": md})
    return pd.DataFrame(rows, columns=["a", "b", "n_a", "n_b", "ks", "ks_p", "wasserstein", "mean_diff"])


def _dedupe(items: Sequence) -> list:
    return list(dict.fromkeys(items))


def rbo(s: Sequence, t: Sequence, p: float = RBO_P) -> float:
    """Extrapolated rank-biased overlap RBO_ext of two ranked lists (Webber et al. 2010, eq. 30; eq. 32 when
    they have the same length). Repeated items keep their first rank. 1 for identical lists, 0 for disjoint
    ones; ``p`` in (0, 1) is the persistence (the top d ranks carry 1 - p^d of the weight of an infinite
    ranking). Two empty lists give NaN."""
    if not 0 < p < 1:
        raise ValueError(f"rbo: p must lie in (0, 1), got {p}")
    s, t = _dedupe(s), _dedupe(t)
    if len(s) > len(t):
        s, t = t, s
    ns, nl = len(s), len(t)
    if nl == 0:
        return float("nan")
    if ns == 0:
        return 0.0
    seen_s, seen_l, x = set(), set(), 0
    overlap = np.zeros(nl + 1)  # overlap[d] = |S[:d] ∩ L[:d]|, with S fixed at its full length past ns
    for d in range(1, nl + 1):
        item_l = t[d - 1]
        if d <= ns:
            item_s = s[d - 1]
            x += (item_s in seen_l) + (item_l in seen_s) + (item_s == item_l)
            seen_s.add(item_s)
        else:
            x += item_l in seen_s
        seen_l.add(item_l)
        overlap[d] = x
    d = np.arange(1, nl + 1)
    pw = p ** d
    total = np.sum(overlap[1:] / d * pw)
    tail = d > ns
    total += np.sum(overlap[ns] * (d[tail] - ns) / (ns * d[tail]) * pw[tail])
    return float((1 - p) / p * total + ((overlap[nl] - overlap[ns]) / nl + overlap[ns] / ns) * p ** nl)


def jaccard(s: Sequence, t: Sequence) -> float:
    """|S ∩ T| / |S ∪ T| of the lists' item sets (NaN when both are empty)."""
    a, b = set(s), set(t)
    return len(a & b) / len(a | b) if a | b else float("nan")


_WORD = re.compile(r"[a-z][a-z']+")
# a short list of English function words: with them, every top-k word list would begin "the, a, of"
STOP_WORDS = frozenset("""a an and are as at be been but by for from had has have he her his i in is it its me my
no not of on or our she so than that the their them then there they this to was we were what when which who will
with you your 's n't""".split())


def top_words(texts: Sequence[str], n: int = 20) -> list[str]:
    """The ``n`` words (lower-case, 2+ letters, no function word) in the most of ``texts``, ties by the word."""
    counts: dict[str, int] = {}
    for text in texts:
        for w in set(_WORD.findall(str(text).lower())) - STOP_WORDS:
            counts[w] = counts.get(w, 0) + 1
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def list_agreement(lists: dict[str, Sequence], p: float = RBO_P) -> pd.DataFrame:
    """RBO (extrapolated, persistence ``p``) and Jaccard of every unordered pair of ``lists``: a, b, rbo, jaccard,
    shared (the number of common items)."""
    rows = [{"a": a, "b": b, "rbo": rbo(lists[a], lists[b], p), "jaccard": jaccard(lists[a], lists[b]),
             "shared": len(set(lists[a]) & set(lists[b]))} for a, b in itertools.combinations(lists, 2)]
    return pd.DataFrame(rows, columns=["a", "b", "rbo", "jaccard", "shared"])


def pooled_topk(scores: pd.DataFrame, k: int) -> pd.DataFrame:
    """The ``k`` highest values of ``scores`` (dataset, sentence_id, value) over all datasets together, ranked
    1..k (ties: dataset then sentence_id, as the per-dataset lists break them)."""
    top = scores.sort_values(["value", "dataset", "sentence_id"], ascending=[False, True, True]).head(k)
    return top.reset_index(drop=True).assign(rank=lambda f: np.arange(1, len(f) + 1))


def pooled_shares(scores: pd.DataFrame, top: pd.DataFrame, datasets: Sequence[str]) -> pd.DataFrame:
    """Per dataset: sentences, share of all sentences, in_top (its rows in the pooled top-k), share_of_top and
    enrichment (share_of_top / share of sentences: 1 = as many as its size predicts)."""
    n = scores["dataset"].value_counts().reindex(list(datasets), fill_value=0)
    m = top["dataset"].value_counts().reindex(list(datasets), fill_value=0)
    share = n / max(int(n.sum()), 1)
    share_top = m / max(int(m.sum()), 1)
    return pd.DataFrame({"dataset": list(datasets), "sentences": n.to_numpy(), "share": share.to_numpy(),
                         "in_top": m.to_numpy(), "share_of_top": share_top.to_numpy(),
                         "enrichment": (share_top / share.where(share > 0)).to_numpy()})


def _block_shift(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(KS D, Wasserstein W) per column of a [na, h] and b [nb, h]. Both from one sort of each unit's merged
    values: at each merged value v, F_A(v) and F_B(v) are the running counts of a's and b's values over na and
    nb. D is the largest |F_A - F_B| at the last value of each run of ties (the right-continuous CDFs, as
    ks_2samp's searchsorted(side='right')); W = sum |F_A - F_B| * (v[i+1] - v[i]), the integral of |F_A - F_B|,
    which is the 1-D Wasserstein-1 distance. Inside a run of ties the partial counts are masked (D) or get a
    zero-width step (W), so the sort need not be stable. Units are rows of the merged array: numpy sorts
    contiguous rows several times faster than strided columns."""
    na, nb = len(a), len(b)
    merged = np.concatenate([a.T, b.T], axis=1)  # [h, na + nb], C-contiguous, the input's dtype
    in_a = np.cumsum(np.argsort(merged, axis=1) < na, axis=1, dtype=np.int32)  # a's values up to each position
    # F_A - F_B = (in_a nb - (i - in_a) na) / (na nb) at position i (1-based): integers first, so equal
    # distributions give exactly 0
    i = np.arange(1, na + nb + 1, dtype=np.int64)
    gap = np.abs(in_a * np.int64(na + nb) - i * na) / float(na * nb)  # [h, na + nb]
    # the sorted values themselves: a plain sort (cheaper than gathering by the argsort; ties are equal anyway)
    step = np.diff(np.sort(merged, axis=1).astype(np.float64, copy=False), axis=1)
    d = np.where(step > 0, gap[:, :-1], 0.0).max(axis=1, initial=0.0)
    d = np.maximum(d, gap[:, -1])  # the last value ends its run (and there both CDFs are 1)
    w = np.sum(gap[:, :-1] * step, axis=1)
    return d, w


def layer_shift(a: np.ndarray, b: np.ndarray, block: int = 64) -> pd.DataFrame:
    """Every unit of a layer between dataset A (a [na, h]) and dataset B (b [nb, h]): unit, ks (D), ks_p (the
    asymptotic two-sided p-value of the limiting Kolmogorov distribution, scipy.stats.kstwobign.sf(D sqrt(na nb /
    (na + nb)))), wasserstein, mean_a, mean_b, mean_diff (b - a), sd_a, sd_b. Columns go ``block`` at a time so
    that the sort's memory stays (na + nb) x block. Values must be finite."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"layer_shift: need two [n, h] arrays with the same h, got {a.shape} and {b.shape}")
    if not len(a) or not len(b):
        raise ValueError("layer_shift: both datasets need at least one sentence")
    h = a.shape[1]
    d, w = np.empty(h), np.empty(h)
    for j in range(0, h, block):
        d[j:j + block], w[j:j + block] = _block_shift(a[:, j:j + block], b[:, j:j + block])
    # The limiting (Kolmogorov) distribution, vectorised in C: ks_2samp(method='asymp') uses the finite-n kstwo.sf
    # instead, which scipy evaluates one value at a time in Python (16 ms each at 25,000 + 25,000: 12 s of a
    # 768-unit table, 5x the statistics themselves). The two differ by O(1 / sqrt(n)).
    p = special.kolmogorov(d * np.sqrt(len(a) * len(b) / (len(a) + len(b))))
    ma, mb = a.mean(axis=0, dtype=np.float64), b.mean(axis=0, dtype=np.float64)
    return pd.DataFrame({"unit": np.arange(h), "ks": d, "ks_p": p, "wasserstein": w, "mean_a": ma, "mean_b": mb,
                         "mean_diff": mb - ma, "sd_a": a.std(axis=0, dtype=np.float64),
                         "sd_b": b.std(axis=0, dtype=np.float64)})


def layer_shift_loop(a: np.ndarray, b: np.ndarray) -> pd.DataFrame:
    """The per-unit scipy loop layer_shift replaces (the benchmark's baseline): unit, ks, ks_p (ks_2samp's default
    method: exact below 10,000 x 10,000, else the finite-n asymptotic kstwo), wasserstein."""
    rows = []
    for j in range(a.shape[1]):
        ks = stats.ks_2samp(a[:, j], b[:, j])
        rows.append((j, float(ks.statistic), float(ks.pvalue), float(stats.wasserstein_distance(a[:, j], b[:, j]))))
    return pd.DataFrame(rows, columns=["unit", "ks", "ks_p", "wasserstein"])
