"""warehouse/SCHEMA.md, generated: ``python -m warehouse.schema_doc > warehouse/SCHEMA.md``.

Every table with its comment, key, references and checks, and every column with its type and comment, grouped
by schema file. Names, types and comments are read back from a schema built in an in-memory DuckDB (so the
page says what a built file says); the contracts come from the annotations (warehouse/contracts.py).
tests/test_schema_doc.py keeps the committed file equal to this output.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Iterable

import duckdb

import warehouse
from warehouse.contracts import SchemaFile, SchemaSource, TableContracts, schema_files

COMMAND = "python -m warehouse.schema_doc > warehouse/SCHEMA.md"

INTRO = """\
One DuckDB file holds everything the dashboard shows. This page lists every table and column; the same
descriptions are in the file itself:

```sql
select table_name, comment from duckdb_tables();
select table_name, column_name, data_type, comment from duckdb_columns();
```

The dashboard reads schema version {version} only; {reusable}. Files are written in DuckDB 1.5's storage format, so the stock
`duckdb` CLI (e.g. `.venv/bin/duckdb -readonly warehouse/illusion.duckdb`), pandas (through `duckdb`) and any
DuckDB >= 1.5 client open them; `python -m pipeline export --out DIR` writes every table to Parquet with a
`manifest.json` (rows, columns, comments, sha256).

**Contracts.** Under each table, its *key* is unique and never null, each *reference* says that every row
(or every row of a query over the table) has a row in its parent, and each *check* is a rule counted in SQL.
They are declared once, as `-- key:`, `-- ref:` and `-- check:` lines under the table's `create table` in
`warehouse/schema/*.sql` (format: `warehouse/contracts.py`), and the build checks them all before a new file
replaces the live one: a file that breaks one is never swapped in. DuckDB constraints are not used, so that
bulk loads stay fast.

Example, in the `duckdb` CLI: the top 10 sentences of neuron 42 of the last MiniLM layer ([CLS]) in each
dataset.

```sql
with top as (
    select dataset, unnest(range(1, 11)) as rank, unnest(sentence_ids[1:10]) as sentence_id,
           unnest(vals[1:10]) as value
    from neuron_topk
    where run_id = 'minilm' and layer = 6 and pooling = 'cls' and unit = 42 and side = 'top'
)
select dataset, rank, value, text from top join sentences using (dataset, sentence_id) order by dataset, rank;
```
"""


def _or(items: list[str]) -> str:
    """["3", "4", "5"] -> "3, 4 or 5"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _reuse_sentence() -> str:
    older = [str(v) for v in warehouse.REUSABLE_VERSIONS if v != warehouse.SCHEMA_VERSION]
    if older:
        return f"a build over a file of version {_or(older)} reuses the work it holds and computes only the tables it lacks"
    return (f"a build over a file of an older version rebuilds it from scratch (version {warehouse.LAYOUT_VERSION} "
            f"changed the layout of a table)")


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def _header(text: str) -> str:
    """The comment block a schema file opens with, as one paragraph."""
    lines = []
    for raw in text.splitlines():
        s = raw.strip()
        if not s.startswith("--"):
            break
        lines.append(s[2:].strip())
    return " ".join(x for x in lines if x)


def _title(f: SchemaFile) -> str:
    """warehouse/schema/*.sql by file name; a stage's schema by the name it was given."""
    return f.name.rsplit("/", 1)[-1] if f.builtin else f.name


def _cols(cols) -> str:
    return ", ".join(cols)


def _contract_lines(t: TableContracts) -> list[str]:
    out = [f"- key: `{_cols(k)}`" for k in t.keys]
    for r in t.refs:
        child = f"`{_cols(r.child_cols)}`" if r.child == t.table else f"`{r.child}({_cols(r.child_cols)})`"
        out.append(f"- references: {child} → `{r.parent}({_cols(r.parent_cols)})`")
    out.extend(f"- check: {desc}: `{sql}`" for desc, sql in t.checks)
    return out


def _views(text: str) -> list[str]:
    """The views a schema text creates, in order."""
    return re.findall(r"^\s*create\s+(?:or\s+replace\s+)?view\s+([A-Za-z_][A-Za-z0-9_]*)", text, re.I | re.M)


def render(extra_sql: Iterable[SchemaSource] = ()) -> str:
    """The whole of SCHEMA.md for the schema files plus ``extra_sql`` (schema texts of registered stages)."""
    files: list[SchemaFile] = schema_files(extra_sql)
    con = duckdb.connect(":memory:")
    try:
        warehouse.create_schema(con)
        for f in files:
            if not f.builtin:
                con.execute(f.text)
        tables = dict(con.execute("select table_name, comment from duckdb_tables() "
                                  "where database_name = current_database()").fetchall())
        views = dict(con.execute("select view_name, comment from duckdb_views() "
                                 "where database_name = current_database() and not internal").fetchall())
        columns: dict[str, list[tuple]] = {}
        for t, c, typ, nullable, comment in con.execute(
                "select table_name, column_name, data_type, is_nullable, comment from duckdb_columns() "
                "where database_name = current_database() order by table_name, column_index").fetchall():
            columns.setdefault(t, []).append((c, typ, nullable, comment))
    finally:
        con.close()
    declared = [t.table for f in files for t in f.tables]
    missing = sorted(set(tables) - set(declared))
    if missing:
        raise ValueError(f"tables built but not found in any schema file: {', '.join(missing)}")

    out = [f"# Warehouse schema (version {warehouse.SCHEMA_VERSION})", "",
           f"<!-- Generated from the schema files by `{COMMAND}`: edit those, not this. -->", "",
           INTRO.format(version=warehouse.SCHEMA_VERSION,
                        reusable=_reuse_sentence()),
           "## Tables", "", "| table | one row per (key) | file |", "|---|---|---|"]
    for f in files:
        for t in f.tables:
            key = "; ".join(f"`{_cols(k)}`" for k in t.keys) or "—"
            out.append(f"| [`{t.table}`](#{t.table}) | {key} | {_title(f)} |")
        for v in _views(f.text):
            out.append(f"| [`{v}`](#{v}) (view) | — | {_title(f)} |")
    for f in files:
        out += ["", f"## {_title(f)}", ""]
        head = _header(f.text)
        if head:
            out += [head, ""]
        for t in f.tables:
            out += [f"### {t.table}", "", _cell(tables[t.table]) or "(no comment)", ""]
            lines = _contract_lines(t)
            if lines:
                out += lines + [""]
            out += ["| column | type | description |", "|---|---|---|"]
            for c, typ, nullable, comment in columns[t.table]:
                out.append(f"| `{c}` | {typ}{'' if nullable else ', not null'} | {_cell(comment)} |")
            out.append("")
        for v in _views(f.text):
            out += [f"### {v}", "", _cell(views.get(v)) or "(no comment)", "", "A view (no rows of its own).", "",
                    "| column | type | description |", "|---|---|---|"]
            for c, typ, _, comment in columns[v]:
                out.append(f"| `{c}` | {typ} | {_cell(comment)} |")
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m warehouse.schema_doc", description=__doc__.split("\n", 1)[0])
    ap.add_argument("extra", nargs="*", type=Path, help="schema .sql files of stages, after warehouse/schema/*.sql")
    args = ap.parse_args(argv)
    sys.stdout.write(render(args.extra))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
