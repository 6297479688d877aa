"""The SQL console's safety layers and results (warehouse/console.py) on the small warehouse."""
import re
import time

import duckdb
import numpy as np
import pandas as pd
import pytest

import warehouse
from warehouse import console


@pytest.fixture(scope="module")
def con(small_warehouse):
    c = console.connect(small_warehouse)
    yield c
    c.close()


def refused(con, sql, **kw) -> str:
    """Run ``sql`` through the console, expect a ConsoleError and return its (one-line) message."""
    with pytest.raises(console.ConsoleError) as info:
        console.run_query(con, sql, **kw)
    message = str(info.value)
    assert message and "\n" not in message
    return message


def meta_rows(path) -> int:
    c = duckdb.connect(str(path), read_only=True)
    try:
        return c.execute("select count(*) from meta").fetchone()[0]
    finally:
        c.close()


# ---------------------------------------------------------------------------------------------------------
# Hostile input through the console (allow-list first, the connection behind it)
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sql, keyword", [
    ("ATTACH ':memory:' AS m", "ATTACH"),
    ("INSTALL httpfs", "INSTALL"),
    ("LOAD httpfs", "LOAD"),
    ("SET enable_external_access = true", "SET"),
    ("RESET enable_external_access", "RESET"),
    ("SET lock_configuration = false", "SET"),
    ("SET VARIABLE x = 1", "SET"),
    ("PRAGMA database_list", "PRAGMA"),  # every PRAGMA is refused: some of them change settings
    ("CREATE TABLE t(x int)", "CREATE"),
    ("INSERT INTO meta VALUES ('a', 'b')", "INSERT"),
    ("UPDATE meta SET value = 'x'", "UPDATE"),
    ("DELETE FROM meta", "DELETE"),
    ("DROP TABLE meta", "DROP"),
    ("DETACH warehouse", "DETACH"),
    ("CALL pragma_version()", "CALL"),
    ("CHECKPOINT", "CHECKPOINT"),
    ("BEGIN TRANSACTION", "BEGIN"),
    ("USE memory", "USE"),
    ("EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1", "EXPLAIN"),  # EXPLAIN ANALYZE runs what it explains
])
def test_non_select_statements_are_refused(con, small_warehouse, sql, keyword):
    message = refused(con, sql)
    assert message.startswith(f"{keyword} is not allowed")
    assert meta_rows(small_warehouse) > 0


def test_copy_to_a_file_is_refused_and_writes_nothing(con, tmp_path):
    target = tmp_path / "x.csv"
    assert refused(con, f"COPY (select 1) TO '{target}'").startswith("COPY is not allowed")
    assert not target.exists()


def test_export_database_is_refused_and_writes_nothing(con, tmp_path):
    target = tmp_path / "y"
    assert refused(con, f"EXPORT DATABASE '{target}'").startswith("EXPORT is not allowed")
    assert not target.exists()


def test_attach_of_another_file_is_refused(con, tmp_path):
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    assert refused(con, f"ATTACH '{other}' AS o").startswith("ATTACH is not allowed")


def test_only_one_statement_at_a_time(con, small_warehouse):
    assert refused(con, "select 1; drop table meta") == "one statement at a time: this text holds 2"
    assert meta_rows(small_warehouse) > 0


def test_file_reading_table_functions_are_stopped_by_the_connection(con):
    # These are SELECTs, so the allow-list passes them: the connection itself must refuse them.
    for sql in ["select * from read_csv('/etc/passwd')", "select * from read_text('/etc/hostname')",
                "select * from glob('/etc/*')", "select * from read_parquet('/tmp/*.parquet')"]:
        message = refused(con, sql)
        assert message.startswith("Permission Error") and "disabled by configuration" in message, sql


def test_python_objects_are_not_visible_as_tables(con):
    secret_frame = pd.DataFrame({"secret": [42]})  # noqa: F841 (the query below must not find it)
    assert "secret_frame" in refused(con, "select * from secret_frame")


def test_empty_and_malformed_sql_give_one_line(con):
    assert refused(con, "  ;  ") == "no SQL to run"
    assert refused(con, "selec 1").startswith("Parser Error")
    message = refused(con, "select * from no_such_table")
    assert message.startswith("Catalog Error") and "LINE" not in message


def test_billion_row_cross_join_is_cancelled_by_the_time_limit(con):
    # sum() has to visit all 10^9 pairs (several seconds here), so the 1 s limit must interrupt it.
    start = time.perf_counter()
    message = refused(con, "select sum(a.range * b.range) from range(1000000) a, range(1000) b", timeout_s=1)
    assert message == "query cancelled after 1 s (the console's time limit)"
    assert time.perf_counter() - start < 30  # loose: the point is that it stops, not how fast
    assert console.run_query(con, "select 42 as answer").frame["answer"].tolist() == [42]  # still usable


def test_billion_row_count_star_is_cancelled_or_answered_exactly(con):
    # DuckDB 2.0 counts a cross product without enumerating it; either way it must end, and not wrongly.
    start = time.perf_counter()
    try:
        n = console.run_query(con, "select count(*) as n from range(1000000) a, range(1000) b", timeout_s=1)
        assert n.frame["n"].tolist() == [10**9]
    except console.ConsoleError as e:
        assert "cancelled" in str(e)
    assert time.perf_counter() - start < 30


def test_billion_row_cross_join_rows_are_cut_off_by_the_row_limit(con):
    result = console.run_query(con, "select * from range(1000000) a, range(1000) b", timeout_s=30, max_rows=500)
    assert result.truncated and len(result.frame) == 500


# ---------------------------------------------------------------------------------------------------------
# The layer behind the allow-list: the connection itself, with statements the allow-list would refuse
# ---------------------------------------------------------------------------------------------------------

@pytest.fixture()
def raw(small_warehouse):
    """A fresh console connection used directly, bypassing check_sql (some tests below detach things)."""
    c = console.connect(small_warehouse)
    yield c
    c.close()


def test_connection_settings_are_locked(raw):
    assert raw.execute("select current_setting('enable_external_access'), current_setting('lock_configuration'), "
                       "current_setting('autoload_known_extensions'), current_setting('autoinstall_known_extensions'), "
                       "current_setting('python_enable_replacements')").fetchone() == (False, True, False, False, False)
    for sql in ["SET enable_external_access = true", "RESET enable_external_access", "SET lock_configuration = false",
                "SET disabled_filesystems = ''", "SET memory_limit = '100GB'", "PRAGMA enable_profiling"]:
        with pytest.raises(duckdb.InvalidInputException, match="the configuration has been locked"):
            raw.execute(sql)
    assert raw.execute("select current_setting('enable_external_access')").fetchone() == (False,)


def test_connection_cannot_touch_files(raw, tmp_path, small_warehouse):
    target = tmp_path / "x.csv"
    for sql in ["select * from read_csv('/etc/passwd')", f"COPY (select 1) TO '{target}'",
                f"EXPORT DATABASE '{tmp_path / 'y'}'", "INSTALL httpfs", "LOAD httpfs",
                f"ATTACH '{tmp_path / 'new.duckdb'}' AS n"]:
        with pytest.raises(duckdb.PermissionException):
            raw.execute(sql)
    assert list(tmp_path.iterdir()) == []


def test_connection_cannot_write_the_warehouse(raw, small_warehouse):
    for sql in ["INSERT INTO meta VALUES ('a', 'b')", "DROP TABLE meta", "CREATE TABLE warehouse.t(x int)"]:
        with pytest.raises(duckdb.Error, match="read-only"):
            raw.execute(sql)
    # DuckDB keeps the attached file on its own allow-list, so a detach + read-write attach would work if
    # the local file system were not disabled.
    raw.execute("USE memory")
    raw.execute("DETACH warehouse")
    with pytest.raises(duckdb.PermissionException):
        raw.execute(f"ATTACH '{small_warehouse}' AS warehouse")
    assert meta_rows(small_warehouse) > 0


def test_run_query_refuses_a_connection_that_is_not_locked(small_warehouse):
    plain = warehouse.connect_read_only(small_warehouse)
    try:
        with pytest.raises(ValueError, match="console.connect"):
            console.run_query(plain, "select 1")
    finally:
        plain.close()


def test_console_and_dashboard_connections_coexist(small_warehouse):
    dashboard = warehouse.connect_read_only(small_warehouse)  # same settings as ui/db.py's shared connection
    try:
        assert console.run_query(small_warehouse, "select count(*) as n from meta").frame["n"].tolist() == \
            [dashboard.execute("select count(*) from meta").fetchone()[0]]
    finally:
        dashboard.close()


# ---------------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------------

def test_top_sentences_example_matches_numpy(con, small_warehouse):
    sql = console.examples()["Top 10 sentences of neuron N per dataset"]
    assert "0 as unit" in sql
    plain = warehouse.connect_read_only(small_warehouse)
    run_id, layer, pooling = plain.execute(
        "select run_id, (select max(layer) from layers l where l.run_id = r.run_id), poolings[1] "
        "from runs r order by run_id limit 1").fetchone()
    acts = plain.execute("select dataset, sentence_id, vec from activations where run_id = ? and layer = ? "
                         "and pooling = ? order by dataset, sentence_id", [run_id, layer, pooling]).df()
    datasets = plain.execute("select dataset from datasets order by dataset").df()["dataset"].tolist()
    plain.close()
    for unit in (0, 7):
        shown = console.run_query(con, sql.replace("0 as unit", f"{unit} as unit")).frame
        assert sorted(shown["dataset"].unique()) == datasets
        for name, group in acts.groupby("dataset"):
            x = np.stack(group["vec"].to_numpy()).astype(np.float32)[:, unit]
            order = np.argsort(-x, kind="stable")[:10]  # ties: lower sentence_id first, as in the SQL
            got = shown[shown["dataset"] == name]
            assert got["rank"].tolist() == list(range(1, 11))
            assert got["sentence_id"].tolist() == group["sentence_id"].to_numpy()[order].tolist()
            np.testing.assert_allclose(got["value"].to_numpy(), x[order], rtol=1e-6)


def test_precomputed_example_agrees_with_the_scan(con):
    examples = console.examples()
    scan = console.run_query(con, examples["Top 10 sentences of neuron N per dataset"]).frame
    stored = console.run_query(con, examples["Top 10 sentences of neuron N per dataset, from the precomputed "
                                             "neuron_topk"]).frame
    # the small warehouse keeps k = 5 per neuron, so compare the first five ranks
    scan = scan[scan["rank"] <= 5].reset_index(drop=True)
    pd.testing.assert_frame_equal(scan[["dataset", "rank", "sentence_id"]],
                                  stored[["dataset", "rank", "sentence_id"]], check_dtype=False)


def test_every_example_runs(con):
    for title, sql in console.examples().items():
        result = console.run_query(con, sql)
        assert len(result.frame) > 0, title


def test_row_limit_truncates_exactly_and_keeps_the_order(con):
    result = console.run_query(con, "select range as i from range(25) order by i desc", max_rows=10)
    assert result.truncated
    assert result.frame["i"].tolist() == list(range(24, 14, -1))
    exact = console.run_query(con, "select range as i from range(10)", max_rows=10)
    assert not exact.truncated and len(exact.frame) == 10


def test_explain_describe_show_and_summarize_are_allowed(con):
    assert "explain_value" in console.run_query(con, "explain select count(*) from sentences").frame.columns
    assert "meta" in console.run_query(con, "show tables").frame["name"].tolist()
    assert console.run_query(con, "describe meta").frame["column_name"].tolist() == ["key", "value"]
    assert len(console.run_query(con, "summarize sentences").frame) == 7


def test_duplicate_column_names_are_made_unique(con):
    assert console.run_query(con, "select 1 as a, 2 as a, 3 as a").frame.columns.tolist() == ["a", "a_2", "a_3"]


def test_parquet_download_round_trips(con, tmp_path):
    result = console.run_query(con, "select dataset, sentence_id, text from sentences order by all")
    path = tmp_path / "q.parquet"
    path.write_bytes(console.parquet_bytes(result.table))
    pd.testing.assert_frame_equal(pd.read_parquet(path), result.frame)
    interval = console.run_query(con, "select interval 1 day as iv")
    with pytest.raises(console.ConsoleError, match="no Parquet download"):
        console.parquet_bytes(interval.table)


def test_chart_columns_and_data(con):
    result = console.run_query(con, "select dataset, count(*)::hugeint as n, max(loaded_at) as t, [1] as l "
                                    "from sentences join datasets using (dataset) group by dataset order by dataset")
    assert console.chart_columns(result.table) == {"dataset": "nominal", "n": "quantitative", "t": "temporal"}
    data = console.chart_data(result, "dataset", "n")
    assert data.columns.tolist() == ["x", "y"] and data["y"].dtype.kind == "f"
    assert data["y"].tolist() == [24.0, 16.0, 24.0] and data["x"].tolist() == ["news", "pairs", "questions"]


# ---------------------------------------------------------------------------------------------------------
# Schema browser
# ---------------------------------------------------------------------------------------------------------

def schema_file_comments() -> dict[str, str]:
    """table or view -> comment, read from warehouse/schema/*.sql (independently of DuckDB)."""
    text = warehouse.schema_sql()
    return {m.group(1): m.group(2).replace("''", "'")
            for m in re.finditer(r"comment on (?:table|view) (\w+) is '((?:[^']|'')*)';", text, re.IGNORECASE)}


def test_schema_browser_lists_every_table_with_comment_and_row_count(small_warehouse):
    plain = warehouse.connect_read_only(small_warehouse)
    try:
        tables = console.schema_tables(plain)
        shown = plain.execute("show tables").df()["name"].tolist()
        assert sorted(tables["table_name"]) == sorted(shown)
        comments = schema_file_comments()
        for row in tables.itertuples():
            assert row.comment == comments[row.table_name]
            assert row.rows == plain.execute(f'select count(*) from "{row.table_name}"').fetchone()[0]
        assert (tables.set_index("table_name")["rows"] > 0).loc[["meta", "sentences", "activations"]].all()
        columns = console.schema_columns(plain)
        for name in shown:
            described = plain.execute(f'describe "{name}"').df()["column_name"].tolist()
            mine = columns[columns["table_name"] == name]
            assert mine["column_name"].tolist() == described
            assert mine["comment"].notna().all() and (mine["comment"].str.len() > 0).all()
    finally:
        plain.close()
