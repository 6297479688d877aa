"""The interpretability illusion (Bolukbasi et al. 2021): do a unit's top sentences agree across datasets, and
does a concept hypothesis about them hold beyond chance?"""
from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
from scipy.stats import hypergeom

from analysis.extremes import neuron_extremes
from analysis.numerics import holm


def _mean_pairwise_cosine_without_own(centroids: list[np.ndarray]) -> np.ndarray:
    """Mean over unordered dataset pairs of cos(a, b) with coordinate u left out, for every u.

    centroids: one [R, H] block per dataset (row r = one centroid). Returns [R, H]: entry (r, u) is the mean
    pairwise cosine of row r's centroids computed on all coordinates except u. Leaving u out matters because
    the top set of unit u is high on coordinate u by construction, which alone would make any two top
    centroids agree. NaN where a centroid has no direction left.
    """
    pairs = list(itertools.combinations(range(len(centroids)), 2))
    total = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        for a, b in pairs:
            ca, cb = centroids[a], centroids[b]
            dot = np.einsum("rh,rh->r", ca, cb)[:, None] - ca * cb               # [R, H]
            na = np.einsum("rh,rh->r", ca, ca)[:, None] - ca * ca
            nb = np.einsum("rh,rh->r", cb, cb)[:, None] - cb * cb
            total = total + dot / np.sqrt(na * nb)
    return total / len(pairs)


def _rows_of(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """x[mask], as a view when the rows are contiguous (each dataset's block of a stacked layer)."""
    idx = np.flatnonzero(mask)
    if len(idx) and idx[-1] - idx[0] + 1 == len(idx):
        return x[idx[0]:idx[-1] + 1]
    return x[idx]


def illusion_scores(x: np.ndarray, datasets: np.ndarray, k: int = 10, n_random: int = 20,
                    seed: int = 0) -> pd.DataFrame:
    """Per unit: do its top-k sentences in different datasets lie in the same region of the layer's space?

    x: [N, H] sentence vectors of one layer/pooling, all datasets stacked; datasets: [N] dataset names
    (at least 2 distinct). Definition, with datasets D_1..D_m (m >= 2) and k_D = min(k, |D|):

    - x is centred first (the mean over all N rows is subtracted): contextual embeddings share a large
      common offset (anisotropy), which would push every cosine toward 1;
    - top set T_D(u): the k_D sentences of D with the highest x[:, u] (ties go to the lower row index);
    - centroid c_D(u) = mean of the centred x[s, :] over s in T_D(u) (the full H-dim vectors);
    - consistency(u) = mean over the m(m-1)/2 unordered pairs {A, B} of cos_{-u}(c_A(u), c_B(u)), the cosine
      over all coordinates except u (unit u is high in every top set by construction; on pure noise the
      full cosine would already be well above the random level);
    - baseline(u): the same statistic with each T_D replaced by k_D sentences of D drawn uniformly without
      replacement, repeated n_random times (numpy default_rng(seed), datasets in sorted order);
      baseline_mean(u), baseline_std(u) are their mean and sample std (ddof=1);
    - robustness(u) = (consistency(u) - baseline_mean(u)) / baseline_std(u), a z-score: high = the top
      sentences of every dataset point to the same region of the space (robust); near 0 or negative = no more
      agreement than random sentences of those datasets (illusory). On pure noise it is about 0.

    Returns [H] rows with columns unit, consistency, baseline_mean, baseline_std, robustness, sorted by unit.
    Raises ValueError on fewer than 2 datasets, k < 1, n_random < 2, mismatched shapes or non-finite x.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    datasets = np.asarray(datasets)
    if x.ndim != 2 or datasets.shape != (x.shape[0],):
        raise ValueError(f"x must be [N, H] and datasets [N]; got {x.shape} and {datasets.shape}")
    if k < 1 or n_random < 2:
        raise ValueError(f"need k >= 1 and n_random >= 2 (for a std); got k={k}, n_random={n_random}")
    names = np.unique(datasets)
    if len(names) < 2:
        raise ValueError(f"consistency across datasets needs at least 2 datasets; got {len(names)}")
    if not np.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values")
    # Centring moves every column by a constant, so it changes no top set: the top sets are found on x as
    # given (float32 from the warehouse) and only the centroids are centred, in float64, so that no centred
    # copy of x is made.
    mu = x.mean(axis=0, dtype=np.float64)
    blocks = [_rows_of(x, datasets == name) for name in names]

    def centroids(xd: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """rows [R, kd] -> the R centroids of the centred rows, [R, H] float64."""
        return xd[rows].mean(axis=1, dtype=np.float64) - mu

    top_centroids = []
    for xd in blocks:
        # [kd, H] row indices, one column per unit, ties to the lower index (a partition, not a full sort)
        top = neuron_extremes(xd, k)[0]
        top_centroids.append(centroids(xd, top.T))                  # xd[top.T]: [H, kd, H] -> [H, H]
    consistency = np.diagonal(_mean_pairwise_cosine_without_own(top_centroids)).copy()

    rng = np.random.default_rng(seed)
    random_centroids = []
    for xd in blocks:
        kd = min(k, len(xd))
        picks = np.stack([rng.choice(len(xd), size=kd, replace=False) for _ in range(n_random)])
        random_centroids.append(centroids(xd, picks))              # [n_random, H]
    baseline = _mean_pairwise_cosine_without_own(random_centroids)  # [n_random, H]
    mean, std = baseline.mean(axis=0), baseline.std(axis=0, ddof=1)

    with np.errstate(invalid="ignore", divide="ignore"):
        robustness = np.where(std > 0, (consistency - mean) / std, np.nan)
    return pd.DataFrame({"unit": np.arange(x.shape[1]), "consistency": consistency, "baseline_mean": mean,
                         "baseline_std": std, "robustness": robustness})


def concept_hits(texts: list[str], keywords: list[str] | None = None, regex: str | None = None) -> np.ndarray:
    """Which texts express a concept: any keyword as a whole word, or a regex search; case-insensitive.

    Exactly one of keywords / regex. "Whole word" means the keyword is not preceded or followed by a word
    character, so "cat" matches "the cat." but not "category", and "c++" still works (\\b would not).
    Returns bool [len(texts)]. Raises ValueError (one line) on both/neither, no usable keyword, or a bad regex.
    """
    if (keywords is None) == (regex is None):
        raise ValueError("give exactly one of keywords or regex")
    if keywords is not None:
        words = [w.strip() for w in keywords if w and w.strip()]
        if not words:
            raise ValueError("keywords is empty")
        # Longest first so a keyword that extends another ("new york" vs "new") is tried before its prefix.
        alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
    else:
        if not regex.strip():
            raise ValueError("regex is empty")
        try:
            pattern = re.compile(regex, re.IGNORECASE)
        except re.error as e:
            raise ValueError(f"invalid regex: {str(e).splitlines()[0]}") from None
    return np.array([pattern.search(t) is not None for t in texts], dtype=bool)


def hypothesis_test(hits_top: int, k: int, hits_all: int, n_all: int) -> dict:
    """Is the concept over-represented among a unit's top k sentences of one dataset?

    Null: the top k are a uniformly random k-subset of the dataset's n_all sentences, hits_all of which match.
    p_value = P(X >= hits_top) for X ~ Hypergeometric(population n_all, successes hits_all, draws k), i.e.
    scipy.stats.hypergeom.sf(hits_top - 1, n_all, hits_all, k). Also returns base_rate = hits_all / n_all,
    top_rate = hits_top / k and expected = k * base_rate (the mean of X).
    """
    if not (0 <= hits_top <= min(k, hits_all) and 1 <= k <= n_all and 0 <= hits_all <= n_all):
        raise ValueError(f"need 0 <= hits_top <= min(k, hits_all), 1 <= k <= n_all, 0 <= hits_all <= n_all; "
                         f"got hits_top={hits_top}, k={k}, hits_all={hits_all}, n_all={n_all}")
    p = float(np.clip(hypergeom.sf(hits_top - 1, n_all, hits_all, k), 0.0, 1.0))
    base_rate = hits_all / n_all
    return {"p_value": p, "base_rate": base_rate, "top_rate": hits_top / k, "expected": k * base_rate}


def hypothesis_table(per_dataset: dict[str, tuple[int, int, int, int]],
                     alpha: float = 0.05) -> tuple[pd.DataFrame, str]:
    """One concept hypothesis tested on every dataset, Holm-corrected across datasets.

    per_dataset: dataset -> (hits_top, k, hits_all, n_all). Returns a frame sorted by dataset with columns
    dataset, top_rate, base_rate, p_value, p_adjusted (Holm), holds (p_adjusted < alpha and
    top_rate > base_rate), and a verdict such as
    "holds on 2 of 6 datasets (Holm-adjusted p < 0.05): movies, nyt".
    """
    if not per_dataset:
        raise ValueError("no datasets to test")
    rows = [{"dataset": name, **hypothesis_test(*per_dataset[name])} for name in sorted(per_dataset)]
    table = pd.DataFrame(rows)[["dataset", "top_rate", "base_rate", "p_value"]]
    table["p_adjusted"] = holm(table["p_value"].to_numpy())
    table["holds"] = (table["p_adjusted"] < alpha) & (table["top_rate"] > table["base_rate"])
    held = table.loc[table["holds"], "dataset"].tolist()
    verdict = f"holds on {len(held)} of {len(table)} datasets (Holm-adjusted p < {alpha:g})"
    if held:
        verdict += ": " + ", ".join(held)
    return table, verdict


def parse_labelled(text: str) -> tuple[list[str], list[str]]:
    """Labelled example sentences, one per line: '+ sentence' is an example of the concept, '- sentence' is not.

    Returns (positives, negatives). Raises ValueError (one line) for a line with neither prefix."""
    pos, neg = [], []
    for i, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if line[0] not in "+-":
            raise ValueError(f"labelled sentences line {i}: start it with '+' (concept) or '-' (not the concept)")
        (pos if line[0] == "+" else neg).append(line[1:].strip())
    return pos, neg


def centroid_hits(x: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """A concept given by labelled example sentences, applied to every sentence: nearest-centroid rule.

    x: [N, H] sentence vectors (examples included); positive / negative: row indices of the examples. After
    centring x, a sentence is a hit when its cosine to the centroid of the positives exceeds its cosine to the
    centroid of the negatives. Returns bool [N]. Raises ValueError without at least one of each.
    """
    positive, negative = np.asarray(positive, dtype=int), np.asarray(negative, dtype=int)
    if len(positive) == 0 or len(negative) == 0:
        raise ValueError("labelled sentences need at least one '+' and one '-' example found in the datasets")
    xc = np.asarray(x, dtype=np.float64) - np.asarray(x, dtype=np.float64).mean(axis=0)
    norms = np.linalg.norm(xc, axis=1)
    norms[norms == 0] = 1.0
    cp, cn = xc[positive].mean(axis=0), xc[negative].mean(axis=0)
    cos_p = xc @ cp / (norms * (np.linalg.norm(cp) or 1.0))
    cos_n = xc @ cn / (norms * (np.linalg.norm(cn) or 1.0))
    return cos_p > cos_n
