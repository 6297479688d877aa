"""The Ray Data engine (pipeline/engines/ray_engine.py): exact merges of per-shard partials, and the same
extraction as the local engine through a local Ray cluster with 2 actors.

The merge tests are pure numpy and need no Ray. The Ray tests start one local cluster for the module
(``ray.init(num_cpus=2)`` through ``ray_engine.connect``) and shut it down at the end; the CLI tests
(``python -m pipeline build --engine ray``) build on that cluster too: a whole tiny-model warehouse both ways,
compared table by table, and the bad-input paths (exit code 2, the live warehouse untouched).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.drift import value_histograms
from analysis.extremes import neuron_extremes
from pipeline.engines.ray_engine import (merge_minmax, merge_topk, shard_extremes, shard_histogram_counts,
                                         topk_rows)
from pipeline.errors import PipelineError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------------------------------------
# Pure merges on synthetic data
# ---------------------------------------------------------------------------------------------------------

def _random_shards(n: int, n_shards: int, rng) -> list[np.ndarray]:
    """A random partition of 0..n-1 into n_shards sets (not contiguous ranges), each sorted."""
    owner = rng.integers(0, n_shards, n)
    return [np.flatnonzero(owner == s) for s in range(n_shards) if (owner == s).any()]


@pytest.mark.parametrize("k", [1, 5, 40, 500])
def test_merge_topk_equals_neuron_extremes_with_ties_across_shards(k):
    rng = np.random.default_rng(k)
    n, h = 300, 17
    # Values from {-1.5, -0.5, 0.5, 1.5, 2.5} and a few signed zeros: hundreds of ties per column, spread
    # over every shard, so the tie rule (lower sentence id first) decides most of the top-k.
    x = (rng.integers(0, 5, (n, h)) - 1.5).astype(np.float32)
    x[rng.random((n, h)) < 0.05] = -0.0
    x[rng.random((n, h)) < 0.05] = 0.0
    x[:, 3] = 7.0  # a constant column
    parts = [shard_extremes(x[ids], ids, k) for ids in _random_shards(n, 13, rng)]
    got = merge_topk(parts, k)
    want = neuron_extremes(x, k)
    for g, w in zip(got, want):
        assert g.shape == w.shape == (min(k, n), h)
        np.testing.assert_array_equal(g, w)


def test_merge_topk_when_every_shard_is_smaller_than_k():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, (23, 4)).astype(np.float32)
    parts = [shard_extremes(x[s:s + 3], np.arange(s, min(s + 3, 23)), 10) for s in range(0, 23, 3)]
    for g, w in zip(merge_topk(parts, 10), neuron_extremes(x, 10)):
        np.testing.assert_array_equal(g, w)


def test_shard_extremes_needs_rows_in_sentence_id_order():
    x = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="increasing sentence id"):
        shard_extremes(x, np.array([4, 2, 9]), 2)


def test_merged_histograms_equal_value_histograms_bit_for_bit():
    rng = np.random.default_rng(7)
    n, h, bins = 1000, 9, 40
    x = rng.standard_normal((n, h)).astype(np.float32)
    x[:, 0] = 3.25  # constant: every value in bin 0
    x[:, 1] = rng.choice(np.linspace(-1, 1, bins + 1).astype(np.float32), n)  # many values on bin edges
    base = np.float32(0.1)
    x[:, 2] = rng.choice([base, np.nextafter(base, np.float32(1))], n)  # a one-ulp range
    x[:, 3] = rng.integers(-3, 4, n).astype(np.float32) * np.float32(0.1)  # steps that are not exact in binary
    x[:, 4] = np.where(rng.random(n) < 0.5, -0.0, 0.0).astype(np.float32)  # only signed zeros: constant
    x[:7, 5] = 1e-30  # a tiny cluster next to the range's end
    shards = _random_shards(n, 11, rng)
    lo, hi = merge_minmax([(x[s].min(0), x[s].max(0)) for s in shards])
    counts = sum(shard_histogram_counts(x[s], lo, hi, bins) for s in shards)
    want_lo, want_hi, want = value_histograms(x, bins)
    np.testing.assert_array_equal(lo.astype(np.float64), want_lo)
    np.testing.assert_array_equal(hi.astype(np.float64), want_hi)
    assert counts.dtype == want.dtype
    np.testing.assert_array_equal(counts, want)
    assert (counts.sum(1) == n).all()
    # and np.histogram itself, on the edge, one-ulp and inexact-step columns. In float64, as
    # value_histograms bins: on float32 input np.histogram (NEP 50) would compute float32 edges, on which
    # the values of column 1 sit exactly, instead of the float64 edges they fall either side of.
    for u in (1, 2, 3):
        ref, _ = np.histogram(x[:, u].astype(np.float64), bins, range=(float(want_lo[u]), float(want_hi[u])))
        np.testing.assert_array_equal(counts[u], ref)


def test_shard_histogram_counts_refuses_values_outside_the_range():
    x = np.array([[0.0], [2.0]], dtype=np.float32)
    with pytest.raises(ValueError, match="outside"):
        shard_histogram_counts(x, np.array([0.5], np.float32), np.array([2.0], np.float32))


def test_topk_rows_is_extract_topk_table():
    from pipeline.stages.extract import topk_table

    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, (30, 6)).astype(np.float32)
    parts = [shard_extremes(x[s], s, 5) for s in _random_shards(30, 4, rng)]
    assert topk_rows("r", "d", 2, "mean", merge_topk(parts, 5)).equals(topk_table("r", "d", 2, "mean", x, 5))


# ---------------------------------------------------------------------------------------------------------
# Through a local Ray cluster
# ---------------------------------------------------------------------------------------------------------

ray = pytest.importorskip("ray")  # the optional dependency: pipeline/requirements-ray.txt
K = 5
# The tiny BERT, run in batches of different composition (and so different padding) by the two engines:
# SDPA with an attention mask gives the same vectors up to float32 summation order over the padded length
# (measured: at most 2.4e-7, a few ulps of values of order 1; ~98% of the values bitwise equal).
ATOL = 1e-6


@pytest.fixture(scope="module")
def ray_cluster():
    from pipeline.engines.ray_engine import connect

    connect(num_cpus=2)  # ray.init(num_cpus=2, ...) with this checkout on the workers' path
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def texts(small_specs, tmp_path_factory):
    from pipeline.corpora import load_dataset

    cache = tmp_path_factory.mktemp("ray-cache")
    out = {s.name: load_dataset(s, cache).frame["text"].tolist() for s in small_specs}
    # Every sentence three times: identical vectors, ties that the top-k tie rule must break by sentence id.
    out["dups"] = [t for t in out["questions"][:10] for _ in range(3)]
    return out


@pytest.fixture(scope="module")
def both(ray_cluster, texts, tiny_spec, tmp_path_factory):
    """(local Encoded per dataset, Ray manifest, Ray Merged per dataset, shard folder)."""
    from pipeline.engines.ray_engine import encode_with_ray
    from pipeline.models import make_runner

    runner = make_runner(tiny_spec)
    local = {name: runner.encode(t) for name, t in texts.items()}
    shard_dir = tmp_path_factory.mktemp("ray-shards")
    # 9 rows per shard: every dataset spans several shards, and most shards hold more than one dataset.
    manifest, merged = encode_with_ray(tiny_spec, texts, shard_dir, k=K, num_actors=2, rows_per_shard=9,
                                       progress=False)
    return local, manifest, merged, shard_dir, runner


def test_ray_vectors_and_lengths_equal_the_local_engine(both, texts):
    local, manifest, merged, shard_dir, runner = both
    assert len(manifest["shards"]) == -(-sum(map(len, texts.values())) // 9)
    assert manifest["info"]["poolings"] == list(runner.poolings)
    assert manifest["info"]["n_layers"] == len(runner.layer_names)
    mixed = sum(len(s["datasets"]) > 1 for s in manifest["shards"])
    assert mixed >= 1
    for name in texts:
        a, b = local[name], merged[name].encoded
        assert b.vectors.shape == a.vectors.shape and b.vectors.dtype == np.float32
        np.testing.assert_allclose(b.vectors, a.vectors, rtol=0, atol=ATOL)
        np.testing.assert_array_equal(b.n_tokens, a.n_tokens)
        np.testing.assert_array_equal(b.truncated, a.truncated)
        assert b.token_counts == a.token_counts
        assert all(list(x) == list(y) for x, y in zip(b.token_counts, a.token_counts))  # same key order


def test_ray_merged_topk_and_histograms_equal_full_matrix_computations(both, texts):
    from pipeline.stages.extract import store_block

    _, _, merged, _, runner = both
    n_ties = 0
    for name in texts:
        m = merged[name]
        assert m.storage == "int16"  # the default: the partials' top-k are of the stored values
        for (layer, pooling), got in m.topk.items():
            x = m.encoded.vectors[layer, list(runner.poolings).index(pooling)]
            for g, w in zip(got, neuron_extremes(store_block(x, m.storage).values(), K)):
                np.testing.assert_array_equal(g, w)
            lo, hi, counts = m.histograms[(layer, pooling)]
            for g, w in zip((lo, hi, counts), value_histograms(x)):
                assert g.dtype == w.dtype
                np.testing.assert_array_equal(g, w)
            n_ties += int((np.diff(got[1], axis=0) == 0).sum())
    assert n_ties > 0  # the planted duplicates did tie inside some top-k


def test_ray_warehouse_tables_equal_local_ones(both, texts, tmp_path):
    """The four extract tables written both ways: equal, vec within ATOL, neuron_topk ids equal where the
    local values are separated by more than ATOL (closer pairs may swap order between engines)."""
    import warehouse
    from pipeline.engines.ray_engine import write_merged
    from pipeline.stages.extract import write_extraction

    local, _, merged, _, runner = both
    cons = {}
    for which in ("local", "ray"):
        con = warehouse.connect_for_writing(tmp_path / f"{which}.duckdb")
        warehouse.create_schema(con)
        for name in texts:
            if which == "local":
                write_extraction(con, runner, name, local[name], K)
            else:
                write_merged(con, runner.run_id, name, merged[name])
        cons[which] = con
    # int16 storage: a value within ATOL of a rounding edge may take the neighbouring code, one step (the row's
    # scale) away, in one engine; stored values and their top-k agree within ATOL plus that step.
    tol = ATOL + cons["local"].execute("select max(scale) from activation_store").fetchone()[0]
    order = {"activations": "run_id, dataset, layer, pooling, sentence_id",
             "sentence_lengths": "run_id, dataset, sentence_id",
             "sentence_tokens": "run_id, dataset, sentence_id, token",
             "neuron_topk": "run_id, dataset, layer, pooling, unit, side"}
    for table, keys in order.items():
        a = cons["local"].execute(f"select * from {table} order by {keys}").df()
        b = cons["ray"].execute(f"select * from {table} order by {keys}").df()
        assert len(a) == len(b) > 0, table
        float_cols = {"activations": ["vec"], "neuron_topk": ["vals", "sentence_ids"]}.get(table, [])
        exact = [c for c in a.columns if c not in float_cols]
        assert a[exact].equals(b[exact]), table
        if table == "activations":
            np.testing.assert_allclose(np.stack(b["vec"]), np.stack(a["vec"]), rtol=0, atol=tol)
        if table == "neuron_topk":
            va, vb = np.stack(a["vals"]), np.stack(b["vals"])
            np.testing.assert_allclose(vb, va, rtol=0, atol=tol)
            ia, ib = np.stack(a["sentence_ids"]), np.stack(b["sentence_ids"])
            # A rank whose value is within ATOL of a neighbour's is a near-tie that float error may reorder,
            # unless both engines tie exactly there (layer 0's [CLS] is the same vector for every sentence):
            # then the tie rule decides, and must decide the same. Every other rank must hold the same
            # sentence. Repeated texts (dups, and the pairs premises, each used three times) are left out
            # here: in differently padded batches they tie exactly in one engine and are an ulp apart in the
            # other (their ties are checked against neuron_extremes in the test above).
            gap, gap_ray = np.abs(np.diff(va, axis=1)), np.abs(np.diff(vb, axis=1))
            near = (gap <= tol) & ~((gap == 0) & (gap_ray == 0))
            clear = np.ones_like(va, dtype=bool)
            clear[:, 1:] &= ~near
            clear[:, :-1] &= ~near
            for name, t in texts.items():
                repeated = [i for i, x in enumerate(t) if t.count(x) > 1]
                rows = (a["dataset"] == name).to_numpy()
                clear[rows] &= ~np.isin(ia[rows], repeated)
            assert clear.mean() > 0.4
            np.testing.assert_array_equal(ib[clear], ia[clear])
    for con in cons.values():
        con.close()


def test_missing_and_corrupt_shard_errors(both, tmp_path):
    import shutil

    from pipeline.engines.ray_engine import merge_shards

    _, manifest, _, shard_dir, _ = both
    copy = tmp_path / "shards"
    shutil.copytree(shard_dir, copy)
    victim = manifest["shards"][2]["file"]
    (copy / victim).unlink()
    with pytest.raises(PipelineError, match=rf"--ray-shards .*shard {victim} is missing") as e:
        merge_shards(copy)
    assert "\n" not in str(e.value)
    (copy / victim).write_bytes(b"PAR1 not really")
    with pytest.raises(PipelineError, match=rf"--ray-shards .*shard {victim} is corrupt"):
        merge_shards(copy)
    (copy / "manifest.json").unlink()  # what a killed run leaves
    with pytest.raises(PipelineError, match="no manifest.json"):
        merge_shards(copy)


def test_actor_error_reaches_the_driver_as_one_line(ray_cluster, tmp_path):
    from pipeline.config import ModelSpec
    from pipeline.engines.ray_engine import extract_with_ray

    bad = ModelSpec("bad", "transformer", str(tmp_path / "no-such-model"))
    with pytest.raises(PipelineError, match="no-such-model"):
        extract_with_ray(bad, {"d": ["a text"]}, tmp_path / "s", k=2, num_actors=1, progress=False)
    assert not (tmp_path / "s" / "manifest.json").exists()


def test_unreachable_address_is_one_line_naming_the_setting():
    """In a fresh interpreter: this module's cluster is already initialised here (and "auto" would find it)."""
    code = ("from pipeline.engines.ray_engine import connect\n"
            "from pipeline.errors import PipelineError\n"
            "for address in ('127.0.0.1:9', 'ray://127.0.0.1:9', 'no-port'):\n"
            "    try:\n        connect(address)\n    except PipelineError as e:\n        print('ERR', e)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("ERR")]
    assert len(lines) == 3, (out.stdout, out.stderr[-2000:])
    assert lines[0] == "ERR --address '127.0.0.1:9': could not connect to a Ray cluster (Connection refused)"
    assert lines[1] == "ERR --address 'ray://127.0.0.1:9': could not connect to a Ray cluster (Connection refused)"
    assert lines[2] == "ERR --address 'no-port': expected auto, host:port or ray://host:port"


# ---------------------------------------------------------------------------------------------------------
# Through the CLI: `python -m pipeline build --engine ray`
# ---------------------------------------------------------------------------------------------------------

def _build_args(model_dir, fixture_files, warehouse_path, *extra) -> list[str]:
    """A whole build of the three small file datasets with the tiny model (topk 5, no UMAP)."""
    return ["build", "--model", str(model_dir), "--run-id", "tiny", "--max-length", "32", "--batch-size", "8",
            "--dataset", f"name=questions,source=file,path={fixture_files['questions']},text=question,"
                         f"label=difficulty,label_kind=score",
            "--dataset", f"name=pairs,source=file,path={fixture_files['pairs']},text=premise,text_b=hypothesis,"
                         f"label=relation,label_kind=class",
            "--dataset", f"name=news,source=file,path={fixture_files['news']},text=sentence,label=section,"
                         f"label_kind=class",
            "--topk", str(K), "--umap-per-dataset", "0", "--warehouse", str(warehouse_path), "--quiet", *extra]


# Tolerances of the whole-build comparison, where the float32 vectors differ by float summation order (the
# batches hold different sentences, so different padding; see ATOL):
# - stored float32 values (activations, top-k values, histogram ranges, random-draw values): ATOL;
# - float64 statistics of those vectors (mean distances, consistencies, z-scores, ratios): measured at most
#   2.7e-5 absolute (a robustness of 10.8) and 1.6e-4 relative; allowed |d| <= 1e-5 + 1e-4 |x|;
# - everything else (ids, counts, labels, ranks, p-values, percentiles, clusters, stage hashes): exact.
# Two columns bin float values (locality: histograms of dot products; neuron_histograms.counts), so an ulp can
# move a value across a bin edge; they are checked against their own warehouse's activations instead, plus
# most rows equal across engines (measured: every counts row; 94% of locality rows, the largest gap 0.027).
# The two builds store float32 activations (--set storage.activations=float32), so the comparison sees the
# engines' own float differences: with the default int16 codes, a value within ATOL of a rounding edge takes the
# neighbouring code in one engine, a step (~1e-3 here) that the tiny random model's close top-k values cannot
# tell from a reordering. The int16 path through both engines is compared in
# test_ray_warehouse_tables_equal_local_ones (one code step allowed).
STAT_ATOL, STAT_RTOL = 1e-5, 1e-4
QUANTISED_COLUMNS = {("activation_store", "codes")}
VECTOR_COLUMNS = {("activations", "vec"), ("neuron_topk", "vals"), ("neuron_histograms", "lo"),
                  ("neuron_histograms", "hi"), ("neuron_histograms", "random_vals")}
BINNED_COLUMNS = {("neuron_locality", "locality"), ("neuron_histograms", "counts")}
# When a file was written, and how long a stage took: the only columns allowed to differ.
VOLATILE = {("datasets", "loaded_at"), ("runs", "built_at"), ("stage_log", "finished_at"),
            ("stage_log", "seconds")}


@pytest.fixture(scope="module")
def cli_builds(ray_cluster, tiny_model_dir, fixture_files, tmp_path_factory):
    """The same build through the CLI on each engine: {"local": path, "ray": path, "args": build args}.

    Both are built at the same path (the Ray one first, then moved), so that their configs, and so their meta
    rows, are comparable. Ray: on the module's cluster (2 CPUs), 2 actors, 16 sentences per shard (64
    sentences: 4 shards, most holding two datasets)."""
    from pipeline.cli import main

    d = tmp_path_factory.mktemp("cli-builds")
    target = d / "w.duckdb"
    args = _build_args(tiny_model_dir, fixture_files, target, "--set", "storage.activations=float32")
    assert main(args + ["--engine", "ray", "--ray-actors", "2", "--ray-rows-per-shard", "16"]) == 0
    assert not Path(f"{target}.ray-shards").exists()  # the shards are gone once stored
    target.rename(d / "ray.duckdb")
    assert main(args) == 0
    return {"local": target, "ray": d / "ray.duckdb", "args": args}


def _columns(con, table: str) -> list[tuple[str, str]]:
    return con.execute("select column_name, data_type from information_schema.columns where table_name = ? "
                       "order by ordinal_position", [table]).fetchall()


def _flat(column) -> np.ndarray:
    """A float column, scalar or list (each row's list in turn, with its length), as one float64 array."""
    values = [np.nan if v is None or v is pd.NA else v for v in column.tolist()]  # a null list (activation_store)
    if values and isinstance(values[0], (list, np.ndarray)):
        return np.concatenate([np.r_[len(v), np.asarray(v, np.float64)] for v in values])
    return np.asarray(values, dtype=np.float64)


def test_ray_build_through_the_cli_equals_the_local_build(cli_builds):
    """Every table of the two warehouses, row for row (sorted by every exact scalar column)."""
    import duckdb

    cons = {k: duckdb.connect(str(cli_builds[k]), read_only=True) for k in ("local", "ray")}
    tables = [t for (t,) in cons["local"].execute("select table_name from information_schema.tables "
                                                  "order by 1").fetchall()]
    assert tables == [t for (t,) in cons["ray"].execute("select table_name from information_schema.tables "
                                                        "order by 1").fetchall()]
    compared = []
    for table in tables:
        cols = _columns(cons["local"], table)
        assert cols == _columns(cons["ray"], table), table
        floats = [c for c, ty in cols if ty.startswith(("FLOAT", "DOUBLE"))]
        keys = [c for c, ty in cols if c not in floats and not ty.endswith("[]") and ty != "BLOB"]
        a, b = (con.execute(f"select * from {table} order by {', '.join(keys)}").df() for con in cons.values())
        assert len(a) == len(b), table
        if table == "quantile_examples":
            # A seeded draw within each quantile: a sentence whose value sits on a quantile bound in one engine's
            # floats and just past it in the other's moves quantile, and that quantile's draw changes. So the rows
            # are compared as sets: nearly all equal (each engine's own rows satisfy the bounds contract).
            rows = [set(map(tuple, f[["run_id", "layer", "pooling", "dataset", "unit", "quantile", "heldout",
                                      "sentence_id"]].astype(str).to_numpy())) for f in (a, b)]
            assert len(rows[0] & rows[1]) / len(rows[0]) > 0.98, table
            compared.append(table)
            continue
        if table == "meta":  # the same config (same path), manifest and code: every fact but the time
            a, b = a[a.key != "built_at"], b[b.key != "built_at"]
            assert len(a) == 7  # schema_version, code_version, config_json, config_hash, manifest_hash, duckdb_version, build_status
        for c, _ in cols:
            if (table, c) in VOLATILE or (table, c) in BINNED_COLUMNS:
                continue
            if (table, c) in QUANTISED_COLUMNS:
                x, y = _flat(a[c]), _flat(b[c])
                same = (x == y) | (np.isnan(x) & np.isnan(y))  # null lists: float32 rows have no codes
                assert x.shape == y.shape and np.nanmax(np.abs(x - y), initial=0) <= 1 and same.mean() > 0.999, \
                    f"{table}.{c}"
            elif c in floats:
                x, y = _flat(a[c]), _flat(b[c])
                assert x.shape == y.shape, f"{table}.{c}"
                rtol, atol = (0, ATOL) if (table, c) in VECTOR_COLUMNS else (STAT_RTOL, STAT_ATOL)
                if (table, c) in (("quantile_stats", "skewness"), ("quantile_stats", "kurtosis")):
                    rtol, atol = STAT_RTOL, 1e-3  # third and fourth moments amplify the engines' float differences
                np.testing.assert_allclose(y, x, rtol=rtol, atol=atol, equal_nan=True, err_msg=f"{table}.{c}")
            elif table == "neuron_topk" and c == "sentence_ids":
                continue  # below: ties
            else:
                assert a[c].astype(str).tolist() == b[c].astype(str).tolist(), f"{table}.{c}"
        if len(a):
            compared.append(table)
    # The studies that had something to compute on these datasets (the sentiment tables stay empty: no
    # binary labels here; UMAP is off, as --umap-per-dataset 0 keeps the build short).
    assert {"activations", "neuron_topk", "neuron_histograms", "sentence_distances", "illusion_scores",
            "illusion_null_scores", "neuron_locality", "separability", "anisotropy_words", "token_states",
            "attention_points", "stage_log"} <= set(compared)

    # neuron_topk ids: equal at every rank, except where the local values of neighbouring ranks are within
    # ATOL of each other and not tied exactly in both warehouses (float error may reorder those).
    order = "run_id, dataset, layer, pooling, unit, side"
    a, b = (con.execute(f"select sentence_ids, vals from neuron_topk order by {order}").df() for con in cons.values())
    ia, ib, va, vb = (np.stack(f[c]) for f, c in ((a, "sentence_ids"), (b, "sentence_ids"), (a, "vals"), (b, "vals")))
    gap, gap_ray = np.abs(np.diff(va, axis=1)), np.abs(np.diff(vb, axis=1))
    near = (gap <= ATOL) & ~((gap == 0) & (gap_ray == 0))
    clear = np.ones_like(ia, dtype=bool)
    clear[:, 1:] &= ~near
    clear[:, :-1] &= ~near
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(ib[clear], ia[clear])

    # The binned columns: each warehouse's own rows are what its stage computes from its own activations,
    # and most rows are equal across the engines.
    from analysis.drift import value_histograms
    from analysis.locality import locality_all_neurons
    from pipeline.stages.layer_scores import DEFAULT_K

    same = {"counts": [], "locality": []}
    blocks = cons["local"].execute("select distinct layer, pooling, dataset from activations order by all").fetchall()
    for layer, pooling, dataset in blocks:
        got = {}
        for which, con in cons.items():
            x = np.stack(con.execute("select vec from activations where layer = ? and pooling = ? and dataset = ? "
                                     "order by sentence_id", [layer, pooling, dataset]).df()["vec"])
            h = con.execute("select counts from neuron_histograms where layer = ? and pooling = ? and dataset = ? "
                            "order by unit", [layer, pooling, dataset]).df()
            loc = con.execute("select locality from neuron_locality where layer = ? and pooling = ? and dataset = ? "
                              "order by unit", [layer, pooling, dataset]).df()["locality"].to_numpy()
            counts = np.stack(h["counts"])
            np.testing.assert_array_equal(counts, value_histograms(x)[2])
            if len(loc):  # stored for datasets of at least 2k sentences
                np.testing.assert_array_equal(loc, locality_all_neurons(x, k=DEFAULT_K))
            got[which] = (counts, loc)
        same["counts"] += list((got["local"][0] == got["ray"][0]).all(axis=1))
        same["locality"] += list(np.isclose(got["local"][1], got["ray"][1], rtol=STAT_RTOL, atol=STAT_ATOL))
    assert len(same["counts"]) > len(same["locality"]) > 0  # locality: not for pairs (16 < 2k sentences)
    assert np.mean(same["counts"]) >= 0.9 and np.mean(same["locality"]) >= 0.9, \
        {k: np.mean(v) for k, v in same.items()}
    for con in cons.values():
        con.close()


def test_switching_engine_leaves_an_up_to_date_warehouse_up_to_date(cli_builds, monkeypatch, capsys):
    """The engine is in no inputs hash nor the manifest: the local build, asked again with --engine ray, is up
    to date, and Ray is not even joined."""
    from pipeline.cli import main
    from pipeline.engines import ray_engine

    def no_ray(*a, **k):
        raise AssertionError("connected to Ray for an up-to-date warehouse")

    monkeypatch.setattr(ray_engine, "connect", no_ray)
    before = cli_builds["local"].read_bytes()
    assert main(cli_builds["args"] + ["--engine", "ray", "--address", "auto"]) == 0
    assert "up to date (3 run/dataset pairs unchanged)" in capsys.readouterr().out
    assert cli_builds["local"].read_bytes() == before


def _previous_warehouse(cli_builds, tmp_path) -> tuple[Path, bytes]:
    """A copy of the local build as the live warehouse of a new build, and its bytes."""
    import shutil

    target = tmp_path / "w.duckdb"
    shutil.copyfile(cli_builds["local"], target)
    return target, target.read_bytes()


def _untouched(target: Path, before: bytes) -> None:
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["w.duckdb", "w.duckdb.lock"]  # no temp file


def test_unreachable_address_fails_in_seconds_with_exit_code_2(cli_builds, tiny_model_dir, fixture_files,
                                                               tmp_path):
    """The real CLI in a fresh process (this one's Ray is initialised, so connect would not even try): a port
    nobody listens on. Without the TCP probe ray.init retries an unreachable cluster for minutes; the
    subprocess timeout turns that into a failure."""
    import socket
    import time

    target, before = _previous_warehouse(cli_builds, tmp_path)
    with socket.socket() as s:  # a free port, closed again: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"127.0.0.1:{port}"
    # --topk 4: extraction has work to do, so the build needs Ray (an unchanged config would be up to date)
    args = _build_args(tiny_model_dir, fixture_files, target, "--topk", "4", "--engine", "ray", "--address", address)
    t = time.time()
    out = subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=30)
    print(f"unreachable --address: exit {out.returncode} after {time.time() - t:.1f} s (interpreter start included)")
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.splitlines() == [
        f"error: --address '{address}': could not connect to a Ray cluster (Connection refused)"]
    _untouched(target, before)


def test_engine_ray_without_ray_installed_exits_2(cli_builds, tiny_model_dir, fixture_files, tmp_path, monkeypatch,
                                                  capsys):
    from pipeline.cli import main

    target, before = _previous_warehouse(cli_builds, tmp_path)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as when it is not installed
    assert main(_build_args(tiny_model_dir, fixture_files, target, "--topk", "4", "--engine", "ray")) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --engine ray: Ray is not installed (pip install -r pipeline/requirements-ray.txt)"]
    _untouched(target, before)


def test_shard_missing_at_merge_time_exits_2(ray_cluster, cli_builds, tiny_model_dir, fixture_files, tmp_path,
                                             monkeypatch, capsys):
    """A real Ray extraction (1 actor, 4 shards) whose second shard is gone before the merge, as when --ray-shards
    is a node's local disk rather than storage the driver can read."""
    from pipeline.cli import main
    from pipeline.engines import ray_engine

    target, before = _previous_warehouse(cli_builds, tmp_path)
    shards = tmp_path.parent / f"{tmp_path.name}-shards"
    real = ray_engine.extract_with_ray
    lost = []

    def extract_then_lose_a_shard(spec, texts, shard_dir, **kw):
        manifest = real(spec, texts, shard_dir, **kw)
        lost.append(manifest["shards"][1]["file"])
        (Path(shard_dir) / lost[0]).unlink()
        return manifest

    monkeypatch.setattr(ray_engine, "extract_with_ray", extract_then_lose_a_shard)
    args = _build_args(tiny_model_dir, fixture_files, target, "--topk", "4", "--engine", "ray", "--ray-actors", "1",
                       "--ray-rows-per-shard", "16", "--ray-shards", str(shards))
    assert main(args) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"error: --ray-shards {shards / 'tiny'}: shard {lost[0]} is missing (listed in manifest.json; "
                   f"run the Ray extraction again)"]
    _untouched(target, before)
