"""pipeline.build: atomic (a failed or killed build leaves the old file), incremental, exclusive; the schema
contracts and the schema-version check of the warehouse package."""
from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import pandas as pd
import numpy as np
import pytest

import warehouse
from pipeline import build as build_mod
from pipeline.build import build, build_lock
from pipeline.cli import main
from pipeline.config import DatasetSpec, make_config
from pipeline.errors import PipelineError
from pipeline.stages import extract
from warehouse.contracts import violations

ROOT = Path(__file__).resolve().parent.parent
QUIET = dict(log=lambda *_: None)


def file_digest(path: Path) -> tuple[str, int]:
    p = Path(path)
    return hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def meta(path) -> dict:
    con = warehouse.connect_read_only(path)
    try:
        return dict(con.execute("select key, value from meta").fetchall())
    finally:
        con.close()


def fetch(path, sql, params=()):
    con = warehouse.connect_read_only(path)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def contract_violations(path):
    con = warehouse.connect_read_only(path)
    try:
        return violations(con)
    finally:
        con.close()


def activations_of(path, dataset):
    return fetch(path, "select run_id, layer, pooling, sentence_id, vec from activations where dataset = ? "
                       "order by run_id, layer, pooling, sentence_id", [dataset])


def per_dataset_rows(path, dataset):
    """Everything the extract stage stored for a dataset (to compare a reused copy with the original)."""
    return {
        "activations": activations_of(path, dataset),
        "topk": fetch(path, "select * from neuron_topk where dataset = ? order by all", [dataset]),
        "lengths": fetch(path, "select * from sentence_lengths where dataset = ? order by all", [dataset]),
        "tokens": fetch(path, "select * from sentence_tokens where dataset = ? order by all", [dataset]),
        "stage": fetch(path, "select * from stage_log where key like ? order by all", [f"%/{dataset}"]),
    }


@pytest.fixture
def cfg_for(tmp_path, tiny_spec, small_specs):
    """cfg_for(*dataset names or specs, **config overrides) -> a BuildConfig into tmp_path/w.duckdb."""
    by_name = {d.name: d for d in small_specs}

    def make(*datasets, **kw):
        kw.setdefault("warehouse", str(tmp_path / "w.duckdb"))
        kw.setdefault("topk", 5)
        kw.setdefault("progress", False)
        kw.setdefault("models", [tiny_spec])
        return make_config(datasets=[by_name[d] if isinstance(d, str) else d for d in datasets], **kw)

    return make


# --- atomic ------------------------------------------------------------------------------------------------

def test_failure_midway_leaves_old_warehouse_byte_identical(cfg_for, tmp_path, monkeypatch):
    base = cfg_for("questions", "news")
    build(base, **QUIET)
    target = Path(base.warehouse)
    before = file_digest(target)
    manifest = meta(target)["manifest_hash"]

    calls = []
    real = extract.write_extraction

    def flaky(*a, **kw):
        calls.append(a[2])
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return real(*a, **kw)

    monkeypatch.setattr(extract, "write_extraction", flaky)
    with pytest.raises(RuntimeError, match="disk on fire"):
        build(cfg_for("questions", "news", "pairs", topk=3), **QUIET)  # topk change: all three recomputed
    assert len(calls) == 2
    assert file_digest(target) == before
    assert leftovers(tmp_path) == []
    assert meta(target)["manifest_hash"] == manifest
    assert contract_violations(target) == []


def test_failure_on_a_fresh_target_leaves_nothing(cfg_for, tmp_path, monkeypatch):
    def boom(*a, **kw):
        raise RuntimeError("boom")

    monkeypatch.setattr(extract, "write_extraction", boom)
    with pytest.raises(RuntimeError):
        build(cfg_for("questions"), **QUIET)
    assert not (tmp_path / "w.duckdb").exists()
    assert leftovers(tmp_path) == []


def test_contract_failure_is_a_pipeline_error_and_keeps_old_file(cfg_for, tmp_path, monkeypatch):
    base = cfg_for("questions")
    build(base, **QUIET)
    before = file_digest(Path(base.warehouse))
    monkeypatch.setattr(build_mod, "violations",
                        lambda con, extra_sql=(): [("sentences unique (dataset, sentence_id)", 3)])
    with pytest.raises(PipelineError, match=r"schema contracts failed: sentences unique .* \(3 rows\)"):
        build(cfg_for("questions", "news"), **QUIET)
    assert file_digest(Path(base.warehouse)) == before
    assert leftovers(tmp_path) == []


KILL_SCRIPT = textwrap.dedent("""
    import sys
    from pipeline.build import build
    from pipeline.config import DatasetSpec, ModelSpec, make_config

    model_dir, data, target = sys.argv[1:4]
    cfg = make_config(datasets=[DatasetSpec("big", "file", data)],
                      models=[ModelSpec("tiny", "transformer", model_dir, max_length=32, batch_size=8)],
                      warehouse=target, topk=5, progress=False)
    build(cfg, log=lambda m: print(m, flush=True))
    print("DONE", flush=True)
""")


def test_kill_9_during_build_keeps_previous_warehouse(cfg_for, tmp_path, tiny_model_dir):
    base = cfg_for("questions")
    build(base, **QUIET)
    target = Path(base.warehouse)
    before = file_digest(target)
    manifest = meta(target)["manifest_hash"]

    words = [w for w in (tiny_model_dir / "vocab.txt").read_text().split() if w.isalpha() and len(w) > 2]
    rng = random.Random(0)
    data = tmp_path / "big.txt"
    data.write_text("".join(" ".join(rng.choice(words) for _ in range(rng.randint(8, 40))) + "\n"
                            for _ in range(3000)))
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(tiny_model_dir), str(data), str(target)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tmp_file = target.with_name(f"{target.name}.tmp-{proc.pid}")
    seen = []
    watchdog = threading.Timer(180, proc.kill)  # a hung build must not hang the suite
    watchdog.start()
    try:
        for line in proc.stdout:  # the build's log: loading..., loading model..., extracting...
            seen.append(line.strip())
            if line.startswith("extracting tiny/big"):
                break
        assert seen and seen[-1].startswith("extracting tiny/big"), (seen, proc.stderr.read())
        assert tmp_file.exists(), "the build writes into <warehouse>.tmp-<pid>"
        time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert "DONE" not in seen

    # The live file is the old one, opens, and is at its previous manifest.
    assert file_digest(target) == before
    assert meta(target)["manifest_hash"] == manifest
    assert fetch(target, "select dataset from datasets") == [("questions",)]

    # A rerun (the lock died with the killed process) completes and clears the dead build's temp file.
    big = make_config(datasets=[DatasetSpec("big", "file", str(data))], models=list(base.models),
                      warehouse=str(target), topk=5, progress=False)
    report = build(big, **QUIET)
    assert report.computed == ["tiny/big"] and not report.up_to_date
    assert fetch(target, "select n_sentences from datasets") == [(3000,)]
    assert fetch(target, "select count(*) from activations") == [(3000 * 3 * 2,)]
    assert contract_violations(target) == []
    assert leftovers(tmp_path) == []


# --- incremental -------------------------------------------------------------------------------------------

def test_same_config_is_up_to_date_and_file_untouched(cfg_for):
    cfg = cfg_for("questions", "news")
    first = build(cfg, **QUIET)
    assert sorted(first.computed) == ["tiny/news", "tiny/questions"] and first.reused == []
    target = Path(cfg.warehouse)
    before = file_digest(target)
    again = build(cfg, **QUIET)
    assert again.up_to_date is True
    assert again.computed == []
    assert sorted(again.reused) == ["tiny/news", "tiny/questions"]
    assert file_digest(target) == before
    # progress is not part of the build's identity
    assert build(cfg.with_(progress=True), **QUIET).up_to_date


def test_cli_reports_up_to_date(tiny_model_dir, fixture_files, tmp_path, capsys):
    args = ["build", "--dataset", f"name=q,source=file,path={fixture_files['questions']},text=question",
            "--model", str(tiny_model_dir), "--run-id", "tiny", "--max-length", "32", "--batch-size", "8",
            "--topk", "5", "--warehouse", str(tmp_path / "cli.duckdb"), "--quiet"]
    assert main(args) == 0
    assert "computed 1, reused 0" in capsys.readouterr().out
    assert main(args) == 0
    assert "up to date (1 run/dataset pairs unchanged)" in capsys.readouterr().out


def test_adding_a_dataset_computes_only_it(cfg_for):
    first_cfg = cfg_for("questions", "news")
    build(first_cfg, **QUIET)
    target = Path(first_cfg.warehouse)
    old = {d: per_dataset_rows(target, d) for d in ("questions", "news")}
    report = build(cfg_for("questions", "news", "pairs"), **QUIET)
    assert report.computed == ["tiny/pairs"]
    assert sorted(report.reused) == ["tiny/news", "tiny/questions"]
    for d in ("questions", "news"):
        assert per_dataset_rows(target, d) == old[d], d  # copied, including the original stage_log times
    assert len(activations_of(target, "pairs")) == 16 * 3 * 2
    assert fetch(target, "select dataset, n_sentences from datasets order by dataset") == \
        [("news", 24), ("pairs", 16), ("questions", 24)]
    assert contract_violations(target) == []


def test_changing_a_datasets_content_recomputes_only_it(cfg_for, fixture_files, tmp_path):
    news_copy = tmp_path / "news.tsv"
    shutil.copy(fixture_files["news"], news_copy)
    news = DatasetSpec(name="news", source="file", path=str(news_copy), text="sentence", label="section",
                       label_kind="class")
    build(cfg_for("questions", news, "pairs"), **QUIET)
    target = tmp_path / "w.duckdb"
    old = {d: per_dataset_rows(target, d) for d in ("questions", "pairs", "news")}
    with open(news_copy, "a") as f:
        f.write("A new line was added to the news file.\t0.5\tpolitics\n")
    report = build(cfg_for("questions", news, "pairs"), **QUIET)
    assert report.computed == ["tiny/news"]
    assert sorted(report.reused) == ["tiny/pairs", "tiny/questions"]
    for d in ("questions", "pairs"):
        assert per_dataset_rows(target, d) == old[d]
    assert fetch(target, "select n_sentences from datasets where dataset = 'news'") == [(25,)]
    assert fetch(target, "select text from sentences where dataset = 'news' and sentence_id = 24") == \
        [("A new line was added to the news file.",)]
    # The 24 old news sentences give the same vectors (same model, same text; the batches differ, so only
    # up to float rounding).
    new_news = [r for r in activations_of(target, "news") if r[3] < 24]
    assert [r[:4] for r in new_news] == [r[:4] for r in old["news"]["activations"]]
    np.testing.assert_allclose(np.array([r[4] for r in new_news]),
                               np.array([r[4] for r in old["news"]["activations"]]), atol=1e-5)


def test_removing_a_dataset_reuses_the_rest(cfg_for):
    build(cfg_for("questions", "news", "pairs"), **QUIET)
    target = Path(cfg_for("questions").warehouse)
    old = per_dataset_rows(target, "questions")
    report = build(cfg_for("questions"), **QUIET)
    assert report.computed == [] and report.reused == ["tiny/questions"] and not report.up_to_date
    assert per_dataset_rows(target, "questions") == old
    assert fetch(target, "select dataset from datasets") == [("questions",)]
    assert fetch(target, "select count(*) from activations where dataset <> 'questions'") == [(0,)]


def test_model_spec_change_recomputes_everything(cfg_for, tiny_spec):
    build(cfg_for("questions", "news"), **QUIET)
    report = build(cfg_for("questions", "news", models=[replace(tiny_spec, max_length=16)]), **QUIET)
    assert sorted(report.computed) == ["tiny/news", "tiny/questions"] and report.reused == []
    target = Path(cfg_for("questions").warehouse)
    assert fetch(target, "select max_length from runs") == [(16,)]


# --- one build at a time -----------------------------------------------------------------------------------

def test_concurrent_build_is_refused(cfg_for, tmp_path, capsys):
    cfg = cfg_for("questions")
    target = Path(cfg.warehouse)
    with build_lock(target):
        with pytest.raises(PipelineError) as e:
            build(cfg, **QUIET)
        msg = str(e.value)
        assert "another build is running" in msg and f"pid {os.getpid()}" in msg and str(target) in msg
        assert not target.exists() and leftovers(tmp_path) == []
        args = ["build", "--dataset", f"name=q,source=file,path={cfg.datasets[0].path},text=question",
                "--model", cfg.models[0].path, "--max-length", "32", "--warehouse", str(target), "--quiet"]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and "another build is running" in err
    assert build(cfg, **QUIET).computed == ["tiny/questions"]  # released: the next build runs


# --- schema contracts --------------------------------------------------------------------------------------

def test_small_warehouse_meets_the_contracts(small_warehouse):
    con = warehouse.connect_read_only(small_warehouse)
    try:
        assert violations(con) == []
        counts = dict(con.execute("select dataset, n_sentences from datasets").fetchall())
        assert counts == {"questions": 24, "pairs": 16, "news": 24}
        assert con.execute("select count(*) from activations").fetchone()[0] == 64 * 3 * 2
        # one row per dataset, layer, pooling, side and neuron, each holding k = 5 sentences
        assert con.execute("select count(*) from neuron_topk").fetchone()[0] == 3 * 3 * 2 * 2 * 32
        assert con.execute("select min(len(sentence_ids)), max(len(vals)) from neuron_topk").fetchone() == (5, 5)
        assert con.execute("select count(*) from layers").fetchone()[0] == 3
    finally:
        con.close()


@pytest.fixture
def corruptible(small_warehouse, tmp_path):
    copy = tmp_path / "copy.duckdb"
    shutil.copy(small_warehouse, copy)
    con = duckdb.connect(str(copy))
    yield con
    con.close()


def names(found):
    return {n for n, _ in found}


def test_duplicate_sentence_is_detected(corruptible):
    corruptible.execute("insert into sentences select * from sentences where dataset = 'news' and sentence_id = 3")
    found = dict(violations(corruptible))
    assert found["sentences unique (dataset, sentence_id)"] == 1
    assert found["datasets.n_sentences matches sentences"] == 1


def test_dangling_activation_is_detected(corruptible):
    corruptible.execute("insert into activation_store select * replace (9999 as sentence_id) from activation_store "
                        "where dataset = 'news' and sentence_id = 0 and layer = 0 and pooling = 'cls'")
    assert violations(corruptible) == [("activation_store(dataset, sentence_id) -> sentences", 1)]


@pytest.mark.parametrize("sql, expected", [
    ("insert into neuron_topk select run_id, 7, pooling, dataset, unit || '', side || '-copy', sentence_ids, vals "
     "from neuron_topk limit 1", "neuron_topk(run_id, layer) -> layers"),
    ("update neuron_topk set sentence_ids = [999] || sentence_ids[2:] where unit = 0 and layer = 0 "
     "and pooling = 'cls' and side = 'top' and dataset = 'news'",
     "(select dataset, unnest(sentence_ids) as sentence_id from neuron_topk)(dataset, sentence_id) -> sentences"),
    ("update neuron_topk set vals = vals[2:] where unit = 1 and layer = 0 and pooling = 'cls' and side = 'top' "
     "and dataset = 'news'", "neuron_topk lists have equal lengths"),
    ("update activation_store set codes = codes[1:31] where sentence_id = 0 and dataset = 'pairs' and layer = 1",
     "activation_store rows hold hidden_size values of their dtype"),
    ("update activation_store set scale = -scale where sentence_id = 1 and dataset = 'pairs' and layer = 1",
     "activation_store scales and errors are finite and non-negative"),
    ("insert into meta values ('schema_version', '1')", "meta unique (key)"),
    ("insert into sentence_lengths values ('ghost', 'news', 0, 5, false)", "sentence_lengths(run_id) -> runs"),
    ("insert into sentence_tokens values ('tiny', 'news', 0, 'x', 1), ('tiny', 'news', 0, 'x', 2)",
     "sentence_tokens unique (run_id, dataset, sentence_id, token)"),
    ("delete from runs", "layers(run_id) -> runs"),
])
def test_other_corruptions_are_detected(corruptible, sql, expected):
    corruptible.execute(sql)
    assert expected in names(violations(corruptible))


# --- schema version ----------------------------------------------------------------------------------------

def fake_warehouse(path: Path, version: str | None):
    con = duckdb.connect(str(path))
    con.execute("create table meta (key varchar, value varchar)")
    if version is not None:
        con.execute("insert into meta values ('schema_version', ?)", [version])
    con.close()


def test_unknown_schema_version_is_refused(tmp_path):
    p = tmp_path / "future.duckdb"
    fake_warehouse(p, "999")
    with pytest.raises(warehouse.WarehouseError) as e:
        warehouse.connect_read_only(p)
    assert "schema version 999" in str(e.value) and str(p) in str(e.value)
    assert f"reads version {warehouse.SCHEMA_VERSION}" in str(e.value)
    p2 = tmp_path / "none.duckdb"
    fake_warehouse(p2, None)
    with pytest.raises(warehouse.WarehouseError, match="no schema version"):
        warehouse.connect_read_only(p2)


def test_missing_and_non_duckdb_files(tmp_path):
    with pytest.raises(warehouse.WarehouseError, match="no warehouse here"):
        warehouse.connect_read_only(tmp_path / "absent.duckdb")
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"this is not a database" * 1000)
    with pytest.raises(warehouse.WarehouseError, match="cannot be opened as a DuckDB file"):
        warehouse.connect_read_only(junk)


def test_info_on_unknown_version_exits_2_with_one_line(tmp_path):
    p = tmp_path / "future.duckdb"
    fake_warehouse(p, "999")
    proc = subprocess.run([sys.executable, "-m", "pipeline", "info", "--warehouse", str(p)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "schema version 999" in lines[0]


def test_info_on_a_good_warehouse(small_warehouse, capsys):
    assert main(["info", "--warehouse", str(small_warehouse)]) == 0
    out = capsys.readouterr().out
    assert "tiny: transformer" in out and "3 layers x 32 units" in out
    assert "questions: 24 sentences from file:" in out and "label score" in out
    assert "pairs: 16 sentences" in out and ", pairs" in out
    assert "config: topk=5" in out


def test_build_replaces_a_warehouse_of_unknown_version(cfg_for, tmp_path):
    target = tmp_path / "w.duckdb"
    fake_warehouse(target, "999")
    report = build(cfg_for("questions"), **QUIET)
    assert report.computed == ["tiny/questions"]
    assert meta(target)["schema_version"] == str(warehouse.SCHEMA_VERSION)


def test_a_file_of_an_older_layout_is_rebuilt_not_reused(cfg_for, tmp_path):
    """Version 7 changed the activations' layout (activation_store under an activations view), so no older file
    is reusable: a build over a version-6 file with float[] activations computes everything again and replaces
    it, instead of copying its rows (the copy would cast float vectors into int16 codes)."""
    assert warehouse.REUSABLE_VERSIONS == tuple(range(warehouse.LAYOUT_VERSION, warehouse.SCHEMA_VERSION + 1))
    assert 6 not in warehouse.REUSABLE_VERSIONS and warehouse.SCHEMA_VERSION in warehouse.REUSABLE_VERSIONS
    cfg = cfg_for("questions", "news")
    build(cfg, **QUIET)
    target = tmp_path / "w.duckdb"
    want = fetch(target, "select * from activation_store order by all")
    con = duckdb.connect(str(target))  # the version-6 layout: vec float[] in a table named activations
    con.execute("drop view activations")
    con.execute("create table activations as select run_id, layer, pooling, dataset, sentence_id, "
                "coalesce(floats, list_transform(codes, lambda c: c * scale)) as vec from activation_store")
    con.execute("drop table activation_store")
    con.execute("update meta set value = '6' where key = 'schema_version'")
    con.close()
    report = build(cfg, **QUIET)
    assert report.reused == [] and sorted(report.computed) == ["tiny/news", "tiny/questions"]
    assert all(set(v.values()) == {"computed"} for v in report.stages.values())
    assert meta(target)["schema_version"] == str(warehouse.SCHEMA_VERSION)
    assert fetch(target, "select * from activation_store order by all") == want


def test_changing_the_storage_recomputes_the_extraction_and_what_reads_it(cfg_for, tmp_path):
    """storage.activations is part of extraction's inputs: a float32 build over an int16 file (same version,
    same everything else) copies nothing derived from the vectors, and back again."""
    target = tmp_path / "w.duckdb"
    build(cfg_for("questions", "news"), **QUIET)
    assert fetch(target, "select distinct dtype from activation_store") == [("int16",)]
    report = build(cfg_for("questions", "news", storage={"activations": "float32"}), **QUIET)
    assert report.reused == [] and sorted(report.computed) == ["tiny/news", "tiny/questions"]
    assert report.stages["histograms"] == {"tiny": "computed"}
    assert fetch(target, "select distinct dtype, scale, max_error from activation_store") == [("float32", 1.0, 0.0)]
    assert fetch(target, "select count(*) from activation_store where codes is not null or floats is null") == [(0,)]
    report = build(cfg_for("questions", "news"), **QUIET)
    assert report.computed and fetch(target, "select distinct dtype from activation_store") == [("int16",)]
