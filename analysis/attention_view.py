"""The attention-clusters page's frames, as pure functions of the stored tables (analysis/attention.py has the
clustering and the tests): which 2-D coordinates a feature set uses, cluster and highlight labels, the
Table-5 pivot of the stored tests and the per-layer summaries."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.attention import in_ranges

XY = {"summary": ("sx", "sy"), "autoencoder": ("ax", "ay")}
TESTS = ("kw_p", "eta2", "mw_min_p")


def coordinates(points: pd.DataFrame, feature_set: str) -> tuple[tuple[str, str], np.ndarray]:
    """(the two columns of ``points`` that hold the feature set's 2-D reduction, those columns as float64 [n, 2])."""
    cols = XY[feature_set]
    return cols, points[list(cols)].to_numpy(dtype=np.float64)


def covariates(has_score: bool, has_structure: bool) -> list[str]:
    """The covariates a dataset can be tested on, in the page's order."""
    covs = ["score", "length", "structure"] if has_score else ["length", "structure"]
    return covs if has_structure else [c for c in covs if c != "structure"]


def cluster_names(labels: np.ndarray) -> np.ndarray:
    """Each item's cluster as text ("0", "1", ...; "noise" for DBSCAN's -1)."""
    labels = np.asarray(labels)
    return np.where(labels < 0, "noise", labels.astype(str))


def cluster_order(names) -> tuple[str, ...]:
    """The distinct cluster names in numeric order, noise last."""
    return tuple(sorted(set(names), key=lambda c: (c == "noise", len(c), c)))


def highlight(values: np.ndarray, ranges: list[tuple[float, float]]) -> tuple[list[str], list[str]]:
    """(each value's range as "lo–hi" or "other", every label in legend order)."""
    which = in_ranges(np.asarray(values, dtype=np.float64), ranges)
    labels = [f"{ranges[i][0]:g}–{ranges[i][1]:g}" if i >= 0 else "other" for i in which]
    return labels, [f"{lo:g}–{hi:g}" for lo, hi in ranges] + ["other"]


def highlight_counts(points: pd.DataFrame) -> list[tuple[str, list[tuple[str, int]]]]:
    """[(highlight, [(cluster, items), ...])] for every highlighted range (not "other"), empty clusters left out."""
    counts = points.groupby(["highlight", "cluster"]).size().unstack(fill_value=0)
    return [(h, [(c, int(n)) for c, n in row.items() if n]) for h, row in counts.iterrows() if h != "other"]


def spearman_pairs(points: pd.DataFrame, covs: list[str]) -> list[tuple[str, str, float]]:
    """Spearman's rho of every pair of covariates, (a, b, rho) in the order of ``covs``."""
    rho = points[covs].corr(method="spearman")
    return [(a, b, float(rho.loc[a, b])) for i, a in enumerate(covs) for b in covs[i + 1:]]


def table5(tests: pd.DataFrame, covs: list[str]) -> pd.DataFrame:
    """One row per layer, columns "<covariate> <test>" for kw_p, eta2 and mw_min_p of each covariate in ``covs``
    (the study's Table 5) from the stored tests of one feature set."""
    pivot = tests.pivot_table(index="layer", columns="covariate", values=list(TESTS)).sort_index()
    pivot.columns = [f"{c} {v}" for v, c in pivot.columns]
    keep = [f"{c} {v}" for c in covs for v in TESTS if f"{c} {v}" in pivot.columns]
    return pivot.reset_index()[["layer"] + keep]


def eta_by_layer(tests: pd.DataFrame) -> pd.DataFrame:
    """Long frame (layer, covariate, eta2): the Kruskal-Wallis effect size of each layer and covariate."""
    return tests.pivot_table(index="layer", columns="covariate", values="eta2").reset_index().melt(
        id_vars="layer", var_name="covariate", value_name="eta2")


def best_per_algorithm(quality: pd.DataFrame, feature_set: str) -> pd.DataFrame:
    """The best-ranked clustering of each algorithm at each layer, by layer then rank."""
    ranked = quality[quality["feature_set"] == feature_set].dropna(subset=["rank"]).sort_values("rank")
    return ranked.groupby(["layer", "algorithm"]).head(1).sort_values(["layer", "rank"])


def best_heads(heads: pd.DataFrame) -> list[tuple[str, pd.Series, float | None]]:
    """Per dataset: (dataset, the regression head with the highest Pearson r, the [CLS] head's r when [CLS] is
    not the best, else None)."""
    out = []
    for ds, g in heads.groupby("dataset"):
        top = g.loc[g["pearson"].idxmax()]
        cls = g[g["head"] == "cls"]
        out.append((ds, top, float(cls["pearson"].iloc[0]) if not cls.empty and top["head"] != "cls" else None))
    return out


def encoder_sentence(info, model_name: str) -> str:
    """The page's plain statement of which encoder a dataset's attention came from. ``info``: a row of
    attention_datasets (encoder, encoder_epochs, encoder_n_train, encoder_n_test, encoder_losses,
    encoder_pearson)."""
    if info["encoder"] != "finetuned":
        return (f"Attention from the **pretrained** encoder ({model_name}, as loaded; not fine-tuned on this "
                "dataset, unlike the study, whose BERT was fine-tuned on STS-B: `attention.finetune_epochs` does "
                "that).")
    losses = [float(x) for x in info["encoder_losses"]]
    return (f"Attention from a **fine-tuned** copy of {model_name}: trained with the [CLS] regression head on "
            f"{int(info['encoder_n_train']):,} train pairs for {int(info['encoder_epochs'])} epoch(s), as in the "
            f"study (train MSE on standardised scores {' → '.join(f'{x:.3f}' for x in losses)}; the head's "
            f"Pearson r on the {int(info['encoder_n_test']):,} test pairs: {float(info['encoder_pearson']):.3f}).")
