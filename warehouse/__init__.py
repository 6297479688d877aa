"""The warehouse: one DuckDB file, its schema, its contracts and the named queries pages call.

This package needs only duckdb and pandas (no torch), so the dashboard can run on Community Cloud.
"""
from __future__ import annotations

import os
from pathlib import Path

import duckdb

SCHEMA_VERSION = 8  # 8 added attention_encoders (a table only: LAYOUT_VERSION stays 7)
# The last version that changed the layout of a table that was already there: 7 replaced activations' float[]
# rows with activation_store (int16 codes and a scale per row, or float32) under an activations view. A file of
# an older version holds vectors a build cannot copy as they are, so it is rebuilt from scratch (extraction's
# inputs hash includes the storage setting as well, so a file of another storage is never taken for this one).
LAYOUT_VERSION = 7
# The versions whose every table is in this one, unchanged (every version from LAYOUT_VERSION on only added
# tables): a build may reuse such a file's work and computes only what it lacks. A later version that only adds
# tables keeps LAYOUT_VERSION; one that changes a table's layout sets it to itself. The dashboard still reads
# SCHEMA_VERSION only.
REUSABLE_VERSIONS = tuple(range(LAYOUT_VERSION, SCHEMA_VERSION + 1))
SCHEMA_DIR = Path(__file__).parent / "schema"
QUERY_DIR = Path(__file__).parent / "queries"
DEFAULT_PATH = "warehouse/illusion.duckdb"
# Files are written in the storage format of DuckDB 1.5, so the stock `duckdb` CLI (PyPI duckdb-cli 1.5.x,
# the newest CLI release) and any DuckDB >= 1.5 client can open them; 2.0's own format would lock them out.
STORAGE_COMPATIBILITY = "v1.5.0"


class WarehouseError(Exception):
    """The file is missing, unreadable, or of a schema version this code does not know."""


def default_path() -> Path:
    """$ILLUSION_WAREHOUSE, else warehouse/illusion.duckdb under the project root."""
    env = os.environ.get("ILLUSION_WAREHOUSE")
    return Path(env) if env else Path(__file__).resolve().parent.parent / DEFAULT_PATH


def schema_sql() -> str:
    return "\n".join(p.read_text() for p in sorted(SCHEMA_DIR.glob("*.sql")))


def cursor(con) -> duckdb.DuckDBPyConnection:
    """A cursor (its own connection to the same database, safe to use from another thread) that reads the
    attached warehouse by default, like ``con`` itself; on a build's writable file it is a plain cursor."""
    cur = con.cursor()
    try:
        cur.execute(f"use {ALIAS}")
    except duckdb.CatalogException:
        pass  # not a read-only warehouse connection: nothing attached under that name
    return cur


def connect_for_writing(path) -> duckdb.DuckDBPyConnection:
    """A new read-write file in the portable storage format (see STORAGE_COMPATIBILITY)."""
    return duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_COMPATIBILITY})


def compact_copy(con: duckdb.DuckDBPyConnection, path) -> None:
    """Copy the database ``con`` writes to into a new file ``path`` (same format, tables, comments and rows).

    A build appends in many transactions, and each checkpoint rewrites the tables' last row groups elsewhere,
    so the finished file keeps the blocks they left free (about 40% of a demo-sized file); DuckDB does not
    give them back, a copy holds only what is in use."""
    name = con.execute("select current_database()").fetchone()[0]
    con.execute(f"attach ? as compact_copy (storage_version '{STORAGE_COMPATIBILITY}')", [str(path)])
    try:
        con.execute(f'copy from database "{name}" to compact_copy')
    finally:
        con.execute("detach compact_copy")


def create_schema(con: duckdb.DuckDBPyConnection, extra_sql=()) -> None:
    """Every table of the built-in schema files, then each SQL text of ``extra_sql`` (the schema of a study that
    lives outside schema/, contributed by its pipeline stage), and the schema version."""
    con.execute(schema_sql())
    for sql in extra_sql:
        con.execute(sql)
    con.execute("insert into meta values ('schema_version', ?)", [str(SCHEMA_VERSION)])


def file_schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    try:
        row = con.execute("select value from meta where key = 'schema_version'").fetchone()
    except duckdb.CatalogException:
        return None
    return int(row[0]) if row and str(row[0]).isdigit() else None


def check_version(con: duckdb.DuckDBPyConnection, path, versions=(SCHEMA_VERSION,)) -> None:
    v = file_schema_version(con)
    if v not in versions:
        found = "no schema version" if v is None else f"schema version {v}"
        raise WarehouseError(f"{path}: {found}, this code reads version {SCHEMA_VERSION}; "
                             f"rebuild it with `python -m pipeline build`")


# The catalog name a read-only warehouse is attached under (see connect_read_only).
ALIAS = "illusion"


def connect_read_only(path, config: dict | None = None, versions=(SCHEMA_VERSION,)) -> duckdb.DuckDBPyConnection:
    """Open a warehouse read-only and check that its schema version is one of ``versions``.

    The file is ATTACHed (read-only, as catalog ``illusion``, made the default with USE) to a fresh in-memory
    database instead of being opened with ``duckdb.connect(path)``: DuckDB caches one database instance per
    path in a process, so after a build swapped in a new file, ``connect(path)`` would hand back the old
    file's instance for as long as any connection to it lives (duckdb/duckdb#15912). An in-memory database
    is never shared, so each call sees the file that is at ``path`` now. Take cursors with ``cursor(con)``.
    """
    path = Path(path)
    if not path.exists():
        raise WarehouseError(f"{path}: no warehouse here; build one with `make demo` "
                             f"or `python -m pipeline build --preset demo`")
    con = duckdb.connect(":memory:", config=config or {})
    try:
        con.execute(f"attach ? as {ALIAS} (read_only)", [str(path)])
        con.execute(f"use {ALIAS}")
    except duckdb.Error as e:
        con.close()
        raise WarehouseError(f"{path}: cannot be opened as a DuckDB file ({e})") from None
    try:
        check_version(con, path, versions)
    except WarehouseError:
        con.close()
        raise
    return con
