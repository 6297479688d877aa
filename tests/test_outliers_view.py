"""The outliers page's frames (analysis/outliers_view.py) against plain counting and scipy."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import outliers_view as ov


def _frames(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for ds, n in (("a", 120), ("b", 80)):
        d = rng.uniform(1, 10, n)
        rank = (-d).argsort().argsort() + 1
        for i in range(n):
            rows.append({"dataset": ds, "sentence_id": i, "mean_distance": d[i], "distance_rank": int(rank[i]),
                         "sentences": n, "text": f"{ds}{i}"})
    dist = pd.DataFrame(rows)
    members = dist.sample(60, random_state=seed)[["dataset", "sentence_id"]].assign(
        count=rng.integers(1, 12, 60))
    return dist, members


def test_counted_fills_zero():
    dist, members = _frames()
    df = ov.counted(dist, members)
    assert len(df) == len(dist) and df["count"].dtype.kind == "i"
    assert int(df["count"].sum()) == int(members["count"].sum()) and (df["count"] == 0).sum() == len(dist) - 60


def test_pooled_share_by_hand():
    dist, members = _frames()
    df = ov.counted(dist, members)
    per, share = ov.per_dataset(df, 0.05)
    held = total = 0
    for ds, g in df.groupby("dataset"):
        n_out = max(1, math.ceil(0.05 * len(g)))
        far = g.sort_values("mean_distance", ascending=False).head(n_out)
        held += far["count"].sum()
        total += g["count"].sum()
    slots_total = per["slots"].sum()
    assert per["outlier_slots"].sum() == held
    assert share == pytest.approx(held / slots_total)
    for ds, g in df.groupby("dataset"):
        row = per[per["dataset"] == ds].iloc[0]
        assert row["unique_topk_sentences"] == int((g["count"] > 0).sum())
        assert row["min_count_20_most_distant"] == g[g["distance_rank"] <= 20]["count"].min()


def test_most_counted_and_scatter():
    dist, members = _frames(1)
    df = ov.counted(dist, members)
    top = ov.most_counted(df, n=10)
    assert len(top) == 10 and top["count"].is_monotonic_decreasing
    assert top["count"].iloc[0] == members["count"].max()
    per, _ = ov.per_dataset(df, 0.01)
    plot, cut, rho = ov.scatter(df, per, 0.01)
    assert len(plot) == 60 and (plot["count"] > 0).all()
    assert rho == pytest.approx(stats.spearmanr(plot["count"], plot["distance_rank"]).statistic)
    assert cut.set_index("dataset")["distance_rank"].to_dict() == {"a": 2.5, "b": 1.5}
