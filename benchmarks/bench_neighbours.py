"""Exact nearest-sentence search at the paper's scale: 624,712 sentences x 768 units, SQL next to numpy in RAM.

    python -m benchmarks.bench_neighbours [--n 624712] [--path FILE] [--rebuild] [--queries 20] [--k 10]

The warehouse is bench_query's (synthetic seeded float32 activations, 4 datasets, written as pipeline.build
writes them; at the full size the same cached file, /tmp/illusion-bench-query.duckdb). ``--n`` builds a
smaller one of its own.

Timed on a read-only connection, after one warm-up call each, over --queries random query sentences:
- ``queries.nearest_sentences``: the named query (list_cosine_similarity over the run/layer/pooling slice,
  each dataset's k-th highest similarity as a cut-off, then ``qualify row_number() ... <= k`` over the rows
  at or above it; the query sentence left out);
- three variants of it, to justify the choices: the window over every row (no cut-off);
  array_cosine_similarity after a cast to FLOAT[768] (the width must be written into the SQL, so the named
  query cannot use it); max_by(sentence_id, similarity, k) in place of the window (no tie rule);
- ``queries.nearest_to_vector`` with a random vector;
- numpy on the same matrix in RAM: analysis.neighbours.nearest per dataset (einsum, the same tie rule, row
  norms computed once) and a plain BLAS ``x @ q`` + argpartition (no tie rule), the fastest in-RAM scan.
Every answer of the named query is checked against analysis.neighbours.nearest.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from benchmarks import bench_query as bq


def _variant_sql(base: str, kind: str, hidden: int) -> str:
    if kind == "window":
        head, _, rest = base.partition("valid as (")
        return head + """ranked as (
    select dataset, sentence_id, similarity,
           row_number() over (partition by dataset order by similarity desc, sentence_id) as rank
    from scored
    where not isnan(similarity)
    qualify rank <= $k
),

""" + rest[rest.index("final as ("):]
    if kind == "array":
        stored = "list_cosine_similarity(coalesce(a.floats, a.codes::float[]), q.vec)"
        assert stored in base, "nearest_sentences.sql no longer scores as this variant expects"
        return base.replace(stored, f"array_cosine_similarity(coalesce(a.floats, a.codes::float[])::float[{hidden}], "
                                    f"q.vec::float[{hidden}])")
    if kind == "max_by":
        head, _, _ = base.partition("valid as (")
        return head + """ranked as (
    select dataset, unnest(range(1, least($k, count(*)) + 1)) as rank,
           unnest(max_by(sentence_id, similarity, $k)) as sentence_id,
           unnest(max(similarity, $k)) as similarity
    from scored
    where not isnan(similarity)
    group by dataset
),

final as (
    select r.dataset, r.rank, r.sentence_id, r.similarity, s.text
    from ranked r
    join sentences s using (dataset, sentence_id)
    order by r.dataset, r.rank
)

select * from final
"""
    raise ValueError(kind)


def _same(df, name: str, ids: np.ndarray, sims: np.ndarray) -> bool:
    got = df[df["dataset"] == name]
    if len(got) != len(ids) or not np.allclose(got["similarity"], sims, atol=1e-5):
        return False
    # a swap is allowed only between two neighbours whose similarities agree to float32 precision
    return all(g == e or abs(a - b) <= 1e-6 for g, e, a, b in zip(got["sentence_id"], ids, got["similarity"], sims))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=bq.N_TOTAL, help="sentences in all (default: the paper's 624,712)")
    ap.add_argument("--path", help="warehouse file (default: bench_query's at full size, else one per --n)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild even if the cached file is right")
    ap.add_argument("--queries", type=int, default=20, help="random query sentences")
    ap.add_argument("--k", type=int, default=10, help="neighbours per dataset")
    args = ap.parse_args(argv)
    full = args.n == bq.N_TOTAL
    bq.N_TOTAL = bq.PARAMS["n"] = args.n
    path = Path(args.path or ("/tmp/illusion-bench-query.duckdb" if full else
                              f"/tmp/illusion-bench-neighbours-{args.n}.duckdb"))

    import duckdb

    import warehouse
    from analysis.neighbours import nearest, row_norms
    from warehouse import queries

    print(f"load average at start: {os.getloadavg()}  (nproc {os.cpu_count()}, duckdb {duckdb.__version__})")
    if args.rebuild or not bq.is_built(path):
        print(f"building {path}: {args.n:,} sentences x {bq.HIDDEN} units, {len(bq.DATASETS)} datasets ...",
              flush=True)
        print(f"build time {bq.build(path)['total']:.1f} s")
    else:
        print(f"reusing {path} (right row counts and parameters; --rebuild to force)")

    ds, sizes, k = list(bq.DATASETS), bq.sizes(), args.k
    rng = np.random.default_rng(2024)
    picks = [(int(i), int(rng.integers(0, sizes[i]))) for i in rng.integers(0, len(ds), size=args.queries + 1)]
    vectors = [rng.standard_normal(bq.HIDDEN).astype(np.float32) for _ in range(args.queries + 1)]
    base = queries.sql("nearest_sentences")
    variants = {kind: _variant_sql(base, kind, bq.HIDDEN) for kind in ("window", "array", "max_by")}
    run = (bq.RUN, bq.LAYER, bq.POOLING)

    con = warehouse.connect_read_only(path)
    try:
        print(f"duckdb threads {con.execute('select current_setting(' + repr('threads') + ')').fetchone()[0]}")

        def named(p):
            return queries.nearest_sentences(con, *run, ds[p[0]], p[1], ds, k)

        def variant(kind):
            def go(p):
                cur = warehouse.cursor(con)
                try:
                    return cur.execute(variants[kind], {"run_id": bq.RUN, "layer": bq.LAYER, "pooling": bq.POOLING,
                                                        "dataset": ds[p[0]], "sentence_id": p[1], "k": k,
                                                        "datasets": ds}).df()
                finally:
                    cur.close()
            return go

        sql_ms, sql_res = bq.timed(named, picks)
        window_ms, window_res = bq.timed(variant("window"), picks)
        array_ms, array_res = bq.timed(variant("array"), picks)
        maxby_ms, maxby_res = bq.timed(variant("max_by"), picks)
        vec_ms, vec_res = bq.timed(lambda v: queries.nearest_to_vector(con, *run, v, ds, k), vectors)
    finally:
        con.close()

    x = [bq.matrix(i, n) for i, n in enumerate(sizes)]  # per dataset, in RAM
    norms = [row_norms(xi) for xi in x]

    def np_exact(p):
        return [nearest(xi, x[p[0]][p[1]], k, exclude=p[1] if i == p[0] else None, norms=ni)
                for i, (xi, ni) in enumerate(zip(x, norms))]

    def np_blas(p):
        q = x[p[0]][p[1]]
        out = []
        for i, (xi, ni) in enumerate(zip(x, norms)):
            s = (xi @ q) / (ni * np.linalg.norm(q))
            if i == p[0]:
                s[p[1]] = -np.inf
            top = np.argpartition(-s, k - 1)[:k]
            out.append(top[np.argsort(-s[top], kind="stable")])
        return out

    np_ms, np_res = bq.timed(np_exact, picks)
    blas_ms, blas_res = bq.timed(np_blas, picks)
    np_vec_ms, np_vec_res = bq.timed(lambda v: [nearest(xi, v, k, norms=ni) for xi, ni in zip(x, norms)], vectors)

    bad = 0
    for res_db, res_np in ((sql_res, np_res), (window_res, np_res), (array_res, np_res), (vec_res, np_vec_res)):
        for df, per in zip(res_db, res_np):
            bad += sum(not _same(df, name, ids, sims) for name, (ids, sims) in zip(ds, per))
    for df, per in zip(maxby_res, np_res):  # no tie rule: the same sentences, in some order among equals
        bad += sum(set(df[df.dataset == name]["sentence_id"]) != set(ids) for name, (ids, _) in zip(ds, per))
    for tops, per in zip(blas_res, np_res):
        bad += sum(set(t.tolist()) != set(ids.tolist()) for t, (ids, _) in zip(tops, per))

    print(f"\n{args.n:,} sentences x {bq.HIDDEN}, {len(ds)} datasets, k={k} per dataset, {args.queries} random "
          f"query sentences (first call, a warm-up, not counted: named query {sql_ms[0]:.0f} ms)")
    print(f"{'exact search':<58} {'p50 ms':>9} {'p95 ms':>9}")
    for name, ms in [("nearest_sentences (DuckDB list_cosine_similarity)", sql_ms),
                     ("  variant: the window over every row, no k-th cut-off", window_ms),
                     ("  variant: array_cosine_similarity after ::float[768]", array_ms),
                     ("  variant: max_by top-k instead of the window", maxby_ms),
                     ("nearest_to_vector (DuckDB, a bound float[] vector)", vec_ms),
                     ("numpy in RAM: analysis.neighbours.nearest (einsum)", np_ms),
                     ("numpy in RAM: BLAS x @ q + argpartition", blas_ms),
                     ("numpy in RAM: nearest to a vector", np_vec_ms)]:
        print(f"{name:<58} {bq.pct(ms[1:], 50):9.1f} {bq.pct(ms[1:], 95):9.1f}")
    print(f"check: {'every' if not bad else f'NOT every ({bad} lists differ):'} SQL answer equals "
          f"analysis.neighbours.nearest's (and the variants' and BLAS's neighbour sets)")
    print(f"load average at end: {os.getloadavg()}")
    if bad:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
