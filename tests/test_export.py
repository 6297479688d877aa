"""``python -m pipeline export`` and the file's openness: Parquet + manifest, the stock CLI, pandas, SCHEMA.md."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
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


def _export(warehouse_path, out, *args):
    return subprocess.run([sys.executable, "-m", "pipeline", "export", "--warehouse", str(warehouse_path),
                           "--out", str(out), "--quiet", *args], capture_output=True, text=True, cwd=ROOT)


def _stored_tops(path, top: int) -> pd.DataFrame:
    """The top-side examples straight from neuron_topk, unnested in pandas (independent of export_examples.sql)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        t = con.execute("select run_id, layer, pooling, dataset, unit, sentence_ids, vals from neuron_topk "
                        "where side = 'top'").df()
        texts = con.execute("select dataset, sentence_id, text from sentences").df()
    finally:
        con.close()
    rows = [(r.run_id, f"{r.layer}-{r.pooling}", str(r.unit), r.dataset, int(s), float(v), rank + 1)
            for r in t.itertuples() for rank, (s, v) in enumerate(zip(r.sentence_ids, r.vals)) if rank < top]
    out = pd.DataFrame(rows, columns=["modelId", "layer", "index", "dataSource", "sentence_id", "value", "rank"])
    return out.merge(texts, left_on=["dataSource", "sentence_id"], right_on=["dataset", "sentence_id"])


def test_neuronpedia_export_reads_back_as_the_stored_lists(small_warehouse, tmp_path):
    import gzip

    out = tmp_path / "np"
    res = _export(small_warehouse, out, "--format", "neuronpedia", "--top", "3")
    assert res.returncode == 0, res.stderr
    read = lambda kind: [json.loads(line) for f in sorted(out.glob(f"*/*/{kind}/batch-*.jsonl.gz"))
                         for line in gzip.open(f, "rt", encoding="utf-8")]
    acts, feats = pd.DataFrame(read("activations")), pd.DataFrame(read("features"))
    want = _stored_tops(small_warehouse, 3)
    assert len(acts) == len(want) > 0
    got = acts.assign(sentence_id=acts["dataIndex"].astype(int), value=acts["values"].str[0],
                      text=acts["tokens"].str[0])
    key = ["modelId", "layer", "index", "dataSource", "sentence_id"]
    both = got.merge(want, on=key, suffixes=("", "_want"), validate="one_to_one")
    assert len(both) == len(want)
    assert (both["text"] == both["text_want"]).all()
    assert ((both["value"] - both["value_want"]).abs() < 1e-6).all()
    assert (acts["maxValue"] == acts["values"].str[0]).all() and (acts["tokens"].str.len() == 1).all()
    # one feature record per unit of every (run, layer, pooling), its max and nonzero share from the vectors
    con = duckdb.connect(str(small_warehouse), read_only=True)
    try:
        vec = con.execute("select run_id, layer, pooling, vec from activations").df()
    finally:
        con.close()
    assert len(feats) == sum(len(v.iloc[0]) for _, v in vec.groupby(["run_id", "layer", "pooling"])["vec"])
    r = feats.iloc[len(feats) // 2]
    layer, pooling = r["layer"].split("-", 1)
    x = np.stack(vec[(vec.run_id == r["modelId"]) & (vec.layer == int(layer)) & (vec.pooling == pooling)]["vec"])
    u = int(r["index"])
    assert r["maxActApprox"] == pytest.approx(float(x[:, u].max()), abs=1e-6)
    assert r["frac_nonzero"] == pytest.approx(float((x[:, u] != 0).mean()))
    assert r["freq_hist_data_bar_heights"] == np.histogram(x[:, u], bins=20)[0].tolist()
    assert not list(tmp_path.glob("np.tmp-*"))


def test_hf_export_loads_with_datasets(small_warehouse, tmp_path):
    from datasets import load_from_disk

    out = tmp_path / "hf"
    res = _export(small_warehouse, out, "--format", "hf", "--top", "2")
    assert res.returncode == 0, res.stderr
    d = load_from_disk(str(out))
    assert set(d) == {"examples", "units"}
    ex = d["examples"].to_pandas()
    con = duckdb.connect(str(small_warehouse), read_only=True)
    try:
        n_lists, n_units = con.execute("select count(*), count(distinct (run_id, layer, pooling, unit)) "
                                       "from neuron_topk").fetchone()
        row = ex.iloc[len(ex) // 3]
        ids, vals = con.execute("select sentence_ids, vals from neuron_topk where run_id = ? and layer = ? and "
                                "pooling = ? and dataset = ? and unit = ? and side = ?",
                                [row.run_id, int(row.layer), row.pooling, row.dataset, int(row.unit), row.side]
                                ).fetchone()
        text = con.execute("select text from sentences where dataset = ? and sentence_id = ?",
                           [row.dataset, int(ids[row["rank"] - 1])]).fetchone()[0]
    finally:
        con.close()
    assert len(ex) == 2 * n_lists  # every stored list keeps ranks 1 and 2
    assert row.sentence_id == ids[row["rank"] - 1] and row.text == text
    assert row.value == pytest.approx(vals[row["rank"] - 1])
    assert len(d["units"]) == n_units


def test_export_bad_format_or_run_is_one_line(small_warehouse, tmp_path):
    res = _export(small_warehouse, tmp_path / "x", "--format", "csv")
    assert res.returncode == 2 and "--format: 'csv' is not one of parquet, neuronpedia, hf" in res.stderr
    res = _export(small_warehouse, tmp_path / "x", "--format", "hf", "--run", "gpt9")
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0 and "--run: no run 'gpt9'" in res.stderr
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob("x.tmp-*"))


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
    assert len(text.split()) < 2500
