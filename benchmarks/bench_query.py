"""Query latency at the paper's scale: 624,712 sentences x 768 units, our schema, writers and named queries.

    python -m benchmarks.bench_query [--path /tmp/illusion-bench-query.duckdb] [--rebuild] [--queries 50]

Builds (or reuses) a warehouse of synthetic, seeded float32 activations for one run, one layer and one pooling
over 4 datasets, written exactly as ``pipeline.build`` writes them: ``warehouse.create_schema``, then per
dataset ``extract.activation_table`` (the default int16 storage) through ``extract.insert_activations`` and ``extract.topk_table`` (k=50) into neuron_topk,
then the schema contracts and a checkpoint. runs/layers/datasets/sentences rows (short synthetic texts) make the joins real.

Then, on a read-only connection (``warehouse.connect_read_only``), it times the named queries the dashboard
calls, ``warehouse.queries.neuron_top`` (one unit, all 4 datasets, k=10) and ``direction_top`` (a random
direction), over --queries random units / directions each (after one warm-up call), and the same answers
computed with numpy on the matrix held in RAM (argpartition top 10 per dataset of X[:, d] and of X @ w).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np

N_TOTAL = 624_712
HIDDEN = 768
DATASETS = ("bench_a", "bench_b", "bench_c", "bench_d")  
RUN, LAYER, POOLING = "bench", 0, "mean"
TOPK = 50
K = 10
SEED = 0
PARAMS = {"n": N_TOTAL, "hidden": HIDDEN, "datasets": list(DATASETS), "run": RUN, "layer": LAYER,
          "pooling": POOLING, "topk": TOPK, "seed": SEED, "values": "standard normal float32", "storage": "int16"}
STORAGE = PARAMS["storage"]
LAYOUT = ("layout: activation_store = one row per (run, layer, pooling, dataset, sentence) with codes SMALLINT[] "
          "(14-bit codes) and a float scale (value = code * scale), written in contiguous (run, dataset, layer, pooling) blocks; per-neuron queries read the precomputed neuron_topk "
          f"(k={TOPK} per side); random directions = list_inner_product(codes::float[], w) * scale scan of the run/layer/pooling slice")


def sizes() -> list[int]:
    per, extra = divmod(N_TOTAL, len(DATASETS))
    return [per + (i < extra) for i in range(len(DATASETS))]


def matrix(i: int, n: int) -> np.ndarray:
    """Dataset i's [n, HIDDEN] activations; the same values every time (seeded per dataset)."""
    return np.random.default_rng([SEED, i]).standard_normal((n, HIDDEN), dtype=np.float32)


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def is_built(path: Path) -> bool:
    import warehouse

    if not path.exists():
        return False
    try:
        con = warehouse.connect_read_only(path)
    except warehouse.WarehouseError:
        return False
    try:
        n = con.execute("select count(*) from activation_store").fetchone()[0]
        n_top = con.execute("select count(*) from neuron_topk").fetchone()[0]
        meta = con.execute("select value from meta where key = 'bench_query'").fetchone()
    finally:
        con.close()
    return (n == N_TOTAL and n_top == len(DATASETS) * HIDDEN * 2
            and meta is not None and json.loads(meta[0]) == PARAMS)


def build(path: Path) -> dict:
    """Write the warehouse the way pipeline.build does; returns phase timings (s)."""
    import duckdb
    import pandas as pd

    import warehouse
    from pipeline.stages import extract
    from warehouse.contracts import violations

    tmp = path.with_name(path.name + ".tmp")
    for stale in (tmp, Path(f"{tmp}.wal")):
        stale.unlink(missing_ok=True)
    now = pd.Timestamp.now("UTC").tz_localize(None).to_pydatetime()
    phases: dict[str, float] = {}
    t_all = time.perf_counter()
    con = duckdb.connect(str(tmp))
    try:
        warehouse.create_schema(con)
        con.execute("insert into runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [RUN, "transformer", "synthetic", "synthetic", 1, HIDDEN, 12, 128, ["cls", "mean"],
                     json.dumps(PARAMS), "bench", "bench", now])
        con.execute("insert into layers values (?, ?, ?)", [RUN, LAYER, "hook_embed"])
        t = time.perf_counter()
        for name, n in zip(DATASETS, sizes()):
            con.execute("insert into datasets values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [name, "file", f"synthetic/{name}", "synthetic benchmark rows", "none", n, 0, False,
                         json.dumps({"name": name}), "bench", now])
            rows = pd.DataFrame({"dataset": name, "sentence_id": np.arange(n, dtype=np.int32),  # noqa: F841
                                 "text": [f"synthetic sentence {i} of {name}" for i in range(n)],
                                 "text_b": None, "label": None, "label_text": None, "split": None})
            con.execute("insert into sentences select * from rows")
        phases["sentences"] = time.perf_counter() - t
        phases["activations insert"] = phases["neuron_topk (topk_table + insert)"] = 0.0
        for i, (name, n) in enumerate(zip(DATASETS, sizes())):
            x = matrix(i, n)
            t = time.perf_counter()
            stored = extract.store_block(x, STORAGE)
            extract.insert_activations(con, extract.activation_table(RUN, name, LAYER, POOLING, stored))
            x = stored.values()  # neuron_topk of the stored values, as the build computes it
            del stored
            phases["activations insert"] += time.perf_counter() - t
            t = time.perf_counter()
            topk = extract.topk_table(RUN, name, LAYER, POOLING, x, TOPK)  # noqa: F841
            con.execute("insert into neuron_topk select * from topk")
            del topk, x
            phases["neuron_topk (topk_table + insert)"] += time.perf_counter() - t
        con.execute("insert into meta values ('bench_query', ?)", [json.dumps(PARAMS)])
        t = time.perf_counter()
        bad = violations(con)
        phases["contracts"] = time.perf_counter() - t
        if bad:
            raise RuntimeError(f"schema contracts failed: {bad}")
        t = time.perf_counter()
        con.execute("checkpoint")
        phases["checkpoint"] = time.perf_counter() - t
    finally:
        con.close()
    os.replace(tmp, path)
    phases["total"] = time.perf_counter() - t_all
    return phases


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def timed(fn, args_list) -> tuple[list[float], list]:
    out, ms = [], []
    for a in args_list:
        t = time.perf_counter()
        out.append(fn(a))
        ms.append((time.perf_counter() - t) * 1000)
    return ms, out


def np_top(scores: np.ndarray, bounds: list[tuple[int, int]], k: int) -> list[np.ndarray]:
    """Local sentence ids of the top k per dataset, highest first."""
    res = []
    for a, b in bounds:
        s = scores[a:b]
        idx = np.argpartition(-s, k - 1)[:k]
        res.append(idx[np.argsort(-s[idx], kind="stable")])
    return res


def main(argv=None) -> None:
    global N_TOTAL
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", default="/tmp/illusion-bench-query.duckdb", help="where the warehouse is cached")
    ap.add_argument("--rebuild", action="store_true", help="rebuild even if the cached file is right")
    ap.add_argument("--queries", type=int, default=50, help="random units / directions per query")
    ap.add_argument("--n", type=int, default=PARAMS["n"], help=argparse.SUPPRESS)  # smaller, for a smoke test
    args = ap.parse_args(argv)
    N_TOTAL = PARAMS["n"] = args.n

    import duckdb

    import warehouse
    from warehouse import queries

    path = Path(args.path)
    print(f"load average at start: {os.getloadavg()}  (nproc {os.cpu_count()}, duckdb {duckdb.__version__})")
    print(LAYOUT)
    if args.rebuild or not is_built(path):
        print(f"building {path}: {N_TOTAL:,} sentences x {HIDDEN} units, {len(DATASETS)} datasets ...", flush=True)
        phases = build(path)
        print("build phases (s): " + ", ".join(f"{k} {v:.1f}" for k, v in phases.items()))
        print(f"build time {phases['total']:.1f} s, peak RSS {rss_gb():.2f} GB")
    else:
        print(f"reusing {path} (right row counts and parameters; --rebuild to force)")
    print(f"file size {path.stat().st_size / 2**30:.2f} GiB")

    rng = np.random.default_rng(12345)
    units = [int(u) for u in rng.integers(0, HIDDEN, size=args.queries + 1)]
    directions = [rng.standard_normal(HIDDEN).astype(np.float32) for _ in range(args.queries + 1)]
    ds = list(DATASETS)

    con = warehouse.connect_read_only(path)
    try:
        print(f"duckdb threads {con.execute('select current_setting(' + repr('threads') + ')').fetchone()[0]}")
        neuron_ms, neuron_res = timed(lambda u: queries.neuron_top(con, RUN, LAYER, POOLING, u, ds, k=K), units)
        direction_ms, direction_res = timed(
            lambda w: queries.direction_top(con, RUN, LAYER, POOLING, w, ds, k=K), directions)
    finally:
        con.close()
    assert all(len(r) == K * len(ds) for r in neuron_res + direction_res)
    for r in neuron_res + direction_res:
        assert r["text"].notna().all()

    # numpy on the same matrix, held in RAM
    from pipeline.stages import extract

    bounds, a = [], 0
    for n in sizes():
        bounds.append((a, a + n))
        a += n
    x = np.empty((N_TOTAL, HIDDEN), dtype=np.float32)
    for i, (lo, hi) in enumerate(bounds):
        x[lo:hi] = extract.store_block(matrix(i, hi - lo), STORAGE).values()  # the values as stored
    np_neuron_ms, np_neuron_res = timed(lambda u: np_top(x[:, u], bounds, K), units)
    np_direction_ms, np_direction_res = timed(lambda w: np_top(x @ w, bounds, K), directions)

    # The warehouse and numpy must agree (same sentences, same order).
    for res_db, res_np in ((neuron_res, np_neuron_res), (direction_res, np_direction_res)):
        for df, tops in zip(res_db, res_np):
            for name, top in zip(ds, tops):
                got = df.loc[df["dataset"] == name].sort_values("rank")["sentence_id"].to_numpy()
                assert np.array_equal(got, top), (name, got, top)

    # Drop the warm-up call (index 0) from every series.
    series = [("neuron_top (DuckDB, neuron_topk + join)", neuron_ms[1:], 50.0),
              ("numpy argpartition X[:, d]", np_neuron_ms[1:], None),
              ("direction_top (DuckDB, codes . w * scale)", direction_ms[1:], 1000.0),
              ("numpy X @ w + argpartition", np_direction_ms[1:], None)]
    print(f"\n{args.queries} random units / directions, {len(ds)} datasets, k={K}; first (warm-up) call: "
          f"neuron {neuron_ms[0]:.1f} ms, direction {direction_ms[0]:.1f} ms (not counted)")
    print(f"{'query':<44} {'p50 ms':>9} {'p95 ms':>9} {'bar (p50)':>10}  result")
    for name, ms, bar in series:
        p50, p95 = pct(ms, 50), pct(ms, 95)
        verdict = "" if bar is None else ("PASS" if p50 <= bar else "FAIL")
        bar_s = "" if bar is None else f"<= {bar:g}"
        print(f"{name:<44} {p50:9.1f} {p95:9.1f} {bar_s:>10}  {verdict}")
    print("check: warehouse results equal numpy's top 10 per dataset for every unit and direction")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
