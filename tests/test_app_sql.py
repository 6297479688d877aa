"""SQL console page with AppTest on the small warehouse: deep link, hostile query, examples, Run.

Dataframes in page order: the schema browser's tables [0] and columns [1], then the result [-1].
"""
import json
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from warehouse import console

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def app(monkeypatch, small_warehouse):
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(small_warehouse))
    return AppTest.from_file(str(ROOT / "views" / "sql.py"), default_timeout=60)


def test_query_from_the_url_runs(app, small_warehouse):
    sql = "select dataset, count(*) as n from sentences group by dataset order by dataset"
    app.query_params["q"] = sql
    app.run()
    assert not app.exception and not app.error
    assert app.text_area(key="sql_text").value == sql
    con = duckdb.connect(str(small_warehouse), read_only=True)
    expected = con.execute(sql).fetchall()
    con.close()
    assert [tuple(r) for r in app.dataframe[-1].value.itertuples(index=False)] == expected
    assert any(b.label == "Download query.parquet" for b in app.get("download_button"))


def test_hostile_query_shows_one_error_and_the_page_stays_up(app, small_warehouse):
    app.query_params["q"] = "drop table meta"
    app.run()
    assert not app.exception
    assert len(app.error) == 1 and app.error[0].value.startswith("DROP is not allowed")
    # the editor still works: run a harmless query next
    app.text_area(key="sql_text").input("select 42 as answer")
    app.button[0].click().run()
    assert not app.exception and not app.error
    assert app.dataframe[-1].value["answer"].tolist() == [42]
    assert app.query_params["q"] == "select 42 as answer"
    con = duckdb.connect(str(small_warehouse), read_only=True)
    assert con.execute("select count(*) from meta").fetchone()[0] > 0
    con.close()


def test_example_selector_fills_the_editor(app):
    app.run()
    assert not app.exception
    title = "Sentences per dataset"
    app.selectbox(key="sql_example").set_value(title).run()
    assert app.text_area(key="sql_text").value == console.examples()[title]
    assert "q" not in app.query_params  # filling the editor does not run anything
    app.button[0].click().run()
    assert not app.exception and not app.error
    shown = app.dataframe[-1].value
    assert shown["dataset"].tolist() == ["news", "pairs", "questions"]
    assert shown["n_sentences"].tolist() == [24, 16, 24]


def test_schema_browser_shows_tables_and_columns(app):
    app.run()
    tables = app.dataframe[0].value
    assert {"meta", "sentences", "activations", "neuron_topk"} <= set(tables["table_name"])
    assert tables.set_index("table_name").loc["sentences", "rows"] == 64
    app.selectbox(key="schema_table").set_value("activations").run()
    columns = app.dataframe[1].value
    assert "vec" in columns["column_name"].tolist()
    assert "vec[u + 1]" in columns.set_index("column_name").loc["vec", "comment"]


def test_truncation_is_reported_and_chart_draws(app):
    app.query_params["q"] = 'select range as i, range * range as "i squared" from range(20000)'
    app.run()
    assert not app.exception
    assert len(app.dataframe[-1].value) == console.MAX_ROWS
    assert any("Showing the first 10,000 rows" in w.value for w in app.warning)
    app.toggle(key="sql_chart").set_value(True).run()
    app.selectbox(key="chart_y").set_value("i squared").run()
    app.radio(key="chart_mark").set_value("point").run()
    assert not app.exception
    (chart,) = app.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    assert spec["mark"]["type"] == "point"
    assert (spec["encoding"]["x"]["title"], spec["encoding"]["y"]["title"]) == ("i", "i squared")
    assert spec["encoding"]["y"]["type"] == "quantitative"
