"""Separability and layer-scores stages at the paper's scale: 624,712 sentences x 768 units (the bench_query warehouse).

    python -m benchmarks.bench_query          # builds /tmp/illusion-bench-query.duckdb once
    python -m benchmarks.bench_stages [--path /tmp/illusion-bench-query.duckdb]

Runs ``pipeline.stages.separability.run_stage`` (read the layer, linear SVM on 1,000 sentences per dataset,
UMAP of 500 per dataset) inside a transaction that is rolled back, so the cached file is unchanged. Baseline in
the same run: the same SVM fit on the same sample already in RAM (no warehouse read, no UMAP).

Then the layer-scores stage's two costly steps for that one layer x pooling (the stage runs them for every
layer x pooling of a run): the illusion score of every unit over the four datasets, and the locality of every
unit in each dataset (``analysis.locality.locality_all_neurons``: one nearest-neighbour search over the union of
the units' top-k sentences). Baseline in the same run: the page's per-direction ``locality`` on a few one-hot
directions, extrapolated to every unit; its L is checked equal to the batched one.
"""
from __future__ import annotations

import argparse
import os
import time

import duckdb
import numpy as np


def layer_scores(x: np.ndarray, labels: np.ndarray, k: int = 10, n_base: int = 4) -> dict:
    """Seconds of the layer-scores stage's steps on one layer (all datasets stacked), and the baseline."""
    from analysis.illusion import illusion_scores
    from analysis.locality import locality, locality_all_neurons

    t = time.perf_counter()
    illusion_scores(x, labels, k=k)
    out = {"illusion": time.perf_counter() - t}
    t = time.perf_counter()
    blocks = [np.ascontiguousarray(x[labels == name]) for name in np.unique(labels)]
    split = time.perf_counter() - t
    t = time.perf_counter()
    batched = [locality_all_neurons(b, k=k) for b in blocks]
    out["locality"] = time.perf_counter() - t + split
    units = np.random.default_rng(0).choice(x.shape[1], size=n_base, replace=False)
    t = time.perf_counter()
    single = [[locality(b, np.eye(x.shape[1], dtype=x.dtype)[u], k=k)["L"] for u in units] for b in blocks]
    out["base"] = (time.perf_counter() - t) * x.shape[1] / n_base + split
    out["n_base"] = n_base
    out["equal"] = all(np.allclose(b[units], s) for b, s in zip(batched, single))
    return out


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
        scores = layer_scores(x, labels)
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
    print(f"{'layer scores, one layer x pooling (the stage does every one):':60s}")
    print(f"{'  illusion score of every unit, 4 datasets, k=10':60s} {scores['illusion']:8.1f}")
    print(f"{'  locality of every unit in each dataset, k=10 (batched)':60s} {scores['locality']:8.1f}")
    print(f"{'  baseline: locality one unit at a time, extrapolated from ' + str(scores['n_base']):60s} "
          f"{scores['base']:8.1f}")
    print(f"check: batched L equals the per-unit L on the {scores['n_base']} units sampled: {scores['equal']}")
    print(f"held-out accuracy {res['accuracy']:.3f} on synthetic noise (chance {res['chance']:.3f}); "
          f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
