"""The outliers page's frames, as pure functions of the stored mean distances and top-k counts (the shares are
defined in analysis/outliers.py)."""
from __future__ import annotations

import pandas as pd

from analysis.outliers import n_outliers, outlier_shares

N_MOST_DISTANT = 20  # "the 20 most distant QQP sentences all have at least 11 top activations"


def counted(dist: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """Every sentence of ``dist`` with ``count``: how many neurons have it in their top-k (0 for none)."""
    df = dist.merge(members, on=["dataset", "sentence_id"], how="left")
    df["count"] = df["count"].fillna(0).astype(int)
    return df


def per_dataset(df: pd.DataFrame, fraction: float) -> tuple[pd.DataFrame, float]:
    """(outlier_shares per dataset with the 10% share, the unique top-k sentences and the smallest count among
    the N_MOST_DISTANT most distant sentences; the pooled share of the slots held by the outliers)."""
    per = outlier_shares(df["count"], df["mean_distance"], df["dataset"], fraction)
    share = float(per["outlier_slots"].sum() / per["slots"].sum())
    per10 = outlier_shares(df["count"], df["mean_distance"], df["dataset"], 0.10)
    far = df[df["distance_rank"] <= N_MOST_DISTANT].groupby("dataset")["count"].min()
    uniq = df[df["count"] > 0].groupby("dataset").size()
    per = per.assign(share_10pct=per10["share"].to_numpy(),
                     unique_topk_sentences=per["dataset"].map(uniq).fillna(0).astype(int).to_numpy(),
                     min_count_20_most_distant=per["dataset"].map(far).to_numpy())
    return per, share


def most_counted(df: pd.DataFrame, n: int = 100) -> pd.DataFrame:
    """The ``n`` sentences that are top-k for the most neurons."""
    return (df[df["count"] > 0]
            .sort_values(["count", "dataset", "sentence_id"], ascending=[False, True, True], kind="stable")
            [["count", "dataset", "sentence_id", "distance_rank", "sentences", "mean_distance", "text"]]
            .head(n).reset_index(drop=True))


def scatter(df: pd.DataFrame, per: pd.DataFrame, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """(every sentence that is top-k at least once, each dataset's outlier cut as a distance rank, the Spearman
    correlation of count with distance rank over those sentences)."""
    plot = df[df["count"] > 0][["dataset", "sentence_id", "count", "distance_rank", "sentences", "text"]]
    cut = pd.DataFrame({"dataset": per["dataset"], "distance_rank": [n_outliers(n, fraction) + 0.5
                                                                     for n in per["sentences"]]})
    rho = pd.Series(plot["count"]).corr(pd.Series(plot["distance_rank"]), method="spearman")
    return plot, cut, rho
