"""``python -m pipeline export``: a warehouse in the layouts people already use.

- ``parquet`` (the default): every table as ``<table>.parquet``, with a manifest of rows, columns, comments
  and checksums.
- ``neuronpedia``: Neuronpedia's bulk-import layout, ``<modelId>/<source>/features/batch-N.jsonl.gz`` and
  ``<modelId>/<source>/activations/batch-N.jsonl.gz`` (1,024 records a file), one source per (layer, pooling)
  of a run: modelId is the run, the source ``<layer>-<pooling>``, index the unit. Our units are sentence-level
  (a pooled vector), so an activation record is one sentence as a single "token" carrying the unit's pooled
  value; dataSource names the dataset it came from, dataIndex the sentence.
- ``hf``: a Hugging Face ``datasets`` folder (``DatasetDict.save_to_disk``) with two splits: ``examples`` (every
  unit's stored top and bottom sentences per dataset, with text and value) and ``units`` (per unit: the
  largest value, the share of nonzero sentences and the mean over every stored sentence).

Every export is written to ``<out>.tmp-<pid>`` and renamed into place at the end, so a failed export never
leaves a half-written folder where a complete one is expected; an existing folder is replaced only then.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import warehouse
from pipeline.errors import PipelineError
from warehouse import queries

MANIFEST = "manifest.json"
FORMATS = ("parquet", "neuronpedia", "hf")
NEURONPEDIA_BATCH = 1024  # records per batch-N.jsonl.gz, as Neuronpedia's own exports
HIST_BINS = 20  # the features' activation histogram (freq_hist_data_bar_*)
CREATOR = "illusion-lab"


def default_out(path, fmt: str = "parquet") -> Path:
    p = Path(path)
    return p.with_name(f"{p.stem}-{fmt}")


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
    con = _open(path)
    tmp = _scratch(out)
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
    return _publish(tmp, out)


def _open(path):
    try:
        return warehouse.connect_read_only(path)
    except warehouse.WarehouseError as e:
        raise PipelineError(str(e)) from None


def _scratch(out: Path) -> Path:
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def _publish(tmp: Path, out: Path) -> Path:
    """Move the finished ``tmp`` folder to ``out``, replacing an older export only now."""
    if out.exists():
        old = out.with_name(f"{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)
    return out


def export_as(path, fmt: str = "parquet", out=None, runs=(), top: int = 20, log=print, progress: bool = False
              ) -> Path:
    """Export the warehouse at ``path`` in ``fmt`` (see FORMATS) to ``out`` (default ``<stem>-<fmt>`` beside
    it); ``runs`` limits the neuronpedia and hf exports to those runs, ``top`` to the first ``top`` ranks of
    each stored list. Returns the output folder."""
    if fmt not in FORMATS:
        raise PipelineError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        return export(path, out or default_out(path, fmt), log=log)
    if top < 1:
        raise PipelineError(f"--top: must be at least 1, got {top}")
    out = Path(out) if out else default_out(path, fmt)
    con = _open(path)
    try:
        known = set(queries.runs(con)["run_id"])
        unknown = [r for r in runs if r not in known]
        if unknown:
            raise PipelineError(f"--run: no run {unknown[0]!r} in {path} (runs: {', '.join(sorted(known))})")
        tmp = _scratch(out)
        try:
            units = unit_summary(con, runs, progress=progress)
            examples = queries.export_examples(con, runs, top)
            if fmt == "neuronpedia":
                n = _write_neuronpedia(tmp, units, examples)
            else:
                n = _write_hf(tmp, units, examples)
            log(f"{path}: {len(units)} units, {len(examples)} examples ({n} files)")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    finally:
        con.close()
    return _publish(tmp, out)


def unit_summary(con, runs=(), progress: bool = False):
    """One row per (run, layer, pooling, unit) over every stored sentence of the run: max, min, mean, the share
    of nonzero values and a HIST_BINS-bin histogram (bin centres and counts), from the stored vectors."""
    import numpy as np
    import pandas as pd
    from tqdm.auto import tqdm

    slices = queries.export_slices(con, runs)
    frames = []
    for s in tqdm(slices.itertuples(index=False), total=len(slices), desc="units", unit="layer",
                  disable=not progress):
        names = list(queries.datasets(con, s.run_id)["dataset"])
        x, _ = queries.layer_matrix(con, s.run_id, int(s.layer), s.pooling, names)
        if not len(x):
            continue
        centres, counts = [], []
        for u in range(x.shape[1]):
            c, edges = np.histogram(x[:, u], bins=HIST_BINS)
            centres.append(((edges[:-1] + edges[1:]) / 2).tolist())
            counts.append(c.tolist())
        frames.append(pd.DataFrame({
            "run_id": s.run_id, "layer": int(s.layer), "pooling": s.pooling, "hook_name": s.hook_name,
            "model_name": s.model_name, "unit": np.arange(x.shape[1]), "max": x.max(0), "min": x.min(0),
            "mean": x.mean(0, dtype=np.float64), "frac_nonzero": (x != 0).mean(0), "n_sentences": len(x),
            "hist_centres": centres, "hist_counts": counts}))
    cols = ["run_id", "layer", "pooling", "hook_name", "model_name", "unit", "max", "min", "mean",
            "frac_nonzero", "n_sentences", "hist_centres", "hist_counts"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def _source(layer: int, pooling: str) -> str:
    return f"{layer}-{pooling}"


def _jsonl_gz(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def _batches(path: Path, records: list[dict]) -> int:
    for b in range(0, len(records), NEURONPEDIA_BATCH):
        _jsonl_gz(path / f"batch-{b // NEURONPEDIA_BATCH}.jsonl.gz", records[b:b + NEURONPEDIA_BATCH])
    return -(-len(records) // NEURONPEDIA_BATCH)


def _write_neuronpedia(tmp: Path, units, examples) -> int:
    files = 0
    top = examples[examples["side"] == "top"]
    for (run_id, layer, pooling), group in units.groupby(["run_id", "layer", "pooling"], sort=True):
        source = _source(int(layer), pooling)
        features = [{"modelId": run_id, "layer": source, "index": str(int(r.unit)), "creatorId": CREATOR,
                     "hookName": r.hook_name, "maxActApprox": float(r.max), "frac_nonzero": float(r.frac_nonzero),
                     "freq_hist_data_bar_values": [float(v) for v in r.hist_centres],
                     "freq_hist_data_bar_heights": [float(v) for v in r.hist_counts]}
                    for r in group.itertuples(index=False)]
        acts = top[(top["run_id"] == run_id) & (top["layer"] == layer) & (top["pooling"] == pooling)]
        activations = [{"id": f"{run_id}@{source}@{int(a.unit)}@{a.dataset}@{int(a.sentence_id)}",
                        "modelId": run_id, "layer": source, "index": str(int(a.unit)), "creatorId": CREATOR,
                        "tokens": [a.text], "values": [float(a.value)], "maxValue": float(a.value),
                        "minValue": float(a.value), "maxValueTokenIndex": 0, "dataSource": a.dataset,
                        "dataIndex": str(int(a.sentence_id))}
                       for a in acts.itertuples(index=False)]
        folder = tmp / run_id / source
        files += _batches(folder / "features", features) + _batches(folder / "activations", activations)
    return files


def _write_hf(tmp: Path, units, examples) -> int:
    from datasets import Dataset, DatasetDict

    splits = DatasetDict({"examples": Dataset.from_pandas(examples, preserve_index=False),
                          "units": Dataset.from_pandas(units, preserve_index=False)})
    splits.save_to_disk(str(tmp))
    return len(list(tmp.rglob("*.arrow")))
