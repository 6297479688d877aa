"""``python -m pipeline export`` and the file's openness: Parquet + manifest, the stock CLI, pandas, SCHEMA.md."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import warehouse

ROOT = Path(__file__).resolve().parent.parent


def _tables(path) -> dict[str, list[str]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("select table_name, column_name from duckdb_columns() where database_name = "
                           "current_database() order by table_name, column_index").fetchall()
    finally:
        con.close()
    out: dict[str, list[str]] = {}
    for t, c in rows:
        out.setdefault(t, []).append(c)
    return out


def test_export_writes_every_table_and_a_manifest(small_warehouse, tmp_path):
    out = tmp_path / "export"
    res = subprocess.run([sys.executable, "-m", "pipeline", "export", "--warehouse", str(small_warehouse),
                          "--out", str(out), "--quiet"], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    tables = _tables(small_warehouse)
    assert sorted(e["table"] for e in manifest["tables"]) == sorted(tables)
    con = duckdb.connect(str(small_warehouse), read_only=True)
    try:
        for entry in manifest["tables"]:
            frame = pd.read_parquet(out / entry["file"])
            assert list(frame.columns) == tables[entry["table"]] == [c["name"] for c in entry["columns"]]
            assert len(frame) == entry["rows"] == con.execute(f'select count(*) from "{entry["table"]}"').fetchone()[0]
            assert entry["comment"]  # every table is described
        # values survive the round trip (lists included)
        want = con.execute("select * from activations order by all").df()
        got = pd.read_parquet(out / "activations.parquet").sort_values(
            ["run_id", "layer", "pooling", "dataset", "sentence_id"]).reset_index(drop=True)
        assert (got["vec"].map(list) == want["vec"].map(list)).all()
        assert manifest["schema_version"] == con.execute("select value from meta where key = 'schema_version'"
                                                         ).fetchone()[0]
    finally:
        con.close()
    assert not list(tmp_path.glob("export.tmp-*"))


def test_export_of_a_missing_warehouse_is_one_clear_line(tmp_path):
    res = subprocess.run([sys.executable, "-m", "pipeline", "export", "--warehouse", str(tmp_path / "no.duckdb")],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "no.duckdb: no warehouse here" in res.stderr


def test_warehouse_opens_in_pandas_via_duckdb(small_warehouse):
    con = duckdb.connect(str(small_warehouse), read_only=True)
    frame = con.execute("select * from sentences").df()
    con.close()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 24 + 16 + 24


def _duckdb_cli() -> str | None:
    local = Path(sys.executable).parent / "duckdb"
    return str(local) if local.exists() else shutil.which("duckdb")


@pytest.mark.skipif(_duckdb_cli() is None, reason="the duckdb CLI (requirements-dev: duckdb-cli) is not installed")
def test_warehouse_opens_in_the_stock_duckdb_cli(small_warehouse):
    res = subprocess.run([_duckdb_cli(), "-readonly", "-csv", str(small_warehouse), "-c",
                          "select count(*) as n from sentences; select value from meta where key = 'schema_version'"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["n", str(24 + 16 + 24), "value", str(warehouse.SCHEMA_VERSION)]


def _schema_doc() -> dict[str, list[str]]:
    """Tables and their columns as warehouse/SCHEMA.md lists them: a ``### table`` heading, then a row per
    column, in order."""
    out: dict[str, list[str]] = {}
    table = None
    for line in (ROOT / "warehouse" / "SCHEMA.md").read_text().splitlines():
        heading = re.match(r"#{1,6} (.*)$", line)
        if heading:
            table = heading.group(1) if line.startswith("### ") else None
            if table:
                assert re.fullmatch(r"\w+", table) and table not in out, line
                out[table] = []
            continue
        m = re.match(r"\| `(\w+)` \| [^|]+ \|", line)
        if table and m:
            out[table].append(m.group(1))
    return out


def test_schema_doc_lists_exactly_the_tables_and_columns_of_a_built_file(small_warehouse):
    doc, actual = _schema_doc(), _tables(small_warehouse)
    assert sorted(doc) == sorted(actual), "warehouse/SCHEMA.md and the warehouse's tables differ"
    for table, columns in actual.items():
        assert doc[table] == columns, f"SCHEMA.md columns of {table}"


def test_readme_links_to_the_schema_doc_and_stays_short():
    text = (ROOT / "README.md").read_text()
    assert "(warehouse/SCHEMA.md)" in text and "## Warehouse schema" not in text
    assert len(text.split()) < 2600  # 2,489 before the Ray cluster section (issue 19)
