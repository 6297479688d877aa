"""Appendix A of the illusion study on the drift page: top sentences with and without normalising the sentence
vectors, and their norms, against numpy computed here."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import warehouse
from analysis.drift import normalisation_effect

ROOT = Path(__file__).resolve().parent.parent


def test_normalisation_effect_by_hand():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 5)) * rng.uniform(0.2, 3.0, size=(40, 1))  # very different norms
    ds = np.array(["a"] * 25 + ["b"] * 15)
    overlap, norms = normalisation_effect(x, ds, 4)
    for name in ("a", "b"):
        block = x[ds == name]
        unit_len = block / np.linalg.norm(block, axis=1, keepdims=True)
        for u in range(5):
            a = set(np.argsort(-block[:, u], kind="stable")[:4])
            b = set(np.argsort(-unit_len[:, u], kind="stable")[:4])
            got = overlap[(overlap.dataset == name) & (overlap.unit == u)]["jaccard"].item()
            assert got == pytest.approx(len(a & b) / len(a | b))
        n = norms.set_index("dataset").loc[name]
        assert n["mean_norm"] == pytest.approx(np.linalg.norm(block, axis=1).mean())
        assert n["max_norm"] == pytest.approx(np.linalg.norm(block, axis=1).max()) and n["n"] == len(block)


def test_drift_page_shows_both_lists_and_the_norms(monkeypatch, small_warehouse):
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(small_warehouse))
    at = AppTest.from_file(str(ROOT / "views" / "drift.py"), default_timeout=60)
    at.query_params.update({"unit": "6", "k": "3", "layer": "2", "pooling": "cls"})
    at.session_state["drift_norm_open"] = True
    at.run()
    assert not at.exception
    sides = next(d.value for d in at.dataframe if "sentence_id_normalised" in d.value.columns)
    con = warehouse.connect_read_only(small_warehouse)
    x = np.stack(con.execute("select vec from activations where run_id = 'tiny' and layer = 2 and pooling = 'cls' "
                             "and dataset = 'news' order by sentence_id").df()["vec"]).astype(np.float64)
    con.close()
    unit_len = x / np.linalg.norm(x, axis=1, keepdims=True)
    news = sides[sides.dataset == "news"]
    assert news["sentence_id"].tolist() == np.argsort(-x[:, 6], kind="stable")[:3].tolist()
    assert news["sentence_id_normalised"].tolist() == np.argsort(-unit_len[:, 6], kind="stable")[:3].tolist()
    norms = next(d.value for d in at.dataframe if "mean_norm" in d.value.columns).set_index("dataset")
    assert norms.loc["news", "mean_norm"] == pytest.approx(np.linalg.norm(x, axis=1).mean(), rel=1e-5)
    assert any("share" in m.value and "Jaccard" in m.value for m in at.markdown)
