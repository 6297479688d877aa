"""Monotonicity & locality page with AppTest on the small warehouse, checked by hand with numpy."""
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import warehouse
from analysis.drift import one_hot
from analysis.locality import locality

ROOT = Path(__file__).resolve().parent.parent


def _fetch(path, dataset):
    con = warehouse.connect_read_only(path)
    x = np.array(con.execute("select vec from activations where run_id = 'tiny' and layer = 2 and pooling = 'cls' "
                             "and dataset = ? order by sentence_id", [dataset]).df()["vec"].tolist())
    tokens = con.execute("select sentence_id, token, n from sentence_tokens where run_id = 'tiny' and dataset = ?",
                         [dataset]).df()
    con.close()
    return x, tokens


def test_fig6_table3_and_locality_match_hand_computation(monkeypatch, small_warehouse):
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(small_warehouse))
    at = AppTest.from_file(str(ROOT / "views" / "tokens.py"), default_timeout=60)
    at.query_params.update({"min_count": "2", "ds": "news,questions", "unit": "7", "k": "3"})
    at.run()
    assert not at.exception
    t3 = at.dataframe[0].value
    assert t3["datasets"].tolist() == ["news", "questions", "news + questions"]
    token = at.selectbox(key="mono_token").value
    # Fig. 6 by hand: sort by activation (ties to the lower id), 5 near-equal groups, count the token
    for dataset in ("news", "questions"):
        x, tokens = _fetch(small_warehouse, dataset)
        order = np.argsort(x[:, 7], kind="stable")
        per_sentence = tokens[tokens.token == token].set_index("sentence_id")["n"]
        expected = [int(per_sentence.reindex(group).fillna(0).sum()) for group in np.array_split(order, 5)]
        increasing = all(a < b for a, b in zip(expected, expected[1:]))
        decreasing = all(a > b for a, b in zip(expected, expected[1:]))
        label = "increasing" if increasing else "decreasing" if decreasing else "not monotonic"
        assert f"{dataset}: {label}" in at.caption[-1].value
    # locality of neuron 7 on the first dataset, independently from numpy's matrix
    x, _ = _fetch(small_warehouse, "news")
    expected_l = locality(x, one_hot(7, 32), k=3)["L"]
    assert any(f"Locality L = {expected_l:.3f}" in m.value for m in at.markdown)
    all_l = at.dataframe[-1].value.set_index("unit")["L"]
    assert all_l[7] == pytest.approx(expected_l)


def test_no_frequent_tokens_is_explained(monkeypatch, small_warehouse):
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(small_warehouse))
    at = AppTest.from_file(str(ROOT / "views" / "tokens.py"), default_timeout=60)
    at.query_params["min_count"] = "100000"
    at.run()
    assert not at.exception and "lower the threshold" in at.warning[0].value
