"""The SQL console's engine: run one researcher-typed query on the warehouse, safely.

Dashboard-safe (duckdb, pandas and pyarrow only; no Streamlit). The page views/sql.py only renders.

Safety comes in layers, each of which holds on its own:

1. **The connection** (``connect``) is a DuckDB instance of its own, separate from the dashboard's shared
   one. The warehouse is attached ``READ_ONLY``; then external access is switched off (no COPY, EXPORT,
   read_csv/read_parquet/glob, INSTALL/LOAD or ATTACH of files), the local file system is disabled outright
   (so even the warehouse's own path, which DuckDB keeps on its allow-list, cannot be re-attached
   read-write after a DETACH), extensions are neither installed nor loaded automatically, Python objects
   are not visible as tables, there is no temp directory to spill into, memory and threads are capped,
   and finally the configuration is locked, so no SET/RESET/PRAGMA can undo any of it.
2. **An allow-list of statements** (``check_sql``): DuckDB's own parser splits the text; exactly one
   statement is accepted, and only a SELECT (which includes WITH, FROM-first, VALUES, DESCRIBE, SHOW and
   SUMMARIZE) or an EXPLAIN of one.
3. **A time limit**: the query runs on its own cursor in a worker thread, interrupted after ``timeout_s``.
4. **A row limit**: results are streamed as Arrow batches and reading stops after ``max_rows`` rows.

Every refusal or failure is a ``ConsoleError`` whose message is one line.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse import queries

TIMEOUT_S = 10
MAX_ROWS = 10_000
MEMORY_LIMIT = "1GB"
THREADS = 2
ALIAS = "warehouse"
EXAMPLE_DIR = Path(__file__).parent / "console_examples"

# Streamed batch size: small enough that stopping at the row limit wastes little work.
_BATCH_ROWS = 2048
# How long to wait for an interrupted query to unwind before giving up on its thread.
_INTERRUPT_GRACE_S = 10

_CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    # Otherwise `select * from some_name` can read a pandas/Arrow object from a Python frame of this process.
    "python_enable_replacements": False,
    # No spilling: a query that needs more than the memory limit fails instead of filling a disk.
    "temp_directory": "",
}

_EXPLAIN_PREFIX = re.compile(r"\s*explain\s+(?:analy[sz]e\s+)?(?:\([^)]*\)\s*)?", re.IGNORECASE)


class ConsoleError(Exception):
    """A query was refused, failed or was cut off; the message is one line, fit to show as it is."""


@dataclass(frozen=True)
class ConsoleResult:
    """At most ``max_rows`` rows of a query's result, as Arrow (exact types) and pandas (for display)."""
    table: pa.Table
    frame: pd.DataFrame
    truncated: bool
    seconds: float


def one_line(error: BaseException) -> str:
    """DuckDB's message without the echoed query and caret (the 'LINE n:' block), on one line."""
    lines = []
    for line in str(error).splitlines():
        if line.startswith("LINE "):
            break
        if line.strip():
            lines.append(line.strip())
    return " ".join(lines) or type(error).__name__


def connect(path, memory_limit: str = MEMORY_LIMIT, threads: int = THREADS) -> duckdb.DuckDBPyConnection:
    """A locked-down connection to the warehouse at ``path`` (layer 1 of the module docstring).

    An in-memory instance that attaches the file, rather than ``duckdb.connect(path, config=...)``: DuckDB
    refuses a second instance of the same file with a different configuration in one process, and the
    dashboard's shared read-only connection (ui/db.py) is such an instance.
    """
    path = Path(path)
    if not path.is_file():
        raise ConsoleError(f"{path}: no warehouse here")
    con = duckdb.connect(":memory:", config={**_CONFIG, "memory_limit": memory_limit, "threads": threads})
    try:
        con.execute(f"attach $path as {ALIAS} (read_only)", {"path": str(path.resolve())})
        con.execute(f"use {ALIAS}")
        # Order matters: switching external access off resolves the allowed paths through the local file
        # system, so that must still be there; disabling it afterwards also shuts the warehouse's own path.
        con.execute("set enable_external_access = false")
        con.execute("set disabled_filesystems = 'LocalFileSystem'")
        con.execute("set lock_configuration = true")
    except duckdb.Error as e:
        con.close()
        raise ConsoleError(f"{path}: {one_line(e)}") from None
    return con


def check_sql(con, sql: str) -> None:
    """Layer 2: raise ConsoleError unless ``sql`` is exactly one SELECT, or an EXPLAIN of one."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as e:
        raise ConsoleError(one_line(e)) from None
    if not statements:
        raise ConsoleError("no SQL to run")
    if len(statements) > 1:
        raise ConsoleError(f"one statement at a time: this text holds {len(statements)}")
    statement = statements[0]
    if statement.type == duckdb.StatementType.SELECT:
        return
    if statement.type == duckdb.StatementType.EXPLAIN and _explains_a_select(con, statement.query):
        return
    keyword = re.match(r"\W*(\w+)", statement.query)
    name = keyword.group(1).upper() if keyword else statement.type.name
    raise ConsoleError(f"{name} is not allowed here: the console runs one read-only query "
                       f"(SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE, or EXPLAIN of one)")


def _explains_a_select(con, text: str) -> bool:
    """True when ``text`` is EXPLAIN [ANALYZE] [(options)] of one SELECT (EXPLAIN ANALYZE runs its statement).

    The parser does not expose the explained statement, so the text after the EXPLAIN keywords is parsed.
    """
    prefix = _EXPLAIN_PREFIX.match(text)
    try:
        inner = con.extract_statements(text[prefix.end():]) if prefix else []
    except duckdb.Error:
        return False
    return len(inner) == 1 and inner[0].type == duckdb.StatementType.SELECT


def _unique(names: list[str]) -> list[str]:
    """Column names made unique (``select 1 as a, 2 as a`` gives a, a_2): tables and files need that."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def _stream(cur, sql: str, max_rows: int, out: dict) -> None:
    """Worker thread: run ``sql`` and keep the first max_rows + 1 rows (the extra one says 'truncated')."""
    try:
        reader = cur.sql(sql).to_arrow_reader(_BATCH_ROWS)
        batches, n = [], 0
        for batch in reader:
            batches.append(batch)
            n += batch.num_rows
            if n > max_rows:
                break
        out["table"] = pa.Table.from_batches(batches, schema=reader.schema)
        reader.close()
    except Exception as e:  # noqa: BLE001 (handed to the calling thread, which turns it into one line)
        out["error"] = e
    finally:
        cur.close()


def run_query(source, sql: str, timeout_s: float = TIMEOUT_S, max_rows: int = MAX_ROWS) -> ConsoleResult:
    """Run one query from a researcher; raise ConsoleError (one line) when it is refused, fails or times out.

    ``source`` is a warehouse path (a locked connection is opened and closed around the query) or a
    connection made by ``connect`` (shared across threads: every query gets its own cursor).
    """
    if isinstance(source, (str, os.PathLike)):
        con = connect(source)
        try:
            return run_query(con, sql, timeout_s, max_rows)
        finally:
            con.close()
    cur = source.cursor()
    try:
        locked = cur.execute("select current_setting('lock_configuration')").fetchone()[0]
        if not locked:
            raise ValueError("run_query needs a connection made by warehouse.console.connect")
        check_sql(cur, sql)
        cur.execute(f"use {ALIAS}")  # a cursor does not inherit its connection's default database
    except BaseException:
        cur.close()
        raise
    out: dict = {}
    worker = threading.Thread(target=_stream, args=(cur, sql, max_rows, out), name="sql-console", daemon=True)
    start = time.perf_counter()
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        with contextlib.suppress(duckdb.Error):  # the worker may have closed the cursor just now
            cur.interrupt()
        worker.join(_INTERRUPT_GRACE_S)
    seconds = time.perf_counter() - start
    if worker.is_alive() or isinstance(out.get("error"), duckdb.InterruptException):
        raise ConsoleError(f"query cancelled after {timeout_s:g} s (the console's time limit)")
    if "error" in out:
        raise ConsoleError(one_line(out["error"]))
    table = out["table"]
    truncated = table.num_rows > max_rows
    table = table.slice(0, max_rows).rename_columns(_unique(table.column_names))
    try:
        frame = table.to_pandas()
    except pa.ArrowException as e:
        raise ConsoleError(f"the result cannot be shown: {one_line(e)}") from None
    return ConsoleResult(table, frame, truncated, seconds)


def parquet_bytes(table: pa.Table) -> bytes:
    """The result as a Parquet file; ConsoleError when a column type has no Parquet equivalent (INTERVAL)."""
    buf = io.BytesIO()
    try:
        pq.write_table(table, buf)
    except pa.ArrowException as e:
        raise ConsoleError(f"no Parquet download: {one_line(e)} (cast that column in the query, "
                           f"e.g. ::varchar)") from None
    return buf.getvalue()


def chart_columns(table: pa.Table) -> dict[str, str]:
    """Columns a chart can use, each with its Vega-Lite type; list, struct and map columns are left out."""
    out = {}
    for field in table.schema:
        t = field.type
        if pa.types.is_nested(t):
            continue
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
            out[field.name] = "quantitative"
        elif pa.types.is_timestamp(t) or pa.types.is_date(t):
            out[field.name] = "temporal"
        else:
            out[field.name] = "nominal"
    return out


def chart_data(result: ConsoleResult, x: str, y: str, colour: str | None = None) -> pd.DataFrame:
    """The chosen columns renamed x, y (and colour), converted so Altair can serialise them.

    Renaming spares Vega-Lite field names like ``sum(a."range")``, whose dots and brackets it would read
    as nested fields; the page puts the real names back as axis titles.
    """
    kinds = chart_columns(result.table)
    data = {}
    for role, name in (("x", x), ("y", y), ("colour", colour)):
        if name is None:
            continue
        values = result.frame[name]
        if kinds[name] == "quantitative":
            values = pd.to_numeric(values, errors="coerce")  # DECIMAL and HUGEINT arrive as Decimal objects
        elif kinds[name] == "nominal":
            values = values.astype(str)
        data[role] = values.to_numpy()
    return pd.DataFrame(data)


def examples() -> dict[str, str]:
    """Example queries, title -> SQL: the files in console_examples/, whose first line is ``-- <title>``."""
    out = {}
    for path in sorted(EXAMPLE_DIR.glob("*.sql")):
        text = path.read_text()
        out[text.splitlines()[0].removeprefix("--").strip()] = text
    return out


def schema_tables(con) -> pd.DataFrame:
    """Every table of the warehouse: table_name, rows (exact count), columns, comment.

    ``con`` is a connection whose default database is the warehouse (the dashboard's, ui/db.py), so these
    trusted queries do not go through the console's allow-list.
    """
    tables = queries.run(con, "schema_tables")
    counts = [int(queries.run(con, "table_rows", table_name=name)["n_rows"].iloc[0])
              for name in tables["table_name"]]
    tables.insert(1, "rows", pd.Series(counts, dtype="int64"))
    return tables


def schema_columns(con) -> pd.DataFrame:
    """Every column of the warehouse: table_name, column_name, data_type, comment (same ``con`` as above)."""
    return queries.run(con, "schema_columns")
