"""Distances stage: every sentence's mean Euclidean distance to the rest of its dataset, per layer and pooling.

The outliers page (Bolukbasi et al. 2021, Section 5.2.2) ranks sentences by this distance. It is O(n^2 H) per
dataset, so the build computes it once instead of the page on every layer change. Writes sentence_distances.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from analysis.outliers import mean_distance
from warehouse import queries

NAME = "distances"
SECTION = None
TABLES = ("sentence_distances",)
SOURCES = ("pipeline/stages/distances.py", "analysis/outliers.py")


def settings(cfg, spec, datasets) -> dict | None:
    return {}


def run(ctx) -> int:
    """Every layer x pooling of the run; returns the number of rows written."""
    from tqdm.auto import tqdm

    info = ctx.run_info()
    names = list(ctx.datasets)
    ctx.log(f"distances {ctx.run_id}: each sentence's mean distance to the rest of its dataset")
    jobs = [(layer, pooling) for layer in range(int(info["n_layers"])) for pooling in info["poolings"]]
    rows = 0
    for layer, pooling in tqdm(jobs, desc=f"{ctx.run_id} distances", disable=not ctx.progress, unit="layer"):
        x, keys = queries.layer_matrix(ctx.con, ctx.run_id, layer, pooling, names)
        d = mean_distance(x, keys["dataset"].to_numpy())
        n = len(keys)
        block = pa.table({"run_id": pa.array([ctx.run_id] * n, pa.string()),  # noqa: F841 (read by DuckDB)
                          "layer": pa.array(np.full(n, layer, dtype=np.int32)),
                          "pooling": pa.array([pooling] * n, pa.string()),
                          "dataset": pa.array(keys["dataset"].to_numpy(), pa.string()),
                          "sentence_id": pa.array(keys["sentence_id"].to_numpy(np.int32)),
                          "mean_distance": pa.array(d)})
        ctx.con.execute("insert into sentence_distances select * from block")
        rows += n
    return rows
