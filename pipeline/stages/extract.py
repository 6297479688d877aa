"""Extract stage: run one model over one dataset and write its rows.

Writes activations (into the build's staging table), sentence_lengths, sentence_tokens and neuron_topk.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.extremes import neuron_extremes
from pipeline.models.base import Encoded

SOURCES = ("pipeline/stages/extract.py", "analysis/extremes.py")
STAGING = "activations_staging"


def activation_table(run_id: str, dataset: str, layer: int, pooling: str, x: np.ndarray) -> pa.Table:
    """Arrow rows for one [N, H] block; the list column is built from the flat buffer (no Python loop)."""
    n, h = x.shape
    flat = pa.array(np.ascontiguousarray(x, dtype=np.float32).ravel())
    vec = pa.ListArray.from_arrays(pa.array(np.arange(0, (n + 1) * h, h, dtype=np.int32)), flat)
    return pa.table({
        "run_id": pa.array([run_id] * n, pa.string()),
        "layer": pa.array(np.full(n, layer, dtype=np.int32)),
        "pooling": pa.array([pooling] * n, pa.string()),
        "dataset": pa.array([dataset] * n, pa.string()),
        "sentence_id": pa.array(np.arange(n, dtype=np.int32)),
        "vec": vec,
    })


def topk_frame(run_id: str, dataset: str, layer: int, pooling: str, x: np.ndarray, k: int) -> pd.DataFrame:
    top_i, top_v, bot_i, bot_v = neuron_extremes(x, k)
    kk, h = top_i.shape
    unit = np.tile(np.arange(h, dtype=np.int32), kk)
    rank = np.repeat(np.arange(1, kk + 1, dtype=np.int32), h)
    parts = []
    for side, idx, val in (("top", top_i, top_v), ("bottom", bot_i, bot_v)):
        parts.append(pd.DataFrame({"run_id": run_id, "layer": np.int32(layer), "pooling": pooling,
                                   "dataset": dataset, "unit": unit, "side": side, "rank": rank,
                                   "sentence_id": idx.ravel().astype(np.int32),
                                   "value": val.ravel().astype(np.float32)}))
    return pd.concat(parts, ignore_index=True)


def token_frame(run_id: str, dataset: str, enc: Encoded) -> pd.DataFrame:
    if enc.token_counts is None:
        return pd.DataFrame(columns=["run_id", "dataset", "sentence_id", "token", "n"])
    sid, tok, cnt = [], [], []
    for i, counter in enumerate(enc.token_counts):
        sid.extend([i] * len(counter))
        tok.extend(counter.keys())
        cnt.extend(counter.values())
    return pd.DataFrame({"run_id": run_id, "dataset": dataset, "sentence_id": np.asarray(sid, dtype=np.int32),
                         "token": tok, "n": np.asarray(cnt, dtype=np.int32)})


def write_extraction(con, runner, dataset: str, enc: Encoded, k: int) -> int:
    """Insert one (run, dataset) result; returns the number of activation rows.

    One insert per table: each DuckDB insert into a file database has a fixed cost of several ms.
    """
    run_id = runner.run_id
    blocks, tops = [], []
    for layer in range(enc.vectors.shape[0]):
        for p, pooling in enumerate(runner.poolings):
            x = enc.vectors[layer, p]
            blocks.append(activation_table(run_id, dataset, layer, pooling, x))
            tops.append(topk_frame(run_id, dataset, layer, pooling, x, k))
    block = pa.concat_tables(blocks)  # noqa: F841 (read by DuckDB by name)
    con.execute(f"insert into {STAGING} select * from block")
    topk = pd.concat(tops, ignore_index=True)  # noqa: F841
    con.execute("insert into neuron_topk select * from topk")
    lengths = pd.DataFrame({"run_id": run_id, "dataset": dataset,  # noqa: F841
                            "sentence_id": np.arange(len(enc.n_tokens), dtype=np.int32),
                            "n_tokens": enc.n_tokens.astype(np.int32), "truncated": enc.truncated})
    con.execute("insert into sentence_lengths select * from lengths")
    tokens = token_frame(run_id, dataset, enc)  # noqa: F841
    con.execute("insert into sentence_tokens select * from tokens")
    return block.num_rows


def sort_into_activations(con) -> None:
    """Move the staging rows into ``activations`` sorted by (run, layer, pooling, dataset, sentence).

    One slice at a time, so the sort never needs more memory than one layer's vectors.
    """
    slices = con.execute(f"select distinct run_id, layer, pooling from {STAGING} order by all").fetchall()
    for run_id, layer, pooling in slices:
        con.execute(f"insert into activations select * from {STAGING} "
                    "where run_id = ? and layer = ? and pooling = ? order by dataset, sentence_id",
                    [run_id, layer, pooling])
    con.execute(f"drop table {STAGING}")
