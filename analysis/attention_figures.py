"""The attention study's whole-dataset distributions (its Figs. 3 and 4: gold scores and WordPiece lengths as box
plots) and the five clusterings of one layer side by side. Pure functions of the stored tables."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analysis.attention import ALGORITHMS, ClusterSpec, cluster


def box_summary(values) -> dict:
    """The Tukey box plot of ``values`` (NaN dropped), as Vega-Lite's ``mark_boxplot(extent=1.5)`` draws it:
    n, mean, min, q1, median, q3, max (quartiles by linear interpolation), iqr, the whiskers (the most extreme
    values within 1.5 IQR of the box), the points beyond them on each side, and the sample skewness (Fisher-Pearson,
    biased: > 0 a long right tail)."""
    x = np.asarray(values, dtype=np.float64)
    x = np.sort(x[~np.isnan(x)])
    if not len(x):
        return {"n": 0}
    q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    iqr = q3 - q1
    inside = x[(x >= q1 - 1.5 * iqr) & (x <= q3 + 1.5 * iqr)]
    lo, hi = float(inside.min()), float(inside.max())
    return {"n": int(len(x)), "mean": float(x.mean()), "min": float(x[0]), "q1": float(q1), "median": float(med),
            "q3": float(q3), "max": float(x[-1]), "iqr": float(iqr), "whisker_low": lo, "whisker_high": hi,
            "outliers_low": int((x < lo).sum()), "outliers_high": int((x > hi).sum()),
            "skewness": float(stats.skew(x)) if len(x) > 2 and x[0] != x[-1] else float("nan")}


def dataset_distributions(items: pd.DataFrame, covariates: dict) -> pd.DataFrame:
    """One row per covariate (name -> label) of ``items``: its box_summary over the whole dataset."""
    rows = [{"covariate": c, "label": label} | box_summary(items[c]) for c, label in covariates.items()]
    return pd.DataFrame([r for r in rows if r["n"]])


def beyond_whiskers(values, summary: dict) -> pd.DataFrame:
    """(value) of every point outside ``summary``'s whiskers, the box plot's outlier dots."""
    x = pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(dtype=np.float64)
    return pd.DataFrame({"value": x[(x < summary["whisker_low"]) | (x > summary["whisker_high"])]})


def skew_words(skewness: float) -> str:
    """A box plot's skew in words (|skewness| < 0.1: about symmetric)."""
    if not np.isfinite(skewness):
        return "no spread"
    if abs(skewness) < 0.1:
        return "about symmetric"
    return "right (positive) skew: a long tail of high values" if skewness > 0 else \
        "left (negative) skew: a long tail of low values"


def spec_of(algorithm: str, params: str, k: int) -> ClusterSpec:
    """The ClusterSpec of a stored attention_quality row (its ``params`` as ClusterSpec.params() wrote them)."""
    opts = dict(p.split("=", 1) for p in params.split(",") if p) if params else {}
    cast = {"eps": float, "min_samples": int}
    return ClusterSpec(algorithm, int(k), **{key: cast.get(key, str)(v) for key, v in opts.items()})


def best_of_each(quality: pd.DataFrame, layer: int, feature_set: str) -> pd.DataFrame:
    """Per algorithm (ALGORITHMS order), the stored clustering of ``layer`` and ``feature_set`` with the lowest
    consensus rank; an algorithm with no ranked row (e.g. DBSCAN leaving most points as noise) gives its best
    silhouette instead; ties go to the first options in text order."""
    q = quality[(quality["layer"] == layer) & (quality["feature_set"] == feature_set)]
    q = q.assign(_neg_sil=-q["silhouette"]).sort_values(["rank", "_neg_sil", "params", "k"], na_position="last",
                                                        kind="stable")
    out = [q[q["algorithm"] == a].iloc[0] for a in ALGORITHMS if (q["algorithm"] == a).any()]
    return pd.DataFrame(out).drop(columns="_neg_sil").reset_index(drop=True)


def small_multiples(points: pd.DataFrame, xy: np.ndarray, best: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Long frame (algorithm, title, sentence_id, x, y, cluster) of every row of ``best`` clustered live on the 2-D
    points ``xy`` (the labels the stage scored: same function, same seed); "noise" for DBSCAN's -1."""
    parts = []
    for r in best.itertuples():
        lab = cluster(xy, spec_of(r.algorithm, r.params, r.k), seed)
        title = f"{r.algorithm} k={int(r.n_clusters)}" + (f" ({r.params})" if r.params else "")
        parts.append(pd.DataFrame({"algorithm": r.algorithm, "title": title, "sentence_id": points["sentence_id"],
                                   "x": xy[:, 0], "y": xy[:, 1],
                                   "cluster": np.where(lab < 0, "noise", lab.astype(str))}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["algorithm", "title", "sentence_id", "x", "y", "cluster"])
