"""``python -m pipeline export``: every table of a warehouse as Parquet, with a manifest.

The export is written to ``<out>.tmp-<pid>`` and renamed into place at the end, so a failed export never
leaves a half-written folder where a complete one is expected; an existing folder is replaced only then.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import warehouse
from pipeline.errors import PipelineError

MANIFEST = "manifest.json"


def default_out(path) -> Path:
    p = Path(path)
    return p.with_name(p.stem + "-parquet")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export(path, out=None, log=print) -> Path:
    """Write ``<table>.parquet`` for every table and view of the warehouse at ``path`` and a ``manifest.json`` listing
    each file's table, rows, columns (name, type, comment), table comment and sha256, plus the warehouse's
    ``meta`` (schema version, run manifest). Returns the output folder."""
    out = Path(out) if out else default_out(path)
    try:
        con = warehouse.connect_read_only(path)
    except warehouse.WarehouseError as e:
        raise PipelineError(str(e)) from None
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        # Views too (activations: the stored vectors as floats), so a Parquet reader needs no decoding.
        tables = con.execute("select table_name, comment from duckdb_tables() where database_name = "
                             "current_database() union all select view_name, comment from duckdb_views() "
                             "where database_name = current_database() and not internal order by 1").fetchall()
        columns = con.execute("select table_name, column_name, data_type, comment from duckdb_columns() "
                              "where database_name = current_database() order by table_name, column_index"
                              ).fetchall()
        entries = []
        for table, comment in tables:
            target = tmp / f"{table}.parquet"
            # Identifiers cannot be bound; these names come from the file's own catalog, quoted.
            con.execute(f'copy (select * from "{table}") to \'{target}\' (format parquet, compression zstd)')
            rows = con.execute(f'select count(*) from "{table}"').fetchone()[0]
            entries.append({"table": table, "file": target.name, "rows": int(rows), "comment": comment,
                            "columns": [{"name": c, "type": t, "comment": cc}
                                        for tb, c, t, cc in columns if tb == table],
                            "sha256": _sha256(target)})
            log(f"{table}: {rows} rows")
        meta = dict(con.execute("select key, value from meta").fetchall())
    finally:
        con.close()
    manifest = {"warehouse": str(Path(path).resolve()), "exported_at":
                datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "schema_version": meta.get("schema_version"), "meta": meta, "tables": entries}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    if out.exists():
        old = out.with_name(f"{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)
    return out
