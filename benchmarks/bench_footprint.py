"""bench_footprint: where a warehouse's bytes go, table by table, and the bytes per stored activation value.

    python -m benchmarks.bench_footprint [--warehouse warehouse/illusion.duckdb]

Each table is copied alone into a fresh DuckDB file (same storage format) and that file's size, less an empty
file's, is the table's share: exact for what the table needs, whatever the shared file's layout. The file as
built is compared with a compacted copy of it (warehouse.compact_copy, which the build now ends with), and the
stored activations' bytes per value with the baseline of raw float32 (4 bytes). Works on files of schema 7
(activation_store) and of older schemas (activations with float vectors), so before and after compare.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb

import warehouse


def _size_alone(src: duckdb.DuckDBPyConnection, table: str, folder: Path) -> int:
    path = folder / f"{table}.duckdb"
    src.execute(f"attach ? as one (storage_version '{warehouse.STORAGE_COMPATIBILITY}')", [str(path)])
    try:
        src.execute(f"create table one.{table} as select * from src.{table}")
    finally:
        src.execute("detach one")
    size = path.stat().st_size
    path.unlink()
    return size


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_footprint")
    p.add_argument("--warehouse", default=str(warehouse.default_path()))
    args = p.parse_args(argv)
    path = Path(args.warehouse)
    if not path.exists():
        print(f"error: no warehouse at {path} (make demo builds one)", file=sys.stderr)
        return 2
    print(f"load average at start: {os.getloadavg()[0]:.2f}; {path}: {path.stat().st_size / 1e6:,.1f} MB as built")
    con = duckdb.connect()
    con.execute("attach ? as src (read_only)", [str(path)])
    tables = [r[0] for r in con.execute("select table_name from duckdb_tables() where database_name = 'src' "
                                        "order by table_name").fetchall()]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        empty = folder / "empty.duckdb"  # a file with one empty table: what any table's file has anyway
        con.execute(f"attach ? as e (storage_version '{warehouse.STORAGE_COMPATIBILITY}')", [str(empty)])
        con.execute("create table e.t (x integer)")
        con.execute("detach e")
        base = empty.stat().st_size
        t = time.time()
        sizes = {}
        for table in tables:
            rows = con.execute(f"select count(*) from src.{table}").fetchone()[0]
            sizes[table] = (rows, max(_size_alone(con, table, folder) - base, 0))
        measured = time.time() - t
        compact = folder / "compact.duckdb"
        t = time.time()
        con.execute("use src")
        warehouse.compact_copy(con, compact)
        compact_s, compact_size = time.time() - t, compact.stat().st_size
    total = sum(b for _, b in sizes.values())
    print(f"\n| table | rows | MB | share |\n|---|---:|---:|---:|")
    for table, (rows, b) in sorted(sizes.items(), key=lambda kv: -kv[1][1]):
        if b >= 1e5:
            print(f"| {table} | {rows:,} | {b / 1e6:,.1f} | {100 * b / total:.1f}% |")
    small = [t for t, (_, b) in sizes.items() if b < 1e5]
    print(f"| {len(small)} tables under 0.1 MB each ({sum(sizes[t][0] == 0 for t in small)} empty) | "
          f"{sum(sizes[t][0] for t in small):,} | {sum(sizes[t][1] for t in small) / 1e6:.1f} | |")
    print(f"\nsum of the tables alone: {total / 1e6:,.1f} MB (measured in {measured:.0f} s)")
    print(f"file as built: {path.stat().st_size / 1e6:,.1f} MB; compacted copy: {compact_size / 1e6:,.1f} MB "
          f"({compact_s:.0f} s)")
    if "activation_store" in sizes:  # schema 7 on: int16 codes or float32 values per row
        store = "activation_store"
        by_dtype = con.execute("select dtype, count(*), coalesce(sum(len(coalesce(codes, floats))), 0), "
                               "max(max_error) from src.activation_store group by dtype order by dtype").fetchall()
        for dtype, rows, n, err in by_dtype:
            print(f"activation_store {dtype}: {rows:,} rows, {n:,} values, largest max_error {err:.3g}")
        values = sum(n for _, _, n, _ in by_dtype)
    else:  # a file of schema 6 or older: activations(vec float[])
        store = "activations"
        values = con.execute("select coalesce(sum(len(vec)), 0) from src.activations").fetchone()[0]
    if values:
        act = sizes[store][1]
        print(f"{store}: {values:,} stored values, {act / values:.2f} bytes per value "
              f"(bar <= 2; baseline: raw float32, 4.00 bytes per value)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
