"""warehouse.contracts: the annotations in the schema files become queries that name each broken contract.

Every test builds the real schema in an in-memory DuckDB, fills a few tables with rows that meet every
contract, breaks one, and checks that ``violations`` names exactly that contract (with its row count)."""
from __future__ import annotations

import re

import duckdb
import pytest

import warehouse
from warehouse.contracts import SchemaAnnotationError, contract_queries, parse, schema_files, violations


@pytest.fixture()
def con():
    """The schema with one transformer run (2 layers), one LSTM run, a dataset of 3 sentences and 2 vectors."""
    c = duckdb.connect(":memory:")
    warehouse.create_schema(c)
    c.execute("""
        insert into runs values
          ('tiny', 'transformer', 'm', 'p', 2, 3, 2, 16, ['cls'], '{}', 'h', 'v', now()),
          ('lstm', 'lstm', 'm', 'p', 1, 3, null, 16, ['final'], '{}', 'h', 'v', now());
        insert into layers values ('tiny', 0, 'hook_embed'), ('tiny', 1, 'blocks.0.hook_resid_post'),
                                  ('lstm', 0, 'lstm1.hidden');
        insert into datasets values ('d', 'file', 'x.csv', null, 'none', 3, 0, false, '{}', 'h', now());
        insert into sentences values ('d', 0, 'a', null, null, null, null), ('d', 1, 'b', null, null, null, null),
                                     ('d', 2, 'c', null, null, null, null);
        insert into activation_store values ('tiny', 1, 'cls', 'd', 0, 'int16', 0.5, 0.1, [1, 2, 3], null),
                                            ('tiny', 1, 'cls', 'd', 1, 'float32', 1, 0, null, [4, 5, 6]);
        insert into neuron_topk values ('tiny', 1, 'cls', 'd', 0, 'top', [1, 0], [4, 1]);
        insert into attention_items values ('tiny', 'd', 0, null, false, 5, null, null);
    """)
    assert violations(c) == []
    yield c
    c.close()


def test_every_contract_query_runs_on_the_built_schema_and_every_table_has_a_key():
    c = duckdb.connect(":memory:")
    warehouse.create_schema(c)
    queries = contract_queries()
    assert len({d for d, _ in queries}) == len(queries)  # each violation is named unambiguously
    for desc, sql in queries:  # each binds (its tables and columns exist) and holds on the schema alone
        assert c.execute(sql).fetchone()[0] == 0, desc
    built = {t for (t,) in c.execute("select table_name from duckdb_tables() "
                                     "where database_name = current_database()").fetchall()}
    declared = {t.table: t for f in schema_files() for t in f.tables}
    assert set(declared) == built
    assert all(t.keys for t in declared.values()), [n for n, t in declared.items() if not t.keys]
    c.close()


def test_a_duplicate_key_is_named(con):
    con.execute("insert into sentences values ('d', 1, 'again', null, null, null, null)")
    # the duplicate also makes datasets.n_sentences wrong: that check is the third form
    assert dict(violations(con)) == {"sentences unique (dataset, sentence_id)": 1,
                                     "datasets.n_sentences matches sentences": 1}


def test_a_dangling_reference_is_named(con):
    con.execute("insert into layers values ('gone', 0, 'hook_embed')")
    assert violations(con) == [("layers(run_id) -> runs", 1)]


def test_a_reference_out_of_a_list_is_named(con):
    con.execute("update neuron_topk set sentence_ids = [1, 7]")
    assert violations(con) == [
        ("(select dataset, unnest(sentence_ids) as sentence_id from neuron_topk)(dataset, sentence_id) -> sentences", 1)]


def test_a_reference_to_a_filtered_parent_is_named(con):
    con.execute("insert into attention_items values ('lstm', 'd', 1, null, false, 5, null, null)")
    assert violations(con) == [
        ("attention_items(run_id) -> (select * from runs where model_kind = 'transformer')", 1)]


def test_a_violated_check_is_named(con):
    con.execute("insert into activation_store values ('tiny', 0, 'cls', 'd', 2, 'int16', 0.5, 0.1, [1, 2], null)")
    assert violations(con) == [("activation_store rows hold hidden_size values of their dtype", 1)]


@pytest.mark.parametrize("row", [
    "'int16', 0.5, 0.1, null, [1, 2, 3]",       # int16 whose values sit in the float32 column
    "'float32', 1, 0, [1, 2, 3], null",         # float32 whose values sit in the codes column
    "'int16', 0.5, 0.1, [1, 2, 3], [1, 2, 3]",  # both columns filled
    "'float16', 1, 0, null, [1, 2, 3]",         # an unknown dtype
])
def test_a_stored_vector_in_the_wrong_column_for_its_dtype_is_named(con, row):
    con.execute(f"insert into activation_store values ('tiny', 0, 'cls', 'd', 2, {row})")
    assert violations(con) == [("activation_store rows hold hidden_size values of their dtype", 1)]


def test_a_negative_or_nan_scale_is_named(con):
    con.execute("insert into activation_store values ('tiny', 0, 'cls', 'd', 2, 'int16', 'nan', 0, [1, 2, 3], null),"
                " ('tiny', 0, 'cls', 'd', 0, 'int16', 0.1, -1, [1, 2, 3], null)")
    assert violations(con) == [("activation_store scales and errors are finite and non-negative", 2)]


def test_the_activations_view_decodes_both_storages(con):
    got = con.execute("select sentence_id, vec from activations order by sentence_id").fetchall()
    assert got == [(0, [0.5, 1.0, 1.5]), (1, [4.0, 5.0, 6.0])]


TOY = """
-- A study's own schema, contributed by its stage.
create table toy_items (
    run_id varchar not null,
    item integer,
    size integer not null
);
-- key: run_id, item
-- ref: run_id -> runs(run_id)
-- check: toy_items sizes are positive: select count(*)
--     from toy_items where size <= 0
comment on table toy_items is 'Toy.';
"""


def test_extra_sql_contributes_its_contracts(con):
    con.execute(TOY)
    con.execute("insert into toy_items values ('tiny', 1, 3)")
    assert violations(con, extra_sql=[TOY]) == []
    con.execute("insert into toy_items values ('tiny', 1, 3), ('tiny', null, 2), ('nobody', 2, 0)")
    found = dict(violations(con, extra_sql=[("toy/schema.sql", TOY)]))
    assert found == {"toy_items unique (run_id, item)": 1, "toy_items not null (run_id, item)": 1,
                     "toy_items(run_id) -> runs": 1, "toy_items sizes are positive": 1}
    # without the stage's schema its table is not checked at all
    assert violations(con) == []


def test_continuation_lines_and_arrows_inside_a_query():
    text = ("create table t (a int, xs int[]);\n"
            "-- ref: (select a, list_transform(xs, x -> x + 1) as ys\n"
            "--     from t)(a) ->\n"
            "--     (select * from t where a > 0)(a)\n"
            "-- Plain comment; not: an annotation\n"
            "-- key: a\n")
    (t,) = parse(text, "t.sql")
    assert t.keys == [("a",)]
    (r,) = t.refs
    assert r.child == "(select a, list_transform(xs, x -> x + 1) as ys from t)" and r.child_cols == ("a",)
    assert r.parent == "(select * from t where a > 0)" and r.parent_cols == ("a",)


@pytest.mark.parametrize("line, message", [
    ("-- key: a, b c", r"bad 'key' annotation of t: expected column names"),
    ("-- key:", r"bad 'key' annotation of t: expected column names"),
    ("-- ref: a -> parent", r"bad 'ref' annotation of t: expected \(parent columns\) after 'parent'"),
    ("-- ref: a parent(a)", r"bad 'ref' annotation of t: expected 'columns -> parent\(columns\)'"),
    ("-- ref: a, b -> parent(a)", r"bad 'ref' annotation of t: 2 child columns but 1 parent columns"),
    ("-- ref: (select * from t(a) -> p(a)", r"bad 'ref' annotation of t: unbalanced parentheses"),
    ("-- ref: a -> p(a) extra", r"unexpected text after the parent columns: 'extra'"),
    ("-- check: no colon here", r"bad 'check' annotation of t: expected 'description: select count"),
    ("-- check: a rule: delete from t", r"bad 'check' annotation of t: expected 'description: select count"),
    ("-- unique: a", r"unknown annotation 'unique:' \(expected one of key:, ref:, check:\)"),
])
def test_a_bad_annotation_is_one_line_naming_file_and_line(line, message, tmp_path):
    text = f"-- header\ncreate table t (a int, b int);\n{line}\ncomment on table t is 'x';\n"
    with pytest.raises(SchemaAnnotationError) as e:
        parse(text, "study/schema.sql")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("study/schema.sql line 3: ")
    assert re.search(message, msg), msg
    # the same through contract_queries, from a file: named by its path
    p = tmp_path / "study.sql"
    p.write_text(text)
    with pytest.raises(SchemaAnnotationError, match=rf"^{re.escape(str(p))} line 3: "):
        contract_queries(extra_sql=[p])


def test_an_annotation_before_any_table_is_refused():
    with pytest.raises(SchemaAnnotationError, match=r"^x.sql line 1: 'key' annotation before any create table$"):
        parse("-- key: a\ncreate table t (a int);\n", "x.sql")


def test_a_bad_continued_annotation_names_its_first_line():
    text = "create table t (a int);\n\n-- ref: a ->\n--     p(a, b)\n"
    with pytest.raises(SchemaAnnotationError, match=r"^x.sql line 3: .*1 child columns but 2 parent columns"):
        parse(text, "x.sql")
