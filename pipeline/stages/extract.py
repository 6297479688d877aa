"""Extract stage: run a model over every dataset and store its sentence vectors, per (run, dataset).

Writes the run's ``runs`` and ``layers`` rows, and per dataset activation_store (the ``activations`` view's rows),
sentence_lengths, sentence_tokens and neuron_topk. A dataset whose content, model spec, topk, storage and code are
unchanged is copied from the previous build.

Storage (``[storage] activations``, pipeline/config.py): "int16" (default) keeps each sentence vector as 14-bit
integer codes and one float32 scale per row (value = code * scale, max error recorded per row), "float32" keeps
the values as computed. Every number the warehouse derives from a vector (neuron_topk here, and every later
stage through ``warehouse.queries.layer_matrix``) is computed from the stored values, so the tables agree.

Two engines (``cfg.engine``, ``--engine``): local (the run's runner in this process) and ray
(pipeline/engines/ray_engine.py: an actor pool writes Parquet shards, merged here into the same rows).
"""
from __future__ import annotations

import contextlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.extremes import neuron_extremes
from pipeline.models.base import Encoded

NAME = "extract"
SECTION = None
PER_DATASET = True
TABLES = ("activation_store", "sentence_lengths", "sentence_tokens", "neuron_topk")
RUN_TABLES = ("runs", "layers")
SOURCES = ("pipeline/stages/extract.py", "analysis/extremes.py")


def settings(cfg, spec, datasets) -> dict:
    """The model spec, topk and the runner's code (extraction's output depends on all three)."""
    from pipeline.models import RUNNER_SOURCES
    from pipeline.version import source_hash

    # Not the engine (cfg.engine), nor the Ray engine's code: both engines run the same runner code on the same
    # texts and store the same rows (tests/test_ray_engine.py builds a warehouse both ways and compares every
    # table), so a dataset extracted by one is reused by a build with the other instead of recomputed, and
    # moving a build to a cluster does not change its stage hashes. The cost: a change to ray_engine.py does
    # not by itself invalidate what it extracted (the engine tests must keep the two engines equal).
    return {"model": spec.inputs(), "topk": cfg.topk, "runner_code": source_hash(*RUNNER_SOURCES[spec.kind]),
            "storage": cfg.storage.activations}


def run(ctx) -> dict[str, tuple[int, float]]:
    """Encode every dataset of ``ctx.todo`` and store it; returns {dataset: (activation rows, seconds)}.

    One writer thread stores dataset i (top-k, inserts) while the model encodes dataset i+1: torch, numpy and
    DuckDB all release the GIL. Only one thread uses the connection at a time: the next store waits for the
    previous one, and the encoding does not touch the database.
    """
    if ctx.cfg.engine.kind == "ray":
        return run_ray(ctx)
    runner = ctx.runner()
    write_run(ctx.con, ctx.spec, runner)
    done: dict[str, tuple[int, float]] = {}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="writer") as writer:
        pending = None
        for name in ctx.todo:
            texts = ctx.datasets[name].frame["text"].tolist()
            ctx.log(f"extracting {ctx.run_id}/{name}: {len(texts)} texts")
            t = time.time()
            enc = runner.encode(texts, progress=ctx.progress)
            seconds = time.time() - t
            if pending is not None:
                _collect(done, *pending)
            pending = (name, writer.submit(_store, ctx.con, runner, name, enc, ctx.cfg.topk,
                                                  ctx.cfg.storage.activations), seconds)
        if pending is not None:
            _collect(done, *pending)
    return done


class _ShardInfo:
    """What ``write_run`` reads of a runner (model_name, layer_names, hidden_size, n_heads, poolings), from a
    Ray run's manifest (the actors' runner): the driver need not load the model to write the run's rows."""

    def __init__(self, info: dict):
        self.model_name = info["model_name"]
        self.layer_names = list(info["layer_names"])
        self.hidden_size = int(info["hidden_size"])
        self.n_heads = info["n_heads"]
        self.poolings = tuple(info["poolings"])


def run_ray(ctx) -> dict[str, tuple[int, float]]:
    """``run`` on the Ray engine: every dataset of ``ctx.todo`` through one ``encode_with_ray`` (actor pool,
    shards, exact top-k merge), then the same rows as the local engine (``write_merged``).

    The Ray run encodes all datasets together, so each dataset's seconds are its share of that time by
    sentence count, plus its own store. The shards are removed once stored; a failed run leaves them (the
    next run clears the folder first) and the live warehouse untouched.
    """
    from pipeline.engines import ray_engine

    engine = ctx.cfg.engine
    texts = {name: ctx.datasets[name].frame["text"].tolist() for name in ctx.todo}
    shard_dir = engine.shard_dir(ctx.cfg.warehouse, ctx.run_id)
    n = sum(map(len, texts.values()))
    ctx.log(f"extracting {ctx.run_id} on Ray ({engine.actors} actors, shards in {shard_dir}): {n} texts in "
            f"{len(texts)} datasets")
    t = time.time()
    manifest, merged = ray_engine.encode_with_ray(
        ctx.spec, texts, shard_dir, k=ctx.cfg.topk, address=engine.address, num_actors=engine.actors,
        rows_per_shard=engine.rows_per_shard, cache=ctx.cfg.cache, progress=ctx.progress,
        storage=ctx.cfg.storage.activations)
    ray_seconds = time.time() - t
    write_run(ctx.con, ctx.spec, _ShardInfo(manifest["info"]))
    done: dict[str, tuple[int, float]] = {}
    for name, t_texts in texts.items():
        t = time.time()
        rows = ray_engine.write_merged(ctx.con, ctx.run_id, name, merged[name])
        done[name] = (rows, ray_seconds * len(t_texts) / max(n, 1) + time.time() - t)
    ray_engine.remove_shards(shard_dir)
    if engine.shards is None:  # our default <warehouse>.ray-shards: gone when empty
        with contextlib.suppress(OSError):
            shard_dir.parent.rmdir()
    return done


def _store(con, runner, dataset: str, enc: Encoded, k: int, storage: str) -> tuple[int, float]:
    t = time.time()
    return write_extraction(con, runner, dataset, enc, k, storage), time.time() - t


def _collect(done: dict, name: str, future, encode_seconds: float) -> None:
    rows, store_seconds = future.result()  # re-raises the writer's exception in the build's thread
    done[name] = (rows, encode_seconds + store_seconds)


def write_run(con, spec, runner) -> None:
    """The run's ``runs`` row and its ``layers`` rows."""
    from pipeline.config import spec_hash
    from pipeline.models import runner_info
    from pipeline.version import code_version

    info = runner_info(runner)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    con.execute("insert into runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [spec.run_id, spec.kind, info["model_name"], spec.path, info["n_layers"], info["hidden_size"],
                 info["n_heads"], spec.max_length, list(runner.poolings), json.dumps(asdict(spec), sort_keys=True),
                 spec_hash(spec), code_version(), now])
    con.executemany("insert into layers values (?, ?, ?)",
                    [[spec.run_id, i, name] for i, name in enumerate(runner.layer_names)])


# int16 storage: codes in [-CODE_MAX, CODE_MAX], 14 bits with the sign. Not the full int16 range: DuckDB
# bitpacks a list's integers in groups with one bit width each, and a row's largest value needs every bit of
# the range, so codes that use all 16 bits are stored uncompressed (2.05-2.09 bytes per value with the list
# overhead, measured on MiniLM and textgenrnn vectors); 14-bit codes pack to 1.83-1.87.
CODE_MAX = 8191
STORAGE_DTYPES = ("int16", "float32")


@dataclass
class StoredBlock:
    """One [N, H] block as the warehouse stores it (see the module docstring): ``dtype`` int16 or float32;
    ``scale`` and ``max_error`` float32 [N]; ``codes`` int16 [N, H] (int16) or ``floats`` float32 [N, H]
    (float32). ``values()`` are the stored values, float32 [N, H], exactly as SQL decodes them
    (``code * scale`` in float32)."""

    dtype: str
    scale: np.ndarray
    max_error: np.ndarray
    codes: np.ndarray | None = None
    floats: np.ndarray | None = None
    _values: np.ndarray | None = field(default=None, repr=False)  # the decode, once

    def values(self) -> np.ndarray:
        if self.floats is not None:
            return self.floats
        if self._values is None:
            self._values = self.codes.astype(np.float32) * self.scale[:, None]
        return self._values


def store_block(x: np.ndarray, dtype: str = "int16") -> StoredBlock:
    """Encode float32 [N, H] for storage: per row, scale = max |x| / CODE_MAX and code = round(x / scale)
    (a zero row: scale 0, codes 0), so each value is off by at most scale / 2 (max_error is measured against
    ``x`` in float32). float32: the values themselves, scale 1, max_error 0.

    Non-finite values cannot be scaled: a PipelineError names the setting that stores them as they are."""
    from pipeline.errors import PipelineError

    x = np.ascontiguousarray(x, dtype=np.float32)
    n = x.shape[0]
    if dtype == "float32":
        return StoredBlock("float32", np.ones(n, np.float32), np.zeros(n, np.float32), floats=x)
    if dtype != "int16":
        raise PipelineError(f"storage.activations must be one of {', '.join(STORAGE_DTYPES)}, got {dtype!r}")
    if not np.isfinite(x).all():
        raise PipelineError("storage.activations = \"int16\": the model produced non-finite activations (nan or "
                            "inf), which cannot be scaled; store them as they are with storage.activations = "
                            "\"float32\"")
    if not x.shape[1]:
        return StoredBlock("int16", np.zeros(n, np.float32), np.zeros(n, np.float32),
                           codes=np.zeros(x.shape, np.int16))
    # In place where it can be: a block is up to [156k, 768] (bench_query), each temporary 480 MB.
    peak = np.maximum(x.max(axis=1), -x.min(axis=1))
    scale = (peak / np.float32(CODE_MAX)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1))
    work = np.divide(x, safe[:, None])
    np.rint(work, out=work)
    np.clip(work, -CODE_MAX, CODE_MAX, out=work)
    stored = StoredBlock("int16", scale, np.zeros(n, np.float32), codes=work.astype(np.int16))
    np.subtract(stored.values(), x, out=work)
    np.abs(work, out=work)
    stored.max_error = work.max(axis=1).astype(np.float32)
    return stored


def activation_table(run_id: str, dataset: str, layer: int, pooling: str, x, dtype: str = "int16") -> pa.Table:
    """activation_store rows for one [N, H] block: ``x`` float32 [N, H] (encoded with ``store_block(x, dtype)``)
    or a ``StoredBlock`` already encoded. Insert them with ``insert_activations``: the one writer of vectors."""
    stored = x if isinstance(x, StoredBlock) else store_block(x, dtype)
    n = stored.scale.shape[0]
    codes = _lists(stored.codes, np.int16) if stored.codes is not None else pa.nulls(n, pa.list_(pa.int16()))
    floats = _lists(stored.floats, np.float32) if stored.floats is not None else pa.nulls(n, pa.list_(pa.float32()))
    return pa.table({
        "run_id": pa.array([run_id] * n, pa.string()),
        "layer": pa.array(np.full(n, layer, dtype=np.int32)),
        "pooling": pa.array([pooling] * n, pa.string()),
        "dataset": pa.array([dataset] * n, pa.string()),
        "sentence_id": pa.array(np.arange(n, dtype=np.int32)),
        "dtype": pa.array([stored.dtype] * n, pa.string()),
        "scale": pa.array(stored.scale, pa.float32()),
        "max_error": pa.array(stored.max_error, pa.float32()),
        "codes": codes,
        "floats": floats,
    })


def insert_activations(con, tables) -> int:
    """Insert ``activation_table`` rows (one table or a list) into activation_store, in one insert (each
    DuckDB insert into a file has a fixed cost of several ms); returns the rows inserted. The ``activations``
    view reads them back as float vectors."""
    block = tables if isinstance(tables, pa.Table) else pa.concat_tables(list(tables))  # noqa: F841 (by name)
    con.execute("insert into activation_store by name select * from block")
    return block.num_rows


def _lists(values: np.ndarray, dtype) -> pa.ListArray:
    """[rows, k] numpy -> an Arrow list column with one k-list per row, without a Python loop."""
    rows, k = values.shape
    offsets = pa.array(np.arange(0, (rows + 1) * k, k, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(values, dtype=dtype).ravel(),
                                                      pa.from_numpy_dtype(dtype)))


def topk_table(run_id: str, dataset: str, layer: int, pooling: str, x: np.ndarray, k: int) -> pa.Table:
    """neuron_topk rows for one [N, H] block: per unit and side, the k most extreme sentences and values."""
    top_i, top_v, bot_i, bot_v = neuron_extremes(x, k)
    h = x.shape[1]
    unit = np.tile(np.arange(h, dtype=np.int32), 2)
    return pa.table({
        "run_id": pa.array([run_id] * 2 * h, pa.string()),
        "layer": pa.array(np.full(2 * h, layer, dtype=np.int32)),
        "pooling": pa.array([pooling] * 2 * h, pa.string()),
        "dataset": pa.array([dataset] * 2 * h, pa.string()),
        "unit": pa.array(unit),
        "side": pa.array(["top"] * h + ["bottom"] * h, pa.string()),
        # [k, H] -> one row per unit: transpose so each unit's k entries are contiguous.
        "sentence_ids": _lists(np.concatenate([top_i.T, bot_i.T]), np.int32),
        "vals": _lists(np.concatenate([top_v.T, bot_v.T]), np.float32),
    })


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


def write_extraction(con, runner, dataset: str, enc: Encoded, k: int, storage: str = "int16") -> int:
    """Insert one (run, dataset) result; returns the number of activation rows.

    Each block is encoded for storage (``store_block``) and its neuron_topk computed from the stored values,
    so the top-k lists hold exactly the numbers the ``activations`` view gives. One insert per table: each
    DuckDB insert into a file database has a fixed cost of several ms.
    """
    run_id = runner.run_id
    blocks, tops = [], []
    for layer in range(enc.vectors.shape[0]):
        for p, pooling in enumerate(runner.poolings):
            stored = store_block(enc.vectors[layer, p], storage)
            blocks.append(activation_table(run_id, dataset, layer, pooling, stored))
            tops.append(topk_table(run_id, dataset, layer, pooling, stored.values(), k))
    # Each (run, dataset, layer, pooling) block lands contiguous, so DuckDB's per-row-group min/max on
    # run_id/layer/pooling lets a query on one layer skip the others without a global sort.
    rows = insert_activations(con, blocks)
    topk = pa.concat_tables(tops)  # noqa: F841
    con.execute("insert into neuron_topk select * from topk")
    lengths = pd.DataFrame({"run_id": run_id, "dataset": dataset,  # noqa: F841
                            "sentence_id": np.arange(len(enc.n_tokens), dtype=np.int32),
                            "n_tokens": enc.n_tokens.astype(np.int32), "truncated": enc.truncated})
    con.execute("insert into sentence_lengths select * from lengths")
    tokens = token_frame(run_id, dataset, enc)  # noqa: F841
    con.execute("insert into sentence_tokens select * from tokens")
    return rows
