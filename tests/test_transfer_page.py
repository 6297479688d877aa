"""Explanation-transfer page with AppTest on the small warehouse: the examples shown are the stored explain half, the
scores equal sklearn's on the stored held-out examples, a layer the build did not sample is drawn as the stage
would, and a sentence is scored by the LLM judge (a stub server) when one is configured."""
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, recall_score
from streamlit.testing.v1 import AppTest

import warehouse
from analysis.illusion import concept_hits
from pipeline.stages.quantiles import block_rows
from tests.test_transfer import _Stub, stub_llm  # noqa: F401 (the fixture)

ROOT = Path(__file__).resolve().parent.parent


def _app(monkeypatch, path, **params) -> AppTest:
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(path))
    monkeypatch.setenv("ILLUSION_ANNOTATIONS", str(path.parent / "none.annotations.duckdb"))
    at = AppTest.from_file(str(ROOT / "views" / "transfer.py"), default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    return at


def _stored(path, unit, layer=2, pooling="cls"):
    con = warehouse.connect_read_only(path)
    ex = con.execute("select e.*, s.text from quantile_examples e join sentences s using (dataset, sentence_id) "
                     "where run_id = 'tiny' and layer = ? and pooling = ? and unit = ?", [layer, pooling, unit]).df()
    con.close()
    return ex


def _frame(at, *columns):
    return next(df.value for df in at.dataframe if set(columns) <= set(df.value.columns))


def test_transfer_table_equals_sklearn_on_the_stored_heldout_examples(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse, unit="5", ref="news", expl_kind="regex", expl="the|a").run()
    assert not at.exception and not at.error
    ex = _stored(small_warehouse, 5)
    shown = _frame(at, "text")  # the explain half of news, strongest quantile first
    mine = ex[(ex["dataset"] == "news") & ~ex["heldout"]]
    assert sorted(shown["sentence_id"]) == sorted(mine["sentence_id"])
    assert shown["quantile"].is_monotonic_decreasing
    table = _frame(at, "verdict").set_index("dataset")
    assert set(table.index) == {"news", "pairs", "questions"} and table.loc["news", "verdict"] == "reference"
    held = ex[ex["heldout"]]
    for d, g in held.groupby("dataset"):
        y, hit = (g["quantile"] > 0).to_numpy(), concept_hits(g["text"].tolist(), regex="the|a")
        assert table.loc[d, "f1"] == pytest.approx(f1_score(y, hit, zero_division=0))
        assert table.loc[d, "recall"] == pytest.approx(recall_score(y, hit, zero_division=0))
        assert table.loc[d, "drop"] == pytest.approx(table.loc[d, "f1"] - table.loc["news", "f1"])
    quantiles = _frame(at, "quantile", "n_non")
    assert quantiles["quantile"].between(1, 10).all()
    for row in quantiles.itertuples():  # one quantile's held-out examples against the non-activating ones
        g = held[(held["dataset"] == row.dataset) & held["quantile"].isin([0, row.quantile])]
        hit = concept_hits(g["text"].tolist(), regex="the|a")
        assert row.f1 == pytest.approx(f1_score(g["quantile"] > 0, hit, zero_division=0))
    assert any("Written on news" in m.value for m in at.markdown)
    assert len(at.get("download_button")) >= len(at.dataframe)
    assert at.query_params["expl"] == ["the|a"] or at.query_params["expl"] == "the|a"


def test_a_layer_not_stored_is_drawn_as_the_stage_draws_it(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse, layer="1", pooling="mean", unit="3", ref="pairs").run()
    assert not at.exception
    assert any("drawn here" in c.value for c in at.caption)
    con = warehouse.connect_read_only(small_warehouse)
    x = np.array(con.execute("select vec from activations where run_id = 'tiny' and layer = 1 and pooling = 'mean' "
                             "and dataset = 'pairs' order by sentence_id").df()["vec"].tolist(), dtype=np.float32)
    con.close()
    ex, _ = block_rows("tiny", 1, "mean", "pairs", x, np.arange(len(x)), 8, 80, 0)
    want = ex[(ex["unit"] == 3) & ~ex["heldout"]]
    shown = _frame(at, "text")
    assert sorted(shown["sentence_id"]) == sorted(want["sentence_id"])
    np.testing.assert_allclose(sorted(shown["value"]), sorted(want["value"]), rtol=1e-6)
    # a random direction has no stored sample either, and a bad regex is one error line
    at = _app(monkeypatch, small_warehouse, dir="random", seed="4", ref="news", expl_kind="regex", expl="(").run()
    assert not at.exception and len(at.error) == 1 and "invalid regex" in at.error[0].value


def test_a_sentence_is_scored_by_the_llm_judge(monkeypatch, small_warehouse, stub_llm):
    at = _app(monkeypatch, small_warehouse, unit="5", ref="news", expl_kind="sentence", expl="the things",
              judge="1").run()
    assert not at.exception and not at.error
    assert at.checkbox(key="transfer_judge").value
    assert _Stub.requests and _Stub.requests[0]["body"]["model"] == "stub-judge"
    table = _frame(at, "verdict").set_index("dataset")
    held = _stored(small_warehouse, 5).query("heldout")
    for d, g in held.groupby("dataset"):  # the stub says yes where the text has the explanation's first word
        hit = np.array(["the" in t.lower() for t in g["text"]])
        assert table.loc[d, "tp"] == ((g["quantile"] > 0).to_numpy() & hit).sum()
        assert table.loc[d, "f1"] == pytest.approx(f1_score(g["quantile"] > 0, hit, zero_division=0))


def test_an_annotation_pattern_is_an_explanation(monkeypatch, small_warehouse, tmp_path):
    import pandas as pd

    import annotations as store

    path = tmp_path / "a.annotations.duckdb"
    tasks = store.add_tasks(pd.DataFrame([{"run_id": "tiny", "layer": 2, "pooling": "cls", "dataset": "news",
                                           "condition": "neuron", "direction_id": "neuron:5",
                                           "sentence_ids": [0, 1, 2]}]), path)
    store.add_annotation(int(tasks["task_id"].iloc[0]), "ann", True, "sentences about the market", [0], path)
    at = _app(monkeypatch, small_warehouse, unit="5", ref="news", expl_kind="annotation")
    monkeypatch.setenv("ILLUSION_ANNOTATIONS", str(path))
    at.run()
    assert not at.exception and not at.error
    assert "sentences about the market" in at.selectbox(key="transfer_ann").options[0]
    table = _frame(at, "verdict").set_index("dataset")
    held = _stored(small_warehouse, 5).query("heldout")
    for d, g in held.groupby("dataset"):  # read as the keyword rule of its content word, "market"
        hit = concept_hits(g["text"].tolist(), keywords=["market"])
        assert table.loc[d, "f1"] == pytest.approx(f1_score(g["quantile"] > 0, hit, zero_division=0))
