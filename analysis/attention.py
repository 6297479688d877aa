"""Attention clusters (the STS-B attention study, ``../shared/studies/004_*``): pure functions.

Per item (a sentence pair encoded ``[CLS] a [SEP] b [SEP]``, or a single sentence ``[CLS] a [SEP]``) and layer:

- **summary features** of each head's attention matrix ``A`` (rows = queries, each row sums to 1 over the
  item's own n tokens), averaged over query positions: entropy, attention to [CLS], to [SEP], to itself, to
  the previous and next token, and the mean attention distance (see ``head_features``);
- a 2-D reduction (PCA here; the LSTM autoencoder of the study lives in the pipeline, it needs torch);
- clusters of the 2-D points (sklearn k-means, agglomerative, GMM, DBSCAN, spectral) with sklearn's intrinsic
  metrics over a k range and a consensus choice;
- Kruskal-Wallis across clusters and pairwise Mann-Whitney U (Holm-corrected) on each covariate: the gold
  score, the WordPiece length and the grammatical-structure similarity.

No I/O, no Streamlit, no torch: the dashboard re-clusters live with these.
"""
from __future__ import annotations

import itertools
import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.numerics import holm, limit_threads, standardise

FEATURES = ("entropy", "to_cls", "to_sep", "self", "prev", "next", "distance")
ALGORITHMS = ("kmeans", "agglomerative", "gmm", "dbscan", "spectral")
LINKAGES = ("ward", "complete", "average", "single")
AGGLO_METRICS = ("euclidean", "manhattan", "cosine")
COVARIANCES = ("full", "tied", "diag", "spherical")
METRICS = ("silhouette", "davies_bouldin", "calinski_harabasz")
COVARIATES = ("score", "length", "structure")
COVARIATE_LABELS = {"score": "gold score", "length": "WordPiece length", "structure": "structure similarity"}


# ------------------------------------------------------------------------------------------------------
# Summary features
# ------------------------------------------------------------------------------------------------------

def head_features(att: np.ndarray, sep: np.ndarray | list[int]) -> np.ndarray:
    """The 7 summary features of every head of one item: float64 [H, 7] in ``FEATURES`` order.

    att: [H, n, n], the item's attention (no padding), row i = query i, each row a distribution over keys.
    sep: positions of the [SEP] tokens. [CLS] is position 0.

    - entropy:  -sum_j A_ij log A_ij (nats), mean over queries i (a uniform row gives log n);
    - to_cls:   A_i0, mean over queries;  to_sep: sum over SEP keys of A_ij, mean over queries;
    - self:     A_ii;  prev: A_i,i-1 (queries 1..n-1);  next: A_i,i+1 (queries 0..n-2);
    - distance: sum_j A_ij |i - j|, mean over queries.
    This is the plain per-item reference; ``batch_features`` computes the same on padded batches.
    """
    att = np.asarray(att, dtype=np.float64)
    h, n, _ = att.shape
    p = np.clip(att, 1e-12, None)
    entropy = -(att * np.log(p)).sum(-1).mean(-1)
    to_cls = att[:, :, 0].mean(-1)
    to_sep = att[:, :, list(sep)].sum(-1).mean(-1) if len(sep) else np.zeros(h)
    idx = np.arange(n)
    self_ = att[:, idx, idx].mean(-1)
    prev = att[:, idx[1:], idx[:-1]].mean(-1) if n > 1 else np.zeros(h)
    nxt = att[:, idx[:-1], idx[1:]].mean(-1) if n > 1 else np.zeros(h)
    dist = (att * np.abs(idx[:, None] - idx[None, :])).sum(-1).mean(-1)
    return np.stack([entropy, to_cls, to_sep, self_, prev, nxt, dist], axis=-1)


def batch_features(att: np.ndarray, lengths: np.ndarray, sep_mask: np.ndarray) -> np.ndarray:
    """``head_features`` for a right-padded batch, vectorised: float32 [B, H, 7].

    att: [B, H, T, T] (keys beyond an item's length carry ~0 weight, queries beyond it are ignored);
    lengths: [B] true token counts n; sep_mask: bool [B, T], True at [SEP] positions.
    """
    att = np.asarray(att, dtype=np.float32)
    b, h, t, _ = att.shape
    pos = np.arange(t)
    q_ok = (pos[None, :] < lengths[:, None]).astype(np.float32)  # [B, T]
    n = np.maximum(lengths.astype(np.float32), 1)[:, None]  # [B, 1]

    def qmean(x, valid=q_ok, count=n):  # x [B, H, T] per query -> mean over the item's queries
        return (x * valid[:, None, :]).sum(-1) / count

    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(att > 0, att * np.log(np.clip(att, 1e-12, None)), 0.0)
    entropy = qmean(-plogp.sum(-1))
    to_cls = qmean(att[..., 0])
    to_sep = qmean((att * sep_mask[:, None, None, :]).sum(-1))
    self_ = qmean(np.diagonal(att, axis1=2, axis2=3))
    if t > 1:
        sub = np.diagonal(att, offset=-1, axis1=2, axis2=3)  # A_i,i-1 for i = 1..T-1: [B, H, T-1]
        sup = np.diagonal(att, offset=1, axis1=2, axis2=3)  # A_i,i+1 for i = 0..T-2
        m1 = np.maximum(lengths.astype(np.float32) - 1, 1)[:, None]
        prev = qmean(sub, (pos[None, 1:] < lengths[:, None]).astype(np.float32), m1)
        nxt = qmean(sup, (pos[None, :-1] < lengths[:, None] - 1).astype(np.float32), m1)
    else:
        prev = nxt = np.zeros((b, h), dtype=np.float32)
    dist = qmean((att * np.abs(pos[:, None] - pos[None, :]).astype(np.float32)).sum(-1))
    return np.stack([entropy, to_cls, to_sep, self_, prev, nxt, dist], axis=-1).astype(np.float32)


# ------------------------------------------------------------------------------------------------------
# Grammatical structure
# ------------------------------------------------------------------------------------------------------

def structure_key(labels_a: list[str], labels_b: list[str] | None = None) -> str:
    """An item's grammatical structure: the dependency labels of its sentence(s), in order, ' | ' between the two
    sentences of a pair. Two items share a structure when their keys are equal."""
    a = " ".join(labels_a)
    return a if labels_b is None else f"{a} | {' '.join(labels_b)}"


def structure_vectors(items: list[tuple[list[str], list[str] | None]]) -> tuple[np.ndarray, list[str]]:
    """Count vectors of dependency labels: per item, the label counts of sentence a, then (pairs) of sentence b,
    concatenated, so a pair's vector keeps which sentence a label is in. Returns float64 [N, D] and the column
    names ('a:nsubj', ..., 'b:nsubj', ...)."""
    vocab = sorted({lab for a, b in items for lab in list(a) + list(b or [])})
    pairs = any(b is not None for _, b in items)
    cols = [f"a:{v}" for v in vocab] + ([f"b:{v}" for v in vocab] if pairs else [])
    where = {c: i for i, c in enumerate(cols)}
    out = np.zeros((len(items), len(cols)))
    for r, (a, b) in enumerate(items):
        for lab, c in Counter(a).items():
            out[r, where[f"a:{lab}"]] += c
        for lab, c in Counter(b or []).items():
            out[r, where[f"b:{lab}"]] += c
    return out, cols


def structure_similarity(items: list[tuple[list[str], list[str] | None]]) -> tuple[np.ndarray, str, int]:
    """The study's structure covariate: the most frequent structure (``structure_key``; ties: the one seen
    first), and each item's cosine similarity between its label-count vector and that structure's.

    Returns (similarity float64 [N], the most frequent key, how many items share it). An empty item has
    similarity 0."""
    keys = [structure_key(a, b) for a, b in items]
    counts = Counter(keys)
    top = max(counts, key=lambda k: (counts[k], -keys.index(k)))
    vecs, _ = structure_vectors(items)
    ref = vecs[keys.index(top)]
    norms = np.linalg.norm(vecs, axis=1) * np.linalg.norm(ref)
    sim = np.divide(vecs @ ref, norms, out=np.zeros(len(vecs)), where=norms > 0)
    return sim, top, counts[top]


# ------------------------------------------------------------------------------------------------------
# Clustering
# ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClusterSpec:
    """One clustering: an algorithm, k (ignored by DBSCAN) and its options.

    kmeans; agglomerative: linkage (ward needs euclidean) and metric; gmm: covariance; dbscan: eps (on
    standardised 2-D points) and min_samples; spectral: nearest-neighbour affinity."""

    algorithm: str
    k: int = 3
    linkage: str = "ward"
    metric: str = "euclidean"
    covariance: str = "full"
    eps: float = 0.3
    min_samples: int = 10

    def params(self) -> str:
        """The options that matter for this algorithm, as a short stable string."""
        if self.algorithm == "agglomerative":
            return f"linkage={self.linkage},metric={'euclidean' if self.linkage == 'ward' else self.metric}"
        if self.algorithm == "gmm":
            return f"covariance={self.covariance}"
        if self.algorithm == "dbscan":
            return f"eps={self.eps:g},min_samples={self.min_samples}"
        return ""


def cluster(x: np.ndarray, spec: ClusterSpec, seed: int = 0) -> np.ndarray:
    """Cluster labels (int [N], -1 = DBSCAN noise) of the standardised points ``x`` [N, d].

    On one thread: on a few thousand 2-D points a pool's start-up costs more than its threads save."""
    with limit_threads(1):
        return _cluster(x, spec, seed)


def _cluster(x: np.ndarray, spec: ClusterSpec, seed: int) -> np.ndarray:
    from sklearn.cluster import DBSCAN, AgglomerativeClustering, KMeans, SpectralClustering
    from sklearn.mixture import GaussianMixture

    z = standardise(x)
    n = len(z)
    k = max(1, min(int(spec.k), n))
    a = spec.algorithm
    if a == "kmeans":
        return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(z)
    if a == "agglomerative":
        metric = "euclidean" if spec.linkage == "ward" else spec.metric
        return AgglomerativeClustering(n_clusters=k, linkage=spec.linkage, metric=metric).fit_predict(z)
    if a == "gmm":
        return GaussianMixture(n_components=k, covariance_type=spec.covariance, random_state=seed,
                               reg_covar=1e-5).fit(z).predict(z)
    if a == "dbscan":
        return DBSCAN(eps=float(spec.eps), min_samples=int(spec.min_samples)).fit_predict(z)
    if a == "spectral":
        with warnings.catch_warnings():  # "graph is not fully connected": expected with separated groups
            warnings.simplefilter("ignore", UserWarning)
            return SpectralClustering(n_clusters=max(1, min(k, n - 1)), affinity="nearest_neighbors", n_neighbors=min(10, n - 1),
                                      random_state=seed, assign_labels="cluster_qr").fit_predict(z)
    raise ValueError(f"unknown clustering algorithm {a!r} (known: {', '.join(ALGORITHMS)})")


def cluster_metrics(x: np.ndarray, labels: np.ndarray, distances: np.ndarray | None = None) -> dict:
    """sklearn's silhouette (higher is better), Davies-Bouldin (lower) and Calinski-Harabasz (higher) of the
    standardised points, DBSCAN noise (-1) left out; NaN when fewer than 2 clusters (or every point its own).

    ``distances``: the [N, N] Euclidean distances of the standardised points, when the caller scores many
    labellings of the same points (the silhouette then reads them instead of computing them again)."""
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

    z = standardise(x)
    labels = np.asarray(labels)
    keep = labels >= 0
    z, lab = z[keep], labels[keep]
    n_clusters = len(np.unique(lab))
    out = {"n_points": int(len(labels)), "n_clusters": int(n_clusters), "n_noise": int((~keep).sum())}
    if n_clusters < 2 or n_clusters >= len(lab):
        return out | {m: float("nan") for m in METRICS}
    if distances is None:
        silhouette = silhouette_score(z, lab)
    else:
        d = distances if keep.all() else distances[np.ix_(keep, keep)]
        silhouette = silhouette_score(d, lab, metric="precomputed")
    return out | {"silhouette": float(silhouette),
                  "davies_bouldin": float(davies_bouldin_score(z, lab)),
                  "calinski_harabasz": float(calinski_harabasz_score(z, lab))}


def default_specs(algorithms=ALGORITHMS, k_min: int = 2, k_max: int = 8, eps_grid=(0.2, 0.3, 0.5),
                  linkages=("ward", "average"), covariances=("full", "diag")) -> list[ClusterSpec]:
    """The grid the stage scores per layer: every algorithm over k_min..k_max with a few options each."""
    specs = []
    for a in algorithms:
        if a == "dbscan":
            specs += [ClusterSpec("dbscan", 0, eps=e) for e in eps_grid]
            continue
        for k in range(k_min, k_max + 1):
            if a == "agglomerative":
                specs += [ClusterSpec(a, k, linkage=lk) for lk in linkages]
            elif a == "gmm":
                specs += [ClusterSpec(a, k, covariance=c) for c in covariances]
            else:
                specs.append(ClusterSpec(a, k))
    return specs


def quality_table(x: np.ndarray, specs: list[ClusterSpec], seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Every spec's metrics: DataFrame [algorithm, params, k, n_points, n_clusters, n_noise, silhouette, davies_bouldin,
    calinski_harabasz, rank, chosen] and the labels of each row (row index -> labels)."""
    from sklearn.metrics import pairwise_distances

    rows, labels = [], {}
    # k must leave at least two points per cluster on average (spectral clustering needs k < N outright)
    specs = [s for s in specs if s.algorithm == "dbscan" or 2 * int(s.k) <= len(x)]
    # every spec is scored on the same points: their distances once, not once per silhouette
    distances = pairwise_distances(standardise(x))
    for i, s in enumerate(specs):
        lab = cluster(x, s, seed)
        labels[i] = lab
        rows.append({"algorithm": s.algorithm, "params": s.params(), "k": int(s.k)}
                    | cluster_metrics(x, lab, distances))
    df = pd.DataFrame(rows)
    df["rank"] = consensus_rank(df)
    df["chosen"] = False
    if df["rank"].notna().any():
        df.loc[df["rank"].idxmin(), "chosen"] = True
    return df, labels


def consensus_rank(df: pd.DataFrame) -> pd.Series:
    """The metric consensus: the mean of each row's rank under silhouette (high best), Davies-Bouldin (low best)
    and Calinski-Harabasz (high best); lower is better. Rows with a missing metric, or one cluster, get NaN.
    DBSCAN rows with more than half the points as noise are left out (the study found DBSCAN's outliers
    were points that mattered)."""
    ok = df[list(METRICS)].notna().all(axis=1) & (df["n_clusters"] >= 2)
    if "n_noise" in df and "n_points" in df:
        ok &= ~(df["n_noise"] > 0.5 * df["n_points"])
    r = pd.Series(np.nan, index=df.index)
    if ok.any():
        sub = df[ok]
        r[ok] = (sub["silhouette"].rank(ascending=False) + sub["davies_bouldin"].rank(ascending=True)
                 + sub["calinski_harabasz"].rank(ascending=False)) / 3
    return r


# ------------------------------------------------------------------------------------------------------
# Tests across clusters
# ------------------------------------------------------------------------------------------------------

def group_tests(values: np.ndarray, labels: np.ndarray, min_size: int = 2) -> tuple[dict, pd.DataFrame]:
    """Kruskal-Wallis across the clusters and pairwise two-sided Mann-Whitney U (Holm-corrected) of one
    covariate. NaN values and DBSCAN noise (-1) are left out, as are clusters with fewer than ``min_size`` values.

    Returns ({n, n_clusters, kw_h, kw_p, eta2, mw_pairs, mw_significant, mw_min_p, mw_max_p}, pairs DataFrame
    [cluster_a, cluster_b, n_a, n_b, u, p, p_holm]). eta2 = (H - k + 1) / (n - k), the Kruskal-Wallis effect size
    (0: no difference; about 0.01 small, 0.06 medium, 0.14 large)."""
    values = np.asarray(values, dtype=np.float64)
    labels = np.asarray(labels)
    keep = ~np.isnan(values) & (labels >= 0)
    v, lab = values[keep], labels[keep]
    groups = {int(c): v[lab == c] for c in np.unique(lab)}
    groups = {c: g for c, g in groups.items() if len(g) >= min_size}
    n, k = int(sum(len(g) for g in groups.values())), len(groups)
    empty = pd.DataFrame(columns=["cluster_a", "cluster_b", "n_a", "n_b", "u", "p", "p_holm"])
    base = {"n": n, "n_clusters": k, "kw_h": np.nan, "kw_p": np.nan, "eta2": np.nan, "mw_pairs": 0,
            "mw_significant": 0, "mw_min_p": np.nan, "mw_max_p": np.nan}
    if k < 2 or len(np.unique(v[np.isin(lab, list(groups))])) < 2:
        return base, empty
    h, p = stats.kruskal(*groups.values())
    rows = []
    for a, b in itertools.combinations(sorted(groups), 2):
        u, pu = stats.mannwhitneyu(groups[a], groups[b], alternative="two-sided")
        rows.append({"cluster_a": a, "cluster_b": b, "n_a": len(groups[a]), "n_b": len(groups[b]),
                     "u": float(u), "p": float(pu)})
    pairs = pd.DataFrame(rows)
    pairs["p_holm"] = holm(pairs["p"].to_numpy())
    eta2 = (h - k + 1) / (n - k) if n > k else np.nan
    return base | {"kw_h": float(h), "kw_p": float(p), "eta2": float(eta2), "mw_pairs": len(pairs),
                   "mw_significant": int((pairs["p_holm"] < 0.05).sum()),
                   "mw_min_p": float(pairs["p_holm"].min()), "mw_max_p": float(pairs["p_holm"].max())}, pairs


def covariate_tests(covariates: pd.DataFrame, labels: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``group_tests`` for every covariate column present (``COVARIATES`` order): (one row per covariate,
    the pairwise rows with a covariate column)."""
    rows, pairs = [], []
    for c in COVARIATES:
        if c not in covariates or covariates[c].isna().all():
            continue
        summary, pw = group_tests(covariates[c].to_numpy(dtype=np.float64), labels)
        rows.append({"covariate": c} | summary)
        pairs.append(pw.assign(covariate=c))
    cols = ["covariate", "cluster_a", "cluster_b", "n_a", "n_b", "u", "p", "p_holm"]
    pw = pd.concat(pairs, ignore_index=True)[cols] if pairs else pd.DataFrame(columns=cols)
    return pd.DataFrame(rows), pw


# ------------------------------------------------------------------------------------------------------
# Plain statements from the numbers
# ------------------------------------------------------------------------------------------------------

ALPHA = 0.001  # "tracks": Kruskal-Wallis p below this ...
MIN_ETA2 = 0.06  # ... and at least a medium effect (eta2), since with ~1,400 points tiny effects are significant


def tracking_layers(tests: pd.DataFrame, covariate: str, alpha: float = ALPHA, min_eta2: float = MIN_ETA2) -> list[int]:
    """Layers whose clusters differ on ``covariate``: Kruskal-Wallis p < alpha and eta2 >= min_eta2."""
    t = tests[(tests["covariate"] == covariate) & (tests["kw_p"] < alpha) & (tests["eta2"] >= min_eta2)]
    return sorted(int(x) for x in t["layer"])


def _layers_text(layers: list[int]) -> str:
    return ", ".join(str(x) for x in layers) if layers else "none"


def statement(tests: pd.DataFrame, alpha: float = ALPHA, min_eta2: float = MIN_ETA2) -> str:
    """Which layers' clusters track each covariate, from a tests table [layer, covariate, kw_p, eta2]."""
    parts = []
    for c in COVARIATES:
        sub = tests[tests["covariate"] == c]
        if sub.empty or sub["eta2"].isna().all():
            continue
        best = sub.loc[sub["eta2"].idxmax()]
        parts.append(f"**{COVARIATE_LABELS[c]}**: layers {_layers_text(tracking_layers(tests, c, alpha, min_eta2))} "
                     f"(strongest: layer {int(best['layer'])}, eta² {best['eta2']:.3f}, p {best['kw_p']:.2g})")
    if not parts:
        return "No covariate could be tested (every cluster set is a single cluster, or no covariate varies)."
    return (f"Clusters track a covariate when Kruskal-Wallis p < {alpha:g} and eta² ≥ {min_eta2:g}. "
            + "; ".join(parts) + ".")


def study_check(tests: pd.DataFrame, n_blocks: int) -> pd.DataFrame:
    """The study's two findings (BERT-base, 12 blocks) checked on this run, in relative depth:

    - length drives the early layers: the length effect (eta2) is larger in the first half of the blocks than
      in the second half, and the strongest length layer is in the first half;
    - similarity shows around layers 6 and 8-10 of 12: some layer's clusters track the score
      (``tracking_layers``: p < ALPHA and eta2 >= MIN_ETA2) and the strongest score layer lies at relative
      depth >= 0.5 (block 6 of 12) and is not the first block.
    Returns [finding, holds, measured]."""
    rows = []
    half = n_blocks / 2
    ln = tests[tests["covariate"] == "length"].dropna(subset=["eta2"])
    if not ln.empty:
        early = ln[ln["layer"] <= half]["eta2"].mean()
        late = ln[ln["layer"] > half]["eta2"].mean()
        best = int(ln.loc[ln["eta2"].idxmax(), "layer"])
        rows.append({"finding": "length drives the early layers",
                     "holds": bool(early > late and best <= half),
                     "measured": f"mean eta² of length: first half {early:.3f}, second half {late:.3f}; "
                                 f"strongest layer {best} of {n_blocks}"})
    sc = tests[tests["covariate"] == "score"].dropna(subset=["eta2"])
    if not sc.empty:
        best = int(sc.loc[sc["eta2"].idxmax(), "layer"])
        tracked = tracking_layers(tests, "score")
        rows.append({"finding": "similarity is tracked around layers 6 and 8-10 of 12 (relative depth 0.5-0.83)",
                     "holds": bool(tracked and best / n_blocks >= 0.5 and best > 1),
                     "measured": f"strongest score layer {best} of {n_blocks} (relative depth "
                                 f"{best / n_blocks:.2f}, eta² {sc['eta2'].max():.3f}); layers with p < {ALPHA:g} "
                                 f"and eta² ≥ {MIN_ETA2:g}: {_layers_text(tracking_layers(tests, 'score'))}"})
    return pd.DataFrame(rows, columns=["finding", "holds", "measured"])


def in_ranges(values: np.ndarray, ranges: list[tuple[float, float]]) -> np.ndarray:
    """Which range (index into ``ranges``, inclusive bounds, first match) each value falls in; -1 for none."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full(len(values), -1)
    for i, (lo, hi) in reversed(list(enumerate(ranges))):
        out[(values >= lo) & (values <= hi)] = i
    return out


def parse_ranges(text: str) -> list[tuple[float, float]]:
    """'9-15, 20-22 / 60-81' or '0, 5' -> [(9, 15), (20, 22), (60, 81)] / [(0, 0), (5, 5)]. Raises ValueError."""
    out = []
    for part in text.replace("/", ",").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part[1:]:
            i = part.index("-", 1)
            lo, hi = float(part[:i]), float(part[i + 1:])
        else:
            lo = hi = float(part)
        if hi < lo:
            raise ValueError(f"range {part!r}: the end is below the start")
        out.append((lo, hi))
    return out
