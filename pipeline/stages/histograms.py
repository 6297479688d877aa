"""Histograms stage: per neuron and dataset, the activation histogram and the values on a fixed random draw.

The drift page shows, for the chosen neuron, each dataset's score distribution and k random sentences as a
baseline. Computing them on the page means reading the layer's activations of every sentence on every
neuron change; with them here, a change reads one small row per dataset (neuron_histograms).
Writes neuron_histograms and random_sentences.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from analysis.drift import HIST_BINS, random_draw, value_histograms
from pipeline.stages.extract import _lists
from warehouse import queries

NAME = "histograms"
SECTION = None
TABLES = ("neuron_histograms", "random_sentences")
SOURCES = ("pipeline/stages/histograms.py", "analysis/drift.py")


def settings(cfg, spec, datasets) -> dict | None:
    return {"bins": HIST_BINS, "k": cfg.topk}


def histogram_rows(run_id: str, layer: int, pooling: str, dataset: str, x: np.ndarray, random_pos: np.ndarray,
                   bins: int = HIST_BINS) -> pa.Table:
    """neuron_histograms rows of one [N, H] block (one dataset's sentences in sentence_id order): per unit,
    value_histogram of its column and its values at the rows ``random_pos``."""
    h = x.shape[1]
    lo, hi, counts = value_histograms(x, bins)
    return pa.table({
        "run_id": pa.array([run_id] * h, pa.string()),
        "layer": pa.array(np.full(h, layer, dtype=np.int32)),
        "pooling": pa.array([pooling] * h, pa.string()),
        "dataset": pa.array([dataset] * h, pa.string()),
        "unit": pa.array(np.arange(h, dtype=np.int32)),
        "lo": pa.array(lo),
        "hi": pa.array(hi),
        "counts": _lists(counts, np.int32),
        # [k, H] -> one row per unit, its k values contiguous
        "random_vals": _lists(x[random_pos].T, np.float32),
    })


def run(ctx) -> int:
    """Every layer x pooling of the run; returns the number of rows written."""
    from tqdm.auto import tqdm

    info = ctx.run_info()
    names = list(ctx.datasets)
    k, seed = ctx.cfg.topk, ctx.cfg.seed
    ctx.log(f"histograms {ctx.run_id}: {HIST_BINS}-bin histogram and {k} random sentences per neuron and dataset")
    draws = {}
    for name in names:
        n = len(ctx.datasets[name].frame)
        draws[name] = random_draw(name, n, k, seed)  # sentence ids are 0..n-1, so positions are ids
    sample = pa.table({"run_id": pa.array([ctx.run_id] * len(names), pa.string()),  # noqa: F841
                       "dataset": pa.array(names, pa.string()),
                       "sentence_ids": pa.array([draws[n].astype(np.int32).tolist() for n in names],
                                                pa.list_(pa.int32()))})
    ctx.con.execute("insert into random_sentences select * from sample")
    jobs = [(layer, pooling) for layer in range(int(info["n_layers"])) for pooling in info["poolings"]]
    rows = 0
    for layer, pooling in tqdm(jobs, desc=f"{ctx.run_id} histograms", disable=not ctx.progress, unit="layer"):
        x, keys = queries.layer_matrix(ctx.con, ctx.run_id, layer, pooling, names)
        datasets = keys["dataset"].to_numpy()
        parts = []
        for name in names:
            block = x[datasets == name]  # in sentence_id order (layer_vectors.sql)
            parts.append(histogram_rows(ctx.run_id, layer, pooling, name, block, draws[name]))
        hist_rows = pa.concat_tables(parts)  # noqa: F841 (read by DuckDB by name)
        ctx.con.execute("insert into neuron_histograms select * from hist_rows")
        rows += sum(p.num_rows for p in parts)
    return rows
