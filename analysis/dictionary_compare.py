"""Are a dictionary's features more robust across datasets than the neurons of the layer they read, and than
random directions of that layer? Pure functions over stored top-set consistencies (analysis.illusion_null)."""
from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES, NEURONS, RANDOM = "dictionary features", "neurons", "random directions"
GROUPS = (FEATURES, NEURONS, RANDOM)


SCORES = ("consistency", "z_null")


def compare_groups(values: pd.DataFrame, alpha: float = 0.05, score: str = "consistency") -> pd.DataFrame:
    """One row per comparison of the features with another group (neurons, random directions) in ``values``
    (columns what and ``score``: consistency, or z_null, each against its own space's random directions;
    non-finite values left out): n of each, medians, the Mann-Whitney U of the
    features (scipy.stats.mannwhitneyu, two-sided and both one-sided p-values), the probability that a random
    feature beats a random member of the other group (U / (n_features n_other)), and a plain verdict at
    ``alpha``. A group with fewer than 2 finite values gives NaN tests and says so."""
    from scipy.stats import mannwhitneyu

    finite = values[np.isfinite(values[score].to_numpy(dtype=np.float64))]
    feats = finite.loc[finite["what"] == FEATURES, score].to_numpy(dtype=np.float64)
    rows = []
    for other in (NEURONS, RANDOM):
        them = finite.loc[finite["what"] == other, score].to_numpy(dtype=np.float64)
        row = {"comparison": f"{FEATURES} vs {other}", "score": score, "n_features": len(feats), "n_other": len(them),
               "median_features": float(np.median(feats)) if len(feats) else np.nan,
               "median_other": float(np.median(them)) if len(them) else np.nan}
        if len(feats) >= 2 and len(them) >= 2:
            two = mannwhitneyu(feats, them, alternative="two-sided")
            greater = mannwhitneyu(feats, them, alternative="greater")
            less = mannwhitneyu(feats, them, alternative="less")
            row.update(u=float(two.statistic), p_two_sided=float(two.pvalue), p_greater=float(greater.pvalue),
                       p_less=float(less.pvalue), prob_superiority=float(two.statistic) / (len(feats) * len(them)))
        else:
            row.update(u=np.nan, p_two_sided=np.nan, p_greater=np.nan, p_less=np.nan, prob_superiority=np.nan)
        row["verdict"] = verdict(row, other, alpha)
        rows.append(row)
    return pd.DataFrame(rows)


def verdict(row: dict, other: str, alpha: float = 0.05) -> str:
    """The comparison in one sentence, whichever way it comes out."""
    if not np.isfinite(row["p_two_sided"]):
        return f"Too few finite scores to compare the features with the {other}."
    med = f"median {row['score']} {row['median_features']:.3f} vs {row['median_other']:.3f}"
    if row["p_greater"] < alpha:
        return (f"Dictionary features are more consistent across datasets than {other} ({med}; one-sided "
                f"Mann-Whitney p = {row['p_greater']:.2g}).")
    if row["p_less"] < alpha:
        return (f"Dictionary features are less consistent across datasets than {other} ({med}; one-sided "
                f"Mann-Whitney p = {row['p_less']:.2g}): they are not more robust.")
    return (f"Dictionary features are not measurably more (or less) consistent across datasets than {other} "
            f"({med}; two-sided Mann-Whitney p = {row['p_two_sided']:.2g}).")
