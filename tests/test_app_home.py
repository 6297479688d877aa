"""Home page with Streamlit's AppTest against a small warehouse built by the real pipeline (tiny model)."""
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

import warehouse

ROOT = Path(__file__).resolve().parent.parent


def _app(monkeypatch, path) -> AppTest:
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(path))
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)


def test_home_shows_run_and_datasets(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse).run()
    assert not at.exception
    con = duckdb.connect(str(small_warehouse), read_only=True)
    expected = dict(con.execute("select dataset, n_sentences from datasets").fetchall())
    run = con.execute("select n_layers, hidden_size from runs").fetchone()
    con.close()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Layers stored"] == str(run[0])
    assert metrics["Hidden size"] == str(run[1])
    shown = at.dataframe[0].value
    assert dict(zip(shown["dataset"], shown["n_sentences"])) == expected
    # one expander of examples per dataset
    assert {e.label for e in at.expander} >= set(expected)
    # every table has a CSV download next to it
    assert len(at.get("download_button")) >= len(at.dataframe)
    # the selection is in the URL: the last layer and the first pooling by default
    assert at.query_params["run"] == ["tiny"] or at.query_params["run"] == "tiny"


def test_url_reproduces_the_selection(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse)
    at.query_params["layer"] = "1"
    at.query_params["pooling"] = "mean"
    at.run()
    assert not at.exception
    assert at.selectbox(key="sel_run").value == "tiny"
    # the home page shows no layer or pooling box, and leaves the URL's for the next page
    assert {s.label for s in at.selectbox} == {"Model run"}
    assert at.query_params["layer"] in ("1", ["1"]) and at.query_params["pooling"] in ("mean", ["mean"])


def test_sentence_search(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse).run()
    con = duckdb.connect(str(small_warehouse), read_only=True)
    word = con.execute("select split_part(text, ' ', 2) from sentences limit 1").fetchone()[0]
    n = con.execute("select count(*) from sentences where contains(lower(text), lower(?))", [word]).fetchone()[0]
    con.close()
    at.text_input(key="search_q").input(word).run()
    assert not at.exception
    hits = [df.value for df in at.dataframe if "sentence_id" in df.value.columns and "text" in df.value.columns]
    assert len(hits) == 1 and len(hits[0]) == n and n > 0
    assert all(word.lower() in t.lower() for t in hits[0]["text"])


def test_no_warehouse_says_how_to_build(monkeypatch, tmp_path):
    at = _app(monkeypatch, tmp_path / "missing.duckdb").run()
    assert not at.exception
    assert "No warehouse" in at.error[0].value
    assert any("pipeline build --preset demo" in m.value for m in at.markdown)


def test_unknown_schema_version_is_refused(monkeypatch, tmp_path):
    path = tmp_path / "future.duckdb"
    con = duckdb.connect(str(path))
    warehouse.create_schema(con)
    con.execute("update meta set value = '999' where key = 'schema_version'")
    con.close()
    at = _app(monkeypatch, path).run()
    assert not at.exception
    assert "schema version 999" in at.error[0].value
    assert f"reads version {warehouse.SCHEMA_VERSION}" in at.error[0].value
