"""warehouse/SCHEMA.md is generated from the schema files and stays equal to what the generator writes."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb

import warehouse
from warehouse import schema_doc
from warehouse.contracts import schema_files

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "warehouse" / "SCHEMA.md"


def test_committed_schema_doc_is_the_generated_one():
    assert DOC.read_text() == schema_doc.render(), (
        f"warehouse/SCHEMA.md is out of date with warehouse/schema/*.sql: run `{schema_doc.COMMAND}`")


def test_the_command_prints_it(tmp_path):
    res = subprocess.run([sys.executable, "-m", "warehouse.schema_doc"], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert res.stdout == schema_doc.render()
    extra = tmp_path / "toy.sql"
    extra.write_text("create table toy (a integer not null);\n-- key: a\ncomment on table toy is 'Toy.';\n")
    res = subprocess.run([sys.executable, "-m", "warehouse.schema_doc", str(extra)], capture_output=True,
                         text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert res.stdout == schema_doc.render([extra]) and f"\n## {extra}\n" in res.stdout


def _section(text: str, table: str) -> str:
    return text.split(f"\n### {table}\n", 1)[1].split("\n#", 1)[0]


def test_every_comment_type_and_contract_is_on_the_page():
    """Read back independently: the built schema's own comments and types, and the parsed annotations."""
    text = DOC.read_text()
    con = duckdb.connect(":memory:")
    warehouse.create_schema(con)
    tables = con.execute("select table_name, comment from duckdb_tables()").fetchall()
    views = con.execute("select view_name, comment from duckdb_views() where not internal").fetchall()
    assert views  # activations, over activation_store
    assert len(tables) == sum(len(f.tables) for f in schema_files()) == text.count("\n### ") - len(views)
    for view, comment in views:  # a view's section: its comment, then every column with its comment
        sec = _section(text, view)
        assert comment and sec.lstrip().startswith(comment.replace("|", "\\|")), view
        for col, typ, ccomment in con.execute("select column_name, data_type, comment from duckdb_columns() "
                                              "where table_name = ?", [view]).fetchall():
            assert ccomment and f"| `{col}` | {typ} | {ccomment.replace('|', chr(92) + '|')} |" in sec.splitlines()
    for table, comment in tables:
        sec = _section(text, table)
        assert comment and sec.lstrip().startswith(comment.replace("|", "\\|")), table
        for col, typ, nullable, ccomment in con.execute(
                "select column_name, data_type, is_nullable, comment from duckdb_columns() where table_name = ?",
                [table]).fetchall():
            assert ccomment, f"{table}.{col} has no comment"
            row = f"| `{col}` | {typ}{'' if nullable else ', not null'} | {ccomment.replace('|', chr(92) + '|')} |"
            assert row in sec.splitlines(), row
    con.close()
    for f in schema_files():
        file_sec = text.split(f"\n## {Path(f.name).name}\n", 1)[1].split("\n## ", 1)[0]
        for t in f.tables:
            sec = _section(file_sec, t.table)
            for key in t.keys:
                assert f"- key: `{', '.join(key)}`" in sec
            assert sec.count("- references: ") == len(t.refs)
            for r in t.refs:
                assert f"→ `{r.parent}({', '.join(r.parent_cols)})`" in sec
            for desc, sql in t.checks:
                assert f"- check: {desc}: `{sql}`" in sec
    # the summary lists every table once, with its key
    rows = re.findall(r"^\| \[`(\w+)`\]\(#\1\) \| `([^`]*)` \|", text, re.M)
    assert [t for t, _ in rows] == [t.table for f in schema_files() for t in f.tables]


def test_a_stage_schema_gets_its_own_section():
    toy = ("-- The toy study.\ncreate table toy_items (run_id varchar not null, item integer not null);\n"
           "-- key: run_id, item\n-- ref: run_id -> runs(run_id)\n"
           "comment on table toy_items is 'One | per toy item.';\n"
           "comment on column toy_items.item is 'The item.';\n")
    text = schema_doc.render(extra_sql=[("toy/schema.sql", toy)])
    sec = text.split("\n## toy/schema.sql\n", 1)[1]
    assert sec.startswith("\nThe toy study.\n\n### toy_items\n\nOne \\| per toy item.\n\n- key: `run_id, item`\n"
                          "- references: `run_id` → `runs(run_id)`\n")
    assert "| `run_id` | VARCHAR, not null |  |" in sec and "| `item` | INTEGER, not null | The item. |" in sec
    assert "| [`toy_items`](#toy_items) | `run_id, item` | toy/schema.sql |" in text
