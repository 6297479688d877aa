"""The study's outlier check (Bolukbasi et al. 2021, 5.2.2) as a switch: the drift and illusion-score pages with
each dataset's most distant 1% or 10% of sentences left out, against numpy/scipy distances computed here."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy.spatial.distance import cdist
from streamlit.testing.v1 import AppTest

import warehouse
from analysis.illusion import illusion_scores

ROOT = Path(__file__).resolve().parent.parent
LAYER, POOLING = 2, "cls"


def _vectors(path):
    con = warehouse.connect_read_only(path)
    try:
        df = con.execute("select dataset, sentence_id, vec from activations where run_id = 'tiny' and layer = ? and "
                         "pooling = ? order by dataset, sentence_id", [LAYER, POOLING]).df()
    finally:
        con.close()
    return df


def _kept(df, drop: int):
    """Rows kept after leaving out each dataset's ceil(drop% x n) sentences of largest mean distance (scipy)."""
    keep = np.ones(len(df), dtype=bool)
    for _, idx in df.groupby("dataset").indices.items():
        x = np.stack(df["vec"].iloc[idx]).astype(np.float64)
        d = cdist(x, x)
        mean = d.sum(1) / (len(x) - 1)
        n_out = math.ceil(drop / 100 * len(x))
        order = np.lexsort((df["sentence_id"].iloc[idx].to_numpy(), -mean))  # most distant first, ties: lower id
        keep[idx[order[:n_out]]] = False
    return keep


def _app(monkeypatch, path, page, **params):
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(path))
    at = AppTest.from_file(str(ROOT / "views" / page), default_timeout=90)
    at.query_params.update({"layer": str(LAYER), "pooling": POOLING, **params})
    return at.run()


def test_drift_lists_leave_out_the_most_distant_sentences(monkeypatch, small_warehouse):
    df = _vectors(small_warehouse)
    kept = df[_kept(df, 10)]
    at = _app(monkeypatch, small_warehouse, "drift.py", unit="4", k="3", drop="10")
    assert not at.exception
    top = next(d.value for d in at.dataframe if "rank" in d.value.columns)
    for dataset, part in kept.groupby("dataset"):
        x = np.stack(part["vec"])[:, 4]
        want = part["sentence_id"].to_numpy()[np.argsort(-x, kind="stable")[:3]]
        assert top[top.dataset == dataset]["sentence_id"].tolist() == want.tolist()
    left_out = set(zip(df[~_kept(df, 10)]["dataset"], df[~_kept(df, 10)]["sentence_id"]))
    assert left_out and not left_out & set(zip(top["dataset"], top["sentence_id"]))
    assert any("most distant 10% left out" in h.value for h in at.subheader)
    assert at.query_params["drop"] in (["10"], "10")


def test_illusion_scores_leave_out_the_most_distant_sentences(monkeypatch, small_warehouse):
    df = _vectors(small_warehouse)
    keep = _kept(df, 1)
    x, ds = np.stack(df["vec"][keep]).astype(np.float32), df["dataset"][keep].to_numpy()
    want = illusion_scores(x, ds, k=5).set_index("unit")["consistency"]
    at = _app(monkeypatch, small_warehouse, "illusion.py", k="5", drop="1")
    assert not at.exception
    full = max((d.value for d in at.dataframe if "consistency" in d.value.columns), key=len)
    assert len(full) == 32
    got = full.set_index("unit")["consistency"]
    np.testing.assert_allclose(got.sort_index().to_numpy(), want.sort_index().to_numpy(), rtol=1e-5, atol=1e-6)
    assert (~keep).sum() == df["dataset"].nunique()  # ceil(1% of n) = 1 sentence per small dataset
