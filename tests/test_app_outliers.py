"""Outliers page (paper Section 5.2.2) with AppTest on the small warehouse, checked against numpy by hand."""
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from streamlit.testing.v1 import AppTest

import warehouse

ROOT = Path(__file__).resolve().parent.parent


def _layer(path, layer=2, pooling="cls"):
    con = warehouse.connect_read_only(path)
    df = con.execute("select dataset, sentence_id, vec from activations where run_id = 'tiny' and layer = ? "
                     "and pooling = ? order by dataset, sentence_id", [layer, pooling]).df()
    con.close()
    return np.array(df["vec"].tolist(), dtype=np.float64), df


def _by_hand(x, df, k):
    """{(dataset, sentence_id): count} from argsort per unit per dataset; share of slots of the most distant 1%."""
    counts, slots, outlier_slots, ranks = {}, 0, 0, {}
    for name, group in df.groupby("dataset"):
        xd = x[group.index.to_numpy()]
        ids = group["sentence_id"].to_numpy()
        c = np.zeros(len(xd), dtype=int)
        for u in range(xd.shape[1]):
            c[np.argsort(-xd[:, u], kind="stable")[:k]] += 1
        counts.update({(name, int(i)): int(n) for i, n in zip(ids, c)})
        mean = cdist(xd, xd).sum(axis=1) / (len(xd) - 1)
        order = np.argsort(-mean, kind="stable")
        ranks.update({(name, int(ids[j])): r + 1 for r, j in enumerate(order)})
        n_out = max(1, math.ceil(0.01 * len(xd)))
        slots += c.sum()
        outlier_slots += c[order[:n_out]].sum()
    return counts, ranks, outlier_slots / slots


def _app(small_warehouse, monkeypatch, **params):
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(small_warehouse))
    at = AppTest.from_file(str(ROOT / "views" / "outliers.py"), default_timeout=60)
    at.query_params.update(params)
    at.run()
    return at


@pytest.mark.parametrize("k", [3, 5])
def test_outliers_page_counts_and_share_by_hand(monkeypatch, small_warehouse, k):
    at = _app(small_warehouse, monkeypatch, layer="2", pooling="cls", k=str(k))
    assert not at.exception and not at.error
    x, df = _layer(small_warehouse)
    counts, ranks, share = _by_hand(x, df, k)

    top = at.dataframe[1].value
    assert top["count"].iloc[0] == max(counts.values())
    for _, row in top.iterrows():
        assert row["count"] == counts[(row["dataset"], row["sentence_id"])]
        assert row["distance_rank"] == ranks[(row["dataset"], row["sentence_id"])]
    assert top["count"].is_monotonic_decreasing
    assert len(top) == sum(1 for c in counts.values() if c > 0)  # < 100 here: every top-k sentence shown

    per = at.dataframe[0].value
    assert per["slots"].tolist() == [32 * k] * 3
    assert per["outlier_slots"].sum() / per["slots"].sum() == pytest.approx(share)
    metric = next(m for m in at.metric if "most distant 1%" in m.label)
    assert metric.value == f"{share:.1%}"
    assert any("48%" in m.value for m in at.markdown)
    assert dict(at.query_params)["k"] in ([str(k)], str(k))


def test_outliers_page_one_dataset_and_k_beyond_stored(monkeypatch, small_warehouse):
    # the warehouse stores top 5: a larger k in the URL falls back to min(10, 5)
    at = _app(small_warehouse, monkeypatch, layer="2", pooling="cls", ds="news", k="40")
    assert not at.exception and not at.error
    per = at.dataframe[0].value
    assert per["dataset"].tolist() == ["news"] and per["slots"].tolist() == [32 * 5]
    x, df = _layer(small_warehouse)
    news = df[df["dataset"] == "news"]
    counts, _, share = _by_hand(x[news.index.to_numpy()], news.reset_index(drop=True), 5)
    assert at.dataframe[1].value["count"].iloc[0] == max(counts.values())
    assert per["share"].iloc[0] == pytest.approx(share)
