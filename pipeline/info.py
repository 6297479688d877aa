"""``python -m pipeline info``: a plain-text summary of a warehouse."""
from __future__ import annotations

import json

import warehouse
from pipeline.errors import PipelineError


def describe(path) -> str:
    try:
        con = warehouse.connect_read_only(path)
    except warehouse.WarehouseError as e:
        raise PipelineError(str(e)) from None
    try:
        meta = dict(con.execute("select key, value from meta").fetchall())
        lines = [f"warehouse {path}",
                 f"  schema version {meta.get('schema_version')}, built {meta.get('built_at')} "
                 f"by code {meta.get('code_version')} (duckdb {meta.get('duckdb_version')})"]
        lines.append("runs:")
        for r in con.execute("select run_id, model_kind, model_name, n_layers, hidden_size, poolings, max_length "
                             "from runs order by run_id").fetchall():
            lines.append(f"  {r[0]}: {r[1]} {r[2]}, {r[3]} layers x {r[4]} units, pooling {', '.join(r[5])}, "
                         f"max_length {r[6]}")
        lines.append("datasets:")
        for d in con.execute("select dataset, source, path, label_kind, n_sentences, has_pairs from datasets "
                             "order by dataset").fetchall():
            lines.append(f"  {d[0]}: {d[4]} sentences from {d[1]}:{d[2]}, label {d[3]}"
                         + (", pairs" if d[5] else ""))
        lines.append("tables:")
        for t, n in con.execute("select table_name, estimated_size from duckdb_tables() order by table_name"
                                ).fetchall():
            lines.append(f"  {t}: {n} rows")
        trunc = con.execute("select run_id, count(*) filter (where truncated), count(*) from sentence_lengths "
                            "group by run_id order by run_id").fetchall()
        for run_id, t, n in trunc:
            lines.append(f"truncated texts in {run_id}: {t} of {n}")
        cfg = json.loads(meta.get("config_json", "{}"))
        lines.append(f"config: topk={cfg.get('topk')} seed={cfg.get('seed')} hash={meta.get('config_hash')}")
        return "\n".join(lines)
    finally:
        con.close()
