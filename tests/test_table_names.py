"""queries.table_names / has_tables: the pages' check for a study whose tables were never built."""
import duckdb

from warehouse import queries


def test_table_names_and_has_tables(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create table runs (run_id varchar)")
    con.execute("create table attention_layers (run_id varchar)")
    con.execute("create view not_a_table as select 1 as x")
    con.execute("create schema other")
    con.execute("create table other.sentiment_datasets (x int)")  # another schema: not the warehouse's
    assert queries.table_names(con) == ["attention_layers", "runs"]
    assert queries.has_tables(con, "attention_layers", "runs")
    assert queries.has_tables(con)
    assert not queries.has_tables(con, "sentiment_datasets", "runs")
    con.close()
