"""Separability stage at the paper's scale: 624,712 sentences x 768 units (the bench_query warehouse).

    python -m benchmarks.bench_query          # builds /tmp/illusion-bench-query.duckdb once
    python -m benchmarks.bench_stages [--path /tmp/illusion-bench-query.duckdb]

Runs ``pipeline.stages.separability.run_stage`` (read the layer, linear SVM on 1,000 sentences per dataset,
UMAP of 500 per dataset) inside a transaction that is rolled back, so the cached file is unchanged. Baseline in
the same run: the same SVM fit on the same sample already in RAM (no warehouse read, no UMAP).
"""
from __future__ import annotations

import argparse
import os
import time

import duckdb
import numpy as np


def main() -> None:
    from benchmarks.bench_query import DATASETS, LAYER, POOLING, RUN
    from pipeline.stages import separability
    from warehouse import queries

    ap = argparse.ArgumentParser()
    ap.add_argument("--path", default="/tmp/illusion-bench-query.duckdb")
    args = ap.parse_args()
    print(f"load average at start {os.getloadavg()[0]:.2f}")
    con = duckdb.connect(args.path)
    try:
        t = time.perf_counter()
        x, keys = queries.layer_matrix(con, RUN, LAYER, POOLING, list(DATASETS))
        read = time.perf_counter() - t
        labels = keys["dataset"].to_numpy()
        t = time.perf_counter()
        res = separability.svm_separability(x, labels, per_class=1000, seed=0)
        svm = time.perf_counter() - t
        del x
        con.begin()
        t = time.perf_counter()
        separability.run_stage(con, RUN, LAYER + 1, [POOLING], list(DATASETS), 1000, 500, 0)
        stage = time.perf_counter() - t
        con.rollback()
    finally:
        con.close()
    print(f"{'step':60s} {'seconds':>8s}")
    print(f"{'separability stage, 624,712 x 768 (read + SVM + UMAP)':60s} {stage:8.1f}")
    print(f"{'  reading the layer alone (DuckDB -> numpy), timed apart':60s} {read:8.1f}")
    print(f"{'baseline: the same SVM on the in-RAM sample':60s} {svm:8.1f}")
    print(f"held-out accuracy {res['accuracy']:.3f} on synthetic noise (chance {res['chance']:.3f}); "
          f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
